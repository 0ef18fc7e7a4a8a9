//! Conformance, round-trip and real-device tests of vmstate-rs, and the real
//! QEMU device models they use.

pub mod devices;
pub mod fuzz;
pub mod hand;
pub mod hostile;
pub mod scan;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The workspace root.
pub fn workspace() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every real QEMU stream (`*.mig`) under the workspace folders `dirs`,
/// sorted.
pub fn real_streams(dirs: &[&str]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(workspace().join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "mig") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
