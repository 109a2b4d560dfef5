#!/usr/bin/env python3
"""Check that fusebox's `rust-version` is not lower than what it needs to build.

A crate cannot build on an older compiler than its dependencies can, so the
claimed `rust-version` must be at least:

- the `rust-version` of every package in the *normal* dependency graph (normal
  and build dependencies, transitively; all features; every target platform),
  as locked in Cargo.lock; dev-dependencies are left out, since users never
  build them;
- the first release of the crate's edition (2021: 1.56, 2024: 1.85).

The graph comes from `cargo metadata --format-version 1 --all-features --locked`.
Its resolve unifies features across dev-dependencies too (a feature that only a
dev-dependency turns on can add a package here), so the set checked is a superset
of what users build: the check may be stricter than needed, never laxer. Edges
under `cfg(loom)` are skipped: that cfg exists only for the loom models in
`loom-tests/`, never in a user's build.

What this does not check: the crate's own code (an API stabilised after the claimed
version). For that, build with the claimed toolchain:
`cargo +<rust-version> check --lib --all-features --locked`.

Exit status: 0 when the claim holds, 1 with one line per dependency that needs a
newer compiler (and the path that pulls it in), 2 when the check cannot run.

    python3 scripts/msrv-check.py
"""

import json
import os
import subprocess
import sys

# The first stable release of each edition.
EDITION_MIN = {"2015": (1, 0, 0), "2018": (1, 31, 0), "2021": (1, 56, 0), "2024": (1, 85, 0)}

# Dependency-table targets that never occur in a user's build (see above).
INTERNAL_TARGETS = {"cfg(loom)"}


def version(text):
    """'1.87' or '1.87.0' as a comparable (major, minor, patch)."""
    parts = [int(p) for p in text.split(".")]
    return tuple((parts + [0, 0])[:3])


def show(v):
    return ".".join(str(p) for p in v)


def check_edition(manifest):
    """A failure message if `rust-version` predates the edition's first release."""
    try:
        import tomllib  # Python 3.11+; without it, cargo metadata refuses instead.
    except ImportError:
        return None
    with open(manifest, "rb") as f:
        package = tomllib.load(f).get("package", {})
    edition = str(package.get("edition", "2015"))
    claimed = package.get("rust-version")
    if not isinstance(claimed, str) or edition not in EDITION_MIN:
        return None  # reported below, from cargo metadata
    if EDITION_MIN[edition] > version(claimed):
        return (f"msrv-check: FAIL: {package.get('name')} claims rust-version {claimed}, "
                f"but edition {edition} needs Rust {show(EDITION_MIN[edition])} or newer")
    return None


def main():
    root_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    manifest = os.path.join(root_dir, "Cargo.toml")
    # The edition first, from the manifest itself: cargo refuses to read a manifest
    # whose rust-version predates its edition, with a less direct message.
    edition_failure = check_edition(manifest)
    if edition_failure:
        print(edition_failure)
        return 1
    try:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked",
             "--manifest-path", manifest],
            check=True, stdout=subprocess.PIPE, text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"msrv-check: cannot run cargo metadata: {e}", file=sys.stderr)
        return 2
    meta = json.loads(out)

    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    crate = next(
        (p for p in meta["packages"]
         if os.path.realpath(p["manifest_path"]) == os.path.realpath(manifest)),
        None,
    )
    if crate is None:
        print(f"msrv-check: no package at {manifest}", file=sys.stderr)
        return 2
    name = crate["name"]
    if not crate.get("rust_version"):
        print(f"msrv-check: {name} declares no rust-version in Cargo.toml", file=sys.stderr)
        return 1
    claimed = version(crate["rust_version"])

    # Breadth-first from the crate over normal and build edges: every package it
    # needs, with the shortest path that pulls it in.
    path = {crate["id"]: [crate["id"]]}
    queue = [crate["id"]]
    while queue:
        current = queue.pop(0)
        for dep in nodes[current]["deps"]:
            used = [k for k in dep["dep_kinds"]
                    if k["kind"] in (None, "build") and k.get("target") not in INTERNAL_TARGETS]
            if used and dep["pkg"] not in path:
                path[dep["pkg"]] = path[current] + [dep["pkg"]]
                queue.append(dep["pkg"])

    failures = []
    unknown = []
    newest = None
    for pid in path:
        if pid == crate["id"]:
            continue
        p = packages[pid]
        if not p.get("rust_version"):
            unknown.append(f"{p['name']} {p['version']}")
            continue
        needs = version(p["rust_version"])
        if newest is None or needs > newest[0]:
            newest = (needs, f"{p['name']} {p['version']}")
        if needs > claimed:
            chain = " -> ".join(packages[i]["name"] for i in path[pid])
            failures.append((needs, p["name"], p["version"], chain))

    edition = crate["edition"]
    edition_min = EDITION_MIN.get(edition)
    if edition_min is None:
        print(f"msrv-check: unknown edition {edition}; add it to EDITION_MIN", file=sys.stderr)
        return 2

    ok = edition_min <= claimed  # (already checked above when tomllib exists)
    if not ok:
        print(f"msrv-check: FAIL: {name} claims rust-version {show(claimed)}, "
              f"but edition {edition} needs Rust {show(edition_min)} or newer")
    if failures:
        ok = False
        failures.sort(key=lambda f: (f[0], f[1]), reverse=True)
        print(f"msrv-check: FAIL: {name} claims rust-version {show(claimed)}, "
              f"but {len(failures)} dependenc{'y' if len(failures) == 1 else 'ies'} "
              f"need{'s' if len(failures) == 1 else ''} a newer Rust:")
        for needs, dep, ver, chain in failures:
            print(f"  {dep} {ver} has rust-version {show(needs)}  (via {chain})")
        need = max(failures[0][0], edition_min)
        print(f"msrv-check: raise rust-version in Cargo.toml to {show(need)}, "
              f"or depend on versions that support {show(claimed)}")
    if not ok:
        return 1

    count = len(path) - 1
    print(f"msrv-check: ok: {name} rust-version {show(claimed)}; edition {edition} needs "
          f"{show(edition_min)}; the highest of {count} normal/build dependencies is "
          + (f"{show(newest[0])} ({newest[1]})" if newest else "none declared"))
    if unknown:
        print(f"msrv-check: note: {len(unknown)} declare no rust-version: {', '.join(sorted(unknown))}")
    floor = max(edition_min, newest[0] if newest else (1, 0, 0))
    if claimed > floor:
        print(f"msrv-check: note: nothing above needs more than {show(floor)}; "
              f"{show(claimed)} must then come from {name}'s own code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
