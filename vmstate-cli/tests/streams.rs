//! `vmstate dump / desc / reencode / check / diff` on real QEMU 10.0.2
//! streams: the JSON equals QEMU's analyze-migration.py output, re-encoding
//! is byte-identical, and broken streams fail with the byte offset.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use qemufile::SliceReader;
use vmstate_cli::check_cmd::{self, CheckArgs};
use vmstate_cli::desc_cmd::{self, DescArgs};
use vmstate_cli::diff_cmd::{self, DiffArgs};
use vmstate_cli::dump_cmd::{self, DumpArgs, DumpFormat};
use vmstate_cli::reencode_cmd::{self, ReencodeArgs};
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::stream::{Event, StreamDecoder, StreamSchema};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn streams(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/streams")
        .join(name)
}

struct Case {
    mig: PathBuf,
    state: PathBuf,
    /// The analyzer's `-d desc` output, when committed.
    desc: Option<PathBuf>,
}

fn cases() -> Vec<Case> {
    let fx = root().join("tests/fixtures");
    let mut v = vec![
        Case {
            mig: fx.join("x86-pc-min.mig"),
            state: fx.join("x86-pc-min.state.json"),
            desc: Some(streams("x86-pc-min.desc.json")),
        },
        Case {
            mig: fx.join("arm-virt-a57.mig"),
            state: fx.join("arm-virt-a57.state.json"),
            desc: Some(streams("arm-virt-a57.desc.json")),
        },
    ];
    for s in ["x86-q35-min", "x86-pc-devices", "x86-pc-running"] {
        v.push(Case {
            mig: streams(&format!("{s}.mig")),
            state: streams(&format!("{s}.state.json")),
            desc: None,
        });
    }
    // The 9.2 machine type stream (no SWITCHOVER_START): the analyzer's
    // output is the same as for x86-pc-min.
    let s92 = root().join("qemufile/tests/data/x86-pc-9.2.mig");
    if s92.exists() {
        v.push(Case {
            mig: s92,
            state: fx.join("x86-pc-min.state.json"),
            desc: None,
        });
    }
    v
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

fn parse(text: &str, what: &Path) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{}: {e}", what.display()))
}

static TEMP: AtomicUsize = AtomicUsize::new(0);

/// A temporary file removed on drop.
struct Temp(PathBuf);

