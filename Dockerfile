# MediaHub: 全サービスのバイナリを 1 つのイメージに入れます (docker-compose.yml が使います)。
#
#   docker build -t mediahub .
#
# ビルド段階で Rust ツールチェーンのイメージ、実行段階で Debian slim を使います。
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p mediahub-services --bins

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data mediahub \
    && mkdir -p /data && chown mediahub /data
COPY --from=build /src/target/release/eventstore \
                  /src/target/release/media-command \
                  /src/target/release/media-query \
                  /src/target/release/album \
                  /src/target/release/notification \
                  /src/target/release/saga \
                  /src/target/release/gateway \
                  /src/target/release/frontend \
                  /src/target/release/mediahub \
                  /usr/local/bin/
COPY web /srv/web
ENV WEB_DIR=/srv/web
USER mediahub
WORKDIR /data
VOLUME ["/data"]
