#!/usr/bin/env bash
# Dockerfile の土台 (既定 debian:bookworm-slim) を用意します。
#
# 1. 手元にあれば何もしません。
# 2. なければ docker pull を試します (イメージレジストリに届くマシンなら、いつもどおり)。
# 3. pull もできなければ (レジストリのないマシン)、Debian のパッケージミラーから
#    `debootstrap --variant=minbase bookworm` で root ファイルシステムを作り、
#    `docker import` で同じ名前のイメージにします (約 1 分)。debootstrap が無ければ apt で入れます。
#
# 使い方: bash scripts/base-image.sh [イメージ名]
set -euo pipefail

image=${1:-debian:bookworm-slim}
suite=${BASE_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "土台のイメージ $image は手元にあります"
    exit 0
fi

echo "土台のイメージ $image を pull します"
if timeout 60 docker pull "$image" >/dev/null 2>&1; then
    echo "pull しました: $image"
    exit 0
fi

echo "pull できません (イメージレジストリに届かない)。debootstrap で $image を作ります"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends debootstrap
fi

rootfs=$(mktemp -d)
cleanup() { "${sudo[@]}" rm -rf "$rootfs"; }
trap cleanup EXIT

started=$SECONDS
"${sudo[@]}" debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >/dev/null
# -slim と同じく、パッケージの一覧とキャッシュは持たない (apt-get update で取り直す)。
"${sudo[@]}" rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
"${sudo[@]}" tar -C "$rootfs" -c . | docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$image" >/dev/null
echo "作りました: $image ($((SECONDS - started)) 秒、$(docker image inspect -f '{{.Size}}' "$image") バイト)"
