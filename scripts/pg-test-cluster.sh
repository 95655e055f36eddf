#!/usr/bin/env bash
# テスト用の使い捨て PostgreSQL クラスターを起動・停止する (make test と .ci/run が使う)。
#
#   scripts/pg-test-cluster.sh start DIR   … DIR にクラスターを作って起動し、管理用の URL を 1 行で出す
#                                            (DIR/url にも書く)
#   scripts/pg-test-cluster.sh stop DIR    … 止める (DIR は消さない)
#
# PostgreSQL 15 (pg_config --bindir の initdb と pg_ctl) を使う。サーバーは root では動かないので、
# root で実行されたら postgres ユーザーで起動する。ソケットは作らず 127.0.0.1 の TCP だけで待つ。
set -euo pipefail

cmd="${1:?start か stop}"
dir="${2:?ディレクトリ}"
bindir="$(pg_config --bindir)"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  as_pg=(runuser -u postgres --)
fi

case "$cmd" in
  start)
    mkdir -p "$dir"
    chmod 0777 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      "${as_pg[@]}" "$bindir/initdb" -A trust -U mediahub -E UTF8 --no-sync -D "$dir/data" >"$dir/initdb.log" 2>&1
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    "${as_pg[@]}" "$bindir/pg_ctl" -w -t 60 -D "$dir/data" -l "$dir/server.log" \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=400" \
      start >"$dir/pg_ctl.log" 2>&1 || { cat "$dir/pg_ctl.log" "$dir/server.log" >&2; exit 1; }
    echo "postgres://mediahub@127.0.0.1:$port/postgres" | tee "$dir/url"
    ;;
  stop)
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "使い方: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
