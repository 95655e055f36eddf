"""compose で動く MediaHub の end-to-end (`make compose-e2e`、`.ci/run` の一段)。

`make docker-up` (DEV_LOGIN=true) の後に、公開されたゲートウェイと UI だけを使って確かめます。

1. ゲートウェイと UI が準備できている (/ready・/health が 200、UI が index.html を返す)
2. 開発用ログイン → JPEG をアップロード → Saga が completed → サムネイルが画像で返る
3. 壊れた JPEG をアップロード → Saga が compensated、メディアは deleted (補償がファイルを消す)
4. イベントのログに両方の Saga の終端イベントがちょうど 1 つずつある

失敗すれば理由を書いて終了コード 1。
"""

from __future__ import annotations

import sys
import time

from client import (
    FRONTEND,
    GATEWAY,
    Failure,
    dev_login,
    get_until,
    http,
    upload,
    wait_for_saga,
    wait_until,
)

DEADLINE_S = 120


def check(condition, message):
    if not condition:
        raise Failure(message)


def main():
    started = time.monotonic()
    wait_until("ゲートウェイの /ready が 200", DEADLINE_S, lambda: http("GET", f"{GATEWAY}/ready")[0] == 200)
    wait_until("UI の /health が 200", DEADLINE_S, lambda: http("GET", f"{FRONTEND}/health")[0] == 200)
    status, headers, page = http("GET", f"{FRONTEND}/")
    check(status == 200 and "text/html" in headers.get("content-type", ""), f"UI: {status} {headers}")
    print(f"ok  ゲートウェイと UI が準備できた ({time.monotonic() - started:.1f} 秒)")

    token = dev_login("compose-e2e")
    t0 = time.monotonic()
    status, accepted = upload(token, "images/sunset-640x427.jpg")
    check(status == 202, f"JPEG のアップロード: {status} {accepted}")
    done = wait_for_saga(token, accepted["saga_id"], DEADLINE_S)
    check(done["status"] == "completed", f"JPEG の Saga: {done}")
    print(f"ok  JPEG → Saga completed ({time.monotonic() - t0:.2f} 秒、手順 {len(done['steps'])} 件)")

    media_id = accepted["media_id"]
    _, headers, thumb = get_until(
        "サムネイルが 200",
        DEADLINE_S,
        f"{GATEWAY}/api/v1/media/{media_id}/thumbnail",
        token,
        lambda status, _headers, _body: status == 200,
    )
    kind = headers.get("content-type", "")
    check(kind.startswith("image/") and isinstance(thumb, bytes) and len(thumb) > 100, f"サムネイル: {kind}")
    print(f"ok  サムネイル {kind}、{len(thumb)} バイト")

    t0 = time.monotonic()
    status, broken = upload(token, "images/corrupt.jpg")
    check(status == 202, f"壊れた JPEG のアップロード: {status} {broken}")
    undone = wait_for_saga(token, broken["saga_id"], DEADLINE_S)
    check(undone["status"] == "compensated", f"壊れた JPEG の Saga: {undone}")
    _, _, media = get_until(
        "壊れた JPEG のメディアが deleted",
        DEADLINE_S,
        f"{GATEWAY}/api/v1/media/{broken['media_id']}",
        token,
        lambda status, _headers, body: status == 200 and body.get("status") == "deleted",
    )
    print(
        f"ok  壊れた JPEG → Saga compensated ({time.monotonic() - t0:.2f} 秒、"
        f"理由: {undone.get('failure_reason', '').strip()}、メディア {media['status']})"
    )

    status, _, page = http("GET", f"{GATEWAY}/api/v1/events?limit=1000", token)
    check(status == 200, f"自分のイベント: {status} {page}")
    terminals = [
        e for e in page["events"] if e["event_type"] in ("SagaCompleted", "SagaCompensated", "SagaFailed")
    ]
    # この回の 2 つの Saga だけを数えます (同じシステムで何度実行しても確かめられるように)。
    mine = {accepted["saga_id"], broken["saga_id"]}
    by_saga = sorted(e["aggregate_id"] for e in terminals if e["aggregate_id"] in mine)
    check(
        by_saga == sorted([accepted["saga_id"], broken["saga_id"]]),
        f"終端イベントが Saga ごとに 1 つではありません: {by_saga}",
    )
    print(f"ok  終端イベントは Saga ごとに 1 つ (イベント {len(page['events'])} 件)")
    print(f"compose end-to-end: 成功 ({time.monotonic() - started:.1f} 秒)")


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        print(f"compose end-to-end: 失敗: {failure}", file=sys.stderr)
        sys.exit(1)
