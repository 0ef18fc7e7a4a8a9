//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use vmstate_core::compat::{self, Options, Report};
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

/// `../../shared/qemu` (QEMU's helper scripts) if it exists and
/// `qemu-system-x86_64` is QEMU >= 10.0; otherwise prints a visible
/// `SKIPPED:` line and returns `None`.
pub fn shared_qemu() -> Option<PathBuf> {
    shared_qemu_with("qemu-system-x86_64")
}

/// [`shared_qemu`] for the QEMU system emulator `binary`
/// (`qemu-system-ppc64`, `qemu-system-aarch64`, ...).
pub fn shared_qemu_with(binary: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/qemu");
    if !dir.join("load-stream.sh").is_file() || !dir.join("make-streams.sh").is_file() {
        println!("SKIPPED: {} not found", dir.display());
        return None;
    }
    let Ok(v) = Command::new(binary).arg("--version").output() else {
        println!(
            "SKIPPED: {binary} not installed (install it with ../shared/qemu/install-qemu.sh \
             --with ppc,s390x,misc)"
        );
        return None;
    };
    let text = String::from_utf8_lossy(&v.stdout).into_owned();
    let major: u32 = text
        .split("version ")
        .nth(1)
        .and_then(|s| s.split('.').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if major < 10 {
        println!("SKIPPED: QEMU >= 10.0 needed, found {}", text.trim());
        return None;
    }
    Some(dir)
}

/// A temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty directory named after `tag`.
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!("vmstate-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads `stream` into the destination QEMU of `scenario` (one of
/// `make-streams.sh`'s, or of the `scenarios` file given) with the shared
/// `load-stream.sh` in `dir`, and has it save its state again into
/// `resaved`; fails the test with QEMU's message if QEMU refuses.
pub fn load_and_resave(
    dir: &Path,
    scenarios: Option<&Path>,
    scenario: &str,
    stream: &Path,
    resaved: &Path,
) {
    let mut load = Command::new(dir.join("load-stream.sh"));
    if let Some(file) = scenarios {
        load.arg("--scenarios").arg(file);
    }
    let out = load
        .arg("--resave")
        .arg(resaved)
        .arg(scenario)
        .arg(stream)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "QEMU refused {}:\n{}",
        stream.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
