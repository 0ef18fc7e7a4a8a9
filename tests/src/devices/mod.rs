//! Real QEMU device states, modelled with `#[derive(VmState)]`.
//!
//! Each model follows QEMU 10.0's `VMStateDescription` of the device (field
//! order, wire types, versions, subsections) and is checked against the real
//! sections of the streams in `tests/fixtures/`.

pub mod i8259;