impl Temp {
    fn new(bytes: &[u8]) -> Temp {
        let p = std::env::temp_dir().join(format!(
            "vmstate-cli-test-{}-{}.mig",
            std::process::id(),
            TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&p, bytes).unwrap();
        Temp(p)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn dump_json(mig: &Path, memory: bool) -> (u8, String, String) {
    let args = DumpArgs {
        limits: Default::default(),
        file: Some(mig.to_owned()),
        format: DumpFormat::Json,
        memory,
        vmdesc: None,
    };
    run(|o, e| dump_cmd::run(&args, o, e))
}

fn check(mig: &Path) -> (u8, String, String) {
    run(|o, e| check_cmd::run(&CheckArgs::file(mig), o, e))
}

#[test]
fn dump_json_equals_the_analyzer() {
    for c in cases() {
        let (status, out, err) = dump_json(&c.mig, false);
        assert_eq!(status, 0, "{}: {err}", c.mig.display());
        let expected = std::fs::read_to_string(&c.state).unwrap();
        assert_eq!(
            parse(&out, &c.mig),
            parse(&expected, &c.state),
            "{}",
            c.mig.display()
        );
        // Even the text is the same (Python's indent=4 formatting).
        assert!(
            out == expected,
            "{}: same value, other text",
            c.mig.display()
        );
    }
}

#[test]
fn desc_equals_the_analyzer() {
    for c in cases() {
        let args = DescArgs {
            limits: Default::default(),
            file: c.mig.clone(),
        };
        let (status, out, err) = run(|o, e| desc_cmd::run(&args, o, e));
        assert_eq!(status, 0, "{}: {err}", c.mig.display());
        let expected = match &c.desc {
            Some(d) => parse(&std::fs::read_to_string(d).unwrap(), d),
            None => {
                // The stream's own vmdesc, parsed by another JSON parser.
                let bytes = std::fs::read(&c.mig).unwrap();
                let (_, json) = qemufile::stream::find_vmdesc(&bytes).expect("vmdesc");
                serde_json::from_slice(json).unwrap()
            }
        };
        assert!(parse(&out, &c.mig) == expected, "{}", c.mig.display());
    }
}

#[test]
fn reencode_is_byte_identical() {
    for c in cases() {
        let input = std::fs::read(&c.mig).unwrap();
        let out = Temp::new(b"");
        let args = ReencodeArgs {
            limits: Default::default(),
            file: c.mig.clone(),
            output: out.0.clone(),
            vmdesc: None,
        };
        let (status, _, err) = run(|o, e| reencode_cmd::run(&args, o, e));
        assert_eq!(status, 0, "{}: {err}", c.mig.display());
        let written = std::fs::read(&out.0).unwrap();
        assert!(
            written == input,
            "{}: re-encoded bytes differ",
            c.mig.display()
        );
    }
}

/// A failed re-encode leaves no output, and an existing output as it was;
/// the input cannot be the output.
#[test]
fn reencode_never_leaves_a_partial_output() {
    let good = std::fs::read(root().join("tests/fixtures/x86-pc-min.mig")).unwrap();
    let broken = Temp::new(&good[..good.len() / 2]);
    let out = Temp::new(b"precious");
    let args = ReencodeArgs {
        limits: Default::default(),
        file: broken.0.clone(),
        output: out.0.clone(),
        vmdesc: None,
    };
    let (status, _, err) = run(|o, e| reencode_cmd::run(&args, o, e));
    assert_eq!(status, 1, "{err}");
    assert_eq!(std::fs::read(&out.0).unwrap(), b"precious");
    let dir = out.0.parent().unwrap();
    let stem = out.0.file_name().unwrap().to_string_lossy().into_owned();
    let leftovers = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!(".{stem}"))
        })
        .count();
    assert_eq!(leftovers, 0, "a temporary file was left behind");
    let same = Temp::new(&good);
    let args = ReencodeArgs {
        limits: Default::default(),
        file: same.0.clone(),
        output: same.0.clone(),
        vmdesc: None,
    };
    let (status, _, err) = run(|o, e| reencode_cmd::run(&args, o, e));
    assert_eq!(status, 1);
    assert!(err.contains("is the input"), "{err}");
    assert_eq!(std::fs::read(&same.0).unwrap(), good);
}

/// Bytes after EOF are refused, as `check` refuses them, not dropped: a
/// stream that ends right after its configuration but carries all of its
/// sections and vmdesc after that was re-encoded to its first 26 bytes (found
/// by the `reencode` fuzz target).
#[test]
fn reencode_refuses_bytes_after_the_end_of_the_stream() {
    let good = std::fs::read(root().join("tests/fixtures/x86-pc-min.mig")).unwrap();
    let config_end = {
        let dec = StreamDecoder::open(SliceReader::new(&good), None).unwrap();
        dec.position() as usize
    };
    // EOF and a byte that is no vmdesc, then the rest of the stream, whose
    // vmdesc still ends the file.
    let mut cut = good[..config_end].to_vec();
    cut.extend_from_slice(&[0x00, 0xff]);
    cut.extend_from_slice(&good[config_end..]);
    let input = Temp::new(&cut);
    let (status, _, err) = check(&input.0);
    assert_eq!(status, 1, "check: {err}");
    let out = Temp::new(b"precious");
    let args = ReencodeArgs {
        limits: Default::default(),
        file: input.0.clone(),
        output: out.0.clone(),
        vmdesc: None,
    };
    let (status, _, err) = run(|o, e| reencode_cmd::run(&args, o, e));
    assert_eq!(status, 1, "{err}");
    assert!(
        err.contains(&format!("at byte offset {}", config_end + 1))
            && err.contains("bytes after the end of the stream"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out.0).unwrap(), b"precious");
}

