"""コンテナに本物の障害を起こしながらアップロードを流し、何も失われないことを確かめる (`make chaos`)。

`make docker-up` (DEV_LOGIN=true FAULT_INJECTION=false) で動いている compose に対して:

- 利用者 `--users` 人がアップロードを流し続けます (5 件に 1 件は壊れた JPEG)。
- 同時に、種から決まる予定 (`--seed`) で障害を順に起こします。
  - kill: ランダムなサービス (イベントストアを含む) に `docker kill` (SIGKILL)、0.2〜1 秒後に `docker start`
  - partition: saga をネットワークから `docker network disconnect` し、2〜4 秒後に connect
  - pause: イベントストアを `docker pause`、0.5〜2 秒後に unpause
- アップロードが `--uploads` 件以上、障害が種類ごとに `--faults` 回以上になったら止め、
  受け付けられた (202) アップロードの Saga がすべて終端になるのを待ってから、不変条件を確かめます。

不変条件 (一つでも破れれば終了コード 1):
1. 受け付けられたアップロードの Saga はすべて終端 (completed / compensated)
2. グローバルログの位置は 1 から隙間なく増え、イベント ID に重複がない
3. どのストリームも版が 1..n
4. どの Saga も終端イベントはちょうど 1 つ、NotificationSent は高々 1 つ
5. media-query・album・notification の読みモデルが、位置 0 からの作り直しと一致する

使い方: python3 scripts/lab/chaos.py [--uploads 200] [--faults 20] [--users 10] [--seed 7]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import threading
import time

from client import (
    GATEWAY,
    TERMINAL,
    Failure,
    container,
    dev_login,
    docker,
    http,
    internal_url,
    network,
    service_token,
    upload,
    wait_until,
)

SERVICES = ["eventstore", "media-command", "media-query", "album", "notification", "saga", "gateway"]
KINDS = ("kill", "partition", "pause")
TERMINAL_EVENTS = {"SagaCompleted", "SagaCompensated", "SagaFailed"}
MEDIA_STATUSES = ("uploaded", "processed", "failed", "deleted", "invalidated")


class Uploads:
    """アップロードの記録 (スレッド間で共有)。"""

    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = []  # (token, saga_id, position)
        self.refused = collections.Counter()
        self.attempted = 0

    def record(self, token, status, body):
        with self.lock:
            self.attempted += 1
            if status == 202:
                self.acknowledged.append((token, body["saga_id"], body["position"]))
            else:
                self.refused[status] += 1


def uploader(tokens, uploads, stop, rng_seed, interval):
    """`interval` 秒ごと (±50%) に 1 件アップロードする (全体の速さ = 人数 / interval)。"""
    rng = random.Random(rng_seed)
    while not stop.is_set():
        started = time.monotonic()
        with uploads.lock:
            index = uploads.attempted
        token = tokens[index % len(tokens)]
        file = "images/corrupt.jpg" if index % 5 == 4 else rng.choice(
            ["images/small-64x48.png", "images/sunset-640x427.jpg", "images/small-32x32.gif"]
        )
        status, body = upload(token, file, timeout=20.0)
        uploads.record(token, status, body)
        pause = interval * rng.uniform(0.5, 1.5) - (time.monotonic() - started)
        stop.wait(max(pause, 0.0))


class Faults:
    """種から決まる予定で障害を起こし、種類ごとの回数を数える。"""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.applied = collections.Counter()
        self.log = []

    def next(self):
        # 回数の少ない種類を優先しつつ、順番は種で揺らす。
        fewest = min(self.applied[k] for k in KINDS)
        kind = self.rng.choice([k for k in KINDS if self.applied[k] == fewest])
        started = time.monotonic()
        if kind == "kill":
            service = self.rng.choice(SERVICES)
            target = container(service)
            docker("kill", "-s", "KILL", target, check=False)
            time.sleep(self.rng.uniform(0.2, 1.0))
            docker("start", target)
            detail = service
        elif kind == "partition":
            target = container("saga")
            docker("network", "disconnect", network(), target)
            time.sleep(self.rng.uniform(2.0, 4.0))
            docker("network", "connect", "--alias", "saga", network(), target)
            detail = "saga"
        else:
            target = container("eventstore")
            docker("pause", target)
            time.sleep(self.rng.uniform(0.5, 2.0))
            docker("unpause", target)
            detail = "eventstore"
        self.applied[kind] += 1
        self.log.append((kind, detail, round(time.monotonic() - started, 2)))
        time.sleep(self.rng.uniform(0.3, 1.5))


def heal():
    """止まった・切れた・止めたコンテナを元に戻す (途中で失敗しても後片付けする)。"""
    for service in SERVICES + ["frontend"]:
        target = container(service)
        state = docker("inspect", "-f", "{{.State.Status}}", target)
        if state == "paused":
            docker("unpause", target)
        elif state != "running":
            docker("start", target)
    saga = container("saga")
    networks = docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", saga)
    if network() not in json.loads(networks):
        docker("network", "connect", "--alias", "saga", network(), saga)


def healthy_all():
    for service in SERVICES:
        status = docker("inspect", "-f", "{{.State.Health.Status}}", container(service))
        if status != "healthy":
            return False
    return True


def whole_log(store, token):
    events, after = [], 0
    while True:
        status, _, page = http("GET", f"{store}/api/v1/events?after={after}&limit=1000", token)
        if status != 200:
            raise Failure(f"ログを読めません: {status} {page}")
        if not page["events"]:
            return events
        events.extend(page["events"])
        after = page["events"][-1]["position"]


def check_log(log, acknowledged):
    """不変条件 1〜4。破れたものの説明を返す。"""
    violations = []
    positions = [e["position"] for e in log]
    if positions != list(range(1, len(log) + 1)):
        violations.append("グローバルログの位置が 1 から隙間なく増えていない")
    ids = collections.Counter(e["id"] for e in log)
    duplicates = [i for i, n in ids.items() if n > 1]
    if duplicates:
        violations.append(f"イベント ID の重複 {len(duplicates)} 件")
    versions = collections.defaultdict(list)
    for e in log:
        versions[(e["aggregate_type"], e["aggregate_id"])].append(e["version"])
    broken = [k for k, v in versions.items() if v != list(range(1, len(v) + 1))]
    if broken:
        violations.append(f"版が 1..n でないストリーム {len(broken)} 本 (例 {broken[:3]})")
    terminals = collections.Counter(
        e["aggregate_id"] for e in log if e["event_type"] in TERMINAL_EVENTS
    )
    sent = collections.Counter(
        (e["data"] or {}).get("saga_id") for e in log if e["event_type"] == "NotificationSent"
    )
    many_terminals = [s for s, n in terminals.items() if n != 1]
    if many_terminals:
        violations.append(f"終端イベントが 2 つ以上の Saga {len(many_terminals)} 件")
    many_sent = [s for s, n in sent.items() if s and n > 1]
    if many_sent:
        violations.append(f"NotificationSent が 2 つ以上の Saga {len(many_sent)} 件")
    not_terminal = [s for _, s, _ in acknowledged if terminals[s] != 1]
    if not_terminal:
        violations.append(f"終端にならなかった受付済みの Saga {len(not_terminal)} 件 (例 {not_terminal[:3]})")
    return violations


def paged_media(token, head, status):
    items, cursor = [], None
    while True:
        url = f"{GATEWAY}/api/v1/media?limit=100&status={status}&min_position={head}"
        if cursor:
            url += f"&cursor={cursor}"
        code, _, page = http("GET", url, token, timeout=30.0)
        if code != 200:
            raise Failure(f"メディアの一覧: {code} {page}")
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return sorted(items, key=lambda m: m["id"])


def read_models(tokens, head):
    """三つの読みモデルの中身 (利用者ごと)。"""
    snapshot = {"media-query": [], "album": [], "notification": []}
    for token in tokens:
        snapshot["media-query"].append({s: paged_media(token, head, s) for s in MEDIA_STATUSES})
        code, _, albums = http("GET", f"{GATEWAY}/api/v1/albums?min_position={head}", token, timeout=30.0)
        if code != 200:
            raise Failure(f"アルバムの一覧: {code} {albums}")
        contents = {}
        for album in albums["items"]:
            code, _, media = http("GET", f"{GATEWAY}/api/v1/albums/{album['id']}/media", token)
            contents[album["id"]] = media
        snapshot["album"].append({"albums": albums["items"], "media": contents})
        code, _, notes = http(
            "GET", f"{GATEWAY}/api/v1/notifications?limit=100&min_position={head}", token, timeout=30.0
        )
        if code != 200:
            raise Failure(f"通知の一覧: {code} {notes}")
        snapshot["notification"].append(notes)
    return snapshot


def rebuild_all(token):
    for service, port in (("media-query", 8082), ("album", 8083), ("notification", 8086)):
        code, _, body = http("POST", f"{internal_url(service, port)}/internal/v1/rebuild", token, timeout=120.0)
        if code != 200:
            raise Failure(f"{service} の作り直し: {code} {body}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200, help="最低限流すアップロードの数")
    parser.add_argument("--faults", type=int, default=20, help="種類ごとの最低限の障害の回数")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3, help="同時にアップロードする数")
    parser.add_argument(
        "--rate",
        type=float,
        default=4.0,
        help="1 秒あたりのアップロード (全体)。このマシンで Saga が追いつける速さにする (障害の試験であって負荷試験ではない)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--settle", type=float, default=300.0, help="Saga が終端になるのを待つ最長の秒数")
    args = parser.parse_args()

    started = time.monotonic()
    wait_until("全サービスが healthy", 180, healthy_all, interval=1.0)
    tokens = [dev_login(f"chaos-{i}") for i in range(args.users)]
    uploads, faults, stop = Uploads(), Faults(args.seed), threading.Event()
    workers = [
        threading.Thread(
            target=uploader,
            args=(tokens, uploads, stop, args.seed * 100 + i, args.workers / args.rate),
            daemon=True,
        )
        for i in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    try:
        while min(faults.applied[k] for k in KINDS) < args.faults or uploads.attempted < args.uploads:
            faults.next()
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
        heal()
    flowing = time.monotonic() - started
    print(f"障害: {dict(faults.applied)} (合計 {sum(faults.applied.values())})")
    kills = collections.Counter(d for k, d, _ in faults.log if k == "kill")
    print(f"kill したサービス: {dict(kills)}")
    print(
        f"アップロード: 試行 {uploads.attempted}、受付 {len(uploads.acknowledged)}、"
        f"拒否 {sum(uploads.refused.values())} {dict(uploads.refused)} ({flowing:.0f} 秒)"
    )

    wait_until("全サービスが healthy に戻る", 180, healthy_all, interval=1.0)
    service = service_token("chaos")
    store = internal_url("eventstore", 8084)

    def settled():
        log = whole_log(store, service)
        done = {e["aggregate_id"] for e in log if e["event_type"] in TERMINAL_EVENTS}
        return log if all(s in done for _, s, _ in uploads.acknowledged) else None

    settle_started = time.monotonic()
    try:
        log = wait_until("受付済みの Saga がすべて終端になる", args.settle, settled, interval=2.0)
        quiet = True
    except Failure:
        log, quiet = whole_log(store, service), False
    violations = check_log(log, uploads.acknowledged)
    outcome = collections.Counter(
        e["event_type"] for e in log if e["event_type"] in TERMINAL_EVENTS
    )
    print(
        f"イベント: {len(log)} 件、Saga の終端: {dict(outcome)} "
        f"(障害の後 {time.monotonic() - settle_started:.0f} 秒で落ち着いた)"
    )

    if quiet:
        # ログが動かなくなってから比べる (動いている間の比較は意味がない)。
        head = len(log)
        before = read_models(tokens, head)
        rebuild_all(service)
        after = read_models(tokens, head)
        for name in before:
            if before[name] != after[name]:
                violations.append(f"{name} の読みモデルが作り直しと一致しない")
            else:
                print(f"ok  {name} の読みモデル = 位置 0 からの作り直し")

    print(f"所要: {time.monotonic() - started:.0f} 秒")
    if violations:
        for v in violations:
            print(f"違反: {v}", file=sys.stderr)
        return 1
    print("不変条件: すべて成立")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as failure:
        print(f"chaos: 失敗: {failure}", file=sys.stderr)
        sys.exit(1)
