#!/usr/bin/env python3
"""チュートリアル (`docs/tutorial/*.md`) が今のコードと食い違っていないかを確かめる (標準ライブラリのみ)。

チュートリアルはファイル名・テスト名・HTTP のパスをたくさん引用します。コードが変わって
引用先が消えたり名前が変わったりしたら、それを行番号つきで知らせるのがこのスクリプトの役目です。

確かめること:

1. **パス**: バッククォートで囲んだトークンのうち、リポジトリのパスに見えるもの
   (`/` を含み既知の拡張子で終わる、またはトップレベルのディレクトリ `mediahub-core/` など
   で始まる、またはルート直下のファイル `Makefile`・`docker-compose.yml` など) が、
   リポジトリのルートから見て存在するか。末尾の `:行番号` と `#アンカー` は取り除き、`*` は
   glob として 1 つ以上に一致すればよいとします。コードブロックの中に書いた
   `testdata/images/...` のようなパスも同じように確かめます。
2. **テスト**: 見出し「確かめているテスト」から次の見出しまでの行にある、
   `^[a-z][a-z0-9_]{15,}$` に一致するバッククォートのトークンを「テスト名」とみなし、
   `fn <名前>` が `mediahub-core/`・`mediahub-services/`・`examples/` の `.rs` にあるか。
   同じ行に `.rs` のパスも書いてあれば、そのファイルの中にあるかまで確かめます。
3. **リンク**: 相対パスの Markdown リンク `[文](パス)` の行き先が存在するか。
4. **HTTP のパス**: `localhost:8080/...` のような URL と、`GET /api/v1/...` の形のトークンが、
   `docs/openapi/<service>.json` (ポートからサービスを決める。ゲートウェイは `gateway.json`) に
   あるか。`{id}` と `$VAR` は任意の 1 セグメントに一致します。どのサービスにもある
   `/health`・`/ready`・`/openapi.json`・`/swagger` は常に許します。わざと存在しないパスを
   叩いて 404 を見せる例は、同じ行に `# => 404` と書けば確かめません。
   `docs/openapi/` に文書の無いサンプルのサービス (`examples/tags_service.rs` の tags、8090) は、
   そのソースの `#[OpenApi(prefix_path = ...)]` と `#[oai(path = ...)]` から読んだパスと比べます。
5. **章の形**: 章のファイル (`01-*.md` 〜 `10-*.md`。09 は PostgreSQL の章のために空けてあり、
   まだ無くてよい) がそろっていて、それぞれに決まった節 (「この章で見るもの」など) と、練習問題の
   答えの `<details>` があるか。目次 (`README.md`) がすべての章にリンクしているか。

問題はそれぞれ `docs/tutorial/<ファイル>:<行>: <内容>` の形で表示し、最後に件数をまとめます。
問題が 1 件でもあれば終了コード 1 です。

使い方 (リポジトリのどこからでも):

    python3 scripts/check_tutorial.py
"""

from __future__ import annotations

import glob
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial"

