//! `vmstate convert --to json|qemu` and `vmstate set` on real QEMU 10.0.2
//! streams: every fixture goes to JSON and back byte for byte; `set`
//! changes exactly the bytes of the values it names, refuses what does not
//! fit, and QEMU loads the edited stream and holds the new values (it saves
//! them again).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TempDir;
use qemufile::SliceReader;
use vmstate_cli::convert_cmd::{self, ConvertArgs, Format};
use vmstate_cli::set_cmd::{self, SetArgs};
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::edit::Assignment;
use vmstate_core::stream::{Event, StreamDecoder, StreamSchema, section_root};

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

fn convert(file: &Path, to: Format, output: &Path, vmdesc: Option<PathBuf>) -> (u8, String) {
    let args = ConvertArgs {
        file: file.to_path_buf(),
        to,
        output: output.to_path_buf(),
        vmdesc,
        limits: Default::default(),
    };
    let (status, _, err) = run(|o, e| convert_cmd::run(&args, o, e));
    (status, err)
}

fn set(file: &Path, assignments: &[&str], output: &Path) -> (u8, String, String) {
    let args = SetArgs {
        file: file.to_path_buf(),
        assignments: assignments
            .iter()
            .map(|a| Assignment::parse(a).unwrap())
            .collect(),
        output: output.to_path_buf(),
        vmdesc: None,
        allow_resize: false,
        counts: Vec::new(),
        limits: Default::default(),
    };
    run(|o, e| set_cmd::run(&args, o, e))
}

/// Every stream of the repository: `convert --to json`, then `convert
/// --to qemu` of that, gives the stream back, byte for byte.
#[test]
fn every_fixture_converts_to_json_and_back_byte_for_byte() {
    let tmp = TempDir::new("convert");
    let mut seen = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "mig"))
        .collect();
    files.push(root().join("vmstate-cli/data/x86-pc-min.mig"));
    for mig in files {
        let name = mig.file_name().unwrap().to_string_lossy().into_owned();
        // The postcopy capture has no vmdesc: it borrows one.
        let vmdesc = name
            .contains("postcopy")
            .then(|| fixture("x86-pc-return-path.mig"));
        let json = tmp.0.join(format!("{name}.json"));
        let back = tmp.0.join(format!("{name}.back"));
        let (status, err) = convert(&mig, Format::Json, &json, vmdesc);
        assert_eq!(status, 0, "{name}: {err}");
        let text = std::fs::read(&json).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(doc["vmstate-json"], 1, "{name}");
        let (status, err) = convert(&json, Format::Qemu, &back, None);
        assert_eq!(status, 0, "{name}: {err}");
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(&mig).unwrap(),
            "{name}: the stream from JSON differs"
        );
        seen += 1;
    }
    assert!(seen >= 12, "{seen} fixtures");
}

/// A value edited in the JSON document is in the stream written from it,
/// and nothing else changed; a value that does not fit is refused with the
/// field's path and the JSON line, and nothing is written.
#[test]
fn json_edits_reach_the_stream_and_bad_ones_are_refused() {
    let tmp = TempDir::new("convert-edit");
    let mig = fixture("x86-pc-min.mig");
    let json = tmp.0.join("min.json");
    assert_eq!(convert(&mig, Format::Json, &json, None).0, 0);
    let text = std::fs::read_to_string(&json).unwrap();
    let from = "\"cmos_index\": {\"type\": \"uint8\", \"value\": 0}";
    assert_eq!(text.matches(from).count(), 1);
    let edited = tmp.0.join("edited.json");
    std::fs::write(
        &edited,
        text.replace(
            from,
            "\"cmos_index\": {\"type\": \"uint8\", \"value\": \"0x0e\"}",
        ),
    )
    .unwrap();
    let back = tmp.0.join("edited.mig");
    let (status, err) = convert(&edited, Format::Qemu, &back, None);
    assert_eq!(status, 0, "{err}");
    let (a, b) = (std::fs::read(&mig).unwrap(), std::fs::read(&back).unwrap());
    assert_eq!(a.len(), b.len());
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert_eq!(diff.len(), 1);
    assert_eq!(b[diff[0]], 0x0e);
    assert_eq!(
        value_of(&back, "mc146818rtc", "mc146818rtc.cmos_index"),
        "0xe"
    );

    std::fs::write(
        &edited,
        text.replace(
            from,
            "\"cmos_index\": {\"type\": \"uint8\", \"value\": 256}",
        ),
    )
    .unwrap();
    let refused = tmp.0.join("refused.mig");
    let (status, err) = convert(&edited, Format::Qemu, &refused, None);
    assert_eq!(status, 1);
    assert!(err.contains("mc146818rtc.cmos_index"), "{err}");
    assert!(err.contains("256 does not fit uint8"), "{err}");
    assert!(err.contains("JSON line"), "{err}");
    assert!(!refused.exists());
}

