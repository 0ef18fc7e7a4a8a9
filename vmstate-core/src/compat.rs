//! `vmstate compat`: QEMU's `scripts/vmstate-static-checker.py`, reimplemented.
//!
//! Compares two `-dump-vmstate` files (see [`crate::dump`]): the
//! source QEMU's and the destination QEMU's, made with the same `-M`
//! machine type, and predicts whether migrating from source to destination
//! breaks, without running a migration.
//!
//! Every check of QEMU's checker is here, in the same order, with the same
//! message text and the same exit status (the number of problems, capped at
//! 255; the machine-type warning does not count). [`Report::stdout`] is,
//! byte for byte, what QEMU's script prints, including its quirks:
//!
//! * a *section-level* minimum-version error prints only `Section "S" ` (no
//!   newline, not counted), which ends up in front of the next line: QEMU's
//!   `check_version` forgets the rest of the message when there is no
//!   description name;
//! * field-name comparisons go through QEMU's `changed_names` whitelist,
//!   keyed by the description name, and description-name comparisons through
//!   the same table keyed by the *section* name;
//! * fields moved into (or out of) a nested struct without a wire change are
//!   followed into the struct (`exists_in_substruct`);
//! * a field named `unused` may absorb the sizes of several fields on the
//!   other side (`VMSTATE_UNUSED` replacing removed fields).
//!
//! Beyond QEMU:
//!
//! * every [`Finding`] has a [`FindingKind`] with an
//!   [explanation](FindingKind::explanation) of why it breaks migration;
//! * a dump that lacks a key QEMU's script needs (where the script would
//!   die with a Python `KeyError`) gives a counted
//!   [`MalformedDump`](FindingKind::MalformedDump) finding instead and the
//!   check goes on;
//! * [`Options::strict`] also counts the section-level minimum-version error
//!   and compares the `"wire_type"` extension of fields exported by
//!   [`crate::dump`] (see [`FindingKind::WireTypeMismatch`]).

use crate::dump::{DumpDescription, DumpField, DumpFile, DumpSection, MACHINE_KEY};

/// How to run the comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Swap source and destination (check backward migration), like QEMU's `--reverse`.
    pub reverse: bool,
    /// Also count section-level minimum-version errors and compare
    /// `"wire_type"` where both sides have it (not in QEMU's checker).
    pub strict: bool,
}

/// What kind of problem a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// The dumps were made for different machine types (a warning).
    MachineType,
    /// A device section of the source is not in the destination.
    SectionMissing,
    /// The source's version is newer than the destination's.
    VersionError,
    /// The source's version is older than the destination's minimum.
    MinimumVersionError,
    /// A key of the source (`"Description"`, `"Fields"`, `"Subsections"`, ...)
    /// is missing in the destination.
    EntryMissing,
    /// Field names differ at the same position.
    FieldMismatch,
    /// The destination has fewer fields.
    FewerFields,
    /// An `unused` field could not absorb the sizes of the fields on the other side.
    UnusedSizeMismatch,
    /// A field's element size differs.
    SizeMismatch,
    /// A struct field of the source has no nested description in the destination.
    DescriptionMissing,
    /// A nested description was renamed.
    DescriptionRenamed,
    /// A subsection of the source is unknown to the destination.
    SubsectionMissing,
    /// A key the comparison needs is missing (QEMU's script crashes here).
    MalformedDump,
    /// A field's `"wire_type"` differs (`--strict` only).
    WireTypeMismatch,
}

impl FindingKind {
    /// Every kind, in declaration order.
    pub const ALL: [FindingKind; 14] = [
        FindingKind::MachineType,
        FindingKind::SectionMissing,
        FindingKind::VersionError,
        FindingKind::MinimumVersionError,
        FindingKind::EntryMissing,
        FindingKind::FieldMismatch,
        FindingKind::FewerFields,
        FindingKind::UnusedSizeMismatch,
        FindingKind::SizeMismatch,
        FindingKind::DescriptionMissing,
        FindingKind::DescriptionRenamed,
        FindingKind::SubsectionMissing,
        FindingKind::MalformedDump,
        FindingKind::WireTypeMismatch,
    ];

