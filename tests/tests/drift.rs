//! The drift lock: a recorded wire schema and the check that names every
//! incompatible change and the QEMU rule that applies.

use std::path::PathBuf;

use vmstate_core::VmState;
use vmstate_core::drift::{Change, LockError, LockStatus};
use vmstate_core::schema::{LockMode, check_locked_with};

/// A fresh lock path per test (tests run in parallel).
fn lock_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmstate-drift-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("schemas/dev.json")
}

/// Records `Old`'s schema, then checks `New` against it.
fn drift<Old: VmState, New: VmState>(test: &str) -> Result<LockStatus, LockError> {
    let path = lock_path(test);
    assert_eq!(
        check_locked_with::<Old>(&path, LockMode::VerifyOrRecord).unwrap(),
        LockStatus::Recorded
    );
    assert_eq!(
        check_locked_with::<Old>(&path, LockMode::Verify).unwrap(),
        LockStatus::Unchanged
    );
    check_locked_with::<New>(&path, LockMode::Verify)
}

fn findings(r: Result<LockStatus, LockError>) -> Vec<vmstate_core::drift::Finding> {
    match r {
        Err(LockError::Drift { findings, .. }) => findings,
        other => panic!("expected drift, got {other:?}"),
    }
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct V1 {
    ctrl: u32,
    status: u16,
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[derive(VmState, Default)]
#[vmstate(name = "inner", version = 1)]
struct Inner {
    a: u8,
}

#[derive(VmState, Default)]
#[vmstate(name = "inner", version = 2)]
struct InnerGrown {
    a: u8,
    #[vmstate(since = 2)]
    b: u8,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev/extra", version = 1)]
struct Extra {
    e: u64,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev/more", version = 1)]
struct More {
    m: u8,
}

#[test]
fn identical_layout_passes() {
    assert_eq!(drift::<V1, V1>("same").unwrap(), LockStatus::Unchanged);
}

#[test]
fn missing_lock_in_verify_mode_says_how_to_record() {
    let path = lock_path("missing");
    let err = check_locked_with::<V1>(&path, LockMode::Verify).unwrap_err();
    assert!(matches!(err, LockError::Missing { .. }));
    assert!(err.to_string().contains("VMSTATE_BLESS=1"), "{err}");
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct Added {
    ctrl: u32,
    status: u16,
    mode: u8,
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[test]
fn added_field_without_version_bump_fails() {
    let f = findings(drift::<V1, Added>("added"));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].change, Change::Added);
    assert_eq!(f[0].path, "dev.mode");
    assert!(f[0].message.contains("subsection"), "{}", f[0].message);
    assert!(f[0].message.contains("since = 2"), "{}", f[0].message);
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 2, minimum_version = 1)]
struct Bumped {
    ctrl: u32,
    status: u16,
    #[vmstate(since = 2)]
    mode: u8,
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
    #[vmstate(subsection)]
    more: More,
}

#[test]
fn version_bump_with_since_and_new_subsection_pass() {
    assert_eq!(
        drift::<V1, Bumped>("bumped").unwrap(),
        LockStatus::Unchanged
    );
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct Removed {
    ctrl: u32,
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct KeptAsUnused {
    ctrl: u32,
    #[vmstate(unused = 2)]
    _status: (),
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[test]
fn removed_field_fails_unless_kept_as_unused_bytes() {
    let f = findings(drift::<V1, Removed>("removed"));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].change.clone(), f[0].path.as_str()),
        (Change::Removed, "dev.status")
    );
    assert!(f[0].message.contains("unused = 2"), "{}", f[0].message);
    assert_eq!(
        drift::<V1, KeptAsUnused>("unused").unwrap(),
        LockStatus::Unchanged
    );
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct Resized {
    ctrl: u32,
    status: u32,
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct Retyped {
    ctrl: i32,
    status: u16,
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct Reordered {
    status: u16,
    ctrl: u32,
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct Longer {
    ctrl: u32,
    status: u16,
    regs: [u8; 8],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[test]
fn resized_retyped_reordered_and_lengthened_fail() {
    let f = findings(drift::<V1, Resized>("resized"));
    assert_eq!(f[0].change, Change::Resized { from: 2, to: 4 });
    assert_eq!(f[0].path, "dev.status");

    let f = findings(drift::<V1, Retyped>("retyped"));
    assert_eq!(
        f[0].change,
        Change::Retyped {
            from: "uint32".into(),
            to: "int32".into()
        }
    );

    let f = findings(drift::<V1, Reordered>("reordered"));
    assert_eq!(f[0].change, Change::Reordered);
    assert!(f[0].message.contains("never reorder"), "{}", f[0].message);

    let f = findings(drift::<V1, Longer>("longer"));
    assert_eq!(
        f[0].change,
        Change::LengthChanged {
            from: Some(4),
            to: Some(8)
        }
    );
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 2, minimum_version = 1)]
struct NestedGrown {
    ctrl: u32,
    status: u16,
    regs: [u8; 4],
    inner: InnerGrown,
    #[vmstate(subsection)]
    extra: Extra,
}

#[test]
fn nested_struct_growth_fails_even_with_version_bumps() {
    let f = findings(drift::<V1, NestedGrown>("nested"));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].change.clone(), f[0].path.as_str()),
        (Change::Added, "dev.inner.b")
    );
    assert!(f[0].message.contains("not on the wire"), "{}", f[0].message);
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct SubsectionGone {
    ctrl: u32,
    status: u16,
    regs: [u8; 4],
    inner: Inner,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 0)]
struct V0 {
    ctrl: u32,
    status: u16,
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct Lowered {
    ctrl: u32,
    status: u16,
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 2, minimum_version = 1)]
struct V2 {
    ctrl: u32,
    status: u16,
    regs: [u8; 4],
    inner: Inner,
    #[vmstate(subsection)]
    extra: Extra,
}

#[test]
fn removed_subsection_raised_minimum_lowered_version_fail() {
    let f = findings(drift::<V1, SubsectionGone>("subgone"));
    assert_eq!(
        (f[0].change.clone(), f[0].path.as_str()),
        (Change::SubsectionRemoved, "dev/extra")
    );
    assert!(f[0].message.contains("does not exist"), "{}", f[0].message);

    let f = findings(drift::<V0, Lowered>("minimum"));
    assert_eq!(f[0].change, Change::MinimumRaised { from: 0, to: 1 });

    let f = findings(drift::<V2, Lowered>("lowered"));
    assert_eq!(f[0].change, Change::VersionLowered { from: 2, to: 1 });
}

#[test]
fn lock_files_are_dump_vmstate_json_with_wire_types() {
    let text = vmstate_core::drift::lock_text::<V1>();
    assert!(text.contains("\"vmschkmachine\""), "{text}");
    assert!(text.contains("\"wire_type\": \"uint16\""), "{text}");
    let parsed = vmstate_core::dump::DumpFile::parse(&text).unwrap();
    assert_eq!(parsed.to_json(), text);
}

/// The one-line helper on real device models, against committed lock files.
#[test]
fn real_device_models_are_locked() {
    use vmstate_core::schema::assert_locked;
    use vmstate_tests::devices;
    assert_locked::<devices::i8259::I8259>("schemas/i8259.json");
    assert_locked::<devices::hpet::Hpet>("schemas/hpet.json");
    assert_locked::<devices::mc146818rtc::Mc146818Rtc>("schemas/mc146818rtc.json");
    assert_locked::<devices::pl011::Pl011>("schemas/pl011.json");
}

/// The x86 CPU (`cpu` and its 46 subsections) against its lock file.
#[test]
fn x86_cpu_model_is_locked() {
    vmstate_core::schema::assert_locked::<vmstate_tests::devices::x86_cpu::X86Cpu>(
        "schemas/x86_cpu.json",
    );
}
