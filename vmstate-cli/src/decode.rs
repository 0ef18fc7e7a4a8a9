//! Schema-driven decoding of whole migration streams.
//!
//! A device section body carries no names, types or lengths: only the
//! loading QEMU's descriptions tell where one field ends and the next begins.
//! A stream written by QEMU describes itself, though: after EOF it carries
//! the *vmdesc* JSON (reference §1.12), listing for every device section the
//! fields actually written, with their type and size, nested structs and the
//! subsections sent. [`Schema`] holds that description and [`decode_body`]
//! splits a section body with it into a [`Body`] of named, typed [`Field`]s.
//!
//! The value tree keeps every byte it was decoded from, so that
//! [`Body::encode`] writes the identical bytes back.
//!
//! [`Decoder`] walks a whole stream with bounded memory: header and
//! configuration (decoded with the vmdesc `"configuration"` entry when there
//! is one), device sections (one [`Event::Section`] each), the `"ram"`
//! sections item by item ([`Event::Ram`], page data left in the input to be
//! read, copied or skipped), commands, EOF and the vmdesc.
//!
//! Types (`"type"` in the vmdesc, reference §1.7):
//!
//! | type | decoded as |
//! |---|---|
//! | `bool` | [`Value::Bool`], `size` bytes |
//! | `int8`..`int64`, `uint8`..`uint64`, `int32 equal`, `int32 le`, `uint8 equal`, `uint16 equal`, `uint32 equal`, `int64 equal` | [`Value::Int`], `size` big-endian bytes |
//! | `struct` | [`Value::Struct`]: the nested `"struct"` description |
//! | `vstruct` (with `"struct"`), `tmp` (description inline) | [`Value::Embedded`] when the nested description accounts for exactly `size` bytes, else opaque |
//! | `qtailq`, `qlist` (description inline) | [`Value::List`]: `01` + element per element, `00` (exactly `size` bytes), else opaque |
//! | `capability` | [`Value::Capability`]: a counted string |
//! | `nullptr` | [`Value::Null`]: the `0x30` marker |
//! | anything else (`buffer`, `unused_buffer`, `timer`, `float64`, `CPU_Double_U`, `bitmap`, `ptr-marker`, `gtree`, `virtio`, `pci config`, `unknown`, ...) | [`Value::Bytes`], `size` bytes |

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use qemufile::ram::{RamConfig, RamItem, RamKind, RamReader, RamRecord};
use qemufile::stream::{
    Command, Configuration, Item, SectionHeader, StreamOptions, StreamReader, StreamWriter, Vmdesc,
};
use qemufile::{QemuRead, QemuWrite, SliceReader};

use crate::pyjson::{Json, Text};

/// Largest single opaque field read into memory (bounds lying sizes).
pub const MAX_FIELD_SIZE: u64 = 256 << 20;
/// Deepest struct nesting followed.
pub const MAX_NESTING: usize = 64;

/// A decoding failure: where, in which section and field, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the stream where the failing read started.
    pub offset: u64,
    /// The section, as `"idstr (section_id)"`, if inside one.
    pub section: Option<String>,
    /// The field path inside the section (`cpu.env.regs[3]`), empty if none.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