#[test]
fn check_passes_on_qemu_streams() {
    for c in cases() {
        let (status, out, err) = check(&c.mig);
        assert_eq!(status, 0, "{}: {err}", c.mig.display());
        assert!(out.contains(": OK: "), "{out}");
    }
}

#[test]
fn dump_memory_has_every_page() {
    let mig = streams("x86-pc-running.mig");
    let (status, out, err) = dump_json(&mig, true);
    assert_eq!(status, 0, "{err}");
    let v = parse(&out, &mig);
    let mem = v["ram (1)"]["memory"].as_object().expect("memory");
    assert!(mem.len() > 8000, "{}", mem.len());
    let page = mem
        .values()
        .filter_map(|p| p.as_str())
        .find(|p| *p != "Filled with 0x00")
        .expect("a data page");
    assert_eq!(page.len(), 4096 * 3 - 1);
    // The rest is the state dump.
    let plain = parse(&dump_json(&mig, false).1, &mig);
    assert_eq!(v["cpu (4)"], plain["cpu (4)"]);
}

#[test]
fn dump_text_of_the_built_in_sample() {
    let args = DumpArgs {
        limits: Default::default(),
        file: None,
        format: DumpFormat::Text,
        memory: false,
        vmdesc: None,
    };
    let (status, out, err) = run(|o, e| dump_cmd::run(&args, o, e));
    assert_eq!(status, 0, "{err}");
    for line in [
        "configuration.name = (buffer) 0x70632d6934343066782d31302e30",
        "cpu_common.interrupt_request = (uint32) 0x10",
        "cpu.env.regs[2] = (uint64) 0x60fb1",
        "cpu.env.fpregs[0].tmp.tmp_exp = (uint16) 0x0",
        "timer.unused = (unused_buffer) 8 byte(s)",
        "dma.regs[0].now[0] = (int32) 0x0",
        "dma[1].regs[0].now[0] = (int32) 0x0",
        "ram.block[\"pc.ram\"].length = (uint64) 0x2000000",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?}");
    }
    assert!(out.lines().any(|l| l.starts_with("i8259.irr = (uint8) ")));
    // A device-specific type is shown under QEMU's name; its path is the
    // section's idstr and QEMU's vmdesc name of the field.
    assert!(
        out.lines()
            .any(|l| l.starts_with("0000:00:01.0/PIIX3.dev.config[0] = (pci config) 0x8680"))
    );
    // Same as dumping the fixture file.
    let file = DumpArgs {
        limits: Default::default(),
        file: Some(root().join("tests/fixtures/x86-pc-min.mig")),
        ..args
    };
    let (_, from_file, _) = run(|o, e| dump_cmd::run(&file, o, e));
    // No path names two fields.
    let mut paths: Vec<&str> = out.lines().filter_map(|l| l.split(" = (").next()).collect();
    paths.retain(|p| !p.starts_with('#'));
    let n = paths.len();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), n, "duplicate paths in the dump");
    assert_eq!(
        out.lines().skip(1).collect::<Vec<_>>(),
        from_file.lines().skip(1).collect::<Vec<_>>()
    );
}

#[test]
fn diff_shows_fields() {
    let a = root().join("tests/fixtures/x86-pc-min.mig");
    let b = streams("x86-pc-running.mig");
    let args = DiffArgs {
        limits: Default::default(),
        a: a.clone(),
        b: a.clone(),
    };
    let (status, out, _) = run(|o, e| diff_cmd::run(&args, o, e));
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("no differences"));
    let args = DiffArgs {
        limits: Default::default(),
        a,
        b,
    };
    let (status, out, _) = run(|o, e| diff_cmd::run(&args, o, e));
    assert_eq!(status, 1);
    assert!(out.contains("section cpu instance 0:\n"), "{out}");
    assert!(
        out.contains("  cpu.env.eip (uint64): 0xfff0 -> 0xb7ee\n"),
        "{out}"
    );
    assert!(out.contains("page(s) differ"), "{out}");
    let args = DiffArgs {
        limits: Default::default(),
        a: streams("missing.mig"),
        b: streams("x86-pc-running.mig"),
    };
    let (status, _, err) = run(|o, e| diff_cmd::run(&args, o, e));
    assert_eq!(status, 2);
    assert!(err.contains("cannot open"), "{err}");
}

