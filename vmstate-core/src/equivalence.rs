//! The equivalence check: a derived description against QEMU's own, as
//! `-dump-vmstate` shows it.
//!
//! ```no_run
//! # use vmstate_core::VmState;
//! # #[derive(VmState)] #[vmstate(name = "hpet", version = 2, minimum_version = 1)] struct Hpet { config: u64 }
//! #[test]
//! fn hpet_matches_qemu() {
//!     vmstate_core::schema::assert_matches_qemu::<Hpet>("qemu-dumps/pc-10.0.2.json", "hpet");
//! }
//! ```
//!
//! The drift lock ([`crate::drift`]) protects a model against itself: it
//! fails when the model changes incompatibly. This check compares the model
//! with the device it claims to be: `qemu-system-x86_64 -M pc -dump-vmstate
//! FILE` writes every VMState description of a QEMU binary, and
//! [`assert_matches_qemu`] fails, listing every difference by field path
//! (`hpet.num_timers_save`, `hpet.timer[].cmp`, `hpet/offset.hpet_offset`),
//! unless the model's [`Description`] says what QEMU's does.
//!
//! * [`assert_matches_qemu`]`::<T>(dump, section)`: the test assertion
//!   (re-exported as `vmstate_core::schema::assert_matches_qemu`, next to
//!   the drift lock's `assert_locked`);
//! * [`check_matches_qemu`]: the same as a `Result`, whose
//!   [`EquivalenceError::Differs`] prints what the assertion panics with;
//! * [`qemu_differences`]: the list of [`Difference`]s, empty when the model
//!   matches (an error only when the dump cannot be read or has no such
//!   section);
//! * [`differences_in`], [`compare_section`], [`compare`]: the same on a
//!   dump, section or description the caller already parsed.
//!
//! # What is compared
//!
//! Both sides are taken as `-dump-vmstate` shows them (the model through
//! [`DumpField::from_static`], so `VMSTATE_VALIDATE` fields are left out and
//! `unused` fields are named `unused` on both sides):
//!
//! * the name of the section description (the idstr on the wire), of every
//!   nested struct, and of every subsection;
//! * `version_id` and `minimum_version_id` of the section, of every
//!   subsection and of every nested struct;
//! * the fields, aligned by name (a longest common subsequence): a field only
//!   QEMU has, a field only the model has, a field at another position, a
//!   field with another name at the same position;
//! * for each field: its `version_id` (`since`), `field_exists` (an `exists`
//!   test), `num` (the length of a fixed array), `size` (bytes per element,
//!   for fields that are not structs), and whether it is a nested struct
//!   (`struct`/`vstruct`, also as array elements, `tmp`, lists and trees),
//!   whose description is then compared the same way;
//! * `"wire_type"`, when both dumps have it (QEMU's never do: the
//!   [extension](crate::dump#extension-wire_type) is ours);
//! * subsections: those only QEMU has, those only the model has, and their
//!   order.
//!
//! Each [`Difference`] says what QEMU has, what the model has and what it
//! does to migration, and carries an [`Effect`]: whether migration between
//! the model and this QEMU breaks, only streams of older versions are
//! affected, the bytes are the same and only the vmdesc or the dump shows
//! the difference (a renamed field, a renamed nested struct, the order of
//! subsections), or the dump cannot tell (a device-specific `VMStateInfo`
//! of QEMU's against a model's `tmp` struct).
//!
//! QEMU's own `scripts/vmstate-static-checker.py` (and [`crate::compat`])
//! answers another question: whether a source dump can migrate to a
//! destination dump. It goes one way, stops at the first field that does
//! not match, and lets compatible changes pass; this check goes both ways
//! and lists everything that is not the same.
//!
//! # What the dump cannot tell
//!
//! QEMU's dump has no wire types, so `uint32` against `int32` or
//! `uint32 equal`, or a counted array against a `qtailq` of the same
//! element, look the same; which field holds an array's count is not in it
//! either, nor the version a `VMSTATE_VSTRUCT` pins (the model's
//! `struct_version` is taken to be QEMU's), nor when a subsection is sent
//! (its `needed` test: neither side's description has it), nor whether an
//! `exists` test decides the same way. QEMU's `"size"` is the C in-memory size of one element, which
//! is the wire size for every integer, `bool`, `CPU_Double_U`, buffer,
//! `unused` field and timer pointer (`VMSTATE_TIMER_PTR`); a
//! `VMSTATE_TIMER` embeds the C struct, whose size QEMU shows instead. Sizes
//! of struct fields are not compared (their fields are). `"num"` is
//! written by QEMU 8.1 and newer: use dumps of those.
//!
//! # Which section
//!
//! The dump is keyed by QOM type name (`"isa-i8259"`, `"fw_cfg_io"`), the
//! stream by the description's name (`"i8259"`, `"fw_cfg"`). The `section`
//! argument may be either: a QOM type name is used as is; otherwise the
//! sections whose description has that name are used if they all have the
//! same description (`i8259` is `isa-i8259`, `kvm-i8259` and `pic-common`),
//! and the check fails naming them if they differ.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::dump::{DumpDescription, DumpField, DumpFile, DumpSection};
use crate::{Description, FieldDescription, Layout, VmState};

/// One difference between a model and QEMU's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where, in QEMU's names: `hpet` (the section), `hpet.num_timers_save`
    /// (a field), `hpet.timer[].cmp` (a field of the struct elements of an
    /// array), `hpet/offset` (a subsection), `PIIX3.dev.config[1]` (the
    /// second field named `config`, numbered as QEMU's vmdesc numbers
    /// repeated names). A field only the model has is named as the model
    /// names it.
    pub path: String,
    /// What differs, with both values.
    pub kind: DifferenceKind,
    /// What it does to migration.
    pub effect: Effect,
    /// What QEMU has, what the model has, and what breaks, in words.
    pub message: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.path, self.message, self.effect)
    }
}

