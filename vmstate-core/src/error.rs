//! The one error type of vmstate-core.

use std::borrow::Cow;
use std::fmt;

use crate::WireType;

/// A name in an error: static for derived types, owned for descriptions
/// built at run time (from a stream's vmdesc).
pub type Name = Cow<'static, str>;

/// A field name as it appears in a path. QEMU names fields after the C
/// member they migrate, so names can hold dots (`env.regs`: the path
/// `cpu.env.regs[2]` reads as C does) and indices. A name with an index
/// inside it (`channels[0].irq_disabled`, `mac_reg[RDT]`) would read as an
/// element of another field, so it is put in double quotes:
/// `i8254."channels[0].next_transition_time"` is not
/// `i8254.channels[0].next_transition_time`. A trailing `[N]` is QEMU's
/// numbering of repeated names (`unused[1]`) and stays as it is.
pub fn path_name(name: &str) -> Cow<'_, str> {
    let base = match name.strip_suffix(']').and_then(|s| s.rsplit_once('[')) {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => name,
    };
    if !name.is_empty() && !base.contains(['[', ']', '"', ' ', '=']) {
        return Cow::Borrowed(name);
    }
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    Cow::Owned(quoted)
}

/// One step of the path to the field an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// The description at the root of the walk (`hpet`).
    Root(Name),
    /// A named field (`timer`).
    Field(Name),
    /// An element of an array or collection (`[1]`).
    Index(usize),
    /// A subsection, by its full name (`hpet/offset`).
    Subsection(Name),
    /// The description of a nested struct, kept for tools that want it; the
    /// path text names the field that holds the struct (`cpu.env.tr.base`,
    /// `PIIX3.dev.config[255]`), so that a path names exactly one field.
    Struct(Name),
}

