//! Save/load throughput of `#[derive(VmState)]` against hand-written code
//! that produces (and accepts) the same bytes with `to_be_bytes` /
//! `from_be_bytes`.
//!
//! Run with `cargo bench -p vmstate-tests --bench throughput`; results and the
//! analysis are in `BENCHMARKS.md` at the root of the workspace.
//!
//! Cases:
//!
//! * `a_scalars100_buf4096`: 100 `u32` fields + a 4096-byte `#[vmstate(buffer)]`.
//! * `b_i8259`: the real i8259 model (16 `u8` fields + the `i8259/ltim`
//!   subsection, which is sent because `ltim` is set here); its hand-written
//!   code is `vmstate_tests::hand`'s, as in the `pc_devices` benchmark.
//! * `c_u8x65536_boxed`: `Box<[u8; 65536]>`, a `uint8` array behind a pointer
//!   (how a VMM would hold 64 KiB of state).
//! * `c_u8x65536_inline`: the same array inline in the struct (`[u8; 65536]`),
//!   for reference: here every clone or move of the state is a 64 KiB copy.
//! * `d_u32x1024`: `[u32; 1024]`, a `uint32` array.
//!
//! For each: `save/derive` (`vmstate_core::save` into a reused, cleared
//! `Vec`), `save/hand` (the same bytes into a reused, cleared `Vec`),
//! `load/derive` (`vmstate_core::load_from_slice`: transactional, clones the
//! destination, loads into the clone, moves it in), `load/hand` (parses into a
//! new value, then assigns it: also all-or-nothing, with every read
//! bounds-checked and trailing bytes refused, as the derive does), and
//! `load_new/derive` (`vmstate_core::load_new`, from `Default`) for reference.
//!
//! Two diagnostic rows isolate the cost of the transaction:
//! `load/derive_in_place` (the derive's walk straight into the destination,
//! not all-or-nothing) and `load/derive_backup` (clones the destination as a
//! backup, loads in place, restores the backup on failure: all-or-nothing with
//! one copy fewer than `load_from_slice`).

use std::fmt::Debug;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vmstate_core::qemufile::SliceReader;
use vmstate_core::{InputVisitor, VmState, visit_struct_at};
use vmstate_tests::devices::i8259::{I8259, I8259Ltim};
use vmstate_tests::hand::{Cursor, HandWritten as Hand};

// ---------------------------------------------------------------------------
// (a) 100 u32 scalars + a 4096-byte buffer

macro_rules! scalars_and_buffer {
    ($($f:ident)*) => {
        /// 100 `u32` fields and a 4096-byte buffer.
        #[derive(VmState, Clone, Debug, PartialEq)]
        #[vmstate(name = "scalars", version = 1, minimum_version = 1)]
        struct Scalars {
            $($f: u32,)*
            #[vmstate(buffer)]
            buf: [u8; 4096],
        }

        impl Default for Scalars {
            fn default() -> Self {
                Scalars { $($f: 0,)* buf: [0; 4096] }
            }
        }

        impl Scalars {
            fn sample() -> Self {
                let mut i = 0u32;
                let mut next = || {
                    i += 1;
                    i.wrapping_mul(0x9e37_79b9)
                };
                let mut buf = [0u8; 4096];
                for (k, b) in buf.iter_mut().enumerate() {
                    *b = (k as u8).wrapping_mul(31).wrapping_add(7);
                }
                Scalars { $($f: next(),)* buf }
            }
        }

        impl Hand for Scalars {
            #[inline]
            fn hand_save(&self, out: &mut Vec<u8>) {
                $(out.extend_from_slice(&self.$f.to_be_bytes());)*
                out.extend_from_slice(&self.buf);
            }
            #[inline]
            fn hand_load(bytes: &[u8], _: &Self) -> Option<Self> {
                let mut r = Cursor(bytes);
                // Struct expression fields are evaluated in the order written.
                let v = Scalars { $($f: r.be32()?,)* buf: *r.array::<4096>()? };
                r.finish()?;
                Some(v)
            }
        }
    };
}

scalars_and_buffer!(
    f00 f01 f02 f03 f04 f05 f06 f07 f08 f09 f10 f11 f12 f13 f14 f15 f16 f17 f18 f19
    f20 f21 f22 f23 f24 f25 f26 f27 f28 f29 f30 f31 f32 f33 f34 f35 f36 f37 f38 f39
    f40 f41 f42 f43 f44 f45 f46 f47 f48 f49 f50 f51 f52 f53 f54 f55 f56 f57 f58 f59
    f60 f61 f62 f63 f64 f65 f66 f67 f68 f69 f70 f71 f72 f73 f74 f75 f76 f77 f78 f79
    f80 f81 f82 f83 f84 f85 f86 f87 f88 f89 f90 f91 f92 f93 f94 f95 f96 f97 f98 f99
);

