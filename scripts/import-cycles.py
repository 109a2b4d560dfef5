#!/usr/bin/env python3
"""Report import cycles between the crate's modules: the layering rule is that no
module imports one that imports it back.

    python3 scripts/import-cycles.py          # the crate's src/
    python3 scripts/import-cycles.py DIR      # another crate's src/ (DIR/lib.rs)

The module tree is followed from lib.rs through `mod x;` declarations (`x.rs`,
`x/mod.rs`, or a `#[path]`); a file's inline modules (`mod tests { .. }`) count as
the file's. Module `a::b` depends on module `m` when its code names a
`crate::` path into `m`: `use crate::m::X`, `pub(crate) use crate::{m, n::Y}`, or
`crate::m::f()` in an expression. A path is charged to its longest prefix that is
a module (`crate::a::b::C` is module `a::b` if it exists, else `a`); a name the
crate root re-exports (`crate::Breaker`, from `pub use breaker::Breaker` in
lib.rs) is followed to where it comes from. Comments and string literals are
skipped. Not counted: `super::` and `self::` paths, and a parent's `mod` and
`pub use child::..` of its own children.

Prints every strongly connected component of two or more modules, with the
references that make each edge. Exit status: 0 without cycles, 1 with, 2 when
it cannot run.
"""

import os
import re
import sys
from collections import defaultdict

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(text, strings=True):
    """`text` with comments and (unless `strings` is false) string and char
    literals blanked; lines are kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    out.append("\n" if text[i] == "\n" else "")
                    i += 1
        elif not strings and c in "\"'":
            out.append(c)
            i += 1
        elif m := re.compile(r'b?r(#*)"').match(text, i):
            if i and (text[i - 1].isalnum() or text[i - 1] == "_"):
                out.append(c)  # the tail of an identifier such as `bar"`: not a raw string
                i += 1
                continue
            end = text.find('"' + m.group(1), m.end())
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append("\n" * text.count("\n", i, end) + '""')
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append("\n" * text.count("\n", i, j) + '""')
            i = j + 1
        elif c == "'" and (m := re.compile(r"'(\\(x..|u\{[0-9a-fA-F]*\}|.)|[^\\'])'").match(text, i)):
            out.append("' '")  # a char literal; a lifetime (`'a`) does not match
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_tree(code, i):
    """The paths of a use tree (or a plain path) starting at `code[i]`, as lists of
    segments, and the position after it. `a::{b, c::d}` gives [a, b], [a, c, d]."""
    ws = re.compile(r"\s*")
    i = ws.match(code, i).end()
    if code.startswith("{", i):
        paths, i = [], i + 1
        while True:
            i = ws.match(code, i).end()
            if code.startswith("}", i) or i >= len(code):
                return paths, i + 1
            sub, j = parse_tree(code, i)
            if j == i:  # not a use tree after all: stop here
                return paths, i
            paths += sub
            i = re.compile(r"\s*(as\s+" + IDENT + r")?\s*,?").match(code, j).end()
    m = re.compile(IDENT + r"|\*").match(code, i)
    if not m:
        return [[]], i
    head, i = m.group(0), m.end()
    sep = re.compile(r"\s*::\s*").match(code, i)
    if sep and re.compile(r"[A-Za-z_{*]").match(code, sep.end()):
        tails, i = parse_tree(code, sep.end())
        return [[head] + t for t in tails], i
    return [[head]], i


def module_tree(src):
    """{module path (tuple): file} from src/lib.rs through `mod` declarations."""
    modules, todo = {}, [((), os.path.join(src, "lib.rs"))]
    decl = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;")
    path_attr = re.compile(r'#\[path\s*=\s*"([^"]+)"\]')
    while todo:
        module, path = todo.pop()
        if module in modules or not os.path.isfile(path):
            continue
        modules[module] = path
        with open(path, encoding="utf-8") as f:
            code = strip(f.read(), strings=False)  # keeps `#[path = ".."]`
        here = os.path.dirname(path)
        owns_dir = os.path.basename(path) in ("lib.rs", "mod.rs")
        base = here if owns_dir else os.path.join(here, os.path.basename(path)[:-3])
        for m in decl.finditer(code):
            name, attr = m.group(2), path_attr.search(m.group(1))
            if attr:
                child = os.path.join(here, attr.group(1))
            else:
                child = os.path.join(base, name + ".rs")
                if not os.path.isfile(child):
                    child = os.path.join(base, name, "mod.rs")
            todo.append((module + (name,), child))
    return modules


def root_names(lib_code, modules):
    """Names the crate root brings in with `use`: {name: path it stands for}."""
    names = {}
    for m in re.finditer(r"\buse\s+", lib_code):
        for path in parse_tree(lib_code, m.end())[0]:
            if path and path[0] in ("crate", "self"):
                path = path[1:]
            if len(path) >= 2 and (path[0],) in modules and path[-1] not in ("*", "self"):
                names[path[-1]] = path
    # `as` renames: `use a::B as C;` parsed as [a, B]; map C too.
    for m in re.finditer(r"\buse\s+(?:crate::)?([\w:]+)\s+as\s+(" + IDENT + ")", lib_code):
        names[m.group(2)] = m.group(1).split("::")
    return names


def owner(path, modules, names, depth=0):
    """The module a `crate::` path (without `crate`) lands in."""
    k = len(path)
    while k and tuple(path[:k]) not in modules:
        k -= 1
    if k == 0 and path and path[0] in names and depth < 8:
        return owner(names[path[0]] + path[1:], modules, names, depth + 1)
    return tuple(path[:k])


def graph(src):
    modules = module_tree(src)
    if () not in modules:
        raise FileNotFoundError(os.path.join(src, "lib.rs"))
    codes = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            codes[module] = strip(f.read())
    names = root_names(codes[()], modules)
    edges = defaultdict(list)  # (from, to) -> ["file:line crate::path", ...]
    for module, code in codes.items():
        for m in re.finditer(r"(?<![A-Za-z0-9_])crate\s*::", code):
            for path in filter(None, parse_tree(code, m.end())[0]):
                target = owner([s for s in path if s not in ("*", "self")], modules, names)
                if target != module:
                    line = code.count("\n", 0, m.start()) + 1
                    where = os.path.relpath(modules[module])
                    shown = "::".join(s for s in path if s != "self")
                    edges[(module, target)].append(f"{where}:{line} crate::{shown}")
    return modules, edges


def components(nodes, edges):
    """Tarjan's strongly connected components."""
    succ = defaultdict(list)
    for a, b in edges:
        succ[a].append(b)
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
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
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def name(module):
    return "::".join(module) or "crate"


def main(argv):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = argv[1] if len(argv) > 1 else os.path.join(here, "src")
    try:
        modules, edges = graph(src)
    except (OSError, UnicodeDecodeError) as e:
        print(f"import-cycles: cannot read the crate: {e}", file=sys.stderr)
        return 2
    cycles = [c for c in components(set(modules) | {b for _, b in edges}, edges) if len(c) > 1]
    for comp in cycles:
        print(f"import cycle among {len(comp)} modules: {', '.join(name(m) for m in comp)}")
        for (a, b), refs in sorted(edges.items()):
            if a in comp and b in comp:
                more = f" (+{len(refs) - 1} more)" if len(refs) > 1 else ""
                print(f"  {name(a)} -> {name(b)}: {refs[0]}{more}")
    print(f"import-cycles: {len(modules)} modules, {len(edges)} dependencies, "
          f"{len(cycles)} cycle{'' if len(cycles) == 1 else 's'}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
