//! One device, `evo`, through seven versions, each making one change:
//!
//! | version | change |
//! |---|---|
//! | 1 | `ctrl: u16`, `mode: u8`, `legacy: u32`, `fifo: [u8; 4]` |
//! | 2 | field added: `irq: u8` (`since = 2`) |
//! | 3 | field removed: `legacy` |
//! | 4 | field renamed: `mode` is `op_mode` (`alias = "mode"`) |
//! | 5 | field widened: `ctrl: u32` |
//! | 6 | array grown: `fifo: [u8; 8]` |
//! | 7 | subsection added: `evo/ext` |
//!
//! Every version's state is loaded into every other version, both ways, in
//! BER and in QEMU's format. The BER outcome follows the rules of
//! `vmstate_core::ber` (computed by [`expect`] from the changes between the
//! two versions, not listed by hand): it succeeds with the right values or
//! fails naming the field. Next to it, QEMU's format, which finds fields by
//! position, either gets it right too (the changes it supports: a field
//! added with its version, a rename, a subsection, loaded forward) or loads
//! wrong values silently or fails without saying what changed.

#[path = "support/oracles.rs"]
mod oracles;

use vmstate_core::qemufile::SliceReader;
use vmstate_core::{ErrorKind, VmState, ber};

/// What every version holds, for comparing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    ctrl: u32,
    mode: u8,
    legacy: Option<u32>,
    fifo: Vec<u8>,
    irq: Option<u8>,
    ext: Option<u64>,
}

trait Evo: VmState + Clone + std::fmt::Debug {
    const VERSION: u32;
    const FIFO: usize;
    fn from(s: &Snapshot) -> Self;
    fn snapshot(&self) -> Snapshot;
}

fn fifo<const N: usize>(v: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, x) in out.iter_mut().zip(v) {
        *o = *x;
    }
    out
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "evo", version = 1, minimum_version = 1)]
struct V1 {
    ctrl: u16,
    mode: u8,
    legacy: u32,
    fifo: [u8; 4],
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "evo", version = 2, minimum_version = 1)]
struct V2 {
    ctrl: u16,
    mode: u8,
    legacy: u32,
    fifo: [u8; 4],
    #[vmstate(since = 2)]
    irq: u8,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "evo", version = 3, minimum_version = 1)]
struct V3 {
    ctrl: u16,
    mode: u8,
    fifo: [u8; 4],
    #[vmstate(since = 2)]
    irq: u8,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "evo", version = 4, minimum_version = 1)]
struct V4 {
    ctrl: u16,
    #[vmstate(alias = "mode")]
    op_mode: u8,
    fifo: [u8; 4],
    #[vmstate(since = 2)]
    irq: u8,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "evo", version = 5, minimum_version = 1)]
struct V5 {
    ctrl: u32,
    #[vmstate(alias = "mode")]
    op_mode: u8,
    fifo: [u8; 4],
    #[vmstate(since = 2)]
    irq: u8,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "evo", version = 6, minimum_version = 1)]
struct V6 {
    ctrl: u32,
    #[vmstate(alias = "mode")]
    op_mode: u8,
    fifo: [u8; 8],
    #[vmstate(since = 2)]
    irq: u8,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "evo", version = 7, minimum_version = 1)]
struct V7 {
    ctrl: u32,
    #[vmstate(alias = "mode")]
    op_mode: u8,
    fifo: [u8; 8],
    #[vmstate(since = 2)]
    irq: u8,
    #[vmstate(subsection)]
    ext: Ext,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "evo/ext", version = 1, minimum_version = 1, needed = Ext::needed)]
struct Ext {
    x: u64,
}

impl Ext {
    fn needed(&self) -> bool {
        self.x != 0
    }
}

impl Evo for V1 {
    const VERSION: u32 = 1;
    const FIFO: usize = 4;
    fn from(s: &Snapshot) -> Self {
        V1 {
            ctrl: s.ctrl as u16,
            mode: s.mode,
            legacy: s.legacy.unwrap_or(0),
            fifo: fifo(&s.fifo),
        }
    }
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            ctrl: self.ctrl.into(),
            mode: self.mode,
            legacy: Some(self.legacy),
            fifo: self.fifo.to_vec(),
            irq: None,
            ext: None,
        }
    }
}