/// Offsets of the device sections of x86-pc-min, and of their footers.
fn sections(bytes: &[u8]) -> Vec<(String, u64, u64)> {
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, bytes).unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(bytes), schema.as_ref()).unwrap();
    let mut v = Vec::new();
    while let Some(ev) = dec.next_event().unwrap() {
        if let Event::Section(h) = ev {
            let at = dec.item_offset();
            dec.skip_section().unwrap();
            v.push((h.idstr.to_string_lossy(), at, dec.position() - 5));
        }
    }
    v
}

/// `check` fails with status 1, the message naming `offset`, and `needle`.
#[track_caller]
fn assert_check_fails(bytes: &[u8], offset: u64, needle: &str) {
    let t = Temp::new(bytes);
    let (status, out, err) = check(&t.0);
    assert_eq!(status, 1, "expected failure, got {out}");
    let at = format!("at byte offset {offset} (0x{offset:x})");
    assert!(err.contains(&at), "{err:?} lacks {at:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    // Dump fails cleanly as well, except where only check's strictness sees it.
    let (status, _, _) = dump_json(&t.0, false);
    assert!(status <= 1);
}

#[test]
fn check_finds_corruption() {
    let good = std::fs::read(root().join("tests/fixtures/x86-pc-min.mig")).unwrap();
    let secs = sections(&good);
    let (_, timer_at, timer_footer) = secs.iter().find(|s| s.0 == "timer").unwrap().clone();
    let (ta, tf) = (timer_at as usize, timer_footer as usize);

    let mut b = good.clone();
    b[0] = b'X';
    assert_check_fails(&b, 0, "Not a migration stream");

    let mut b = good.clone();
    b[7] = 4;
    assert_check_fails(&b, 4, "Unsupported migration stream version");

    let mut b = good.clone();
    b[tf + 4] ^= 0xff;
    assert_check_fails(
        &b,
        timer_footer,
        "Mismatched section id in footer for timer",
    );

    let mut b = good.clone();
    b[tf] = 0x7f;
    assert_check_fails(&b, timer_footer, "Missing section footer for timer");

    let mut b = good.clone();
    b[ta] = 0x09;
    assert_check_fails(&b, timer_at, "Unknown section type 9");

    // "timer" renamed "tamer": not in the vmdesc.
    let mut b = good.clone();
    b[ta + 7] = b'a';
    assert_check_fails(&b, timer_at, "unknown section tamer instance 0");

    // Version 2 -> 3 (too new for the description in the vmdesc).
    let mut b = good.clone();
    let vpos = ta + 1 + 4 + 1 + 5 + 4 + 3;
    assert_eq!(b[vpos], 2);
    b[vpos] = 3;
    assert_check_fails(
        &b,
        timer_at,
        "section timer has version 3, the vmdesc says 2",
    );

    // A field size in the vmdesc that disagrees with the stream: the body
    // then ends one byte later, where the footer is not.
    let needle = br#"{"name": "cpu_ticks_offset", "type": "int64", "size": 8}"#;
    let p = good
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("timer field in vmdesc")
        + needle.len()
        - 2;
    let mut b = good.clone();
    b[p] = b'9';
    assert_check_fails(&b, timer_footer + 1, "Missing section footer for timer");

    // Truncated inside RAM: the stream ends where it ends.
    let t = Temp::new(&good[..200_000]);
    let (status, _, err) = check(&t.0);
    assert_eq!(status, 1);
    // Where the read failed, in which section.
    assert!(err.contains("at byte offset 197517 (0x3038d)"), "{err}");
    assert!(err.contains("device 'ram'"), "{err}");
    assert!(err.contains("unexpected end of stream"), "{err}");

    // Truncated in the vmdesc: no usable vmdesc, so the device sections are
    // checked for framing only, and the vmdesc itself is found cut short.
    let vmdesc_at = qemufile::stream::find_vmdesc(&good).unwrap().0 as u64;
    let cut = &good[..good.len() - 10];
    assert_check_fails(cut, vmdesc_at + 5, "unexpected end of stream");

    // Bytes after the vmdesc.
    let mut b = good.clone();
    b.push(0);
    assert_check_fails(&b, good.len() as u64, "bytes after the vmdesc");

    // Empty file.
    assert_check_fails(b"", 0, "unexpected end of stream");
}

#[test]
fn no_panic_on_damaged_streams() {
    let good = std::fs::read(root().join("tests/fixtures/x86-pc-min.mig")).unwrap();
    let schema_at = qemufile::stream::find_vmdesc(&good).unwrap().0;
    let mut seed: u64 = 0x1234_5678;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    for i in 0..300 {
        let mut b = good.clone();
        // Device sections and the vmdesc are where the decoder works hardest.
        let lo = if i % 2 == 0 { 284_000 } else { 0 };
        let hi = if i % 3 == 0 { good.len() } else { schema_at };
        for _ in 0..(1 + next() % 4) {
            let p = lo + (next() as usize) % (hi - lo);
            b[p] = next() as u8;
        }
        if i % 7 == 0 {
            b.truncate(lo + (next() as usize) % (b.len() - lo));
        }
        let arena = DescriptionArena::new();
        let schema = StreamSchema::from_stream(&arena, &b).ok().flatten();
        if let Ok(mut dec) = StreamDecoder::open(SliceReader::new(&b), schema.as_ref()) {
            while let Ok(Some(ev)) = dec.next_event() {
                if let Event::Section(_) = ev {
                    if let Ok(mut state) = dec.decode_section() {
                        let _ = vmstate_core::dynamic::pretty_print(&mut state);
                    }
                }
            }
        }
        let t = Temp::new(&b);
        let _ = check(&t.0);
    }
}

#[test]
fn the_binary_exit_statuses() {
    let exe = env!("CARGO_BIN_EXE_vmstate");
    let ok = Command::new(exe)
        .args(["check"])
        .arg(root().join("tests/fixtures/arm-virt-a57.mig"))
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let bad = Temp::new(b"QEVM\0\0\0\x03\x07");
    let out = Command::new(exe).arg("check").arg(&bad.0).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("vmstate check: "), "{err}");
    assert!(err.contains("at byte offset 9"), "{err}");
    let out = Command::new(exe)
        .args(["dump", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/x86-pc-min.state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v, expected);
    let out = Command::new(exe)
        .args(["desc", "/nonexistent.mig"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// QEMU writes footer-less streams with `-global
/// migration.send-section-footer=off`: check, dump and reencode handle them.
#[test]
fn footerless_streams_are_checked_dumped_and_reencoded_identically() {
    let mig = root().join("qemufile/tests/data/x86-pc-nofooter.mig");
    let bytes = std::fs::read(&mig).unwrap();
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    assert!(!dec.options().send_section_footer || dec.position() > 0);
    let again = vmstate_core::stream::reencode(&mut dec, Vec::new(), |_| {}).unwrap();
    assert_eq!(again, bytes);
    let out = Command::new(env!("CARGO_BIN_EXE_vmstate"))
        .arg("check")
        .arg(&mig)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every real stream in the repository (x86, ARM, ppc64 with its hash page
/// table, s390x, riscv64, dirty bitmaps, postcopy and return-path captures)
/// checks, dumps as text and JSON, and re-encodes byte-identically through
/// the command; the postcopy capture has no vmdesc and borrows one.
#[test]
fn every_fixture_checks_dumps_and_reencodes() {
    let fx = root().join("tests/fixtures");
    let mut seen = 0;
    for entry in std::fs::read_dir(&fx).unwrap().flatten() {
        let mig = entry.path();
        if mig.extension().is_none_or(|x| x != "mig") {
            continue;
        }
        let name = mig.file_name().unwrap().to_string_lossy().into_owned();
        let vmdesc = name
            .contains("postcopy")
            .then(|| fx.join("x86-pc-return-path.mig"));
        let check = CheckArgs {
            limits: Default::default(),
            vmdesc: vmdesc.clone(),
            ..CheckArgs::file(&mig)
        };
        let (status, out, err) = run(|o, e| check_cmd::run(&check, o, e));
        assert_eq!(status, 0, "{name}: {err}");
        assert!(out.contains(": OK: "), "{name}: {out}");
        for format in [DumpFormat::Text, DumpFormat::Json] {
            let args = DumpArgs {
                limits: Default::default(),
                file: Some(mig.clone()),
                format,
                memory: false,
                vmdesc: vmdesc.clone(),
            };
            let (status, out, err) = run(|o, e| dump_cmd::run(&args, o, e));
            assert_eq!(status, 0, "{name} {format:?}: {err}");
            assert!(!out.is_empty());
        }
        let out = Temp::new(b"");
        let args = ReencodeArgs {
            limits: Default::default(),
            file: mig.clone(),
            output: out.0.clone(),
            vmdesc,
        };
        let (status, _, err) = run(|o, e| reencode_cmd::run(&args, o, e));
        assert_eq!(status, 0, "{name}: {err}");
        assert!(
            std::fs::read(&out.0).unwrap() == std::fs::read(&mig).unwrap(),
            "{name}: re-encoded bytes differ"
        );
        seen += 1;
    }
    assert!(seen >= 10, "{seen} fixtures");
}

/// An iterative section this build does not know: `check` names it and
/// warns, `dump` shows its bytes raw, `reencode` keeps it identical.
#[test]
fn unknown_iterative_sections_are_named_shown_raw_and_kept() {
    let mut bytes = std::fs::read(root().join("tests/fixtures/ppc64-pseries.mig")).unwrap();
    let name = b"spapr/htab";
    let mut i = 0;
    while let Some(p) = bytes[i..].windows(name.len()).position(|w| w == name) {
        let at = i + p;
        // Section headers only (a length byte before the name), not the vmdesc.
        if bytes[at - 1] == name.len() as u8 && bytes[at - 2] != b'"' {
            bytes[at + name.len() - 1] = b'X';
        }
        i = at + 1;
    }
    let t = Temp::new(&bytes);
    let (status, out, err) = check(&t.0);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains(": OK: "), "{out}");
    assert!(
        err.contains("iterative section spapr/htaX (id 562) is not known to this build"),
        "{err}"
    );
    let args = DumpArgs {
        limits: Default::default(),
        file: Some(t.0.clone()),
        format: DumpFormat::Text,
        memory: false,
        vmdesc: None,
    };
    let (status, out, err) = run(|o, e| dump_cmd::run(&args, o, e));
    assert_eq!(status, 0, "{err}");
    assert!(
        out.contains("# 4 byte(s) of an iterative section this build does not know: 0x00000015"),
        "{out}"
    );
    let re = Temp::new(b"");
    let args = ReencodeArgs {
        limits: Default::default(),
        file: t.0.clone(),
        output: re.0.clone(),
        vmdesc: None,
    };
    let (status, _, err) = run(|o, e| reencode_cmd::run(&args, o, e));
    assert_eq!(status, 0, "{err}");
    assert!(std::fs::read(&re.0).unwrap() == bytes);
}

/// `check` refuses RAM pages QEMU refuses: outside their block ("Illegal
/// RAM offset") or naming a block that is not in the block list ("Unknown
/// ramblock").
#[test]
fn check_refuses_ram_pages_qemu_refuses() {
    use qemufile::ram::{RamItem, RamKind};
    use vmstate_core::stream::SectionItem;
    let good = std::fs::read(root().join("tests/fixtures/x86-pc-min.mig")).unwrap();
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &good).unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&good), schema.as_ref()).unwrap();
    // The first data page naming its block, and the first CONTINUE one.
    let (mut named, mut cont) = (None, None);
    while let Some(ev) = dec.next_event().unwrap() {
        if let Event::Item(SectionItem::Ram(RamItem::Record(r))) = ev {
            if r.kind == RamKind::Page {
                let end = dec.position() as usize;
                match &r.block {
                    Some(b) if named.is_none() => named = Some((end, b.as_bytes().len())),
                    None if cont.is_none() => cont = Some(end - 8),
                    _ => {}
                }
            }
        }
    }
    let (end, name_len) = named.unwrap();
    let mut b = good.clone();
    b[end - 1] ^= 0x20; // the block name's last letter
    let record = (end - 8 - 1 - name_len) as u64;
    assert_check_fails(&b, record, "Unknown ramblock");
    let at = cont.unwrap();
    let mut b = good.clone();
    b[at + 2] = 0x01; // the address += 1 TiB
    assert_check_fails(&b, at as u64, "Illegal RAM offset");
}

/// Control characters in names from a stream (here a device idstr made an
/// ESC sequence) are shown escaped, never sent to the terminal; a stream
/// written to standard output stays binary.
#[test]
fn the_binary_keeps_control_characters_off_the_terminal() {
    let exe = env!("CARGO_BIN_EXE_vmstate");
    let good = std::fs::read(root().join("tests/fixtures/x86-pc-min.mig")).unwrap();
    let mut b = good.clone();
    let at = b.windows(5).position(|w| w == b"\x04hpet").unwrap();
    b[at + 1..at + 5].copy_from_slice(b"\x1b[2J");
    let t = Temp::new(&b);
    for args in [&["check"][..], &["dump"], &["dump", "--format", "json"]] {
        let o = Command::new(exe).args(args).arg(&t.0).output().unwrap();
        for text in [&o.stdout, &o.stderr] {
            assert!(!text.contains(&0x1b), "{args:?}: raw ESC in the output");
        }
        let err = String::from_utf8_lossy(&o.stderr);
        if args == ["check"] {
            assert!(err.contains(r"'\x1b[2J'"), "{err}");
        }
    }
    let o = Command::new(exe)
        .args(["reencode"])
        .arg(root().join("tests/fixtures/x86-pc-min.mig"))
        .args(["-o", "-"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(o.stdout == good, "reencode -o - is not the stream");
}

/// A model with an auto-allocated pointer array (QEMU 10.2's
/// `VMS_ARRAY_OF_POINTER_AUTO_ALLOC`): its vmdesc has a `ptr-marker` entry
/// per slot and an entry per present element.
#[derive(vmstate_core::VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "auto", version = 1)]
struct AutoAlloc {
    a: u8,
    #[vmstate(auto_alloc)]
    slots: [Option<u16>; 3],
}

#[test]
fn check_passes_what_the_registry_writes() {
    let mut dev = AutoAlloc {
        a: 1,
        slots: [Some(2), None, Some(3)],
    };
    let mut registry = vmstate_core::registry::Registry::new();
    registry
        .register(&mut dev, Default::default())
        .expect("registered");
    let mut stream = Vec::new();
    registry
        .save(
            &mut stream,
            &vmstate_core::registry::StreamSettings::new("pc-i440fx-10.0"),
        )
        .expect("saved");
    drop(registry);
    let dir = std::env::temp_dir().join(format!("vmstate-own-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("auto.mig");
    std::fs::write(&path, &stream).expect("written");
    let (status, out, err) = check(&path);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(status, 0, "{out}{err}");
    // The decoder reads it with its own vmdesc and writes it back as it was.
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &stream)
        .expect("vmdesc parses")
        .expect("has a vmdesc");
    let mut dec = StreamDecoder::open(SliceReader::new(&stream), Some(&schema)).expect("opens");
    let again = vmstate_core::stream::reencode(&mut dec, Vec::new(), |_| {}).expect("reencodes");
    assert_eq!(again, stream);
}
