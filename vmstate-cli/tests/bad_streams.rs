//! The corrupted copies of x86-pc-min.mig from `shared/qemu/README.md`:
//! `vmstate check` names the problem QEMU 10.0.2 names, with the byte
//! offset, and (where QEMU is installed) accepts exactly the streams QEMU
//! accepts.

mod common;
use common::{TempDir, shared_qemu};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/x86-pc-min.mig");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

fn splice(d: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut v = d.to_vec();
    v[at..at + bytes.len()].copy_from_slice(bytes);
    v
}

/// One corrupted copy: what `check --machine pc-i440fx-10.0` must say.
struct Case {
    name: &'static str,
    data: Vec<u8>,
    /// QEMU 10.0.2 loads it.
    qemu_accepts: bool,
    /// `check` exits 0.
    ok: bool,
    /// Substrings of stderr (the problem and the byte offset).
    says: Vec<String>,
}

fn cases() -> Vec<Case> {
    let d = fixture();
    // hpet: FULL section 0x15 at 290963: 04 | be32 0x15 | 04 "hpet" | be32 instance | be32 version.
    let hpet = find(&d, b"\x04\x00\x00\x00\x15\x04hpet");
    let version = hpet + 1 + 4 + 5 + 4;
    let body = version + 4;
    // Its footer: 7e be32 0x15 right before the next section (i8254, id 0x16).
    let footer = find(&d, b"\x7e\x00\x00\x00\x15\x04\x00\x00\x00\x16");
    let eof = d.windows(2).rposition(|w| w == b"\x00\x06").unwrap();
    // The vmdesc: 06 | be32 len | JSON, after the EOF byte.
    let vmdesc = eof + 1;
    assert_eq!(d[eof], 0);
    assert_eq!(d[vmdesc], 6);
    let machine = find(&d, b"pc-i440fx-10.0");
    let runstate = find(&d, b"\x00\x00\x00\x0aprelaunch\x00");
    let mut garbage = d[..vmdesc + 5].to_vec();
    garbage.resize(d.len(), b'x');
    vec![
        Case {
            name: "vmdesc-stripped",
            data: d[..=eof].to_vec(),
            qemu_accepts: true,
            ok: true,
            says: vec![
                "warning".into(),
                "Expected vmdescription section, but got 0".into(),
                "framing only".into(),
            ],
        },
        Case {
            name: "vmdesc-garbage",
            data: garbage,
            qemu_accepts: true,
            ok: true,
            says: vec![
                "warning".into(),
                format!("at byte offset {vmdesc}"),
                "the vmdesc is not usable".into(),
            ],
        },
        Case {
            name: "hpet-footer-999",
            data: splice(&d, footer + 1, &999u32.to_be_bytes()),
            qemu_accepts: false,
            ok: false,
            says: vec![
                format!("at byte offset {footer}"),
                "Mismatched section id in footer for hpet - read 0x3e7 expected 0x15".into(),
            ],
        },
        Case {
            name: "hpet-v3",
            data: splice(&d, version, &3u32.to_be_bytes()),
            qemu_accepts: false,
            ok: false,
            says: vec![
                format!("at byte offset {hpet}"),
                "section hpet has version 3, the vmdesc says 2".into(),
                "savevm: unsupported version 3 for 'hpet' v2".into(),
            ],
        },
        Case {
            name: "hpet-v1",
            data: splice(&d, version, &1u32.to_be_bytes()),
            qemu_accepts: false,
            ok: false,
            says: vec![
                format!("at byte offset {hpet}"),
                "section hpet has version 1, the vmdesc says 2".into(),
            ],
        },
        Case {
            name: "idstr-hpeX",
            data: splice(&d, hpet + 6, b"hpeX"),
            qemu_accepts: false,
            ok: false,
            says: vec![
                format!("at byte offset {hpet}"),
                "Unknown savevm section or instance 'hpeX' 0".into(),
            ],
        },
        Case {
            name: "truncated-in-hpet",
            data: d[..body + 10].to_vec(),
            qemu_accepts: false,
            ok: false,
            says: vec![
                format!("at byte offset {hpet}"),
                "the stream ends inside section hpet".into(),
                "error while loading state for instance 0x0 of device 'hpet'".into(),
            ],
        },
        Case {
            name: "magic-QEVX",
            data: splice(&d, 0, b"QEVX"),
            qemu_accepts: false,
            ok: false,
            says: vec!["at byte offset 0".into(), "Not a migration stream".into()],
        },
        Case {
            name: "machine-10.1",
            data: splice(&d, machine, b"pc-i440fx-10.1"),
            qemu_accepts: false,
            ok: false,
            says: vec![
                "at byte offset 8".into(),
                "Machine type received is 'pc-i440fx-10.1' and local is 'pc-i440fx-10.0'".into(),
            ],
        },
        Case {
            name: "runstate-running",
            data: splice(&d, runstate, b"\x00\x00\x00\x08running\x00\x00\x00"),
            qemu_accepts: true,
            ok: true,
            says: vec![],
        },
    ]
}

