#!/usr/bin/env python3
"""No module cycles inside a crate (crates themselves cannot form cycles).

For each crate of the workspace, builds the graph of its modules from the
paths its code names (`crate::a::b`, also inside `use crate::{a::X, ...}`),
leaving out comments and `#[cfg(test)]` code, at two depths (top-level
modules, and their submodules), and fails listing every cycle found.
Usage: ops/modcycles.py [workspace root]. Names re-exported at a crate's
root (`crate::X`) are not followed."""
import os, re, sys, itertools
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
crates = [c for c in os.listdir(root) if os.path.isfile(os.path.join(root, c, "Cargo.toml")) and os.path.isdir(os.path.join(root, c, "src"))]
def modname(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"): rel = rel[:-1]
    return rel
total = 0
for c in sorted(crates):
    src = os.path.join(root, c, "src")
    for depth in (1, 2):
        edges = {}
        for dp, _, fs in os.walk(src):
            for f in fs:
                if not f.endswith(".rs"): continue
                p = os.path.join(dp, f)
                m = modname(src, p)
                if not m or (len(m) > 1 and m[0] == "bin"): continue
                me = tuple(m[:depth])
                text = open(p).read()
                # drop #[cfg(test)] modules at the end of files (tests may reach anywhere)
                text = text.split("#[cfg(test)]")[0]
                text = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
                named = re.findall(r"crate::([a-z_0-9]+(?:::[a-z_0-9]+)?)", text)
                for group in re.findall(r"crate::\{([^}]*)\}", text):
                    named += re.findall(r"\b([a-z_0-9]+(?:::[a-z_0-9]+)?)::", group)
                for t in named:
                    parts = t.split("::")
                    dst = tuple(parts[:depth])
                    if dst[:1] != me[:1] or (depth == 2 and len(me) == 2 and dst != me):
                        if dst != me and dst[:len(me)] != me and me[:len(dst)] != dst:
                            edges.setdefault(me, set()).add(dst)
        # find cycles via Tarjan SCC
        index = {}; low = {}; st = []; on = set(); sccs = []; i = [0]
        def strong(v):
            index[v] = low[v] = i[0]; i[0] += 1; st.append(v); on.add(v)
            for w in edges.get(v, ()):
                if w not in index: strong(w); low[v] = min(low[v], low[w])
                elif w in on: low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = st.pop(); on.discard(w); comp.append(w)
                    if w == v: break
                if len(comp) > 1: sccs.append(comp)
        sys.setrecursionlimit(10000)
        for v in list(edges):
            if v not in index: strong(v)
        for comp in sccs:
            total += 1
            print(f"{c} depth {depth}: cycle among", sorted("::".join(x) for x in comp))
print("module cycles:", total)
sys.exit(1 if total else 0)
