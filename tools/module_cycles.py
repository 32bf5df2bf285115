#!/usr/bin/env python3
"""Reads the module graph that cargo-modules prints as DOT on stdin and fails if the "uses" edges between
modules form a cycle (a file that imports another which imports it back, directly or round a circle):

    cargo modules dependencies --lib --no-externs --no-sysroot --no-fns --no-traits --no-types \\
        | python3 tools/module_cycles.py

(`cargo modules dependencies --acyclic` itself also counts a type and its own `impl Default` as a cycle.)
"""

import collections
import re
import sys


def main():
    edges = collections.defaultdict(set)
    for line in sys.stdin:
        m = re.match(r'\s*"([^"]+)" -> "([^"]+)" \[label="(\w+)"', line)
        if m and m.group(3) == "uses":
            edges[m.group(1)].add(m.group(2))
    if not edges:
        sys.exit("no module graph on stdin: pipe `cargo modules dependencies ...` into this script")
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    for cycle in cycles:
        print("cycle: " + " -> ".join(cycle))
    print(f"{len(edges)} modules with imports, {len(cycles)} cycles")
    sys.exit(1 if cycles else 0)


if __name__ == "__main__":
    main()
