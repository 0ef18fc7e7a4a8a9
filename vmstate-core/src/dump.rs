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
//! Python's `json` module does.
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
//! that says where (section, key path, line and column) and what is wrong.

use std::fmt;

use serde_json::Value;

use crate::{Description, FieldDescription, Layout, WireType};

/// The key QEMU uses for the machine type entry.
pub const MACHINE_KEY: &str = "vmschkmachine";

/// How deeply JSON values may nest before parsing gives up (serde_json's limit).
const MAX_DEPTH: usize = 128;

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
    /// (empty for the document itself).
    pub path: String,
    /// 1-based line of the offending JSON text.
    pub line: usize,
    /// 1-based column (in characters) of the offending JSON text.
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

impl DumpFile {
    /// Parses a `-dump-vmstate` JSON document.
    ///
    /// The document must be a JSON object; `"vmschkmachine"` becomes
    /// [`machine`](Self::machine), every other key a [`DumpSection`]. Known
    /// keys must have the right JSON type (strings, integers that fit `i64`,
    /// booleans, objects, arrays); anything else is an error naming the place.
    pub fn parse(text: &str) -> Result<DumpFile, DumpError> {
        let mut p = Parser::new(text);
        let root = p.document()?;
        let cx = Cx {
            text,
            path: String::new(),
        };
        let Node::Obj(entries) = &root.node else {
            return Err(cx.err(
                &root,
                format!("expected a JSON object, got {}", root.kind()),
            ));
        };
        let mut file = DumpFile::default();
        for (key, value) in entries {
            if key == MACHINE_KEY {
                let cx = cx.child(MACHINE_KEY);
                let obj = cx.object(value)?;
                let mut m = DumpMachine::default();
                for (k, v) in obj {
                    match k.as_str() {
                        "Name" => m.name = Some(cx.child("Name").string(v)?),
                        _ => set_extra(&mut m.extra, k, cx.child(k).value(v)?),
                    }
                }
                file.machine = Some(m);
            } else {
                let cx = Cx {
                    text,
                    path: format!("section {}", quote(key)),
                };
                let section = parse_section(&cx, key, value)?;
                match file.sections.iter_mut().find(|s| s.qom_name == *key) {
                    Some(old) => *old = section,
                    None => file.sections.push(section),
                }
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

fn parse_section(cx: &Cx<'_>, key: &str, value: &Spanned) -> Result<DumpSection, DumpError> {
    let obj = cx.object(value)?;
    let mut s = DumpSection {
        qom_name: key.to_owned(),
        ..DumpSection::default()
    };
    for (k, v) in obj {
        let cx = cx.child(k);
        match k.as_str() {
            "Name" => s.name = Some(cx.string(v)?),
            "version_id" => s.version_id = Some(cx.int(v)?),
            "minimum_version_id" => s.minimum_version_id = Some(cx.int(v)?),
            "Description" => s.description = Some(parse_description(&cx, v)?),
            _ => set_extra(&mut s.extra, k, cx.value(v)?),
        }
    }
    Ok(s)
}

fn parse_description(cx: &Cx<'_>, value: &Spanned) -> Result<DumpDescription, DumpError> {
    let obj = cx.object(value)?;
    let mut d = DumpDescription::default();
    for (k, v) in obj {
        let cx = cx.child(k);
        match k.as_str() {
            "name" => d.name = Some(cx.string(v)?),
            "version_id" => d.version_id = Some(cx.int(v)?),
            "minimum_version_id" => d.minimum_version_id = Some(cx.int(v)?),
            "Fields" => {
                let items = cx.array(v)?;
                let mut fields = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    fields.push(parse_field(&cx.index(i), item)?);
                }
                d.fields = Some(fields);
            }
            "Subsections" => {
                let items = cx.array(v)?;
                let mut subs = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    subs.push(parse_description(&cx.index(i), item)?);
                }
                d.subsections = Some(subs);
            }
            _ => set_extra(&mut d.extra, k, cx.value(v)?),
        }
    }
    Ok(d)
}

fn parse_field(cx: &Cx<'_>, value: &Spanned) -> Result<DumpField, DumpError> {
    let obj = cx.object(value)?;
    let mut f = DumpField::default();
    for (k, v) in obj {
        let cx = cx.child(k);
        match k.as_str() {
            "field" => f.field = Some(cx.string(v)?),
            "version_id" => f.version_id = Some(cx.int(v)?),
            "field_exists" => f.field_exists = Some(cx.boolean(v)?),
            "num" => f.num = Some(cx.int(v)?),
            "size" => f.size = Some(cx.int(v)?),
            "wire_type" => f.wire_type = Some(cx.string(v)?),
            "Description" => f.description = Some(parse_description(&cx, v)?),
            _ => set_extra(&mut f.extra, k, cx.value(v)?),
        }
    }
    Ok(f)
}

fn set_extra(extra: &mut Vec<(String, Value)>, key: &str, value: Value) {
    match extra.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => extra.push((key.to_owned(), value)),
    }
}

/// Where we are in the document, for error messages.
struct Cx<'t> {
    text: &'t str,
    path: String,
}

