//! Save and transactional load of whole machines' worth of real device
//! states, through `#[derive(VmState)]` and through the hand-written code of
//! `vmstate_tests::hand` (the same bytes, the same checks).
//!
//! Run with `cargo bench -p vmstate-tests --bench pc_devices`; the numbers and
//! how they are computed are in `BENCHMARKS.md` (`bench/criterion-table.py
//! pc_devices` prints the tables).
//!
//! Groups:
//!
//! * `pc_machine`: one iteration saves (loads) every device section of a real
//!   x86 `pc` machine that a model of `tests/src/devices` covers, each with
//!   its real state and instance count (`x86-pc-min`: two i8259s, one APIC,
//!   ...), plus kvmclock (`x86-pc-kvm`), a serial port, an e1000 and a USB
//!   tablet (`x86-q35-forms`): see `tests/tests/support/device_samples.rs`.
//! * `all_models`: the same plus the models a `pc` has not: the ICH9 LPC
//!   bridge, the ARM GIC, PL011, PL031, PL061 and the ARM `fw_cfg`.
//! * `model/<name>`: one section of one model, for per-device ratios.
//!
//! Rows: `save/derive` (`vmstate_core::save` into a reused, cleared `Vec` per
//! device), `save/hand` (`hand_save` into the same), `load/derive`
//! (`vmstate_core::load_from_slice` into a destination: transactional),
//! `load/hand` (`hand_load`, then the destination is assigned the result).
//! Before anything is timed, each section's derive and hand-written bytes
//! are asserted equal to the fixture's, and both loads to give equal values.

#[path = "../tests/support/device_samples.rs"]
mod samples;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use samples::{Model, Real, Sink};
use vmstate_tests::devices::fdc::IsaFdc;

/// One device section, both ways.
trait Case {
    /// The model's short name.
    fn model(&self) -> &'static str;
    /// Bytes on the wire.
    fn len(&self) -> usize;
    fn save_derive(&mut self);
    fn save_hand(&mut self);
    fn load_derive(&mut self);
    fn load_hand(&mut self);
}

struct Entry<T> {
    model: &'static str,
    /// The state saved.
    value: T,
    /// Its bytes (the fixture's section body).
    bytes: Vec<u8>,
    /// The reused output buffer.
    out: Vec<u8>,
    /// The load destination.
    dst: T,
    /// Undoes what a load accumulates in test-only state (the fdc model
    /// records every load of a drive), in both load rows alike.
    settle: fn(&mut T),
}

fn no_settle<T>(_: &mut T) {}

impl<T: Model> Entry<T> {
    /// Checks (untimed) that derive, hand-written code and fixture agree.
    fn new(real: Real<T>) -> Self {
        let Real {
            model,
            source,
            mut value,
            bytes,
        } = real;
        let version = <T as vmstate_core::VmState>::DESCRIPTION.version_id;
        let derive = vmstate_core::save_to_vec(&mut value).unwrap();
        assert!(
            derive == bytes,
            "{source}: the derive's save differs from the fixture"
        );
        let mut hand = Vec::new();
        value.hand_save(&mut hand);
        assert!(
            hand == bytes,
            "{source}: hand_save differs from the fixture"
        );
        let mut derived = value.clone();
        vmstate_core::load_from_slice(&mut derived, &bytes, version).unwrap();
        let handed = T::hand_load(&bytes, &value).expect("hand_load");
        assert!(handed == derived, "{source}: the loads differ");
        let mut settle: fn(&mut T) = no_settle::<T>;
        if let Some(s) = (&mut settle as &mut dyn std::any::Any).downcast_mut::<fn(&mut IsaFdc)>() {
            *s = |f| f.state.drives.iter_mut().for_each(|d| d.loads.clear());
        }
        Entry {
            model,
            out: Vec::with_capacity(bytes.len()),
            dst: value.clone(),
            value,
            bytes,
            settle,
        }
    }
}

impl<T: Model> Case for Entry<T> {
    fn model(&self) -> &'static str {
        self.model
    }
    fn len(&self) -> usize {
        self.bytes.len()
    }
    #[inline]
    fn save_derive(&mut self) {
        self.out.clear();
        vmstate_core::save(black_box(&mut self.value), &mut self.out).unwrap();
        black_box(&self.out);
    }
    #[inline]
    fn save_hand(&mut self) {
        self.out.clear();
        black_box(&self.value).hand_save(&mut self.out);
        black_box(&self.out);
    }
    #[inline]
    fn load_derive(&mut self) {
        let version = <T as vmstate_core::VmState>::DESCRIPTION.version_id;
        vmstate_core::load_from_slice(&mut self.dst, black_box(&self.bytes[..]), version).unwrap();
        (self.settle)(&mut self.dst);
        black_box(&self.dst);
    }
    #[inline]
    fn load_hand(&mut self) {
        self.dst = T::hand_load(black_box(&self.bytes[..]), &self.dst).unwrap();
        (self.settle)(&mut self.dst);
        black_box(&self.dst);
    }
}

#[derive(Default)]
struct Machine(Vec<Box<dyn Case>>);

impl Sink for Machine {
    fn add<T: Model>(&mut self, real: Real<T>) {
        self.0.push(Box::new(Entry::new(real)));
    }
}

fn bench_set(c: &mut Criterion, group: &str, set: &mut [Box<dyn Case>]) {
    let bytes: usize = set.iter().map(|d| d.len()).sum();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("save/derive", |b| {
        b.iter(|| set.iter_mut().for_each(|d| d.save_derive()))
    });
    g.bench_function("save/hand", |b| {
        b.iter(|| set.iter_mut().for_each(|d| d.save_hand()))
    });
    g.bench_function("load/derive", |b| {
        b.iter(|| set.iter_mut().for_each(|d| d.load_derive()))
    });
    g.bench_function("load/hand", |b| {
        b.iter(|| set.iter_mut().for_each(|d| d.load_hand()))
    });
    g.finish();
}

fn describe(group: &str, set: &[Box<dyn Case>]) {
    let bytes: usize = set.iter().map(|d| d.len()).sum();
    let mut names: Vec<&str> = set.iter().map(|d| d.model()).collect();
    names.dedup();
    eprintln!(
        "{group}: {} sections, {bytes} bytes: {}",
        set.len(),
        names.join(" ")
    );
}

fn pc_machine(c: &mut Criterion) {
    let mut m = Machine::default();
    samples::pc_machine(&mut m);
    describe("pc_machine", &m.0);
    bench_set(c, "pc_machine", &mut m.0);
}

fn all_models(c: &mut Criterion) {
    let mut m = Machine::default();
    samples::all_models(&mut m);
    describe("all_models", &m.0);
    bench_set(c, "all_models", &mut m.0);
}

fn per_model(c: &mut Criterion) {
    let mut m = Machine::default();
    samples::all_models(&mut m);
    let mut seen = Vec::new();
    for case in m.0 {
        let model = case.model();
        if seen.contains(&model) {
            continue; // the first section of each model
        }
        seen.push(model);
        bench_set(c, &format!("model/{model}"), &mut [case]);
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = pc_machine, all_models, per_model
}
criterion_main!(benches);