# パスとみなす拡張子と、トップレベルのディレクトリ。
EXTENSIONS = (
    ".rs", ".md", ".py", ".sh", ".yml", ".yaml", ".toml", ".json", ".html", ".js", ".css",
    ".sql", ".jpg", ".png", ".gif", ".webp", ".mp4", ".mov", ".pem", ".svg",
)
TOP_DIRS = (
    "mediahub-core/", "mediahub-services/", "docs/", "scripts/", "testdata/", "web/",
    "examples/", "fuzz/",
)
# `/` を含まなくても「ルート直下のファイル」として確かめる名前。
ROOT_FILE = re.compile(r"^(Makefile|Dockerfile|[A-Za-z][\w.-]*\.(?:md|yml|yaml|toml))$")
# テスト名とみなすトークン。
TEST_NAME = re.compile(r"^[a-z][a-z0-9_]{15,}$")
# テストを探すディレクトリ。
TEST_DIRS = ("mediahub-core", "mediahub-services", "examples")
# 章のファイル名 (`NN-*.md`) と、そろっているべき章の番号。
CHAPTER = re.compile(r"^(\d{2})-.+\.md$")
CHAPTER_NUMBERS = tuple(range(1, 11))
OPTIONAL_CHAPTERS: tuple[int, ...] = ()
# 章に必要な節 (見出しの文字列に含まれていればよい)。
SECTIONS = (
    "この章で見るもの", "やってみる", "しくみ", "実装しているファイル", "確かめているテスト", "練習問題",
)
# ポートとサービス (OpenAPI 文書の名前)。
PORTS = {
    "8080": "gateway", "8081": "media-command", "8082": "media-query", "8083": "album",
    "8084": "eventstore", "8085": "saga", "8086": "notification",
}
# `docs/openapi/` に文書の無い、サンプルのサービス: ポート → (名前, ソース)。パスはソースの
# `#[OpenApi(prefix_path = "...")]` と `#[oai(path = "...")]` から読みます (`:id` は `{id}` に直す)。
EXAMPLE_SERVICES = {"8090": ("tags", "examples/tags_service.rs")}
# どのサービスにもある共通のエンドポイント。
COMMON_PATHS = {"/health", "/ready", "/openapi.json", "/swagger"}

INLINE_CODE = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*)$")
FENCE = re.compile(r"^\s*(```|~~~)")
# コードブロックの中のリポジトリのパス (前が英数字・`/`・`.` でないところから)。
BLOCK_PATH = re.compile(
    r"(?<![\w/.-])((?:mediahub-core|mediahub-services|docs|scripts|testdata|web|examples|fuzz)/[\w./-]*[\w/])"
)
# `localhost:8080/...`・`127.0.0.1:8082/...` の URL (クエリ・引用符・空白・シェルの記号の手前まで)。
URL = re.compile(r"(?:localhost|127\.0\.0\.1):(\d{4})(/[^\s\"'`?)#;&|<>]*)?")
# `GET /api/v1/...` の形のトークン。
METHOD_PATH = re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE)\s+(/\S*)$")


@dataclass
class Report:
    """見つけた問題と、確かめた件数。"""

    problems: list[str] = field(default_factory=list)
    paths: int = 0
    tests: int = 0
    links: int = 0
    http: int = 0

    def problem(self, file: Path, line: int, message: str) -> None:
        self.problems.append(f"{file.relative_to(ROOT)}:{line}: {message}")


def looks_like_path(token: str) -> bool:
    """バッククォートのトークンがリポジトリのパスに見えるか。"""
    if any(c.isspace() for c in token) or "://" in token or token.startswith(("/", "-", "$", "~")):
        return False
    if any(c in token for c in "<>{}$()|=;,\"'"):
        return False  # `docs/openapi/<service>.json` のような雛形や、コマンドの一部
    if token.startswith(TOP_DIRS):
        return True
    bare = strip_suffixes(token)
    if "/" in bare and bare.endswith(EXTENSIONS):
        return True
    return bool(ROOT_FILE.match(bare))


def strip_suffixes(token: str) -> str:
    """`path#anchor` と `path:12`・`path:12-30` の末尾を取り除く。"""
    token = token.split("#", 1)[0]
    return re.sub(r":\d+(?:-\d+)?$", "", token)


def path_exists(token: str) -> bool:
    path = strip_suffixes(token)
    if "*" in path:
        return bool(glob.glob(str(ROOT / path)))
    return (ROOT / path).exists()


def load_test_sources() -> dict[Path, str]:
    """テストを探す `.rs` ファイルの中身 (パス → 本文)。"""
    sources = {}
    for top in TEST_DIRS:
        for path in sorted((ROOT / top).rglob("*.rs")):
            if "target" in path.relative_to(ROOT).parts:
                continue
            sources[path] = path.read_text(encoding="utf-8", errors="replace")
    return sources


def defines(source: str, name: str) -> bool:
    return re.search(rf"\bfn\s+{re.escape(name)}\b", source) is not None


def path_pattern(path: str) -> re.Pattern[str]:
    """OpenAPI のパス (`/api/v1/media/{id}`) を正規表現にする (`{x}` は任意の 1 セグメント)。"""
    return re.compile("^" + re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(path)) + "$")


