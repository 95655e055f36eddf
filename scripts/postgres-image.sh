#!/usr/bin/env bash
# compose のプロファイル `postgres` が使う PostgreSQL のイメージ (既定 mediahub-postgres:local) を用意します。
#
# 1. 手元にあれば何もしません。
# 2. 公式イメージ postgres:15 を pull できれば (イメージレジストリに届くマシン)、それに名前を付けます。
# 3. できなければ、土台 (debian:bookworm-slim。scripts/base-image.sh) に Debian の postgresql-15 を
#    入れたイメージを docker/postgres/Dockerfile から作ります (環境変数は公式イメージと同じ)。
#
# 使い方: bash scripts/postgres-image.sh [イメージ名]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

image=${1:-${MEDIAHUB_POSTGRES_IMAGE:-mediahub-postgres:local}}
official=${POSTGRES_OFFICIAL_IMAGE:-postgres:15}

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "PostgreSQL のイメージ $image は手元にあります"
    exit 0
fi
if timeout 60 docker pull "$official" >/dev/null 2>&1; then
    docker tag "$official" "$image"
    echo "公式イメージ $official を pull して $image と名付けました"
    exit 0
fi
echo "公式イメージ $official を pull できません。Debian の postgresql-15 から $image を作ります"
base=$(sed -n 's/^FROM[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' docker/postgres/Dockerfile | head -n 1)
bash scripts/base-image.sh "$base"
t0=$SECONDS
docker build --quiet --tag "$image" docker/postgres >/dev/null
echo "イメージ $image を作りました ($((SECONDS - t0)) 秒、$(docker image inspect -f '{{.Size}}' "$image") バイト)"
