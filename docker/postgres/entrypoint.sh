#!/bin/sh
# 初回だけクラスターを作り (initdb、ユーザーとデータベース)、postgres を前面で動かします。
# 公式イメージと同じ環境変数を読みます: POSTGRES_USER (既定 postgres)、POSTGRES_PASSWORD (必須)、
# POSTGRES_DB (既定はユーザー名)。ネットワークからの接続はパスワード (scram-sha-256) で受けます。
set -eu

user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD を設定してください}"
: "${PGDATA:=/var/lib/postgresql/data}"

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    chown postgres "$pwfile"
    runuser -u postgres -- initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "host all all ::/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
    if [ "$db" != "postgres" ]; then
        runuser -u postgres -- pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
        runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q -U "$user" -d postgres \
            -c "CREATE DATABASE \"$db\""
        runuser -u postgres -- pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    echo "クラスターを作りました (ユーザー $user、データベース $db)"
fi

exec runuser -u postgres -- postgres -D "$PGDATA" -c listen_addresses='*'
