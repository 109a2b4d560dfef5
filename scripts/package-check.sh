#!/usr/bin/env bash
# Package the crate and check that the .crate stands on its own: unpacked outside
# the repository (no workspace, no fuzz/, loom-tests/ or .ci/, none of the
# workspace's other members), its tests, doc tests and examples build and run.
#
#   scripts/package-check.sh                 # CI: a clean checkout
#   scripts/package-check.sh --allow-dirty   # locally, with uncommitted changes
#
# Arguments go to `cargo package`. It runs with `--no-verify` (its verification
# would build the crate a second time, in a target dir of its own) and this script
# does the verifying instead, in CARGO_TARGET_DIR (by default the repository's
# target/), so the dependencies CI has already built are reused and only fusebox
# itself is compiled again. The unpacked copy lives under $TMPDIR, outside the
# repository: inside it, cargo would take the copy for a member of the repository's
# workspace.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
start=$SECONDS

step() { printf '\n--> package check: %s\n' "$*"; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR="$repo/$CARGO_TARGET_DIR" ;; esac

id=$(cargo pkgid --manifest-path "$repo/Cargo.toml" -p fusebox)
version=${id##*[#@]}
crate="$CARGO_TARGET_DIR/package/fusebox-$version.crate"

step "cargo package --no-verify $*"
cargo package --no-verify --locked -p fusebox "$@"
[[ -f $crate ]] || { echo "package check: $crate was not written" >&2; exit 1; }

step "contents of $(basename "$crate")"
listing=$(tar -tzf "$crate" | sed "s|^fusebox-$version/||")
fail=0
# The workspace's other members (a folder with a Cargo.toml of its own) are left
# out by cargo itself; fuzz/, loom-tests/ and .ci/ by Cargo.toml's exclude.
for left_out in fuzz/ loom-tests/ .ci/ benches/ examples/lab/ examples/integrations/; do
    if grep -q "^$left_out" <<<"$listing"; then
        echo "package check: $left_out is in the package (it is not part of the crate)" >&2
        fail=1
    fi
done
for needed in Cargo.toml Cargo.lock README.md src/lib.rs \
    tests/fuzz_harness/breaker_ops.rs tests/fuzz_harness/retry_ops.rs \
    tests/replay_support/mod.rs examples/permits.rs examples/fusebox.toml; do
    if ! grep -qx "$needed" <<<"$listing"; then
        echo "package check: $needed is missing from the package" >&2
        fail=1
    fi
done
((fail == 0)) || exit 1
echo "ok: none of fuzz/, loom-tests/, .ci/ or the other members; the test harness, Cargo.lock and README are in"

# A fixed place per repository (so repeated runs replace fusebox's own build
# artifacts instead of piling up new ones), unpacked fresh every time. `-m`: the
# files get the time of unpacking, not the fixed 2006 timestamp cargo writes into
# every .crate; with that one, a rebuild at the same path would look up to date
# to cargo and run the previous run's binaries.
work="${TMPDIR:-/tmp}/fusebox-package-check.$(printf %s "$repo" | cksum | cut -d' ' -f1)"
rm -rf "$work"
mkdir -p "$work"
tar -xzmf "$crate" -C "$work"
cd "$work/fusebox-$version"
if [[ -e "$work/Cargo.toml" || -d fuzz || -d loom-tests ]]; then
    echo "package check: unexpected files around the unpacked crate in $work" >&2
    exit 1
fi

step "tests in the unpacked crate (unit, integration, doc tests, README; fuzz sweeps without the corpus)"
cargo test --locked --all-features

step "examples build and run"
cargo build --locked --all-features --examples
cargo run --locked --all-features --example permits >/dev/null
cargo run --locked --all-features --example instructions -- guard 1000

cd "$repo"
rm -rf "$work"
echo
echo "package check passed in $((SECONDS - start))s: $(basename "$crate") builds and passes on its own"
