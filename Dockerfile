# The app on the official Deno image. npm packages are installed by Deno from package.json.
FROM denoland/deno:2.9.6
WORKDIR /app
COPY package.json package-lock.json deno.json ./
RUN deno install --frozen=false
COPY src ./src
ENV DATA_DIR=/data PORT=3000 HOST=0.0.0.0
RUN mkdir -p /data && chown deno:deno /data
VOLUME ["/data"]
USER deno
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD deno eval "const r = await fetch('http://127.0.0.1:3000/health'); Deno.exit(r.ok ? 0 : 1)"
CMD ["deno", "run", "--allow-net", "--allow-env", "--allow-sys", "--allow-read", "--allow-write=/data", "src/main.ts"]
