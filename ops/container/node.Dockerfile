# OpenSeer node. Build from the repository root:
#   docker build -f ops/container/node.Dockerfile -t openseer .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin openseer

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/openseer --create-home --uid 10001 openseer
COPY --from=build /src/target/release/openseer /usr/local/bin/openseer
USER openseer
WORKDIR /var/lib/openseer
ENV OPENSEER_DATA_DIR=/var/lib/openseer OPENSEER_HTTP=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/openseer"]
CMD ["serve"]