impl DecodeError {
    fn new(offset: u64, message: impl Into<String>) -> Self {
        DecodeError {
            offset,
            section: None,
            path: String::new(),
            message: message.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte offset {} (0x{:x})", self.offset, self.offset)?;
        if let Some(s) = &self.section {
            write!(f, ", section {s}")?;
        }
        if !self.path.is_empty() {
            write!(f, ", field {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for DecodeError {}

impl From<qemufile::Error> for DecodeError {
    fn from(e: qemufile::Error) -> Self {
        DecodeError::new(e.offset(), e.kind().to_string())
    }
}

/// Result of the decoder.
pub type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// The vmdesc of a stream: its JSON plus an index of the device entries.
///
/// The JSON is kept as text: device descriptions are compiled from it
/// directly; the [`Json`] values are built when asked for. Clones share
/// the text, the values and the descriptions compiled so far.
#[derive(Debug, Clone)]
pub struct Schema {
    inner: Arc<SchemaInner>,
}

#[derive(Debug)]
struct SchemaInner {
    text: Arc<Vec<u8>>,
    /// Where each object and array of `text` ends ([`Text`]).
    ends: Vec<(u32, u32)>,
    /// The whole JSON, built on first use.
    root: OnceLock<Json>,
    /// `(name, instance_id)` → index in `"devices"` (a later duplicate wins).
    devices: HashMap<(String, u64), usize>,
    /// Per device entry: offset in `text`, name, instance id, `"version"`.
    entries: Vec<(usize, String, u64, Option<u64>)>,
    /// Offset of the `"configuration"` value, and the value once built.
    config_at: Option<usize>,
    config: OnceLock<Option<Json>>,
    page_size: Option<u64>,
    /// Device descriptions compiled on first use, by index in `"devices"`.
    progs: Mutex<HashMap<usize, Arc<Prog>>>,
}

impl Schema {
    /// Parses vmdesc JSON text.
    pub fn parse(json: &[u8]) -> Result<Schema, String> {
        Self::parse_shared(Arc::new(json.to_vec()))
    }

    /// Parses vmdesc JSON text, keeping it (shared, not copied).
    pub fn parse_shared(text: Arc<Vec<u8>>) -> Result<Schema, String> {
        let json: &[u8] = &text;
        let ends = match crate::pyjson::validate(json) {
            Some(ends) => ends,
            None => {
                // The exact message (or, rarely, valid after all).
                Json::parse(json).map_err(|e| format!("vmdesc: {e}"))?;
                Vec::new()
            }
        };
        let t = Text(json, &ends);
        let root = t.ws(0);
        if json.get(root) != Some(&b'{') {
            return Err("vmdesc: not a JSON object".into());
        }
        let (mut devs, mut config_at, mut page_size) = (None, None, None);
        t.members(root, |k, v| match k {
            b"devices" => devs = Some(v),
            b"configuration" => config_at = Some(v),
            b"page_size" => page_size = Some(v),
            _ => {}
        });
        let Some(list) = devs.and_then(|d| t.items(d)) else {
            return Err("vmdesc: no \"devices\" list".into());
        };
        let mut devices = HashMap::with_capacity(list.len());
        let mut entries = Vec::with_capacity(list.len());
        for (i, &d) in list.iter().enumerate() {
            let (mut name, mut inst, mut version) = (None, None, None);
            t.members(d, |k, v| match k {
                b"name" => name = Some(v),
                b"instance_id" => inst = Some(v),
                b"version" => version = Some(v),
                _ => {}
            });
            let (Some(name), Some(inst)) = (
                name.and_then(|v| t.as_str(v)),
                inst.and_then(|v| t.as_u64(v)),
            ) else {
                return Err(format!(
                    "vmdesc: device entry {i} has no \"name\" or \"instance_id\""
                ));
            };
            let name = name.into_owned();
            // Like the analyzer's dict: a later duplicate wins.
            devices.insert((name.clone(), inst), i);
            entries.push((d, name, inst, version.and_then(|v| t.as_u64(v))));
        }
        let page_size = page_size.and_then(|v| t.as_u64(v));
        Ok(Schema {
            inner: Arc::new(SchemaInner {
                text: text.clone(),
                ends,
                root: OnceLock::new(),
                devices,
                entries,
                config_at,
                config: OnceLock::new(),
                page_size,
                progs: Mutex::default(),
            }),
        })
    }

    /// The whole vmdesc JSON.
    pub fn json(&self) -> &Json {
        let i = &self.inner;
        i.root
            .get_or_init(|| Json::parse(&i.text).unwrap_or(Json::Null))
    }

    /// The device entry for `(idstr, instance_id)`.
    pub fn device(&self, idstr: &str, instance_id: u32) -> Option<&Json> {
        self.device_json(self.device_index(idstr, instance_id)?)
    }

    /// The index in `"devices"` of the entry for `(idstr, instance_id)`.
    fn device_index(&self, idstr: &str, instance_id: u32) -> Option<usize> {
        self.inner
            .devices
            .get(&(idstr.to_owned(), u64::from(instance_id)))
            .copied()
    }

    /// Device entry `i` as a [`Json`] value.
    fn device_json(&self, i: usize) -> Option<&Json> {
        self.json().get("devices")?.as_array()?.get(i)
    }

    /// The `"version"` of device entry `i`.
    fn device_version(&self, i: usize) -> Option<u64> {
        self.inner.entries.get(i)?.3
    }

    /// The device entries' `(name, instance_id)` keys, in vmdesc order
    /// (duplicates once).
    pub fn device_keys(&self) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        for (i, (_, n, inst, _)) in self.inner.entries.iter().enumerate() {
            if self.inner.devices.get(&(n.clone(), *inst)) == Some(&i) {
                out.push((n.clone(), u32::try_from(*inst).unwrap_or(u32::MAX)));
            }
        }
        out
    }

    /// The compiled description of device entry `index`.
    fn prog(&self, index: usize) -> Arc<Prog> {
        let mut m = self.inner.progs.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(index)
            .or_insert_with(|| {
                let at = self.inner.entries.get(index).map_or(usize::MAX, |e| e.0);
                Arc::new(Prog::compile(Text(&self.inner.text, &self.inner.ends), at))
            })
            .clone()
    }

    /// The `"configuration"` description, in streams that have it.
    pub fn configuration(&self) -> Option<&Json> {
        let i = &self.inner;
        i.config
            .get_or_init(|| {
                i.config_at
                    .and_then(|at| Text(&i.text, &i.ends).parse_at(at))
            })
            .as_ref()
    }

    /// `"page_size"`.
    pub fn page_size(&self) -> Option<u64> {
        self.inner.page_size
    }
}

/// A body description compiled from the vmdesc JSON once, so that walking a
/// section looks nothing up by key: what [`decode_body`] reads, in order.
#[derive(Debug, Clone, Default)]
struct Prog {
    /// `"vmsd_name"`, if a string (the text dump's prefix of a section).
    vmsd_name: Option<String>,
    /// `"fields"` is there but not a list (an error when reached).
    fields_bad: bool,
    fields: Vec<FieldProg>,
    /// `"subsections"` is there but not a list (an error after the fields).
    subs_bad: bool,
    subs: Vec<SubProg>,
    /// The analyzer's JSON object can be printed in wire order: the
    /// fields of one name are adjacent and no subsection name repeats a
    /// field's or another subsection's.
    json_in_order: bool,
    /// Subsections anywhere below (nested descriptions included).
    deep_subs: bool,
}

#[derive(Debug, Clone)]
struct SubProg {
    /// The `"vmsd_name"` expected on the wire.
    name: String,
    /// `name` as a JSON string.
    key: Vec<u8>,
    version: Option<u64>,
    body: Prog,
}

#[derive(Debug, Clone)]
struct FieldProg {
    /// A bad `"array_len"` or `"index"` (an error when reached).
    bad: bool,
    /// Elements on the wire (`"array_len"`, else 1).
    count: u64,
    size: Option<u64>,
    kind: Kind,
    /// `"name"` (empty if missing), when it differs from `key` unquoted.
    name: Option<Box<str>>,
    /// `"type"` (`unknown` if missing).
    ty: Cow<'static, str>,
    /// The name as a JSON string.
    key: Box<str>,
    /// The index of the first element (`Some(0)` with `"array_len"`, the
    /// `"index"`, else `None`).
    index: Option<u64>,
    /// How a scalar (`Kind::Plain`) is shown.
    scalar: Scalar,
    /// JSON: this field opens its object member (first field of its name).
    json_open: bool,
    /// JSON: the member is a list (two elements or more of that name).
    json_list: bool,
    /// JSON: this field closes its member (last field of its name).
    json_close: bool,
    /// Text: the element count of the run of indexed elements this field's
    /// elements belong to, and the size shown for them (the first
    /// element's; `None`: only known once read).
    text_run: Option<(u64, Option<u64>)>,
}

/// How a `Kind::Plain` value is shown (see [`crate::render::field_json`]
/// and [`crate::render::text_value`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Bool,
    Int {
        signed: bool,
    },
    /// Bytes shown as hex (`0x...` in text).
    Bytes,
    /// `unused_buffer`: `N byte(s)` in text.
    Unused,
    /// `timer`, `float64`, `CPU_Double_U`: a number in text when 8 bytes.
    Be8,
}

#[derive(Debug, Clone)]
enum Kind {
    Struct(Box<Prog>),
    Capability,
    Nullptr,
    /// `tmp`, `vstruct`, `qtailq`, `qlist`: `size` bytes, maybe decodable.
    Nested {
        list: bool,
        prog: Option<Box<Prog>>,
    },
    /// Everything else: `size` bytes.
    Plain,
}

fn json_key(s: &str) -> Vec<u8> {
    let mut k = String::with_capacity(s.len() + 2);
    crate::pyjson::write_py_string(&mut k, s);
    k.into_bytes()
}

impl Prog {
    /// Compiles the description at offset `at` of the vmdesc text (as
    /// [`decode_body`] reads the same description as a [`Json`] value).
    fn compile(t: Text<'_>, at: usize) -> Prog {
        let (mut name, mut fields, mut subs) = (None, None, None);
        t.members(at, |k, v| match k {
            b"vmsd_name" => name = Some(v),
            b"fields" => fields = Some(v),
            b"subsections" => subs = Some(v),
            _ => {}
        });
        let mut p = Prog {
            vmsd_name: name.and_then(|v| t.as_str(v)).map(|s| s.into_owned()),
            ..Prog::default()
        };
        if let Some(v) = fields {
            match t.items(v) {
                Some(a) => p.fields = a.iter().map(|&f| FieldProg::compile(t, f)).collect(),
                None => p.fields_bad = true,
            }
        }
        if let Some(v) = subs {
            match t.items(v) {
                Some(a) => {
                    p.subs = a
                        .iter()
                        .map(|&sd| {
                            let (mut name, mut version) = (None, None);
                            t.members(sd, |k, v| match k {
                                b"vmsd_name" => name = Some(v),
                                b"version" => version = Some(v),
                                _ => {}
                            });
                            let name = name
                                .and_then(|v| t.as_str(v))
                                .map(|s| s.into_owned())
                                .unwrap_or_default();
                            SubProg {
                                key: json_key(&name),
                                name,
                                version: version.and_then(|v| t.as_u64(v)),
                                body: Prog::compile(t, sd),
                            }
                        })
                        .collect();
                }
                None => p.subs_bad = true,
            }
        }
        p.layout();
        p
    }

    /// Fills in the JSON and text layout of the fields (what
    /// [`crate::render::body_json`] and [`crate::render::text_lines`] do
    /// with the decoded elements, known from the description alone).
    fn layout(&mut self) {
        // Only fields with elements show; a field without any does not
        // separate the fields around it.
        let live: Vec<usize> = (0..self.fields.len())
            .filter(|&i| self.fields[i].count > 0)
            .collect();
        let mut names: Vec<&str> = Vec::new();
        let mut in_order = true;
        let mut k = 0;
        while k < live.len() {
            let name = self.fields[live[k]].name();
            let mut j = k + 1;
            while j < live.len() && self.fields[live[j]].name() == name {
                j += 1;
            }
            in_order &= !names.contains(&name);
            names.push(name);
            k = j;
        }
        for s in &self.subs {
            in_order &= !names.contains(&s.name.as_str());
            names.push(&s.name);
        }
        self.json_in_order = in_order;
        let mut k = 0;
        while k < live.len() {
            let first = live[k];
            let mut j = k + 1;
            let mut total = self.fields[first].count;
            while j < live.len() && self.fields[live[j]].name() == self.fields[first].name() {
                total = total.saturating_add(self.fields[live[j]].count);
                j += 1;
            }
            for (n, &i) in live[k..j].iter().enumerate() {
                let f = &mut self.fields[i];
                f.json_open = n == 0;
                f.json_close = n == j - k - 1;
                f.json_list = total >= 2;
            }
            k = j;
        }
        let mut k = 0;
        while k < live.len() {
            let first = live[k];
            if self.fields[first].index.is_none() {
                k += 1;
                continue;
            }
            let mut j = k + 1;
            let mut total = self.fields[first].count;
            while j < live.len()
                && self.fields[live[j]].index.is_some()
                && self.fields[live[j]].name() == self.fields[first].name()
            {
                total = total.saturating_add(self.fields[live[j]].count);
                j += 1;
            }
            let size = match self.fields[first].kind {
                Kind::Struct(_) | Kind::Capability => self.fields[first].size,
                // Sizeless fields of other kinds fail before showing.
                _ => Some(self.fields[first].size.unwrap_or(0)),
            };
            for &i in &live[k..j] {
                self.fields[i].text_run = Some((total, size));
            }
            k = j;
        }
        self.deep_subs = !self.subs.is_empty()
            || self.fields.iter().any(|f| match &f.kind {
                Kind::Struct(p) => p.deep_subs,
                Kind::Nested { prog: Some(p), .. } => p.deep_subs,
                _ => false,
            });
    }
}

/// The types QEMU writes, not to allocate one string per field.
const KNOWN_TYPES: &[&str] = &[
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int32 equal",
    "int32 le",
    "uint8 equal",
    "uint16 equal",
    "uint32 equal",
    "int64 equal",
    "struct",
    "vstruct",
    "tmp",
    "qtailq",
    "qlist",
    "capability",
    "nullptr",
    "buffer",
    "unused_buffer",
    "timer",
    "float64",
    "CPU_Double_U",
    "bitmap",
    "ptr-marker",
    "gtree",
    "virtio",
    "pci config",
    "unknown",
];

fn intern_type(ty: &str) -> Cow<'static, str> {
    match KNOWN_TYPES.iter().find(|&&k| k == ty) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(ty.to_owned()),
    }
}

impl FieldProg {
    /// `"name"`.
    fn name(&self) -> &str {
        match &self.name {
            Some(n) => n,
            None => self
                .key
                .get(1..self.key.len().saturating_sub(1))
                .unwrap_or(""),
        }
    }

