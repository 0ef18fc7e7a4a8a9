//! The equivalence check against QEMU 10.0.2's own descriptions: every
//! device model in `tests/src/devices` against the `-dump-vmstate` section
//! of the device on the machines that have it (`-M pc`, `-M q35`, aarch64
//! `-M virt`), and the two mistakes QEMU's Rust HPET nearly shipped.
//!
//! The dumps in `fixtures/qemu-dumps/` are QEMU's own output cut down to the
//! sections used here (see its README); `committed_dumps_are_qemus_own`
//! proves that against the full dumps of `vmstate-cli/tests/data` and,
//! where QEMU 10.0.2 is installed, against a fresh `-dump-vmstate`.

use std::path::{Path, PathBuf};
use std::process::Command;

use vmstate_core::VmState;
use vmstate_core::dump::DumpFile;
use vmstate_core::equivalence::{
    Difference, DifferenceKind, Effect, EquivalenceError, check_matches_qemu,
};
use vmstate_core::schema::{assert_matches_qemu, qemu_differences};
use vmstate_tests::devices::fw_cfg::FwCfg;
use vmstate_tests::devices::hpet::{Hpet, HpetOffset, HpetRtcIrqLevel, HpetTimer};
use vmstate_tests::devices::i8254::I8254;
use vmstate_tests::devices::i8259::I8259;
use vmstate_tests::devices::mc146818rtc::Mc146818Rtc;
use vmstate_tests::devices::piix3::Piix3;
use vmstate_tests::devices::pl011::Pl011;
use vmstate_tests::devices::pl031::Pl031;
use vmstate_tests::devices::pl061::Pl061;
use vmstate_tests::devices::ps2::{Ps2Kbd, Ps2Mouse};

/// `qemu-system-x86_64 -M pc -dump-vmstate`, the sections used here.
const PC: &str = "fixtures/qemu-dumps/pc-10.0.2.json";
/// `qemu-system-x86_64 -M q35 -dump-vmstate`, the sections used here.
const Q35: &str = "fixtures/qemu-dumps/q35-10.0.2.json";
/// `qemu-system-aarch64 -M virt -dump-vmstate`, the sections used here.
const VIRT: &str = "fixtures/qemu-dumps/virt-10.0.2.json";

// ---------------------------------------------------------------------------
// The project's models against real QEMU

#[test]
fn pc_models_match_qemu() {
    assert_matches_qemu::<Hpet>(PC, "hpet");
    assert_matches_qemu::<I8259>(PC, "isa-i8259");
    assert_matches_qemu::<I8254>(PC, "isa-pit");
    assert_matches_qemu::<Mc146818Rtc>(PC, "mc146818rtc");
    assert_matches_qemu::<Piix3>(PC, "PIIX3");
    assert_matches_qemu::<Ps2Kbd>(PC, "ps2-kbd");
    assert_matches_qemu::<Ps2Mouse>(PC, "ps2-mouse");
}

#[test]
fn q35_models_match_qemu() {
    // q35 has no PIIX3 (its ISA bridge is ICH9-LPC, which has no model here).
    assert_matches_qemu::<Hpet>(Q35, "hpet");
    assert_matches_qemu::<I8259>(Q35, "isa-i8259");
    assert_matches_qemu::<I8254>(Q35, "isa-pit");
    assert_matches_qemu::<Mc146818Rtc>(Q35, "mc146818rtc");
    assert_matches_qemu::<Ps2Kbd>(Q35, "ps2-kbd");
    assert_matches_qemu::<Ps2Mouse>(Q35, "ps2-mouse");
}

#[test]
fn virt_models_match_qemu() {
    assert_matches_qemu::<Pl011>(VIRT, "pl011");
    assert_matches_qemu::<Pl031>(VIRT, "pl031");
    assert_matches_qemu::<Pl061>(VIRT, "pl061");
}

