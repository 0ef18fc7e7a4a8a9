//! What the tracing wrapper costs when no subscriber wants its events
//! (`vmstate_core::trace::Traced`): every save and load of the stream
//! engine goes through it.
//!
//! Run with `cargo bench -p vmstate-tests --bench tracing_overhead`;
//! results are in `BENCHMARKS.md`.
//!
//! Cases, each `plain` (the visitor alone) and `traced_off` (wrapped, no
//! subscriber):
//!
//! * `save/i8259`: the real i8259 model (16 fields and a subsection): the
//!   per-call cost of the wrapper on a small state;
//! * `save/u32x1024`, `load/u32x1024`: a `[u32; 1024]` array, visited as one
//!   run;
//! * `load/x86_sections`: every device section of the x86 fixture decoded
//!   into dynamic state (30 sections, 2873 values).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vmstate_core::dynamic::{DescriptionArena, DynamicState};
use vmstate_core::qemufile::SliceReader;
use vmstate_core::stream::{Event, StreamDecoder, StreamSchema};
use vmstate_core::trace::Traced;
use vmstate_core::{InputVisitor, OutputVisitor, VmState, visit_struct, visit_struct_at};
use vmstate_tests::devices::i8259::I8259;

#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "u32x1024", version = 1)]
struct U32x1024 {
    words: [u32; 1024],
}

fn save_plain<T: VmState>(value: &mut T, out: &mut Vec<u8>) {
    out.clear();
    let mut v = OutputVisitor::new(&mut *out);
    visit_struct(value, &mut v, T::DESCRIPTION.name).unwrap();
}

fn save_traced<T: VmState>(value: &mut T, out: &mut Vec<u8>) {
    out.clear();
    let mut v = Traced::new(OutputVisitor::new(&mut *out));
    visit_struct(value, &mut v, T::DESCRIPTION.name).unwrap();
}

fn bench(c: &mut Criterion) {
    assert!(!vmstate_core::trace::fields_enabled());
    let mut g = c.benchmark_group("tracing_off");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));

    let mut i8259 = I8259::default();
    let mut out = Vec::with_capacity(1 << 16);
    save_plain(&mut i8259, &mut out);
    g.throughput(Throughput::Bytes(out.len() as u64));
    g.bench_function("save/i8259/plain", |b| {
        b.iter(|| save_plain(black_box(&mut i8259), &mut out))
    });
    g.bench_function("save/i8259/traced_off", |b| {
        b.iter(|| save_traced(black_box(&mut i8259), &mut out))
    });

    let mut words = U32x1024 {
        words: std::array::from_fn(|i| i as u32),
    };
    save_plain(&mut words, &mut out);
    let bytes = out.clone();
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("save/u32x1024/plain", |b| {
        b.iter(|| save_plain(black_box(&mut words), &mut out))
    });
    g.bench_function("save/u32x1024/traced_off", |b| {
        b.iter(|| save_traced(black_box(&mut words), &mut out))
    });
    g.bench_function("load/u32x1024/plain", |b| {
        b.iter(|| {
            let mut v = InputVisitor::new(SliceReader::new(black_box(&bytes)));
            visit_struct_at(&mut words, &mut v, "u32x1024", 1).unwrap();
        })
    });
    g.bench_function("load/u32x1024/traced_off", |b| {
        b.iter(|| {
            let mut v = Traced::new(InputVisitor::new(SliceReader::new(black_box(&bytes))));
            visit_struct_at(&mut words, &mut v, "u32x1024", 1).unwrap();
        })
    });

    // The device sections of a real stream: (description, version, body).
    let stream = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/x86-pc-min.mig"
    ))
    .unwrap();
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &stream).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&stream), Some(&schema)).unwrap();
    let mut sections = Vec::new();
    while let Some(ev) = dec.next_event().unwrap() {
        if let Event::Section(_) = ev {
            let mut state = dec.decode_section().unwrap();
            let body = vmstate_core::dynamic::save_to_vec(&mut state).unwrap();
            sections.push((state.description(), body));
        }
    }
    let total: usize = sections.iter().map(|(_, b)| b.len()).sum();
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("load/x86_sections/plain", |b| {
        b.iter(|| {
            for (d, body) in &sections {
                let mut state = DynamicState::new(d).unwrap();
                let mut v = InputVisitor::new(SliceReader::new(body));
                visit_struct_at(&mut state, &mut v, d.name, d.version_id).unwrap();
                black_box(&state);
            }
        })
    });
    g.bench_function("load/x86_sections/traced_off", |b| {
        b.iter(|| {
            for (d, body) in &sections {
                let mut state = DynamicState::new(d).unwrap();
                let mut v = Traced::new(InputVisitor::new(SliceReader::new(body)));
                visit_struct_at(&mut state, &mut v, d.name, d.version_id).unwrap();
                black_box(&state);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
