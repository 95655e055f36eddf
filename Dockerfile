# MediaHub の実行イメージ: 全サービスのバイナリを 1 つのイメージに入れます (docker-compose.yml が使います)。
#
#   make image        # = scripts/image.sh: ホストでリリースビルド → このファイルでイメージ mediahub:local
#
# バイナリはホストの target/release/ でビルドしたものを写すだけなので、Rust のビルド用イメージも
# イメージレジストリも要りません。土台の debian:bookworm-slim が手元になく pull もできなければ、
# scripts/base-image.sh が debootstrap と docker import で同じ名前の土台を作ります。
#
# - ffmpeg: 動画のサムネイル (最初のフレーム)。無ければ動画は代わりの画像になります。
# - ca-certificates: OAuth2 プロバイダ (GitHub・Google) への HTTPS。
# - root ではないユーザー (uid 10001) で動かします。/data は名前付きボリュームの置き場所です。
# - HEALTHCHECK はバイナリ自身 (`mediahub healthcheck`) で行い、curl を入れません。
#   確かめる URL は MEDIAHUB_HEALTHCHECK_URL (compose がサービスごとに設定します)。
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates ffmpeg \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && echo 'mediahub:x:10001:10001:MediaHub:/data:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'mediahub:x:10001:' >> /etc/group \
    && mkdir -p /data \
    && chown 10001:10001 /data

COPY target/release/eventstore \
     target/release/media-command \
     target/release/media-query \
     target/release/album \
     target/release/notification \
     target/release/saga \
     target/release/gateway \
     target/release/frontend \
     target/release/mediahub \
     /usr/local/bin/
COPY web /srv/web

ENV WEB_DIR=/srv/web \
    MEDIAHUB_HEALTHCHECK_URL=http://127.0.0.1:8080/ready
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
HEALTHCHECK --interval=2s --timeout=3s --start-period=10s --retries=15 \
    CMD ["mediahub", "healthcheck", "--timeout-ms", "2000"]
CMD ["mediahub", "run", "--host", "0.0.0.0", "--data-dir", "/data"]
