#!/usr/bin/env python3
"""Turns the criterion results of `cargo bench --bench lockorder` into an SVG chart and a table.

    python3 benches/chart.py [--criterion target/criterion] [--out docs/bench.svg]

Reads `<group>/<function>/<parameter>/new/{benchmark,estimates}.json` under the criterion
directory, draws W1 (ns per lock, lower is better), W3 (ns per lock), W2 and W4 (operations per
second, higher is better) as grouped bars (from the interleaved passes in
`w1-interleaved.json`, `w2-stats.json` and `w4-stats.json` when present, which a shared machine
disturbs less than criterion's one-row-after-another runs; `--criterion-only` draws criterion's
estimates), and prints the ratios of `lockorder` to each peer and to the atomic floor as
Markdown, with the interleaved passes first (W4 with its writers' and readers' waits apart)
when present. Python 3 standard library only.

    python3 benches/chart.py --callgrind [BINARY] [--label NAME]

runs the W1 instruction profile instead: `profile_w1` (built as docs/performance.md says; the newest
`target/profile/release/deps/profile_w1-*` by default) under `valgrind --tool=callgrind` twice per
row, with N = 10,000 and 30,000 iterations, and takes (I(N2) - I(N1)) / (N2 - N1) as the exact
instruction count of one acquire + release, setup excluded. It also splits one lockorder-id K = 1
iteration by function (self cost, the same difference). Writes `benches/instructions-NAME.json`
(NAME `current` by default) and prints it as a table; the chart mode prints every
`benches/instructions-*.json` it finds side by side.
"""

import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
from xml.sax.saxutils import escape

LOCKORDER = "lockorder-id"
W4_GROUPS = {
    "W4_read_mostly": "W4 90 % shared, writers take 3 exclusive",
    "W4_one_writer": "W4 90 % shared, writers take 1 exclusive + 2 shared",
}
FLOOR = "atomic-floor"
PHASE1, PREV = "lockorder-phase1", "lockorder-prev"
ORDER = [LOCKORDER, PHASE1, PREV, "lockorder-id-moved", "lockorder-shared", "lockorder-name", "async-lock", "tokio", "futures", "maitake-sync", FLOOR]
COLORS = {
    LOCKORDER: "#d62728",
    PHASE1: "#bcbd22",
    PREV: "#ffbb78",
    "lockorder-id-moved": "#c49c94",
    "lockorder-shared": "#e377c2",
    "lockorder-name": "#ff9896",
    "async-lock": "#1f77b4",
    "tokio": "#9467bd",
    "futures": "#2ca02c",
    "maitake-sync": "#8c564b",
    FLOOR: "#7f7f7f",
}


def load(root):
    """{group: {function: {parameter: ns per element}}} from criterion's `new` estimates."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        ns = est["mean"]["point_estimate"]
        elements = (bench.get("throughput") or {}).get("Elements") or 1
        param = bench.get("value_str") or ""
        out.setdefault(bench["group_id"], {}).setdefault(bench["function_id"], {})[param] = ns / elements
    return out


def params_of(group):
    ps = {p for series in group.values() for p in series}
    return sorted(ps, key=lambda p: (len(p), p))


def functions_of(group):
    return [f for f in ORDER if f in group] + sorted(f for f in group if f not in ORDER)


def panel(x0, y0, w, h, title, group, value, unit, fmt, prefix=""):
    """One grouped-bar panel as SVG elements; `value` maps ns per element to the bar's value."""
    params = params_of(group)
    funcs = functions_of(group)
    vals = [value(group[f][p]) for f in funcs for p in params if p in group[f]]
    top = max(vals) * 1.15 if vals else 1.0
    s = [f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-weight="bold">{escape(title)}</text>']
    s.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#333"/>')
    s.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + h}" stroke="#333"/>')
    for i in range(5):
        v = top * i / 4
        y = y0 + h - h * i / 4
        s.append(f'<line x1="{x0 - 4}" y1="{y}" x2="{x0 + w}" y2="{y}" stroke="#ddd"/>')
        s.append(f'<text x="{x0 - 6}" y="{y + 4}" text-anchor="end" font-size="10">{fmt(v)}</text>')
    s.append(
        f'<text x="{x0 - 44}" y="{y0 + h / 2}" text-anchor="middle" font-size="11" '
        f'transform="rotate(-90 {x0 - 44} {y0 + h / 2})">{escape(unit)}</text>'
    )
    slot = w / max(len(params), 1)
    bar = slot * 0.8 / max(len(funcs), 1)
    for pi, p in enumerate(params):
        gx = x0 + pi * slot + slot * 0.1
        for fi, f in enumerate(funcs):
            if p not in group[f]:
                continue
            v = value(group[f][p])
            bh = h * v / top
            x = gx + fi * bar
            s.append(
                f'<rect x="{x:.1f}" y="{y0 + h - bh:.1f}" width="{bar * 0.9:.1f}" height="{bh:.1f}" '
                f'fill="{COLORS.get(f, "#bcbd22")}"><title>{escape(f)} {escape(p)}: {fmt(v)}</title></rect>'
            )
        label = f"{prefix}{p}" if p else ""
        s.append(f'<text x="{gx + slot * 0.4}" y="{y0 + h + 14}" text-anchor="middle" font-size="11">{escape(label)}</text>')
    return s