impl<'t> Cx<'t> {
    fn child(&self, key: &str) -> Cx<'t> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{} > {}", self.path, key)
        };
        Cx {
            text: self.text,
            path,
        }
    }

    fn index(&self, i: usize) -> Cx<'t> {
        Cx {
            text: self.text,
            path: format!("{}[{}]", self.path, i),
        }
    }

    fn err(&self, at: &Spanned, message: String) -> DumpError {
        let (line, column) = line_col(self.text, at.start);
        DumpError {
            path: self.path.clone(),
            line,
            column,
            message,
        }
    }

    fn object<'a>(&self, v: &'a Spanned) -> Result<&'a [(String, Spanned)], DumpError> {
        match &v.node {
            Node::Obj(entries) => Ok(entries),
            _ => Err(self.err(v, format!("expected a JSON object, got {}", v.kind()))),
        }
    }

    fn array<'a>(&self, v: &'a Spanned) -> Result<&'a [Spanned], DumpError> {
        match &v.node {
            Node::Arr(items) => Ok(items),
            _ => Err(self.err(v, format!("expected a JSON array, got {}", v.kind()))),
        }
    }

    fn string(&self, v: &Spanned) -> Result<String, DumpError> {
        match &v.node {
            Node::Str(s) => Ok(s.clone()),
            _ => Err(self.err(v, format!("expected a string, got {}", v.kind()))),
        }
    }

    fn boolean(&self, v: &Spanned) -> Result<bool, DumpError> {
        match &v.node {
            Node::Bool(b) => Ok(*b),
            _ => Err(self.err(v, format!("expected true or false, got {}", v.kind()))),
        }
    }

    fn int(&self, v: &Spanned) -> Result<i64, DumpError> {
        match &v.node {
            Node::Num(text) => text.parse::<i64>().map_err(|_| {
                self.err(
                    v,
                    format!("expected an integer that fits in 64 bits, got {text}"),
                )
            }),
            _ => Err(self.err(v, format!("expected an integer, got {}", v.kind()))),
        }
    }

    fn value(&self, v: &Spanned) -> Result<Value, DumpError> {
        to_value(v).ok_or_else(|| self.err(v, "number out of range".to_owned()))
    }
}