    /// A short stable identifier (`"size-mismatch"`), used in JSON output.
    pub const fn id(self) -> &'static str {
        match self {
            FindingKind::MachineType => "machine-type",
            FindingKind::SectionMissing => "section-missing",
            FindingKind::VersionError => "version-error",
            FindingKind::MinimumVersionError => "minimum-version-error",
            FindingKind::EntryMissing => "entry-missing",
            FindingKind::FieldMismatch => "field-mismatch",
            FindingKind::FewerFields => "fewer-fields",
            FindingKind::UnusedSizeMismatch => "unused-size-mismatch",
            FindingKind::SizeMismatch => "size-mismatch",
            FindingKind::DescriptionMissing => "description-missing",
            FindingKind::DescriptionRenamed => "description-renamed",
            FindingKind::SubsectionMissing => "subsection-missing",
            FindingKind::MalformedDump => "malformed-dump",
            FindingKind::WireTypeMismatch => "wire-type-mismatch",
        }
    }

    /// True for the machine-type warning, which does not count as a problem.
    pub const fn is_warning(self) -> bool {
        matches!(self, FindingKind::MachineType)
    }

    /// Why this kind of difference breaks (or may break) migration.
    pub const fn explanation(self) -> &'static str {
        match self {
            FindingKind::MachineType => {
                "The dumps were taken with different -M machine types. Machine types pin \
                 device versions and compat properties, so differences found below may be \
                 caused by the machine types rather than by the QEMU versions; compare dumps \
                 of the same machine type."
            }
            FindingKind::SectionMissing => {
                "The destination has no device of this QOM type with a VMState description. \
                 When the source sends this section, the destination finds no handler for its \
                 idstr and fails the load with \"Unknown savevm section\". Harmless only if the \
                 device is never instantiated on this machine type, or was renamed (QEMU's \
                 checker knows only a few renames)."
            }
            FindingKind::VersionError => {
                "The source writes this description at a version newer than the destination \
                 can load (version_id is the newest version loaded). The destination refuses \
                 the section (\"savevm: unsupported version\") or, for a field, expects a \
                 different set of fields than the source sends."
            }
            FindingKind::MinimumVersionError => {
                "The source writes a version older than the destination's minimum_version_id, \
                 the oldest version it still loads: the destination rejects the section or \
                 subsection. QEMU's checker counts this only for descriptions; at section \
                 level it prints just the 'Section \"S\"' prefix."
            }
            FindingKind::EntryMissing => {
                "The destination's dump lacks an entry the source has: without \"Description\" \
                 the destination device migrates nothing (or its VMState was removed), without \
                 \"Fields\" it reads no fields, without \"Subsections\" it cannot accept any \
                 subsection the source sends. Bytes the source writes are then misread as the \
                 next section."
            }
            FindingKind::FieldMismatch => {
                "At this position the source sends a field the destination does not expect \
                 (renamed, removed, inserted or reordered). VMState streams carry no field \
                 names or lengths, so the destination reads the source's bytes into the wrong \
                 field from here on; the rest of the description is not compared. Renames that \
                 keep type and size are harmless and belong in the whitelist."
            }
            FindingKind::FewerFields => {
                "The source sends more fields than the destination reads. The destination stops \
                 early and takes the remaining bytes for the next subsection or section header, \
                 which fails the load (or silently misparses it)."
            }
            FindingKind::UnusedSizeMismatch => {
                "A VMSTATE_UNUSED placeholder on one side does not cover exactly the bytes of the \
                 fields it replaced on the other side, so every following field is read at a \
                 shifted offset."
            }
            FindingKind::SizeMismatch => {
                "The element size of this field differs, so source and destination disagree \
                 on how many bytes the field occupies on the wire (for a buffer or array) or \
                 on its type; all following fields are read at shifted offsets. The size is \
                 QEMU's in-memory size, so a change of C type with the same wire type can be a \
                 false positive."
            }
            FindingKind::DescriptionMissing => {
                "The source migrates this field as a nested struct, the destination as a plain \
                 value (or not at all): the struct's fields on the wire cannot be read as the \
                 destination's field."
            }
            FindingKind::DescriptionRenamed => {
                "The nested description has a different name in the destination. The name is \
                 not on the wire for nested structs, but for subsections it is, and a renamed \
                 description usually means a different field list; the description is not \
                 compared further."
            }
            FindingKind::SubsectionMissing => {
                "The source may send this subsection (when its .needed test is true), and the \
                 destination does not know it: the load fails with a missing-section-footer or \
                 unknown-subsection error. It is harmless only when the subsection is never \
                 needed on the source for this machine type."
            }
            FindingKind::MalformedDump => {
                "The dump lacks a key the comparison needs (QEMU's script would stop with a \
                 Python KeyError here). Regenerate the dump with -dump-vmstate or fix the \
                 hand-edited file; this comparison was skipped."
            }
            FindingKind::WireTypeMismatch => {
                "Both dumps name the field's wire type (the \"wire_type\" extension of \
                 vmstate-rs exports) and they differ: even with equal sizes, a different \
                 VMStateInfo encodes or checks the value differently (e.g. uint32 vs \
                 uint32 equal, struct vs buffer)."
            }
        }
    }
}

