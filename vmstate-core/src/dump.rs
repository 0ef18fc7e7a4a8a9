//! QEMU's `-dump-vmstate` JSON: an owned schema model, parsed from QEMU's
//! dumps and exported from our static [`Description`]s.
//!
//! `qemu-system-x86_64 -M pc-q35-7.2 -dump-vmstate FILE` writes one JSON object:
//! the machine type under `"vmschkmachine"`, then one entry per QOM device type
//! that has a VMState description, keyed by the QOM type name:
//!
//! ```json
//! {
//!   "vmschkmachine": {
//!     "Name": "pc-q35-7.2"
//!   },
//!   "fw_cfg": {
//!     "Name": "fw_cfg",
//!     "version_id": 2,
//!     "minimum_version_id": 1,
//!     "Description": {
//!       "name": "fw_cfg",
//!       "version_id": 2,
//!       "minimum_version_id": 1,
//!       "Fields": [
//!         {
//!           "field": "cur_entry",
//!           "version_id": 0,
//!           "field_exists": false,
//!           "size": 2
//!         }
//!       ],
//!       "Subsections": [ ... ]
//!     }
//!   }
//! }
//! ```
//!
//! [`DumpFile::parse`] reads such a file into [`DumpFile`], [`DumpFile::to_json`]
//! writes it back in exactly QEMU's layout (parse → write reproduces QEMU's own
//! dumps byte for byte), and [`DumpFile::from_static`] / [`DumpDescription::from_static`]
//! export the schema of `#[derive(VmState)]` types in the same format, so that
//! QEMU's `scripts/vmstate-static-checker.py` (or `vmstate compat`) can compare
//! them with a QEMU binary's dump.
//!
//! # Missing and unknown keys
//!
//! QEMU always writes every key, but hand-edited dumps (QEMU's own checker test
//! data among them) leave some out, and the checker reports exactly that
//! (`Entry "Fields" missing`). So every key is an [`Option`] here, and keys
//! this model does not know are kept, in file order, in the `extra` lists.
//!
//! Within one object, known keys are always written in QEMU's order, then
//! the unknown ones; a hand-edited file whose keys are in another order is
//! therefore not reproduced byte for byte (the section order is kept). A
//! key that appears twice keeps its first position and its last value, as
//! Python's `json` module does (only the last value is checked).
//!
//! # Parsing and writing
//!
//! The JSON is read by serde_json (with its `preserve_order` feature, which
//! gives the key order and duplicate-key behaviour above). Strings must be
//! valid Unicode: an escaped lone surrogate (`"\ud800"`), which Python
//! would accept, is an error; so is a number too large for an `f64`
//! (`1e400`). A leading UTF-8 byte order mark is skipped. Writing lays the
//! model out as QEMU does; scalars and keys are written by serde_json.
//!
//! # Extension: `"wire_type"`
//!
//! Fields exported by [`DumpDescription::from_static`] carry one key QEMU does
//! not write: `"wire_type"`, QEMU's `VMStateInfo` name of the field's (element)
//! type (`"uint32"`, `"int64 equal"`, `"struct"`, `"pci config"`, ...; see
//! [`Layout::type_name`]).
//! QEMU's checker ignores unknown field keys; `vmstate compat --strict`
//! compares it when both sides have it. [`DumpFile::strip_wire_types`] removes it.
//!
//! # Exported sizes
//!
//! QEMU's `"size"` is `VMStateField.size`, the C in-memory size of one element.
//! A Rust type has no C layout, so the export uses the wire size of one
//! element instead, which equals QEMU's value for every integer, `bool`,
//! `CPU_Double_U`, timer pointer, buffer and unused field. Where QEMU leaves
//! `.size` unset (variable buffers and bitmaps) the export writes 0 as QEMU
//! does; a nested struct whose wire size is not fixed also gets 0 (the checker
//! never compares the size of fields that have a `"Description"`).
//!
//! Parsing never panics: any input either parses or gives a [`DumpError`]
//! that says where (section, key path, line and column) and what is wrong:
//! a JSON syntax error has serde_json's line, column and message, a value
//! of the wrong type its path and the line and column where it starts.

use std::collections::HashMap;
use std::fmt;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::{Description, FieldDescription, Layout, WireType};

/// The key QEMU uses for the machine type entry.
pub const MACHINE_KEY: &str = "vmschkmachine";

/// A whole `-dump-vmstate` file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DumpFile {
    /// The `"vmschkmachine"` entry, if the file has one.
    pub machine: Option<DumpMachine>,
    /// The device sections, keyed by QOM type name, in file order.
    pub sections: Vec<DumpSection>,
}

/// The `"vmschkmachine"` entry: which machine type the dump was made for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DumpMachine {
    /// `"Name"`: the machine type (`"pc-q35-7.2"`).
    pub name: Option<String>,
    /// Keys other than `"Name"`, in file order.
    pub extra: Vec<(String, Value)>,
}