/// What differs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DifferenceKind {
    /// The description (of the section, or of a nested struct) has another name.
    Name {
        /// QEMU's name.
        qemu: String,
        /// The model's name.
        model: String,
    },
    /// `version_id` differs.
    Version {
        /// QEMU's version.
        qemu: i64,
        /// The model's version.
        model: i64,
    },
    /// `minimum_version_id` differs.
    MinimumVersion {
        /// QEMU's minimum.
        qemu: i64,
        /// The model's minimum.
        model: i64,
    },
    /// QEMU has a field the model lacks.
    MissingField,
    /// The model has a field QEMU lacks.
    ExtraField,
    /// Both have a field of this name, at different positions.
    FieldOrder {
        /// Its position among QEMU's fields (0-based, `VMSTATE_VALIDATE` not counted).
        qemu: usize,
        /// Its position among the model's fields.
        model: usize,
    },
    /// The field at this position has another name in the model.
    FieldName {
        /// QEMU's name.
        qemu: String,
        /// The model's name.
        model: String,
    },
    /// The field's `version_id` (the model's `since`) differs.
    FieldVersion {
        /// QEMU's.
        qemu: i64,
        /// The model's.
        model: i64,
    },
    /// One side decides with an `exists` test whether the field is sent.
    FieldExists {
        /// QEMU's `field_exists`.
        qemu: bool,
        /// The model's.
        model: bool,
    },
    /// The element count of a fixed array differs (`None`: not a fixed array).
    Num {
        /// QEMU's `num`.
        qemu: Option<i64>,
        /// The model's.
        model: Option<i64>,
    },
    /// The bytes of one element differ.
    Size {
        /// QEMU's `size`.
        qemu: i64,
        /// The model's.
        model: i64,
    },
    /// One side sends a nested struct, the other a plain value.
    Nesting {
        /// QEMU's nested description, if any.
        qemu: Option<String>,
        /// The model's nested description, if any.
        model: Option<String>,
    },
    /// The `"wire_type"` differs (only when both dumps have it).
    WireType {
        /// QEMU's side.
        qemu: String,
        /// The model's.
        model: String,
    },
    /// QEMU has a subsection the model lacks.
    MissingSubsection,
    /// The model has a subsection QEMU lacks.
    ExtraSubsection,
    /// The subsections both have come in another order.
    SubsectionOrder {
        /// QEMU's order.
        qemu: Vec<String>,
        /// The model's order.
        model: Vec<String>,
    },
}

/// What a [`Difference`] does to migration between the model and this QEMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Streams of the current versions fail to load or are misread, in at
    /// least one direction.
    Breaks,
    /// Current streams are fine; streams of older versions (from older QEMU
    /// releases) load differently or are refused by one side.
    OlderStreams,
    /// The stream bytes load the same on both sides; the vmdesc, the dump
    /// or the byte order of subsections differ.
    Compatible,
    /// The dump does not say enough to tell whether the bytes agree (a
    /// device-specific `VMStateInfo` of QEMU's against a model's `tmp`
    /// struct): compare real streams.
    Unknown,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Breaks => "breaks migration",
            Effect::OlderStreams => "older streams only",
            Effect::Compatible => "wire-compatible",
            Effect::Unknown => "the dump cannot tell",
        })
    }
}

/// Why a check against QEMU could not be made, or failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum EquivalenceError {
    /// The dump could not be read or parsed.
    File {
        /// The dump file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The dump has no such section.
    NoSection {
        /// The dump file.
        path: PathBuf,
        /// The section asked for.
        section: String,
        /// Sections with a similar name (QOM type name or description name).
        similar: Vec<String>,
    },
    /// The name is no QOM type name, and the sections whose description has
    /// that name differ: name one of them.
    Ambiguous {
        /// The dump file.
        path: PathBuf,
        /// The section asked for.
        section: String,
        /// The QOM type names of those sections.
        candidates: Vec<String>,
    },
    /// The section has no `"Description"`.
    NoDescription {
        /// The dump file.
        path: PathBuf,
        /// The section (QOM type name).
        section: String,
    },
    /// The model differs from QEMU's description.
    Differs {
        /// The dump file.
        path: PathBuf,
        /// The section compared (QOM type name).
        section: String,
        /// The dump's machine type, if it has one.
        machine: Option<String>,
        /// The model's description name.
        model: String,
        /// Every difference.
        differences: Vec<Difference>,
    },
}

impl fmt::Display for EquivalenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EquivalenceError::File { path, message } => {
                write!(f, "{}: {message}", dump_name(path))
            }
            EquivalenceError::NoSection {
                path,
                section,
                similar,
            } => {
                write!(
                    f,
                    "{} has no section `{section}` (neither a QOM type name nor a description \
                     name)",
                    dump_name(path)
                )?;
                if !similar.is_empty() {
                    write!(f, "; similar: {}", similar.join(", "))?;
                }
                Ok(())
            }
            EquivalenceError::Ambiguous {
                path,
                section,
                candidates,
            } => write!(
                f,
                "{}: the sections whose description is named `{section}` differ ({}); name \
                 the QOM type to compare with",
                dump_name(path),
                candidates.join(", ")
            ),
            EquivalenceError::NoDescription { path, section } => write!(
                f,
                "{}: section `{section}` has no \"Description\"",
                dump_name(path)
            ),
            EquivalenceError::Differs {
                path,
                section,
                machine,
                model,
                differences,
            } => {
                write!(
                    f,
                    "the model `{model}` differs from QEMU's section `{section}`"
                )?;
                if !path.as_os_str().is_empty() {
                    write!(f, " in {}", path.display())?;
                }
                if let Some(m) = machine {
                    write!(f, " (machine {m})")?;
                }
                writeln!(f, "; {} difference(s):", differences.len())?;
                for d in differences {
                    writeln!(f, "  - {d}")?;
                }
                write!(
                    f,
                    "Make the model say what QEMU's VMStateDescription says (names, types, \
                     versions, subsections), or, where QEMU itself changed, compare with a dump \
                     of the QEMU release the model follows."
                )
            }
        }
    }
}

