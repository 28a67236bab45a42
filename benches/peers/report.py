#!/usr/bin/env python3
"""One Markdown table from criterion's results (ours and the Rust peers) and pytorch_bench.py's JSON.

    python3 report.py --criterion TARGET/criterion [--since EPOCH] [--pytorch pytorch.json]
                      [--lock Cargo.lock] [--json merged.json]

Reads `<group>/<function>/<n>/new/benchmark.json` (the ids) and `new/estimates.json`
(`median.point_estimate`, ns) under the criterion directory; with `--since`, only results written
after that time (so stale results of an earlier, wider run are left out). Rows are grouped by
optimizer; the speedup columns are peer time / ndarray-optim time at the same n (> 1: ours is
faster), against ndarray-optim with its default non-finite check.
"""

import argparse
import json
import os
import re
import sys

SIZES = [1_000, 100_000, 1_000_000, 10_000_000]
KEYS = ["Adam", "AdamW", "SGD", "SGD-momentum", "RMSprop", "Adagrad", "Adadelta"]
OURS = "ndarray-optim"
# Row order inside an optimizer's block.
ORDER = ["ndarray-optim", "PyTorch", "burn", "candle-nn", "optirs-core"]
PEER_CRATES = ["ndarray", "burn", "candle-core", "candle-nn", "optirs-core", "criterion"]


def read_criterion(root, since):
    """{(key, library): {n: median_us}} from every benchmark.json/estimates.json pair."""
    rows = {}
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or not {"estimates.json", "benchmark.json"} <= set(files):
            continue
        est_path = os.path.join(dirpath, "estimates.json")
        if since is not None and os.path.getmtime(est_path) < since:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(est_path) as f:
            median_ns = json.load(f)["median"]["point_estimate"]
        key, library, n = bench["group_id"], bench["function_id"], bench["value_str"]
        if key not in KEYS or library is None or n is None:
            continue
        rows.setdefault((key, library), {})[int(n)] = median_ns / 1e3
    return rows


def read_pytorch(path):
    with open(path) as f:
        doc = json.load(f)
    rows = {}
    tag = "PyTorch " + doc["meta"]["torch"].split("+")[0]
    for r in doc["results"]:
        library = f"{tag} {r['label']}"
        INPUT_ORDER.setdefault(library, len(INPUT_ORDER))
        rows.setdefault((r["key"], library), {})[r["n"]] = r["median_us"]
    return rows, doc["meta"]


def lock_versions(path):
    """{crate: version} for the crates of interest, from Cargo.lock."""
    with open(path) as f:
        text = f.read()
    found = {}
    for name, version in re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', text):
        if name in PEER_CRATES:
            found.setdefault(name, set()).add(version)
    # Cargo.lock also lists versions of platform-specific dependencies that are not built here
    # (an ndarray 0.16 among them): keep the newest, the one ndarray-optim and the peers use.
    def numeric(version):
        return [int(x) for x in re.findall(r"\d+", version)]

    return {k: max(v, key=numeric) for k, v in found.items()}


def fmt_us(x):
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_ratio(x):
    if x is None:
        return ""
    return f"{x:.1f}×" if x >= 9.95 else f"{x:.2f}×"


# PyTorch rows keep the order of pytorch_bench.py (fused first); the others sort by name.
INPUT_ORDER = {}


def rank(library):
    for i, prefix in enumerate(ORDER):
        if library.startswith(prefix):
            return i, library != OURS, INPUT_ORDER.get(library, 0), library
    return len(ORDER), True, 0, library


def table(rows, sizes):
    head = (
        "| optimizer | library | "
        + " | ".join(f"{n:.0e}".replace("e+0", "e") for n in sizes)
        + " | "
        + " | ".join(f"speedup {n:.0e}".replace("e+0", "e") for n in sizes)
        + " |"
    )
    lines = [head, "|---|---|" + "--:|" * (2 * len(sizes))]
    for key in KEYS:
        libs = sorted((lib for (k, lib) in rows if k == key), key=rank)
        ours = rows.get((key, OURS), {})
        for lib in libs:
            times = rows[(key, lib)]
            cells = [fmt_us(times.get(n)) for n in sizes]
            if lib.startswith(OURS):
                ratios = ["" for _ in sizes]
            else:
                ratios = [
                    fmt_ratio(times[n] / ours[n]) if n in times and n in ours else ""
                    for n in sizes
                ]
            name = f"**{lib}**" if lib == OURS else lib
            lines.append(f"| {key} | {name} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--criterion", required=True, help="the target/criterion directory")
    ap.add_argument("--since", type=float, help="ignore results older than this Unix time")
    ap.add_argument("--pytorch", help="JSON written by pytorch_bench.py")
    ap.add_argument("--lock", help="Cargo.lock of benches/peers, for the crate versions")
    ap.add_argument("--json", help="write the merged medians (µs) here")
    args = ap.parse_args()

    rows = read_criterion(args.criterion, args.since)
    meta = None
    if args.pytorch:
        pt_rows, meta = read_pytorch(args.pytorch)
        rows.update(pt_rows)
    if not rows:
        sys.exit(f"no criterion results under {args.criterion}")
    sizes = [n for n in SIZES if any(n in r for r in rows.values())]

    print("µs per step, median, one thread, f32, one contiguous tensor of n elements.")
    print("`speedup` = that row's time / ndarray-optim's time (with its default non-finite check)")
    print("at the same n: above 1, ndarray-optim is that many times faster; below 1, slower.")
    if args.lock:
        versions = lock_versions(args.lock)
        print("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".")
    if meta:
        print(
            f"PyTorch {meta['torch']} (Python {meta['python']}, "
            f"{meta['threads']} thread, kernels {meta['cpu_capability']})."
        )
    print()
    print(table(rows, sizes))

    if args.json:
        out = [
            {"optimizer": k, "library": lib, "median_us": {str(n): v for n, v in sorted(t.items())}}
            for (k, lib), t in sorted(rows.items(), key=lambda kv: (KEYS.index(kv[0][0]), rank(kv[0][1])))
        ]
        with open(args.json, "w") as f:
            json.dump({"pytorch": meta, "rows": out}, f, indent=1)


if __name__ == "__main__":
    main()