/// One device section: the VMState description of a QOM device type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DumpSection {
    /// The object key: the QOM type name (`"fw_cfg"`, `"ICH9-LPC"`).
    pub qom_name: String,
    /// `"Name"`: QEMU writes the QOM type name again.
    pub name: Option<String>,
    /// `"version_id"` of the device's description.
    pub version_id: Option<i64>,
    /// `"minimum_version_id"` of the device's description.
    pub minimum_version_id: Option<i64>,
    /// `"Description"`: the device's top-level description.
    pub description: Option<DumpDescription>,
    /// Keys this model does not know, in file order.
    pub extra: Vec<(String, Value)>,
}

/// A VMState description (`VMStateDescription`): a section's `"Description"`,
/// a struct field's nested `"Description"`, or a subsection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DumpDescription {
    /// `"name"`: the description's name (`"PCIDevice"`, `"fw_cfg/dma"`).
    pub name: Option<String>,
    /// `"version_id"`.
    pub version_id: Option<i64>,
    /// `"minimum_version_id"`.
    pub minimum_version_id: Option<i64>,
    /// `"Fields"`: absent when QEMU's description has no field list.
    pub fields: Option<Vec<DumpField>>,
    /// `"Subsections"`: absent when the description has no subsection list.
    pub subsections: Option<Vec<DumpDescription>>,
    /// Keys this model does not know, in file order.
    pub extra: Vec<(String, Value)>,
}

/// One field of a description (`VMStateField`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DumpField {
    /// `"field"`: the field's name (`"cur_entry"`, `"parent_obj"`, `"unused"`).
    pub field: Option<String>,
    /// `"version_id"`: the field is in streams of this version and newer.
    pub version_id: Option<i64>,
    /// `"field_exists"`: an `exists` test decides whether the field is sent.
    pub field_exists: Option<bool>,
    /// `"num"`: the element count of a fixed array (QEMU 8.1 and newer).
    pub num: Option<i64>,
    /// `"size"`: the size of one element (QEMU: in memory; our exports: on the wire).
    pub size: Option<i64>,
    /// `"wire_type"` (our extension, see the [module docs](self)): QEMU's
    /// `VMStateInfo` name of the element type ([`Layout::type_name`]).
    pub wire_type: Option<String>,
    /// `"Description"`: the nested description of struct-like fields.
    pub description: Option<DumpDescription>,
    /// Keys this model does not know, in file order.
    pub extra: Vec<(String, Value)>,
}

/// Why a dump could not be parsed: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpError {
    /// Where in the document: `section "fw_cfg" > Description > Fields[2] > size`
    /// (empty for the document itself and for JSON syntax errors).
    pub path: String,
    /// 1-based line of the offending JSON text (after a byte order mark).
    pub line: usize,
    /// Column (in characters) of the offending JSON text: where the value
    /// of the wrong type starts (1-based), or, for a syntax error, where
    /// serde_json detected it (0 at the start of a line).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(
                f,
                "line {} column {}: {}",
                self.line, self.column, self.message
            )
        } else {
            write!(
                f,
                "{}: {} (line {} column {})",
                self.path, self.message, self.line, self.column
            )
        }
    }
}

impl std::error::Error for DumpError {}

// ---------------------------------------------------------------------------
// Parsing
//
// serde_json reads the text into a `Value` (with `preserve_order`, objects
// keep their keys in file order, and a repeated key keeps its first position
// and its last value, as Python's `json` module does); the model is then
// taken out of that tree, checking the type of every known key. A JSON
// syntax error carries serde_json's line and column. A wrong type names its
// path; its line and column are found again, only when there is an error,
// by following the path through serde_json's `RawValue`s, which borrow the
// exact text of each value.

impl DumpFile {
    /// Parses a `-dump-vmstate` JSON document.
    ///
    /// The document must be a JSON object; `"vmschkmachine"` becomes
    /// [`machine`](Self::machine), every other key a [`DumpSection`]. Known
    /// keys must have the right JSON type (strings, integers that fit `i64`,
    /// booleans, objects, arrays); anything else is an error naming the place.
    pub fn parse(text: &str) -> Result<DumpFile, DumpError> {
        // A UTF-8 byte order mark is tolerated, as Python's json.load on a
        // text file opened with utf-8-sig would; QEMU never writes one.
        // Lines and columns count from after it.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let root: Value = serde_json::from_str(text).map_err(|e| syntax_error(text, &e))?;
        let cx = Cx {
            text,
            parent: None,
            step: Step::Root,
        };
        let mut file = DumpFile::default();
        // Keys are unique here: serde_json has merged repeated ones.
        for (key, value) in cx.object(root)? {
            if key == MACHINE_KEY {
                file.machine = Some(parse_machine(&cx.child(Step::Key(MACHINE_KEY)), value)?);
            } else {
                file.sections.push(parse_section(&cx, key, value)?);
            }
        }
        Ok(file)
    }