/// The value of `path` in section `root` of a stream, as `vmstate dump`
/// prints it.
fn value_of(stream: &Path, root: &str, path: &str) -> String {
    let bytes = std::fs::read(stream).unwrap();
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    while let Some(ev) = dec.next_event().unwrap() {
        let Event::Section(h) = ev else { continue };
        if section_root(&h) != root {
            continue;
        }
        let mut state = dec.decode_section().unwrap();
        let mut p = vmstate_core::PrettyPrinter::new(String::new()).with_root(root);
        let d = state.description();
        vmstate_core::visit_struct_at(&mut state, &mut p, d.name, d.version_id).unwrap();
        let dump = p.into_inner();
        let prefix = format!("{path} = (");
        let line = dump
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {path} in\n{dump}"));
        return line.rsplit(' ').next().unwrap().to_owned();
    }
    panic!("no section {root}");
}

/// A byte of a buffer (the `pretty` path shows the buffer whole).
fn byte_of(stream: &Path, root: &str, path: &str, index: usize) -> u8 {
    let hex = value_of(stream, root, path);
    let hex = hex.strip_prefix("0x").unwrap();
    u8::from_str_radix(&hex[2 * index..2 * index + 2], 16).unwrap()
}

#[test]
fn set_changes_only_the_bytes_of_the_values_it_names() {
    let tmp = TempDir::new("set");
    let mig = fixture("x86-pc-min.mig");
    let out = tmp.0.join("edited.mig");
    let (status, stdout, err) = set(
        &mig,
        &[
            "mc146818rtc.cmos_data[14]=0x20",
            "mc146818rtc.base_rtc=1700000000",
            "hpet.timer[2].config=0x30",
            "i8259[1].imr=0xfe",
        ],
        &out,
    );
    assert_eq!(status, 0, "{err}");
    assert!(
        stdout.contains("mc146818rtc.cmos_data[14] (byte of buffer): 0x0 -> 0x20 at byte offset"),
        "{stdout}"
    );
    assert!(stdout.contains("4 value(s) set"), "{stdout}");
    let (a, b) = (std::fs::read(&mig).unwrap(), std::fs::read(&out).unwrap());
    assert_eq!(a.len(), b.len());
    let changed = (0..a.len()).filter(|&i| a[i] != b[i]).count();
    // 1 byte, the bytes of 0x65920080 -> 0x6553f100, 1, 1 (at most).
    assert!((3..=7).contains(&changed), "{changed} bytes changed");
    assert_eq!(
        byte_of(&out, "mc146818rtc", "mc146818rtc.cmos_data", 14),
        0x20
    );
    assert_eq!(
        value_of(&out, "mc146818rtc", "mc146818rtc.base_rtc"),
        "0x6553f100"
    );
    assert_eq!(value_of(&out, "hpet", "hpet.timer[2].config"), "0x30");
    assert_eq!(value_of(&out, "i8259[1]", "i8259[1].imr"), "0xfe");
    // The vmdesc and everything else are the input's.
    assert_eq!(
        qemufile::stream::find_vmdesc(&a).map(|v| v.1),
        qemufile::stream::find_vmdesc(&b).map(|v| v.1)
    );
}