// ---------------------------------------------------------------------------
// (b) the i8259 model

fn i8259_sample() -> I8259 {
    I8259 {
        last_irr: 0x01,
        irr: 0x10,
        imr: 0xb8,
        isr: 0x04,
        priority_add: 3,
        irq_base: 0x08,
        read_reg_select: 1,
        poll: 0,
        special_mask: 0,
        init_state: 0,
        auto_eoi: 0,
        rotate_on_auto_eoi: 0,
        special_fully_nested_mode: 0,
        init4: 1,
        single_mode: 0,
        elcr: 0x0c,
        ltim: I8259Ltim { ltim: 1 },
    }
}

// ---------------------------------------------------------------------------
// (c) a 64 KiB uint8 array

const BIG: usize = 65536;

/// 64 KiB of `uint8` behind a `Box`.
#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "bytes64k", version = 1, minimum_version = 1)]
struct BoxedBytes {
    data: Box<[u8; BIG]>,
}

fn zeroed_box() -> Box<[u8; BIG]> {
    vec![0u8; BIG].into_boxed_slice().try_into().unwrap()
}

fn sample_bytes() -> Box<[u8; BIG]> {
    let mut b = zeroed_box();
    for (k, x) in b.iter_mut().enumerate() {
        *x = (k as u8) ^ ((k >> 8) as u8);
    }
    b
}

impl Default for BoxedBytes {
    fn default() -> Self {
        BoxedBytes { data: zeroed_box() }
    }
}

impl Hand for BoxedBytes {
    #[inline]
    fn hand_save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.data[..]);
    }
    #[inline]
    fn hand_load(bytes: &[u8], _: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        // One allocation, one copy.
        let data: Box<[u8; BIG]> = Box::<[u8]>::from(r.bytes(BIG)?).try_into().ok()?;
        r.finish()?;
        Some(BoxedBytes { data })
    }
}

/// 64 KiB of `uint8` inline.
#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "bytes64k", version = 1, minimum_version = 1)]
struct InlineBytes {
    data: [u8; BIG],
}

impl Default for InlineBytes {
    fn default() -> Self {
        InlineBytes { data: [0; BIG] }
    }
}

impl Hand for InlineBytes {
    #[inline]
    fn hand_save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.data);
    }
    #[inline]
    fn hand_load(bytes: &[u8], _: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let data = *r.array::<BIG>()?;
        r.finish()?;
        Some(InlineBytes { data })
    }
}

// ---------------------------------------------------------------------------
// (d) 1024 uint32 array elements

/// `[u32; 1024]`, a `uint32` array.
#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "u32x1024", version = 1, minimum_version = 1)]
struct Words {
    words: [u32; 1024],
}

impl Default for Words {
    fn default() -> Self {
        Words { words: [0; 1024] }
    }
}

impl Words {
    fn sample() -> Self {
        let mut words = [0u32; 1024];
        for (k, w) in words.iter_mut().enumerate() {
            *w = (k as u32).wrapping_mul(0x0101_0101) ^ 0xdead_beef;
        }
        Words { words }
    }

    /// The obvious loop: one `extend_from_slice` per element.
    #[inline]
    fn hand_save_naive(&self, out: &mut Vec<u8>) {
        for w in &self.words {
            out.extend_from_slice(&w.to_be_bytes());
        }
    }
}

impl Hand for Words {
    /// Grows once, then converts in place (what a careful hand-writer does).
    #[inline]
    fn hand_save(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + 4 * self.words.len(), 0);
        for (dst, w) in out[start..].chunks_exact_mut(4).zip(&self.words) {
            dst.copy_from_slice(&w.to_be_bytes());
        }
    }
    #[inline]
    fn hand_load(bytes: &[u8], _: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let src = r.bytes(4 * 1024)?;
        let mut words = [0u32; 1024];
        for (w, s) in words.iter_mut().zip(src.chunks_exact(4)) {
            *w = u32::from_be_bytes(s.try_into().unwrap());
        }
        r.finish()?;
        Some(Words { words })
    }
}

// ---------------------------------------------------------------------------