def legend(x, y, funcs):
    s = []
    for f in funcs:
        s.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{COLORS.get(f, "#bcbd22")}"/>')
        s.append(f'<text x="{x + 14}" y="{y + 9}" font-size="11">{escape(f)}</text>')
        x += 14 + 6.5 * len(f) + 18
    return s


def load_interleaved(root):
    """W1 and W3 from the interleaved pass (fastest round) and W2 from the instrumented,
    alternating rounds (median), shaped like `load`'s groups; None if the pass did not run."""
    path = os.path.join(root, "w1-interleaved.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rows = json.load(f)
    out = {}
    for r in rows:
        group = "W3_nested" if r["table"].startswith("W3") else "W1_uncontended"
        out.setdefault(group, {}).setdefault(r["impl"], {})[r["param"]] = r["min_ns_per_lock"]
    path = os.path.join(root, "w2-stats.json")
    if os.path.exists(path):
        with open(path) as f:
            for r in json.load(f):
                if r.get("variant", "yield") != "yield":
                    continue
                out.setdefault("W2_contended", {}).setdefault(r["impl"], {})[str(r["tasks"])] = 1e9 / r["ops_per_sec"]
    for r in load_w4(root):
        out.setdefault(r["workload"], {}).setdefault(r["impl"], {})[str(r["tasks"])] = 1e9 / r["ops_per_sec"]
    return out


def load_w4(root):
    """The rows of W4's instrumented run, or [] if it did not run."""
    path = os.path.join(root, "w4-stats.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def svg(data, interleaved):
    source = interleaved or data
    w1 = source.get("W1_uncontended", {})
    w3 = source.get("W3_nested", {})
    w2 = source.get("W2_contended") or data.get("W2_contended", {})
    w4 = {k: source.get(k) or data.get(k, {}) for k in W4_GROUPS}
    width, height = 900, 940
    s = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    s += panel(70, 40, 520, 220, "W1 uncontended: ns per lock by K (lower is better)", w1,
               lambda ns: ns, "ns / lock", lambda v: f"{v:.1f}", "K = ")
    s += panel(660, 40, 210, 220, "W3 nested 2+2: ns per lock", {"": {}} if not w3 else
               {f: {"": v[""]} for f, v in w3.items() if "" in v}, lambda ns: ns, "ns / lock",
               lambda v: f"{v:.1f}")
    s += panel(70, 340, 800, 220, "W2 contended: 3-lock operations per second by tasks T (higher is better)",
               w2, lambda ns: 1e3 / ns, "M ops / s", lambda v: f"{v:.2f}", "T = ")
    for i, (group, title) in enumerate(W4_GROUPS.items()):
        s += panel(70 + i * 430, 640, 370, 220, title, w4[group], lambda ns: 1e3 / ns, "M ops / s",
                   lambda v: f"{v:.2f}", "T = ")
    funcs = [f for f in ORDER if f in w1 or f in w2 or f in w3 or any(f in g for g in w4.values())]
    s += legend(40, 900, funcs)
    note = ("W1/W3: interleaved pass, fastest of 60 rounds; W2/W4: median of 16 alternating rounds; "
            "W4's async-lock, tokio and maitake-sync are their RwLocks"
            if interleaved else "criterion mean estimates")
    s.append(f'<text x="{width - 10}" y="{height - 8}" text-anchor="end" font-size="10" fill="#666">'
             f"cargo bench --bench lockorder; {note}</text>")
    s.append("</svg>")
    return "\n".join(s) + "\n"


def per_param_table(rows, title, unit, me_cell, ratio):
    """A Markdown table of lockorder against each peer, one row per parameter."""
    peers = [f for f in functions_of(rows) if f != LOCKORDER]
    lines = [title, "", f"| {unit} | " + " | ".join(peers) + " |", "|---|---|" + "---|" * len(peers)]
    for p in params_of(rows):
        me = rows[LOCKORDER][p]
        cells = [f"{ratio(me, rows[f][p]):.2f}" if p in rows[f] else "-" for f in peers]
        lines.append(f"| {p} | {me_cell(me)} | " + " | ".join(cells) + " |")
    return lines + [""]


def ratios(data):
    lines = []
    w1 = data.get("W1_uncontended", {})
    if LOCKORDER in w1:
        lines += per_param_table(
            w1, "W1 uncontended, time ratio lockorder-id / X (below 1: lockorder is faster)",
            "K | lockorder-id ns/lock", lambda me: f"{me:.2f}", lambda me, peer: me / peer)
    w3 = data.get("W3_nested", {})
    if LOCKORDER in w3:
        peers = [f for f in functions_of(w3) if f != LOCKORDER]
        me = w3[LOCKORDER][""]
        lines.append("W3 nested (2 + 2), time ratio lockorder-id / X")
        lines.append("")
        lines.append("| lockorder-id ns/lock | " + " | ".join(peers) + " |")
        lines.append("|---|" + "---|" * len(peers))
        lines.append(f"| {me:.2f} | " + " | ".join(f"{me / w3[f]['']:.2f}" for f in peers) + " |")
        lines.append("")
    w2 = data.get("W2_contended", {})
    if LOCKORDER in w2:
        lines += per_param_table(
            w2, "W2 contended, throughput ratio lockorder-id / X (above 1: lockorder is faster)",
            "T | lockorder-id ops/s", lambda me: f"{1e9 / me:,.0f}", lambda me, peer: peer / me)
    return "\n".join(lines)


def interleaved_ratios(root):
    """The interleaved W1/W3 pass (fastest round per row) as Markdown, if it was run."""
    path = os.path.join(root, "w1-interleaved.json")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        rows = json.load(f)
    tables = {}
    for r in rows:
        tables.setdefault((r["table"], r["param"]), {})[r["impl"]] = r["min_ns_per_lock"]
    funcs = [f for f in ORDER if any(f in t for t in tables.values())]
    peers = [f for f in funcs if f != LOCKORDER]
    lines = [
        "W1 and W3, rows interleaved, fastest round: time ratio lockorder-id / X",
        "",
        "| workload | lockorder-id ns/lock | " + " | ".join(peers) + " |",
        "|---|---|" + "---|" * len(peers),
    ]
    for (table, _param), t in tables.items():
        me = t[LOCKORDER]
        cells = [f"{me / t[f]:.2f}" if f in t else "-" for f in peers]
        lines.append(f"| {table} | {me:.2f} | " + " | ".join(cells) + " |")
    w1 = [(p, t) for (table, p), t in tables.items() if table.startswith("W1")]
    if w1:
        lines += [
            "",
            "W1, ns per whole set (acquire + release of K locks; fastest round)",
            "",
            "| K | " + " | ".join(funcs) + " |",
            "|---|" + "---|" * len(funcs),
        ]
        for p, t in w1:
            cells = [f"{t[f] * int(p):.1f}" if f in t else "-" for f in funcs]
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
    path = os.path.join(root, "w2-stats.json")
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = json.load(f)
    for variant in ["yield", "no-yield"]:
        by = {(r["impl"], r["tasks"]): r for r in rows if r.get("variant", "yield") == variant}
        if not by:
            continue
        title = "one yield while holding" if variant == "yield" else "no yield while holding"
        impls = [f for f in ORDER if any(k[0] == f for k in by)]
        peers = [f for f in impls if f != LOCKORDER]
        lines += [
            "",
            f"W2 ({title}), instrumented alternating rounds: throughput ratio lockorder-id / X (median round)",
            "",
            "| T | lockorder-id ops/s | " + " | ".join(peers) + " |",
            "|---|---|" + "---|" * len(peers),
        ]
        for t in sorted({k[1] for k in by}):
            me = by[(LOCKORDER, t)]["ops_per_sec"]
            cells = [f"{me / by[(f, t)]['ops_per_sec']:.2f}" if (f, t) in by else "-" for f in peers]
            lines.append(f"| {t} | {me:,.0f} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"W2 ({title}) waits (time to get all 3 locks) and scheduling",
            "",
            "| impl | T | p50 ns | p99 ns | max ns | waited % | cores | busier worker % |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for t in sorted({k[1] for k in by}):
            for f in impls:
                r = by.get((f, t))
                if r:
                    cores = "-" if r["cores"] is None else f"{r['cores']:.2f}"
                    lines.append(f"| {f} | {t} | {r['p50_ns']:,} | {r['p99_ns']:,} | {r['max_ns']:,} | "
                                 f"{r['waited_pct']:.1f} | {cores} | {r['busier_worker_pct']:.1f} |")
    lines += w4_tables(load_w4(root))
    return "\n".join(lines) + "\n"


def w4_tables(rows):
    """W4's throughput ratios and its writers' and readers' waits, as Markdown lines."""
    if not rows:
        return []
    by = {(r["workload"], r["impl"], r["tasks"]): r for r in rows}
    workloads = [w for w in W4_GROUPS if any(k[0] == w for k in by)]
    impls = [f for f in ORDER if any(k[1] == f for k in by)] + sorted(
        {k[1] for k in by if k[1] not in ORDER})
    peers = [f for f in impls if f != LOCKORDER]
    tasks = sorted({k[2] for k in by})
    lines = [""]
    if LOCKORDER in impls:
        lines += [
            "W4, instrumented alternating rounds: throughput ratio lockorder-id / X (median round)",
            "",
            "| workload | T | lockorder-id ops/s | " + " | ".join(peers) + " |",
            "|---|---|---|" + "---|" * len(peers),
        ]
        for w in workloads:
            for t in tasks:
                me = by.get((w, LOCKORDER, t))
                if me:
                    cells = [f"{me['ops_per_sec'] / by[(w, f, t)]['ops_per_sec']:.2f}" if (w, f, t) in by else "-"
                             for f in peers]
                    lines.append(f"| {w} | {t} | {me['ops_per_sec']:,.0f} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "W4 waits (time to get all 3 locks): writers (operations with an exclusive lock), then readers",
        "",
        "| workload | impl | T | ops/s | writers p50 ns | writers p99 ns | writers max ns | writers waited % "
        "| readers p99 ns | readers max ns | cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in workloads:
        for t in tasks:
            for f in impls:
                r = by.get((w, f, t))
                if not r:
                    continue
                cores = "-" if r["cores"] is None else f"{r['cores']:.2f}"
                lines.append(
                    f"| {w} | {f} | {t} | {r['ops_per_sec']:,.0f} | {r['writer_p50_ns']:,} | {r['writer_p99_ns']:,} | "
                    f"{r['writer_max_ns']:,} | {r['writer_waited_pct']:.1f} | {r['reader_p99_ns']:,} | "
                    f"{r['reader_max_ns']:,} | {cores} |")
    return lines


# === callgrind instruction profile ===

CG_VARIANTS = [LOCKORDER, PHASE1, PREV, "lockorder-shared", "lockorder-name", "async-lock", "futures", FLOOR]
CG_KS = [1, 4, 16]
CG_NS = (10_000, 30_000)
BENCHES = os.path.dirname(os.path.abspath(__file__))


def callgrind_self_costs(path):
    """{function: self instructions} from a callgrind output file (inlined code counted in the
    function it was inlined into; the inclusive cost lines after `calls=` are skipped)."""
    names, cost = {}, collections.Counter()
    fn, skip = None, False
    for line in open(path):
        if line.startswith("fn="):
            m = re.match(r"\((\d+)\)(?: (.*))?", line[3:].rstrip("\n"))
            if m:
                if m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                fn = names[m.group(1)]
            else:
                fn = line[3:].rstrip("\n")
        elif line.startswith("cfn="):
            m = re.match(r"\((\d+)\) (.*)", line[4:].rstrip("\n"))
            if m:
                names[m.group(1)] = m.group(2)
        elif line.startswith("calls="):
            skip = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            if skip:
                skip = False
                continue
            parts = line.split()
            if fn is not None and len(parts) >= 2:
                cost[fn] += int(parts[1])
    return cost


def callgrind_run(binary, variant, k, n, out):
    """Self costs by function of one run, or None if the binary does not know the variant."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--error-exitcode=1", f"--callgrind-out-file={out}",
         binary, variant, str(k), str(n)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return callgrind_self_costs(out) if done.returncode == 0 else None


def callgrind(binary, label, commit=None):
    if binary is None:
        found = glob.glob(os.path.join("target", "profile", "release", "deps", "profile_w1-*"))
        found = [f for f in found if os.access(f, os.X_OK) and not f.endswith(".d")]
        if not found:
            sys.exit("no profile_w1 binary: build it as the hot-path profile paragraph of docs/performance.md says")
        binary = max(found, key=os.path.getmtime)
    n1, n2 = CG_NS
    rows, top = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for v in CG_VARIANTS:
            for k in CG_KS:
                a = callgrind_run(binary, v, k, n1, os.path.join(tmp, "a"))
                b = a and callgrind_run(binary, v, k, n2, os.path.join(tmp, "b"))
                if not b:
                    print(f"{v:<16} K={k:<3} failed: skipped (a binary from before the variant?)", file=sys.stderr)
                    continue
                per = (sum(b.values()) - sum(a.values())) / (n2 - n1)
                rows.append({"impl": v, "k": k, "instructions": round(per, 1)})
                print(f"{v:<16} K={k:<3} {per:8.1f} instructions per acquire + release", file=sys.stderr)
                if v == LOCKORDER and k == 1:
                    diff = {f: (b[f] - a.get(f, 0)) / (n2 - n1) for f in b}
                    top = [{"function": f, "instructions": round(c, 1)}
                           for f, c in sorted(diff.items(), key=lambda x: -x[1]) if c >= 0.5]
    commit = commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                      text=True).stdout.strip()
    doc = {
        "label": label,
        "commit": commit,
        "command": f"python3 benches/chart.py --callgrind {binary} --label {label}"
                   + (f" --commit {commit}" if commit else ""),
        "iterations": list(CG_NS),
        "rows": rows,
        "lockorder_id_k1_by_function": top,
    }
    path = os.path.join(BENCHES, f"instructions-{label}.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(instruction_tables([doc]))
    print(f"written to {path}")


def instruction_tables(docs):
    """Per-iteration instruction counts: a row per profile and K, a column per variant."""
    if not docs:
        return ""
    impls = [v for v in CG_VARIANTS if any(r["impl"] == v for d in docs for r in d["rows"])]
    lines = [
        "Instructions per acquire + release (callgrind, W1)",
        "",
        "| profile | library | K | " + " | ".join(impls) + " |",
        "|---|---|---|" + "---|" * len(impls),
    ]
    for d in docs:
        by = {(r["impl"], r["k"]): r["instructions"] for r in d["rows"]}
        for k in CG_KS:
            cells = [f"{by[(v, k)]:,.0f}" if (v, k) in by else "-" for v in impls]
            lines.append(f"| {d['label']} | {d['commit']} | {k} | " + " | ".join(cells) + " |")
    for d in docs:
        lines += ["", f"lockorder-id K=1 by function ({d['label']}), self instructions per iteration:", ""]
        lines += [f"  {t['instructions']:7.1f}  {t['function']}" for t in d["lockorder_id_k1_by_function"][:10]]
    return "\n".join(lines) + "\n"


def load_instructions():
    docs = []
    for path in sorted(glob.glob(os.path.join(BENCHES, "instructions-*.json"))):
        with open(path) as f:
            docs.append(json.load(f))
    docs.sort(key=lambda d: (d["label"] != "before", d["label"] == "after", d["label"]))
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--criterion", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion"))
    ap.add_argument("--out", default=os.path.join("docs", "bench.svg"))
    ap.add_argument("--criterion-only", action="store_true",
                    help="draw criterion's estimates even if the interleaved passes ran")
    ap.add_argument("--callgrind", nargs="?", const="", metavar="BINARY",
                    help="run the W1 instruction profile instead (see above)")
    ap.add_argument("--label", default="current", help="with --callgrind: names the output file")
    ap.add_argument("--commit", help="with --callgrind: the library's commit the binary was built "
                    "from, when it is not this checkout's HEAD")
    args = ap.parse_args()
    if args.callgrind is not None:
        callgrind(args.callgrind or None, args.label, args.commit)
        return
    data = load(args.criterion)
    if not data and load_interleaved(args.criterion) is None:
        sys.exit(f"no criterion results under {args.criterion}: run `cargo bench --bench lockorder` first")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write(svg(data, None if args.criterion_only else load_interleaved(args.criterion)))
    print(interleaved_ratios(args.criterion))
    print(ratios(data))
    print(instruction_tables(load_instructions()))
    print(f"chart written to {args.out}")


if __name__ == "__main__":
    main()