/// One problem (or the warning) found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// The section (QOM type name of the source).
    pub section: String,
    /// The description the problem is in, if any.
    pub description: Option<String>,
    /// The field (or subsection or entry) the problem is about, if any.
    pub field: Option<String>,
    /// The message, as QEMU's checker prints it (for the section-level
    /// minimum-version error, which QEMU prints truncated, the full message).
    pub message: String,
    /// Whether it counts towards the exit status.
    pub counted: bool,
}

impl Finding {
    /// Why this finding breaks migration (see [`FindingKind::explanation`]).
    pub fn explanation(&self) -> &'static str {
        self.kind.explanation()
    }

    /// The finding as a JSON object: `kind`, `section`, `description`,
    /// `field`, `message`, `explanation`, `counted`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind.id(),
            "section": self.section,
            "description": self.description,
            "field": self.field,
            "message": self.message,
            "explanation": self.explanation(),
            "counted": self.counted,
        })
    }
}

/// The result of [`check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Everything found, in the order QEMU's checker reports it.
    pub findings: Vec<Finding>,
    /// Exactly what QEMU's checker prints on stdout.
    pub stdout: String,
    problems: u32,
}

impl Report {
    /// Number of counted problems (uncapped).
    pub fn problems(&self) -> u32 {
        self.problems
    }

    /// The exit status: the number of problems, capped at 255.
    pub fn exit_status(&self) -> u8 {
        u8::try_from(self.problems.min(255)).unwrap_or(255)
    }

    /// The report as a JSON document: `problems`, `exit_status`, `findings`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "problems": self.problems,
            "exit_status": self.exit_status(),
            "findings": self.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
        })
    }

    /// Human-readable text: each finding's message followed by its
    /// explanation, indented; then a summary line.
    pub fn explained_text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let tag = if f.kind.is_warning() {
                "warning"
            } else if f.counted {
                "problem"
            } else {
                "not counted by QEMU"
            };
            out.push_str(&format!("{} [{}, {}]\n", f.message, f.kind.id(), tag));
            for line in wrap(f.explanation(), 76) {
                out.push_str("    ");
                out.push_str(&line);
                out.push('\n');
            }
        }
        out.push_str(&format!(
            "{} problem(s); exit status {}\n",
            self.problems,
            self.exit_status()
        ));
        out
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// QEMU's whitelist of field renames, per description name: any two names of
/// one list are considered the same field. (From QEMU's checker, plus the
/// 2025 `acpi-ghes` entry.)
const CHANGED_NAMES: &[(&str, &[&str])] = &[
    ("apic", &["timer", "timer_expiry"]),
    ("e1000", &["dev", "parent_obj"]),
    ("ehci", &["dev", "pcidev"]),
    ("I440FX", &["dev", "parent_obj"]),
    ("ich9_ahci", &["card", "parent_obj"]),
    ("ich9-ahci", &["ahci", "ich9_ahci"]),
    ("ioh3420", &["PCIDevice", "PCIEDevice"]),
    (
        "ioh-3240-express-root-port",
        &[
            "port.br.dev",
            "parent_obj.parent_obj.parent_obj",
            "port.br.dev.exp.aer_log",
            "parent_obj.parent_obj.parent_obj.exp.aer_log",
        ],
    ),
    (
        "cirrus_vga",
        &[
            "hw_cursor_x",
            "vga.hw_cursor_x",
            "hw_cursor_y",
            "vga.hw_cursor_y",
        ],
    ),
    ("lsiscsi", &["dev", "parent_obj"]),
    ("mch", &["d", "parent_obj"]),
    (
        "pci_bridge",
        &["bridge.dev", "parent_obj", "bridge.dev.shpc", "shpc"],
    ),
    ("pcnet", &["pci_dev", "parent_obj"]),
    ("PIIX3", &["pci_irq_levels", "pci_irq_levels_vmstate"]),
    (
        "piix4_pm",
        &[
            "dev",
            "parent_obj",
            "pci0_status",
            "acpi_pci_hotplug.acpi_pcihp_pci_status[0x0]",
            "pm1a.sts",
            "ar.pm1.evt.sts",
            "pm1a.en",
            "ar.pm1.evt.en",
            "pm1_cnt.cnt",
            "ar.pm1.cnt.cnt",
            "tmr.timer",
            "ar.tmr.timer",
            "tmr.overflow_time",
            "ar.tmr.overflow_time",
            "gpe",
            "ar.gpe",
        ],
    ),
    ("rtl8139", &["dev", "parent_obj"]),
    ("qxl", &["num_surfaces", "ssd.num_surfaces"]),
    (
        "usb-ccid",
        &["abProtocolDataStructure", "abProtocolDataStructure.data"],
    ),
    ("usb-host", &["dev", "parent_obj"]),
    ("usb-mouse", &["usb-ptr-queue", "HIDPointerEventQueue"]),
    ("usb-tablet", &["usb-ptr-queue", "HIDPointerEventQueue"]),
    ("vmware_vga", &["card", "parent_obj"]),
    ("vmware_vga_internal", &["depth", "new_depth"]),
    ("xhci", &["pci_dev", "parent_obj"]),
    ("x3130-upstream", &["PCIDevice", "PCIEDevice"]),
    (
        "xio3130-express-downstream-port",
        &[
            "port.br.dev",
            "parent_obj.parent_obj.parent_obj",
            "port.br.dev.exp.aer_log",
            "parent_obj.parent_obj.parent_obj.exp.aer_log",
        ],
    ),
    ("xio3130-downstream", &["PCIDevice", "PCIEDevice"]),
    (
        "xio3130-express-upstream-port",
        &[
            "br.dev",
            "parent_obj.parent_obj",
            "br.dev.exp.aer_log",
            "parent_obj.parent_obj.exp.aer_log",
        ],
    ),
    ("acpi-ghes", &["ghes_addr_le", "hw_error_le"]),
];