def load_openapi_paths() -> dict[str, list[re.Pattern[str]]]:
    """サービス名 → OpenAPI 文書のパスを正規表現にしたもの (サンプルのサービスはソースから)。"""
    patterns: dict[str, list[re.Pattern[str]]] = {}
    for spec in sorted((ROOT / "docs" / "openapi").glob("*.json")):
        paths = json.loads(spec.read_text(encoding="utf-8")).get("paths", {})
        patterns[spec.stem] = [path_pattern(p) for p in paths]
    for service, source in EXAMPLE_SERVICES.values():
        patterns[service] = [path_pattern(p) for p in example_service_paths(ROOT / source)]
    return patterns


# サンプルのサービスのソースの `#[OpenApi(prefix_path = "...")]` と `#[oai(path = "...")]`。
OAI_PREFIX = r"#\[OpenApi\([^]]*?prefix_path\s*=\s*\"([^\"]*)\""
OAI_PATH = r"#\[oai\([^]]*?\bpath\s*=\s*\"([^\"]*)\""
OAI_ATTRIBUTE = re.compile(f"{OAI_PREFIX}|{OAI_PATH}")


def example_service_paths(source: Path) -> list[str]:
    """サンプルのサービスのソースに書かれた API のパス (`:id` を `{id}` に直したもの)。

    `#[oai(path = ...)]` には、その前で最後に現れた `#[OpenApi(prefix_path = ...)]` を前に付けます。
    ソースが無ければ空 (そのポートのパスはすべて問題として報告されます)。
    """
    if not source.exists():
        return []
    prefix, paths = "", []
    for match in OAI_ATTRIBUTE.finditer(source.read_text(encoding="utf-8")):
        if match.group(1) is not None:
            prefix = match.group(1)
        else:
            path = re.sub(r":(\w+)", r"{\1}", prefix + match.group(2))
            paths.append(path.rstrip("/") or "/")
    return paths


def normalize_http_path(path: str) -> str:
    """シェル変数 (`$MEDIA`・`${MEDIA}`) を 1 セグメントの仮の値にし、末尾の `/` を除く。"""
    path = re.sub(r"\$\{?\w+\}?", "x", path)
    return path.rstrip("/") or "/"


def http_path_known(path: str, services: list[str], openapi: dict[str, list[re.Pattern[str]]]) -> bool:
    path = normalize_http_path(path)
    if path in COMMON_PATHS:
        return True
    return any(p.match(path) for s in services for p in openapi.get(s, []))


def check_file(
    file: Path,
    report: Report,
    sources: dict[Path, str],
    openapi: dict[str, list[re.Pattern[str]]],
) -> tuple[set[str], list[str]]:
    """1 ファイルを確かめ、(リンク先のファイル名, 見出しの一覧) を返す。"""
    linked: set[str] = set()
    headings: list[str] = []
    in_tests = False
    in_block = False
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_block = not in_block
            continue
        if in_block:
            for match in BLOCK_PATH.finditer(line):
                report.paths += 1
                if not path_exists(match.group(1)):
                    report.problem(file, number, f"コードブロックのパス {match.group(1)} がありません")
            check_urls(file, number, line, report, openapi)
            continue
        heading = HEADING.match(line)
        if heading:
            headings.append(heading.group(1))
            in_tests = "確かめているテスト" in heading.group(1)
            continue

        tokens = [m.group(2).strip() for m in INLINE_CODE.finditer(line)]
        rs_files = [strip_suffixes(t) for t in tokens if looks_like_path(t) and strip_suffixes(t).endswith(".rs")]
        for token in tokens:
            if looks_like_path(token):
                report.paths += 1
                if not path_exists(token):
                    report.problem(file, number, f"パス `{token}` がありません")
            method = METHOD_PATH.match(token)
            if method:
                report.http += 1
                if not http_path_known(method.group(1).split("?", 1)[0], list(openapi), openapi):
                    report.problem(
                        file, number,
                        f"HTTP のパス `{token}` が docs/openapi/ のどの文書にも、サンプルのサービスにもありません",
                    )
            if in_tests and TEST_NAME.match(token):
                report.tests += 1
                check_test(file, number, token, rs_files, report, sources)
        check_urls(file, number, line, report, openapi)

        for match in LINK.finditer(line):
            target = match.group(1)
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            report.links += 1
            relative = target.split("#", 1)[0]
            if not (file.parent / relative).exists():
                report.problem(file, number, f"リンク先 {target} がありません")
            linked.add(Path(relative).name)
    if in_block:
        report.problem(file, number, "コードブロックが閉じていません")
    return linked, headings