/// The sections may be named by the stream's idstr (the description name)
/// as well as by the dump's QOM type name, when all sections of that
/// description agree (`i8259`: `isa-i8259`, `kvm-i8259`, `pic-common`).
#[test]
fn sections_by_description_name() {
    assert_matches_qemu::<I8259>(PC, "i8259");
    assert_matches_qemu::<I8254>(PC, "i8254");
    assert_matches_qemu::<Ps2Kbd>(PC, "ps2kbd");
    assert_matches_qemu::<Hpet>(Q35, "hpet");
}

/// The helper reads QEMU's full, unedited dump as well.
#[test]
fn full_qemu_dump() {
    let full = "../vmstate-cli/tests/data/dump-vmstate-x86-pc-10.0.2.json";
    assert_matches_qemu::<Hpet>(full, "hpet");
    assert_matches_qemu::<Piix3>(full, "PIIX3");
}

/// fw_cfg is the one model whose description is not QEMU's, on every
/// machine: QEMU sends version 1's `cur_offset` with `VMSTATE_UINT16_HACK`,
/// a device-specific `VMStateInfo` that reads a be16 into the `uint32_t`
/// (the dump shows a plain field of the C size, 4), where the model uses a
/// `tmp` struct holding a `u16`. The bytes are the same (2, and only in
/// version-1 streams, which QEMU 10.0.2 never writes); the dump cannot show
/// it, so the check says it cannot tell.
#[test]
fn fw_cfg_differs_in_the_version_1_offset_only() {
    for (dump, section) in [(PC, "fw_cfg_io"), (Q35, "fw_cfg_io"), (VIRT, "fw_cfg_mem")] {
        let d = qemu_differences::<FwCfg>(dump, section).unwrap();
        assert_eq!(d.len(), 1, "{section} in {dump}: {d:#?}");
        assert_eq!(d[0].path, "fw_cfg.cur_offset[0]");
        assert_eq!(
            d[0].kind,
            DifferenceKind::Nesting {
                qemu: None,
                model: Some("fw_cfg/cur_offset_v1".into())
            }
        );
        assert_eq!(d[0].effect, Effect::Unknown);
        assert_eq!(
            d[0].message,
            "QEMU shows `cur_offset` as a plain value (4 bytes in memory), the model computes \
             it through a `tmp` struct `fw_cfg/cur_offset_v1` (2 bytes on the wire). If QEMU's \
             field is a device-specific VMStateInfo that writes exactly those bytes, the \
             streams agree and only the dump and the vmdesc differ; the dump cannot tell (it \
             has no wire types, and QEMU's size is the C size): compare real streams"
        );
    }
}

// ---------------------------------------------------------------------------
// QEMU's Rust HPET mistakes

/// The first mistake of QEMU's Rust HPET: the timer count as a `usize`
/// where C's `HPETState.num_timers_save` is a `uint8_t`. A Rust `usize`
/// went on the wire as a uint64 on 64-bit hosts; vmstate-rs has no `usize`
/// field form (its width would depend on the host), so the model spells the
/// same mistake `u64`. A 64-bit count cannot count a variable array (QEMU's
/// `VMSTATE_*_VARRAY_*` read 8-, 16- and 32-bit counts, and the derive
/// refuses anything else), so the timers are a fixed array here.
mod usize_count {
    use super::*;

    #[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
    #[vmstate(name = "hpet", version = 2, minimum_version = 1)]
    pub struct Hpet {
        pub config: u64,
        pub isr: u64,
        pub hpet_counter: u64,
        /// `usize` in QEMU's Rust HPET: 8 bytes where C sends 1.
        #[vmstate(since = 2)]
        pub num_timers_save: u64,
        #[vmstate(validate = Hpet::num_timers_match, name = "num_timers must match")]
        pub _num_timers_match: (),
        pub timer: [HpetTimer; 32],
        #[vmstate(subsection)]
        pub rtc_irq_level: HpetRtcIrqLevel,
        #[vmstate(subsection)]
        pub offset: HpetOffset,
    }

    impl Hpet {
        fn num_timers_match(&self, _version_id: u32) -> bool {
            self.num_timers_save <= 32
        }
    }
}