fn to_value(v: &Spanned) -> Option<Value> {
    Some(match &v.node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Num(text) => serde_json::from_str::<Value>(text).ok()?,
        Node::Str(s) => Value::String(s.clone()),
        Node::Arr(items) => Value::Array(items.iter().map(to_value).collect::<Option<_>>()?),
        Node::Obj(entries) => {
            let mut map = serde_json::Map::new();
            for (k, v) in entries {
                map.insert(k.clone(), to_value(v)?);
            }
            Value::Object(map)
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// A parsed JSON value with the byte offset where it starts. Objects keep
/// their keys in file order (duplicates: first position, last value).
struct Spanned {
    start: usize,
    node: Node,
}

enum Node {
    Null,
    Bool(bool),
    /// The number's text, validated against the JSON grammar.
    Num(String),
    Str(String),
    Arr(Vec<Spanned>),
    Obj(Vec<(String, Spanned)>),
}

impl Spanned {
    fn kind(&self) -> &'static str {
        match &self.node {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Num(t) if t.contains(['.', 'e', 'E']) => "a non-integer number",
            Node::Num(_) => "a number",
            Node::Str(_) => "a string",
            Node::Arr(_) => "an array",
            Node::Obj(_) => "an object",
        }
    }
}

/// A small strict JSON parser (RFC 8259) that keeps object key order and
/// positions, and limits nesting depth.
struct Parser<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    depth: usize,
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
        }
    }

    fn error(&self, at: usize, message: impl Into<String>) -> DumpError {
        let (line, column) = line_col(self.text, at);
        DumpError {
            path: String::new(),
            line,
            column,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn document(&mut self) -> Result<Spanned, DumpError> {
        // A UTF-8 byte order mark is tolerated, as Python's json.load on a
        // text file opened with utf-8-sig would; QEMU never writes one.
        if self.text.starts_with('\u{feff}') {
            self.pos = '\u{feff}'.len_utf8();
        }
        self.skip_ws();
        let v = self.value()?;
        self.skip_ws();
        if self.pos < self.bytes.len() {
            return Err(self.error(self.pos, "unexpected text after the JSON document"));
        }
        Ok(v)
    }

    fn expect_literal(&mut self, lit: &str) -> Result<(), DumpError> {
        if self.bytes[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.error(self.pos, "invalid JSON value"))
        }
    }

    fn value(&mut self) -> Result<Spanned, DumpError> {
        let start = self.pos;
        let node = match self.peek() {
            None => return Err(self.error(start, "unexpected end of input, expected a value")),
            Some(b'{') => self.nested(Self::object)?,
            Some(b'[') => self.nested(Self::array)?,
            Some(b'"') => Node::Str(self.string()?),
            Some(b't') => {
                self.expect_literal("true")?;
                Node::Bool(true)
            }
            Some(b'f') => {
                self.expect_literal("false")?;
                Node::Bool(false)
            }
            Some(b'n') => {
                self.expect_literal("null")?;
                Node::Null
            }
            Some(b'-' | b'0'..=b'9') => Node::Num(self.number()?),
            Some(_) => return Err(self.error(start, "invalid JSON value")),
        };
        Ok(Spanned { start, node })
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Node, DumpError>) -> Result<Node, DumpError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(self.pos, "JSON nested too deeply"));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn object(&mut self) -> Result<Node, DumpError> {
        self.pos += 1; // '{'
        let mut entries: Vec<(String, Spanned)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Node::Obj(entries));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error(self.pos, "expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error(self.pos, "expected ':' after an object key"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value()?;
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = v,
                None => entries.push((key, v)),
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Node::Obj(entries));
                }
                _ => return Err(self.error(self.pos, "expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self) -> Result<Node, DumpError> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Node::Arr(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Node::Arr(items));
                }
                _ => return Err(self.error(self.pos, "expected ',' or ']' in an array")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<String, DumpError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error(self.pos, "invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error(self.pos, "invalid number: digits expected after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error(self.pos, "invalid number: digits expected in exponent"));
            }
        }
        Ok(self.text[start..self.pos].to_owned())
    }

    fn hex4(&mut self) -> Result<u32, DumpError> {
        let at = self.pos;
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error(at, "truncated \\u escape"))?;
        let mut v = 0u32;
        for &b in digits {
            let d = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.error(at, "invalid \\u escape"))?;
            v = v * 16 + d;
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, DumpError> {
        let open = self.pos;
        self.pos += 1; // '"'
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Safe slicing: the run stops only at ASCII bytes, which are
            // always char boundaries.
            out.push_str(&self.text[run_start..self.pos]);
            match self.peek() {
                None => return Err(self.error(open, "unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.peek();
                    self.pos += 1;
                    match esc {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let c = if (0xd800..0xdc00).contains(&hi)
                                && self.bytes[self.pos..].starts_with(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00))
                                } else {
                                    self.pos = save;
                                    None
                                }
                            } else {
                                char::from_u32(hi)
                            };
                            // Lone surrogates become U+FFFD.
                            out.push(c.unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(self.error(self.pos - 1, "invalid escape in string")),
                    }
                }
                Some(_) => {
                    return Err(self.error(self.pos, "control character in string"));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Writing

/// A JSON tree to print in QEMU's layout.
enum Out {
    /// Already-serialised scalar text.
    Raw(String),
    Object(Vec<(String, Out)>),
    /// Arrays of objects, printed as QEMU prints `Fields` and `Subsections`.
    Array(Vec<Out>),
}

fn quote(s: &str) -> String {
    // Serialising a &str cannot fail; fall back to a debug-quoted form anyway.
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn raw_int(v: i64) -> Out {
    Out::Raw(v.to_string())
}

fn value_out(v: &Value) -> Out {
    match v {
        Value::Object(map) => {
            Out::Object(map.iter().map(|(k, v)| (k.clone(), value_out(v))).collect())
        }
        Value::Array(items) => Out::Array(items.iter().map(value_out).collect()),
        other => Out::Raw(other.to_string()),
    }
}

fn push_extra(entries: &mut Vec<(String, Out)>, extra: &[(String, Value)]) {
    for (k, v) in extra {
        entries.push((k.clone(), value_out(v)));
    }
}

fn write_out(out: &mut String, node: &Out, indent: usize) {
    match node {
        Out::Raw(s) => out.push_str(s),
        Out::Object(entries) => {
            out.push_str("{\n");
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                push_indent(out, indent + 2);
                out.push_str(&quote(k));
                out.push_str(": ");
                write_out(out, v, indent + 2);
            }
            out.push('\n');
            push_indent(out, indent);
            out.push('}');
        }
        Out::Array(items) => {
            // QEMU: "[\n", items joined by ",\n", then "\n" and "]"; an empty
            // list therefore has an empty line inside.
            out.push_str("[\n");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                push_indent(out, indent + 2);
                write_out(out, v, indent + 2);
            }
            out.push('\n');
            push_indent(out, indent);
            out.push(']');
        }
    }
}

fn push_indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

impl DumpMachine {
    fn out(&self) -> Out {
        let mut e = Vec::new();
        if let Some(n) = &self.name {
            e.push(("Name".to_owned(), Out::Raw(quote(n))));
        }
        push_extra(&mut e, &self.extra);
        Out::Object(e)
    }
}

impl DumpSection {
    fn out(&self) -> Out {
        let mut e = Vec::new();
        if let Some(n) = &self.name {
            e.push(("Name".to_owned(), Out::Raw(quote(n))));
        }
        if let Some(v) = self.version_id {
            e.push(("version_id".to_owned(), raw_int(v)));
        }
        if let Some(v) = self.minimum_version_id {
            e.push(("minimum_version_id".to_owned(), raw_int(v)));
        }
        if let Some(d) = &self.description {
            e.push(("Description".to_owned(), d.out()));
        }
        push_extra(&mut e, &self.extra);
        Out::Object(e)
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
    fn out(&self) -> Out {
        let mut e = Vec::new();
        if let Some(n) = &self.name {
            e.push(("name".to_owned(), Out::Raw(quote(n))));
        }
        if let Some(v) = self.version_id {
            e.push(("version_id".to_owned(), raw_int(v)));
        }
        if let Some(v) = self.minimum_version_id {
            e.push(("minimum_version_id".to_owned(), raw_int(v)));
        }
        if let Some(fields) = &self.fields {
            e.push((
                "Fields".to_owned(),
                Out::Array(fields.iter().map(DumpField::out).collect()),
            ));
        }
        if let Some(subs) = &self.subsections {
            e.push((
                "Subsections".to_owned(),
                Out::Array(subs.iter().map(DumpDescription::out).collect()),
            ));
        }
        push_extra(&mut e, &self.extra);
        Out::Object(e)
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
    fn out(&self) -> Out {
        let mut e = Vec::new();
        if let Some(n) = &self.field {
            e.push(("field".to_owned(), Out::Raw(quote(n))));
        }
        if let Some(v) = self.version_id {
            e.push(("version_id".to_owned(), raw_int(v)));
        }
        if let Some(b) = self.field_exists {
            e.push(("field_exists".to_owned(), Out::Raw(b.to_string())));
        }
        if let Some(v) = self.num {
            e.push(("num".to_owned(), raw_int(v)));
        }
        if let Some(v) = self.size {
            e.push(("size".to_owned(), raw_int(v)));
        }
        if let Some(w) = &self.wire_type {
            e.push(("wire_type".to_owned(), Out::Raw(quote(w))));
        }
        push_extra(&mut e, &self.extra);
        if let Some(d) = &self.description {
            e.push(("Description".to_owned(), d.out()));
        }
        Out::Object(e)
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
fn flatten_array<'r, 'a: 'r>(layout: &'r Layout<'a>) -> (Option<usize>, &'r Layout<'a>) {
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
fn nested_description<'a>(layout: &Layout<'a>) -> Option<&'a Description<'a>> {
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
        let mut entries = Vec::with_capacity(self.sections.len() + 1);
        if let Some(m) = &self.machine {
            entries.push((MACHINE_KEY.to_owned(), m.out()));
        }
        for s in &self.sections {
            entries.push((s.qom_name.clone(), s.out()));
        }
        let mut out = String::new();
        write_out(&mut out, &Out::Object(entries), 0);
        out.push('\n');
        out
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
    }
}