/// QEMU's table of renamed sections (QOM types), usable in both directions.
const CHANGED_SECTIONS: &[(&str, &str)] = &[("ICH9 LPC", "ICH9-LPC"), ("e1000-82540em", "e1000")];

/// QEMU's `check_fields_match`: equal, or both in the whitelist of `name`.
pub fn fields_match(name: &str, src: &str, dest: &str) -> bool {
    if src == dest {
        return true;
    }
    CHANGED_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .is_some_and(|(_, names)| names.contains(&src) && names.contains(&dest))
}

/// QEMU's `get_changed_sec_name`: the other name of a renamed section, or "".
pub fn changed_section_name(sec: &str) -> &'static str {
    for (a, b) in CHANGED_SECTIONS {
        if *a == sec {
            return b;
        }
        if *b == sec {
            return a;
        }
    }
    ""
}

/// Compares `src` and `dest` as QEMU's checker does (with `reverse`, `dest`
/// is the source).
pub fn check(src: &DumpFile, dest: &DumpFile, options: Options) -> Report {
    let (src, dest) = if options.reverse {
        (dest, src)
    } else {
        (src, dest)
    };
    let mut c = Checker {
        strict: options.strict,
        report: Report::default(),
    };
    c.run(src, dest);
    c.report
}

/// A top-level entry of a dump: the machine or a section.
#[derive(Clone, Copy)]
enum Top<'a> {
    Machine(&'a crate::dump::DumpMachine),
    Section(&'a DumpSection),
}

fn top_entries(file: &DumpFile) -> Vec<(&str, Top<'_>)> {
    let mut v = Vec::with_capacity(file.sections.len() + 1);
    if let Some(m) = &file.machine {
        v.push((MACHINE_KEY, Top::Machine(m)));
    }
    v.extend(
        file.sections
            .iter()
            .map(|s| (s.qom_name.as_str(), Top::Section(s))),
    );
    v
}

/// The sections of a dump by name (the first of a repeated name, as
/// [`DumpFile::section`] finds it), so that comparing is linear in the
/// number of sections.
struct Index<'a> {
    file: &'a DumpFile,
    sections: std::collections::HashMap<&'a str, &'a crate::dump::DumpSection>,
}

impl<'a> Index<'a> {
    fn new(file: &'a DumpFile) -> Self {
        let mut sections = std::collections::HashMap::with_capacity(file.sections.len());
        for s in &file.sections {
            sections.entry(s.qom_name.as_str()).or_insert(s);
        }
        Index { file, sections }
    }

    fn lookup(&self, key: &str) -> Option<Top<'a>> {
        if key == MACHINE_KEY {
            self.file.machine.as_ref().map(Top::Machine)
        } else {
            self.sections.get(key).map(|s| Top::Section(s))
        }
    }
}

