//! `vmstate set --allow-resize --count COUNT=TARGET` on real QEMU 10.0.2
//! streams: counted arrays and buffers grow and shrink, `vmstate check` and
//! the analyzer JSON (`dump --format json`) read the result with its
//! rewritten vmdesc, refusals leave no output, and QEMU loads the resized
//! sPAPR NVRAM (`VMSTATE_VBUFFER_ALLOC_UINT32`) and TCE table
//! (`VMSTATE_VARRAY_UINT32_ALLOC`), holds the new sizes and values, and
//! describes them in its own vmdesc exactly as `set` did.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TempDir;
use vmstate_cli::check_cmd::{self, CheckArgs};
use vmstate_cli::dump_cmd::{self, DumpArgs, DumpFormat};
use vmstate_cli::set_cmd::{self, SetArgs};
use vmstate_core::edit::{Assignment, CountLink};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

fn run(f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> u8) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = f(&mut out, &mut err);
    (
        status,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

fn set(file: &Path, counts: &[&str], assignments: &[&str], output: &Path) -> (u8, String, String) {
    let args = SetArgs {
        file: file.to_path_buf(),
        assignments: assignments
            .iter()
            .map(|a| Assignment::parse(a).unwrap())
            .collect(),
        output: output.to_path_buf(),
        vmdesc: None,
        allow_resize: !counts.is_empty(),
        counts: counts
            .iter()
            .map(|c| CountLink::parse(c).unwrap())
            .collect(),
        limits: Default::default(),
    };
    run(|o, e| set_cmd::run(&args, o, e))
}

fn check(mig: &Path) -> (u8, String, String) {
    run(|o, e| check_cmd::run(&CheckArgs::file(mig), o, e))
}

/// The analyzer's JSON of a stream (`analyze-migration.py -d state`, which
/// `dump --format json` equals on every fixture), parsed.
fn analyzer_json(mig: &Path) -> serde_json::Value {
    let args = DumpArgs {
        limits: Default::default(),
        file: Some(mig.to_owned()),
        format: DumpFormat::Json,
        memory: false,
        vmdesc: None,
    };
    let (status, out, err) = run(|o, e| dump_cmd::run(&args, o, e));
    assert_eq!(status, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// The analyzer JSON of the section whose key starts with `name (`.
fn section<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let prefix = format!("{name} (");
    doc.as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no section {name}"))
}

/// The text of one device entry of a stream's vmdesc.
fn vmdesc_entry(mig: &Path, idstr: &str, instance: u32) -> String {
    let bytes = std::fs::read(mig).unwrap();
    let (_, json) = qemufile::stream::find_vmdesc(&bytes).unwrap();
    let text = std::str::from_utf8(json).unwrap();
    let open = format!("{{\"name\": \"{idstr}\", \"instance_id\": {instance}, ");
    let start = text.rfind(&open).unwrap();
    let mut depth = 0;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return text[start..=start + i].to_owned();
                }
            }
            _ => {}
        }
    }
    panic!("unterminated entry of {idstr}")
}

#[test]
fn set_grows_a_counted_array_and_check_and_the_analyzer_read_the_result() {
    let tmp = TempDir::new("resize-grow");
    let out = tmp.0.join("grown.mig");
    let (status, stdout, err) = set(
        &fixture("x86-pc-min.mig"),
        &["hpet.num_timers_save=timer"],
        &["hpet.num_timers_save=5", "hpet.timer[4].cmp=0xabc"],
        &out,
    );
    assert_eq!(status, 0, "{err}");
    assert!(
        stdout.contains(
            "hpet.num_timers_save (uint8): 0x3 -> 0x5 at byte offset 291005 (0x470bd)\n  resizes \
             hpet.timer from 3 to 5 element(s) (new elements are zero)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 value(s) set; the resized section(s) encoded again and their vmdesc"),
        "{stdout}"
    );
    let (status, report, err) = check(&out);
    assert_eq!(status, 0, "{err}");
    assert!(report.contains(": OK: 395930 bytes"), "{report}");
    let doc = analyzer_json(&out);
    let timers = section(&doc, "hpet")["timer"].as_array().unwrap();
    assert_eq!(timers.len(), 5);
    assert_eq!(timers[4]["cmp"], "0x0000000000000abc");
    assert_eq!(timers[3]["config"], "0x0000000000000000");
    // The timers QEMU saved are the input's.
    let before = analyzer_json(&fixture("x86-pc-min.mig"));
    assert_eq!(
        section(&before, "hpet")["timer"].as_array().unwrap()[..3],
        timers[..3]
    );
}