    fn compile(t: Text<'_>, fd: usize) -> FieldProg {
        // One pass over the members (the last of a repeated key wins, as with `get`).
        let (mut array_len, mut index, mut ty, mut st, mut size, mut fields) =
            (None, None, None, None, None, false);
        let mut name = None;
        t.members(fd, |k, v| match k {
            b"name" => name = Some(v),
            b"array_len" => array_len = Some(v),
            b"index" => index = Some(v),
            b"type" => ty = Some(v),
            b"struct" => st = Some(v),
            b"size" => size = Some(v),
            b"fields" => fields = true,
            _ => {}
        });
        let (count, bad, first) = match (array_len, index) {
            (Some(n), _) => match t.as_u64(n) {
                Some(n) => (n, false, Some(0)),
                None => (0, true, None),
            },
            (None, Some(i)) => match t.as_u64(i) {
                Some(i) => (1, false, Some(i)),
                None => (1, true, None),
            },
            (None, None) => (1, false, None),
        };
        let name = name
            .and_then(|v| t.as_str(v))
            .map(|s| s.into_owned())
            .unwrap_or_default();
        let ty = ty.and_then(|v| t.as_str(v));
        let ty: &str = ty.as_deref().unwrap_or("unknown");
        let kind = match (ty, st) {
            ("struct", Some(sd)) => Kind::Struct(Box::new(Prog::compile(t, sd))),
            ("capability", _) => Kind::Capability,
            ("nullptr", _) => Kind::Nullptr,
            ("vstruct", _) => Kind::Nested {
                list: false,
                prog: st
                    .filter(|&d| t.get(d, "fields").is_some())
                    .map(|d| Box::new(Prog::compile(t, d))),
            },
            ("tmp" | "qtailq" | "qlist", _) => Kind::Nested {
                list: ty != "tmp",
                prog: fields.then(|| Box::new(Prog::compile(t, fd))),
            },
            _ => Kind::Plain,
        };
        let key: Box<str> = String::from_utf8(json_key(&name))
            .unwrap_or_default()
            .into_boxed_str();
        let scalar = match (ty, is_signed_int_type(ty)) {
            (_, Some(signed)) => Scalar::Int { signed },
            ("bool", _) => Scalar::Bool,
            ("unused_buffer", _) => Scalar::Unused,
            ("timer" | "float64" | "CPU_Double_U", _) => Scalar::Be8,
            _ => Scalar::Bytes,
        };
        FieldProg {
            bad,
            count,
            size: size.and_then(|v| t.as_u64(v)),
            kind,
            ty: intern_type(ty),
            name: (key[1..key.len() - 1] != *name).then(|| name.into()),
            key,
            index: first,
            scalar,
            json_open: false,
            json_list: false,
            json_close: false,
            text_run: None,
        }
    }
}

/// A validating walk failed somewhere: the body does not decode (with the
/// options given). [`decode_body`] on the same bytes names the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WalkFailed;

impl From<qemufile::Error> for WalkFailed {
    fn from(_: qemufile::Error) -> Self {
        WalkFailed
    }
}

/// Walks a body like [`body`] does, consuming exactly the bytes it would and
/// failing exactly where it would, without building values; returns the
/// number of scalars [`crate::stream_cmd::scalar_count`] would count.
fn walk_body<R: QemuRead>(
    r: &mut R,
    p: &Prog,
    depth: usize,
    strict: bool,
) -> Result<u64, WalkFailed> {
    if depth >= MAX_NESTING || p.fields_bad {
        return Err(WalkFailed);
    }
    let mut n = 0u64;
    for f in &p.fields {
        if f.bad {
            return Err(WalkFailed);
        }
        if f.count == 0 {
            continue;
        }
        match &f.kind {
            Kind::Plain => {
                let size = f.size.ok_or(WalkFailed)?;
                if size > MAX_FIELD_SIZE {
                    return Err(WalkFailed);
                }
                // Fixed-size elements: the whole array at once.
                r.skip(size.checked_mul(f.count).ok_or(WalkFailed)?)?;
                n += f.count;
            }
            Kind::Struct(sp) => {
                for _ in 0..f.count {
                    let start = r.position();
                    n += walk_body(r, sp, depth + 1, strict)?;
                    if strict && f.size.is_some_and(|s| s != r.position() - start) {
                        return Err(WalkFailed);
                    }
                }
            }
            Kind::Capability => {
                for _ in 0..f.count {
                    let len = r.get_u8()?;
                    r.skip(len.into())?;
                }
                n += f.count;
            }
            Kind::Nullptr => {
                if f.size != Some(1) {
                    return Err(WalkFailed);
                }
                for _ in 0..f.count {
                    if r.get_u8()? != qemufile::stream::PTR_MARKER_NULL {
                        return Err(WalkFailed);
                    }
                }
                n += f.count;
            }
            Kind::Nested { list, prog } => {
                let size = f.size.ok_or(WalkFailed)?;
                if size > MAX_FIELD_SIZE {
                    return Err(WalkFailed);
                }
                let Some(prog) = prog else {
                    r.skip(size.checked_mul(f.count).ok_or(WalkFailed)?)?;
                    n += f.count;
                    continue;
                };
                let mut raw = Vec::new();
                for _ in 0..f.count {
                    read_field(r, size, &mut raw)?;
                    let mut sr = SliceReader::new(&raw);
                    let inner = if *list {
                        walk_list(&mut sr, prog, depth + 1, strict)
                    } else {
                        walk_body(&mut sr, prog, depth + 1, strict)
                    };
                    n += match inner {
                        Ok(c) if sr.is_empty() => c,
                        _ => 1,
                    };
                }
            }
        }
    }
    if p.subs_bad {
        return Err(WalkFailed);
    }
    for s in &p.subs {
        if r.get_u8()? != qemufile::stream::SUBSECTION {
            return Err(WalkFailed);
        }
        let name = r.get_counted_string()?;
        let version = r.get_be32()?;
        if strict
            && (name.as_bytes() != s.name.as_bytes()
                || s.version.is_some_and(|v| v != u64::from(version)))
        {
            return Err(WalkFailed);
        }
        n += walk_body(r, &s.body, depth + 1, strict)?;
    }
    Ok(n)
}

/// The elements of a `qtailq`/`qlist`: `01` + body each, then `00`.
fn walk_list(
    sr: &mut SliceReader<'_>,
    p: &Prog,
    depth: usize,
    strict: bool,
) -> Result<u64, WalkFailed> {
    let mut n = 0;
    loop {
        match sr.get_u8()? {
            0 => return Ok(n),
            1 => n += walk_body(sr, p, depth, strict)?,
            _ => return Err(WalkFailed),
        }
    }
}

/// What [`Decoder::set_emit`] prints for each device section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitFormat {
    /// The section's value in `analyze-migration.py -d state`'s JSON (as
    /// [`crate::render::body_json`] printed at indentation level 1).
    Json,
    /// One line per scalar (as [`crate::render::text_lines`] with the
    /// description's `vmsd_name`, else the idstr, as prefix).
    Text,
}

/// Writes what goes before a section's emitted body: the output buffer,
/// the section header and the offset of the section.
pub type Preamble = fn(&mut Vec<u8>, &SectionHeader, u64);

/// [`Drain::drain`] refused: printing stops (the section fails to read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPrinting;

/// Where [`Decoder::next_event_with`] hands output that has grown large
/// while a section is printed.
pub trait Drain {
    /// May write `buf` out and clear it, or leave it; an error stops the
    /// printing (the section then fails to read).
    fn drain(&mut self, buf: &mut Vec<u8>) -> Result<(), StopPrinting>;
}

/// Keeps everything in the buffer.
struct Keep;

impl Drain for Keep {
    fn drain(&mut self, _: &mut Vec<u8>) -> Result<(), StopPrinting> {
        Ok(())
    }
}

/// Output size above which a section being printed is drained.
const DRAIN_AT: usize = 1 << 16;

fn maybe_drain(e: &mut Emitter, sink: &mut dyn Drain) -> Result<(), WalkFailed> {
    drain_parts(&mut e.out, e.hold, &mut e.drain_at, sink)
}

fn drain_parts(
    out: &mut Vec<u8>,
    hold: u32,
    drain_at: &mut usize,
    sink: &mut dyn Drain,
) -> Result<(), WalkFailed> {
    if hold == 0 && out.len() >= *drain_at {
        sink.drain(out).map_err(|StopPrinting| WalkFailed)?;
        *drain_at = out.len() + DRAIN_AT;
    }
    Ok(())
}

/// Output state of [`Decoder::set_emit`].
#[derive(Debug, Default)]
struct Emitter {
    /// Drain when the output reaches this size.
    drain_at: usize,
    /// Printing that may be undone is going on: no draining.
    hold: u32,
    out: Vec<u8>,
    /// Field bytes being shown.
    scratch: Vec<u8>,
    /// Text: the path of the current value.
    path: Vec<u8>,
}

const HEX_PAIRS: [[u8; 2]; 256] = {
    let d = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [d[i >> 4], d[i & 15]];
        i += 1;
    }
    t
};

/// A newline and 64 spaces.
const NL_SPACES: &[u8; 65] = b"\n                                                                ";

fn newline_indent(out: &mut Vec<u8>, level: usize) {
    let mut n = level * 4;
    if n < NL_SPACES.len() {
        out.extend_from_slice(&NL_SPACES[..n + 1]);
        return;
    }
    out.push(b'\n');
    while n > 0 {
        let k = n.min(NL_SPACES.len() - 1);
        out.extend_from_slice(&NL_SPACES[1..k + 1]);
        n -= k;
    }
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.extend_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

fn push_spaced_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    if let Some((&first, rest)) = bytes.split_first() {
        out.reserve(bytes.len() * 3);
        out.extend_from_slice(&HEX_PAIRS[usize::from(first)]);
        for &b in rest {
            let h = HEX_PAIRS[usize::from(b)];
            out.extend_from_slice(&[b' ', h[0], h[1]]);
        }
    }
}

/// `0x` and the shortest hex of `v` (`{v:#x}`).
fn push_min_hex(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(b"0x");
    let digits = ((64 - v.leading_zeros()).max(1) as usize).div_ceil(4);
    for k in (0..digits).rev() {
        out.push(b"0123456789abcdef"[((v >> (4 * k)) & 15) as usize]);
    }
}

fn push_decimal(out: &mut Vec<u8>, mut v: u128) {
    let mut buf = [0u8; 40];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn be_u64(raw: &[u8]) -> u64 {
    raw.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b))
}

/// The analyzer's JSON string of an integer ([`crate::render::analyzer_int`]).
fn push_json_int(out: &mut Vec<u8>, raw: &[u8], signed: bool) {
    if raw.len() <= 8 && !raw.is_empty() && !(signed && raw[0] & 0x80 != 0) {
        // The common case, in one piece.
        let mut b = [0u8; 20];
        b[..3].copy_from_slice(b"\"0x");
        let mut n = 3;
        for &x in raw {
            b[n..n + 2].copy_from_slice(&HEX_PAIRS[usize::from(x)]);
            n += 2;
        }
        b[n] = b'"';
        out.extend_from_slice(&b[..n + 1]);
        return;
    }
    out.push(b'"');
    if raw.is_empty() {
        out.extend_from_slice(b"0x0\"");
        return;
    }
    out.extend_from_slice(b"0x");
    push_hex(out, raw);
    if signed && raw[0] & 0x80 != 0 {
        out.extend_from_slice(b" (");
        if raw.len() <= 16 {
            let v = raw.iter().fold(u128::MAX, |a, &b| (a << 8) | u128::from(b));
            out.push(b'-');
            push_decimal(out, v.wrapping_neg());
        } else {
            let mut s = String::new();
            s.push_str(&crate::render::analyzer_int(raw, true));
            let d = s.rsplit_once(" (").map_or("", |(_, d)| d);
            out.extend_from_slice(d.trim_end_matches(')').as_bytes());
        }
        out.push(b')');
    }
    out.push(b'"');
}

/// Reads `size` bytes into `buf` (growing as data arrives, like `read_bytes`).
fn read_field<R: QemuRead>(r: &mut R, size: u64, buf: &mut Vec<u8>) -> Result<(), WalkFailed> {
    if size > MAX_FIELD_SIZE {
        return Err(WalkFailed);
    }
    Ok(r.read_to_vec(buf, size as usize)?)
}

