# The gateway on the official Deno image. Dependencies are installed by npm from the lockfile
# (the same tree CI tests), without dev dependencies, in a throwaway Node stage.
FROM node:20-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The web console: built with the dev dependencies (Vite, Preact's preset) in a stage of its own;
# only its static files reach the image.
FROM node:20-bookworm-slim AS console
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY console ./console
RUN node node_modules/vite/bin/vite.js build --config console/vite.config.ts

FROM denoland/deno:2.9.6
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json deno.json ./
COPY src ./src
COPY --from=console /app/console/dist ./console/dist
# Warm Deno's compile cache so the container starts fast.
RUN deno cache src/main.ts
ENV DATA_DIR=/data PORT=3000 HOST=0.0.0.0
RUN mkdir -p /data && chown deno:deno /data && chmod 700 /data
VOLUME ["/data"]
USER deno
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD ["deno", "eval", "--unsafely-ignore-certificate-errors=127.0.0.1", "const r = await fetch(`${Deno.env.get('TLS_CERT_FILE') ? 'https' : 'http'}://127.0.0.1:3000/health`); Deno.exit(r.ok ? 0 : 1)"]
CMD ["deno", "run", "--allow-net", "--allow-env", "--allow-sys", "--allow-read=/app,/data,/run/secrets", "--allow-write=/data", "--allow-run=deno", "src/main.ts"]