fn write_cases(dir: &Path) -> Vec<(Case, PathBuf)> {
    cases()
        .into_iter()
        .map(|c| {
            let p = dir.join(format!("{}.mig", c.name));
            std::fs::write(&p, &c.data).unwrap();
            (c, p)
        })
        .collect()
}

fn check(path: &Path, machine: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmstate"));
    cmd.arg("check").arg(path);
    if let Some(m) = machine {
        cmd.args(["--machine", m]);
    }
    let o = cmd.output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn check_names_the_problem_qemu_names() {
    let dir = TempDir::new("bad");
    for (c, p) in write_cases(&dir.0) {
        let (ok, out, err) = check(&p, Some("pc-i440fx-10.0"));
        println!("{}: ok={ok}\n  {}  {}", c.name, out.trim(), err.trim());
        assert_eq!(ok, c.ok, "{}: {out}{err}", c.name);
        for s in &c.says {
            assert!(err.contains(s.as_str()), "{}: {s:?} not in {err}", c.name);
        }
        if c.ok {
            assert!(out.contains(": OK"), "{}: {out}", c.name);
        }
    }
}

#[test]
fn machine_is_only_compared_when_asked() {
    let dir = TempDir::new("machine");
    let d = fixture();
    let m = find(&d, b"pc-i440fx-10.0");
    let p = dir.0.join("m.mig");
    std::fs::write(&p, splice(&d, m, b"pc-i440fx-10.1")).unwrap();
    let (ok, out, _) = check(&p, None);
    assert!(ok && out.contains("machine pc-i440fx-10.1"), "{out}");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/x86-pc-min.mig");
    assert!(check(&good, Some("pc-i440fx-10.0")).0);
}

#[test]
fn qemu_agrees_with_check() {
    let Some(shared) = shared_qemu() else {
        return;
    };
    let dir = TempDir::new("bad-qemu");
    let cases = write_cases(&dir.0);
    // Load them three at a time (each load starts a QEMU, ~0.8 s).
    for chunk in cases.chunks(3) {
        let children: Vec<_> = chunk
            .iter()
            .map(|(_, p)| {
                Command::new(shared.join("load-stream.sh"))
                    .args(["--timeout", "30", "x86-pc-min"])
                    .arg(p)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for ((c, p), child) in chunk.iter().zip(children) {
            let o = child.wait_with_output().unwrap();
            let qemu_ok = o.status.success();
            let qerr = String::from_utf8_lossy(&o.stderr);
            println!("{}: QEMU accepts={qemu_ok}: {}", c.name, qerr.trim());
            assert_eq!(qemu_ok, c.qemu_accepts, "{}: QEMU said {qerr}", c.name);
            let (ours, _, err) = check(p, Some("pc-i440fx-10.0"));
            assert_eq!(
                ours, qemu_ok,
                "{}: check disagrees with QEMU: {err}",
                c.name
            );
        }
    }
}
