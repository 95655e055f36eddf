#!/usr/bin/env bash
# プロファイル postgres の compose を確かめます (`make docker-up-postgres` の最後と .ci/run)。
#
# 1. eventstore・media-command・saga が 2 つずつ、postgres が 1 つ、healthy で動いている
# 2. イベントは PostgreSQL に入っていて、位置は 1 から隙間なく並ぶ (件数 = 最大の位置。
#    件数は MIN_EVENTS 件以上 (既定 1。起動直後の確認では 0))
# 3. どちらの eventstore も同じデータベースを見ている (2 つのコンテナのログに起動の一行がある)
#
# 失敗すれば理由を書いて終了コード 1。
set -euo pipefail

project=${COMPOSE_PROJECT_NAME:-mediahub}
min_events=${MIN_EVENTS:-1}

containers() {
    docker ps -q --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=$1" --filter "health=healthy"
}

for pair in eventstore:2 media-command:2 saga:2 postgres:1; do
    service=${pair%%:*}
    want=${pair##*:}
    have=$(containers "$service" | wc -l)
    if [ "$have" -ne "$want" ]; then
        echo "NG  $service: healthy なコンテナが $have 個 (期待 $want 個)" >&2
        exit 1
    fi
    echo "ok  $service: healthy なコンテナが $have 個"
done

postgres=$(containers postgres | head -n 1)
read -r count head < <(docker exec "$postgres" psql -U mediahub -d mediahub -tA -F ' ' \
    -c "SELECT count(*), COALESCE(max(position), 0) FROM events")
if [ "$count" -lt "$min_events" ] || [ "$count" -ne "$head" ]; then
    echo "NG  PostgreSQL の events: 件数 $count、最大の位置 $head (隙間なしなら等しく、$min_events 件以上)" >&2
    exit 1
fi
echo "ok  PostgreSQL の events: $count 件、位置 1..$head に隙間なし"

for id in $(containers eventstore); do
    # ログは変数に読んでから探す (`docker logs | grep -q` は grep が先に終わると docker logs が
    # SIGPIPE で終わり、pipefail のもとでは見つかったのに失敗になる)
    logs=$(docker logs "$id" 2>&1)
    if ! grep -q "postgres://" <<<"$logs"; then
        echo "NG  $(docker inspect -f '{{.Name}}' "$id"): PostgreSQL で起動した記録がありません" >&2
        exit 1
    fi
done
echo "ok  2 つの eventstore は同じ PostgreSQL で動いている"