/// Checks (outside any timing) that derive and hand-written code agree, then
/// benchmarks both directions.
fn bench_case<T>(c: &mut Criterion, group: &str, mut value: T) -> (T, Vec<u8>)
where
    T: VmState + Hand + Clone + Default + PartialEq + Debug,
{
    let version = T::DESCRIPTION.version_id;
    let bytes = vmstate_core::save_to_vec(&mut value).unwrap();
    let mut hand = Vec::new();
    value.hand_save(&mut hand);
    assert!(
        bytes == hand,
        "{group}: derive and hand-written saves differ"
    );

    let mut derived = T::default();
    vmstate_core::load_from_slice(&mut derived, &bytes, version).unwrap();
    assert!(derived == value, "{group}: derive load differs");
    let handed = T::hand_load(&bytes, &T::default()).unwrap();
    assert!(handed == value, "{group}: hand-written load differs");
    let fresh: T = vmstate_core::load_new(&bytes, version).unwrap();
    assert!(fresh == value, "{group}: load_new differs");
    // Both refuse truncated and overlong input, and leave the destination alone.
    let short = &bytes[..bytes.len() - 1];
    let mut long = bytes.clone();
    long.push(0);
    for bad in [short, &long[..]] {
        let mut dst = T::default();
        assert!(vmstate_core::load_from_slice(&mut dst, bad, version).is_err());
        assert!(dst == T::default());
        assert!(T::hand_load(bad, &T::default()).is_none());
    }

    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(bytes.len() as u64));

    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    g.bench_function("save/derive", |b| {
        b.iter(|| {
            out.clear();
            vmstate_core::save(black_box(&mut value), &mut out).unwrap();
            black_box(&out);
        })
    });
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    g.bench_function("save/hand", |b| {
        b.iter(|| {
            out.clear();
            black_box(&value).hand_save(&mut out);
            black_box(&out);
        })
    });

    let mut dst = T::default();
    g.bench_function("load/derive", |b| {
        b.iter(|| {
            vmstate_core::load_from_slice(&mut dst, black_box(&bytes[..]), version).unwrap();
            black_box(&dst);
        })
    });
    let mut dst = T::default();
    g.bench_function("load/hand", |b| {
        b.iter(|| {
            dst = T::hand_load(black_box(&bytes[..]), &dst).unwrap();
            black_box(&dst);
        })
    });
    // Diagnostics (public API, not the transactional entry points): the
    // derive's walk loading straight into the destination, which is not
    // all-or-nothing, and a transactional variant that clones the destination
    // as a backup, loads in place and restores the backup only on failure.
    let name = T::DESCRIPTION.name;
    let mut dst = T::default();
    g.bench_function("load/derive_in_place", |b| {
        b.iter(|| {
            let mut r = SliceReader::new(black_box(&bytes[..]));
            visit_struct_at(&mut dst, &mut InputVisitor::new(&mut r), name, version).unwrap();
            assert!(r.is_empty());
            black_box(&dst);
        })
    });
    let mut dst = T::default();
    g.bench_function("load/derive_backup", |b| {
        b.iter(|| {
            let backup = dst.clone();
            let mut r = SliceReader::new(black_box(&bytes[..]));
            let loaded = visit_struct_at(&mut dst, &mut InputVisitor::new(&mut r), name, version);
            if loaded.is_err() || !r.is_empty() {
                dst = backup;
                panic!("load failed");
            }
            black_box(&dst);
        })
    });
    g.bench_function("load_new/derive", |b| {
        b.iter(|| {
            let v: T = vmstate_core::load_new(black_box(&bytes[..]), version).unwrap();
            black_box(v)
        })
    });
    g.finish();
    (value, bytes)
}

fn a_scalars(c: &mut Criterion) {
    bench_case(c, "a_scalars100_buf4096", Scalars::sample());
}

fn b_i8259(c: &mut Criterion) {
    bench_case(c, "b_i8259", i8259_sample());
}

fn c_bytes(c: &mut Criterion) {
    bench_case(
        c,
        "c_u8x65536_boxed",
        BoxedBytes {
            data: sample_bytes(),
        },
    );
    bench_case(
        c,
        "c_u8x65536_inline",
        InlineBytes {
            data: *sample_bytes(),
        },
    );
}

fn d_words(c: &mut Criterion) {
    let (value, bytes) = bench_case(c, "d_u32x1024", Words::sample());
    // Reference: the naive per-element hand-written save.
    let mut check = Vec::new();
    value.hand_save_naive(&mut check);
    assert!(check == bytes);
    let mut g = c.benchmark_group("d_u32x1024");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    g.bench_function("save/hand_naive", |b| {
        b.iter(|| {
            out.clear();
            black_box(&value).hand_save_naive(&mut out);
            black_box(&out);
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = a_scalars, b_i8259, c_bytes, d_words
}
criterion_main!(benches);
