//! The drift lock: a committed record of a type's wire schema, and the check
//! that fails when the layout changed in a way that breaks migration.
//!
//! ```no_run
//! # use vmstate_core::VmState;
//! # #[derive(VmState)] #[vmstate(name = "mydev", version = 1)] struct MyDevice { x: u32 }
//! #[test]
//! fn my_device_wire_layout_is_locked() {
//!     vmstate_core::schema::assert_locked::<MyDevice>("schemas/my_device.json");
//! }
//! ```
//!
//! The first run records the schema (QEMU's `-dump-vmstate` format, with
//! each field's wire type); commit the file. Later runs compare the current
//! schema with it and fail, naming the field and the change, when a stream
//! written by the locked build could no longer be loaded by this one (or the
//! reverse, where QEMU's rules promise it). After a deliberate, compatible
//! change (a version bump with `since` fields, a new subsection), re-record
//! with `VMSTATE_BLESS=1 cargo test` and commit the new file. In CI (the `CI`
//! environment variable is set) a missing lock file is an error rather than
//! being recorded.
//!
//! Next to it, [`assert_matches_qemu`](crate::schema::assert_matches_qemu)
//! (in [`crate::equivalence`]) compares a type's schema with QEMU's own, a
//! section of a `-dump-vmstate` file, and lists every difference.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::VmState;
use crate::dump::{DumpDescription, DumpField, DumpFile};

/// The environment variable that re-records lock files.
pub const BLESS_VAR: &str = "VMSTATE_BLESS";

/// The machine name written into lock files (they describe one type, not a machine).
const LOCK_MACHINE: &str = "vmstate-rs schema lock";

/// What changed in the wire layout.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A field appeared without a version bump.
    Added,
    /// A field disappeared.
    Removed,
    /// A field's wire size changed.
    Resized {
        /// Locked size in bytes.
        from: i64,
        /// Current size in bytes.
        to: i64,
    },
    /// A field's wire type changed.
    Retyped {
        /// Locked type.
        from: String,
        /// Current type.
        to: String,
    },
    /// Fields changed order.
    Reordered,
    /// A field's `since` version changed.
    SinceChanged {
        /// Locked version.
        from: i64,
        /// Current version.
        to: i64,
    },
    /// A field gained or lost its `exists` predicate.
    ExistsChanged,
    /// An array's element count changed.
    LengthChanged {
        /// Locked count.
        from: Option<i64>,
        /// Current count.
        to: Option<i64>,
    },
    /// The description's version went down.
    VersionLowered {
        /// Locked version.
        from: i64,
        /// Current version.
        to: i64,
    },
    /// The minimum version went up.
    MinimumRaised {
        /// Locked minimum.
        from: i64,
        /// Current minimum.
        to: i64,
    },
    /// A description or subsection name changed (names are on the wire).
    Renamed {
        /// Locked name.
        from: String,
        /// Current name.
        to: String,
    },
    /// A subsection disappeared.
    SubsectionRemoved,
}

/// One incompatible change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where: `hpet`, `hpet.timer`, `hpet/offset.value`.
    pub path: String,
    /// What changed.
    pub change: Change,
    /// The change and the QEMU rule that applies, in words.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a lock check failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError {
    /// The lock file could not be read, parsed or written.
    File {
        /// The lock file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The lock file is missing and recording is not allowed (CI).
    Missing {
        /// The lock file.
        path: PathBuf,
    },
    /// The layout drifted incompatibly.
    Drift {
        /// The lock file.
        path: PathBuf,
        /// Every incompatible change.
        findings: Vec<Finding>,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::File { path, message } => {
                write!(f, "schema lock {}: {message}", path.display())
            }
            LockError::Missing { path } => write!(
                f,
                "schema lock {} is missing; run the test locally with {BLESS_VAR}=1 to record \
                 it, review and commit it",
                path.display()
            ),
            LockError::Drift { path, findings } => {
                writeln!(
                    f,
                    "the wire layout changed incompatibly since {} was recorded:",
                    path.display()
                )?;
                for finding in findings {
                    writeln!(f, "  - {finding}")?;
                }
                write!(
                    f,
                    "If the change is intended and compatible by QEMU's rules, re-record with \
                     {BLESS_VAR}=1 and commit the lock file."
                )
            }
        }
    }
}

impl std::error::Error for LockError {}

/// How [`check_locked_with`] treats the lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// From the environment: [`LockMode::Bless`] when `VMSTATE_BLESS` is set
    /// (and not `0`); otherwise verify, recording a missing file unless the
    /// `CI` variable is set.
    FromEnv,
    /// Verify; record the file only if it is missing.
    VerifyOrRecord,
    /// Verify; a missing file is an error.
    Verify,
    /// (Re-)record the file unconditionally.
    Bless,
}

