#!/usr/bin/env python3
"""Every public type of fusebox has an example in its own documentation.

Reads the rustdoc HTML that `cargo doc --no-deps --all-features` wrote (so the
public surface is exactly what a user sees: re-exports resolved, private modules
left out) and lists each struct, enum, trait, union and type alias whose page has
no rendered code example in its top documentation block. Exits 1 when one is
missing, naming each; 2 when the docs have not been built.

    RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --all-features
    python3 scripts/doc-examples-check.py [DOC_DIR]

DOC_DIR defaults to `${CARGO_TARGET_DIR:-target}/doc/fusebox`.
"""
import os
import re
import sys
from html.parser import HTMLParser

KINDS = ("struct", "enum", "trait", "union", "type")


class TopDoc(HTMLParser):
    """Finds the page's top documentation block (`<details class="... top-doc">`)
    and whether a rendered code example (`<pre class="rust rust-example-rendered">`
    or any other `<pre class="... rust ...">` inside an `example-wrap`) lies in it."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # nesting of <details> inside the top-doc block, 0 = outside
        self.seen_top = False
        self.has_example = False

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "details":
            if self.depth:
                self.depth += 1
            elif "top-doc" in classes and not self.seen_top:
                self.seen_top = True
                self.depth = 1
        elif tag == "pre" and self.depth and "rust" in classes:
            self.has_example = True

    def handle_endtag(self, tag):
        if tag == "details" and self.depth:
            self.depth -= 1


def main():
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "doc", "fusebox")
    if not os.path.isdir(root):
        print(f"no docs at {root}: run `cargo doc --no-deps --all-features` first", file=sys.stderr)
        return 2
    pages, missing = 0, []
    pattern = re.compile(r"^(%s)\.(\w+)\.html$" % "|".join(KINDS))
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            m = pattern.match(f)
            if not m:
                continue
            path = os.path.join(dirpath, f)
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            if "<title>Redirection</title>" in text:
                continue  # a re-export's stub: the item's own page is checked
            pages += 1
            doc = TopDoc()
            doc.feed(text)
            if not doc.has_example:
                rel = os.path.relpath(dirpath, root)
                module = "" if rel == "." else rel.replace(os.sep, "::") + "::"
                missing.append(f"{m.group(1)} fusebox::{module}{m.group(2)}")
    if pages == 0:
        print(f"no type pages under {root}", file=sys.stderr)
        return 2
    if missing:
        print(f"{len(missing)} of {pages} public types have no example in their docs:")
        for item in sorted(missing):
            print(f"    {item}")
        return 1
    print(f"all {pages} public types have an example in their docs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