impl Evo for V2 {
    const VERSION: u32 = 2;
    const FIFO: usize = 4;
    fn from(s: &Snapshot) -> Self {
        V2 {
            ctrl: s.ctrl as u16,
            mode: s.mode,
            legacy: s.legacy.unwrap_or(0),
            fifo: fifo(&s.fifo),
            irq: s.irq.unwrap_or(0),
        }
    }
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            irq: Some(self.irq),
            ..V1 {
                ctrl: self.ctrl,
                mode: self.mode,
                legacy: self.legacy,
                fifo: self.fifo,
            }
            .snapshot()
        }
    }
}

macro_rules! later {
    ($t:ident, $version:expr, $ctrl:ty, $mode:ident, $n:expr) => {
        impl Evo for $t {
            const VERSION: u32 = $version;
            const FIFO: usize = $n;
            fn from(s: &Snapshot) -> Self {
                $t {
                    ctrl: s.ctrl as $ctrl,
                    $mode: s.mode,
                    fifo: fifo(&s.fifo),
                    irq: s.irq.unwrap_or(0),
                }
            }
            fn snapshot(&self) -> Snapshot {
                Snapshot {
                    ctrl: self.ctrl.into(),
                    mode: self.$mode,
                    legacy: None,
                    fifo: self.fifo.to_vec(),
                    irq: Some(self.irq),
                    ext: None,
                }
            }
        }
    };
}

later!(V3, 3, u16, mode, 4);
later!(V4, 4, u16, op_mode, 4);
later!(V5, 5, u32, op_mode, 4);
later!(V6, 6, u32, op_mode, 8);

impl Evo for V7 {
    const VERSION: u32 = 7;
    const FIFO: usize = 8;
    fn from(s: &Snapshot) -> Self {
        V7 {
            ctrl: s.ctrl,
            op_mode: s.mode,
            fifo: fifo(&s.fifo),
            irq: s.irq.unwrap_or(0),
            ext: Ext {
                x: s.ext.unwrap_or(0),
            },
        }
    }
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            ext: Some(self.ext.x),
            ..V6 {
                ctrl: self.ctrl,
                op_mode: self.op_mode,
                fifo: self.fifo,
                irq: self.irq,
            }
            .snapshot()
        }
    }
}

/// What a BER load must do, by the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    Fail(&'static str, Why),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Missing,
    Lossy,
    Length,
    UnknownSubsection,
}

/// The change made at each version, as `expect` reads them.
const ADDED_IRQ: u32 = 2;
const REMOVED_LEGACY: u32 = 3;
const RENAMED_MODE: u32 = 4;
const WIDENED_CTRL: u32 = 5;
const GREW_FIFO: u32 = 6;
const ADDED_EXT: u32 = 7;

/// True if the change made at version `change` lies between `a` and `b`.
fn between(a: u32, b: u32, change: u32) -> bool {
    a.min(b) < change && change <= a.max(b)
}

/// The BER outcome of loading state written at version `a` into version
/// `b`: the reader's first field (in its own order: ctrl, mode, legacy,
/// fifo, irq, then subsections) that the rules refuse.
fn expect(a: u32, b: u32, value: &Snapshot) -> Expect {
    let older_reader = b < a;
    if older_reader && b < WIDENED_CTRL && value.ctrl > u32::from(u16::MAX) {
        return Expect::Fail("evo.ctrl", Why::Lossy);
    }
    // The old name has no alias on the old side; a removed field is
    // required by a reader that still has it.
    if older_reader && between(a, b, RENAMED_MODE) {
        return Expect::Fail("evo.mode", Why::Missing);
    }
    if older_reader && between(a, b, REMOVED_LEGACY) {
        return Expect::Fail("evo.legacy", Why::Missing);
    }
    if between(a, b, GREW_FIFO) {
        return Expect::Fail("evo.fifo", Why::Length);
    }
    if older_reader && between(a, b, ADDED_EXT) && value.ext.is_some_and(|x| x != 0) {
        return Expect::Fail("evo", Why::UnknownSubsection);
    }
    Expect::Ok
}

/// The reader's state after a successful BER load, by the rules: fields
/// both have take the writer's value, fields the writer lacks keep the
/// destination's.
fn expected_state(written: &Snapshot, dest: &Snapshot) -> Snapshot {
    Snapshot {
        ctrl: written.ctrl,
        mode: written.mode,
        legacy: dest.legacy.and(written.legacy),
        fifo: written.fifo.clone(),
        irq: dest.irq.map(|d| written.irq.unwrap_or(d)),
        ext: dest
            .ext
            .map(|d| written.ext.filter(|&x| x != 0).unwrap_or(d)),
    }
}

