//! Conformance, round-trip and real-device tests of vmstate-rs, and the real
//! QEMU device models they use.

pub mod devices;