impl std::error::Error for EquivalenceError {}

/// `QEMU dump FILE`, or `the QEMU dump` for a dump parsed by the caller.
fn dump_name(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        "the QEMU dump".to_owned()
    } else {
        format!("QEMU dump {}", path.display())
    }
}

/// Asserts that `T`'s description is QEMU's for `section` in the
/// `-dump-vmstate` file at `dump` (relative paths are relative to the
/// current directory, the package root under `cargo test`).
///
/// # Panics
///
/// This is a test assertion: it panics with every difference (its field
/// path, what QEMU has, what the model has, what breaks), or if the dump
/// cannot be read or has no such section.
pub fn assert_matches_qemu<T: VmState>(dump: impl AsRef<Path>, section: &str) {
    if let Err(e) = check_matches_qemu::<T>(dump, section) {
        // Panicking is the purpose of a test assertion.
        panic!("{e}");
    }
}

/// Checks `T`'s description against QEMU's for `section` in the dump at
/// `dump`: `Ok` when there is no difference, [`EquivalenceError::Differs`]
/// with every difference otherwise.
pub fn check_matches_qemu<T: VmState>(
    dump: impl AsRef<Path>,
    section: &str,
) -> Result<(), EquivalenceError> {
    let path = dump.as_ref();
    let file = read_dump(path)?;
    let found = find_section(&file, section).map_err(|e| e.at(path))?;
    let differences = compare_section(T::DESCRIPTION, found).map_err(|e| e.at(path))?;
    if differences.is_empty() {
        Ok(())
    } else {
        Err(EquivalenceError::Differs {
            path: path.to_path_buf(),
            section: found.qom_name.clone(),
            machine: file.machine_name().map(str::to_owned),
            model: T::DESCRIPTION.name.to_owned(),
            differences,
        })
    }
}

/// Every difference between `T`'s description and QEMU's for `section` in
/// the dump at `dump` (empty when they match). Errors only when the dump
/// cannot be read or has no such section.
pub fn qemu_differences<T: VmState>(
    dump: impl AsRef<Path>,
    section: &str,
) -> Result<Vec<Difference>, EquivalenceError> {
    let path = dump.as_ref();
    let file = read_dump(path)?;
    differences_in(&file, section, T::DESCRIPTION).map_err(|e| e.at(path))
}

/// Every difference between `model` and QEMU's description for `section`
/// of an already parsed dump (errors name no file).
pub fn differences_in(
    dump: &DumpFile,
    section: &str,
    model: &'static Description<'static>,
) -> Result<Vec<Difference>, EquivalenceError> {
    compare_section(model, find_section(dump, section)?)
}

fn read_dump(path: &Path) -> Result<DumpFile, EquivalenceError> {
    let file_error = |message: String| EquivalenceError::File {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    DumpFile::parse(&text).map_err(|e| file_error(e.to_string()))
}

impl EquivalenceError {
    /// The same error, naming the dump file `path`.
    fn at(self, path: &Path) -> EquivalenceError {
        let path = path.to_path_buf();
        match self {
            EquivalenceError::File { message, .. } => EquivalenceError::File { path, message },
            EquivalenceError::NoSection {
                section, similar, ..
            } => EquivalenceError::NoSection {
                path,
                section,
                similar,
            },
            EquivalenceError::Ambiguous {
                section,
                candidates,
                ..
            } => EquivalenceError::Ambiguous {
                path,
                section,
                candidates,
            },
            EquivalenceError::NoDescription { section, .. } => {
                EquivalenceError::NoDescription { path, section }
            }
            EquivalenceError::Differs {
                section,
                machine,
                model,
                differences,
                ..
            } => EquivalenceError::Differs {
                path,
                section,
                machine,
                model,
                differences,
            },
        }
    }
}

/// The section `section` of `dump`: the one with that QOM type name, else the
/// sections whose description has that name, if they all agree (see the
/// [module docs](self#which-section)).
pub fn find_section<'a>(
    dump: &'a DumpFile,
    section: &str,
) -> Result<&'a DumpSection, EquivalenceError> {
    if let Some(s) = dump.section(section) {
        return Ok(s);
    }
    let named: Vec<&DumpSection> = dump
        .sections
        .iter()
        .filter(|s| {
            s.description
                .as_ref()
                .is_some_and(|d| d.name.as_deref() == Some(section))
        })
        .collect();
    match named.split_first() {
        Some((first, rest)) => {
            if rest.iter().all(|s| s.description == first.description) {
                Ok(first)
            } else {
                Err(EquivalenceError::Ambiguous {
                    path: PathBuf::new(),
                    section: section.to_owned(),
                    candidates: named.iter().map(|s| s.qom_name.clone()).collect(),
                })
            }
        }
        None => {
            let needle = section.to_ascii_lowercase();
            let similar = dump
                .sections
                .iter()
                .filter(|s| {
                    let desc = s
                        .description
                        .as_ref()
                        .and_then(|d| d.name.as_deref())
                        .unwrap_or("");
                    [s.qom_name.as_str(), desc]
                        .iter()
                        .any(|n| n.to_ascii_lowercase().contains(&needle))
                })
                .map(|s| s.qom_name.clone())
                .take(10)
                .collect();
            Err(EquivalenceError::NoSection {
                path: PathBuf::new(),
                section: section.to_owned(),
                similar,
            })
        }
    }
}