/// What QEMU's format did with the same pair.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Qemu {
    Right,
    WrongSilently { left_over: usize },
    FailedWithoutSaying(String),
}

#[derive(Debug)]
struct Row {
    from: u32,
    to: u32,
    ber: Expect,
    qemu: Qemu,
}

fn sample<A: Evo>(wide: bool) -> Snapshot {
    Snapshot {
        ctrl: if wide && A::VERSION >= WIDENED_CTRL {
            0x12345
        } else {
            0x1234
        },
        mode: 3,
        legacy: (A::VERSION < REMOVED_LEGACY).then_some(0xcafe_f00d),
        fifo: (1..=A::FIFO as u8).collect(),
        irq: (A::VERSION >= ADDED_IRQ).then_some(11),
        ext: (A::VERSION >= ADDED_EXT).then_some(0x77),
    }
}

fn destination<B: Evo>() -> Snapshot {
    Snapshot {
        ctrl: 0xd,
        mode: 0xd,
        legacy: (B::VERSION < REMOVED_LEGACY).then_some(0xd),
        fifo: vec![0xd; B::FIFO],
        irq: (B::VERSION >= ADDED_IRQ).then_some(0xd),
        ext: (B::VERSION >= ADDED_EXT).then_some(0xd),
    }
}

fn pair<A: Evo, B: Evo>(rows: &mut Vec<Row>, wide: bool) {
    let written = sample::<A>(wide);
    let dest = destination::<B>();
    let mut source = A::from(&written);
    assert_eq!(source.snapshot(), written);

    // BER.
    let bytes = ber::save_to_vec(&mut source).unwrap();
    oracles::check_independent_decoders(&format!("evo v{}", A::VERSION), &bytes);
    let mut loaded = B::from(&dest);
    let outcome = ber::load(&mut loaded, &bytes);
    let want = expect(A::VERSION, B::VERSION, &written);
    let context = format!("v{} -> v{} ({written:?})", A::VERSION, B::VERSION);
    match (want, outcome) {
        (Expect::Ok, Ok(report)) => {
            assert_eq!(
                loaded.snapshot(),
                expected_state(&written, &dest),
                "{context}"
            );
            assert_eq!(report.version, A::VERSION);
            // Fields the reader does not have are skipped and listed.
            let skipped: Vec<_> = report
                .unknown_fields
                .iter()
                .map(|u| u.name.as_str())
                .collect();
            let mut unknown = Vec::new();
            if written.legacy.is_some() && dest.legacy.is_none() {
                unknown.push("legacy");
            }
            if written.irq.is_some() && dest.irq.is_none() {
                unknown.push("irq");
            }
            assert_eq!(skipped, unknown, "{context}");
        }
        (Expect::Fail(path, why), Err(e)) => {
            assert_eq!(e.path_string(), path, "{context}: {e}");
            let kind_ok = match why {
                Why::Missing => matches!(e.kind(), ErrorKind::MissingField { .. }),
                Why::Lossy => matches!(e.kind(), ErrorKind::LossyConversion { .. }),
                Why::Length => matches!(e.kind(), ErrorKind::ArrayLength { .. }),
                Why::UnknownSubsection => matches!(e.kind(), ErrorKind::UnknownSubsection { .. }),
            };
            assert!(kind_ok, "{context}: expected {why:?}, got {e}");
            // The message names the field.
            let field = path.rsplit('.').next().unwrap_or(path);
            assert!(e.to_string().contains(field), "{context}: {e}");
            // Transactional: the destination is untouched.
            assert_eq!(loaded.snapshot(), dest, "{context}");
        }
        (want, got) => panic!("{context}: expected {want:?}, got {got:?}"),
    }

    // QEMU's format, the same change: the bytes of version A loaded into
    // version B at version A, as a destination reads a section body (bytes
    // after the state are left to the section footer).
    let bytes = vmstate_core::save_to_vec(&mut source).unwrap();
    let mut q = B::from(&dest);
    let mut reader = SliceReader::new(&bytes);
    let qemu = match vmstate_core::load(&mut q, &mut reader, A::VERSION) {
        Ok(()) => {
            let left_over = reader.remaining().len();
            if want == Expect::Ok
                && left_over == 0
                && q.snapshot() == expected_state(&written, &dest)
            {
                Qemu::Right
            } else {
                Qemu::WrongSilently { left_over }
            }
        }
        Err(e) => {
            // QEMU cannot say which field changed: it refuses the version,
            // or runs out of bytes.
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::VersionTooNew { .. } | ErrorKind::Stream(_)
                ),
                "{context}: QEMU format: {e}"
            );
            Qemu::FailedWithoutSaying(e.to_string())
        }
    };
    rows.push(Row {
        from: A::VERSION,
        to: B::VERSION,
        ber: want,
        qemu,
    });
}