/// Prints the analyzer's JSON object of a body at indentation `level`
/// while reading it like [`walk_body`] (non-strict); fails where decoding
/// fails, and also where the printed form would not follow the wire order
/// (the caller then decodes and prints the slow way).
fn json_body<R: QemuRead>(
    r: &mut R,
    p: &Prog,
    depth: usize,
    level: usize,
    e: &mut Emitter,
    sink: &mut dyn Drain,
) -> Result<(), WalkFailed> {
    if depth >= MAX_NESTING || p.fields_bad || !p.json_in_order {
        return Err(WalkFailed);
    }
    let mut any = false;
    let mut list_first = true;
    for f in &p.fields {
        if f.bad {
            return Err(WalkFailed);
        }
        if f.count == 0 {
            continue;
        }
        if f.json_open {
            e.out.push(if any { b',' } else { b'{' });
            any = true;
            newline_indent(&mut e.out, level + 1);
            e.out.extend_from_slice(f.key.as_bytes());
            e.out.extend_from_slice(b": ");
            if f.json_list {
                e.out.push(b'[');
                list_first = true;
            }
        }
        let vl = if f.json_list { level + 2 } else { level + 1 };
        let sep = |out: &mut Vec<u8>, first: &mut bool| {
            if f.json_list {
                if !*first {
                    out.push(b',');
                }
                *first = false;
                newline_indent(out, level + 2);
            }
        };
        match &f.kind {
            Kind::Plain => {
                let size = f.size.ok_or(WalkFailed)?;
                if size > MAX_FIELD_SIZE {
                    return Err(WalkFailed);
                }
                // A few KiB at a time: the output stays small between drains.
                let per = (1u64 << 12).checked_div(size).map_or(f.count, |p| p.max(1));
                let mut left = f.count;
                while left > 0 {
                    let n = left.min(per);
                    left -= n;
                    let Emitter {
                        out,
                        scratch,
                        hold,
                        drain_at,
                        ..
                    } = &mut *e;
                    read_field(r, size * n, scratch)?;
                    let chunks = scratch.chunks(size.max(1) as usize);
                    let elems = if size == 0 {
                        // Zero-size elements: n empty values.
                        either_empty(n)
                    } else {
                        EitherIter::Chunks(chunks)
                    };
                    for raw in elems {
                        sep(out, &mut list_first);
                        match f.scalar {
                            Scalar::Bool => {
                                out.extend_from_slice(if raw.first().is_some_and(|&b| b != 0) {
                                    b"true"
                                } else {
                                    b"false"
                                })
                            }
                            Scalar::Int { signed } => push_json_int(out, raw, signed),
                            Scalar::Bytes | Scalar::Unused | Scalar::Be8 => {
                                out.push(b'"');
                                // Large buffers in pieces, drained between.
                                let mut rest = raw;
                                while rest.len() > 4096 {
                                    let (a, b) = rest.split_at(4096);
                                    push_spaced_hex(out, a);
                                    out.push(b' ');
                                    rest = b;
                                    drain_parts(out, *hold, drain_at, sink)?;
                                }
                                push_spaced_hex(out, rest);
                                out.push(b'"');
                            }
                        }
                    }
                    maybe_drain(e, sink)?;
                }
            }
            Kind::Struct(sp) => {
                for _ in 0..f.count {
                    sep(&mut e.out, &mut list_first);
                    json_body(r, sp, depth + 1, vl, e, sink)?;
                }
            }
            Kind::Capability => {
                for _ in 0..f.count {
                    sep(&mut e.out, &mut list_first);
                    let len = r.get_u8()?;
                    read_field(r, len.into(), &mut e.scratch)?;
                    let mut s = String::new();
                    crate::pyjson::write_py_string(&mut s, &String::from_utf8_lossy(&e.scratch));
                    e.out.extend_from_slice(s.as_bytes());
                }
            }
            Kind::Nullptr => {
                if f.size != Some(1) {
                    return Err(WalkFailed);
                }
                for _ in 0..f.count {
                    sep(&mut e.out, &mut list_first);
                    if r.get_u8()? != qemufile::stream::PTR_MARKER_NULL {
                        return Err(WalkFailed);
                    }
                    e.out.extend_from_slice(b"\"nullptr\"");
                }
            }
            Kind::Nested { prog, .. } => {
                let size = f.size.ok_or(WalkFailed)?;
                // Shown as the bytes, decodable or not; re-encoding a
                // decoded subsection could differ from them: left to the
                // slow way.
                if prog.as_ref().is_some_and(|p| p.deep_subs) {
                    return Err(WalkFailed);
                }
                for _ in 0..f.count {
                    sep(&mut e.out, &mut list_first);
                    let Emitter { out, scratch, .. } = &mut *e;
                    read_field(r, size, scratch)?;
                    out.push(b'"');
                    push_spaced_hex(out, scratch);
                    out.push(b'"');
                }
            }
        }
        if f.json_close && f.json_list {
            newline_indent(&mut e.out, level + 1);
            e.out.push(b']');
        }
        maybe_drain(e, sink)?;
    }
    if p.subs_bad {
        return Err(WalkFailed);
    }
    for s in &p.subs {
        if r.get_u8()? != qemufile::stream::SUBSECTION {
            return Err(WalkFailed);
        }
        let name = r.get_counted_string()?;
        r.get_be32()?;
        if name.as_bytes() != s.name.as_bytes() {
            return Err(WalkFailed);
        }
        e.out.push(if any { b',' } else { b'{' });
        any = true;
        newline_indent(&mut e.out, level + 1);
        e.out.extend_from_slice(&s.key);
        e.out.extend_from_slice(b": ");
        json_body(r, &s.body, depth + 1, level + 1, e, sink)?;
    }
    if any {
        newline_indent(&mut e.out, level);
        e.out.push(b'}');
    } else {
        e.out.extend_from_slice(b"{}");
    }
    Ok(())
}

/// The elements of a chunk of fixed-size values.
enum EitherIter<'a> {
    Chunks(std::slice::Chunks<'a, u8>),
    Empty(u64),
}

fn either_empty<'a>(n: u64) -> EitherIter<'a> {
    EitherIter::Empty(n)
}

impl<'a> Iterator for EitherIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            EitherIter::Chunks(c) => c.next(),
            EitherIter::Empty(0) => None,
            EitherIter::Empty(n) => {
                *n -= 1;
                Some(&[])
            }
        }
    }
}

/// Writes one text line: the current path, ` = (type) ` and the value
/// written by `value`.
fn text_line(e: &mut Emitter, ty: &str, value: impl FnOnce(&mut Vec<u8>)) {
    e.out.extend_from_slice(&e.path);
    e.out.extend_from_slice(b" = (");
    e.out.extend_from_slice(ty.as_bytes());
    e.out.extend_from_slice(b") ");
    value(&mut e.out);
    e.out.push(b'\n');
}

fn push_text_scalar(out: &mut Vec<u8>, scalar: Scalar, raw: &[u8]) {
    match scalar {
        Scalar::Bool => match raw.first() {
            Some(&b) => push_min_hex(out, b.into()),
            None => out.extend_from_slice(b"0x"),
        },
        Scalar::Int { .. } if (1..=8).contains(&raw.len()) => push_min_hex(out, be_u64(raw)),
        Scalar::Unused => {
            push_decimal(out, raw.len() as u128);
            out.extend_from_slice(b" byte(s)");
        }
        Scalar::Be8 if raw.len() == 8 => push_min_hex(out, be_u64(raw)),
        Scalar::Int { .. } | Scalar::Bytes | Scalar::Be8 => {
            out.extend_from_slice(b"0x");
            push_hex(out, raw);
        }
    }
}

/// Prints the text lines of a body (paths starting at `e.path`) while
/// reading it like [`walk_body`] (non-strict); fails where decoding fails
/// (and where a size shown is only known once read).
fn text_body<R: QemuRead>(
    r: &mut R,
    p: &Prog,
    depth: usize,
    e: &mut Emitter,
    sink: &mut dyn Drain,
) -> Result<(), WalkFailed> {
    if depth >= MAX_NESTING || p.fields_bad {
        return Err(WalkFailed);
    }
    let base = e.path.len();
    for f in &p.fields {
        if f.bad {
            return Err(WalkFailed);
        }
        if f.count == 0 {
            continue;
        }
        e.path.push(b'.');
        e.path.extend_from_slice(f.name().as_bytes());
        let run = match f.text_run {
            Some((len, size)) => {
                let size = size.ok_or(WalkFailed)?;
                e.path.push(b'(');
                push_decimal(&mut e.path, len.into());
                e.path.extend_from_slice(b")(");
                push_decimal(&mut e.path, size.into());
                e.path.extend_from_slice(b").[");
                true
            }
            None => false,
        };
        let named = e.path.len();
        if let Kind::Plain = f.kind {
            // Fixed-size elements: read a few KiB at a time.
            let size = f.size.ok_or(WalkFailed)?;
            if size > MAX_FIELD_SIZE {
                return Err(WalkFailed);
            }
            let per = (1u64 << 12).checked_div(size).map_or(f.count, |p| p.max(1));
            let (mut k, mut left) = (0u64, f.count);
            let mut scratch = std::mem::take(&mut e.scratch);
            let res = loop {
                if left == 0 {
                    break Ok(());
                }
                let n = left.min(per);
                left -= n;
                if let Err(x) = read_field(r, size * n, &mut scratch) {
                    break Err(x);
                }
                for j in 0..n as usize {
                    let raw = scratch
                        .get(j * size as usize..(j + 1) * size as usize)
                        .unwrap_or(&[]);
                    if run {
                        e.path.truncate(named);
                        push_decimal(&mut e.path, f.index.unwrap_or(0).wrapping_add(k).into());
                        e.path.push(b']');
                    }
                    text_line(e, &f.ty, |out| push_text_scalar(out, f.scalar, raw));
                    k += 1;
                }
                if let Err(x) = maybe_drain(e, sink) {
                    break Err(x);
                }
            };
            e.scratch = scratch;
            res?;
            e.path.truncate(base);
            continue;
        }
        for k in 0..f.count {
            if run {
                e.path.truncate(named);
                push_decimal(&mut e.path, f.index.unwrap_or(0).wrapping_add(k).into());
                e.path.push(b']');
            }
            match &f.kind {
                Kind::Plain => return Err(WalkFailed),
                Kind::Struct(sp) => text_body(r, sp, depth + 1, e, sink)?,
                Kind::Capability => {
                    let len = r.get_u8()?;
                    read_field(r, len.into(), &mut e.scratch)?;
                    let v = format!("{:?}", String::from_utf8_lossy(&e.scratch));
                    text_line(e, &f.ty, |out| out.extend_from_slice(v.as_bytes()));
                }
                Kind::Nullptr => {
                    if f.size != Some(1) {
                        return Err(WalkFailed);
                    }
                    let b = r.get_u8()?;
                    if b != qemufile::stream::PTR_MARKER_NULL {
                        return Err(WalkFailed);
                    }
                    text_line(e, &f.ty, |out| push_min_hex(out, b.into()));
                }
                Kind::Nested { list, prog } => {
                    let size = f.size.ok_or(WalkFailed)?;
                    let mut raw = Vec::new();
                    read_field(r, size, &mut raw)?;
                    let (mark, plen) = (e.out.len(), e.path.len());
                    // Undone if it fails: nothing drained meanwhile.
                    e.hold += 1;
                    let decoded = prog.as_ref().is_some_and(|prog| {
                        let mut sr = SliceReader::new(&raw);
                        let ok = if *list {
                            text_list(&mut sr, prog, depth + 1, e, sink)
                        } else {
                            text_body(&mut sr, prog, depth + 1, e, sink)
                        };
                        ok.is_ok() && sr.is_empty()
                    });
                    e.hold -= 1;
                    e.path.truncate(plen);
                    if !decoded {
                        e.out.truncate(mark);
                        text_line(e, &f.ty, |out| {
                            out.extend_from_slice(b"0x");
                            push_hex(out, &raw);
                        });
                    }
                }
            }
            maybe_drain(e, sink)?;
        }
        e.path.truncate(base);
    }
    if p.subs_bad {
        return Err(WalkFailed);
    }
    for s in &p.subs {
        if r.get_u8()? != qemufile::stream::SUBSECTION {
            return Err(WalkFailed);
        }
        let name = r.get_counted_string()?;
        r.get_be32()?;
        e.path.push(b'.');
        e.path
            .extend_from_slice(String::from_utf8_lossy(name.as_bytes()).as_bytes());
        let res = text_body(r, &s.body, depth + 1, e, sink);
        e.path.truncate(base);
        res?;
    }
    Ok(())
}

