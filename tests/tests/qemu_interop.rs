//! Proof against a real QEMU: streams changed through typed models load into
//! QEMU 10.0, and QEMU really holds the new values (it saves them again).
//!
//! These tests need `qemu-system-x86_64`/`qemu-system-aarch64` (QEMU >= 10.0,
//! installed by `.ci/run` with `../shared/qemu/install-qemu.sh`) and the
//! helper scripts in `../shared/qemu/`. Where either is missing they print a
//! visible `SKIPPED` line and pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use vmstate_core::VmState;
use vmstate_tests::devices::{mc146818rtc::Mc146818Rtc, pl011::Pl011};
use vmstate_tests::scan::scan;

fn shared_qemu() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/qemu")
}

/// The reason the tests cannot run here, if any.
fn unavailable(binary: &str) -> Option<String> {
    if !shared_qemu().join("load-stream.sh").exists() {
        return Some(format!(
            "{} not found",
            shared_qemu().join("load-stream.sh").display()
        ));
    }
    let out = Command::new(binary).arg("--version").output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let version = text
                .split_whitespace()
                .skip_while(|w| *w != "version")
                .nth(1)
                .unwrap_or("0");
            let major: u32 = version
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            (major < 10).then(|| format!("{binary} is {version}, these streams need QEMU >= 10.0"))
        }
        _ => Some(format!("{binary} is not installed")),
    }
}

macro_rules! require_qemu {
    ($binary:expr) => {
        if let Some(why) = unavailable($binary) {
            println!("SKIPPED: {why} (install it with ../shared/qemu/install-qemu.sh)");
            return;
        }
    };
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name),
    )
    .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmstate-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Loads `stream` into the destination QEMU of `scenario` and has it save
/// its state again; returns the re-saved stream.
fn load_and_resave(scenario: &str, stream: &[u8], name: &str) -> Vec<u8> {
    let input = scratch(&format!("{name}.mig"));
    let resaved = scratch(&format!("{name}.resaved.mig"));
    std::fs::write(&input, stream).unwrap();
    let out = Command::new(shared_qemu().join("load-stream.sh"))
        .arg("--resave")
        .arg(&resaved)
        .arg(scenario)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "QEMU refused the stream:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&resaved).unwrap()
}

/// Replaces the body of section `idstr` by `T`'s state after `edit`.
fn edit_section<T: VmState + Clone + Default>(
    stream: &[u8],
    idstr: &str,
    edit: impl FnOnce(&mut T),
) -> Vec<u8> {
    let s = scan(stream).unwrap();
    let section = s.find(idstr, 0).unwrap();
    let mut dev = T::default();
    vmstate_core::load_from_slice(&mut dev, &stream[section.body.clone()], section.version_id)
        .unwrap();
    edit(&mut dev);
    let body = vmstate_core::save_to_vec(&mut dev).unwrap();
    assert_eq!(
        body.len(),
        section.body.len(),
        "same size keeps the vmdesc right"
    );
    [
        &stream[..section.body.start],
        &body[..],
        &stream[section.body.end..],
    ]
    .concat()
}

fn section_state<T: VmState + Clone + Default>(stream: &[u8], idstr: &str) -> T {
    let s = scan(stream).unwrap();
    let section = s.find(idstr, 0).unwrap();
    let mut dev = T::default();
    vmstate_core::load_from_slice(&mut dev, &stream[section.body.clone()], section.version_id)
        .unwrap();
    dev
}

#[test]
fn qemu_accepts_its_own_fixture_and_resaves_it_identically() {
    require_qemu!("qemu-system-x86_64");
    let stream = fixture("x86-pc-min.mig");
    assert_eq!(
        load_and_resave("x86-pc-min", &stream, "pc-identity"),
        stream
    );
}

#[test]
fn a_cmos_byte_changed_through_the_typed_rtc_model_reaches_qemu() {
    require_qemu!("qemu-system-x86_64");
    let stream = fixture("x86-pc-min.mig");
    // CMOS byte 0x5a is in the free NVRAM area; nothing in QEMU rewrites it.
    let before: Mc146818Rtc = section_state(&stream, "mc146818rtc");
    assert_ne!(before.cmos_data[0x5a], 0xa5);
    let edited = edit_section::<Mc146818Rtc>(&stream, "mc146818rtc", |rtc| {
        rtc.cmos_data[0x5a] = 0xa5;
    });
    let resaved = load_and_resave("x86-pc-min", &edited, "pc-cmos");
    let after: Mc146818Rtc = section_state(&resaved, "mc146818rtc");
    assert_eq!(after.cmos_data[0x5a], 0xa5, "QEMU holds the new CMOS byte");
    assert_eq!(resaved, edited, "and everything else exactly as before");
}

#[test]
fn a_pl011_control_register_changed_through_the_typed_model_reaches_qemu() {
    require_qemu!("qemu-system-aarch64");
    let stream = fixture("arm-virt-a57.mig");
    let before: Pl011 = section_state(&stream, "pl011");
    // UARTEN | TXE | RXE | LBE (loopback): a control value the guest did not set.
    let cr = 0x0381;
    assert_ne!(before.cr, cr);
    let edited = edit_section::<Pl011>(&stream, "pl011", |uart| uart.cr = cr);
    let resaved = load_and_resave("arm-virt-a57", &edited, "arm-pl011");
    let after: Pl011 = section_state(&resaved, "pl011");
    assert_eq!(after.cr, cr, "QEMU holds the new control register");
}

#[test]
fn qemu_and_we_refuse_a_section_version_that_is_too_new() {
    require_qemu!("qemu-system-x86_64");
    // hpet's version 2 -> 3 in the section header: QEMU names the problem,
    // and so do we (see the registry and stream tests).
    let stream = fixture("x86-pc-min.mig");
    let s = scan(&stream).unwrap();
    let hpet = s.find("hpet", 0).unwrap();
    let mut bad = stream.clone();
    bad[hpet.body.start - 1] = 3;
    let input = scratch("hpet-v3.mig");
    std::fs::write(&input, &bad).unwrap();
    let out = Command::new(shared_qemu().join("load-stream.sh"))
        .arg("x86-pc-min")
        .arg(&input)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unsupported version 3 for 'hpet' v2"),
        "{stderr}"
    );
    let err = vmstate_core::load_from_slice(
        &mut vmstate_tests::devices::hpet::Hpet::default(),
        &bad[hpet.body.clone()],
        3,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("incoming version_id 3 is too new for local version_id 2"),
        "{err}"
    );
}