/// The second mistake: a version 3 bump QEMU's C HPET never made.
mod version_3 {
    use super::*;

    #[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
    #[vmstate(name = "hpet", version = 3, minimum_version = 1)]
    pub struct Hpet {
        pub config: u64,
        pub isr: u64,
        pub hpet_counter: u64,
        #[vmstate(since = 2)]
        pub num_timers_save: u8,
        #[vmstate(validate = Hpet::num_timers_match, name = "num_timers must match")]
        pub _num_timers_match: (),
        #[vmstate(len = num_timers_save)]
        pub timer: [HpetTimer; 32],
        #[vmstate(subsection)]
        pub rtc_irq_level: HpetRtcIrqLevel,
        #[vmstate(subsection)]
        pub offset: HpetOffset,
    }

    impl Hpet {
        fn num_timers_match(&self, _version_id: u32) -> bool {
            self.num_timers_save <= 32
        }
    }
}

#[test]
fn catches_a_usize_timer_count() {
    let d = qemu_differences::<usize_count::Hpet>(PC, "hpet").unwrap();
    assert_eq!(
        d,
        [
            Difference {
                path: "hpet.num_timers_save".into(),
                kind: DifferenceKind::Size { qemu: 1, model: 8 },
                effect: Effect::Breaks,
                message: "QEMU's `num_timers_save` is 1 byte, the model's 8 bytes (uint64): \
                          each side reads a different number of bytes than the other wrote, so \
                          this field and every later one is misread, in both directions. QEMU's \
                          field is an integer of 8 bits (the dump shows its C type's size): make \
                          the model's field u8 or i8"
                    .into(),
            },
            Difference {
                path: "hpet.timer".into(),
                kind: DifferenceKind::Num {
                    qemu: None,
                    model: Some(32)
                },
                effect: Effect::Breaks,
                message: "QEMU sends `timer` as a single value or a variable number of \
                          elements (the dump gives `num` only for fixed arrays), the model as \
                          a fixed array of 32 elements: the element counts on the wire differ, \
                          so every later field is misread"
                    .into(),
            },
        ]
    );
}

#[test]
fn catches_an_unneeded_version_bump() {
    let d = qemu_differences::<version_3::Hpet>(PC, "hpet").unwrap();
    assert_eq!(
        d,
        [Difference {
            path: "hpet".into(),
            kind: DifferenceKind::Version { qemu: 2, model: 3 },
            effect: Effect::Breaks,
            message: "QEMU writes this section at version 2 (and loads 1..=2); the model writes \
                      version 3 (and loads 1..=3). The version is on the wire, so QEMU refuses \
                      the model's streams (version 3 is newer than the 2 it knows), and the model \
                      loads QEMU's streams by its rules for version 2. A version is a promise \
                      about the wire shared with QEMU: use QEMU's `version = 2`"
                .into(),
        }]
    );
}

