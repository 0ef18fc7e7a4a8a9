//! Saving and loading the device models makes no heap allocation, measured
//! by a counting global allocator (`peakmem-alloc`, as in
//! `hostile_input.rs`):
//!
//! * for every model of `tests/src/devices`, `vmstate_core::save` (and
//!   `hand_save`) of each real state into a `Vec` with enough capacity;
//! * for every model whose state is fixed-size (no `Vec`, no `Box`),
//!   `vmstate_core::load_from_slice` of each real state;
//! * for the others (their state holds a `Vec` or a `Box`, so the
//!   transactional backup copy allocates), `load_from_slice` allocates no
//!   more than one copy of the destination.
//!
//! The allocator counts the whole process, so each test holds `SERIAL`
//! throughout, and each measurement takes the smallest of a few runs: the
//! operations are deterministic (an allocation they make shows in every
//! run), while the test harness's own thread may allocate during one.

#[path = "support/device_samples.rs"]
mod samples;

use std::sync::Mutex;

use peakmem_alloc::{INSTRUMENTED_SYSTEM, PeakMemAlloc, PeakMemAllocTrait};
use samples::{Model, reals};
use vmstate_tests::devices::apic::Apic;
use vmstate_tests::devices::arm_gic::ArmGic;
use vmstate_tests::devices::e1000::E1000;
use vmstate_tests::devices::fdc::IsaFdc;
use vmstate_tests::devices::fw_cfg::FwCfg;
use vmstate_tests::devices::hpet::Hpet;
use vmstate_tests::devices::i8254::I8254;
use vmstate_tests::devices::i8259::I8259;
use vmstate_tests::devices::ich9_lpc::Ich9Lpc;
use vmstate_tests::devices::kvmclock::KvmClock;
use vmstate_tests::devices::mc146818rtc::Mc146818Rtc;
use vmstate_tests::devices::pckbd::IsaKbd;
use vmstate_tests::devices::piix3::Piix3;
use vmstate_tests::devices::pl011::Pl011;
use vmstate_tests::devices::pl031::Pl031;
use vmstate_tests::devices::pl061::Pl061;
use vmstate_tests::devices::ps2::{Ps2Kbd, Ps2Mouse};
use vmstate_tests::devices::serial::IsaSerial;
use vmstate_tests::devices::usb_ptr::UsbPtr;
use vmstate_tests::devices::x86_cpu::X86Cpu;

#[global_allocator]
static GLOBAL: &PeakMemAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the other tests of this binary off (their setup allocates) for
/// the whole of a test.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The heap memory `f` adds at its peak (the smallest over 5 runs; `f` runs
/// once more before, untimed, so that lazily initialised state is there).
fn peak(mut f: impl FnMut()) -> usize {
    f();
    (0..5)
        .map(|_| {
            GLOBAL.reset_peak_memory();
            let before = GLOBAL.get_peak_memory();
            f();
            GLOBAL.get_peak_memory().saturating_sub(before)
        })
        .min()
        .unwrap_or(usize::MAX)
}

/// Saving each real state of `model` into a `Vec` with room for it
/// allocates nothing, through the derive and by hand.
fn saves_without_allocating<T: Model>(model: &str) {
    let _alone = alone();
    for (i, mut value) in reals::<T>(model).into_iter().enumerate() {
        let len = vmstate_core::save_to_vec(&mut value.clone()).unwrap().len();
        let mut out = Vec::with_capacity(len);
        let derive = peak(|| {
            out.clear();
            vmstate_core::save(&mut value, &mut out).unwrap();
        });
        assert_eq!(out.len(), len);
        assert_eq!(derive, 0, "{model}[{i}]: vmstate_core::save allocates");
        let hand = peak(|| {
            out.clear();
            value.hand_save(&mut out);
        });
        assert_eq!(out.len(), len);
        assert_eq!(hand, 0, "{model}[{i}]: hand_save allocates");
    }
}

/// Loading each real state of a fixed-size `model` allocates nothing.
fn loads_without_allocating<T: Model>(model: &str) {
    let _alone = alone();
    for (i, value) in reals::<T>(model).into_iter().enumerate() {
        let bytes = vmstate_core::save_to_vec(&mut value.clone()).unwrap();
        let version = T::DESCRIPTION.version_id;
        let mut dst = value.clone();
        let derive = peak(|| vmstate_core::load_from_slice(&mut dst, &bytes, version).unwrap());
        assert!(dst == value);
        assert_eq!(derive, 0, "{model}[{i}]: load_from_slice allocates");
    }
}

