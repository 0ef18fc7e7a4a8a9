#!/usr/bin/env python3
"""Prints the BENCHMARKS.md tables from criterion's estimates (median ns per
iteration) after `cargo bench -p vmstate-tests --bench throughput`."""
import json, os, sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
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