/// The assertion panics with the whole list, each difference on its line.
#[test]
fn the_assertion_lists_every_difference() {
    let panic = std::panic::catch_unwind(|| {
        assert_matches_qemu::<usize_count::Hpet>(PC, "hpet");
    })
    .unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "the model `hpet` differs from QEMU's section `hpet` in \
         fixtures/qemu-dumps/pc-10.0.2.json (machine pc-i440fx-10.0); 2 difference(s):"
    );
    assert!(lines[1].starts_with(
        "  - hpet.num_timers_save: QEMU's `num_timers_save` is 1 byte, the model's 8 bytes"
    ));
    assert!(lines[1].ends_with(" [breaks migration]"), "{}", lines[1]);
    assert!(lines[2].starts_with("  - hpet.timer: QEMU sends `timer` as a single value"));
    assert_eq!(lines.len(), 4, "{text}");

    // The same, without panicking.
    match check_matches_qemu::<version_3::Hpet>(PC, "hpet") {
        Err(EquivalenceError::Differs {
            section,
            machine,
            differences,
            ..
        }) => {
            assert_eq!(section, "hpet");
            assert_eq!(machine.as_deref(), Some("pc-i440fx-10.0"));
            assert_eq!(differences.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(check_matches_qemu::<Hpet>(PC, "hpet").is_ok());
}

/// Paths name the field through nested structs and arrays of them: a
/// 4-byte `cmp` in QEMU's `hpet_timer` (changed here in the real dump).
#[test]
fn paths_go_through_struct_arrays() {
    let mut dump = DumpFile::parse(&read(PC)).unwrap();
    let hpet = dump
        .sections
        .iter_mut()
        .find(|s| s.qom_name == "hpet")
        .unwrap();
    let timer = hpet.description.as_mut().unwrap().fields.as_mut().unwrap()[4]
        .description
        .as_mut()
        .unwrap();
    timer.fields.as_mut().unwrap()[2].size = Some(4);
    let d = vmstate_core::equivalence::differences_in(&dump, "hpet", Hpet::DESCRIPTION).unwrap();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].path, "hpet.timer[].cmp");
    assert_eq!(d[0].kind, DifferenceKind::Size { qemu: 4, model: 8 });
}

