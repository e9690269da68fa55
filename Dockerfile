# DevoX: real-time synthetic-speech detector for live calls.
# Build:  docker build -t devox .
# Models are not baked in: mount models/ (see docker-compose.yml) or set DEVOX_MODEL_DIR.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# onnxruntime-node ships the CPU runtime in the package; skip its optional CUDA download.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (tsc) needs the sources, which come next.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
WORKDIR /app
# RTP binds every interface: set DEVOX_ANNOUNCE_ADDRESS (the address peers send RTP to) at run time;
# DevoX refuses to start without it rather than answer SDP with c=IN IP4 0.0.0.0 (hold).
# HTTP binds every interface too: set DEVOX_HTTP_CONTROL_TOKEN (or DEVOX_HTTP_CONTROL_TOKEN_FILE, a
# mounted secret) at run time; DevoX refuses to start with its control API open to the network.
# ORT_DISABLE_TELEMETRY: onnxruntime's Microsoft telemetry off (DevoX sets it too; docs/security.md).
ENV NODE_ENV=production \
    ORT_DISABLE_TELEMETRY=1 \
    DEVOX_HTTP_HOST=0.0.0.0 \
    DEVOX_BIND_ADDRESS=0.0.0.0 \
    DEVOX_RTP_PORT_MIN=40000 \
    DEVOX_RTP_PORT_MAX=40199
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY schema ./schema
COPY web ./web
RUN mkdir -p models && chown node:node models
USER node
# /metrics /healthz /readyz and WebSocket media; RTP (UDP): the port range set above (100 streams).
EXPOSE 9464/tcp
EXPOSE 40000-40199/udp
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.DEVOX_HTTP_PORT||9464)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# No core dumps (ulimit -c 0, soft and hard): a dump of a live DevoX holds call audio. Docker has no
# Dockerfile instruction for rlimits, so the entrypoint sets it, then execs node (node replaces the
# shell as PID 1, so signals reach it directly). `docker run --ulimit core=0` / compose
# `ulimits: core: 0` say the same from outside. The health check needs /healthz open (the default;
# http.protectHealth closes it).
ENTRYPOINT ["/bin/sh", "-c", "ulimit -c 0 && ulimit -H -c 0 && exec node dist/cli.js \"$@\"", "devox"]
CMD ["serve"]
