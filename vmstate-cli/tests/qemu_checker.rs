//! QEMU's own checker test (`tests/functional/test_vmstate.py`,
//! `BadVmStateTest`): dump1.json vs dump2.json gives exactly these 13
//! problems and exit status 13.

mod common;

use vmstate_core::compat::{FindingKind, Options};

const EXPECTED: &str = r#"Warning: checking incompatible machine types: "pc-i440fx-2.1", "pc-i440fx-2.2"
Section "fw_cfg" does not exist in dest
Section "fusbh200-ehci-usb" version error: 2 > 1
Section "fusbh200-ehci-usb", Description "ehci-core": expected field "usbsts", got "usbsts_pending"; skipping rest
Section "pci-serial-4x" Description "pci-serial-multi": Entry "Fields" missing
Section "intel-hda-generic", Description "intel-hda", Field "pci": missing description
Section "cfi.pflash01": Entry "Description" missing
Section "megasas", Description "PCIDevice": expected field "irq_state", while dest has no further fields
Section "PIIX3-xen" Description "PIIX3": minimum version error: 1 < 2
Section "PIIX3-xen" Description "PIIX3": Entry "Subsections" missing
Section "tpci200": Description "tpci200" missing, got "tpci2002" instead; skipping
Section "sun-fdtwo" Description "fdc": version error: 2 > 1
Section "sun-fdtwo", Description "fdrive": Subsection "fdrive/media_rate" not found
Section "usb-kbd" Description "usb-kbd" Field "kbd.keycodes" size mismatch: 4 , 2
"#;

#[test]
fn dump1_vs_dump2_matches_qemu() {
    let (Some(src), Some(dest)) = (
        common::shared("qemu-checker/dump1.json"),
        common::shared("qemu-checker/dump2.json"),
    ) else {
        return;
    };
    let report = common::compare(&src, &dest, Options::default());
    assert_eq!(report.stdout, EXPECTED);
    assert_eq!(report.exit_status(), 13);
    assert_eq!(report.findings.len(), 14);
    assert_eq!(report.findings[0].kind, FindingKind::MachineType);
    assert!(!report.findings[0].counted);
    assert!(report.findings[1..].iter().all(|f| f.counted));
    // One of each kind QEMU's sample covers.
    let kinds: Vec<_> = report.findings.iter().map(|f| f.kind.id()).collect();
    assert_eq!(
        kinds,
        [
            "machine-type",
            "section-missing",
            "version-error",
            "field-mismatch",
            "entry-missing",
            "description-missing",
            "entry-missing",
            "fewer-fields",
            "minimum-version-error",
            "entry-missing",
            "description-renamed",
            "version-error",
            "subsection-missing",
            "size-mismatch",
        ]
    );
}

#[test]
fn dump1_vs_dump2_reverse() {
    let (Some(src), Some(dest)) = (
        common::shared("qemu-checker/dump1.json"),
        common::shared("qemu-checker/dump2.json"),
    ) else {
        return;
    };
    let report = common::compare(
        &src,
        &dest,
        Options {
            reverse: true,
            ..Options::default()
        },
    );
    // Verified against QEMU's script (python3).
    assert_eq!(report.exit_status(), 6);
    assert!(report.stdout.starts_with(
        "Warning: checking incompatible machine types: \"pc-i440fx-2.2\", \"pc-i440fx-2.1\"\n"
    ));
}

#[test]
fn dump1_vs_stored_sunw_dump2() {
    // The byte-exact pre-2021 dump2.json still has "SUNW,fdtwo": that section
    // is then missing in dest and the fdc findings disappear.
    let (Some(src), Some(dest)) = (
        common::shared("qemu-checker/dump1.json"),
        common::shared("qemu-checker/dump2-SUNW.json"),
    ) else {
        return;
    };
    let report = common::compare(&src, &dest, Options::default());
    assert_eq!(report.exit_status(), 12);
    assert!(
        report
            .stdout
            .contains("Section \"sun-fdtwo\" does not exist in dest\n")
    );
}
