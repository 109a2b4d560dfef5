#!/usr/bin/env bash
# Build and start the live view example (examples/integrations/examples/live_view.rs)
# on a port the system picks, wait until `search`'s first outage has tripped its
# breaker and the breaker has recovered (the example's schedule: search is down
# 4-12 s into every 20 s cycle, so this takes about 15-20 s), then load the page
# in headless Chromium: screenshot it and check the rendered DOM (after the
# page's script ran) for what an operator needs:
#
#   - a timeline (inline SVG) per breaker;
#   - search's timeline shows an open period;
#   - search's "what happened" log lists its trip (closed -> open);
#   - retries are counted, not listed (payments retries, its log lists none,
#     and every listed line is a transition);
#   - times are human: wall-clock "14:03:07", "12 s ago", no raw milliseconds.
#
# Writes ${CARGO_TARGET_DIR:-target}/live-view.png and prints its path; exits
# non-zero if a check fails (the screenshot is written first, to look at).
#
#   bash scripts/live-view-screenshot.sh
#
# Needs curl, python3 and Chromium (CHROMIUM, default /usr/bin/chromium; run as
# root, the script installs it with apt-get if absent). Exit status: 0 every check
# passed, 1 a check (or the example) failed, 2 no Chromium and not root to install
# it, 3 its installation failed.
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target"
target="$(cd "$target" && pwd)"
png="$target/live-view.png"
chromium="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$chromium" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "live-view-screenshot: installing chromium" >&2
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2; }; then
            echo "live-view-screenshot: could not install chromium with apt-get" >&2
            exit 3
        fi
    else
        echo "live-view-screenshot: no $chromium; install it with: sudo apt-get install -y chromium" >&2
        exit 2
    fi
fi

CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}" cargo build -q -p fusebox-integrations \
    --example live_view --features registry,tokio

work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$target/debug/examples/live_view" 127.0.0.1:0 >"$work/server.out" 2>&1 &
server=$!

url=""
for _ in $(seq 100); do
    url="$(grep -o 'http://[0-9.:]*/' "$work/server.out" || true)"
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.out" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "live-view-screenshot: the example printed no address" >&2; exit 1; }
echo "live view on $url; waiting for search's outage and recovery" >&2

# Search's transitions: a trip (closed -> open), then a close.
outage_over() {
    curl -sf "${url}api/timeline" | python3 -c '
import json, sys
d = json.load(sys.stdin)
tr = [t for b in d["breakers"] if b["name"] == "search" for t in b["transitions"]]
trip = [i for i, t in enumerate(tr) if t["from"] == "closed" and t["to"] == "open"]
sys.exit(0 if trip and any(t["to"] == "closed" for t in tr[trip[0]:]) else 1)'
}
deadline=$((SECONDS + 60))
until outage_over; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "live-view-screenshot: no trip and recovery of search within 60 s" >&2
        exit 1
    fi
    sleep 0.5
done
# A moment of closed health after the recovery, as an operator would see it.
sleep 2

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --window-size=1280,900 --virtual-time-budget=3000)
run_chromium() {
    local profile
    profile="$(mktemp -d -p "$work")"
    "$chromium" "${flags[@]}" --user-data-dir="$profile" "$@" 2>>"$work/chromium.err"
}

rm -f "$png"
run_chromium --screenshot="$png" "$url" >/dev/null
if [ ! -s "$png" ]; then
    echo "live-view-screenshot: chromium wrote no screenshot" >&2
    cat "$work/chromium.err" >&2
    exit 1
fi
run_chromium --dump-dom "$url" >"$work/dom.html"

python3 - "$work/dom.html" <<'PY'
import re, sys
from html.parser import HTMLParser

class Dom(HTMLParser):
    """The elements (tag, attributes) and the visible text."""
    def __init__(self):
        super().__init__()
        self.elements, self.text, self.skip = [], [], 0
    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in ("script", "style", "title"):
            self.skip += 1
    def handle_endtag(self, tag):
        if tag in ("script", "style", "title") and self.skip:
            self.skip -= 1
    def handle_data(self, data):
        if not self.skip:
            self.text.append(data)

dom = Dom()
dom.feed(open(sys.argv[1], encoding="utf-8").read())
els = dom.elements
text = " ".join(" ".join(dom.text).split())
failed = []

def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failed.append(what)

def having(tag, **want):
    return [a for t, a in els if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in want.items())]

def classes(a):
    return a.get("class", "").split()

for name in ("catalog", "payments", "search"):
    svgs = having("svg", data_breaker=name)
    bands = [a for a in having("rect", data_breaker=name) if "band" in classes(a)]
    check(len(svgs) == 1 and bands, f"{name} has a timeline ({len(bands)} state bands)")
check(any(a.get("data-state") == "open" for a in having("rect", data_breaker="search")),
      "search's timeline shows an open period")
check(all(a.get("data-state") == "closed" for a in having("rect", data_breaker="catalog")),
      "catalog's timeline is closed throughout")
check(having("li", data_breaker="search", data_from="closed", data_to="open"),
      "search's log lists its trip (closed -> open)")
check(having("li", data_breaker="search", data_to="closed"),
      "search's log lists its recovery (-> closed)")
retries = [int(a["data-value"]) for a in having("span", data_breaker="payments", data_kind="retries")]
check(retries and retries[0] > 0, f"payments' retries are counted ({retries})")
items = [a for t, a in els if t == "li"]
check(all("transition" in classes(a) for a in items) and items,
      f"every listed line is a transition ({len(items)} lines)")
check(not having("li", data_breaker="payments"), "payments' retries are not listed")
check(re.search(r"\b\d\d:\d\d:\d\d\b", text) is not None, "wall-clock times (14:03:07)")
check(re.search(r"\b\d+(\.\d)? (s|min) ago\b", text) is not None, 'relative times ("12 s ago")')
raw = re.findall(r"\b\d{4,} ?ms\b|\b\d+\.\d{3,}", text)
check(not raw, f"no raw milliseconds or long decimals in the text {raw[:5]}")
sys.exit(1 if failed else 0)
PY
echo "$png"
