#!/usr/bin/env bash
# Every relative link of the README, `docs/*.md` and the members' READMEs points to a file of the
# repository, and every `#anchor` to a heading of its target (GitHub's heading slugs). Links
# with a scheme (https:, mailto:) are not fetched. A second or so.
set -euo pipefail
cd "$(dirname "$0")/../.."

python3 - README.md docs/*.md lockorder-postgres/README.md <<'PY'
import os, re, sys

def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)  # GitHub drops punctuation, keeps letters, digits, _ and -
    return s.replace(" ", "-")

def prose(path):
    """The file's lines outside fenced code blocks, with inline code removed."""
    out, fence = [], None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s*(```|~~~)", line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        if fence is None:
            out.append(re.sub(r"`[^`]*`", "", line))
    return out

# Headings keep their inline code for the slug, so they are read from the raw lines.
def anchors(path):
    seen, result, fence = {}, set(), None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"\s*(```|~~~)", line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        h = re.match(r"#{1,6}\s+(.*)", line) if fence is None else None
        if h:
            base = slug(h.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.add(base if n == 0 else f"{base}-{n}")
    return result

bad, count = [], 0
for src in sys.argv[1:]:
    for line in prose(src):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue
            count += 1
            path, _, frag = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(src), path)) if path else src
            if not os.path.exists(dest):
                bad.append(f"{src}: ({target}): no file {dest}")
            elif frag and dest.endswith(".md") and frag not in anchors(dest):
                bad.append(f"{src}: ({target}): no heading #{frag} in {dest}")
for b in bad:
    print("FAIL:", b)
print(f"{count} relative links checked, {len(bad)} broken")
sys.exit(1 if bad else 0)
PY