/// Every difference between `model` and the description of QEMU's `section`.
pub fn compare_section(
    model: &'static Description<'static>,
    section: &DumpSection,
) -> Result<Vec<Difference>, EquivalenceError> {
    let Some(qemu) = &section.description else {
        return Err(EquivalenceError::NoDescription {
            path: PathBuf::new(),
            section: section.qom_name.clone(),
        });
    };
    Ok(compare(model, qemu))
}

/// Every difference between `model` and `qemu`, a section's description as
/// QEMU's `-dump-vmstate` writes it.
pub fn compare(model: &'static Description<'static>, qemu: &DumpDescription) -> Vec<Difference> {
    let mut out = Vec::new();
    let path = qemu.name.clone().unwrap_or_else(|| model.name.to_owned());
    compare_description(&path, qemu, model, Level::Section, &mut out);
    out
}

/// Where a description is: its version is on the wire for sections and
/// subsections, not for nested structs (each side walks those at its own
/// version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Section,
    Subsection,
    /// A nested struct, at the version the model's field pins
    /// (`VMSTATE_VSTRUCT`), if it pins one.
    Nested {
        pinned: Option<u32>,
    },
}

impl Level {
    fn versioned(self) -> bool {
        !matches!(self, Level::Nested { .. })
    }
}

/// The versions of one description on both sides.
#[derive(Clone, Copy)]
struct Versions {
    qemu: i64,
    qemu_min: i64,
    model: i64,
    model_min: i64,
    /// The version each side walks a nested struct at: its own, or the one
    /// the model's field pins (QEMU's pin is not in the dump: taken to be
    /// the same).
    walk_qemu: i64,
    walk_model: i64,
}

fn push(out: &mut Vec<Difference>, path: &str, kind: DifferenceKind, effect: Effect, m: String) {
    out.push(Difference {
        path: path.to_owned(),
        kind,
        effect,
        message: m,
    });
}

fn compare_description(
    path: &str,
    qemu: &DumpDescription,
    model: &'static Description<'static>,
    level: Level,
    out: &mut Vec<Difference>,
) {
    let q_name = qemu.name.as_deref().unwrap_or("");
    if q_name != model.name {
        let (effect, why) = match level {
            Level::Nested { .. } => (
                Effect::Compatible,
                "A nested struct's name is not in the stream, so the bytes are the same, but the \
                 vmdesc names it (`vmsd_name`), and analyze-migration and vmdesc comparisons \
                 show the difference",
            ),
            _ => (
                Effect::Breaks,
                "The name is the section's idstr on the wire: QEMU finds no handler for the \
                 model's section, and the model none for QEMU's (\"Unknown savevm section or \
                 instance\")",
            ),
        };
        push(
            out,
            path,
            DifferenceKind::Name {
                qemu: q_name.to_owned(),
                model: model.name.to_owned(),
            },
            effect,
            format!(
                "QEMU's description is named `{q_name}`, the model's `{}`. {why}",
                model.name
            ),
        );
    }
    let (q_version, m_version) = (qemu.version_id.unwrap_or(0), i64::from(model.version_id));
    let (walk_qemu, walk_model) = match level {
        Level::Nested {
            pinned: Some(pinned),
        } => (i64::from(pinned), i64::from(pinned)),
        _ => (q_version, m_version),
    };
    let v = Versions {
        qemu: q_version,
        qemu_min: qemu.minimum_version_id.unwrap_or(0),
        model: m_version,
        model_min: i64::from(model.minimum_version_id),
        walk_qemu,
        walk_model,
    };
    compare_versions(path, qemu, model, level, v, out);
    compare_fields(path, qemu, model, level, v, out);
    compare_subsections(path, qemu, model, out);
}

fn what(level: Level) -> &'static str {
    match level {
        Level::Section => "section",
        Level::Subsection => "subsection",
        Level::Nested { .. } => "nested struct",
    }
}

fn compare_versions(
    path: &str,
    qemu: &DumpDescription,
    model: &'static Description<'static>,
    level: Level,
    v: Versions,
    out: &mut Vec<Difference>,
) {
    let thing = what(level);
    if v.qemu != v.model {
        let (effect, message) = if level.versioned() {
            let to_qemu = if v.model > v.qemu {
                format!(
                    "QEMU refuses the model's streams (version {} is newer than the {} it knows)",
                    v.model, v.qemu
                )
            } else if v.model < v.qemu_min {
                format!(
                    "QEMU refuses the model's streams (version {} is older than its minimum {})",
                    v.model, v.qemu_min
                )
            } else {
                format!(
                    "QEMU loads the model's streams by its rules for version {}",
                    v.model
                )
            };
            let from_qemu = if v.qemu > v.model {
                format!(
                    "the model refuses QEMU's streams (version {} is newer than its {})",
                    v.qemu, v.model
                )
            } else if v.qemu < v.model_min {
                format!(
                    "the model refuses QEMU's streams (version {} is older than its minimum {})",
                    v.qemu, v.model_min
                )
            } else {
                format!(
                    "the model loads QEMU's streams by its rules for version {}",
                    v.qemu
                )
            };
            (
                Effect::Breaks,
                format!(
                    "QEMU writes this {thing} at version {} (and loads {}..={}); the model writes \
                     version {} (and loads {}..={}). The version is on the wire, so {to_qemu}, and \
                     {from_qemu}. A version is a promise about the wire shared with QEMU: use \
                     QEMU's `version = {}`",
                    v.qemu, v.qemu_min, v.qemu, v.model, v.model_min, v.model, v.qemu
                ),
            )
        } else {
            let changed = presence_changes(qemu, model, v);
            let (effect, tail) = if changed.is_empty() {
                (
                    Effect::Compatible,
                    "no field's presence depends on it, so the bytes are the same; the vmdesc \
                     records the version"
                        .to_owned(),
                )
            } else {
                (
                    Effect::Breaks,
                    format!(
                        "so {} sent by one side and not by the other, and every later field is \
                         misread",
                        list_fields(&changed)
                    ),
                )
            };
            (
                effect,
                format!(
                    "QEMU's nested struct is version {}, the model's {}. A nested struct's \
                     version is not in the stream: each side walks it at its own version (or \
                     at the one VMSTATE_VSTRUCT pins, which the dump does not show); {tail}",
                    v.qemu, v.model
                ),
            )
        };
        push(
            out,
            path,
            DifferenceKind::Version {
                qemu: v.qemu,
                model: v.model,
            },
            effect,
            message,
        );
    }
    if v.qemu_min != v.model_min {
        let (effect, message) = if level.versioned() {
            let older = if v.model_min > v.qemu_min {
                format!(
                    "streams of versions {}..={}, which QEMU still loads (from older QEMU \
                     releases), are refused by the model",
                    v.qemu_min,
                    v.model_min - 1
                )
            } else {
                format!(
                    "the model accepts versions {}..={}, which QEMU no longer loads, so its \
                     handling of them cannot be checked against this QEMU",
                    v.model_min,
                    v.qemu_min - 1
                )
            };
            let effect = if v.model_min > v.qemu || v.qemu_min > v.model {
                Effect::Breaks
            } else {
                Effect::OlderStreams
            };
            (
                effect,
                format!(
                    "QEMU loads this {thing} at versions {}..={}, the model at {}..={}: {older}. \
                     Use QEMU's `minimum_version = {}`",
                    v.qemu_min, v.qemu, v.model_min, v.model, v.qemu_min
                ),
            )
        } else {
            (
                Effect::Compatible,
                format!(
                    "QEMU's nested struct has minimum version {}, the model's {}. Nested \
                     structs are walked at their own version, so the minimum is only checked \
                     against a version VMSTATE_VSTRUCT pins",
                    v.qemu_min, v.model_min
                ),
            )
        };
        push(
            out,
            path,
            DifferenceKind::MinimumVersion {
                qemu: v.qemu_min,
                model: v.model_min,
            },
            effect,
            message,
        );
    }
}

