#!/usr/bin/env python3
"""イベントストアの SQLite だけの床を測る (issue #17。`python3 scripts/sqlite_floor.py`)。

イベントストアのスキーマ (`mediahub-services/migrations/eventstore/`) をそのまま一時ファイルに作り、
WAL・`synchronous=FULL` (durability = Full と同じ) で、1 コミットに 1 行と 16 行を書く時間を測る。
HTTP も tokio も sqlx も通らない、C の SQLite (Python の標準ライブラリ) だけの時間なので、
同じマシンで書き込みタスクが 1 コミットにかける時間の下限になる。

書く行は `benches/eventstore.rs` と同じ形にする: クライアントごとに 1 本のストリームへ版を 1 つずつ
進めて追記し、イベント ID も相関 ID も時刻順 (UUID v7。相関 ID は追記ごとに 1 つ)、`user_id` は無し。
16 行は、16 クライアントが 1 件ずつ追記するときに 1 コミットへ集まる最大の束。
"""

import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "mediahub-services" / "migrations" / "eventstore"
# 索引が小さすぎると速く出るので、先に入れておく行の数。
PRELOAD = 20_000
COMMITS = 300
REPEATS = 3
INSERT = (
    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,"
    " payload, metadata, event_id, created_at, correlation_id, causation_id, user_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
PAYLOAD = '{"n":0,"text":"0123456789abcdef0123456789abcdef"}'


def time_ordered_id() -> str:
    """UUID v7 (先頭 48 ビットがミリ秒の時刻、残りはバージョン 7・バリアントの印とランダムなビット)。"""
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | (((random >> 62) & 0xFFF) << 64)
    value |= (0b10 << 62) | (random & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def row(stream: str, version: int, correlation: str) -> tuple:
    metadata = '{"correlation_id":"%s"}' % correlation
    return ("Bench", stream, version, "BenchEvent", "1.0", PAYLOAD, metadata,
            time_ordered_id(), "2026-12-07T00:00:00.000000Z", correlation, None, None)


def commit_time(rows_per_commit: int) -> float:
    """1 コミットにかかる時間の中央値 (秒)。"""
    with tempfile.TemporaryDirectory() as directory:
        db = sqlite3.connect(os.path.join(directory, "events.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        for migration in sorted(SCHEMA.glob("*.sql")):
            db.executescript(migration.read_text())
        db.execute("BEGIN")
        for _ in range(PRELOAD):
            db.execute(INSERT, row(str(uuid.uuid4()), 1, time_ordered_id()))
        db.execute("COMMIT")
        streams = [str(uuid.uuid4()) for _ in range(rows_per_commit)]
        times = []
        for version in range(1, COMMITS + 1):
            rows = [row(stream, version, time_ordered_id()) for stream in streams]
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(INSERT, rows)
            db.execute("COMMIT")
            times.append(time.perf_counter() - started)
        db.close()
        return statistics.median(times)


def main() -> int:
    print("| 1 コミットの行数 | 1 コミットの時間 (中央値) | 上限 (行/秒) | 各回 |")
    print("|---:|---:|---:|---|")
    for rows_per_commit in (1, 16):
        runs = [commit_time(rows_per_commit) for _ in range(REPEATS)]
        median = statistics.median(runs)
        each = " / ".join(f"{run * 1000:.2f} ms" for run in runs)
        print(f"| {rows_per_commit} | {median * 1000:.2f} ms | {rows_per_commit / median:,.0f} | {each} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