#[test]
fn dump_and_section_errors() {
    let e = qemu_differences::<Hpet>("fixtures/qemu-dumps/nonexistent.json", "hpet").unwrap_err();
    assert!(matches!(e, EquivalenceError::File { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("QEMU dump fixtures/qemu-dumps/nonexistent.json: "),
        "{e}"
    );
    let e = qemu_differences::<Hpet>(PC, "hpe").unwrap_err();
    assert_eq!(
        e.to_string(),
        "QEMU dump fixtures/qemu-dumps/pc-10.0.2.json has no section `hpe` (neither a QOM type \
         name nor a description name); similar: hpet"
    );
    let e = qemu_differences::<Hpet>(VIRT, "hpet").unwrap_err();
    assert!(matches!(e, EquivalenceError::NoSection { .. }), "{e}");
}

// ---------------------------------------------------------------------------
// Provenance of the committed dumps

/// A committed dump: the QEMU command that writes it, the full dump of the
/// same binary in `vmstate-cli/tests/data`, and the sections kept.
struct Committed {
    file: &'static str,
    binary: &'static str,
    machine: &'static str,
    full: &'static str,
    sections: &'static [&'static str],
}

/// The sections of every model's device, with the other QOM types of the
/// same descriptions (so that description names resolve as in a full dump).
const X86_SECTIONS: &[&str] = &[
    "fw_cfg",
    "fw_cfg_io",
    "fw_cfg_mem",
    "hpet",
    "isa-i8259",
    "kvm-i8259",
    "pic-common",
    "isa-pit",
    "kvm-pit",
    "pit-common",
    "mc146818rtc",
    "ps2-kbd",
    "ps2-mouse",
];

const COMMITTED: &[Committed] = &[
    Committed {
        file: PC,
        binary: "qemu-system-x86_64",
        machine: "pc",
        full: "../vmstate-cli/tests/data/dump-vmstate-x86-pc-10.0.2.json",
        sections: &[
            "fw_cfg",
            "fw_cfg_io",
            "fw_cfg_mem",
            "hpet",
            "isa-i8259",
            "kvm-i8259",
            "pic-common",
            "isa-pit",
            "kvm-pit",
            "pit-common",
            "mc146818rtc",
            "ps2-kbd",
            "ps2-mouse",
            "PIIX3",
        ],
    },
    Committed {
        file: Q35,
        binary: "qemu-system-x86_64",
        machine: "q35",
        // The same binary's dump for -M pc-q35-7.2: only the machine name differs.
        full: "../vmstate-cli/tests/data/q35-10.0.2.json",
        sections: X86_SECTIONS,
    },
    Committed {
        file: VIRT,
        binary: "qemu-system-aarch64",
        machine: "virt",
        // The same binary's dump for -M virt-7.2: only the machine name differs.
        full: "../vmstate-cli/tests/data/virt-10.0.2.json",
        sections: &[
            "fw_cfg",
            "fw_cfg_io",
            "fw_cfg_mem",
            "pl011",
            "pl031",
            "pl061",
        ],
    },
];

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `full` cut down to `sections`, in the dump's order, with its machine.
fn cut(full: &DumpFile, sections: &[&str]) -> DumpFile {
    for s in sections {
        assert!(full.section(s).is_some(), "no section {s}");
    }
    DumpFile {
        machine: full.machine.clone(),
        sections: full
            .sections
            .iter()
            .filter(|s| sections.contains(&s.qom_name.as_str()))
            .cloned()
            .collect(),
    }
}

/// Why QEMU 10.0.2's `binary` cannot be run here, if it cannot.
fn qemu_10_0_2_missing(binary: &str) -> Option<String> {
    match Command::new(binary).arg("--version").output() {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let first = text.lines().next().unwrap_or("").to_owned();
            (!first.contains("version 10.0.2")).then(|| {
                format!("{binary} is not QEMU 10.0.2 ({first}), whose dumps are committed")
            })
        }
        _ => Some(format!("{binary} is not installed")),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmstate-equivalence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Each committed dump is QEMU's own text, cut down: its sections equal the
/// full dump's, byte for byte as QEMU lays them out; where QEMU 10.0.2 is
/// installed, it equals a fresh `-dump-vmstate` cut down the same way (and
/// `VMSTATE_BLESS=1` rewrites it from one).
#[test]
fn committed_dumps_are_qemus_own() {
    let bless = std::env::var_os("VMSTATE_BLESS").is_some_and(|v| v != "0" && !v.is_empty());
    for c in COMMITTED {
        match qemu_10_0_2_missing(c.binary) {
            Some(why) => println!("SKIPPED: the fresh dump for {}: {why}", c.file),
            None => {
                let out = scratch(&format!("{}.json", c.machine));
                let status = Command::new(c.binary)
                    .args(["-M", c.machine, "-accel", "tcg", "-nodefaults"])
                    .args(["-display", "none", "-dump-vmstate"])
                    .arg(&out)
                    .status()
                    .unwrap();
                assert!(status.success(), "{} -M {}: {status}", c.binary, c.machine);
                let fresh = DumpFile::parse(&read(&out)).unwrap();
                let _ = std::fs::remove_file(&out);
                let text = cut(&fresh, c.sections).to_json();
                if bless {
                    std::fs::write(c.file, &text).unwrap();
                }
                assert_eq!(
                    read(c.file),
                    text,
                    "{} is not {} -M {} -dump-vmstate, cut down",
                    c.file,
                    c.binary,
                    c.machine
                );
            }
        }
        let committed_text = read(c.file);
        let committed = DumpFile::parse(&committed_text).unwrap();
        assert_eq!(
            committed.to_json(),
            committed_text,
            "{}: not QEMU's layout",
            c.file
        );
        let names: Vec<&str> = committed
            .sections
            .iter()
            .map(|s| s.qom_name.as_str())
            .collect();
        let mut expected = c.sections.to_vec();
        expected.sort_unstable();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected, "{}", c.file);
        let full = DumpFile::parse(&read(c.full)).unwrap();
        assert_eq!(
            committed.sections,
            cut(&full, c.sections).sections,
            "{} differs from {}",
            c.file,
            c.full
        );
    }
}

/// The dumps list every device class of the binary, whatever the machine:
/// `-M pc` and `-M q35` differ only in the machine name.
#[test]
fn machine_names() {
    let name = |f: &str| {
        DumpFile::parse(&read(f))
            .unwrap()
            .machine_name()
            .map(str::to_owned)
    };
    assert_eq!(name(PC).as_deref(), Some("pc-i440fx-10.0"));
    assert_eq!(name(Q35).as_deref(), Some("pc-q35-10.0"));
    assert_eq!(name(VIRT).as_deref(), Some("virt-10.0"));
}