/// The fields of a nested struct whose presence in each side's own stream
/// differs because the struct's versions differ (same `since`).
fn presence_changes(
    qemu: &DumpDescription,
    model: &'static Description<'static>,
    v: Versions,
) -> Vec<String> {
    let model_fields = model_fields(model);
    let mut changed = Vec::new();
    for q in qemu.fields.iter().flatten() {
        let name = q.field.as_deref().unwrap_or("");
        let Some(m) = model_fields
            .iter()
            .find(|m| m.dump.field.as_deref() == Some(name))
        else {
            continue;
        };
        if q.field_exists.unwrap_or(false) || m.desc.has_exists_predicate {
            continue;
        }
        let (qs, ms) = (since(&q.version_id), since(&m.dump.version_id));
        if qs == ms && (qs <= v.walk_qemu) != (ms <= v.walk_model) {
            changed.push(name.to_owned());
        }
    }
    changed
}

fn list_fields(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.len() {
        1 => format!("field {} is", quoted[0]),
        _ => format!("fields {} are", quoted.join(", ")),
    }
}

fn since(v: &Option<i64>) -> i64 {
    v.unwrap_or(0)
}

/// A model field as QEMU's dump would show it, with its layout.
struct ModelField {
    desc: &'static FieldDescription<'static>,
    dump: DumpField,
}

fn model_fields(model: &'static Description<'static>) -> Vec<ModelField> {
    model
        .fields
        .iter()
        .filter(|f| !matches!(f.layout, Layout::Validate))
        .map(|f| ModelField {
            desc: f,
            dump: DumpField::from_static(f),
        })
        .collect()
}

/// Names made unique as QEMU's vmdesc makes repeated ones: `config[0]`, `config[1]`.
fn unique_names(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if names.iter().filter(|m| *m == n).count() > 1 {
                let k = names[..i].iter().filter(|m| *m == n).count();
                format!("{n}[{k}]")
            } else {
                (*n).to_owned()
            }
        })
        .collect()
}

/// The longest common subsequence of `a` and `b`, as index pairs in order.
fn common_subsequence(a: &[&str], b: &[&str]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    // len[i][j]: the LCS length of a[i..] and b[j..].
    let mut len = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i][j] = if a[i] == b[j] {
                len[i + 1][j + 1] + 1
            } else {
                len[i + 1][j].max(len[i][j + 1])
            };
        }
    }
    let mut pairs = Vec::with_capacity(len[0][0]);
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            pairs.push((i, j));
            i += 1;
            j += 1;
        } else if len[i + 1][j] >= len[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}

/// How an unmatched QEMU field is paired.
#[derive(Clone, Copy)]
enum Pairing {
    /// The model has it at another position.
    Moved(usize),
    /// The model has another field at this position.
    Renamed(usize),
    /// The model does not have it.
    Missing,
}