    /// The section of QOM type `qom_name`, if any.
    pub fn section(&self, qom_name: &str) -> Option<&DumpSection> {
        self.sections.iter().find(|s| s.qom_name == qom_name)
    }

    /// The machine type name, if the file has one.
    pub fn machine_name(&self) -> Option<&str> {
        self.machine.as_ref().and_then(|m| m.name.as_deref())
    }
}

fn parse_machine(cx: &Cx<'_>, value: Value) -> Result<DumpMachine, DumpError> {
    let mut m = DumpMachine::default();
    for (k, v) in cx.object(value)? {
        match k.as_str() {
            "Name" => m.name = Some(cx.child(Step::Key(&k)).string(v)?),
            _ => m.extra.push((k, v)),
        }
    }
    Ok(m)
}

fn parse_section(
    parent: &Cx<'_>,
    qom_name: String,
    value: Value,
) -> Result<DumpSection, DumpError> {
    let mut s = DumpSection::default();
    let cx = parent.child(Step::Section(&qom_name));
    for (k, v) in cx.object(value)? {
        let at = cx.child(Step::Key(&k));
        match k.as_str() {
            "Name" => s.name = Some(at.string(v)?),
            "version_id" => s.version_id = Some(at.int(v)?),
            "minimum_version_id" => s.minimum_version_id = Some(at.int(v)?),
            "Description" => s.description = Some(parse_description(&at, v)?),
            _ => s.extra.push((k, v)),
        }
    }
    Ok(DumpSection { qom_name, ..s })
}

fn parse_description(cx: &Cx<'_>, value: Value) -> Result<DumpDescription, DumpError> {
    let mut d = DumpDescription::default();
    for (k, v) in cx.object(value)? {
        let at = cx.child(Step::Key(&k));
        match k.as_str() {
            "name" => d.name = Some(at.string(v)?),
            "version_id" => d.version_id = Some(at.int(v)?),
            "minimum_version_id" => d.minimum_version_id = Some(at.int(v)?),
            "Fields" => d.fields = Some(at.items(v, parse_field)?),
            "Subsections" => d.subsections = Some(at.items(v, parse_description)?),
            _ => d.extra.push((k, v)),
        }
    }
    Ok(d)
}

fn parse_field(cx: &Cx<'_>, value: Value) -> Result<DumpField, DumpError> {
    let mut f = DumpField::default();
    for (k, v) in cx.object(value)? {
        let at = cx.child(Step::Key(&k));
        match k.as_str() {
            "field" => f.field = Some(at.string(v)?),
            "version_id" => f.version_id = Some(at.int(v)?),
            "field_exists" => f.field_exists = Some(at.boolean(v)?),
            "num" => f.num = Some(at.int(v)?),
            "size" => f.size = Some(at.int(v)?),
            "wire_type" => f.wire_type = Some(at.string(v)?),
            "Description" => f.description = Some(parse_description(&at, v)?),
            _ => f.extra.push((k, v)),
        }
    }
    Ok(f)
}

/// A JSON syntax error from serde_json, with its line and column.
fn syntax_error(text: &str, e: &serde_json::Error) -> DumpError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    // serde_json counts columns in bytes, `DumpError` in characters.
    let line = text
        .split('\n')
        .nth(e.line().saturating_sub(1))
        .unwrap_or("");
    let column = line
        .char_indices()
        .take_while(|&(i, _)| i < e.column())
        .count();
    DumpError {
        path: String::new(),
        line: e.line(),
        column,
        message,
    }
}

/// One step of the path from the document to a value.
#[derive(Clone, Copy)]
enum Step<'a> {
    /// The document itself.
    Root,
    /// A device section: `section "fw_cfg"`.
    Section(&'a str),
    /// An object member: `Description`.
    Key(&'a str),
    /// An array element: `[2]`.
    Index(usize),
}

/// Where we are in the document: the text and the path to the current
/// value, as a chain of steps on the stack (nothing is allocated unless
/// there is an error).
struct Cx<'a> {
    /// The JSON text (after a byte order mark, if any).
    text: &'a str,
    parent: Option<&'a Cx<'a>>,
    step: Step<'a>,
}

impl<'a> Cx<'a> {
    fn child<'b>(&'b self, step: Step<'b>) -> Cx<'b> {
        Cx {
            text: self.text,
            parent: Some(self),
            step,
        }
    }

