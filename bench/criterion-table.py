#!/usr/bin/env python3
"""Prints the BENCHMARKS.md tables from criterion's estimates (median ns per
iteration).

    bench/criterion-table.py [ROOT]              after `cargo bench -p vmstate-tests --bench throughput`
    bench/criterion-table.py pc_devices [ROOT]   after `cargo bench -p vmstate-tests --bench pc_devices`

ROOT defaults to target/criterion. ratio = derive MB/s / hand-written MB/s
(= hand ns / derive ns; > 1: the derive is faster)."""
import json, os, sys

args = sys.argv[1:]
MODE = "throughput"
if args and args[0] in ("throughput", "pc_devices"):
    MODE = args.pop(0)
ROOT = args[0] if args else "target/criterion"

CASES = [
    ("a_scalars100_buf4096", "(a) 100 × u32 + 4096-byte buffer", 4496),
    ("b_i8259", "(b) i8259 with its `ltim` subsection", 33),
    ("c_u8x65536_boxed", "(c) 64 KiB u8 array, `Box<[u8; 65536]>`", 65536),
    ("c_u8x65536_inline", "(c′) 64 KiB u8 array inline, `[u8; 65536]`", 65536),
    ("d_u32x1024", "(d) `[u32; 1024]`", 4096),
]
ROWS = [
    ("save", "save_derive", "save_hand"),
    ("load", "load_derive", "load_hand"),
    ("*load_new* (ref.)", "load_new_derive", "load_hand"),
    ("*load in place* (diag.)", "load_derive_in_place", "load_hand"),
    ("*load backup* (diag.)", "load_derive_backup", "load_hand"),
    ("*save, naive hand* (ref.)", "save_derive", "save_hand_naive"),
]

def median_ns(group, bench):
    path = os.path.join(ROOT, group, bench, "new", "estimates.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]

def wire_bytes(group, bench):
    path = os.path.join(ROOT, group, bench, "new", "benchmark.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return (json.load(f).get("throughput") or {}).get("Bytes")

def throughput():
    for group, title, size in CASES:
        print(f"### {title} ({size} bytes)\n")
        print("| operation | derive ns | hand-written ns | derive MB/s | hand-written MB/s | ratio |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, d, h in ROWS:
            dn, hn = median_ns(group, d), median_ns(group, h)
            if dn is None or hn is None:
                continue
            dm, hm = size / dn * 1e3, size / hn * 1e3
            print(f"| {label} | {dn:,.1f} | {hn:,.1f} | {dm:,.0f} | {hm:,.0f} | **{dm / hm:.2f}** |")
        print()

def pc_devices():
    groups = ["pc_machine", "all_models"]
    models = sorted(g[len("model_"):] for g in os.listdir(ROOT) if g.startswith("model_"))
    print("| case | bytes | save derive ns | save hand ns | save ratio "
          "| load derive ns | load hand ns | load ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, group in [(f"**{g}**", g) for g in groups] + \
            [(f"model/{m}", f"model_{m}") for m in models]:
        cells = []
        for op in ("save", "load"):
            dn = median_ns(group, f"{op}_derive")
            hn = median_ns(group, f"{op}_hand")
            if dn is None or hn is None:
                cells += ["", "", ""]
                continue
            cells += [f"{dn:,.1f}", f"{hn:,.1f}", f"**{hn / dn:.2f}**"]
        size = wire_bytes(group, "save_derive")
        if size is None:
            continue
        print(f"| {label} | {size:,} | " + " | ".join(cells) + " |")

if MODE == "pc_devices":
    pc_devices()
else:
    throughput()
