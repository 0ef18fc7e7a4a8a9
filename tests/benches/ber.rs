//! BER against QEMU's format on the same state: save and load through the
//! derive (the cases of `throughput.rs`), whole-stream conversion, and
//! growing inputs (the time per byte stays flat: linear).
//!
//! Run with `cargo bench -p vmstate-tests --bench ber`; results in
//! `BENCHMARKS.md`.
//!
//! For each case, `ber/save` (`ber::save_struct` into a reused `Vec`),
//! `ber/load` (`ber::load_struct` in place), `qemu/save`
//! (`vmstate_core::save`) and `qemu/load` (`vmstate_core::load_from_slice`).
//! Throughput is set to the BER size, so criterion's GiB/s is BER bytes per
//! second; the QEMU rows are timed on the same state (compare times).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vmstate_core::ber::{self, BerOptions};
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::qemufile::SliceReader;
use vmstate_core::stream::StreamSchema;
use vmstate_core::{Limits, VmState};

mod ber_cases;
use ber_cases::{Scalars, boxed_bytes, i8259, words};

/// An element of the growing list.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "entry", version = 1, minimum_version = 1)]
struct Entry {
    addr: u64,
    len: u32,
    flags: u16,
    data: [u8; 16],
}

/// The same element with its fields in the reverse order: every element
/// is read out of order (through the index).
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "entry", version = 1, minimum_version = 1)]
struct EntryReversed {
    data: [u8; 16],
    flags: u16,
    len: u32,
    addr: u64,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "table", version = 1, minimum_version = 1)]
struct Table {
    #[vmstate(qtailq)]
    entries: Vec<Entry>,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "table", version = 1, minimum_version = 1)]
struct TableReversed {
    #[vmstate(qtailq)]
    entries: Vec<EntryReversed>,
}

fn case<T: VmState + Clone + PartialEq + std::fmt::Debug>(
    c: &mut Criterion,
    group: &str,
    value: T,
) {
    let mut value = value;
    let mut ber_bytes = Vec::new();
    ber::save_struct(&mut value, &mut ber_bytes).unwrap();
    let qemu = vmstate_core::save_to_vec(&mut value).unwrap();
    let mut check = value.clone();
    ber::load_struct(&mut check, &ber_bytes, 0, &BerOptions::default()).unwrap();
    assert_eq!(check, value);
    eprintln!(
        "{group}: QEMU format {} bytes, BER {} bytes",
        qemu.len(),
        ber_bytes.len()
    );
    let version = T::DESCRIPTION.version_id;
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(ber_bytes.len() as u64));
    let mut out = Vec::with_capacity(ber_bytes.len());
    g.bench_function("ber/save", |b| {
        b.iter(|| {
            out.clear();
            ber::save_struct(black_box(&mut value), &mut out).unwrap();
            black_box(&out);
        })
    });
    let mut dst = value.clone();
    let options = BerOptions::default();
    g.bench_function("ber/load", |b| {
        b.iter(|| {
            ber::load_struct(&mut dst, black_box(&ber_bytes), 0, &options).unwrap();
            black_box(&dst);
        })
    });
    let mut out = Vec::with_capacity(qemu.len());
    g.bench_function("qemu/save", |b| {
        b.iter(|| {
            out.clear();
            vmstate_core::save(black_box(&mut value), &mut out).unwrap();
            black_box(&out);
        })
    });
    let mut dst = value.clone();
    g.bench_function("qemu/load", |b| {
        b.iter(|| {
            vmstate_core::load_from_slice(&mut dst, black_box(&qemu), version).unwrap();
            black_box(&dst);
        })
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    case(c, "ber_a_scalars100_buf4096", Scalars::sample());
    case(c, "ber_b_i8259", i8259());
    case(c, "ber_c_u8x65536_boxed", boxed_bytes());
    case(c, "ber_d_u32x1024", words());
}

fn table(n: usize) -> Table {
    Table {
        entries: (0..n)
            .map(|i| Entry {
                addr: i as u64 * 4096,
                len: i as u32,
                flags: i as u16,
                data: [i as u8; 16],
            })
            .collect(),
    }
}

/// Growing inputs: a list of n elements, loaded in order and out of order.
/// Criterion prints the throughput per size: flat means linear.
fn scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("ber_scaling");
    for n in [1usize << 10, 1 << 12, 1 << 14, 1 << 16] {
        let mut value = table(n);
        let mut bytes = Vec::new();
        ber::save_struct(&mut value, &mut bytes).unwrap();
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        let mut out = Vec::new();
        g.bench_with_input(BenchmarkId::new("save", n), &n, |b, _| {
            b.iter(|| {
                out.clear();
                ber::save_struct(&mut value, &mut out).unwrap();
            })
        });
        let options = BerOptions {
            limits: Limits::UNLIMITED,
            ..BerOptions::default()
        };
        let mut dst = Table::default();
        g.bench_with_input(BenchmarkId::new("load_in_order", n), &n, |b, _| {
            b.iter(|| ber::load_struct(&mut dst, black_box(&bytes), 0, &options).unwrap())
        });
        let mut dst = TableReversed::default();
        g.bench_with_input(BenchmarkId::new("load_reordered", n), &n, |b, _| {
            b.iter(|| ber::load_struct(&mut dst, black_box(&bytes), 0, &options).unwrap())
        });
    }
    g.finish();
}

/// A whole real stream to BER and back.
fn streams(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/x86-pc-min.mig");
    let bytes = std::fs::read(path).unwrap();
    let json = vmstate_core::qemufile::stream::find_vmdesc(&bytes)
        .unwrap()
        .1;
    let arena = DescriptionArena::new();
    let schema = StreamSchema::parse(&arena, json).unwrap();
    let to_ber = |bytes: &[u8]| {
        ber::stream::to_ber(
            SliceReader::new(bytes),
            &schema,
            Some(json),
            Vec::new(),
            Limits::DEFAULT,
            |_| {},
        )
        .unwrap()
    };
    let doc = to_ber(&bytes);
    eprintln!(
        "stream x86-pc-min: QEMU {} bytes, BER {} bytes",
        bytes.len(),
        doc.len()
    );
    let mut g = c.benchmark_group("ber_stream_x86_pc_min");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("to_ber", |b| b.iter(|| black_box(to_ber(&bytes))));
    g.bench_function("to_qemu", |b| {
        b.iter(|| {
            black_box(
                ber::stream::to_qemu(SliceReader::new(&doc), Vec::new(), Limits::DEFAULT).unwrap(),
            )
        })
    });
    g.bench_function("qemu_reencode", |b| {
        b.iter(|| {
            let mut dec =
                vmstate_core::stream::StreamDecoder::open(SliceReader::new(&bytes), Some(&schema))
                    .unwrap();
            black_box(vmstate_core::stream::reencode(&mut dec, Vec::new(), |_| {}).unwrap())
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = codec, scaling, streams
}
criterion_main!(benches);