/// The versions in play when an error happened inside a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionContext {
    /// The description's name.
    pub name: Name,
    /// The version being saved or loaded.
    pub version: u32,
    /// The description's own (newest) version.
    pub local: u32,
    /// The oldest version it accepts.
    pub minimum: u32,
    /// True when loading.
    pub loading: bool,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The byte stream failed: truncated input, I/O error, bad counted string.
    #[error("{0}")]
    Stream(qemufile::ErrorKind),
    /// The stream's version is newer than this description knows.
    #[error(
        "{name}: incoming version_id {incoming} is too new for local version_id {local} \
         (the source runs a newer device model; migrate to a build that knows version {incoming})"
    )]
    VersionTooNew {
        /// Description name.
        name: Name,
        /// Version in the stream.
        incoming: u32,
        /// Newest local version.
        local: u32,
    },
    /// The stream's version is older than the oldest this description accepts.
    #[error(
        "{name}: incoming version_id {incoming} is too old for local minimum version_id {minimum} \
         (this build dropped support for streams that old)"
    )]
    VersionTooOld {
        /// Description name.
        name: Name,
        /// Version in the stream.
        incoming: u32,
        /// Oldest accepted version.
        minimum: u32,
    },
    /// An `equal` field loaded a value different from the destination's.
    #[error(
        "{wire}: loaded {loaded:#x} != {current:#x} on the destination; source and destination \
         must be configured alike for this field"
    )]
    NotEqual {
        /// The wire type (`uint32 equal`, ...).
        wire: WireType,
        /// The value in the stream (two's complement bits for signed types).
        loaded: u64,
        /// The destination's value.
        current: u64,
    },
    /// An `int32 le` field loaded a value outside `0..=current`.
    #[error(
        "int32 le: invalid value {loaded}, expecting a value in 0..={max} (the destination's current value)"
    )]
    NotLessOrEqual {
        /// The value in the stream.
        loaded: i32,
        /// The destination's value, the largest accepted.
        max: i32,
    },
    /// A subsection arrived that this description does not have.
    #[error(
        "VM subsection '{name}' in '{parent}' does not exist (the source sent state this build \
         does not know; it cannot be loaded without losing it)"
    )]
    UnknownSubsection {
        /// The subsection name in the stream.
        name: String,
        /// The parent description.
        parent: Name,
    },
    /// A pointer marker byte was neither 0x30 nor (where allowed) 0x31.
    #[error("unexpected ptr marker {found:#04x}: expected {expected}")]
    PtrMarker {
        /// The byte found.
        found: u8,
        /// What was acceptable here.
        expected: &'static str,
    },
    /// A save found a present element where the wire can only say NULL, or
    /// the reverse (source and destination must agree on NULL slots).
    #[error("{0}")]
    PointerMismatch(&'static str),
    /// An integer that is not a discriminant of the enum it loads into.
    #[error("{value} is not a valid discriminant of enum {type_name}")]
    InvalidDiscriminant {
        /// The enum.
        type_name: Name,
        /// The loaded integer.
        value: i128,
    },
    /// A variable array's length disagrees with its count field on save.
    #[error(
        "the array has {len} element(s) but its count field `{count_field}` says {count}; \
         update the count before saving"
    )]
    CountMismatch {
        /// The field holding the count.
        count_field: Name,
        /// The count's value.
        count: u64,
        /// The array's length.
        len: usize,
    },
    /// A count field exceeds the capacity of the fixed array it sizes.
    #[error(
        "count field `{count_field}` is {count} but the array holds only {capacity} element(s) \
         (QEMU would overrun its buffer here; the stream is corrupt or hostile)"
    )]
    CountTooLarge {
        /// The field holding the count.
        count_field: Name,
        /// The count's value.
        count: i128,
        /// The array's capacity.
        capacity: usize,
    },
    /// A count asks for many elements that occupy no bytes on the wire.
    #[error(
        "count field `{count_field}` asks for {count} element(s) that occupy no bytes on the \
         wire; refusing to allocate elements the input does not pay for"
    )]
    UnpaidElements {
        /// The field holding the count.
        count_field: Name,
        /// The count's value.
        count: u64,
    },
    /// A claim in the input costs more than the [`crate::Limits`] allow.
    #[error("{0}")]
    Limit(qemufile::LimitExceeded),
    /// A gtree's node count disagrees with the nodes that follow.
    #[error(
        "inconsistent stream when loading the gtree: it announces {expected} node(s) but {found} follow"
    )]
    TreeCount {
        /// The announced node count.
        expected: u32,
        /// Nodes found (stops counting one past `expected`).
        found: u64,
    },
    /// A list or tree element version is outside its description's range.
    #[error(
        "{name} too {direction}: elements are loaded at version {version}, accepted {minimum}..={local}"
    )]
    ElementVersion {
        /// Element description name.
        name: Name,
        /// "new" or "old".
        direction: &'static str,
        /// The version the elements are loaded at.
        version: u32,
        /// Element description's minimum.
        minimum: u32,
        /// Element description's version.
        local: u32,
    },
    /// A hook (pre_save, pre_load, post_load, tmp conversion) failed.
    #[error("{hook} hook failed: {message}")]
    Hook {
        /// Which hook.
        hook: &'static str,
        /// Its message.
        message: String,
    },
    /// A `validate` check failed on load.
    #[error("input validation failed: {0}")]
    Validation(String),
    /// Bytes remained after a complete load of a byte slice.
    #[error(
        "{0} byte(s) left over after the last field: the input holds state this description \
         does not know (a field or subsection missing here, or the wrong version)"
    )]
    TrailingBytes(u64),
    /// A run-time description (from a vmdesc or a `-dump-vmstate` file) is
    /// malformed: where, and what is wrong.
    #[error("invalid description at {0}")]
    InvalidDescription(String),
    /// BER: a field the destination needs is not in the input (it existed
    /// at the version the input was written at, so the writer should have
    /// sent it).
    #[error(
        "missing required field `{name}`: the input (written at version {incoming} of \
         '{description}') does not have it, and the destination has it since version {since}; \
         it was removed or renamed on the writer's side (an alias = \"old\" attribute on the \
         destination's field finds a renamed one)"
    )]
    MissingField {
        /// The destination's field name.
        name: Name,
        /// The description it belongs to.
        description: Name,
        /// The version of the incoming struct.
        incoming: u32,
        /// The destination field's `since` (0: always).
        since: u32,
    },
    /// BER: a value of another wire type (or width) than the destination's,
    /// which cannot be converted without losing information.
    #[error(
        "{found} value {value} does not fit the destination's {expected}: the field changed \
         type or width and this value would be lost"
    )]
    LossyConversion {
        /// The incoming wire type.
        found: &'static str,
        /// The destination's wire type.
        expected: &'static str,
        /// The incoming value.
        value: String,
    },
    /// BER: the input has another kind of value than the destination
    /// (a struct where an integer is expected, a buffer of another length).
    #[error("type change: the input has {found} where the destination expects {expected}")]
    TypeMismatch {
        /// What the input has.
        found: String,
        /// What the destination expects.
        expected: String,
    },
    /// BER: an array of another length than the destination's.
    #[error("array length mismatch: the input has {incoming} element(s), the destination {local}")]
    ArrayLength {
        /// Elements in the input.
        incoming: u64,
        /// Elements the destination holds.
        local: u64,
    },
    /// BER: a struct of another description than the destination's.
    #[error(
        "struct name mismatch: the input has '{incoming}' where the destination expects \
         '{local}'"
    )]
    StructName {
        /// The name in the input.
        incoming: String,
        /// The destination's description name.
        local: Name,
    },
    /// BER: the input is not well-formed (or not canonical) BER of this
    /// format.
    #[error("malformed BER: {0}")]
    Malformed(String),
    /// A message from user code or a visitor.
    #[error("{0}")]
    Custom(String),
}