#[test]
fn set_refuses_with_clear_messages_and_writes_nothing() {
    let tmp = TempDir::new("set-refuse");
    let mig = fixture("x86-pc-min.mig");
    let out = tmp.0.join("never.mig");
    for (assignment, want) in [
        (
            "mc146818rtc.cmos_index=0x100",
            "mc146818rtc.cmos_index: 0x100 does not fit uint8 (0..=0xff)",
        ),
        (
            "mc146818rtc.period=-1",
            "mc146818rtc.period: -1 does not fit uint32: it is unsigned",
        ),
        ("hpet.config=banana", "banana is not a number for uint64"),
        (
            "mc146818rtc.cmos_inde=3",
            "no value of section mc146818rtc has the path mc146818rtc.cmos_inde; did you mean \
             one of: mc146818rtc.cmos_index",
        ),
        (
            "pl011.cr=0x301",
            "no section of the stream begins the path pl011.cr",
        ),
        (
            "mc146818rtc.cmos_data=0x00",
            "the buffer holds 128 byte(s), the value has 1: that changes the section's size; \
             where a migrated field holds the buffer's length (VMSTATE_VBUFFER), \
             --allow-resize --count LEN_FIELD=cmos_data allows it",
        ),
        (
            "mc146818rtc.cmos_data[128]=1",
            "there is no byte 128 (0..=127)",
        ),
        ("mc146818rtc.unused[0]=0", "unused bytes are not a value"),
        ("cpu.env.a20_mask=0x100000000", "does not fit int32"),
    ] {
        let (status, _, err) = set(&mig, &[assignment], &out);
        assert_eq!(status, 1, "{assignment}");
        assert!(err.contains(want), "{assignment}: {err}");
        assert!(!out.exists(), "{assignment}: an output was left");
    }
    // The output is never the input.
    let (status, _, err) = set(&mig, &["mc146818rtc.cmos_index=1"], &mig);
    assert_eq!(status, 1);
    assert!(err.contains("is the input"), "{err}");
}

// ---------------------------------------------------------------------------
// QEMU loads what `set` wrote and holds the values.

#[test]
fn qemu_loads_a_stream_edited_by_set_and_holds_the_new_values_x86() {
    let Some(dir) = common::shared_qemu_with("qemu-system-x86_64") else {
        return;
    };
    let tmp = TempDir::new("set-qemu-x86");
    let edited = tmp.0.join("edited.mig");
    let (status, _, err) = set(
        &fixture("x86-pc-min.mig"),
        &[
            "mc146818rtc.cmos_data[14]=0x20",
            "mc146818rtc.cmos_data[0x40]=0xa5",
        ],
        &edited,
    );
    assert_eq!(status, 0, "{err}");
    let resaved = tmp.0.join("resaved.mig");
    common::load_and_resave(&dir, None, "x86-pc-min", &edited, &resaved);
    assert_eq!(
        byte_of(&resaved, "mc146818rtc", "mc146818rtc.cmos_data", 14),
        0x20
    );
    assert_eq!(
        byte_of(&resaved, "mc146818rtc", "mc146818rtc.cmos_data", 0x40),
        0xa5
    );
}

#[test]
fn qemu_loads_a_stream_edited_by_set_and_holds_the_new_values_arm() {
    let Some(dir) = common::shared_qemu_with("qemu-system-aarch64") else {
        return;
    };
    let tmp = TempDir::new("set-qemu-arm");
    let edited = tmp.0.join("edited.mig");
    let (status, _, err) = set(&fixture("arm-virt-a57.mig"), &["pl011.cr=0x301"], &edited);
    assert_eq!(status, 0, "{err}");
    let resaved = tmp.0.join("resaved.mig");
    common::load_and_resave(&dir, None, "arm-virt-a57", &edited, &resaved);
    assert_eq!(value_of(&resaved, "pl011", "pl011.cr"), "0x301");
}

/// Through pipes: `vmstate convert - --to json -o -` piped into `vmstate
/// convert - --to qemu -o -` gives the stream back; `set` reads standard
/// input and writes standard output (the changes go to standard error).
#[test]
fn convert_and_set_work_through_pipes() {
    use std::io::Write as _;
    use std::process::Stdio;
    let bin = env!("CARGO_BIN_EXE_vmstate");
    let mig = std::fs::read(fixture("x86-pc-min.mig")).unwrap();
    let pipe = |args: &[&str], input: &[u8]| {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let json = pipe(&["convert", "-", "--to", "json", "-o", "-"], &mig).stdout;
    assert!(json.starts_with(b"{\"vmstate-json\": 1,"));
    let back = pipe(&["convert", "-", "--to", "qemu", "-o", "-"], &json).stdout;
    assert!(back == mig, "the stream through two pipes differs");
    let out = pipe(&["set", "-", "mc146818rtc.cmos_index=1", "-o", "-"], &mig);
    let diff: Vec<usize> = (0..mig.len())
        .filter(|&i| mig[i] != out.stdout[i])
        .collect();
    assert_eq!(diff.len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 value(s) set"));
}
