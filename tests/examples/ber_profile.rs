//! A driver for instruction counts of the BER codec benchmark's cases
//! (`benches/ber.rs`), deterministic where criterion is noisy:
//!
//! ```sh
//! cargo build --release -p vmstate-tests --example ber_profile
//! valgrind --tool=callgrind --toggle-collect='ber_profile::hot_loop' \
//!     target/release/examples/ber_profile b load 1000
//! ```
//!
//! Arguments: the case (`a`, `b`, `c`, `d`), the operation (`ber-save`,
//! `ber-load`, `qemu-save`, `qemu-load`, or `save`/`load` for the BER ones)
//! and the number of iterations. Only `hot_loop` (the timed loop) is counted
//! with the `--toggle-collect` above (`hot*` would match `hot` and
//! `hot_loop`, whose toggles cancel): subtract a run of 0 iterations and
//! divide by the iterations.

use std::hint::black_box;

use vmstate_core::VmState;
use vmstate_core::ber::{self, BerOptions};

#[path = "../benches/ber_cases/mod.rs"]
mod ber_cases;

#[inline(never)]
fn hot<T: VmState + Clone>(value: &mut T, op: &str, n: usize) {
    let mut ber_bytes = Vec::new();
    ber::save_struct(value, &mut ber_bytes).unwrap();
    let qemu = vmstate_core::save_to_vec(value).unwrap();
    let version = T::DESCRIPTION.version_id;
    let options = BerOptions::default();
    let mut out = Vec::with_capacity(ber_bytes.len().max(qemu.len()));
    let mut dst = value.clone();
    hot_loop(
        value, &mut dst, op, n, &ber_bytes, &qemu, version, &options, &mut out,
    );
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn hot_loop<T: VmState + Clone>(
    value: &mut T,
    dst: &mut T,
    op: &str,
    n: usize,
    ber_bytes: &[u8],
    qemu: &[u8],
    version: u32,
    options: &BerOptions,
    out: &mut Vec<u8>,
) {
    match op {
        "save" | "ber-save" => {
            for _ in 0..n {
                out.clear();
                ber::save_struct(black_box(&mut *value), out).unwrap();
                black_box(&out);
            }
        }
        "load" | "ber-load" => {
            for _ in 0..n {
                ber::load_struct(dst, black_box(ber_bytes), 0, options).unwrap();
                black_box(&dst);
            }
        }
        "qemu-save" => {
            for _ in 0..n {
                out.clear();
                vmstate_core::save(black_box(&mut *value), &mut *out).unwrap();
                black_box(&out);
            }
        }
        "qemu-load" => {
            for _ in 0..n {
                vmstate_core::load_from_slice(dst, black_box(qemu), version).unwrap();
                black_box(&dst);
            }
        }
        other => panic!("unknown operation {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).map_or("a", String::as_str);
    let op = args.get(2).map_or("load", String::as_str);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    match case {
        "a" => hot(&mut ber_cases::Scalars::sample(), op, n),
        "b" => hot(&mut ber_cases::i8259(), op, n),
        "c" => hot(&mut ber_cases::boxed_bytes(), op, n),
        "d" => hot(&mut ber_cases::words(), op, n),
        other => panic!("unknown case {other}"),
    }
}