    /// The steps from the document down to here.
    fn steps(&self) -> Vec<Step<'a>> {
        let mut steps = vec![self.step];
        let mut at = self.parent;
        while let Some(cx) = at {
            steps.push(cx.step);
            at = cx.parent;
        }
        steps.reverse();
        steps
    }

    /// The path as error messages show it:
    /// `section "fw_cfg" > Description > Fields[2] > size`.
    fn path(&self) -> String {
        let mut path = String::new();
        for step in self.steps() {
            match step {
                Step::Root => {}
                Step::Section(name) => path.push_str(&format!("section {}", quote(name))),
                Step::Key(key) => {
                    if !path.is_empty() {
                        path.push_str(" > ");
                    }
                    path.push_str(key);
                }
                Step::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        path
    }

    /// The exact text of the current value, found by following the path
    /// through the document again (a repeated key: its last value, as when
    /// parsing). Only called on the way to an error.
    fn raw(&self) -> Option<&'a str> {
        let mut raw: &RawValue = serde_json::from_str(self.text).ok()?;
        for step in self.steps() {
            raw = match step {
                Step::Root => raw,
                Step::Section(key) | Step::Key(key) => {
                    let members: HashMap<String, &RawValue> =
                        serde_json::from_str(raw.get()).ok()?;
                    *members.get(key)?
                }
                Step::Index(i) => {
                    let items: Vec<&RawValue> = serde_json::from_str(raw.get()).ok()?;
                    *items.get(i)?
                }
            };
        }
        Some(raw.get())
    }

    /// An error about the current value, whose text is `raw`.
    fn error(&self, raw: Option<&str>, message: String) -> DumpError {
        // `raw` borrows from `text`: its address gives its offset.
        let offset = raw
            .and_then(|r| r.as_ptr().addr().checked_sub(self.text.as_ptr().addr()))
            .unwrap_or(0);
        let (line, column) = line_col(self.text, offset);
        DumpError {
            path: self.path(),
            line,
            column,
            message,
        }
    }

    /// "`expected`, got (the kind of `v`)".
    fn mismatch(&self, v: &Value, expected: &str) -> DumpError {
        let raw = self.raw();
        let message = format!("{expected}, got {}", kind(v, raw));
        self.error(raw, message)
    }

    fn object(&self, v: Value) -> Result<Map<String, Value>, DumpError> {
        match v {
            Value::Object(map) => Ok(map),
            other => Err(self.mismatch(&other, "expected a JSON object")),
        }
    }

    /// The elements of an array, each read by `item` at its index.
    fn items<T>(
        &self,
        v: Value,
        item: fn(&Cx<'_>, Value) -> Result<T, DumpError>,
    ) -> Result<Vec<T>, DumpError> {
        match v {
            Value::Array(values) => values
                .into_iter()
                .enumerate()
                .map(|(i, v)| item(&self.child(Step::Index(i)), v))
                .collect(),
            other => Err(self.mismatch(&other, "expected a JSON array")),
        }
    }

    fn string(&self, v: Value) -> Result<String, DumpError> {
        match v {
            Value::String(s) => Ok(s),
            other => Err(self.mismatch(&other, "expected a string")),
        }
    }

    fn boolean(&self, v: Value) -> Result<bool, DumpError> {
        match v {
            Value::Bool(b) => Ok(b),
            other => Err(self.mismatch(&other, "expected true or false")),
        }
    }

    fn int(&self, v: Value) -> Result<i64, DumpError> {
        let Value::Number(n) = &v else {
            return Err(self.mismatch(&v, "expected an integer"));
        };
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        let raw = self.raw();
        // serde_json reads `-0` as the float -0.0, Python (QEMU's checker)
        // as the integer 0.
        if raw == Some("-0") {
            return Ok(0);
        }
        let text = raw.map_or_else(|| n.to_string(), str::to_owned);
        Err(self.error(
            raw,
            format!("expected an integer that fits in 64 bits, got {text}"),
        ))
    }
}

/// What kind of JSON value `v` is, for error messages; `raw` is its text.
fn kind(v: &Value, raw: Option<&str>) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if raw.map_or(n.is_f64(), |t| t.contains(['.', 'e', 'E'])) => {
            "a non-integer number"
        }
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

// ---------------------------------------------------------------------------
// Writing
//
// The model becomes a `Value` (keys in QEMU's order, kept by
// `preserve_order`), which `write_dump` lays out as QEMU does. Scalars and
// keys are written by serde_json.

/// Writes `v` in the layout of QEMU's `-dump-vmstate`: one member or item
/// per line, indented by two spaces per level, `": "` after keys; an empty
/// object or array has an empty line inside (QEMU's `"Fields": [\n\n      ]`).
/// `indent` is the indentation of the line `v` starts on.
fn write_dump(out: &mut Vec<u8>, v: &Value, indent: usize) {
    match v {
        Value::Object(map) => {
            out.extend_from_slice(b"{\n");
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",\n");
                }
                push_indent(out, indent + 2);
                // Writing to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, key);
                out.extend_from_slice(b": ");
                write_dump(out, value, indent + 2);
            }
            out.push(b'\n');
            push_indent(out, indent);
            out.push(b'}');
        }
        Value::Array(items) => {
            out.extend_from_slice(b"[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",\n");
                }
                push_indent(out, indent + 2);
                write_dump(out, item, indent + 2);
            }
            out.push(b'\n');
            push_indent(out, indent);
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