impl LockMode {
    fn resolve(self) -> LockMode {
        match self {
            LockMode::FromEnv => {
                if std::env::var_os(BLESS_VAR).is_some_and(|v| v != "0" && !v.is_empty()) {
                    LockMode::Bless
                } else if std::env::var_os("CI").is_some() {
                    LockMode::Verify
                } else {
                    LockMode::VerifyOrRecord
                }
            }
            other => other,
        }
    }
}

/// What [`check_locked`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockStatus {
    /// The layout matches the lock (or differs only compatibly).
    Unchanged,
    /// The lock file was written (first run, or blessed).
    Recorded,
}

/// The lock-file text for `T`: its schema in `-dump-vmstate` format with wire types.
pub fn lock_text<T: VmState>() -> String {
    DumpFile::from_static(LOCK_MACHINE, [(T::DESCRIPTION.name, T::DESCRIPTION)]).to_json()
}

/// Checks `T`'s wire schema against the lock file at `path` (relative paths
/// are relative to the current directory, the package root under `cargo test`),
/// in [`LockMode::FromEnv`].
pub fn check_locked<T: VmState>(path: impl AsRef<Path>) -> Result<LockStatus, LockError> {
    check_locked_with::<T>(path, LockMode::FromEnv)
}

/// Checks `T`'s wire schema against the lock file at `path` in `mode`.
pub fn check_locked_with<T: VmState>(
    path: impl AsRef<Path>,
    mode: LockMode,
) -> Result<LockStatus, LockError> {
    let path = path.as_ref();
    let current = lock_text::<T>();
    let mode = mode.resolve();
    let bless = mode == LockMode::Bless;
    let file_error = |message: String| LockError::File {
        path: path.to_path_buf(),
        message,
    };
    let record = || -> Result<LockStatus, LockError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| file_error(e.to_string()))?;
        }
        std::fs::write(path, &current).map_err(|e| file_error(e.to_string()))?;
        Ok(LockStatus::Recorded)
    };
    if bless {
        return record();
    }
    let locked = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if mode == LockMode::Verify {
                return Err(LockError::Missing {
                    path: path.to_path_buf(),
                });
            }
            return record();
        }
        Err(e) => return Err(file_error(e.to_string())),
    };
    let locked = DumpFile::parse(&locked).map_err(|e| file_error(e.to_string()))?;
    let current = DumpFile::parse(&current).map_err(|e| file_error(e.to_string()))?;
    let (Some(old), Some(new)) = (
        locked.sections.first().and_then(|s| s.description.as_ref()),
        current
            .sections
            .first()
            .and_then(|s| s.description.as_ref()),
    ) else {
        return Err(file_error("the lock file holds no description".into()));
    };
    let findings = compare(old, new);
    if findings.is_empty() {
        Ok(LockStatus::Unchanged)
    } else {
        Err(LockError::Drift {
            path: path.to_path_buf(),
            findings,
        })
    }
}

/// Asserts that `T`'s wire schema still matches the lock file at `path`,
/// recording it on the first run or when `VMSTATE_BLESS=1` is set.
///
/// # Panics
///
/// This is a test assertion: it panics with every incompatible change, the
/// field, and the QEMU rule that applies, when the layout drifted.
pub fn assert_locked<T: VmState>(path: impl AsRef<Path>) {
    if let Err(e) = check_locked::<T>(path) {
        // Panicking is the purpose of a test assertion.
        panic!("{e}");
    }
}

/// The incompatible changes from the `locked` description to the `current`
/// one (both as in a `-dump-vmstate` file with wire types).
pub fn compare(locked: &DumpDescription, current: &DumpDescription) -> Vec<Finding> {
    let mut out = Vec::new();
    let path = locked.name.clone().unwrap_or_default();
    compare_description(&path, locked, current, true, &mut out);
    out
}

fn name_of(d: &DumpDescription) -> &str {
    d.name.as_deref().unwrap_or("")
}

fn field_name(f: &DumpField) -> &str {
    f.field.as_deref().unwrap_or("")
}

fn since(f: &DumpField) -> i64 {
    f.version_id.unwrap_or(0)
}

fn is_unused(f: &DumpField) -> bool {
    f.wire_type.as_deref() == Some("unused_buffer")
}

/// Bytes a field occupies per element times its count, for unused bookkeeping.
fn total_size(f: &DumpField) -> i64 {
    f.size.unwrap_or(0).saturating_mul(f.num.unwrap_or(1))
}

fn push(out: &mut Vec<Finding>, path: String, change: Change, message: String) {
    out.push(Finding {
        path,
        change,
        message,
    });
}