fn compare_fields(
    path: &str,
    qemu: &DumpDescription,
    model: &'static Description<'static>,
    level: Level,
    v: Versions,
    out: &mut Vec<Difference>,
) {
    let q: Vec<&DumpField> = qemu.fields.iter().flatten().collect();
    let m = model_fields(model);
    let q_names: Vec<&str> = q.iter().map(|f| f.field.as_deref().unwrap_or("")).collect();
    let m_names: Vec<&str> = m
        .iter()
        .map(|f| f.dump.field.as_deref().unwrap_or(""))
        .collect();
    let q_unique = unique_names(&q_names);
    let m_unique = unique_names(&m_names);
    let matched = common_subsequence(&q_names, &m_names);

    let mut q_matched = vec![false; q.len()];
    let mut m_taken = vec![false; m.len()];
    for &(i, j) in &matched {
        q_matched[i] = true;
        m_taken[j] = true;
    }
    // Fields both have, at different positions.
    let mut pairing: Vec<Option<Pairing>> = vec![None; q.len()];
    for i in (0..q.len()).filter(|&i| !q_matched[i]) {
        if let Some(j) = (0..m.len()).find(|&j| !m_taken[j] && m_names[j] == q_names[i]) {
            pairing[i] = Some(Pairing::Moved(j));
            m_taken[j] = true;
        }
    }
    // Within each gap between matched fields, the rest pair up by position.
    let mut bounds = matched.clone();
    bounds.push((q.len(), m.len()));
    let (mut qi, mut mj) = (0, 0);
    for &(end_q, end_m) in &bounds {
        let rest_q: Vec<usize> = (qi..end_q).filter(|&i| pairing[i].is_none()).collect();
        let rest_m: Vec<usize> = (mj..end_m).filter(|&j| !m_taken[j]).collect();
        for (k, &i) in rest_q.iter().enumerate() {
            pairing[i] = Some(match rest_m.get(k) {
                Some(&j) => {
                    m_taken[j] = true;
                    Pairing::Renamed(j)
                }
                None => Pairing::Missing,
            });
        }
        for i in (qi..end_q).filter(|&i| !q_matched[i]) {
            let field_path = format!("{path}.{}", q_unique[i]);
            match pairing[i] {
                Some(Pairing::Moved(j)) => {
                    push(
                        out,
                        &field_path,
                        DifferenceKind::FieldOrder { qemu: i, model: j },
                        Effect::Breaks,
                        format!(
                            "QEMU sends `{}` as field {} of `{}`, the model as field {}: the \
                             stream has no field names, so each side reads the other's bytes \
                             into the wrong fields from here on. Keep QEMU's field order",
                            q_names[i],
                            i + 1,
                            model.name,
                            j + 1
                        ),
                    );
                    compare_field(&field_path, q[i], &m[j], level, v, out);
                }
                Some(Pairing::Renamed(j)) => {
                    push(
                        out,
                        &field_path,
                        DifferenceKind::FieldName {
                            qemu: q_names[i].to_owned(),
                            model: m_names[j].to_owned(),
                        },
                        Effect::Compatible,
                        format!(
                            "QEMU calls field {} `{}`, the model `{}`. The stream has no field \
                             names, so the bytes are the same if the rest matches, but vmdesc, \
                             analyze-migration and dumps name it differently: \
                             `#[vmstate(name = \"{}\")]`",
                            i + 1,
                            q_names[i],
                            m_names[j],
                            q_names[i]
                        ),
                    );
                    compare_field(&field_path, q[i], &m[j], level, v, out);
                }
                _ => push(
                    out,
                    &field_path,
                    DifferenceKind::MissingField,
                    Effect::Breaks,
                    format!(
                        "QEMU sends `{}` here ({}); the model has no such field. Loading QEMU's \
                         stream, the model reads those bytes as its next field, and QEMU, \
                         loading the model's, takes the model's next field for `{}`: every \
                         later field is misread",
                        q_names[i],
                        describe(q[i]),
                        q_names[i]
                    ),
                ),
            }
        }
        for j in (mj..end_m).filter(|&j| !m_taken[j]) {
            push(
                out,
                &format!("{path}.{}", m_unique[j]),
                DifferenceKind::ExtraField,
                Effect::Breaks,
                format!(
                    "the model sends `{}` here ({}); QEMU has no such field. QEMU reads those \
                     bytes as its next field, and the model, loading QEMU's stream, takes QEMU's \
                     next field for `{}`: every later field is misread",
                    m_names[j],
                    describe(&m[j].dump),
                    m_names[j]
                ),
            );
        }
        if let (Some(qf), Some(mf)) = (q.get(end_q), m.get(end_m)) {
            compare_field(
                &format!("{path}.{}", q_unique[end_q]),
                qf,
                mf,
                level,
                v,
                out,
            );
        }
        qi = end_q + 1;
        mj = end_m + 1;
    }
}

/// A field's wire shape in words: `1 byte`, `32 × 8 bytes`, `a hpet_timer struct`.
fn describe(f: &DumpField) -> String {
    let count = |s: String| match f.num {
        Some(n) => format!("{n} × {s}"),
        None => s,
    };
    if let Some(d) = &f.description {
        return count(format!(
            "a `{}` struct",
            d.name.as_deref().unwrap_or("(unnamed)")
        ));
    }
    match f.size {
        Some(0) | None => "variable size".to_owned(),
        Some(1) => count("1 byte".to_owned()),
        Some(n) => count(format!("{n} bytes")),
    }
}

/// The version a `struct_version` field (`VMSTATE_VSTRUCT`) pins, also for
/// arrays of such structs.
fn pinned_version(layout: &Layout<'_>) -> Option<u32> {
    match layout {
        Layout::Struct { pinned_version, .. } => *pinned_version,
        Layout::Array { element, .. }
        | Layout::VarArray { element, .. }
        | Layout::Pointer { element, .. } => pinned_version(element),
        _ => None,
    }
}

fn is_model_array(layout: &Layout<'_>) -> bool {
    matches!(
        layout,
        Layout::Array { .. } | Layout::VarArray { .. } | Layout::List { .. } | Layout::Tree { .. }
    )
}

/// The model's shape of a field that is not a fixed array, in words.
fn model_non_fixed(layout: &Layout<'_>) -> String {
    match layout {
        Layout::VarArray { count_field, .. } => {
            format!("a variable number of elements counted by `{count_field}`")
        }
        Layout::List { wire, .. } => format!(
            "a {} (a marker byte before each element and after the last)",
            wire.name()
        ),
        Layout::Tree { .. } => "a gtree (a count, then a marker byte before each node)".to_owned(),
        Layout::VarBuffer { len_field } => format!("a buffer of `{len_field}` bytes"),
        _ => "a single value".to_owned(),
    }
}