/// Loading each real state of `model`, whose state holds a `Vec` or a
/// `Box`, allocates no more than one copy of the destination (the
/// transactional backup); `prepare` readies the destination.
fn loads_with_only_the_backup<T: Model>(model: &str, prepare: impl Fn(&mut T)) {
    let _alone = alone();
    for (i, value) in reals::<T>(model).into_iter().enumerate() {
        let bytes = vmstate_core::save_to_vec(&mut value.clone()).unwrap();
        let version = T::DESCRIPTION.version_id;
        let mut dst = value.clone();
        prepare(&mut dst);
        let copy = peak(|| drop(std::hint::black_box(dst.clone())));
        let load = peak(|| {
            vmstate_core::load_from_slice(&mut dst, &bytes, version).unwrap();
            prepare(&mut dst);
        });
        assert!(copy > 0, "{model}: the state holds no heap memory");
        assert!(
            load <= copy,
            "{model}[{i}]: load_from_slice allocates {load} bytes, a copy of the destination {copy}"
        );
    }
}

macro_rules! save_tests {
    ($($(#[$m:meta])* $test:ident: $t:ty = $model:literal;)*) => {$(
        $(#[$m])*
        #[test]
        fn $test() {
            saves_without_allocating::<$t>($model);
        }
    )*};
}

macro_rules! load_tests {
    ($($(#[$m:meta])* $test:ident: $t:ty = $model:literal;)*) => {$(
        $(#[$m])*
        #[test]
        fn $test() {
            loads_without_allocating::<$t>($model);
        }
    )*};
}

save_tests! {
    save_apic: Apic = "apic";
    save_arm_gic: ArmGic = "arm_gic";
    save_e1000: E1000 = "e1000";
    save_fdc: IsaFdc = "fdc";
    save_fw_cfg: FwCfg = "fw_cfg";
    save_hpet: Hpet = "hpet";
    save_i8254: I8254 = "i8254";
    save_i8259: I8259 = "i8259";
    save_ich9_lpc: Ich9Lpc = "ich9_lpc";
    save_kvmclock: KvmClock = "kvmclock";
    save_mc146818rtc: Mc146818Rtc = "mc146818rtc";
    save_pckbd: IsaKbd = "pckbd";
    save_piix3: Piix3 = "piix3";
    save_pl011: Pl011 = "pl011";
    save_pl031: Pl031 = "pl031";
    save_pl061: Pl061 = "pl061";
    save_ps2kbd: Ps2Kbd = "ps2kbd";
    save_ps2mouse: Ps2Mouse = "ps2mouse";
    save_serial: IsaSerial = "serial";
    save_usb_ptr: UsbPtr = "usb_ptr";
    save_x86_cpu: X86Cpu = "x86_cpu";
}

load_tests! {
    load_apic: Apic = "apic";
    load_arm_gic: ArmGic = "arm_gic";
    load_fw_cfg: FwCfg = "fw_cfg";
    load_hpet: Hpet = "hpet";
    load_i8254: I8254 = "i8254";
    load_i8259: I8259 = "i8259";
    load_kvmclock: KvmClock = "kvmclock";
    load_mc146818rtc: Mc146818Rtc = "mc146818rtc";
    load_pckbd: IsaKbd = "pckbd";
    load_pl011: Pl011 = "pl011";
    load_pl031: Pl031 = "pl031";
    load_pl061: Pl061 = "pl061";
    load_ps2kbd: Ps2Kbd = "ps2kbd";
    load_ps2mouse: Ps2Mouse = "ps2mouse";
    load_usb_ptr: UsbPtr = "usb_ptr";
}

#[test]
fn load_e1000() {
    loads_with_only_the_backup::<E1000>("e1000", |_| {});
}

#[test]
fn load_fdc() {
    // The model records every load of a drive (a test hook that pushes to
    // a Vec): room for the next record, as a VMM's own state would have.
    loads_with_only_the_backup::<IsaFdc>("fdc", |f| {
        for d in &mut f.state.drives {
            d.loads.clear();
            d.loads.reserve(1);
        }
    });
}

#[test]
fn load_ich9_lpc() {
    loads_with_only_the_backup::<Ich9Lpc>("ich9_lpc", |_| {});
}

#[test]
fn load_x86_cpu() {
    loads_with_only_the_backup::<X86Cpu>("x86_cpu", |_| {});
}

#[test]
fn load_piix3() {
    loads_with_only_the_backup::<Piix3>("piix3", |_| {});
}

#[test]
fn load_serial() {
    loads_with_only_the_backup::<IsaSerial>("serial", |_| {});
}

/// The measurement sees an allocation (of a few bytes, freed at once).
#[test]
fn the_counter_sees_an_allocation() {
    let _alone = alone();
    let seen = peak(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(16))));
    assert!(seen >= 16, "peak {seen}");
}