/// The elements of a `qtailq`/`qlist` as text lines (`path.[k]...`).
fn text_list(
    sr: &mut SliceReader<'_>,
    p: &Prog,
    depth: usize,
    e: &mut Emitter,
    sink: &mut dyn Drain,
) -> Result<(), WalkFailed> {
    let base = e.path.len();
    let mut k = 0u64;
    loop {
        match sr.get_u8()? {
            0 => return Ok(()),
            1 => {
                e.path.extend_from_slice(b".[");
                push_decimal(&mut e.path, k.into());
                e.path.push(b']');
                let res = text_body(sr, p, depth, e, sink);
                e.path.truncate(base);
                res?;
                k += 1;
            }
            _ => return Err(WalkFailed),
        }
    }
}

/// A decoded body: fields, then subsections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Body {
    /// `"vmsd_name"` of the description, if given.
    pub vmsd_name: Option<String>,
    /// The fields in wire order (arrays unfolded: one entry per element).
    pub fields: Vec<Field>,
    /// The subsections in wire order.
    pub subsections: Vec<Subsection>,
}

/// A subsection: `05 | counted name | be32 version | body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subsection {
    /// The name on the wire.
    pub name: String,
    /// The version on the wire.
    pub version: u32,
    /// Stream offset of the `0x05` byte.
    pub offset: u64,
    /// The subsection's body.
    pub body: Body,
}

/// One field entry (one element of an array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name in the vmdesc (`name[k]` for repeated names).
    pub name: String,
    /// The element index for array elements (`"index"`, or unfolded `"array_len"`).
    pub index: Option<u64>,
    /// The vmdesc type.
    pub ty: String,
    /// The vmdesc size (bytes written for this element).
    pub size: u64,
    /// Stream offset of the field's first byte.
    pub offset: u64,
    /// The value.
    pub value: Value,
}

/// A decoded value; every variant keeps the bytes it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A bool (`size` bytes, normally one; nonzero first byte is true).
    Bool(Vec<u8>),
    /// A big-endian integer of `raw.len()` bytes.
    Int {
        /// The bytes.
        raw: Vec<u8>,
        /// Whether `analyze-migration.py` shows it signed.
        signed: bool,
    },
    /// Opaque bytes (buffers, timers, doubles, unknown types).
    Bytes(Vec<u8>),
    /// The NULL pointer marker (`nullptr`).
    Null(Vec<u8>),
    /// A counted string (`capability`).
    Capability(Vec<u8>),
    /// A nested struct (`struct`).
    Struct(Body),
    /// A nested description the analyzer shows as bytes (`tmp`, `vstruct`).
    Embedded(Body),
    /// A list of elements, each `01` + body, ended by `00` (`qtailq`, `qlist`).
    List(Vec<Body>),
}

/// True for the types `analyze-migration.py` reads as signed integers.
pub fn is_signed_int_type(ty: &str) -> Option<bool> {
    Some(match ty {
        "int8" | "int16" | "int32" | "int64" | "int32 equal" | "int32 le" | "int64 equal"
        | "uint8 equal" | "uint16 equal" => true,
        "uint8" | "uint16" | "uint32" | "uint64" | "uint32 equal" => false,
        _ => return None,
    })
}

impl Body {
    /// Writes the body's bytes.
    pub fn encode<W: QemuWrite + ?Sized>(&self, w: &mut W) -> qemufile::Result<()> {
        for f in &self.fields {
            f.value.encode(w)?;
        }
        for s in &self.subsections {
            w.put_u8(qemufile::stream::SUBSECTION)?;
            w.put_counted_string(s.name.as_bytes())?;
            w.put_be32(s.version)?;
            s.body.encode(w)?;
        }
        Ok(())
    }

    /// The body's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        // Writing to a Vec only fails for names longer than 255 bytes,
        // which the decoder never produces.
        let _ = self.encode(&mut v);
        v
    }
}

impl Value {
    /// Writes the value's bytes.
    pub fn encode<W: QemuWrite + ?Sized>(&self, w: &mut W) -> qemufile::Result<()> {
        match self {
            Value::Bool(b) | Value::Bytes(b) | Value::Null(b) => w.put_bytes(b),
            Value::Int { raw, .. } => w.put_bytes(raw),
            Value::Capability(s) => w.put_counted_string(s),
            Value::Struct(b) | Value::Embedded(b) => b.encode(w),
            Value::List(items) => {
                for b in items {
                    w.put_u8(1)?;
                    b.encode(w)?;
                }
                w.put_u8(0)
            }
        }
    }

    /// The value's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        let _ = self.encode(&mut v);
        v
    }
}

/// How strictly to compare the stream with its vmdesc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeOptions {
    /// Fail when the stream disagrees with the vmdesc where a reader
    /// following the vmdesc (like `analyze-migration.py`) would not notice:
    /// struct sizes, subsection names and versions, section versions,
    /// devices listed but never sent, bytes after the vmdesc.
    pub strict: bool,
}

struct Ctx {
    /// Path segments: a name, with the element index of array elements.
    path: Vec<(String, Option<u64>)>,
    opts: DecodeOptions,
    depth: usize,
}

impl Ctx {
    fn path(&self) -> String {
        let mut s = String::new();
        for (name, index) in &self.path {
            let seg = match index {
                Some(i) => format!("{name}[{i}]"),
                None => name.clone(),
            };
            if !s.is_empty() && !seg.starts_with('[') {
                s.push('.');
            }
            s.push_str(&seg);
        }
        s
    }

    fn err(&self, offset: u64, message: impl Into<String>) -> DecodeError {
        DecodeError {
            offset,
            section: None,
            path: self.path(),
            message: message.into(),
        }
    }

    fn wrap(&self, e: qemufile::Error) -> DecodeError {
        self.err(e.offset(), e.kind().to_string())
    }
}

/// Decodes a body described by `desc` (an object with `"fields"` and
/// optional `"subsections"`) from `r`.
pub fn decode_body<R: QemuRead>(r: &mut R, desc: &Json, opts: DecodeOptions) -> Result<Body> {
    let mut ctx = Ctx {
        path: Vec::new(),
        opts,
        depth: 0,
    };
    if let Some(n) = desc.get("vmsd_name").and_then(Json::as_str) {
        ctx.path.push((n.to_owned(), None));
    }
    body(r, desc, &mut ctx)
}

fn body<R: QemuRead>(r: &mut R, desc: &Json, ctx: &mut Ctx) -> Result<Body> {
    if ctx.depth >= MAX_NESTING {
        return Err(ctx.err(r.position(), "descriptions nested too deeply"));
    }
    ctx.depth += 1;
    let out = body_inner(r, desc, ctx);
    ctx.depth -= 1;
    out
}

fn body_inner<R: QemuRead>(r: &mut R, desc: &Json, ctx: &mut Ctx) -> Result<Body> {
    let mut out = Body {
        vmsd_name: desc
            .get("vmsd_name")
            .and_then(Json::as_str)
            .map(str::to_owned),
        ..Body::default()
    };
    let empty = [];
    let fields = match desc.get("fields") {
        Some(Json::Array(a)) => a.as_slice(),
        None => &empty[..],
        Some(_) => return Err(ctx.err(r.position(), "vmdesc \"fields\" is not a list")),
    };
    for fd in fields {
        let name = fd
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned();
        let (count, index) = match (fd.get("array_len"), fd.get("index")) {
            (Some(n), _) => {
                let n = n
                    .as_u64()
                    .ok_or_else(|| ctx.err(r.position(), format!("bad array_len of {name}")))?;
                (n, Some(0))
            }
            (None, Some(i)) => (
                1,
                Some(
                    i.as_u64()
                        .ok_or_else(|| ctx.err(r.position(), format!("bad index of {name}")))?,
                ),
            ),
            (None, None) => (1, None),
        };
        if count == 0 {
            continue;
        }
        // One path segment for the whole array; its index follows the element.
        ctx.path.push((name.clone(), index));
        for k in 0..count {
            let index = index.map(|i| i + k);
            let last = ctx.path.len() - 1;
            ctx.path[last].1 = index;
            let f = field(r, fd, &name, index, ctx);
            match f {
                Ok(f) => out.fields.push(f),
                Err(e) => {
                    ctx.path.pop();
                    return Err(e);
                }
            }
        }
        ctx.path.pop();
    }
    let subs = match desc.get("subsections") {
        Some(Json::Array(a)) => a.as_slice(),
        None => &empty[..],
        Some(_) => return Err(ctx.err(r.position(), "vmdesc \"subsections\" is not a list")),
    };
    for sd in subs {
        let expect = sd.get("vmsd_name").and_then(Json::as_str).unwrap_or("");
        let at = r.position();
        let b = r.get_u8().map_err(|e| ctx.wrap(e))?;
        if b != qemufile::stream::SUBSECTION {
            return Err(ctx.err(
                at,
                format!("subsection {expect} not found: byte 0x{b:02x} instead of 0x05"),
            ));
        }
        let name = r.get_counted_string().map_err(|e| ctx.wrap(e))?;
        let name = name.to_string_lossy();
        let version = r.get_be32().map_err(|e| ctx.wrap(e))?;
        if ctx.opts.strict {
            if name != expect {
                return Err(ctx.err(
                    at,
                    format!("subsection {name} on the wire, the vmdesc says {expect}"),
                ));
            }
            if let Some(v) = sd.get("version").and_then(Json::as_u64) {
                if v != u64::from(version) {
                    return Err(ctx.err(
                        at,
                        format!("subsection {name} version {version}, the vmdesc says {v}"),
                    ));
                }
            }
        }
        ctx.path.push((name.clone(), None));
        let b = body(r, sd, ctx);
        ctx.path.pop();
        out.subsections.push(Subsection {
            name,
            version,
            offset: at,
            body: b?,
        });
    }
    Ok(out)
}

