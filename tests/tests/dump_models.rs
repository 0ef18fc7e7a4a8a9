//! The `-dump-vmstate` export of the device models of issue 8 against the
//! entries of QEMU 10.0.2's own dumps (`vmstate-cli/tests/data`): every
//! field's name, version, `field_exists` and `num`, every subsection's
//! name and versions, in order. Sizes are left out: QEMU's are the C
//! structs' sizes in memory, ours the wire sizes (equal for scalars, see
//! the `dump` module). This is how the views (`num` of a sub-array, none
//! for a single element), the inline subsections and the counts that are
//! not migrated (no `num`) show in QEMU's dump.

use vmstate_core::VmState;
use vmstate_core::dump::{DumpDescription, DumpFile};
use vmstate_tests::devices::*;

fn qemu_dump(name: &str) -> DumpFile {
    let path = format!(
        "{}/../vmstate-cli/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    DumpFile::parse(&text).unwrap()
}

/// One line per field and subsection, without sizes.
fn shape(d: &DumpDescription, depth: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(depth * 2);
    out.push(format!(
        "{pad}{} v{:?} min{:?}",
        d.name.as_deref().unwrap_or("?"),
        d.version_id,
        d.minimum_version_id
    ));
    for f in d.fields.iter().flatten() {
        out.push(format!(
            "{pad}  {} v{:?} exists={:?} num={:?}",
            f.field.as_deref().unwrap_or("?"),
            f.version_id,
            f.field_exists,
            f.num
        ));
        if let Some(nested) = &f.description {
            shape(nested, depth + 2, out);
        }
    }
    for s in d.subsections.iter().flatten() {
        shape(s, depth + 1, out);
    }
}

fn check<T: VmState>(dump: &DumpFile, qom_name: &str) {
    let theirs = dump
        .section(qom_name)
        .and_then(|s| s.description.as_ref())
        .unwrap_or_else(|| panic!("{qom_name} not in the dump"));
    let ours = DumpDescription::from_static(T::DESCRIPTION);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    shape(&ours, 0, &mut a);
    shape(theirs, 0, &mut b);
    assert_eq!(a.join("\n"), b.join("\n"), "{qom_name}");
}

#[test]
fn models_match_qemus_dump() {
    let q35 = qemu_dump("q35-10.0.2.json");
    check::<serial::IsaSerial>(&q35, "isa-serial");
    check::<pckbd::IsaKbd>(&q35, "i8042");
    check::<fdc::IsaFdc>(&q35, "isa-fdc");
    check::<kvmclock::KvmClock>(&q35, "kvmclock");
    check::<usb_ptr::UsbPtr>(&q35, "usb-tablet");
    check::<e1000::E1000>(&q35, "e1000");
    check::<ich9_lpc::Ich9Lpc>(&q35, "ICH9-LPC");
    let virt = qemu_dump("virt-10.0.2.json");
    check::<arm_gic::ArmGic>(&virt, "arm_gic");
}