/// Compares two descriptions. `versioned` is false for nested structs, whose
/// version is not on the wire: the destination walks them at its own current
/// version, so a version bump cannot make a nested change compatible.
fn compare_description(
    path: &str,
    old: &DumpDescription,
    new: &DumpDescription,
    versioned: bool,
    out: &mut Vec<Finding>,
) {
    if name_of(old) != name_of(new) && versioned {
        push(
            out,
            path.to_owned(),
            Change::Renamed {
                from: name_of(old).to_owned(),
                to: name_of(new).to_owned(),
            },
            format!(
                "renamed from `{}` to `{}`: the name is on the wire (section idstr, subsection \
                 header), so the other side will not recognise the state. QEMU rule: never \
                 rename; keep the old name",
                name_of(old),
                name_of(new)
            ),
        );
    }
    let (v_old, v_new) = (old.version_id.unwrap_or(0), new.version_id.unwrap_or(0));
    let (m_old, m_new) = (
        old.minimum_version_id.unwrap_or(0),
        new.minimum_version_id.unwrap_or(0),
    );
    if versioned && v_new < v_old {
        push(
            out,
            path.to_owned(),
            Change::VersionLowered {
                from: v_old,
                to: v_new,
            },
            format!(
                "version went down from {v_old} to {v_new}: streams from the locked build would \
                 be refused as too new. QEMU rule: versions only go up"
            ),
        );
    }
    if versioned && m_new > m_old {
        push(
            out,
            path.to_owned(),
            Change::MinimumRaised {
                from: m_old,
                to: m_new,
            },
            format!(
                "minimum_version raised from {m_old} to {m_new}: streams of version {m_old}..{} \
                 can no longer be loaded. QEMU rule: raise the minimum only when dropping \
                 support for those releases on purpose (then re-record the lock)",
                m_new - 1
            ),
        );
    }

    // The fields a stream of the locked version carries, in both builds.
    // With a version bump, fields `since` the new version are not in it; a
    // nested struct has no version on the wire, so all its fields count.
    let old_fields: Vec<&DumpField> = old.fields.iter().flatten().collect();
    let new_fields: Vec<&DumpField> = new
        .fields
        .iter()
        .flatten()
        .filter(|f| !versioned || v_new == v_old || since(f) <= v_old)
        .collect();
    compare_fields(path, &old_fields, &new_fields, versioned, v_old, v_new, out);

    let old_subs = old.subsections.iter().flatten();
    for sub in old_subs {
        let sub_path = name_of(sub).to_owned();
        match new
            .subsections
            .iter()
            .flatten()
            .find(|s| name_of(s) == name_of(sub))
        {
            Some(new_sub) => compare_description(&sub_path, sub, new_sub, true, out),
            None => push(
                out,
                sub_path.clone(),
                Change::SubsectionRemoved,
                format!(
                    "subsection `{sub_path}` was removed: when a source running the locked build \
                     sends it, this build refuses the whole stream (\"VM subsection '{sub_path}' \
                     ... does not exist\"). QEMU rule: keep the subsection (its needed() may \
                     return false), its fields may become unused bytes"
                ),
            ),
        }
    }
}

fn compare_fields(
    path: &str,
    old: &[&DumpField],
    new: &[&DumpField],
    versioned: bool,
    v_old: i64,
    v_new: i64,
    out: &mut Vec<Finding>,
) {
    let mut i = 0;
    let mut j = 0;
    while i < old.len() && j < new.len() {
        let (o, n) = (old[i], new[j]);
        let field_path = format!("{path}.{}", field_name(o));
        if field_name(o) == field_name(n) {
            compare_field(&field_path, o, n, out);
            i += 1;
            j += 1;
            continue;
        }
        // A removed field kept as unused bytes of the same size is compatible,
        // as are unused bytes split or merged (QEMU's checker does the same
        // bookkeeping).
        if is_unused(n) || is_unused(o) {
            let (mut a, mut b) = (total_size(o), total_size(n));
            let (mut ii, mut jj) = (i + 1, j + 1);
            while a != b {
                if a < b && ii < old.len() {
                    a += total_size(old[ii]);
                    ii += 1;
                } else if b < a && jj < new.len() {
                    b += total_size(new[jj]);
                    jj += 1;
                } else {
                    break;
                }
            }
            if a == b {
                i = ii;
                j = jj;
                continue;
            }
        }
        let old_has_n = old[i..].iter().any(|f| field_name(f) == field_name(n));
        let new_has_o = new[j..].iter().any(|f| field_name(f) == field_name(o));
        match (old_has_n, new_has_o) {
            (true, true) => {
                push(
                    out,
                    field_path,
                    Change::Reordered,
                    format!(
                        "fields were reordered: `{}` now comes where `{}` was. The stream has no \
                         field names, so each side would read the other's bytes into the wrong \
                         field. QEMU rule: never reorder fields",
                        field_name(n),
                        field_name(o)
                    ),
                );
                return;
            }
            (false, _) => {
                added(out, path, n, versioned, v_old, v_new);
                j += 1;
            }
            (true, false) => {
                removed(out, &field_path, o);
                i += 1;
            }
        }
    }
    for o in &old[i..] {
        removed(out, &format!("{path}.{}", field_name(o)), o);
    }
    for n in &new[j..] {
        added(out, path, n, versioned, v_old, v_new);
    }
}