fn compare_field(
    path: &str,
    q: &DumpField,
    m: &ModelField,
    level: Level,
    v: Versions,
    out: &mut Vec<Difference>,
) {
    let name = q.field.as_deref().unwrap_or("");
    let md = &m.dump;
    let (q_exists, m_exists) = (
        q.field_exists.unwrap_or(false),
        md.field_exists.unwrap_or(false),
    );

    let (qs, ms) = (since(&q.version_id), since(&md.version_id));
    if qs != ms {
        let (effect, tail) = if q_exists && m_exists {
            (
                Effect::Compatible,
                "but both sides decide with an exists test, which QEMU consults instead of the \
                 version"
                    .to_owned(),
            )
        } else if level.versioned() {
            let (lo, hi) = (qs.min(ms), qs.max(ms) - 1);
            let now = (qs <= v.qemu) != (ms <= v.qemu) || (ms <= v.model) != (qs <= v.model);
            let range = if lo == hi {
                format!("version {lo}")
            } else {
                format!("versions {lo}..={hi}")
            };
            if now {
                (
                    Effect::Breaks,
                    format!(
                        "a stream of {range} carries it for one side and not the other, and \
                         that includes the current version, so every later field is misread. \
                         Use `since = {qs}`"
                    ),
                )
            } else {
                (
                    Effect::OlderStreams,
                    format!(
                        "a stream of {range} (from an older QEMU release) carries it for one \
                         side and not the other, so every later field of such a stream is \
                         misread; current streams agree. Use `since = {qs}`"
                    ),
                )
            }
        } else if (qs <= v.walk_qemu) != (ms <= v.walk_model) {
            (
                Effect::Breaks,
                format!(
                    "in a nested struct, walked at each side's own version (QEMU's {}, the \
                     model's {}), one side sends it and the other does not, so every later \
                     field is misread. Use `since = {qs}`",
                    v.walk_qemu, v.walk_model
                ),
            )
        } else {
            (
                Effect::Compatible,
                format!(
                    "in a nested struct, walked at each side's own version (QEMU's {}, the \
                     model's {}), both send it, so the bytes are the same. Use `since = {qs}`",
                    v.walk_qemu, v.walk_model
                ),
            )
        };
        push(
            out,
            path,
            DifferenceKind::FieldVersion {
                qemu: qs,
                model: ms,
            },
            effect,
            format!(
                "QEMU sends `{name}` from version {qs} on, the model from version {ms}: {tail}"
            ),
        );
    }

    if q_exists != m_exists {
        let message = if q_exists {
            format!(
                "QEMU decides with a test (`field_exists`) whether to send `{name}`; the model \
                 sends it in every stream of version {ms} and newer. Whenever QEMU's test is \
                 false, the sides disagree on whether its bytes are there and every later field \
                 is misread. Give the model the same test: `exists = ...`"
            )
        } else {
            format!(
                "the model decides with an `exists` test whether to send `{name}`; QEMU sends \
                 it in every stream of version {qs} and newer. Whenever the model's test is \
                 false, the sides disagree on whether its bytes are there and every later field \
                 is misread"
            )
        };
        push(
            out,
            path,
            DifferenceKind::FieldExists {
                qemu: q_exists,
                model: m_exists,
            },
            Effect::Breaks,
            message,
        );
    }

    if q.num != md.num {
        let layout = &m.desc.layout;
        let message = match (q.num, md.num) {
            (Some(a), Some(b)) => format!(
                "QEMU sends {a} elements of `{name}`, the model {b}: {} bytes in one stream \
                 are read as the other's, so every later field is misread",
                if a > b {
                    "QEMU's extra"
                } else {
                    "the model's extra"
                }
            ),
            (Some(a), None) => format!(
                "QEMU sends `{name}` as a fixed array of {a} elements, the model as {}: the \
                 element counts on the wire differ, so every later field is misread",
                model_non_fixed(layout)
            ),
            (None, Some(b)) => format!(
                "QEMU sends `{name}` as a single value or a variable number of elements (the \
                 dump gives `num` only for fixed arrays), the model as a fixed array of {b} \
                 elements: the element counts on the wire differ, so every later field is \
                 misread"
            ),
            (None, None) => String::new(),
        };
        push(
            out,
            path,
            DifferenceKind::Num {
                qemu: q.num,
                model: md.num,
            },
            Effect::Breaks,
            message,
        );
    }

    let model_nested =
        crate::dump::nested_description(crate::dump::flatten_array(&m.desc.layout).1);
    match (&q.description, model_nested) {
        (Some(qd), Some(nested)) => {
            let child = if q.num.is_some() || is_model_array(&m.desc.layout) {
                format!("{path}[]")
            } else {
                path.to_owned()
            };
            let pinned = pinned_version(&m.desc.layout);
            compare_description(&child, qd, nested, Level::Nested { pinned }, out);
        }
        (None, None) => {
            if let (Some(a), Some(b)) = (q.size, md.size) {
                if a != b {
                    push(
                        out,
                        path,
                        DifferenceKind::Size { qemu: a, model: b },
                        Effect::Breaks,
                        size_message(name, a, b, md, q.num.is_some() || md.num.is_some()),
                    );
                }
            }
            if let (Some(a), Some(b)) = (&q.wire_type, &md.wire_type) {
                if a != b {
                    push(
                        out,
                        path,
                        DifferenceKind::WireType {
                            qemu: a.clone(),
                            model: b.clone(),
                        },
                        Effect::Breaks,
                        format!(
                            "QEMU's dump has wire type `{a}` for `{name}`, the model `{b}`: even \
                             with equal sizes the bytes are encoded or checked differently"
                        ),
                    );
                }
            }
        }
        (q_nested, m_nested) => {
            let q_name = q_nested
                .as_ref()
                .map(|d| d.name.clone().unwrap_or_default());
            let m_name = m_nested.map(|d| d.name.to_owned());
            let mut effect = Effect::Breaks;
            let message = match (&q_name, &m_name) {
                (Some(qn), _) => format!(
                    "QEMU sends `{name}` as a nested `{qn}` struct, the model as a plain value \
                     ({}): the struct's fields on the wire cannot be read as that value, so this \
                     field and every later one is misread",
                    describe(md)
                ),
                (None, Some(mn)) => match (&m.desc.layout, m_nested.and_then(|d| d.fixed_size())) {
                    (Layout::Tmp(_), wire) => {
                        effect = Effect::Unknown;
                        let bytes =
                            wire.map_or("a variable number of".to_owned(), |n| n.to_string());
                        format!(
                            "QEMU shows `{name}` as a plain value ({} in memory), the model \
                             computes it through a `tmp` struct `{mn}` ({bytes} bytes on the wire). \
                             If QEMU's field is a device-specific VMStateInfo that writes exactly \
                             those bytes, the streams agree and only the dump and the vmdesc \
                             differ; the dump cannot tell (it has no wire types, and QEMU's size \
                             is the C size): compare real streams",
                            describe(q)
                        )
                    }
                    _ => format!(
                        "QEMU sends `{name}` as a plain value ({}), the model as a nested `{mn}` \
                         struct: that value cannot be read as the struct's fields, so this field \
                         and every later one is misread",
                        describe(q)
                    ),
                },
                (None, None) => String::new(),
            };
            push(
                out,
                path,
                DifferenceKind::Nesting {
                    qemu: q_name,
                    model: m_name,
                },
                effect,
                message,
            );
        }
    }
}

