#!/usr/bin/env python3
"""mediahub-services/src のモジュールの依存を読み、循環と上向きの import を探します。

- 循環: あるモジュール (ファイル) A が B を使い、B が (直接または間接に) A を使う。
  親の mod.rs が子を宣言するのは依存に数えません (`pub use` の再公開も数えません)。
- 上向き: platform がサービスや consumer・store_client を使う。

見つかれば一覧を出して終了コード 1。`make lint` から呼びます。
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "mediahub-services", "src")
SERVICES = {"album", "eventstore", "frontend", "gateway", "media_command", "media_query",
            "notification", "saga", "system", "consumer", "store_client"}


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return tuple(rel)


def files():
    for dirpath, _, names in os.walk(ROOT):
        if os.sep + "bin" in dirpath:
            continue
        for name in names:
            if name.endswith(".rs"):
                yield os.path.join(dirpath, name)


def strip_tests(text):
    i = text.find("#[cfg(test)]")
    return text if i < 0 else text[:i]


def resolve(mod, parts, modules):
    """`parts` (super/crate/self から始まるパス) を既知のモジュールのうち最も長いものに解決します。"""
    base = list(mod)
    it = iter(parts)
    first = parts[0]
    if first == "crate":
        base = []
        parts = parts[1:]
    elif first == "self":
        parts = parts[1:]
    else:
        while parts and parts[0] == "super":
            base = base[:-1]
            parts = parts[1:]
    best = None
    for n in range(len(parts), 0, -1):
        cand = tuple(base + list(parts[:n]))
        if cand in modules:
            best = cand
            break
    return best


def main():
    modules = {module_of(p): p for p in files()}
    edges = {m: set() for m in modules}
    path_re = re.compile(r"\b((?:crate|super|self)(?:::(?:super|[A-Za-z_][A-Za-z0-9_]*))+)")
    for mod, path in modules.items():
        text = strip_tests(open(path, encoding="utf-8").read())
        for line in text.splitlines():
            s = line.strip()
            if s.startswith("//") or s.startswith("pub use") or s.startswith("pub(crate) use"):
                continue
            for m in path_re.finditer(line):
                parts = m.group(1).split("::")
                # use foo::{a, b} — the braces are handled by the module prefix match
                target = resolve(mod, parts, modules)
                if target and target != mod and not (len(target) < len(mod) and mod[:len(target)] == target and target == mod[:-1] and False):
                    # a child using its own parent module (mod.rs) only for re-exports is still a use
                    edges[mod].add(target)
    problems = []
    for mod, targets in edges.items():
        if mod and mod[0] == "platform":
            for t in targets:
                if t and t[0] in SERVICES:
                    problems.append(f"上向き: {'::'.join(mod)} → {'::'.join(t)}")
    # cycles (Tarjan)
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            strong(v)
    for comp in comps:
        problems.append("循環: " + " ↔ ".join(sorted("::".join(c) or "crate" for c in comp)))
    if problems:
        print("\n".join(problems))
        print(f"import の問題 {len(problems)} 件")
        return 1
    print(f"import: {len(modules)} モジュール、循環 0 件、上向き 0 件")
    return 0


if __name__ == "__main__":
    sys.exit(main())
