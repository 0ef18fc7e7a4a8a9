//! Conformance, round-trip and real-device tests of vmstate-rs, and the real
//! QEMU device models they use.

pub mod devices;
pub mod fuzz;
pub mod hostile;
pub mod scan;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