/// Python truthiness of an optional name: `None` and `""` are false.
fn truthy(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Something with `version_id` (and maybe `minimum_version_id`).
struct Versions {
    version_id: Option<i64>,
    minimum_version_id: Option<i64>,
}

impl From<&DumpSection> for Versions {
    fn from(s: &DumpSection) -> Self {
        Versions {
            version_id: s.version_id,
            minimum_version_id: s.minimum_version_id,
        }
    }
}

impl From<&DumpDescription> for Versions {
    fn from(d: &DumpDescription) -> Self {
        Versions {
            version_id: d.version_id,
            minimum_version_id: d.minimum_version_id,
        }
    }
}

impl From<&DumpField> for Versions {
    fn from(f: &DumpField) -> Self {
        // QEMU never writes minimum_version_id for fields; a hand-edited one
        // is honoured, as the Python script would.
        let minimum_version_id = f
            .extra
            .iter()
            .find(|(k, _)| k == "minimum_version_id")
            .and_then(|(_, v)| v.as_i64());
        Versions {
            version_id: f.version_id,
            minimum_version_id,
        }
    }
}

struct Checker {
    strict: bool,
    report: Report,
}

/// Context of a finding, for the structured record.
struct At<'a> {
    sec: &'a str,
    desc: Option<&'a str>,
    field: Option<&'a str>,
}

impl<'a> At<'a> {
    fn sec(sec: &'a str) -> Self {
        At {
            sec,
            desc: None,
            field: None,
        }
    }
    fn desc(sec: &'a str, desc: Option<&'a str>) -> Self {
        At {
            sec,
            desc,
            field: None,
        }
    }
    fn field(sec: &'a str, desc: Option<&'a str>, field: Option<&'a str>) -> Self {
        At { sec, desc, field }
    }
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

impl Checker {
    fn record(&mut self, kind: FindingKind, at: At<'_>, message: String, counted: bool) {
        if counted {
            self.report.problems = self.report.problems.saturating_add(1);
        }
        self.report.findings.push(Finding {
            kind,
            section: at.sec.to_owned(),
            description: at.desc.map(str::to_owned),
            field: at.field.map(str::to_owned),
            message,
            counted,
        });
    }

    /// A finding QEMU prints as one line.
    fn line(&mut self, kind: FindingKind, at: At<'_>, message: String) {
        self.report.stdout.push_str(&message);
        self.report.stdout.push('\n');
        let counted = !kind.is_warning();
        self.record(kind, at, message, counted);
    }

    /// A finding QEMU's script would not print (it would crash instead).
    fn malformed(&mut self, at: At<'_>, what: String) {
        let mut message = format!("Section {}", q(at.sec));
        if let Some(d) = at.desc {
            message.push_str(&format!(", Description {}", q(d)));
        }
        message.push_str(&format!(": malformed dump: {what}"));
        self.line(FindingKind::MalformedDump, at, message);
    }

    fn run(&mut self, src: &DumpFile, dest: &DumpFile) {
        let dest = Index::new(dest);
        for (sec, s) in top_entries(src) {
            let d = match dest.lookup(sec) {
                Some(d) => d,
                None => match dest.lookup(changed_section_name(sec)) {
                    Some(d) => d,
                    None => {
                        self.line(
                            FindingKind::SectionMissing,
                            At::sec(sec),
                            format!("Section {} does not exist in dest", q(sec)),
                        );
                        continue;
                    }
                },
            };
            match (s, d) {
                (Top::Machine(s), Top::Machine(d)) => self.check_machine(s, d),
                (Top::Section(s), Top::Section(d)) => self.check_section(sec, s, d),
                // A machine key only ever finds the machine entry.
                _ => {}
            }
        }
    }

    fn check_machine(&mut self, s: &crate::dump::DumpMachine, d: &crate::dump::DumpMachine) {
        match (&s.name, &d.name) {
            (Some(a), Some(b)) => {
                if a != b {
                    self.line(
                        FindingKind::MachineType,
                        At::sec(MACHINE_KEY),
                        format!(
                            "Warning: checking incompatible machine types: {}, {}",
                            q(a),
                            q(b)
                        ),
                    );
                }
            }
            (None, _) => self.malformed(At::sec(MACHINE_KEY), "src has no \"Name\"".into()),
            (_, None) => self.malformed(At::sec(MACHINE_KEY), "dest has no \"Name\"".into()),
        }
    }

