#!/usr/bin/env bash
# ゲートウェイの公開 API を schemathesis (OpenAPI のプロパティベース・ファザー) で検査します。
#
#   make fuzz               # = bash scripts/fuzz.sh
#
# 1. schemathesis を固定した版で target/fuzz-venv に入れる (PyPI。入っていればそのまま)
# 2. mediahub を一時ディレクトリと固定のポート (8080〜8086, 3000) で起動し、/ready を待つ
# 3. 開発用ログインでユーザーのトークンを得て、ゲートウェイの /openapi.json を全チェック・
#    ステートフルの段階あり・固定のシードで検査する (設定は fuzz/schemathesis.toml)
# 4. サービス用トークン (`mediahub service-token`) で、各サービス自身の文書の内部 API
#    (`/internal/v1/**`、イベントストアは全体) を同じく検査する
# 5. 失敗が 1 件でもあれば終了コード 1。mediahub は必ず止める
#
# SSE (`…/stream`) は終わらない応答なので検査から外します (スキーマは文書に残っています)。
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
FUZZ_SEED="${FUZZ_SEED:-1}"
FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-15}"
FUZZ_INTERNAL_EXAMPLES="${FUZZ_INTERNAL_EXAMPLES:-10}"
VENV=target/fuzz-venv
GATEWAY=http://127.0.0.1:8080

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build -q -p mediahub-services --bin mediahub

data=$(mktemp -d)
log="$data/mediahub.log"
JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export JWT_SECRET
# --lab-controls false: 検査がラボの「サービスを止める」を呼んで album などを本当に止めてしまわないように
# (止める・起こすの API は 403 lab.controls_disabled を返し、その答えも文書どおりかを確かめる)
./target/debug/mediahub run --data-dir "$data" --lab-controls false >"$log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

# 全サービスの準備ができるまで (最長 30 秒) 待つ
deadline=$((SECONDS + 30))
for port in 8080 8081 8082 8083 8084 8085 8086; do
    until curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "mediahub が準備できませんでした (ポート $port)。ログ:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.2
    done
done

token=$(curl -fsS -X POST "$GATEWAY/auth/dev-token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

echo "==> schemathesis $SCHEMATHESIS_VERSION: ゲートウェイ ($GATEWAY/openapi.json)、シード $FUZZ_SEED、操作ごとに $FUZZ_EXAMPLES 例"
"$VENV/bin/st" --config-file fuzz/schemathesis.toml --no-color run "$GATEWAY/openapi.json" \
    -H "Authorization: Bearer $token" \
    --seed "$FUZZ_SEED" \
    --max-examples "$FUZZ_EXAMPLES" \
    --phases examples,coverage,fuzzing,stateful \
    --request-timeout 40 \
    --max-response-time 35 \
    --exclude-path-regex '/stream$'

# 内部 API: 各サービス自身の /openapi.json のうち、サービス用トークンで呼ぶ部分。
service_token=$(./target/debug/mediahub service-token --name fuzz)
internal_targets=(
    "eventstore 8084 ^/api/v1/"
    "media-command 8081 ^/internal/"
    "media-query 8082 ^/internal/"
    "album 8083 ^/internal/"
    "saga 8085 ^/internal/"
    "notification 8086 ^/internal/"
)
for target in "${internal_targets[@]}"; do
    read -r name port paths <<<"$target"
    echo "==> schemathesis $SCHEMATHESIS_VERSION: $name の内部 API (http://127.0.0.1:$port/openapi.json、$paths)"
    "$VENV/bin/st" --config-file fuzz/schemathesis.toml --no-color run "http://127.0.0.1:$port/openapi.json" \
        -H "Authorization: Bearer $service_token" \
        --seed "$FUZZ_SEED" \
        --max-examples "$FUZZ_INTERNAL_EXAMPLES" \
        --phases examples,coverage,fuzzing \
        --request-timeout 40 \
        --max-response-time 35 \
        --include-path-regex "$paths" \
        --exclude-path-regex '/stream$'
done
