#!/usr/bin/env bash
# compose のすべてのコンテナが healthy になるまで (最長 180 秒) 待ちます (`make docker-up` の最後)。
# 期限を過ぎたら、healthy でないコンテナの状態と最後のログを表示して終了コード 1。
set -euo pipefail

project=${COMPOSE_PROJECT_NAME:-mediahub}
deadline=$((SECONDS + ${COMPOSE_WAIT_SECONDS:-180}))
while :; do
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$project")
    pending=()
    for id in $ids; do
        health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
        if [ "$health" != "healthy" ]; then
            pending+=("$id")
        fi
    done
    if [ -n "$ids" ] && [ "${#pending[@]}" -eq 0 ]; then
        echo "全コンテナが healthy です: ゲートウェイ http://localhost:${GATEWAY_PORT:-8080}、UI http://localhost:${FRONTEND_PORT:-3000}"
        exit 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "期限内に healthy になりません:" >&2
        for id in "${pending[@]}"; do
            docker inspect -f '  {{.Name}}: {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" >&2
            docker logs --tail 20 "$id" >&2 || true
        done
        exit 1
    fi
    sleep 1
done