fn read_bytes<R: QemuRead>(r: &mut R, size: u64, ctx: &Ctx) -> Result<Vec<u8>> {
    if size > MAX_FIELD_SIZE {
        return Err(ctx.err(
            r.position(),
            format!("field of {size} bytes exceeds the limit of {MAX_FIELD_SIZE}"),
        ));
    }
    // Grows as data arrives: a lying size on a short input fails at EOF.
    let mut out = Vec::new();
    r.read_to_vec(&mut out, size as usize)
        .map_err(|e| match *e.kind() {
            qemufile::ErrorKind::UnexpectedEof { available, .. } => ctx.err(
                e.offset(),
                format!("unexpected end of stream: field of {size} bytes, only {available} left"),
            ),
            _ => ctx.wrap(e),
        })?;
    Ok(out)
}

fn field<R: QemuRead>(
    r: &mut R,
    fd: &Json,
    name: &str,
    index: Option<u64>,
    ctx: &mut Ctx,
) -> Result<Field> {
    let offset = r.position();
    let ty = fd.get("type").and_then(Json::as_str).unwrap_or("unknown");
    let size = fd.get("size").and_then(Json::as_u64);
    let need_size = |ctx: &Ctx| {
        size.ok_or_else(|| {
            ctx.err(
                offset,
                format!("vmdesc gives no size for {ty} field {name}"),
            )
        })
    };
    let value = match ty {
        "struct" if fd.get("struct").is_some() => {
            let sd = fd.get("struct").unwrap_or(&Json::Null);
            let b = body(r, sd, ctx)?;
            let got = r.position() - offset;
            if ctx.opts.strict {
                if let Some(s) = size {
                    if s != got {
                        return Err(ctx.err(
                            offset,
                            format!("struct of {got} bytes, the vmdesc says {s}"),
                        ));
                    }
                }
            }
            Value::Struct(b)
        }
        "bool" => Value::Bool(read_bytes(r, need_size(ctx)?, ctx)?),
        "capability" => {
            let len = r.get_u8().map_err(|e| ctx.wrap(e))?;
            Value::Capability(read_bytes(r, len.into(), ctx)?)
        }
        "nullptr" => {
            let b = read_bytes(r, need_size(ctx)?, ctx)?;
            if b != [qemufile::stream::PTR_MARKER_NULL] {
                return Err(ctx.err(offset, format!("nullptr marker {b:02x?} is not 0x30")));
            }
            Value::Null(b)
        }
        "tmp" | "vstruct" | "qtailq" | "qlist" => {
            let raw = read_bytes(r, need_size(ctx)?, ctx)?;
            let inner = if ty == "vstruct" {
                fd.get("struct")
            } else {
                Some(fd)
            };
            match inner.filter(|d| d.get("fields").is_some()) {
                Some(d) => nested(&raw, offset, d, ty, ctx).unwrap_or(Value::Bytes(raw)),
                None => Value::Bytes(raw),
            }
        }
        _ => {
            let raw = read_bytes(r, need_size(ctx)?, ctx)?;
            match is_signed_int_type(ty) {
                Some(signed) => Value::Int { raw, signed },
                None => Value::Bytes(raw),
            }
        }
    };
    Ok(Field {
        name: name.to_owned(),
        index,
        ty: ty.to_owned(),
        size: size.unwrap_or_else(|| r.position() - offset),
        offset,
        value,
    })
}

/// Decodes `raw` (a field's bytes) with a nested description; `None` unless
/// the description accounts for exactly all the bytes.
fn nested(raw: &[u8], offset: u64, desc: &Json, ty: &str, ctx: &mut Ctx) -> Option<Value> {
    let mut sr = SliceReader::with_base_offset(raw, offset);
    let v = if ty == "qtailq" || ty == "qlist" {
        let mut items = Vec::new();
        loop {
            match sr.get_u8().ok()? {
                0 => break,
                1 => items.push(body(&mut sr, desc, ctx).ok()?),
                _ => return None,
            }
        }
        Value::List(items)
    } else {
        Value::Embedded(body(&mut sr, desc, ctx).ok()?)
    };
    sr.is_empty().then_some(v)
}

/// A decoded device section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSection {
    /// The section header.
    pub header: SectionHeader,
    /// Stream offset of the section type byte.
    pub offset: u64,
    /// The decoded body.
    pub body: Body,
}

impl DeviceSection {
    /// `"idstr (section_id)"`, the analyzer's key.
    pub fn key(&self) -> String {
        section_key(&self.header)
    }
}

/// `"idstr (section_id)"` of a header.
pub fn section_key(h: &SectionHeader) -> String {
    format!("{} ({})", h.idstr, h.section_id)
}

/// The configuration section, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSection {
    /// What `qemufile` parsed (machine name, subsections); used to re-encode.
    pub config: Configuration,
    /// The body split by the vmdesc `"configuration"` entry, when the vmdesc
    /// has one (QEMU >= 8.2 or so).
    pub body: Option<Body>,
}

/// One step of a [`Decoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole device section (FULL), decoded and its footer checked.
    Section(Box<DeviceSection>),
    /// The header of a `"ram"` section (START, PART or END): RAM items follow.
    RamHeader(SectionHeader),
    /// One RAM item. Its payload (page data) is still in the input: read it
    /// with [`Decoder::read_payload`], copy it with [`Decoder::copy_payload`],
    /// or leave it to be skipped.
    Ram(RamItem),
    /// The end of a `"ram"` section body (after its EOS record): footer checked.
    RamEnd,
    /// A command.
    Command(Command),
    /// EOF and the trailer after it.
    Eof(Vmdesc),
}

/// Walks a whole stream, decoding device sections with a [`Schema`].
#[derive(Debug)]
pub struct Decoder<R: QemuRead> {
    reader: StreamReader<R>,
    schema: Option<Schema>,
    opts: DecodeOptions,
    config: Option<ConfigSection>,
    ram: RamReader,
    in_ram: bool,
    ram_end_pending: bool,
    done: bool,
    sent: HashMap<(String, u32), u64>,
    section: Option<String>,
    validate: bool,
    section_values: u64,
    emit: Option<(EmitFormat, Preamble)>,
    emitter: Emitter,
    skip_vmdesc: bool,
}

impl<R: QemuRead> Decoder<R> {
    /// Reads the header and configuration. `schema` is the stream's vmdesc
    /// (found beforehand, e.g. with [`qemufile::stream::find_vmdesc`]);
    /// without it only RAM sections, commands and EOF can be read.
    pub fn open(mut input: R, schema: Option<Schema>, opts: DecodeOptions) -> Result<Self> {
        // The configuration section is optional (hw_compat_2_3, Xen): look.
        let has_config = input.peek(8, 1)?.first() == Some(&qemufile::stream::CONFIGURATION);
        // Footers can be off (`-global migration.send-section-footer=off`):
        // the first section tells.
        let sopts = StreamOptions {
            send_configuration: has_config,
            detect_section_footer: true,
            ..StreamOptions::default()
        };
        let reader = StreamReader::open(input, sopts.clone())?;
        let mut config = None;
        if let Some(cfg) = reader.configuration() {
            let body = match schema.as_ref().and_then(Schema::configuration) {
                Some(desc) => Some(decode_config(cfg, desc, &sopts, opts)?),
                None => None,
            };
            config = Some(ConfigSection {
                config: cfg.clone(),
                body,
            });
        }
        let default_page = schema.as_ref().and_then(Schema::page_size).unwrap_or(4096);
        let ram_cfg = RamConfig::from_configuration(reader.configuration(), default_page);
        Ok(Decoder {
            reader,
            schema,
            opts,
            config,
            ram: RamReader::new(ram_cfg),
            in_ram: false,
            ram_end_pending: false,
            done: false,
            sent: HashMap::new(),
            section: None,
            validate: false,
            section_values: 0,
            emit: None,
            emitter: Emitter::default(),
            skip_vmdesc: false,
        })
    }

    /// The configuration section, if the stream has one.
    pub fn configuration(&self) -> Option<&ConfigSection> {
        self.config.as_ref()
    }

    /// The stream options in effect (configuration present, footers).
    pub fn stream_options(&self) -> &StreamOptions {
        self.reader.options()
    }

