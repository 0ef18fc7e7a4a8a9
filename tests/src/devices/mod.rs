//! Real QEMU device states, modelled with `#[derive(VmState)]`.
//!
//! Each model follows QEMU 10.0's `VMStateDescription` of the device (field
//! order, wire types, versions, subsections) and is checked against the real
//! sections of the streams in `tests/fixtures/`.

pub mod apic;
pub mod arm_gic;
pub mod e1000;
pub mod fdc;
pub mod fw_cfg;
pub mod hpet;
pub mod i8254;
pub mod i8259;
pub mod ich9_lpc;
pub mod kvmclock;
pub mod mc146818rtc;
pub mod pckbd;
pub mod piix3;
pub mod pl011;
pub mod pl031;
pub mod pl061;
pub mod ps2;
pub mod serial;
pub mod usb_ptr;
pub mod x86_cpu;