    fn check_section(&mut self, sec: &str, s: &DumpSection, d: &DumpSection) {
        self.check_version(&s.into(), &d.into(), sec, None, None);
        let d_keys = d.keys();
        for entry in s.keys() {
            if !d_keys.contains(&entry) {
                self.line(
                    FindingKind::EntryMissing,
                    At::field(sec, None, Some(entry)),
                    format!("Section {}: Entry {} missing", q(sec), q(entry)),
                );
                continue;
            }
            if entry == "Description" {
                if let (Some(sd), Some(dd)) = (&s.description, &d.description) {
                    self.check_descriptions(sd, dd, sec);
                }
            }
        }
    }

    /// QEMU's `check_version(s, d, sec, desc)`. `field` only labels the finding.
    fn check_version(
        &mut self,
        s: &Versions,
        d: &Versions,
        sec: &str,
        desc: Option<&str>,
        field: Option<&str>,
    ) {
        let (Some(sv), Some(dv)) = (s.version_id, d.version_id) else {
            let side = if s.version_id.is_none() {
                "src"
            } else {
                "dest"
            };
            let what = match field {
                Some(f) => format!("{side} field {} has no \"version_id\"", q(f)),
                None => format!("{side} has no \"version_id\""),
            };
            self.malformed(At::field(sec, desc, field), what);
            return;
        };
        let desc = truthy(desc);
        if sv > dv {
            let mut m = format!("Section {}", q(sec));
            if let Some(desc) = desc {
                m.push_str(&format!(" Description {}:", q(desc)));
            }
            m.push_str(&format!(" version error: {sv} > {dv}"));
            self.line(FindingKind::VersionError, At::field(sec, desc, field), m);
        }
        let Some(dmin) = d.minimum_version_id else {
            return;
        };
        if sv < dmin {
            match desc {
                Some(desc) => self.line(
                    FindingKind::MinimumVersionError,
                    At::field(sec, Some(desc), field),
                    format!(
                        "Section {} Description {}: minimum version error: {sv} < {dmin}",
                        q(sec),
                        q(desc)
                    ),
                ),
                None => {
                    let full = format!("Section {} minimum version error: {sv} < {dmin}", q(sec));
                    if self.strict {
                        self.line(
                            FindingKind::MinimumVersionError,
                            At::field(sec, None, field),
                            full,
                        );
                    } else {
                        // QEMU prints only the prefix, without a newline,
                        // and does not count it.
                        self.report.stdout.push_str(&format!("Section {} ", q(sec)));
                        self.record(
                            FindingKind::MinimumVersionError,
                            At::field(sec, None, field),
                            full,
                            false,
                        );
                    }
                }
            }
        }
    }

    /// QEMU's `check_size`.
    fn check_size(&mut self, s: &DumpField, d: &DumpField, sec: &str, desc: Option<&str>) {
        let field = s.field.as_deref();
        let (Some(ss), Some(ds)) = (s.size, d.size) else {
            let side = if s.size.is_none() { "src" } else { "dest" };
            self.malformed(
                At::field(sec, desc, field),
                format!("{side} field {} has no \"size\"", q(field.unwrap_or(""))),
            );
            return;
        };
        if ss != ds {
            let mut m = format!("Section {}", q(sec));
            if let Some(desc) = truthy(desc) {
                m.push_str(&format!(" Description {}", q(desc)));
            }
            if let Some(f) = truthy(field) {
                m.push_str(&format!(" Field {}", q(f)));
            }
            m.push_str(&format!(" size mismatch: {ss} , {ds}"));
            self.line(FindingKind::SizeMismatch, At::field(sec, desc, field), m);
        }
    }

    fn check_wire_type(&mut self, s: &DumpField, d: &DumpField, sec: &str, desc: Option<&str>) {
        let (Some(sw), Some(dw)) = (&s.wire_type, &d.wire_type) else {
            return;
        };
        if sw != dw {
            let field = s.field.as_deref();
            let mut m = format!("Section {}", q(sec));
            if let Some(desc) = truthy(desc) {
                m.push_str(&format!(" Description {}", q(desc)));
            }
            if let Some(f) = truthy(field) {
                m.push_str(&format!(" Field {}", q(f)));
            }
            m.push_str(&format!(" wire type mismatch: {sw} , {dw}"));
            self.line(
                FindingKind::WireTypeMismatch,
                At::field(sec, desc, field),
                m,
            );
        }
    }