/// An error from saving, loading or visiting a VMState value.
///
/// It says what went wrong ([`kind`](Error::kind)), where in the byte stream
/// ([`offset`](Error::offset)), at which field ([`path`](Error::path_string),
/// e.g. `hpet.timer[1].cmp`) and with which versions.
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    offset: Option<u64>,
    /// Innermost first: segments are appended while the error propagates out.
    path: Vec<PathSegment>,
    versions: Option<VersionContext>,
    /// The stream section (idstr, instance id) the error happened in.
    section: Option<(String, u32)>,
}

impl Error {
    /// An error of the given kind, with no location yet.
    #[cold]
    pub fn new(kind: ErrorKind) -> Self {
        Error(Box::new(Inner {
            kind,
            offset: None,
            path: Vec::new(),
            versions: None,
            section: None,
        }))
    }

    /// An error with a free-form message, for hooks and custom code.
    #[cold]
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Custom(message.to_string()))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Byte offset in the stream where the failing read or write started,
    /// when a byte stream was involved.
    pub fn offset(&self) -> Option<u64> {
        self.0.offset
    }

    /// The versions of the innermost description being walked.
    pub fn versions(&self) -> Option<&VersionContext> {
        self.0.versions.as_ref()
    }

    /// The path from the root description to the field, outermost first.
    pub fn path(&self) -> impl Iterator<Item = &PathSegment> {
        self.0.path.iter().rev()
    }

    /// The path as text: `PIIX3.PCIDevice.config[255]`, `hpet.timer[1].cmp`.
    pub fn path_string(&self) -> String {
        let mut out = String::new();
        for seg in self.path() {
            match seg {
                PathSegment::Root(name) => out.push_str(name),
                PathSegment::Field(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&path_name(name));
                }
                PathSegment::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
                PathSegment::Subsection(name) => {
                    // A top-level subsection already names its parent ("hpet/offset").
                    if name.starts_with(out.as_str()) && !out.contains('.') {
                        out.clear();
                    } else if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                // Named by the field that holds it (or not at all for the
                // root, elements and subsections, already named).
                PathSegment::Struct(_) => {}
            }
        }
        out
    }

    /// True if the input ended too early.
    pub fn is_eof(&self) -> bool {
        matches!(
            self.0.kind,
            ErrorKind::Stream(qemufile::ErrorKind::UnexpectedEof { .. })
        )
    }

    /// Records the stream offset, unless a more precise one is already known.
    #[cold]
    pub fn at_offset(mut self, offset: u64) -> Self {
        self.0.offset.get_or_insert(offset);
        self
    }

    /// Adds a path segment on the way out of a field, element or description.
    #[cold]
    pub fn within(mut self, segment: PathSegment) -> Self {
        self.0.path.push(segment);
        self
    }

    /// Records the versions of the innermost description.
    #[cold]
    pub fn with_versions(mut self, versions: VersionContext) -> Self {
        self.0.versions.get_or_insert(versions);
        self
    }

    /// Records the stream section the error happened in (QEMU's "error while
    /// loading state for instance 0x%x of device '%s'").
    #[cold]
    pub fn in_section(mut self, idstr: &str, instance_id: u32) -> Self {
        self.0
            .section
            .get_or_insert_with(|| (idstr.to_owned(), instance_id));
        self
    }

    /// The stream section (idstr, instance id) the error happened in.
    pub fn section(&self) -> Option<(&str, u32)> {
        self.0.section.as_ref().map(|(s, i)| (s.as_str(), *i))
    }

    /// Turns a free-form message from a hook into a hook failure.
    #[cold]
    pub(crate) fn in_hook(self, hook: &'static str) -> Self {
        match self.0.kind {
            ErrorKind::Custom(message) => Error(Box::new(Inner {
                kind: ErrorKind::Hook { hook, message },
                ..*self.0
            })),
            _ => self,
        }
    }
}