def check_test(
    file: Path, number: int, name: str, rs_files: list[str], report: Report, sources: dict[Path, str]
) -> None:
    if rs_files:
        for rs in rs_files:
            source = sources.get(ROOT / rs)
            if source is not None and defines(source, name):
                return
        where = " / ".join(rs_files)
        elsewhere = [str(p.relative_to(ROOT)) for p, s in sources.items() if defines(s, name)]
        hint = f" (実際は {', '.join(elsewhere)})" if elsewhere else ""
        report.problem(file, number, f"テスト `{name}` が {where} にありません{hint}")
        return
    if not any(defines(s, name) for s in sources.values()):
        report.problem(file, number, f"テスト `{name}` (fn {name}) がどの .rs にもありません")


def check_urls(
    file: Path, number: int, line: str, report: Report, openapi: dict[str, list[re.Pattern[str]]]
) -> None:
    if "# => 404" in line:
        return  # わざと存在しないパスを叩く例
    for match in URL.finditer(line):
        port, path = match.group(1), match.group(2)
        example = EXAMPLE_SERVICES.get(port)
        service = example[0] if example else PORTS.get(port)
        if service is None or not path or path == "/":
            continue  # UI (3000) やパスの無い URL
        report.http += 1
        if not http_path_known(path, [service], openapi):
            where = example[1] if example else f"docs/openapi/{service}.json"
            report.problem(file, number, f"{service} ({port}) に {path} がありません ({where})")


def main() -> int:
    if not TUTORIAL.is_dir():
        print(f"{TUTORIAL.relative_to(ROOT)} がありません", file=sys.stderr)
        return 1
    files = sorted(TUTORIAL.glob("*.md"))
    report = Report()
    sources = load_test_sources()
    openapi = load_openapi_paths()
    chapters = [f for f in files if CHAPTER.match(f.name)]
    index = TUTORIAL / "README.md"

    linked_from_index: set[str] = set()
    for file in files:
        linked, headings = check_file(file, report, sources, openapi)
        if file == index:
            linked_from_index = linked
        if file in chapters:
            for section in SECTIONS:
                if not any(section in h for h in headings):
                    report.problem(file, 1, f"節「{section}」がありません")
            if "<details>" not in file.read_text(encoding="utf-8"):
                report.problem(file, 1, "練習問題の答え (<details>) がありません")

    numbers = {int(m.group(1)) for f in chapters if (m := CHAPTER.match(f.name))}
    for missing in sorted(set(CHAPTER_NUMBERS) - set(OPTIONAL_CHAPTERS) - numbers):
        report.problem(index, 1, f"章 {missing:02d} のファイル ({missing:02d}-*.md) がありません")
    for unknown in sorted(numbers - set(CHAPTER_NUMBERS)):
        report.problem(index, 1, f"章 {unknown:02d} は CHAPTER_NUMBERS にありません (章を足したら更新してください)")
    if index.exists():
        for chapter in chapters:
            if chapter.name not in linked_from_index:
                report.problem(index, 1, f"目次に {chapter.name} へのリンクがありません")
    else:
        report.problem(TUTORIAL / "README.md", 1, "目次 README.md がありません")

    for problem in report.problems:
        print(problem)
    print(
        f"{TUTORIAL.relative_to(ROOT)}: {len(files)} ファイル、パス {report.paths} 件、"
        f"テスト {report.tests} 件、リンク {report.links} 件、HTTP のパス {report.http} 件を確認、"
        f"問題 {len(report.problems)} 件"
    )
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