    /// QEMU's `check_descriptions`.
    fn check_descriptions(&mut self, s: &DumpDescription, d: &DumpDescription, sec: &str) {
        self.check_version(&s.into(), &d.into(), sec, s.name.as_deref(), None);
        let (Some(sname), Some(dname)) = (s.name.as_deref(), d.name.as_deref()) else {
            let side = if s.name.is_none() { "src" } else { "dest" };
            self.malformed(
                At::desc(sec, s.name.as_deref()),
                format!("{side} description has no \"name\""),
            );
            return;
        };
        if !fields_match(sec, sname, dname) {
            self.line(
                FindingKind::DescriptionRenamed,
                At::desc(sec, Some(sname)),
                format!(
                    "Section {}: Description {} missing, got {} instead; skipping",
                    q(sec),
                    q(sname),
                    q(dname)
                ),
            );
            return;
        }
        let d_keys = d.keys();
        for entry in s.keys() {
            if !d_keys.contains(&entry) {
                self.line(
                    FindingKind::EntryMissing,
                    At::field(sec, Some(sname), Some(entry)),
                    format!(
                        "Section {} Description {}: Entry {} missing",
                        q(sec),
                        q(sname),
                        q(entry)
                    ),
                );
                continue;
            }
            match entry {
                "Fields" => {
                    if let (Some(sf), Some(df)) = (&s.fields, &d.fields) {
                        self.check_fields(sf, df, sname, sec);
                    }
                }
                "Subsections" => {
                    if let (Some(ss), Some(ds)) = (&s.subsections, &d.subsections) {
                        self.check_subsections(ss, ds, sname, sec);
                    }
                }
                _ => {}
            }
        }
    }

    /// QEMU's `check_subsections`.
    fn check_subsections(
        &mut self,
        src: &[DumpDescription],
        dest: &[DumpDescription],
        desc: &str,
        sec: &str,
    ) {
        for s in src {
            let Some(sname) = s.name.as_deref() else {
                self.malformed(
                    At::desc(sec, Some(desc)),
                    "src subsection has no \"name\"".into(),
                );
                continue;
            };
            let mut found = false;
            for d in dest {
                if d.name.as_deref() != Some(sname) {
                    continue;
                }
                found = true;
                self.check_descriptions(s, d, sec);
            }
            if !found {
                self.line(
                    FindingKind::SubsectionMissing,
                    At::field(sec, Some(desc), Some(sname)),
                    format!(
                        "Section {}, Description {}: Subsection {} not found",
                        q(sec),
                        q(desc),
                        q(sname)
                    ),
                );
            }
        }
    }

    /// QEMU's `check_description_in_list`.
    fn check_description_in_list(&mut self, s: &DumpField, d: &DumpField, sec: &str, desc: &str) {
        let Some(sd) = &s.description else {
            return;
        };
        let Some(dd) = &d.description else {
            let field = s.field.as_deref().unwrap_or("");
            self.line(
                FindingKind::DescriptionMissing,
                At::field(sec, Some(desc), Some(field)),
                format!(
                    "Section {}, Description {}, Field {}: missing description",
                    q(sec),
                    q(desc),
                    q(field)
                ),
            );
            return;
        };
        self.check_descriptions(sd, dd, sec);
    }

