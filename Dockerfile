# syntax=docker/dockerfile:1
# Multi-stage build of the gateway: a locked release build, then a slim runtime.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p gateway

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data gateway \
    && mkdir -p /data && chown gateway /data
COPY --from=build /src/target/release/gateway /usr/local/bin/gateway
USER gateway
WORKDIR /data
# The demo page (web/) is not in the image: production serves no demo.
ENV HOST=0.0.0.0 PORT=3000 DATA_DIR=/data DEMO=false
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS http://127.0.0.1:3000/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/gateway"]