fn push_indent(out: &mut Vec<u8>, n: usize) {
    out.extend(std::iter::repeat_n(b' ', n));
}

/// `s` as a JSON string (serde_json's escaping).
fn quote(s: &str) -> String {
    Value::from(s).to_string()
}

/// Adds `key` to `map` if it has a value.
fn put(map: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v.into());
    }
}

/// Adds the keys the model does not know, in their order.
fn put_extra(map: &mut Map<String, Value>, extra: &[(String, Value)]) {
    map.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
}

impl DumpMachine {
    fn to_value(&self) -> Value {
        let mut m = Map::with_capacity(1 + self.extra.len());
        put(&mut m, "Name", self.name.as_deref());
        put_extra(&mut m, &self.extra);
        Value::Object(m)
    }
}

impl DumpSection {
    fn to_value(&self) -> Value {
        let mut m = Map::with_capacity(4 + self.extra.len());
        put(&mut m, "Name", self.name.as_deref());
        put(&mut m, "version_id", self.version_id);
        put(&mut m, "minimum_version_id", self.minimum_version_id);
        put(
            &mut m,
            "Description",
            self.description.as_ref().map(DumpDescription::to_value),
        );
        put_extra(&mut m, &self.extra);
        Value::Object(m)
    }

    /// The keys this section has, in the order they are written: the known
    /// ones in QEMU's order (`Name`, `version_id`, `minimum_version_id`,
    /// `Description`), then the unknown ones.
    pub fn keys(&self) -> Vec<&str> {
        let mut k = Vec::new();
        if self.name.is_some() {
            k.push("Name");
        }
        if self.version_id.is_some() {
            k.push("version_id");
        }
        if self.minimum_version_id.is_some() {
            k.push("minimum_version_id");
        }
        if self.description.is_some() {
            k.push("Description");
        }
        k.extend(self.extra.iter().map(|(k, _)| k.as_str()));
        k
    }

    /// Exports the static description of a device whose QOM type is
    /// `qom_name`, as QEMU's `-dump-vmstate` would write it.
    pub fn from_static(qom_name: &str, description: &'static Description<'static>) -> DumpSection {
        DumpSection {
            qom_name: qom_name.to_owned(),
            name: Some(qom_name.to_owned()),
            version_id: Some(i64::from(description.version_id)),
            minimum_version_id: Some(i64::from(description.minimum_version_id)),
            description: Some(DumpDescription::from_static(description)),
            extra: Vec::new(),
        }
    }
}

impl DumpDescription {
    fn to_value(&self) -> Value {
        let mut m = Map::with_capacity(5 + self.extra.len());
        put(&mut m, "name", self.name.as_deref());
        put(&mut m, "version_id", self.version_id);
        put(&mut m, "minimum_version_id", self.minimum_version_id);
        put(
            &mut m,
            "Fields",
            self.fields
                .as_ref()
                .map(|f| f.iter().map(DumpField::to_value).collect::<Vec<_>>()),
        );
        put(
            &mut m,
            "Subsections",
            self.subsections
                .as_ref()
                .map(|s| s.iter().map(DumpDescription::to_value).collect::<Vec<_>>()),
        );
        put_extra(&mut m, &self.extra);
        Value::Object(m)
    }

    /// The keys this description has, in the order they are written: the
    /// known ones in QEMU's order (`name`, `version_id`, `minimum_version_id`,
    /// `Fields`, `Subsections`), then the unknown ones.
    pub fn keys(&self) -> Vec<&str> {
        let mut k = Vec::new();
        if self.name.is_some() {
            k.push("name");
        }
        if self.version_id.is_some() {
            k.push("version_id");
        }
        if self.minimum_version_id.is_some() {
            k.push("minimum_version_id");
        }
        if self.fields.is_some() {
            k.push("Fields");
        }
        if self.subsections.is_some() {
            k.push("Subsections");
        }
        k.extend(self.extra.iter().map(|(k, _)| k.as_str()));
        k
    }