fn size_message(name: &str, qemu: i64, model: i64, md: &DumpField, array: bool) -> String {
    let unit = |n: i64| if n == 1 { "byte" } else { "bytes" };
    let model_type = md
        .wire_type
        .as_deref()
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    let hint = if matches!(qemu, 1 | 2 | 4 | 8) && md.parsed_wire_type().is_some_and(is_integer) {
        let bits = qemu * 8;
        format!(
            ". QEMU's field is an integer of {bits} bits (the dump shows its C type's size): \
             make the model's field u{bits} or i{bits}"
        )
    } else {
        String::new()
    };
    let per = if array { " per element" } else { "" };
    format!(
        "QEMU's `{name}` is {qemu} {}{per}, the model's {model} {}{model_type}: each side reads \
         a different number of bytes than the other wrote, so this field and every later one is \
         misread, in both directions{hint}",
        unit(qemu),
        unit(model)
    )
}

fn is_integer(w: crate::WireType) -> bool {
    use crate::WireType as W;
    matches!(
        w,
        W::Int8
            | W::Int16
            | W::Int32
            | W::Int64
            | W::Uint8
            | W::Uint16
            | W::Uint32
            | W::Uint64
            | W::Uint8Equal
            | W::Uint16Equal
            | W::Uint32Equal
            | W::Uint64Equal
            | W::Int32Equal
            | W::Int32Le
    )
}

/// The path of subsection `name` of a description at `path` named
/// `parent`: `hpet` + `hpet/offset` gives `hpet/offset`,
/// `pl011/clock.clock` + `clock/muldiv` gives `pl011/clock.clock/muldiv`.
fn subsection_path(path: &str, parent: &str, name: &str) -> String {
    match name.strip_prefix(parent) {
        Some(rest) if !parent.is_empty() => format!("{path}{rest}"),
        _ => format!("{path}/{name}"),
    }
}

fn compare_subsections(
    path: &str,
    qemu: &DumpDescription,
    model: &'static Description<'static>,
    out: &mut Vec<Difference>,
) {
    let q_parent = qemu.name.as_deref().unwrap_or("");
    let q_subs: Vec<&DumpDescription> = qemu.subsections.iter().flatten().collect();
    let q_name = |d: &DumpDescription| d.name.clone().unwrap_or_default();
    for qs in &q_subs {
        let name = q_name(qs);
        let sub_path = subsection_path(path, q_parent, &name);
        match model.subsections.iter().find(|m| m.name == name) {
            Some(ms) => compare_description(&sub_path, qs, ms, Level::Subsection, out),
            None => push(
                out,
                &sub_path,
                DifferenceKind::MissingSubsection,
                Effect::Breaks,
                format!(
                    "QEMU has subsection `{name}` (version {}), which it sends whenever its \
                     needed() test is true (the dump does not say when); the model does not know \
                     it, so it cannot load a QEMU stream that carries it",
                    qs.version_id.unwrap_or(0)
                ),
            ),
        }
    }
    for ms in model.subsections {
        if !q_subs.iter().any(|q| q.name.as_deref() == Some(ms.name)) {
            push(
                out,
                &subsection_path(path, model.name, ms.name),
                DifferenceKind::ExtraSubsection,
                Effect::Breaks,
                format!(
                    "the model has subsection `{}` (version {}), which QEMU does not know: \
                     whenever the model sends it, QEMU fails the load (\"VM subsection ... does \
                     not exist\")",
                    ms.name, ms.version_id
                ),
            );
        }
    }
    let q_order: Vec<String> = q_subs
        .iter()
        .map(|d| q_name(d))
        .filter(|n| model.subsections.iter().any(|m| m.name == n))
        .collect();
    let m_order: Vec<String> = model
        .subsections
        .iter()
        .map(|m| m.name.to_owned())
        .filter(|n| q_order.contains(n))
        .collect();
    if q_order != m_order {
        let message = format!(
            "QEMU writes the subsections in the order {}, the model {}: both load either order \
             (subsections are found by name), but the streams are not byte-identical",
            q_order.join(", "),
            m_order.join(", ")
        );
        push(
            out,
            path,
            DifferenceKind::SubsectionOrder {
                qemu: q_order,
                model: m_order,
            },
            Effect::Compatible,
            message,
        );
    }
}