#[test]
fn set_shrinks_two_arrays_of_one_count() {
    let tmp = TempDir::new("resize-shrink");
    let out = tmp.0.join("shrunk.mig");
    let (status, stdout, err) = set(
        &fixture("arm-virt-a57.mig"),
        &["cpu.cpreg_vmstate_array_len=cpreg_vmstate_indexes,cpreg_vmstate_values"],
        &["cpu.cpreg_vmstate_array_len=270"],
        &out,
    );
    assert_eq!(status, 0, "{err}");
    assert!(stdout.contains("from 274 to 270 element(s)"), "{stdout}");
    assert_eq!(check(&out).0, 0);
    let doc = analyzer_json(&out);
    let cpu = section(&doc, "cpu");
    for name in ["cpreg_vmstate_indexes", "cpreg_vmstate_values"] {
        assert_eq!(cpu[name].as_array().unwrap().len(), 270, "{name}");
    }
    let e = vmdesc_entry(&out, "cpu", 0);
    assert!(
        e.contains(
            "{\"name\": \"cpreg_vmstate_indexes\", \"array_len\": 270, \"type\": \"uint64\", \
             \"size\": 8}"
        ),
        "{e}"
    );
}

/// Refusals exit 1 with the reason and leave no output; `--count` needs
/// `--allow-resize`, and the message of a size change names the flag.
#[test]
fn set_refuses_resizing_without_the_flag_and_past_the_limits_and_writes_nothing() {
    let tmp = TempDir::new("resize-refuse");
    let out = tmp.0.join("never.mig");
    let x86 = fixture("x86-pc-min.mig");
    let arm = fixture("arm-virt-a57.mig");
    let cpreg = "cpu.cpreg_vmstate_array_len=cpreg_vmstate_indexes,cpreg_vmstate_values";
    for (file, counts, assignment, want) in [
        (
            &x86,
            &[][..],
            "mc146818rtc.cmos_data=0x0102",
            "the buffer holds 128 byte(s), the value has 2: that changes the section's size; \
             where a migrated field holds the buffer's length (VMSTATE_VBUFFER), \
             --allow-resize --count LEN_FIELD=cmos_data allows it",
        ),
        (
            &x86,
            &["hpet.num_timers_save=timer"][..],
            "hpet.num_timers_save=0x100",
            "0x100 does not fit uint8 (0..=0xff)",
        ),
        (
            &arm,
            &[cpreg][..],
            "cpu.cpreg_vmstate_array_len=300",
            "can shrink (trailing elements dropped) but not grow past it",
        ),
        (
            &x86,
            &["hpet.num_timers_save=timer"][..],
            "hpet.timer[3].cmp=1",
            "no value of section hpet has the path hpet.timer[3].cmp",
        ),
    ] {
        let (status, _, err) = set(file, counts, &[assignment], &out);
        assert_eq!(status, 1, "{assignment}");
        assert!(err.contains(want), "{assignment}: {err}");
        assert!(!out.exists(), "{assignment}: an output was left");
    }
    // The command line: --count without --allow-resize.
    let o = Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(["set", "--count", "hpet.num_timers_save=timer"])
        .arg(&x86)
        .args(["hpet.num_timers_save=4", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--allow-resize"), "{err}");
    assert!(!out.exists());
    // The help names both.
    let o = Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .args(["set", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("--allow-resize") && help.contains("--count <COUNT=TARGET>"));
}

// ---------------------------------------------------------------------------
// QEMU loads the resized stream and holds the new sizes and values.

/// The sPAPR NVRAM's `size` and the TCE table's `mig_nb_table` are counts
/// QEMU takes from the stream: its NVRAM `pre_load` frees the buffer and
/// the load allocates `size` bytes (`VMSTATE_VBUFFER_ALLOC_UINT32`, no
/// check), and a TCE table whose migrated length differs from its own is
/// disabled and enabled again at the migrated length (`post_load`). So a
/// destination holds the new sizes, and saves them again.
#[test]
fn qemu_loads_resized_ppc64_sections_and_holds_the_new_sizes_and_values() {
    let Some(dir) = common::shared_qemu_with("qemu-system-ppc64") else {
        return;
    };
    let tmp = TempDir::new("resize-qemu-ppc64");
    let edited = tmp.0.join("edited.mig");
    let nvram = "nvram@71000001/spapr_nvram";
    let iommu = "spapr_iommu[2147483648]";
    let (status, stdout, err) = set(
        &fixture("ppc64-pseries.mig"),
        &[
            &format!("{nvram}.size=buf"),
            &format!("{iommu}.mig_nb_table=mig_table"),
        ],
        &[
            &format!("{nvram}.size=0x2000"),
            &format!("{nvram}.buf[0x1fff]=0x5a"),
            &format!("{iommu}.mig_nb_table=4100"),
            &format!("{iommu}.mig_table[4099]=0x1234567"),
        ],
        &edited,
    );
    assert_eq!(status, 0, "{err}");
    assert!(stdout.contains("4 value(s) set"), "{stdout}");
    assert_eq!(check(&edited).0, 0);
    let resaved = tmp.0.join("resaved.mig");
    common::load_and_resave(
        &dir,
        Some(&fixture("scenarios/extra.txt")),
        "ppc64-pseries",
        &edited,
        &resaved,
    );
    let doc = analyzer_json(&resaved);
    let n = section(&doc, nvram);
    assert_eq!(n["size"], "0x00002000");
    let buf = n["buf"].as_str().unwrap();
    assert_eq!(buf.len(), 8192 * 3 - 1);
    assert!(buf.ends_with(" 00 5a"), "{}", &buf[buf.len() - 20..]);
    let t = doc
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("spapr_iommu ("))
        .map(|(_, v)| v)
        .find(|v| v["mig_nb_table"] == "0x00001004")
        .unwrap_or_else(|| panic!("no TCE table of 4100 entries"));
    let table = t["mig_table"].as_array().unwrap();
    assert_eq!(table.len(), 4100);
    assert_eq!(table[4099], "0x0000000001234567");
    // QEMU describes what it saved exactly as set described it.
    for (idstr, instance) in [(nvram, 0), ("spapr_iommu", 0x8000_0000)] {
        assert_eq!(
            vmdesc_entry(&resaved, idstr, instance),
            vmdesc_entry(&edited, idstr, instance),
            "{idstr}"
        );
    }
}

/// ARM's `cpreg_vmstate_array_len` is an `int32 le`: QEMU loads fewer
/// registers than it has (those the stream leaves out keep the
/// destination's values) and refuses more. What it saves again is its own
/// full list, so only the load is proof here: the shortened stream loads.
#[test]
fn qemu_loads_an_arm_cpu_with_fewer_coprocessor_registers() {
    let Some(dir) = common::shared_qemu_with("qemu-system-aarch64") else {
        return;
    };
    let tmp = TempDir::new("resize-qemu-arm");
    let edited = tmp.0.join("edited.mig");
    let (status, _, err) = set(
        &fixture("arm-virt-a57.mig"),
        &["cpu.cpreg_vmstate_array_len=cpreg_vmstate_indexes,cpreg_vmstate_values"],
        &["cpu.cpreg_vmstate_array_len=273"],
        &edited,
    );
    assert_eq!(status, 0, "{err}");
    let resaved = tmp.0.join("resaved.mig");
    common::load_and_resave(&dir, None, "arm-virt-a57", &edited, &resaved);
    let doc = analyzer_json(&resaved);
    assert_eq!(
        section(&doc, "cpu")["cpreg_vmstate_array_len"],
        "0x00000112"
    );
}
