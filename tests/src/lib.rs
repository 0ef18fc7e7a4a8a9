//! Conformance, round-trip and real-device tests of vmstate-rs.
