//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vmstate_cli::compat::{self, Options, Report};
use vmstate_core::dump::DumpFile;

/// `tests/data` of this crate.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// `../shared` next to the repository (`CARGO_MANIFEST_DIR/../../shared`), if present.
pub fn shared(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    if dir.is_dir() {
        Some(dir.join(name))
    } else {
        eprintln!(
            "NOTE: {} not found: skipping the test that needs the shared QEMU data",
            dir.display()
        );
        None
    }
}

/// Reads a text file, panicking with its path on error.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses a dump file, panicking with its path on error.
pub fn load(path: &Path) -> DumpFile {
    DumpFile::parse(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs the checker on two dump files.
pub fn compare(src: &Path, dest: &Path, options: Options) -> Report {
    compat::check(&load(src), &load(dest), options)
}
