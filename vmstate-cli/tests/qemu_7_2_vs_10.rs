//! QEMU 7.2 (QEMU's own reference dumps) vs QEMU 10.0.2 (Debian's
//! qemu-system 1:10.0.2+ds-2+deb13u1~bpo12+1, `-nodefaults -M pc-q35-7.2` /
//! `-M virt-7.2 -dump-vmstate`), as QEMU's `test_vmstate_7_2` does.
//! See tests/data/qemu-7.2-vs-10.0.2.md for what the findings mean.

mod common;

use vmstate_core::compat::{FindingKind, Options};

fn run(src: &str, dest: &str, reverse: bool) -> vmstate_core::compat::Report {
    common::compare(
        &common::data(src),
        &common::data(dest),
        Options {
            reverse,
            ..Options::default()
        },
    )
}

#[test]
fn q35_7_2_to_10_0_2_is_clean() {
    let r = run("pc-q35-7.2.json", "q35-10.0.2.json", false);
    assert_eq!(r.stdout, "");
    assert_eq!(r.exit_status(), 0);
    assert!(r.findings.is_empty());
}

#[test]
fn virt_7_2_to_10_0_2_is_clean() {
    let r = run("virt-7.2.json", "virt-10.0.2.json", false);
    assert_eq!(r.stdout, "");
    assert_eq!(r.exit_status(), 0);
    assert!(r.findings.is_empty());
}

/// Backward migration (10.0.2 -> 7.2); output verified byte for byte
/// against QEMU's Python script.
#[test]
fn q35_10_0_2_to_7_2() {
    let r = run("pc-q35-7.2.json", "q35-10.0.2.json", true);
    assert_eq!(
        r.stdout,
        common::read(&common::data("q35-10.0.2-to-7.2.expected.txt"))
    );
    assert_eq!(r.exit_status(), 197);
    let other: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::SectionMissing)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        other,
        [
            "Section \"pic-common\" Description \"i8259\": Entry \"Subsections\" missing",
            "Section \"isa-i8259\" Description \"i8259\": Entry \"Subsections\" missing",
        ]
    );
}

#[test]
fn virt_10_0_2_to_7_2() {
    let r = run("virt-7.2.json", "virt-10.0.2.json", true);
    assert_eq!(
        r.stdout,
        common::read(&common::data("virt-10.0.2-to-7.2.expected.txt"))
    );
    // 673 problems, capped.
    assert_eq!(r.problems(), 673);
    assert_eq!(r.exit_status(), 255);
    let other: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::SectionMissing)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        other,
        [
            "Section \"acpi-ged\", Description \"acpi-ged\": Subsection \"acpi-ged/cpuhp\" not found",
            "Section \"arm-smmuv3\" Description \"smmuv3\": Entry \"Subsections\" missing",
            "Section \"arm-gicv3-common\", Description \"arm_gicv3_cpu\": Subsection \"arm_gicv3_cpu/nmi\" not found",
            "Section \"arm-gicv3-common\", Description \"arm_gicv3\": Subsection \"arm_gicv3/gicd_nmi\" not found",
        ]
    );
}

#[test]
fn i440fx_dump_against_q35_only_warns() {
    let r = run("pc-q35-7.2.json", "dump-vmstate-x86-pc-10.0.2.json", false);
    assert_eq!(
        r.stdout,
        "Warning: checking incompatible machine types: \"pc-q35-7.2\", \"pc-i440fx-10.0\"\n"
    );
    assert_eq!(r.exit_status(), 0);
}