    /// The schema.
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref()
    }

    /// The RAM format configuration.
    pub fn ram_config(&self) -> &RamConfig {
        self.ram.config()
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.reader.position()
    }

    fn in_section(&self, mut e: DecodeError) -> DecodeError {
        if e.section.is_none() {
            e.section.clone_from(&self.section);
        }
        e
    }

    /// Validate device sections instead of decoding them: each body is
    /// walked with its vmdesc entry, compiled once, consuming exactly the
    /// bytes and failing on exactly the streams the decoding would, without
    /// building values. [`Event::Section`] then carries an empty [`Body`];
    /// [`section_values`](Self::section_values) has its number of scalars.
    /// A body that does not decode fails with a message that names only the
    /// section: decode it to learn the field and the reason.
    pub fn set_validate_only(&mut self, on: bool) {
        self.validate = on;
    }

    /// Print device sections instead of decoding them: each body is read
    /// with its vmdesc entry, compiled once, and printed in `format` to
    /// [`emit_buffer`](Self::emit_buffer), after what `preamble` writes
    /// there, without building values. [`Event::Section`] then carries an
    /// empty [`Body`]. Reading fails on the streams decoding fails on, and
    /// also on bodies whose printed form needs the decoded values (rare:
    /// fields of one name apart, sizes only known once read, nested
    /// subsections); the failure names only the section: decode the stream
    /// (and print the values) to learn more.
    pub fn set_emit(&mut self, emit: Option<(EmitFormat, Preamble)>) {
        self.emit = emit;
    }

    /// After EOF, skip the vmdesc trailer instead of reading it into memory
    /// (non-strict only): reading fails on exactly the streams reading it
    /// fails on, and [`Event::Eof`] then carries an empty JSON text.
    pub fn set_skip_vmdesc(&mut self, on: bool) {
        self.skip_vmdesc = on;
    }

    /// The vmdesc trailer after EOF, skipped (see
    /// [`set_skip_vmdesc`](Self::set_skip_vmdesc)).
    fn skip_vmdesc_trailer(&mut self) -> Result<Vmdesc> {
        let max = self.reader.options().max_vmdesc_len;
        let r = self.reader.get_mut();
        let found = r.peek_u8(0)?;
        if found != Some(qemufile::stream::VMDESCRIPTION) {
            return Ok(Vmdesc::Absent { found });
        }
        r.get_u8()?;
        let at = r.position();
        let len = r.get_be32()?;
        if len > max {
            return Err(DecodeError::new(at, "vmdesc too large"));
        }
        r.skip(len.into())?;
        Ok(Vmdesc::Present(Vec::new()))
    }

    /// Whether [`set_emit`](Self::set_emit) is on.
    pub fn emitting(&self) -> bool {
        self.emit.is_some()
    }

    /// The output of [`set_emit`](Self::set_emit), appended to section by
    /// section; the caller may write to it and drain it.
    pub fn emit_buffer(&mut self) -> &mut Vec<u8> {
        &mut self.emitter.out
    }

    /// The number of scalar values of the last device section walked with
    /// [`set_validate_only`](Self::set_validate_only) (what
    /// [`crate::stream_cmd::scalar_count`] counts of the decoded body).
    pub fn section_values(&self) -> u64 {
        self.section_values
    }

    /// The next event, `None` after [`Event::Eof`].
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        self.next_event_with(&mut Keep)
    }

    /// [`next_event`](Self::next_event), handing what
    /// [`set_emit`](Self::set_emit) prints to `sink` whenever it has grown
    /// large while a section is printed.
    pub fn next_event_with(&mut self, sink: &mut dyn Drain) -> Result<Option<Event>> {
        self.emitter.drain_at = self.emitter.out.len() + DRAIN_AT;
        let r = self.step(sink);
        r.map_err(|e| self.in_section(e))
    }

    fn step(&mut self, sink: &mut dyn Drain) -> Result<Option<Event>> {
        if self.done {
            return Ok(None);
        }
        if self.ram_end_pending {
            self.ram_end_pending = false;
            self.reader.finish_section()?;
            self.section = None;
            return Ok(Some(Event::RamEnd));
        }
        if self.in_ram {
            let item = self.ram.next_item(self.reader.body())?;
            if matches!(
                item,
                RamItem::Record(RamRecord {
                    kind: RamKind::Eos,
                    ..
                })
            ) {
                self.in_ram = false;
                self.ram_end_pending = true;
            }
            return Ok(Some(Event::Ram(item)));
        }
        let item = self.reader.next_item()?;
        let at = self.reader.item_offset();
        match item {
            Item::Eof => {
                self.done = true;
                let vmdesc = if self.skip_vmdesc && !self.opts.strict {
                    self.skip_vmdesc_trailer()?
                } else {
                    self.reader.read_vmdesc()?
                };
                if self.opts.strict {
                    if let Vmdesc::Absent { found: Some(b) } = vmdesc {
                        return Err(DecodeError::new(
                            self.position(),
                            format!("byte 0x{b:02x} after EOF instead of the vmdesc (0x06)"),
                        ));
                    }
                    if !self.reader.at_end()? {
                        return Err(DecodeError::new(
                            self.position(),
                            "bytes after the vmdesc: the stream should end here",
                        ));
                    }
                    if let Some(s) = &self.schema {
                        for (name, inst) in s.device_keys() {
                            if !self.sent.contains_key(&(name.clone(), inst)) {
                                return Err(DecodeError::new(
                                    at,
                                    format!(
                                        "the vmdesc lists device {name} instance {inst}, \
                                         but the stream has no section for it"
                                    ),
                                ));
                            }
                        }
                    }
                }
                Ok(Some(Event::Eof(vmdesc)))
            }
            Item::Command(c) => Ok(Some(Event::Command(c))),
            Item::Section(h) => {
                self.section = Some(section_key(&h));
                let idstr = h.idstr.to_string_lossy();
                if idstr == "ram" && h.instance_id == 0 {
                    if h.kind.has_full_header() && h.version_id != qemufile::ram::SECTION_VERSION {
                        return Err(DecodeError::new(
                            at,
                            format!("unknown RAM section version {}", h.version_id),
                        ));
                    }
                    self.in_ram = true;
                    return Ok(Some(Event::RamHeader(h)));
                }
                if h.kind != qemufile::stream::SectionKind::Full {
                    return Err(DecodeError::new(
                        at,
                        format!(
                            "iterative section {idstr} ({:?}) is not supported: only \"ram\" is",
                            h.kind
                        ),
                    ));
                }
                let Some(schema) = &self.schema else {
                    return Err(DecodeError::new(
                        at,
                        format!(
                            "cannot decode section {idstr}: the stream has no vmdesc at its end \
                             (truncated, or written with suppress-vmdesc)"
                        ),
                    ));
                };
                let Some(dev_index) = schema.device_index(&idstr, h.instance_id) else {
                    return Err(DecodeError::new(
                        at,
                        format!(
                            "unknown section {idstr} instance {0}: not in the stream's \
                             vmdesc; a destination without such a device refuses it too: \
                             \"Unknown savevm section or instance '{idstr}' {0}\"",
                            h.instance_id
                        ),
                    ));
                };
                if self.opts.strict {
                    if let Some(v) = schema.device_version(dev_index) {
                        if v != u64::from(h.version_id) {
                            return Err(DecodeError::new(
                                at,
                                format!(
                                    "section {idstr} has version {}, the vmdesc says {v}: \
                                     the header and the source's description disagree; {}",
                                    h.version_id,
                                    if u64::from(h.version_id) > v {
                                        format!(
                                            "a destination with {idstr} v{v} refuses it: \
                                             \"savevm: unsupported version {} for '{idstr}' \
                                             v{v}\"",
                                            h.version_id
                                        )
                                    } else {
                                        format!(
                                            "a destination reads the v{v} body with the \
                                             v{} layout, which does not fit",
                                            h.version_id
                                        )
                                    }
                                ),
                            ));
                        }
                    }
                    if let Some(first) = self.sent.get(&(idstr.clone(), h.instance_id)) {
                        return Err(DecodeError::new(
                            at,
                            format!(
                                "second section for {idstr} instance {} (first at {first})",
                                h.instance_id
                            ),
                        ));
                    }
                }
                let body = if let Some((format, preamble)) = self.emit {
                    let prog = schema.prog(dev_index);
                    let start = self.reader.body().position();
                    let e = &mut self.emitter;
                    // Once: room for what is held back before a drain.
                    let room = 4 * DRAIN_AT + (256 << 10);
                    if e.out.capacity() < room {
                        e.out.reserve(room - e.out.len());
                    }
                    preamble(&mut e.out, &h, at);
                    let r = self.reader.body();
                    match format {
                        EmitFormat::Json => json_body(r, &prog, 0, 1, e, sink),
                        EmitFormat::Text => {
                            e.path.clear();
                            match &prog.vmsd_name {
                                Some(n) => e.path.extend_from_slice(n.as_bytes()),
                                None => e.path.extend_from_slice(idstr.as_bytes()),
                            }
                            text_body(r, &prog, 0, e, sink)
                        }
                    }
                    .map_err(|WalkFailed| {
                        DecodeError::new(
                            start,
                            "the section body cannot be printed directly with its vmdesc entry",
                        )
                    })?;
                    Body::default()
                } else if self.validate {
                    let prog = schema.prog(dev_index);
                    let start = self.reader.body().position();
                    self.section_values = walk_body(self.reader.body(), &prog, 0, self.opts.strict)
                        .map_err(|WalkFailed| {
                            DecodeError::new(
                                start,
                                "the section body does not decode with its vmdesc entry",
                            )
                        })?;
                    Body::default()
                } else {
                    let desc = schema.device_json(dev_index).unwrap_or(&Json::Null);
                    decode_body(self.reader.body(), desc, self.opts)?
                };
                self.reader.finish_section()?;
                self.sent.insert((idstr, h.instance_id), at);
                self.section = None;
                Ok(Some(Event::Section(Box::new(DeviceSection {
                    header: h,
                    offset: at,
                    body,
                }))))
            }
        }
    }

    /// Bytes of payload of the last RAM item not read yet.
    pub fn payload_remaining(&self) -> u64 {
        self.ram.payload_remaining()
    }

    /// Reads payload bytes of the last RAM item.
    pub fn read_payload(&mut self, buf: &mut [u8]) -> Result<()> {
        self.ram
            .read_payload(self.reader.body(), buf)
            .map_err(|e| self.in_section(e.into()))
    }

    /// Copies the rest of the last RAM item's payload to `w`.
    pub fn copy_payload<W: QemuWrite>(&mut self, w: &mut W) -> Result<u64> {
        self.ram
            .copy_payload(self.reader.body(), w)
            .map_err(|e| self.in_section(e.into()))
    }
}

