#!/usr/bin/env python3
"""MediaHub のカバレッジゲート (標準ライブラリのみ)。

`cargo llvm-cov report --json --summary-only --output-path target/coverage.json` が書き出した
JSON を読み、次を行います。

1. クレート (ワークスペース直下のディレクトリ) ごとの行カバレッジを表にして表示する
2. 全体の行カバレッジが `--min-total` 以上か検査する
3. `--min PREFIX=PCT` で指定したディレクトリ (例: `mediahub-core/src/=90`) の
   行カバレッジが PCT 以上か検査する

どれかのしきい値を下回ると、何がどれだけ足りないかを表示して終了コード 1 で終わります。
JSON が読めないなど使い方の誤りは終了コード 2 です。

使い方 (Makefile の `make test` から呼ばれます):

    python3 scripts/coverage_gate.py --json target/coverage.json --root "$PWD" \
        --min-total 80 --min mediahub-core/src/=90
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass


@dataclass
class Lines:
    """行数の集計 (計測対象の行数と、実行された行数)。"""

    covered: int = 0
    total: int = 0

    def add(self, covered: int, total: int) -> None:
        self.covered += covered
        self.total += total

    @property
    def percent(self) -> float:
        # 計測対象の行が一つもないときは 100% とはせず 0% として扱う (ゲートを素通りさせない)。
        return 100.0 * self.covered / self.total if self.total else 0.0


def parse_min(spec: str) -> tuple[str, float]:
    """`PREFIX=PCT` を (PREFIX, PCT) に分解する。"""
    prefix, sep, pct = spec.rpartition("=")
    if not sep or not prefix:
        raise argparse.ArgumentTypeError(f"--min は PREFIX=PCT の形で指定してください: {spec!r}")
    try:
        value = float(pct)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--min のしきい値が数値ではありません: {spec!r}") from err
    return prefix, value


def load_files(path: str, root: str) -> list[tuple[str, int, int]]:
    """JSON から (ワークスペース相対パス, 実行された行数, 計測対象の行数) の一覧を読む。"""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        print(f"coverage gate: {path} がありません。先に `cargo llvm-cov report --json ...` を実行してください。", file=sys.stderr)
        sys.exit(2)
    except json.JSONDecodeError as err:
        print(f"coverage gate: {path} を JSON として読めません: {err}", file=sys.stderr)
        sys.exit(2)

    files: list[tuple[str, int, int]] = []
    for data in doc.get("data", []):
        for entry in data.get("files", []):
            name = entry.get("filename", "")
            lines = entry.get("summary", {}).get("lines", {})
            rel = os.path.relpath(name, root) if os.path.isabs(name) else name
            files.append((rel.replace(os.sep, "/"), int(lines.get("covered", 0)), int(lines.get("count", 0))))
    return files


def crate_of(rel: str) -> str:
    """ワークスペース相対パスの先頭のディレクトリ (= クレートのディレクトリ) を返す。"""
    head, _, rest = rel.partition("/")
    return head if rest else "(ルート)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="行カバレッジのしきい値を検査する")
    parser.add_argument("--json", required=True, help="cargo llvm-cov report --json --summary-only の出力")
    parser.add_argument("--root", default=os.getcwd(), help="ワークスペースのルート (既定: カレントディレクトリ)")
    parser.add_argument("--min-total", type=float, default=0.0, help="全体の行カバレッジの下限 (%%)")
    parser.add_argument(
        "--min",
        type=parse_min,
        action="append",
        default=[],
        metavar="PREFIX=PCT",
        help="ワークスペース相対パスが PREFIX で始まるファイルの行カバレッジの下限 (繰り返し指定可)",
    )
    args = parser.parse_args(argv)

    root = os.path.realpath(args.root)
    files = load_files(args.json, root)
    if not files:
        print("coverage gate: カバレッジの対象ファイルが一つもありません。テストが実行されたか確認してください。", file=sys.stderr)
        return 1

    total = Lines()
    per_crate: dict[str, Lines] = {}
    for rel, covered, count in files:
        total.add(covered, count)
        per_crate.setdefault(crate_of(rel), Lines()).add(covered, count)

    width = max([len("合計"), len("crate")] + [len(name) for name in per_crate])
    print()
    print(f"{'crate':<{width}}  {'lines':>15}  {'cover':>7}")
    print(f"{'-' * width}  {'-' * 15}  {'-' * 7}")
    for name in sorted(per_crate):
        lines = per_crate[name]
        print(f"{name:<{width}}  {lines.covered:>7}/{lines.total:<7}  {lines.percent:>6.2f}%")
    print(f"{'-' * width}  {'-' * 15}  {'-' * 7}")
    print(f"{'total':<{width}}  {total.covered:>7}/{total.total:<7}  {total.percent:>6.2f}%")
    print()

    failures: list[str] = []
    checks: list[tuple[str, Lines, float]] = [("全体", total, args.min_total)]
    for prefix, minimum in args.min:
        scoped = Lines()
        for rel, covered, count in files:
            if rel.startswith(prefix):
                scoped.add(covered, count)
        if scoped.total == 0:
            failures.append(f"{prefix}: 計測対象のファイルが見つかりません (パスの指定か、除外の正規表現を確認してください)")
            continue
        checks.append((prefix, scoped, minimum))

    for label, lines, minimum in checks:
        ok = lines.percent >= minimum
        mark = "OK  " if ok else "FAIL"
        print(f"[{mark}] {label}: 行カバレッジ {lines.percent:.2f}% (しきい値 {minimum:g}%, {lines.covered}/{lines.total} 行)")
        if not ok:
            # しきい値に届くまでにあと何行テストで通す必要があるか (切り上げ)。
            need = math.ceil(minimum * lines.total / 100) - lines.covered
            failures.append(
                f"{label}: 行カバレッジ {lines.percent:.2f}% がしきい値 {minimum:g}% を下回っています"
                f" (あと約 {max(need, 1)} 行をテストで通す必要があります)"
            )

    if failures:
        print(file=sys.stderr)
        print("coverage gate: 不合格", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        print("`make coverage-html` で未実行の行を確認できます。", file=sys.stderr)
        return 1
    print("coverage gate: 合格")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
