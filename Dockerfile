# The gateway on the official Deno image. Dependencies are installed by npm from the lockfile
# (the same tree CI tests), without dev dependencies, in a throwaway Node stage.
FROM node:20-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM denoland/deno:2.9.6
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json deno.json ./
COPY src ./src
# Warm Deno's compile cache so the container starts fast.
RUN deno cache src/main.ts
ENV DATA_DIR=/data PORT=3000 HOST=0.0.0.0
RUN mkdir -p /data && chown deno:deno /data && chmod 700 /data
VOLUME ["/data"]
USER deno
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD ["deno", "eval", "const r = await fetch('http://127.0.0.1:3000/health'); Deno.exit(r.ok ? 0 : 1)"]
CMD ["deno", "run", "--allow-net", "--allow-env", "--allow-sys", "--allow-read=/app,/data,/run/secrets", "--allow-write=/data", "src/main.ts"]