impl From<qemufile::Error> for Error {
    #[cold]
    fn from(e: qemufile::Error) -> Self {
        let offset = e.offset();
        let kind = match e.into_kind() {
            qemufile::ErrorKind::Limit(limit) => ErrorKind::Limit(limit),
            other => ErrorKind::Stream(other),
        };
        Error::new(kind).at_offset(offset)
    }
}

impl From<qemufile::LimitExceeded> for Error {
    #[cold]
    fn from(e: qemufile::LimitExceeded) -> Self {
        Error::new(ErrorKind::Limit(e))
    }
}

impl From<ErrorKind> for Error {
    #[cold]
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl From<String> for Error {
    #[cold]
    fn from(message: String) -> Self {
        Error::new(ErrorKind::Custom(message))
    }
}

impl From<&str> for Error {
    #[cold]
    fn from(message: &str) -> Self {
        Error::new(ErrorKind::Custom(message.to_owned()))
    }
}

impl From<fmt::Error> for Error {
    #[cold]
    fn from(_: fmt::Error) -> Self {
        Error::msg("formatting failed")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path_string();
        if let Some((idstr, instance)) = &self.0.section {
            let verb = match &self.0.versions {
                Some(v) if !v.loading => "saving",
                _ => "loading",
            };
            write!(
                f,
                "error while {verb} state for instance {instance:#x} of device '{idstr}': "
            )?;
        }
        match (self.0.offset, path.is_empty()) {
            (Some(off), false) => write!(f, "at byte offset {off} ({off:#x}), field {path}: ")?,
            (Some(off), true) => write!(f, "at byte offset {off} ({off:#x}): ")?,
            (None, false) => write!(f, "field {path}: ")?,
            (None, true) => {}
        }
        write!(f, "{}", self.0.kind)?;
        if let Some(v) = &self.0.versions {
            let verb = if v.loading { "loading" } else { "saving" };
            write!(
                f,
                " ({verb} '{}' at version {}; local version {}, minimum {})",
                v.name, v.version, v.local, v.minimum
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("offset", &self.0.offset)
            .field("path", &self.path_string())
            .field("versions", &self.0.versions)
            .field("section", &self.0.section)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0.kind)
    }
}

/// Result of a VMState operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