fn decode_config(
    cfg: &Configuration,
    desc: &Json,
    sopts: &StreamOptions,
    opts: DecodeOptions,
) -> Result<Body> {
    let mut w = StreamWriter::new(Vec::new(), sopts.clone());
    w.write_configuration(cfg)?;
    let bytes = w.into_inner();
    // Offset 8 is the 0x07 byte; the body follows.
    let body_bytes = bytes.get(1..).unwrap_or(&[]);
    let mut sr = SliceReader::with_base_offset(body_bytes, 9);
    let body = decode_body(&mut sr, desc, opts).map_err(|mut e| {
        e.section = Some("configuration".into());
        e
    })?;
    if !sr.is_empty() {
        return Err(DecodeError {
            offset: sr.position(),
            section: Some("configuration".into()),
            path: String::new(),
            message: "the vmdesc's configuration description does not cover the section".into(),
        });
    }
    Ok(body)
}

/// Re-encodes a stream: decodes every section from `dec` and writes it to
/// `w`, copying RAM payloads. Calls `progress` with the input position now
/// and then. Returns the bytes written.
pub fn reencode<R: QemuRead, W: QemuWrite>(
    dec: &mut Decoder<R>,
    w: W,
    mut progress: impl FnMut(u64),
) -> Result<W> {
    let mut sw = StreamWriter::new(w, dec.stream_options().clone());
    let werr = |e: qemufile::Error| DecodeError::new(e.offset(), format!("writing: {}", e.kind()));
    sw.write_header().map_err(werr)?;
    if let Some(c) = dec.configuration() {
        sw.write_configuration(&c.config).map_err(werr)?;
    }
    let rw = qemufile::ram::RamWriter::new(dec.ram_config().clone());
    while let Some(ev) = dec.next_event()? {
        match ev {
            Event::Section(s) => {
                sw.set_section_footer(dec.stream_options().send_section_footer);
                sw.write_section_header(&s.header).map_err(werr)?;
                s.body.encode(sw.body()).map_err(werr)?;
                sw.write_section_footer().map_err(werr)?;
                progress(dec.position());
            }
            Event::RamHeader(h) => sw.write_section_header(&h).map_err(werr)?,
            Event::Ram(item) => {
                rw.write_item(sw.body(), &item).map_err(werr)?;
                dec.copy_payload(sw.body())?;
                progress(dec.position());
            }
            Event::RamEnd => {
                sw.set_section_footer(dec.stream_options().send_section_footer);
                sw.write_section_footer().map_err(werr)?
            }
            Event::Command(c) => sw.write_command(&c).map_err(werr)?,
            Event::Eof(v) => {
                sw.write_eof().map_err(werr)?;
                if let Some(j) = v.json() {
                    sw.write_vmdesc(j).map_err(werr)?;
                }
            }
        }
    }
    Ok(sw.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let desc = br#"{"vmsd_name": "dev", "version": 1, "fields": [
            {"name": "b", "type": "bool", "size": 1},
            {"name": "i", "type": "int16", "size": 2},
            {"name": "u", "array_len": 2, "type": "uint8", "size": 1},
            {"name": "e", "type": "int64 equal", "size": 8},
            {"name": "d", "type": "CPU_Double_U", "size": 8},
            {"name": "p", "index": 0, "type": "nullptr", "size": 1},
            {"name": "p", "index": 1, "type": "uint32", "size": 4},
            {"name": "c", "type": "capability", "size": 5},
            {"name": "t", "type": "tmp", "vmsd_name": "t_tmp", "version": 0,
             "fields": [{"name": "x", "type": "uint16", "size": 2}], "size": 2},
            {"name": "v", "type": "vstruct", "struct": {"vmsd_name": "vs", "version": 2,
             "fields": [{"name": "y", "type": "uint8", "size": 1}]}, "size": 1},
            {"name": "q", "type": "qtailq", "vmsd_name": "el", "version": 1,
             "fields": [{"name": "z", "type": "uint8", "size": 1}],
             "vmsd_name": "el", "version": 1,
             "fields": [{"name": "z", "type": "uint8", "size": 1}], "size": 5},
            {"name": "o", "type": "virtio", "size": 3},
            {"name": "s", "type": "struct", "struct": {"vmsd_name": "inner", "version": 1,
             "fields": [{"name": "w", "type": "uint32", "size": 4}],
             "subsections": [{"vmsd_name": "inner/sub", "version": 7,
               "fields": [{"name": "k", "type": "uint8", "size": 1}]}]}, "size": 20}],
            "subsections": [{"vmsd_name": "dev/x", "version": 1, "fields": []}]}"#;
        let desc = Json::parse(desc).unwrap();
        let mut wire: Vec<u8> = vec![1, 0xff, 0xfe, 7, 8];
        wire.extend_from_slice(&(-1i64).to_be_bytes());
        wire.extend_from_slice(&1.5f64.to_bits().to_be_bytes());
        wire.push(0x30);
        wire.extend_from_slice(&9u32.to_be_bytes());
        wire.extend_from_slice(b"\x04abcd");
        wire.extend_from_slice(&[0x12, 0x34, 0x56, 1, 0xa, 1, 0xb, 0]);
        wire.extend_from_slice(&[0xaa, 0xbb, 0xcc]);
        wire.extend_from_slice(&[0, 0, 0, 5, 5, 9]);
        wire.extend_from_slice(b"inner/sub");
        wire.extend_from_slice(&[0, 0, 0, 7, 0x42, 5, 5]);
        wire.extend_from_slice(b"dev/x");
        wire.extend_from_slice(&[0, 0, 0, 1]);
        let mut r = SliceReader::new(&wire);
        let b = decode_body(&mut r, &desc, DecodeOptions { strict: true }).unwrap();
        assert!(r.is_empty());
        assert_eq!(b.to_bytes(), wire);
        let kinds: Vec<&str> = b
            .fields
            .iter()
            .map(|f| match &f.value {
                Value::Bool(_) => "bool",
                Value::Int { .. } => "int",
                Value::Bytes(_) => "bytes",
                Value::Null(_) => "null",
                Value::Capability(_) => "cap",
                Value::Struct(_) => "struct",
                Value::Embedded(_) => "embedded",
                Value::List(_) => "list",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "bool", "int", "int", "int", "int", "bytes", "null", "int", "cap", "embedded",
                "embedded", "list", "bytes", "struct"
            ]
        );
        let j = crate::render::body_json(&b).to_python_string();
        assert!(j.contains("\"i\": \"0xfffe (-2)\""), "{j}");
        assert!(
            j.contains("\"p\": [\n        \"nullptr\",\n        \"0x00000009\"\n    ]"),
            "{j}"
        );
        assert!(j.contains("\"q\": \"01 0a 01 0b 00\""), "{j}");
        assert!(j.contains("\"inner/sub\": {"), "{j}");
        assert!(j.contains("\"dev/x\": {}"), "{j}");
        let mut lines = Vec::new();
        crate::render::text_lines(&b, "dev", &mut |p, t, v| {
            lines.push(format!("{p} = ({t}) {v}"))
        });
        for l in [
            "dev.u(2)(1).[1] = (uint8) 0x8",
            "dev.d = (CPU_Double_U) 0x3ff8000000000000",
            "dev.t.x = (uint16) 0x1234",
            "dev.q.[1].z = (uint8) 0xb",
            "dev.s.inner/sub.k = (uint8) 0x42",
            "dev.c = (capability) \"abcd\"",
        ] {
            assert!(lines.iter().any(|x| x == l), "{l} not in {lines:#?}");
        }
        // Strict: a subsection name that disagrees with the vmdesc.
        let mut bad = wire.clone();
        bad.truncate(wire.len() - 11);
        bad.extend_from_slice(b"\x05\x05dev/y\0\0\0\x01");
        let e = decode_body(
            &mut SliceReader::new(&bad),
            &desc,
            DecodeOptions { strict: true },
        )
        .unwrap_err();
        assert!(e.message.contains("subsection dev/y on the wire"), "{e}");
        assert!(decode_body(&mut SliceReader::new(&bad), &desc, DecodeOptions::default()).is_ok());
    }

    /// The validating walk accepts exactly the streams decoding accepts,
    /// consumes the same bytes and counts the same values, also on damaged
    /// streams and vmdescs (damaged sizes, types, counts, subsections).
    #[test]
    fn validating_agrees_with_decoding() {
        let good = crate::input::SAMPLE_STREAM;
        let (desc_at, _) = qemufile::stream::find_vmdesc(good).unwrap();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let mut failures = 0;
        for i in 0..400 {
            let mut b = good.to_vec();
            let (lo, hi) = match i % 3 {
                0 => (284_000, desc_at),
                1 => (desc_at + 5, good.len()),
                _ => (284_000, good.len()),
            };
            for _ in 0..(1 + next() % 3) {
                let p = lo + (next() as usize) % (hi - lo);
                b[p] = match next() % 4 {
                    0 => b'0' + (next() % 10) as u8,
                    1 => 0x05,
                    _ => next() as u8,
                };
            }
            let schema = qemufile::stream::find_vmdesc(&b).and_then(|(_, j)| Schema::parse(j).ok());
            for strict in [false, true] {
                let opts = DecodeOptions { strict };
                let (Ok(mut slow), Ok(mut fast)) = (
                    Decoder::open(SliceReader::new(&b), schema.clone(), opts),
                    Decoder::open(SliceReader::new(&b), schema.clone(), opts),
                ) else {
                    continue;
                };
                fast.set_validate_only(true);
                loop {
                    let (s, f) = (slow.next_event(), fast.next_event());
                    match (s, f) {
                        (Ok(Some(Event::Section(s))), Ok(Some(Event::Section(f)))) => {
                            assert_eq!(s.offset, f.offset);
                            assert_eq!(
                                crate::stream_cmd::scalar_count(&s.body),
                                fast.section_values(),
                                "case {i}, section {}",
                                s.key()
                            );
                        }
                        (Ok(Some(s)), Ok(Some(f))) => assert_eq!(s, f, "case {i}"),
                        (Ok(None), Ok(None)) => break,
                        (Err(_), Err(_)) => {
                            failures += 1;
                            break;
                        }
                        (s, f) => panic!("case {i} (strict {strict}): {s:?} vs {f:?}"),
                    }
                    assert_eq!(slow.position(), fast.position(), "case {i}");
                }
            }
        }
        assert!(failures > 50, "{failures}");
    }
}