fn added(
    out: &mut Vec<Finding>,
    path: &str,
    n: &DumpField,
    versioned: bool,
    v_old: i64,
    v_new: i64,
) {
    let name = field_name(n);
    let hint = if versioned {
        format!(
            "QEMU rule: put new state in a subsection whose needed() is true only when the \
             state matters, or bump the version to {} and mark the field `since = {}` (which \
             breaks migration back to the locked build)",
            v_old + 1,
            v_old + 1
        )
    } else {
        "a nested struct's version is not on the wire (QEMU loads it at the destination's own \
         version), so a version bump cannot help: add the state in a subsection of the \
         enclosing description"
            .to_owned()
    };
    let _ = v_new;
    push(
        out,
        format!("{path}.{name}"),
        Change::Added,
        format!(
            "field `{name}` was added without a version bump: a build with the locked layout \
             reads its bytes as the next field. {hint}"
        ),
    );
}

fn removed(out: &mut Vec<Finding>, field_path: &str, o: &DumpField) {
    let name = field_name(o);
    let size = total_size(o);
    push(
        out,
        field_path.to_owned(),
        Change::Removed,
        format!(
            "field `{name}` ({size} byte(s)) was removed: sources running the locked build still \
             send it. QEMU rule: keep its bytes as `#[vmstate(unused = {size})] _{name}: ()` \
             (VMSTATE_UNUSED), or raise minimum_version to drop those streams on purpose"
        ),
    );
}

fn compare_field(field_path: &str, o: &DumpField, n: &DumpField, out: &mut Vec<Finding>) {
    let name = field_name(o);
    if o.num != n.num {
        push(
            out,
            field_path.to_owned(),
            Change::LengthChanged {
                from: o.num,
                to: n.num,
            },
            format!(
                "array `{name}` changed length from {} to {} elements: the stream layout \
                 changed. QEMU rule: bump the version and send the new elements in a `since` \
                 field or a subsection",
                o.num.map_or("1".into(), |v| v.to_string()),
                n.num.map_or("1".into(), |v| v.to_string())
            ),
        );
    }
    if let (Some(a), Some(b)) = (o.size, n.size) {
        if a != b && o.description.is_none() {
            push(
                out,
                field_path.to_owned(),
                Change::Resized { from: a, to: b },
                format!(
                    "field `{name}` changed size from {a} to {b} byte(s): the other side reads a \
                     different number of bytes. QEMU rule: keep the wire width (convert in \
                     pre_save/post_load), or bump the version and send the new width as a new \
                     `since` field"
                ),
            );
        }
    }
    if let (Some(a), Some(b)) = (&o.wire_type, &n.wire_type) {
        if a != b {
            push(
                out,
                field_path.to_owned(),
                Change::Retyped {
                    from: a.clone(),
                    to: b.clone(),
                },
                format!(
                    "field `{name}` changed type from `{a}` to `{b}`: the bytes mean something \
                     else now (or an `equal` check appeared or disappeared). QEMU rule: keep \
                     the wire type; convert in pre_save/post_load"
                ),
            );
        }
    }
    if since(o) != since(n) {
        push(
            out,
            field_path.to_owned(),
            Change::SinceChanged {
                from: since(o),
                to: since(n),
            },
            format!(
                "field `{name}` changed `since` from {} to {}: streams of the versions in \
                 between disagree on whether it is present",
                since(o),
                since(n)
            ),
        );
    }
    if o.field_exists.unwrap_or(false) != n.field_exists.unwrap_or(false) {
        push(
            out,
            field_path.to_owned(),
            Change::ExistsChanged,
            format!(
                "field `{name}` gained or lost its `exists` predicate: both sides must decide \
                 presence the same way, or data lands in the wrong fields"
            ),
        );
    }
    if let (Some(a), Some(b)) = (&o.description, &n.description) {
        compare_description(field_path, a, b, false, out);
    }
}