macro_rules! all_pairs {
    ($rows:ident, $wide:expr; $($a:ident)*) => {
        all_pairs!(@outer $rows, $wide; [$($a)*]; $($a)*);
    };
    (@outer $rows:ident, $wide:expr; $all:tt; $($a:ident)*) => {
        $( all_pairs!(@inner $rows, $wide; $a; $all); )*
    };
    (@inner $rows:ident, $wide:expr; $a:ident; [$($b:ident)*]) => {
        $( if <$a as Evo>::VERSION != <$b as Evo>::VERSION { pair::<$a, $b>(&mut $rows, $wide); } )*
    };
}

#[test]
fn every_pair_of_versions_loads_by_the_rules_in_ber_and_not_in_qemus_format() {
    let mut rows = Vec::new();
    all_pairs!(rows, false; V1 V2 V3 V4 V5 V6 V7);
    assert_eq!(rows.len(), 42);
    // The changes QEMU's format handles by itself: loading forward across a
    // field added with its version, a rename and a subsection. Everything
    // else goes wrong there, silently or without naming the field.
    for row in &rows {
        let handled_by_qemu = row.from < row.to
            && !between(row.from, row.to, REMOVED_LEGACY)
            && !between(row.from, row.to, WIDENED_CTRL)
            && !between(row.from, row.to, GREW_FIFO);
        if handled_by_qemu {
            assert_eq!(row.qemu, Qemu::Right, "{row:?}");
            assert_eq!(row.ber, Expect::Ok, "{row:?}");
        } else {
            assert_ne!(row.qemu, Qemu::Right, "{row:?}");
        }
    }
    // Where BER succeeds and QEMU's format does not get it right.
    let rescued = rows
        .iter()
        .filter(|r| r.ber == Expect::Ok && r.qemu != Qemu::Right)
        .count();
    let silent = rows
        .iter()
        .filter(|r| matches!(r.qemu, Qemu::WrongSilently { .. }))
        .count();
    assert!(rescued >= 5, "{rows:#?}");
    assert!(silent >= 5, "{rows:#?}");
    for r in &rows {
        eprintln!(
            "v{} -> v{}: BER {:?}; QEMU {:?}",
            r.from, r.to, r.ber, r.qemu
        );
    }
}

#[test]
fn a_value_that_does_not_fit_the_narrower_field_is_refused_naming_it() {
    let mut rows = Vec::new();
    all_pairs!(rows, true; V5 V6 V7 V1 V2 V3 V4);
    assert!(
        rows.iter()
            .any(|r| r.ber == Expect::Fail("evo.ctrl", Why::Lossy))
    );
}

#[test]
fn a_version_below_the_minimum_and_another_struct_are_refused() {
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "evo", version = 8, minimum_version = 3)]
    struct V8 {
        ctrl: u32,
    }
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "other", version = 1)]
    struct Other {
        ctrl: u32,
    }
    let bytes = ber::save_to_vec(&mut V2::default()).unwrap();
    let e = ber::load(&mut V8::default(), &bytes).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::VersionTooOld {
                incoming: 2,
                minimum: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.path_string(), "evo");
    let e = ber::load(&mut Other::default(), &bytes).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::StructName { .. }), "{e}");
    assert!(e.to_string().contains("'evo'"), "{e}");
    // Newer writers are refused when the options say so.
    let bytes = ber::save_to_vec(&mut V7::default()).unwrap();
    let strict = ber::BerOptions {
        accept_newer: false,
        ..ber::BerOptions::default()
    };
    let e = ber::load_with(&mut V6::default(), &bytes, &strict).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::VersionTooNew {
                incoming: 7,
                local: 6,
                ..
            }
        ),
        "{e}"
    );
    // And missing fields keep the destination's value when asked.
    let bytes = ber::save_to_vec(&mut V3::default()).unwrap();
    let lenient = ber::BerOptions {
        require_fields: false,
        ..ber::BerOptions::default()
    };
    let mut old = V2 {
        legacy: 5,
        ..V2::default()
    };
    ber::load_with(&mut old, &bytes, &lenient).unwrap();
    assert_eq!(old.legacy, 5);
}