    /// QEMU's `check_fields`: walks both field lists in step, descending
    /// into nested structs that appeared or disappeared without a wire
    /// change, and letting `unused` fields absorb the sizes of real ones.
    fn check_fields(&mut self, src: &[DumpField], dest: &[DumpField], desc: &str, sec: &str) {
        let mut s_iter = src.iter();
        let mut d_iter = dest.iter();
        let mut s_stack: Vec<std::slice::Iter<'_, DumpField>> = Vec::new();
        let mut d_stack: Vec<std::slice::Iter<'_, DumpField>> = Vec::new();
        let mut advance_src = true;
        let mut advance_dest = true;
        let mut unused_count: i64 = 0;
        let mut s_item: Option<&DumpField> = None;
        let mut d_item: Option<&DumpField> = None;

        loop {
            if advance_src {
                match s_iter.next() {
                    Some(f) => s_item = Some(f),
                    None => match s_stack.pop() {
                        None => break,
                        Some(outer) => {
                            s_iter = outer;
                            continue;
                        }
                    },
                }
            } else if unused_count == 0 {
                // Entering or leaving a dest substruct: keep the current
                // source field for one more round.
                advance_src = true;
            }

            if advance_dest {
                match d_iter.next() {
                    Some(f) => d_item = Some(f),
                    None => match d_stack.pop() {
                        None => {
                            let name = s_item.and_then(|f| f.field.as_deref()).unwrap_or("");
                            self.line(
                                FindingKind::FewerFields,
                                At::field(sec, Some(desc), Some(name)),
                                format!(
                                    "Section {}, Description {}: expected field {}, while dest has no further fields",
                                    q(sec),
                                    q(desc),
                                    q(name)
                                ),
                            );
                            break;
                        }
                        Some(outer) => {
                            d_iter = outer;
                            advance_src = false;
                            continue;
                        }
                    },
                }
            } else if unused_count == 0 {
                advance_dest = true;
            }

            let (Some(s), Some(d)) = (s_item, d_item) else {
                break;
            };
            let (Some(sname), Some(dname)) = (s.field.as_deref(), d.field.as_deref()) else {
                let side = if s.field.is_none() { "src" } else { "dest" };
                self.malformed(
                    At::desc(sec, Some(desc)),
                    format!("{side} field has no \"field\" name"),
                );
                break;
            };

            if unused_count > 0 {
                if !advance_dest {
                    let Some(size) = s.size else {
                        self.malformed(
                            At::field(sec, Some(desc), Some(sname)),
                            format!("src field {} has no \"size\"", q(sname)),
                        );
                        break;
                    };
                    unused_count = unused_count.saturating_sub(size);
                    if unused_count == 0 {
                        advance_dest = true;
                        continue;
                    }
                    if unused_count < 0 {
                        self.unused_mismatch(sec, desc, sname);
                        break;
                    }
                    continue;
                }
                if !advance_src {
                    let Some(size) = d.size else {
                        self.malformed(
                            At::field(sec, Some(desc), Some(dname)),
                            format!("dest field {} has no \"size\"", q(dname)),
                        );
                        break;
                    };
                    unused_count = unused_count.saturating_sub(size);
                    if unused_count == 0 {
                        advance_src = true;
                        continue;
                    }
                    if unused_count < 0 {
                        self.unused_mismatch(sec, desc, dname);
                        break;
                    }
                    continue;
                }
            }

            if !fields_match(desc, sname, dname) {
                // Did dest move fields into a new substruct?
                if let Some(sub) = substruct_starting_with(d, sname) {
                    d_stack.push(std::mem::replace(&mut d_iter, sub.iter()));
                    advance_src = false;
                    continue;
                }
                // Or did src have a substruct that dest flattened?
                if let Some(sub) = substruct_starting_with(s, dname) {
                    s_stack.push(std::mem::replace(&mut s_iter, sub.iter()));
                    advance_dest = false;
                    continue;
                }
                if sname == "unused" || dname == "unused" {
                    let (Some(ss), Some(ds)) = (s.size, d.size) else {
                        let (side, name) = if s.size.is_none() {
                            ("src", sname)
                        } else {
                            ("dest", dname)
                        };
                        self.malformed(
                            At::field(sec, Some(desc), Some(name)),
                            format!("{side} field {} has no \"size\"", q(name)),
                        );
                        break;
                    };
                    if ss == ds {
                        continue;
                    }
                    if dname == "unused" {
                        advance_dest = false;
                        unused_count = ds.saturating_sub(ss);
                        continue;
                    }
                    if sname == "unused" {
                        advance_src = false;
                        unused_count = ss.saturating_sub(ds);
                        continue;
                    }
                }
                self.line(
                    FindingKind::FieldMismatch,
                    At::field(sec, Some(desc), Some(sname)),
                    format!(
                        "Section {}, Description {}: expected field {}, got {}; skipping rest",
                        q(sec),
                        q(desc),
                        q(sname),
                        q(dname)
                    ),
                );
                break;
            }

            self.check_version(&s.into(), &d.into(), sec, Some(desc), Some(sname));
            if s.description.is_none() {
                self.check_size(s, d, sec, Some(desc));
            }
            if self.strict {
                self.check_wire_type(s, d, sec, Some(desc));
            }
            self.check_description_in_list(s, d, sec, desc);
        }
    }

    fn unused_mismatch(&mut self, sec: &str, desc: &str, near: &str) {
        self.line(
            FindingKind::UnusedSizeMismatch,
            At::field(sec, Some(desc), Some(near)),
            // QEMU prints `near "` and the name with a space in between.
            format!(
                "Section {}, Description {}: unused size mismatch near \" {near}\"",
                q(sec),
                q(desc),
            ),
        );
    }
}

/// QEMU's `exists_in_substruct`: if `field` is a struct whose first field
/// matches `name` (through the whitelist of the struct's description name),
/// the struct's fields.
fn substruct_starting_with<'a>(field: &'a DumpField, name: &str) -> Option<&'a [DumpField]> {
    let desc = field.description.as_ref()?;
    let fields = desc.fields.as_deref()?;
    let first = fields.first()?;
    let sub_name = desc.name.as_deref()?;
    let first_name = first.field.as_deref()?;
    fields_match(sub_name, first_name, name).then_some(fields)
}
