# OpenSeer worker. Build from the repository root:
#   docker build -f ops/container/worker.Dockerfile -t openseer-worker .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p openseer-worker --bin openseer-worker

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/openseer-worker --create-home --uid 10002 openseer
COPY --from=build /src/target/release/openseer-worker /usr/local/bin/openseer-worker
USER openseer
WORKDIR /var/lib/openseer-worker
ENV OPENSEER_STATE_DIR=/var/lib/openseer-worker
ENTRYPOINT ["/usr/local/bin/openseer-worker"]
