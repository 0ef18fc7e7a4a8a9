//! parse -> write reproduces QEMU's `-dump-vmstate` files byte for byte.

mod common;

use vmstate_core::dump::DumpFile;

fn roundtrip(path: &std::path::Path) -> DumpFile {
    let text = common::read(path);
    let dump = DumpFile::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let written = dump.to_json();
    if written != text {
        let line = written
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .map_or(0, |i| i + 1);
        panic!(
            "{}: write differs from input near line {line}",
            path.display()
        );
    }
    assert_eq!(DumpFile::parse(&written).unwrap(), dump);
    dump
}

#[test]
fn qemu_7_2_dumps() {
    let q35 = roundtrip(&common::data("pc-q35-7.2.json"));
    assert_eq!(q35.machine_name(), Some("pc-q35-7.2"));
    assert_eq!(q35.sections.len(), 30);
    let virt = roundtrip(&common::data("virt-7.2.json"));
    assert_eq!(virt.sections.len(), 25);
}

#[test]
fn qemu_10_0_2_dumps() {
    let pc = roundtrip(&common::data("dump-vmstate-x86-pc-10.0.2.json"));
    assert_eq!(pc.machine_name(), Some("pc-i440fx-10.0"));
    assert_eq!(pc.sections.len(), 225);
    // "num" (QEMU >= 8.1) and empty field lists survive.
    let usb_redir = pc.section("usb-redir").expect("usb-redir");
    let ep = usb_redir
        .description
        .as_ref()
        .and_then(|d| d.fields.as_ref())
        .and_then(|f| f.iter().find(|f| f.field.as_deref() == Some("endpoint")))
        .expect("endpoint field");
    assert_eq!(ep.num, Some(32));
    assert_eq!(ep.size, Some(64));
    let q35 = roundtrip(&common::data("q35-10.0.2.json"));
    assert_eq!(q35.machine_name(), Some("pc-q35-7.2"));
    let virt = roundtrip(&common::data("virt-10.0.2.json"));
    assert_eq!(virt.sections.len(), 694);
}

#[test]
fn shared_reference_files() {
    for name in [
        "qemu-checker/dump1.json",
        "qemu-checker/dump2.json",
        "qemu-checker/dump2-SUNW.json",
        "qemu-checker/pc-q35-7.2.json",
        "qemu-checker/virt-7.2.json",
    ] {
        let Some(path) = common::shared(name) else {
            return;
        };
        roundtrip(&path);
    }
}

#[test]
fn hand_written_fixtures_parse() {
    let dir = common::data("kinds");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let dump = common::load(&path);
        // Our writer's output parses back to the same model.
        assert_eq!(
            DumpFile::parse(&dump.to_json()).unwrap(),
            dump,
            "{}",
            path.display()
        );
    }
}

#[test]
fn truncated_and_corrupted_input_never_panics() {
    let text = common::read(&common::data("pc-q35-7.2.json"));
    let bytes = text.as_bytes();
    for cut in (0..bytes.len()).step_by(97) {
        let prefix = String::from_utf8_lossy(&bytes[..cut]);
        let _ = DumpFile::parse(&prefix);
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..300 {
        let mut corrupt = bytes.to_vec();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state % corrupt.len() as u64) as usize;
            corrupt[i] = b"{}[]\",:0-e.tfn \\"[(state >> 32) as usize % 16];
        }
        let s = String::from_utf8_lossy(&corrupt);
        if let Ok(d) = DumpFile::parse(&s) {
            let _ = vmstate_core::compat::check(&d, &d, Default::default());
        }
    }
}
