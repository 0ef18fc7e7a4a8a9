//! Real device states from the fixture streams, for the hand-written
//! baseline's test (`tests/tests/hand_written.rs`) and benchmark
//! (`tests/benches/pc_devices.rs`): each model's sections as QEMU 10.0.2
//! saved them, loaded with the derive into the model's default (which is
//! configured as those machines are).

#![allow(dead_code)]

use std::fmt::Debug;
use std::sync::LazyLock;

use vmstate_core::VmState;
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
use vmstate_tests::hand::HandWritten;
use vmstate_tests::scan::{self, Stream};

/// What a device model needs to be compared and timed.
pub trait Model: VmState + HandWritten + Clone + Default + PartialEq + Debug + 'static {}
impl<T: VmState + HandWritten + Clone + Default + PartialEq + Debug + 'static> Model for T {}

/// A fixture stream and its sections.
pub struct Fixture {
    /// The file's base name.
    pub name: &'static str,
    bytes: Vec<u8>,
    stream: Stream,
}

fn fixture(name: &'static str) -> Fixture {
    let path = format!("{}/fixtures/{name}.mig", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let stream = scan::scan(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    Fixture {
        name,
        bytes,
        stream,
    }
}

/// `-M pc`, TCG, one vCPU.
pub static X86: LazyLock<Fixture> = LazyLock::new(|| fixture("x86-pc-min"));
/// `-M q35` with e1000, serial, isa-fdc, qemu-xhci + usb-tablet.
pub static Q35: LazyLock<Fixture> = LazyLock::new(|| fixture("x86-q35-forms"));
/// `-M pc` under KVM: has `kvmclock`.
pub static KVM: LazyLock<Fixture> = LazyLock::new(|| fixture("x86-pc-kvm"));
/// `-M virt` with a Cortex-A57.
pub static ARM: LazyLock<Fixture> = LazyLock::new(|| fixture("arm-virt-a57"));

/// One real section: which model, where it comes from, its state.
pub struct Real<T> {
    /// The model's short name (`i8259`, `e1000`, ...).
    pub model: &'static str,
    /// `fixture:idstr#instance`.
    pub source: String,
    /// The state loaded from the section.
    pub value: T,
    /// The section's bytes.
    pub bytes: Vec<u8>,
}

/// Receives the real sections, one call per section.
pub trait Sink {
    /// One section of `model` (the same model comes once per instance).
    fn add<T: Model>(&mut self, real: Real<T>);
}

fn real<T: Model>(
    sink: &mut impl Sink,
    model: &'static str,
    fx: &Fixture,
    idstr: &str,
    instance: u32,
) {
    let s = fx
        .stream
        .find(idstr, instance)
        .unwrap_or_else(|| panic!("{}: no section {idstr} instance {instance}", fx.name));
    assert_eq!(s.version_id, T::DESCRIPTION.version_id, "{idstr}: version");
    let bytes = fx.bytes[s.body.clone()].to_vec();
    let mut value = T::default();
    vmstate_core::load_from_slice(&mut value, &bytes, s.version_id)
        .unwrap_or_else(|e| panic!("{}:{idstr}: {e}", fx.name));
    sink.add(Real {
        model,
        source: format!("{}:{idstr}#{instance}", fx.name),
        value,
        bytes,
    });
}

/// The device models of a real x86 `pc` machine, each section with its
/// state and instance count: every section of `x86-pc-min` that a model of
/// `tests/src/devices` covers (two i8259s, one APIC for its one vCPU, ...),
/// the vCPU's `cpu` section included, plus what a `pc` machine can have besides: `kvmclock` (from
/// `x86-pc-kvm`), a 16550A serial port, an e1000 and a USB tablet (from
/// `x86-q35-forms`; their state does not depend on the chipset).
pub fn pc_machine(sink: &mut impl Sink) {
    let x86 = &*X86;
    real::<X86Cpu>(sink, "x86_cpu", x86, "cpu", 0);
    real::<Apic>(sink, "apic", x86, "apic", 0);
    real::<FwCfg>(sink, "fw_cfg", x86, "fw_cfg", 0);
    real::<Mc146818Rtc>(sink, "mc146818rtc", x86, "mc146818rtc", 0);
    real::<Piix3>(sink, "piix3", x86, "0000:00:01.0/PIIX3", 0);
    real::<I8259>(sink, "i8259", x86, "i8259", 0);
    real::<I8259>(sink, "i8259", x86, "i8259", 1);
    real::<Hpet>(sink, "hpet", x86, "hpet", 0);
    real::<I8254>(sink, "i8254", x86, "i8254", 0);
    real::<IsaFdc>(sink, "fdc", x86, "fdc", 0);
    real::<Ps2Kbd>(sink, "ps2kbd", x86, "ps2kbd", 0);
    real::<Ps2Mouse>(sink, "ps2mouse", x86, "ps2mouse", 0);
    real::<IsaKbd>(sink, "pckbd", x86, "pckbd", 0);
    real::<KvmClock>(sink, "kvmclock", &KVM, "kvmclock", 0);
    real::<IsaSerial>(sink, "serial", &Q35, "serial", 0);
    real::<E1000>(sink, "e1000", &Q35, "0000:00:01.0/e1000", 0);
    real::<UsbPtr>(sink, "usb_ptr", &Q35, "0000:00:02.0/1/usb-ptr", 0);
}

/// The models no `pc` machine has: the Q35 LPC bridge and the ARM `virt`
/// machine's devices (its `fw_cfg` too, the MMIO variant).
pub fn other_models(sink: &mut impl Sink) {
    real::<Ich9Lpc>(sink, "ich9_lpc", &Q35, "0000:00:1f.0/ICH9LPC", 0);
    let arm = &*ARM;
    real::<ArmGic>(sink, "arm_gic", arm, "arm_gic", 0);
    real::<Pl011>(sink, "pl011", arm, "pl011", 0);
    real::<Pl031>(sink, "pl031", arm, "pl031", 0);
    real::<Pl061>(sink, "pl061", arm, "pl061", 0);
    real::<FwCfg>(sink, "fw_cfg", arm, "fw_cfg", 0);
}

/// Every model of `tests/src/devices`, ARM ones included: [`pc_machine`]
/// then [`other_models`].
pub fn all_models(sink: &mut impl Sink) {
    pc_machine(sink);
    other_models(sink);
}

/// The real states of `model`, one per section, as `T`.
pub fn reals<T: Model>(model: &str) -> Vec<T> {
    struct Pick<'a, T> {
        model: &'a str,
        found: Vec<T>,
    }
    impl<T: Model> Sink for Pick<'_, T> {
        fn add<U: Model>(&mut self, real: Real<U>) {
            if real.model == self.model {
                let any: Box<dyn std::any::Any> = Box::new(real.value);
                let value = any.downcast::<T>().unwrap_or_else(|_| {
                    panic!("{}: not a {}", real.source, std::any::type_name::<T>())
                });
                self.found.push(*value);
            }
        }
    }
    let mut pick = Pick {
        model,
        found: Vec::new(),
    };
    all_models(&mut pick);
    assert!(!pick.found.is_empty(), "no real section of {model}");
    pick.found
}
