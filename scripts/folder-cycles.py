#!/usr/bin/env python3
"""The folder-level include graph of agent/, controller/ and common/.

A folder is agent/X, controller/X (or agent, controller for their top-level files) or
common. An edge A -> B means a file in A includes a header of B. Dependencies must
point one way (for the controller: daemon -> api -> runner -> (session, probes, slo,
evidence) -> (guard, targeting, store) -> common), so any cycle is an error.

  scripts/folder-cycles.py [ROOT]          checks; exit 1 naming each cycle's edges
  scripts/folder-cycles.py --list [ROOT]   prints every edge with one include behind it
"""
import os
import re
import sys

TOPS = ("agent", "controller", "common")
SOURCES = (".c", ".cc", ".cpp", ".h", ".hpp")
INCLUDE = re.compile(r'^\s*#\s*include\s+"((?:agent|controller|common)/[^"]+)"')


def folder(path):
    """agent/core/x.h -> agent/core; controller/main.cpp -> controller; common/x.h -> common."""
    parts = path.split("/")
    if parts[0] == "common" or len(parts) < 3:
        return parts[0]
    return "/".join(parts[:2])


def edges_of(root):
    edges = {}  # (a, b) -> "file:line"
    for top in TOPS:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith(SOURCES):
                    continue
                path = os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
                a = folder(path)
                with open(os.path.join(root, path), errors="replace") as text:
                    for n, line in enumerate(text, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        b = folder(m.group(1))
                        if a != b:
                            edges.setdefault((a, b), f"{path}:{n}")
    return edges


def cycles(edges):
    """Strongly connected components with more than one folder (iterative Tarjan)."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def main(argv):
    listing = "--list" in argv
    args = [a for a in argv if a != "--list"]
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    edges = edges_of(root)
    if listing:
        for (a, b), where in sorted(edges.items()):
            print(f"{a} -> {b}    ({where})")
    found = cycles(edges)
    for comp in found:
        members = set(comp)
        print("folder cycle: " + ", ".join(comp), file=sys.stderr)
        for (a, b), where in sorted(edges.items()):
            if a in members and b in members:
                print(f"  {a} -> {b}    ({where})", file=sys.stderr)
    if found:
        return 1
    folders = {a for a, _ in edges} | {b for _, b in edges}
    print(f"no folder cycle: {len(edges)} edges among {len(folders)} folders")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