    /// Exports a static description following QEMU's dump rules: the name
    /// and versions; every field except [`Layout::Validate`] ones (QEMU
    /// skips `VMSTATE_VALIDATE`); `"Subsections"` (recursively) when there
    /// are any. Fields get `"num"` for fixed arrays (nested fixed arrays
    /// multiply, like QEMU's 2D arrays), `"size"` of one element (see the
    /// [module docs](self)), `"wire_type"`, and a nested `"Description"` for
    /// struct-like fields (struct, pinned struct, tmp, arrays, variable
    /// arrays, pointers, lists and trees of structs).
    pub fn from_static(description: &'static Description<'static>) -> DumpDescription {
        DumpDescription {
            name: Some(description.name.to_owned()),
            version_id: Some(i64::from(description.version_id)),
            minimum_version_id: Some(i64::from(description.minimum_version_id)),
            fields: Some(
                description
                    .fields
                    .iter()
                    .filter(|f| !matches!(f.layout, Layout::Validate))
                    .map(DumpField::from_static)
                    .collect(),
            ),
            subsections: if description.subsections.is_empty() {
                None
            } else {
                Some(
                    description
                        .subsections
                        .iter()
                        .map(|s| DumpDescription::from_static(s))
                        .collect(),
                )
            },
            extra: Vec::new(),
        }
    }

    fn strip_wire_types(&mut self) {
        for f in self.fields.iter_mut().flatten() {
            f.wire_type = None;
            if let Some(d) = &mut f.description {
                d.strip_wire_types();
            }
        }
        for s in self.subsections.iter_mut().flatten() {
            s.strip_wire_types();
        }
    }
}

impl DumpField {
    fn to_value(&self) -> Value {
        let mut m = Map::with_capacity(7 + self.extra.len());
        put(&mut m, "field", self.field.as_deref());
        put(&mut m, "version_id", self.version_id);
        put(&mut m, "field_exists", self.field_exists);
        put(&mut m, "num", self.num);
        put(&mut m, "size", self.size);
        put(&mut m, "wire_type", self.wire_type.as_deref());
        // QEMU writes a field's nested description last.
        put_extra(&mut m, &self.extra);
        put(
            &mut m,
            "Description",
            self.description.as_ref().map(DumpDescription::to_value),
        );
        Value::Object(m)
    }

    /// Exports one static field (see [`DumpDescription::from_static`]).
    /// [`Layout::Unused`] fields are named `"unused"`, as QEMU's
    /// `VMSTATE_UNUSED` macros name them, whatever the Rust field is called.
    /// [`Layout::Validate`] fields are exported too if passed here directly
    /// (with size 0); `from_static` on a description skips them.
    pub fn from_static(field: &FieldDescription<'static>) -> DumpField {
        let (num, element) = flatten_array(&field.layout);
        // QEMU's VMSTATE_UNUSED* macros all name the field "unused", and the
        // checker relies on that name to let it absorb removed fields.
        let name = if matches!(field.layout, Layout::Unused(_)) {
            "unused"
        } else {
            field.name
        };
        DumpField {
            field: Some(name.to_owned()),
            version_id: Some(i64::from(field.since)),
            field_exists: Some(field.has_exists_predicate),
            num: num.map(usize_to_i64),
            size: Some(usize_to_i64(element_size(element))),
            wire_type: Some(field.layout.type_name().to_owned()),
            description: nested_description(element).map(DumpDescription::from_static),
            extra: Vec::new(),
        }
    }
}

fn usize_to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// For a fixed array (possibly of fixed arrays): the total element count and
/// the innermost element. Otherwise `(None, layout)`.
pub(crate) fn flatten_array<'r, 'a: 'r>(layout: &'r Layout<'a>) -> (Option<usize>, &'r Layout<'a>) {
    let mut num: Option<usize> = None;
    let mut cur = layout;
    while let Layout::Array { len, element } = cur {
        num = Some(num.unwrap_or(1).saturating_mul(*len));
        cur = element;
    }
    (num, cur)
}

/// The size of one element, as the dump shows it (see the module docs).
fn element_size(layout: &Layout) -> usize {
    match layout {
        Layout::Scalar(w) => w.fixed_size().unwrap_or(0),
        Layout::Buffer(n) | Layout::Unused(n) => *n,
        Layout::VarBuffer { .. } | Layout::Bitmap { .. } | Layout::Validate => 0,
        Layout::Struct { description, .. } | Layout::Tmp(description) => {
            description.fixed_size().unwrap_or(0)
        }
        Layout::Array { .. } => layout.fixed_size().unwrap_or(0),
        Layout::VarArray { element, .. }
        | Layout::Pointer { element, .. }
        | Layout::List { element, .. } => element_size(element),
        Layout::Tree { value, .. } => element_size(value),
        Layout::Info { size, .. } => size.unwrap_or(0),
    }
}

/// The description QEMU would dump for a field with this (element) layout.
/// For a tree it is the key's description when the key is a struct, else
/// the value's (QEMU's `VMSTATE_GTREE_V` points `.vmsd` at the key/value pair).
pub(crate) fn nested_description<'a>(layout: &Layout<'a>) -> Option<&'a Description<'a>> {
    match layout {
        Layout::Tree { key, value } => key.description().or_else(|| value.description()),
        other => other.description(),
    }
}

impl DumpFile {
    /// A dump with machine type `machine` and no sections yet.
    pub fn new(machine: &str) -> DumpFile {
        DumpFile {
            machine: Some(DumpMachine {
                name: Some(machine.to_owned()),
                extra: Vec::new(),
            }),
            sections: Vec::new(),
        }
    }

