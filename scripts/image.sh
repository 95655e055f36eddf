#!/usr/bin/env bash
# 実行イメージ (既定 mediahub:local) を作ります (`make image`)。
#
# 1. ホストで全サービスのバイナリをリリースビルドする (cargo build --release --locked)
# 2. Dockerfile の土台を用意する (scripts/base-image.sh。レジストリが無ければ debootstrap で作る)
# 3. docker build (文脈は .dockerignore で target/release のバイナリと web/ だけ)
#
# 使い方: bash scripts/image.sh [イメージ名]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

image=${1:-${MEDIAHUB_IMAGE:-mediahub:local}}
cargo=${CARGO:-cargo}

timed() {
    local name=$1 t0=$SECONDS
    shift
    "$@"
    printf '   %s: %s 秒\n' "$name" "$((SECONDS - t0))"
}

timed "リリースビルド" "$cargo" build --release --locked -p mediahub-services --bins
base=$(sed -n 's/^FROM[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' Dockerfile | head -n 1)
timed "土台のイメージ ($base)" bash scripts/base-image.sh "$base"
timed "docker build ($image)" docker build --quiet --tag "$image" . >/dev/null
echo "イメージ $image: $(docker image inspect -f '{{.Size}}' "$image") バイト"
