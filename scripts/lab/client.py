"""compose で動く MediaHub を外から使う小さなクライアント (標準ライブラリだけ)。

compose の end-to-end (`compose_e2e.py`) とカオス試験 (`chaos.py`) が使います。
公開 API はゲートウェイ (既定 http://localhost:8080) を通り、内部 API (読みモデルの作り直し、
イベントストアのログ) はコンテナの IP に直接つなぎます (Linux ではホストからブリッジネット
ワークのコンテナに届きます)。サービス用トークンはゲートウェイのコンテナの中で
`mediahub service-token` を実行して得ます (同じ JWT_SECRET)。
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = os.environ.get("MEDIAHUB_GATEWAY", "http://localhost:8080")
FRONTEND = os.environ.get("MEDIAHUB_FRONTEND", "http://localhost:3000")
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "mediahub")
TERMINAL = ("completed", "compensated", "failed")


class Failure(Exception):
    """試験の失敗 (何が期待と違ったか)。"""


def http(method, url, token=None, body=None, headers=None, timeout=15.0):
    """HTTP を 1 回送り、(状態コード, ヘッダー, 本体) を返す。本体は JSON なら dict。
    ヘッダーの名前は小文字にそろえる。

    接続できない・時間切れは状態コード 0 (本体に理由) として返す (呼び出し側が数える)。
    """
    headers = dict(headers or {})
    data = None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, bytes):
        data = body
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, lower(response.headers), parse(response.read())
    except urllib.error.HTTPError as err:
        return err.code, lower(err.headers), parse(err.read())
    except (urllib.error.URLError, OSError) as err:
        return 0, {}, str(err)


def lower(headers):
    return {name.lower(): value for name, value in headers.items()}


def parse(raw):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw


def wait_until(what, deadline_s, condition, interval=0.2):
    """`condition()` が真になるまで (最長 deadline_s 秒) 待つ。真の値を返す。"""
    until = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > until:
            raise Failure(f"{deadline_s} 秒以内に満たされません: {what}")
        time.sleep(interval)


def get_until(what, deadline_s, url, token, accept):
    """`GET url` の答え (状態コード, ヘッダー, 本体) が `accept` を満たすまで待ち、その答えを返す。"""

    def answer():
        response = http("GET", url, token)
        return response if accept(*response) else None

    return wait_until(what, deadline_s, answer)


def dev_login(login):
    status, _, body = http("POST", f"{GATEWAY}/auth/dev-token", body={"login": login})
    if status != 200:
        raise Failure(f"開発用ログインが {status}: {body} (DEV_LOGIN=true で起動しましたか)")
    return body["token"]


def upload(token, relative, fault=None, timeout=15.0):
    """testdata/ のファイルを multipart でアップロードし、(状態コード, 本体) を返す。"""
    path = ROOT / "testdata" / relative
    boundary = uuid.uuid4().hex
    mime = {"png": "image/png", "gif": "image/gif", "webp": "image/webp", "mp4": "video/mp4"}.get(
        path.suffix.lstrip("."), "image/jpeg"
    )
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        f"Content-Type: {mime}\r\n\r\n"
    ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if fault:
        headers["X-Fault-Inject"] = fault
    status, _, answer = http("POST", f"{GATEWAY}/api/v1/media", token, body, headers, timeout)
    return status, answer


def saga(token, saga_id):
    status, _, body = http("GET", f"{GATEWAY}/api/v1/sagas/{saga_id}", token)
    return body if status == 200 else None


def wait_for_saga(token, saga_id, deadline_s, statuses=TERMINAL):
    def reached():
        detail = saga(token, saga_id)
        return detail if detail and detail.get("status") in statuses else None

    return wait_until(f"Saga {saga_id} が {statuses} になる", deadline_s, reached)


def docker(*args, check=True):
    """docker を実行して標準出力を返す。"""
    result = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise Failure(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def container(service):
    """compose のサービスのコンテナ ID (プロジェクト名は COMPOSE_PROJECT_NAME)。"""
    ids = docker(
        "ps", "-aq",
        "--filter", f"label=com.docker.compose.project={PROJECT}",
        "--filter", f"label=com.docker.compose.service={service}",
    ).split()
    if len(ids) != 1:
        raise Failure(f"サービス {service} のコンテナが 1 つではありません: {ids}")
    return ids[0]


def network():
    return f"{PROJECT}_default"


def internal_url(service, port):
    """コンテナの IP で内部 API の URL を作る (公開されていないポート)。"""
    ip = docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        container(service),
    ).split()
    if not ip:
        raise Failure(f"{service} の IP が分かりません")
    return f"http://{ip[0]}:{port}"


def service_token(name="lab"):
    return docker("exec", container("gateway"), "mediahub", "service-token", "--name", name)