    /// Builds a dump for machine type `machine` from `(QOM type name,
    /// description)` pairs, in the given order (QEMU's order is that of its
    /// QOM class list; the checker does not depend on it).
    pub fn from_static<'a, I>(machine: &str, devices: I) -> DumpFile
    where
        I: IntoIterator<Item = (&'a str, &'static Description<'static>)>,
    {
        let mut file = DumpFile::new(machine);
        for (qom, desc) in devices {
            file.push_static(qom, desc);
        }
        file
    }

    /// Adds (or replaces) the section of QOM type `qom_name`, exported from
    /// a static description.
    pub fn push_static(&mut self, qom_name: &str, description: &'static Description<'static>) {
        let section = DumpSection::from_static(qom_name, description);
        match self.sections.iter_mut().find(|s| s.qom_name == qom_name) {
            Some(old) => *old = section,
            None => self.sections.push(section),
        }
    }

    /// Removes the `"wire_type"` extension from every field, leaving
    /// exactly the keys QEMU writes.
    pub fn strip_wire_types(&mut self) {
        for s in &mut self.sections {
            if let Some(d) = &mut s.description {
                d.strip_wire_types();
            }
        }
    }

    /// Writes the dump in QEMU's layout: two-space indentation, one key per
    /// line, `"vmschkmachine"` first, a final newline. For a dump parsed
    /// from QEMU's output this reproduces the input byte for byte.
    ///
    /// Differences from QEMU's writer, only visible on inputs QEMU never
    /// writes: strings are JSON-escaped (QEMU prints names raw), and a file
    /// with a machine but no sections gets no dangling comma.
    pub fn to_json(&self) -> String {
        let mut root = Map::with_capacity(self.sections.len() + 1);
        put(
            &mut root,
            MACHINE_KEY,
            self.machine.as_ref().map(DumpMachine::to_value),
        );
        for s in &self.sections {
            root.insert(s.qom_name.clone(), s.to_value());
        }
        let mut out = Vec::new();
        write_dump(&mut out, &Value::Object(root), 0);
        out.push(b'\n');
        // serde_json writes UTF-8, and so does `write_dump`.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl fmt::Display for DumpFile {
    /// The same text as [`DumpFile::to_json`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl DumpField {
    /// The [`WireType`] named by this field's `"wire_type"`, if it has a known one.
    pub fn parsed_wire_type(&self) -> Option<WireType> {
        self.wire_type.as_deref().and_then(WireType::from_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_minimal() {
        let text = "{\n  \"vmschkmachine\": {\n    \"Name\": \"m\"\n  },\n  \"dev\": {\n    \"Name\": \"dev\",\n    \"version_id\": 1,\n    \"minimum_version_id\": 1,\n    \"Description\": {\n      \"name\": \"dev\",\n      \"version_id\": 1,\n      \"minimum_version_id\": 1,\n      \"Fields\": [\n\n      ]\n    }\n  }\n}\n";
        let d = DumpFile::parse(text).unwrap();
        assert_eq!(d.machine_name(), Some("m"));
        assert_eq!(d.to_json(), text);
    }

    #[test]
    fn errors_say_where() {
        let e = DumpFile::parse("{\"x\": {\"Description\": {\"Fields\": [{\"size\": \"4\"}]}}}")
            .unwrap_err();
        assert_eq!(e.path, "section \"x\" > Description > Fields[0] > size");
        assert!(e.message.contains("expected an integer"), "{e}");
        for bad in [
            "",
            "[",
            "{",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":1,}",
            "\"\\ud800",
            "{\"a\":-}",
            "1 2",
            "{\"a\": 1e}",
            "{\"a\": \"\\u12\"}",
            "[]",
        ] {
            assert!(DumpFile::parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(10_000);
        assert!(DumpFile::parse(&deep).is_err());
    }

    #[test]
    fn keeps_extras_and_duplicates() {
        let d = DumpFile::parse(
            r#"{"b": {"Name": "b", "zz": [1, {"q": null}], "Name": "c"}, "a": {}, "b": {"Name": "d"}}"#,
        )
        .unwrap();
        assert_eq!(d.sections[0].qom_name, "b");
        assert_eq!(d.sections[0].name.as_deref(), Some("d"));
        assert_eq!(d.sections[1].qom_name, "a");
        let e = DumpFile::parse(r#"{"b": {"Name": "b", "zz": [1, {"q": null}], "Name": "c"}}"#)
            .unwrap();
        assert_eq!(e.sections[0].name.as_deref(), Some("c"));
        assert_eq!(e.sections[0].keys(), ["Name", "zz"]);
        let again = DumpFile::parse(&e.to_json()).unwrap();
        assert_eq!(again, e);
        // Only the last value of a repeated key is read (and checked).
        let f = DumpFile::parse(r#"{"x": {"version_id": "one", "version_id": 2}}"#).unwrap();
        assert_eq!(f.sections[0].version_id, Some(2));
        // Unknown keys keep their own key order, nested ones too.
        let g = DumpFile::parse(r#"{"x": {"zz": {"b": 1, "a": [2, {"d": 3, "c": 4}]}}}"#).unwrap();
        assert_eq!(
            g.sections[0].extra[0].1.to_string(),
            r#"{"b":1,"a":[2,{"d":3,"c":4}]}"#
        );
    }

    /// A number beyond the integers, in a key the model does not know,
    /// survives being written back: serde_json rounds it correctly (its
    /// `float_roundtrip`), as Python's json does (found by the dump_compat
    /// fuzz target: 1.7777777777777777e24 came back as ...775e24).
    #[test]
    fn large_numbers_survive_a_round_trip() {
        for text in [
            r#"{"":{"":1777777777777777777777777}}"#,
            r#"{"x":{"a":[1.7777777777777777e24, 0.1, 5e-324, 1.7976931348623157e308]}}"#,
        ] {
            let d = DumpFile::parse(text).unwrap();
            let again = DumpFile::parse(&d.to_json()).unwrap();
            assert_eq!(again, d, "{text}");
        }
    }

    #[test]
    fn errors_have_line_and_column() {
        // A value of the wrong type: its path, and where it starts.
        let text = "{\n  \"x\": {\n    \"Description\": {\n      \"Fields\": [\n        {},\n        {\"size\": \"4\"}\n      ]\n    }\n  }\n}\n";
        let e = DumpFile::parse(text).unwrap_err();
        assert_eq!(e.path, "section \"x\" > Description > Fields[1] > size");
        assert_eq!((e.line, e.column), (6, 18));
        assert_eq!(e.message, "expected an integer, got a string");
        assert_eq!(
            e.to_string(),
            "section \"x\" > Description > Fields[1] > size: expected an integer, got a string (line 6 column 18)"
        );
        // Columns count characters; a repeated key points at its last value.
        let e = DumpFile::parse("{\"é\": {\"Name\": 1, \"Name\": [1]}}").unwrap_err();
        assert_eq!(e.path, "section \"é\" > Name");
        assert_eq!((e.line, e.column), (1, 27));
        assert_eq!(e.message, "expected a string, got an array");
        let e = DumpFile::parse("{\"vmschkmachine\": {\"Name\": 3}}").unwrap_err();
        assert_eq!(e.path, "vmschkmachine > Name");
        let e = DumpFile::parse(" []").unwrap_err();
        assert_eq!((e.path.as_str(), e.line, e.column), ("", 1, 2));
        assert_eq!(e.message, "expected a JSON object, got an array");
        // A syntax error: serde_json's message, line and column.
        let e = DumpFile::parse("{\n  \"a\": 1,\n}").unwrap_err();
        assert_eq!((e.path.as_str(), e.line, e.column), ("", 3, 1));
        assert_eq!(e.to_string(), "line 3 column 1: trailing comma");
    }

    #[test]
    fn integers() {
        let size = |n: &str| {
            DumpFile::parse(&format!(
                r#"{{"x": {{"Description": {{"Fields": [{{"size": {n}}}]}}}}}}"#
            ))
            .map(|d| {
                d.sections[0]
                    .description
                    .as_ref()
                    .unwrap()
                    .fields
                    .as_ref()
                    .unwrap()[0]
                    .size
            })
        };
        assert_eq!(size("-9223372036854775808"), Ok(Some(i64::MIN)));
        assert_eq!(size("9223372036854775807"), Ok(Some(i64::MAX)));
        // serde_json reads `-0` as a float; it is the integer 0 for Python.
        assert_eq!(size("-0"), Ok(Some(0)));
        for bad in [
            "-0.0",
            "1.5",
            "1e2",
            "9223372036854775808",
            "18446744073709551616",
        ] {
            let e = size(bad).unwrap_err();
            assert_eq!(
                e.message,
                format!("expected an integer that fits in 64 bits, got {bad}")
            );
        }
        let e = DumpFile::parse(r#"{"x": {"Name": 2.5}}"#).unwrap_err();
        assert_eq!(e.message, "expected a string, got a non-integer number");
    }

    #[test]
    fn byte_order_mark_and_escapes() {
        let d = DumpFile::parse("\u{feff}{\"x\": {\"Name\": \"a\\u00e9\\n\\\"\"}}").unwrap();
        assert_eq!(d.sections[0].name.as_deref(), Some("aé\n\""));
        assert!(d.to_json().contains("\"Name\": \"aé\\n\\\"\""));
        assert!(DumpFile::parse(r#"{"x": {"Name": "\ud800"}}"#).is_err());
    }
}
