//! A whole migration stream as one JSON document, and back, byte for byte:
//! `vmstate convert FILE --to json` and `vmstate convert FILE.json --to qemu`.
//!
//! [`stream_to_json`] is a [`StreamDecoder`] feeding a JSON writer: device
//! sections are decoded into [`DynamicState`](crate::dynamic::DynamicState)
//! with the stream's vmdesc and written by the
//! [`JsonOutputVisitor`]; RAM and the
//! other iterative sections are written record by record, their page data
//! as base64. [`json_to_stream`] reads the document as it arrives and feeds
//! a [`StreamEncoder`]: each section's state is loaded by the
//! [`JsonInputVisitor`](crate::json_state::JsonInputVisitor) and encoded by
//! the QEMUFile output visitor, the records are written back with their
//! data. Neither holds more than one item (a section's state, one record,
//! one 48 KiB piece of page data) in memory, and [`json_to_stream`] holds
//! every item of the untrusted document to the [`Limits`].
//!
//! The format is described in `docs/json-format.md`. In short:
//!
//! ```text
//! {"vmstate-json": 1,
//! "stream": {"configuration": true, "ram": {"page_size": 4096, ...}},
//! "configuration": {"machine": "pc-i440fx-10.0", "subsections": [...]},
//! "vmdesc": "{\"page_size\": 4096, \"devices\": [...]}",
//! "items": [
//! {"section": "start", "id": 2, "idstr": "ram", "instance": 0, "version": 4, "records": [
//!   {"ram": "mem_size", "addr": 33554432, "flags": 4},
//!   {"ram": "block", "name": "pc.ram", "length": 33554432},
//!   {"ram": "page", "addr": 0, "flags": 8, "block": "pc.ram", "data": ["base64..."]},
//!   {"ram": "eos", "addr": 0, "flags": 16}
//! ]},
//! {"section": "full", "id": 14, "idstr": "mc146818rtc", "instance": 0, "version": 3, "state": {...}},
//! {"command": 11, "name": "SWITCHOVER_START", "data": "0x"},
//! {"eof": {"vmdesc": true}}
//! ]}
//! ```
//!
//! Page data (`"data"`) is a list of pieces: base64 strings, and integers
//! that stand for that many zero bytes (mapped-ram regions are mostly
//! holes).

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::io::{self, Read};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use qemufile::dirty_bitmap::{BitmapData, DirtyBitmapRecord};
use qemufile::htab::{HtabChunk, HtabItem};
use qemufile::ram::{
    BlockPageSizes, MappedRamHeader, RamBlock, RamConfig, RamItem, RamKind, RamRecord,
};
use qemufile::stattrib::{StattribKind, StattribRecord};
use qemufile::stream::{
    Command, ConfigSubsection, Configuration, IdStr, SectionHeader, SectionKind, StreamOptions,
    Vmdesc,
};
use qemufile::{QemuRead, QemuWrite};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess};
use serde_json::{Map, Value};

use crate::dynamic::DescriptionArena;
use crate::json_state::{BoundedValue, JsonOutputVisitor, json_error, load_dynamic_as};
use crate::pretty::Hex;
use crate::stream::{Event, SectionItem, StreamDecoder, StreamEncoder, StreamSchema, section_root};
use crate::{Error, Limit, Limits, Result, visit_struct_at};

/// The format version written in `"vmstate-json"`.
pub const FORMAT_VERSION: u64 = 1;

/// Bytes of page data per base64 piece.
const PIECE: usize = 48 * 1024;

/// Budget for one record's or header's small values.
const SMALL: u64 = 1 << 20;

// ---------------------------------------------------------------------------
// Stream to JSON

/// Writes `bytes` as a JSON string if they are UTF-8, else as `{"hex": "0x..."}`.
fn write_bytes(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(&Value::String(s.to_owned()).to_string()),
        Err(_) => {
            let _ = write!(out, "{{\"hex\": \"0x{}\"}}", Hex(bytes));
        }
    }
}

struct JsonOut<W: io::Write> {
    w: W,
    buf: String,
}

impl<W: io::Write> JsonOut<W> {
    fn flush(&mut self) -> Result<()> {
        self.w
            .write_all(self.buf.as_bytes())
            .map_err(|e| Error::from(qemufile::Error::new(0, qemufile::ErrorKind::Io(e))))?;
        self.buf.clear();
        Ok(())
    }
}

fn header_keys(out: &mut String, h: &SectionHeader) {
    let kind = match h.kind {
        SectionKind::Start => "start",
        SectionKind::Part => "part",
        SectionKind::End => "end",
        SectionKind::Full => "full",
    };
    let _ = write!(
        out,
        "{{\"section\": \"{kind}\", \"id\": {}, \"idstr\": ",
        h.section_id
    );
    write_bytes(out, h.idstr.as_bytes());
    let _ = write!(
        out,
        ", \"instance\": {}, \"version\": {}",
        h.instance_id, h.version_id
    );
}

fn configuration_json(out: &mut String, c: &Configuration) {
    out.push_str("{\"machine\": ");
    write_bytes(out, c.machine());
    out.push_str(", \"subsections\": [");
    for (i, s) in c.subsections.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{{\"name\": \"{}\", ", s.name());
        match s {
            ConfigSubsection::TargetPageBits { version, bits } => {
                let _ = write!(out, "\"version\": {version}, \"bits\": {bits}}}");
            }
            ConfigSubsection::Capabilities { version, caps } => {
                let _ = write!(out, "\"version\": {version}, \"capabilities\": [");
                for (k, c) in caps.iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    write_bytes(out, c.as_bytes());
                }
                out.push_str("]}");
            }
            ConfigSubsection::Uuid { version, uuid } => {
                let _ = write!(
                    out,
                    "\"version\": {version}, \"uuid\": \"0x{}\"}}",
                    Hex(uuid)
                );
            }
        }
    }
    out.push_str("]}");
}

fn ram_json(out: &mut String, c: &RamConfig) {
    let _ = write!(
        out,
        "{{\"page_size\": {}, \"ignore_shared\": {}, \"mapped_ram\": {}",
        c.page_size, c.ignore_shared, c.mapped_ram
    );
    match &c.postcopy_page_sizes {
        BlockPageSizes::None => {}
        BlockPageSizes::All => out.push_str(", \"postcopy_page_sizes\": \"all\""),
        BlockPageSizes::Blocks(names) => {
            out.push_str(", \"postcopy_page_sizes\": [");
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_bytes(out, n.as_bytes());
            }
            out.push(']');
        }
    }
    out.push('}');
}

fn opt_name(out: &mut String, key: &str, name: Option<&IdStr>) {
    if let Some(n) = name {
        let _ = write!(out, ", \"{key}\": ");
        write_bytes(out, n.as_bytes());
    }
}

/// The keys of one record, without its data.
fn record_json(out: &mut String, item: &SectionItem) {
    match item {
        SectionItem::Ram(RamItem::Record(r)) => {
            let kind = match r.kind {
                RamKind::MemSize => "mem_size",
                RamKind::Zero { .. } => "zero",
                RamKind::Page => "page",
                RamKind::Xbzrle { .. } => "xbzrle",
                RamKind::MultifdFlush => "multifd_flush",
                RamKind::Hook => "hook",
                RamKind::Eos => "eos",
            };
            let _ = write!(
                out,
                "{{\"ram\": \"{kind}\", \"addr\": {}, \"flags\": {}",
                r.addr, r.flags
            );
            opt_name(out, "block", r.block.as_ref());
            match r.kind {
                RamKind::Zero { fill } => {
                    let _ = write!(out, ", \"fill\": {fill}");
                }
                RamKind::Xbzrle { encoding, len } => {
                    let _ = write!(out, ", \"encoding\": {encoding}, \"len\": {len}");
                }
                _ => {}
            }
        }
        SectionItem::Ram(RamItem::Block(b)) => {
            out.push_str("{\"ram\": \"block\", \"name\": ");
            write_bytes(out, b.name.as_bytes());
            let _ = write!(out, ", \"length\": {}", b.length);
            if let Some(p) = b.page_size {
                let _ = write!(out, ", \"page_size\": {p}");
            }
            if let Some(a) = b.mr_addr {
                let _ = write!(out, ", \"mr_addr\": {a}");
            }
            if let Some(h) = &b.mapped_ram {
                let _ = write!(
                    out,
                    ", \"mapped_ram\": {{\"version\": {}, \"page_size\": {}, \"bitmap_offset\": {}, \"pages_offset\": {}}}",
                    h.version, h.page_size, h.bitmap_offset, h.pages_offset
                );
            }
        }
        SectionItem::Htab(h) => match h {
            HtabItem::NoHpt => out.push_str("{\"htab\": \"no_hpt\""),
            HtabItem::Size { shift } => {
                let _ = write!(out, "{{\"htab\": \"size\", \"shift\": {shift}");
            }
            HtabItem::Entries => out.push_str("{\"htab\": \"entries\""),
            HtabItem::Chunk(c) => {
                let _ = write!(
                    out,
                    "{{\"htab\": \"chunk\", \"index\": {}, \"n_valid\": {}, \"n_invalid\": {}",
                    c.index, c.n_valid, c.n_invalid
                );
            }
            HtabItem::End => out.push_str("{\"htab\": \"end\""),
        },
        SectionItem::StorageAttributes(r) => {
            let kind = match r.kind {
                StattribKind::Data { .. } => "data",
                StattribKind::Done => "done",
                StattribKind::Eos => "eos",
                StattribKind::Error => "error",
            };
            let _ = write!(out, "{{\"stattrib\": \"{kind}\", \"addr\": {}", r.addr);
            if let StattribKind::Data { count } = r.kind {
                let _ = write!(out, ", \"count\": {count}");
            }
        }
        SectionItem::DirtyBitmap(r) => {
            let kind = match r.data {
                BitmapData::None => "none",
                BitmapData::Start { .. } => "start",
                BitmapData::Complete => "complete",
                BitmapData::Bits { .. } => "bits",
                BitmapData::Zeroes { .. } => "zeroes",
            };
            let _ = write!(
                out,
                "{{\"dirty_bitmap\": \"{kind}\", \"flags\": {}",
                r.flags
            );
            opt_name(out, "node", r.node.as_ref());
            opt_name(out, "bitmap", r.bitmap.as_ref());
            match r.data {
                BitmapData::Start { granularity, flags } => {
                    let _ = write!(
                        out,
                        ", \"granularity\": {granularity}, \"start_flags\": {flags}"
                    );
                }
                BitmapData::Bits {
                    start_sector,
                    nr_sectors,
                    buf_size,
                } => {
                    let _ = write!(
                        out,
                        ", \"start_sector\": {start_sector}, \"nr_sectors\": {nr_sectors}, \"buf_size\": {buf_size}"
                    );
                }
                BitmapData::Zeroes {
                    start_sector,
                    nr_sectors,
                } => {
                    let _ = write!(
                        out,
                        ", \"start_sector\": {start_sector}, \"nr_sectors\": {nr_sectors}"
                    );
                }
                BitmapData::None | BitmapData::Complete => {}
            }
        }
        SectionItem::Raw { .. } => out.push_str("{\"raw\": true"),
    }
}

/// Writes `, "data": [...]` with what is left of the last item's payload.
fn payload_json<R: QemuRead, W: io::Write>(
    dec: &mut StreamDecoder<'_, '_, R>,
    out: &mut JsonOut<W>,
    always: bool,
) -> Result<()> {
    if dec.payload_remaining() == 0 && !always {
        return Ok(());
    }
    out.buf.push_str(", \"data\": [");
    let mut piece = vec![0u8; PIECE];
    let mut zeros: u64 = 0;
    let mut first = true;
    let sep = |out: &mut JsonOut<W>, first: &mut bool| {
        if !std::mem::take(first) {
            out.buf.push_str(", ");
        }
    };
    while dec.payload_remaining() > 0 {
        let n = dec.payload_remaining().min(PIECE as u64) as usize;
        dec.read_payload(&mut piece[..n])?;
        if piece[..n].iter().all(|&b| b == 0) {
            zeros += n as u64;
            continue;
        }
        if zeros > 0 {
            sep(out, &mut first);
            let _ = write!(out.buf, "{zeros}");
            zeros = 0;
        }
        sep(out, &mut first);
        out.buf.push('"');
        BASE64.encode_string(&piece[..n], &mut out.buf);
        out.buf.push('"');
        out.flush()?;
    }
    if zeros > 0 {
        sep(out, &mut first);
        let _ = write!(out.buf, "{zeros}");
    }
    out.buf.push(']');
    Ok(())
}

/// Converts the stream `decoder` reads into the JSON document (see the
/// [module](self)) written to `out`, and returns `out`. `vmdesc` is the
/// vmdesc text the decoder's schema was parsed from (the stream's own, or
/// one lent with `--vmdesc`): the document carries it, to decode the state
/// again. Calls `progress` with the input position now and then.
pub fn stream_to_json<R: QemuRead, W: io::Write>(
    decoder: &mut StreamDecoder<'_, '_, R>,
    vmdesc: Option<&[u8]>,
    out: W,
    mut progress: impl FnMut(u64),
) -> Result<W> {
    let mut o = JsonOut {
        w: out,
        buf: String::new(),
    };
    let _ = write!(
        o.buf,
        "{{\"vmstate-json\": {FORMAT_VERSION},\n\"stream\": {{\"configuration\": {}, \"ram\": ",
        decoder.configuration().is_some()
    );
    ram_json(&mut o.buf, decoder.ram_config());
    o.buf.push_str("},\n\"configuration\": ");
    match decoder.configuration() {
        Some(c) => configuration_json(&mut o.buf, c),
        None => o.buf.push_str("null"),
    }
    o.buf.push_str(",\n\"vmdesc\": ");
    match vmdesc {
        Some(text) => write_bytes(&mut o.buf, text),
        None => o.buf.push_str("null"),
    }
    o.buf.push_str(",\n\"items\": [");
    o.flush()?;
    let mut items = 0usize;
    let mut records = 0usize;
    let footer = |dec: &StreamDecoder<'_, '_, R>, out: &mut String| {
        if !dec.options().send_section_footer {
            out.push_str(", \"footer\": false");
        }
    };
    while let Some(event) = decoder.next_event()? {
        let sep = if items == 0 { "\n" } else { ",\n" };
        match event {
            Event::Section(h) => {
                let mut state = decoder.decode_section()?;
                o.buf.push_str(sep);
                header_keys(&mut o.buf, &h);
                o.buf.push_str(", \"state\": ");
                let d = state.description();
                let mut v = JsonOutputVisitor::new(std::mem::take(&mut o.buf));
                visit_struct_at(&mut state, &mut v, d.name, d.version_id)
                    .map_err(|e| e.within(crate::PathSegment::Root(section_root(&h).into())))?;
                o.buf = v.into_inner();
                footer(decoder, &mut o.buf);
                o.buf.push('}');
                items += 1;
                progress(decoder.position());
            }
            Event::IterativeHeader(h) => {
                o.buf.push_str(sep);
                header_keys(&mut o.buf, &h);
                o.buf.push_str(", \"records\": [");
                records = 0;
                items += 1;
            }
            Event::Item(item) => {
                o.buf.push_str(if records == 0 { "\n  " } else { ",\n  " });
                records += 1;
                record_json(&mut o.buf, &item);
                let raw = matches!(item, SectionItem::Raw { .. });
                payload_json(decoder, &mut o, raw)?;
                o.buf.push('}');
                progress(decoder.position());
            }
            Event::IterativeEnd => {
                o.buf.push_str(if records == 0 { "]" } else { "\n]" });
                footer(decoder, &mut o.buf);
                o.buf.push('}');
            }
            Event::Command(c) => {
                let _ = write!(o.buf, "{sep}{{\"command\": {}", c.cmd);
                if let Some(name) = c.name() {
                    let _ = write!(o.buf, ", \"name\": \"{name}\"");
                }
                let _ = write!(o.buf, ", \"data\": \"0x{}\"}}", Hex(&c.data));
                items += 1;
            }
            Event::Eof(v) => {
                let _ = write!(o.buf, "{sep}{{\"eof\": {{\"vmdesc\": ");
                match (v.json(), vmdesc) {
                    (Some(j), Some(text)) if j == text => o.buf.push_str("true"),
                    (Some(j), _) => write_bytes(&mut o.buf, j),
                    (None, _) => o.buf.push_str("false"),
                }
                o.buf.push('}');
                trailing_json(decoder, &mut o)?;
                o.buf.push('}');
                items += 1;
            }
        }
        o.flush()?;
    }
    o.buf.push_str("\n]}\n");
    o.flush()?;
    Ok(o.w)
}

/// Bytes after the vmdesc (no stream QEMU writes has any): `"trailing"`.
fn trailing_json<R: QemuRead, W: io::Write>(
    dec: &mut StreamDecoder<'_, '_, R>,
    out: &mut JsonOut<W>,
) -> Result<()> {
    let mut first = true;
    loop {
        let r = dec.get_mut();
        let n = r.peek(0, qemufile::MAX_PEEK / 2)?.len();
        if n == 0 {
            break;
        }
        let mut piece = vec![0u8; n];
        r.read_into(&mut piece)?;
        out.buf
            .push_str(if first { ", \"trailing\": [\"" } else { ", \"" });
        first = false;
        BASE64.encode_string(&piece, &mut out.buf);
        out.buf.push('"');
    }
    if !first {
        out.buf.push(']');
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// JSON to stream

/// What the reader of a document shares with its seeds.
struct Ctx<'c> {
    limits: Limits,
    /// Input bytes one item (one piece of data) may still take.
    io_left: &'c Cell<u64>,
    /// Input bytes read so far.
    io_total: &'c Cell<u64>,
    /// The error that stopped the document, with its path.
    error: RefCell<Option<Error>>,
    progress: RefCell<&'c mut dyn FnMut(u64)>,
}

impl Ctx<'_> {
    fn fail<E: de::Error>(&self, e: Error) -> E {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
        }
        E::custom(STOPPED)
    }

    fn bad<E: de::Error>(&self, message: impl std::fmt::Display) -> E {
        self.fail(Error::msg(message))
    }

    /// Starts a new item: its text may take up to the section memory limit.
    fn new_item(&self) {
        self.io_left.set(self.limits.section_memory.max(SMALL));
        let total = self.io_total.get();
        (self.progress.borrow_mut())(total);
    }
}

const STOPPED: &str = "vmstate: stopped";

/// A reader that stops a document whose current item is longer than its
/// budget (so that one JSON string or number cannot take all memory).
struct Budgeted<'c, R> {
    inner: R,
    left: &'c Cell<u64>,
    total: &'c Cell<u64>,
}

impl<R: Read> Read for Budgeted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left.get();
        if left == 0 {
            return Err(io::Error::other(OVER_BUDGET));
        }
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        self.left.set(left - got as u64);
        self.total.set(self.total.get() + got as u64);
        Ok(got)
    }
}

const OVER_BUDGET: &str = "vmstate: an item of the JSON document is longer than its limit";

/// Converts a JSON document (see the [module](self)) read from `input`
/// into the stream it describes, written to `out`; returns `out`. Memory is
/// bounded by `limits` whatever the document holds: one item's text and
/// parsed values by [`Limits::section_memory`], the vmdesc by
/// [`Limits::max_vmdesc_len`], its descriptions by the arena's checks.
/// Calls `progress` with the bytes of JSON read now and then.
pub fn json_to_stream<R: Read, W: QemuWrite>(
    input: R,
    out: W,
    limits: Limits,
    mut progress: impl FnMut(u64),
) -> Result<W> {
    let io_left = Cell::new(SMALL.max(u64::from(limits.max_vmdesc_len) * 2 + SMALL));
    let io_total = Cell::new(0);
    let reader = io::BufReader::with_capacity(
        1 << 16,
        Budgeted {
            inner: input,
            left: &io_left,
            total: &io_total,
        },
    );
    let ctx = Ctx {
        limits,
        io_left: &io_left,
        io_total: &io_total,
        error: RefCell::new(None),
        progress: RefCell::new(&mut progress),
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = Document {
        ctx: &ctx,
        out: Some(out),
    }
    .deserialize(&mut de)
    .and_then(|w| de.end().map(|()| w));
    match result {
        Ok(w) => Ok(w),
        Err(e) => {
            let located = |m: String| {
                Error::msg(format!(
                    "JSON line {}, column {}: {m}",
                    e.line(),
                    e.column()
                ))
            };
            if let Some(inner) = ctx.error.borrow_mut().take() {
                return Err(located(inner.to_string()));
            }
            if e.is_io() && e.to_string().contains(OVER_BUDGET) {
                return Err(located(format!(
                    "an item of the document is longer than the {} one item may take (raise \
                     --max-section-memory)",
                    Limit::SectionMemory.amount(limits.section_memory)
                )));
            }
            Err(json_error(&e, limits.section_memory))
        }
    }
}

/// The whole document.
struct Document<'a, 'c, W> {
    ctx: &'a Ctx<'c>,
    out: Option<W>,
}

impl<'de, W: QemuWrite> DeserializeSeed<'de> for Document<'_, '_, W> {
    type Value = W;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<W, D::Error> {
        d.deserialize_map(self)
    }
}

fn small<'de, A: MapAccess<'de>>(map: &mut A) -> std::result::Result<Value, A::Error> {
    let left = Cell::new(SMALL);
    map.next_value_seed(BoundedValue { left: &left })
}

fn uint(v: &Value, what: &str) -> Result<u64> {
    v.as_u64()
        .ok_or_else(|| Error::msg(format!("{what}: expected an unsigned integer, found {v}")))
}

fn uint_of<T: TryFrom<u64>>(v: &Value, what: &str) -> Result<T> {
    let n = uint(v, what)?;
    T::try_from(n).map_err(|_| Error::msg(format!("{what}: {n} is out of range")))
}

/// A string (its UTF-8 bytes) or `{"hex": "0x..."}`.
fn bytes_of(v: &Value, what: &str) -> Result<Vec<u8>> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Object(m) => match m.get("hex") {
            Some(Value::String(h)) => {
                let t = h.strip_prefix("0x").unwrap_or(h);
                crate::json_state::parse_bytes(t, t.len() / 2, what).map_err(Error::msg)
            }
            _ => Err(Error::msg(format!(
                "{what}: expected a string or {{\"hex\": ...}}"
            ))),
        },
        other => Err(Error::msg(format!(
            "{what}: expected a string or {{\"hex\": ...}}, found {other}"
        ))),
    }
}

fn idstr_of(v: &Value, what: &str) -> Result<IdStr> {
    IdStr::new(bytes_of(v, what)?).map_err(|k| Error::msg(format!("{what}: {k}")))
}

fn get<'v>(m: &'v Map<String, Value>, key: &str, what: &str) -> Result<&'v Value> {
    m.get(key)
        .ok_or_else(|| Error::msg(format!("{what} has no \"{key}\"")))
}

fn configuration_of(v: &Value) -> Result<Option<Configuration>> {
    let Some(m) = v.as_object() else {
        return match v {
            Value::Null => Ok(None),
            other => Err(Error::msg(format!(
                "\"configuration\": expected an object or null, found {other}"
            ))),
        };
    };
    let mut c = Configuration::new(bytes_of(
        get(m, "machine", "the configuration")?,
        "machine",
    )?);
    let subs = match m.get("subsections") {
        Some(Value::Array(a)) => a.as_slice(),
        None => &[],
        Some(other) => {
            return Err(Error::msg(format!(
                "configuration \"subsections\": expected an array, found {other}"
            )));
        }
    };
    for s in subs {
        let sm = s
            .as_object()
            .ok_or_else(|| Error::msg("a configuration subsection is not an object"))?;
        let name = get(sm, "name", "a configuration subsection")?
            .as_str()
            .unwrap_or_default();
        let version = uint_of(get(sm, "version", name)?, name)?;
        c.subsections.push(match name {
            "configuration/target-page-bits" => ConfigSubsection::TargetPageBits {
                version,
                bits: uint_of(get(sm, "bits", name)?, name)?,
            },
            "configuration/capabilities" => {
                let caps = get(sm, "capabilities", name)?
                    .as_array()
                    .ok_or_else(|| Error::msg("\"capabilities\" is not an array"))?
                    .iter()
                    .map(|c| idstr_of(c, "a capability"))
                    .collect::<Result<Vec<_>>>()?;
                ConfigSubsection::Capabilities { version, caps }
            }
            "configuration/uuid" => {
                let text = get(sm, "uuid", name)?.as_str().unwrap_or_default();
                let bytes = crate::json_state::parse_bytes(text, 16, "uuid").map_err(Error::msg)?;
                let mut uuid = [0u8; 16];
                uuid.copy_from_slice(&bytes);
                ConfigSubsection::Uuid { version, uuid }
            }
            other => {
                return Err(Error::msg(format!(
                    "unknown configuration subsection {other:?}"
                )));
            }
        });
    }
    Ok(Some(c))
}

fn ram_config_of(stream: &Map<String, Value>) -> Result<RamConfig> {
    let empty = Map::new();
    let ram = match stream.get("ram") {
        Some(Value::Object(m)) => m,
        _ => &empty,
    };
    let mut c = RamConfig::new(match ram.get("page_size") {
        Some(v) => uint(v, "\"page_size\"")?,
        None => 4096,
    });
    c.ignore_shared = ram.get("ignore_shared").and_then(Value::as_bool) == Some(true);
    c.mapped_ram = ram.get("mapped_ram").and_then(Value::as_bool) == Some(true);
    c.postcopy_page_sizes = match ram.get("postcopy_page_sizes") {
        None | Some(Value::Null) => BlockPageSizes::None,
        Some(Value::String(s)) if s == "all" => BlockPageSizes::All,
        Some(Value::Array(a)) => BlockPageSizes::Blocks(
            a.iter()
                .map(|n| idstr_of(n, "a block name"))
                .collect::<Result<Vec<_>>>()?,
        ),
        Some(other) => {
            return Err(Error::msg(format!(
                "\"postcopy_page_sizes\": expected \"all\" or a list of names, found {other}"
            )));
        }
    };
    Ok(c)
}

impl<'de, W: QemuWrite> de::Visitor<'de> for Document<'_, '_, W> {
    type Value = W;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a vmstate JSON document (an object with \"vmstate-json\": 1)")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> std::result::Result<W, A::Error> {
        let ctx = self.ctx;
        let mut format = None;
        let mut stream = Map::new();
        let mut configuration = Value::Null;
        let mut vmdesc = Value::Null;
        let mut done = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "vmstate-json" => format = Some(small(&mut map)?),
                "stream" => {
                    stream = match small(&mut map)? {
                        Value::Object(m) => m,
                        other => {
                            return Err(
                                ctx.bad(format!("\"stream\": expected an object, found {other}"))
                            );
                        }
                    }
                }
                "configuration" => configuration = small(&mut map)?,
                "vmdesc" => {
                    let left = Cell::new(u64::from(ctx.limits.max_vmdesc_len) * 2 + SMALL);
                    vmdesc = map.next_value_seed(BoundedValue { left: &left })?;
                }
                "items" => {
                    match format.as_ref().and_then(Value::as_u64) {
                        Some(FORMAT_VERSION) => {}
                        Some(v) => {
                            return Err(ctx.bad(format!(
                                "\"vmstate-json\": {v}: this build reads version {FORMAT_VERSION}"
                            )));
                        }
                        None => {
                            return Err(ctx.bad(
                                "not a vmstate JSON document: \"vmstate-json\": 1 must come \
                                 before \"items\"",
                            ));
                        }
                    }
                    let Some(out) = self.out.take() else {
                        return Err(ctx.bad("\"items\" given twice"));
                    };
                    let opened = (|| -> Result<_> {
                        let config = configuration_of(&configuration)?;
                        let send_configuration = stream
                            .get("configuration")
                            .and_then(Value::as_bool)
                            .unwrap_or(config.is_some());
                        if send_configuration != config.is_some() {
                            return Err(Error::msg(
                                "\"stream\" says the stream has a configuration section, \
                                 \"configuration\" disagrees",
                            ));
                        }
                        let options = StreamOptions {
                            send_configuration,
                            ..StreamOptions::default()
                        };
                        let ram = ram_config_of(&stream)?;
                        let text = match &vmdesc {
                            Value::Null => None,
                            v => Some(bytes_of(v, "\"vmdesc\"")?),
                        };
                        let enc = StreamEncoder::open(out, &options, config.as_ref(), ram.clone())?;
                        Ok((enc, text, ram))
                    })();
                    let (mut enc, text, ram) = opened.map_err(|e| ctx.fail(e))?;
                    let arena = DescriptionArena::with_limits(ctx.limits);
                    let schema = match &text {
                        Some(t) => Some(StreamSchema::parse(&arena, t).map_err(|e| ctx.fail(e))?),
                        None => None,
                    };
                    map.next_value_seed(Items {
                        ctx,
                        enc: &mut enc,
                        schema: schema.as_ref(),
                        vmdesc: text.as_deref(),
                        page_size: ram.page_size,
                    })?;
                    done = Some(enc.into_inner());
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        done.ok_or_else(|| ctx.bad("the document has no \"items\""))
    }
}

struct Items<'a, 'c, 's, 'd, W: QemuWrite> {
    ctx: &'a Ctx<'c>,
    enc: &'a mut StreamEncoder<W>,
    schema: Option<&'s StreamSchema<'d>>,
    vmdesc: Option<&'a [u8]>,
    page_size: u64,
}

impl<'de, W: QemuWrite> DeserializeSeed<'de> for Items<'_, '_, '_, '_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, W: QemuWrite> de::Visitor<'de> for Items<'_, '_, '_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the list of the stream's items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            self.ctx.new_item();
            let item = Item {
                ctx: self.ctx,
                enc: &mut *self.enc,
                schema: self.schema,
                vmdesc: self.vmdesc,
                page_size: self.page_size,
                index,
            };
            if seq.next_element_seed(item)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }
}

struct Item<'a, 'c, 's, 'd, W: QemuWrite> {
    ctx: &'a Ctx<'c>,
    enc: &'a mut StreamEncoder<W>,
    schema: Option<&'s StreamSchema<'d>>,
    vmdesc: Option<&'a [u8]>,
    page_size: u64,
    index: usize,
}

impl<'de, W: QemuWrite> DeserializeSeed<'de> for Item<'_, '_, '_, '_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

fn kind_of(name: &str) -> Option<SectionKind> {
    Some(match name {
        "start" => SectionKind::Start,
        "part" => SectionKind::Part,
        "end" => SectionKind::End,
        "full" => SectionKind::Full,
        _ => return None,
    })
}

impl<'de, W: QemuWrite> de::Visitor<'de> for Item<'_, '_, '_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a section, command or eof object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let ctx = self.ctx;
        let what = format!("item {}", self.index);
        let Some(first) = map.next_key::<String>()? else {
            return Err(ctx.bad(format!("{what} is an empty object")));
        };
        match first.as_str() {
            "section" => self.section(map, &what),
            "command" => {
                let mut m = Map::new();
                m.insert(first, small(&mut map)?);
                while let Some(k) = map.next_key::<String>()? {
                    let v = small(&mut map)?;
                    m.insert(k, v);
                }
                let command = (|| -> Result<Command> {
                    let cmd = uint_of(get(&m, "command", &what)?, "\"command\"")?;
                    let data = match m.get("data") {
                        Some(Value::String(s)) => {
                            let t = s.strip_prefix("0x").unwrap_or(s);
                            crate::json_state::parse_bytes(t, t.len() / 2, "command data")
                                .map_err(Error::msg)?
                        }
                        None => Vec::new(),
                        Some(other) => {
                            return Err(Error::msg(format!(
                                "command \"data\": expected hex bytes, found {other}"
                            )));
                        }
                    };
                    Ok(Command { cmd, data })
                })()
                .map_err(|e| ctx.fail(e))?;
                self.enc.write_command(&command).map_err(|e| ctx.fail(e))
            }
            "eof" => {
                let v = small(&mut map)?;
                let trailer = match v.get("vmdesc") {
                    Some(Value::Bool(true)) => match self.vmdesc {
                        Some(t) => Vmdesc::Present(t.to_vec()),
                        None => {
                            return Err(ctx.bad(
                                "the eof item says the stream ends with the document's \
                                 \"vmdesc\", which is null",
                            ));
                        }
                    },
                    Some(Value::Bool(false)) | None => Vmdesc::Absent { found: None },
                    Some(other) => Vmdesc::Present(
                        bytes_of(other, "the eof's \"vmdesc\"").map_err(|e| ctx.fail(e))?,
                    ),
                };
                self.enc.write_eof(&trailer).map_err(|e| ctx.fail(e))?;
                while let Some(k) = map.next_key::<String>()? {
                    if k == "trailing" {
                        map.next_value_seed(Payload {
                            ctx,
                            out: self.enc.body(),
                        })?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(())
            }
            other => Err(ctx.bad(format!(
                "{what}: an item begins with \"section\", \"command\" or \"eof\", not {other:?}"
            ))),
        }
    }
}

impl<W: QemuWrite> Item<'_, '_, '_, '_, W> {
    fn section<'de, A: MapAccess<'de>>(
        mut self,
        mut map: A,
        what: &str,
    ) -> std::result::Result<(), A::Error> {
        let ctx = self.ctx;
        let kind_text = small(&mut map)?;
        let kind = kind_text.as_str().and_then(kind_of).ok_or_else(|| {
            ctx.bad(format!(
                "{what}: \"section\" is start, part, end or full, not {kind_text}"
            ))
        })?;
        let mut keys = Map::new();
        let mut written = false;
        let mut footer = true;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "state" | "records" if written => {
                    return Err(ctx.bad(format!("{what}: a second body")));
                }
                "state" => {
                    if kind != SectionKind::Full {
                        return Err(ctx.bad(format!("{what}: only a full section has a \"state\"")));
                    }
                    let h = header_of(kind, &keys).map_err(|e| ctx.fail(e))?;
                    let left = Cell::new(ctx.limits.section_memory);
                    let json = map.next_value_seed(BoundedValue { left: &left })?;
                    self.full_section(&h, &json).map_err(|e| ctx.fail(e))?;
                    written = true;
                }
                "records" => {
                    if kind == SectionKind::Full {
                        return Err(ctx.bad(format!(
                            "{what}: a full section has a \"state\", not \"records\""
                        )));
                    }
                    let h = header_of(kind, &keys).map_err(|e| ctx.fail(e))?;
                    self.enc.write_section_header(&h).map_err(|e| ctx.fail(e))?;
                    map.next_value_seed(Records {
                        ctx,
                        enc: &mut *self.enc,
                        page_size: self.page_size,
                    })?;
                    written = true;
                }
                "footer" => {
                    footer = match small(&mut map)? {
                        Value::Bool(b) => b,
                        other => {
                            return Err(ctx.bad(format!(
                                "\"footer\": expected true or false, found {other}"
                            )));
                        }
                    };
                }
                _ => {
                    let v = small(&mut map)?;
                    keys.insert(key, v);
                }
            }
        }
        if !written {
            return Err(ctx.bad(format!(
                "{what}: a section needs its \"state\" or \"records\""
            )));
        }
        self.enc.set_section_footer(footer);
        self.enc.write_section_footer().map_err(|e| ctx.fail(e))
    }

    fn full_section(&mut self, h: &SectionHeader, json: &Value) -> Result<()> {
        let root = section_root(h);
        let schema = self.schema.ok_or_else(|| {
            Error::msg(format!(
                "section {root}: the document has no \"vmdesc\" to describe its state"
            ))
        })?;
        let device = schema
            .device(&h.idstr.to_string_lossy(), h.instance_id)
            .ok_or_else(|| {
                Error::msg(format!(
                    "section {root} instance {}: not in the document's vmdesc",
                    h.instance_id
                ))
            })?;
        let d = device.description;
        if device.versioned && h.version_id != d.version_id {
            return Err(Error::msg(format!(
                "section {root} has version {}, the vmdesc says {}",
                h.version_id, d.version_id
            )));
        }
        let mut state = load_dynamic_as(d, json, &root, self.ctx.limits)
            .map_err(|e| e.in_section(&h.idstr.to_string_lossy(), h.instance_id))?;
        self.enc.write_section_header(h)?;
        self.enc.write_dynamic_body(h, &mut state)
    }
}

fn header_of(kind: SectionKind, keys: &Map<String, Value>) -> Result<SectionHeader> {
    let what = "the section";
    let section_id = uint_of(get(keys, "id", what)?, "\"id\"")?;
    let full = kind.has_full_header();
    let field = |key: &str| -> Result<u32> {
        match keys.get(key) {
            Some(v) => uint_of(v, key),
            None if !full => Ok(0),
            None => Err(Error::msg(format!("{what} has no \"{key}\""))),
        }
    };
    let idstr = match keys.get("idstr") {
        Some(v) => idstr_of(v, "\"idstr\"")?,
        None if !full => IdStr::default(),
        None => return Err(Error::msg(format!("{what} has no \"idstr\""))),
    };
    Ok(SectionHeader {
        kind,
        section_id,
        idstr,
        instance_id: field("instance")?,
        version_id: field("version")?,
    })
}

struct Records<'a, 'c, W: QemuWrite> {
    ctx: &'a Ctx<'c>,
    enc: &'a mut StreamEncoder<W>,
    page_size: u64,
}

impl<'de, W: QemuWrite> DeserializeSeed<'de> for Records<'_, '_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, W: QemuWrite> de::Visitor<'de> for Records<'_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        loop {
            self.ctx.new_item();
            let record = Record {
                ctx: self.ctx,
                enc: &mut *self.enc,
                page_size: self.page_size,
            };
            if seq.next_element_seed(record)?.is_none() {
                return Ok(());
            }
        }
    }
}

struct Record<'a, 'c, W: QemuWrite> {
    ctx: &'a Ctx<'c>,
    enc: &'a mut StreamEncoder<W>,
    page_size: u64,
}

impl<'de, W: QemuWrite> DeserializeSeed<'de> for Record<'_, '_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, W: QemuWrite> de::Visitor<'de> for Record<'_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> std::result::Result<(), A::Error> {
        let ctx = self.ctx;
        let mut keys = Map::new();
        let mut written = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "data" {
                if written.is_some() {
                    return Err(ctx.bad("a record's \"data\" given twice"));
                }
                let (item, expected) = self.write(&keys).map_err(|e| ctx.fail(e))?;
                let got = map.next_value_seed(Payload {
                    ctx,
                    out: self.enc.body(),
                })?;
                check_payload(&item, expected, got).map_err(|e| ctx.fail(e))?;
                written = Some(item);
            } else {
                let v = small(&mut map)?;
                keys.insert(key, v);
            }
        }
        if written.is_none() {
            let (item, expected) = self.write(&keys).map_err(|e| ctx.fail(e))?;
            check_payload(&item, expected, 0).map_err(|e| ctx.fail(e))?;
        }
        Ok(())
    }
}

fn check_payload(item: &SectionItem, expected: Option<u64>, got: u64) -> Result<()> {
    match expected {
        Some(n) if n != got => Err(Error::msg(format!(
            "the record {item:?} takes {n} byte(s) of data, its \"data\" has {got}"
        ))),
        _ => Ok(()),
    }
}

impl<W: QemuWrite> Record<'_, '_, W> {
    /// Writes the record; returns it and the data it takes, if known.
    fn write(&mut self, keys: &Map<String, Value>) -> Result<(SectionItem, Option<u64>)> {
        let item = item_of(keys)?;
        self.enc.write_item(&item)?;
        let position = self.enc.body().position();
        let expected = match &item {
            SectionItem::Ram(RamItem::Record(r)) => Some(r.payload_len(self.page_size)),
            SectionItem::Ram(RamItem::Block(b)) => match &b.mapped_ram {
                Some(h) => h
                    .region_end(b.length)
                    .map(|end| end.saturating_sub(position)),
                None => Some(0),
            },
            SectionItem::Htab(HtabItem::Chunk(c)) => Some(c.payload_len()),
            SectionItem::Htab(_) => Some(0),
            SectionItem::StorageAttributes(r) => Some(r.payload_len()),
            SectionItem::DirtyBitmap(r) => Some(match r.data {
                BitmapData::Bits { buf_size, .. } => buf_size,
                _ => 0,
            }),
            _ => None,
        };
        Ok((item, expected))
    }
}

fn opt_idstr(keys: &Map<String, Value>, key: &str) -> Result<Option<IdStr>> {
    keys.get(key).map(|v| idstr_of(v, key)).transpose()
}

fn u64_key(keys: &Map<String, Value>, key: &str, what: &str) -> Result<u64> {
    uint(get(keys, key, what)?, key)
}

fn item_of(keys: &Map<String, Value>) -> Result<SectionItem> {
    let tag = |k: &str| keys.get(k).and_then(Value::as_str);
    if let Some(kind) = tag("ram") {
        let what = "a ram record";
        if kind == "block" {
            let mapped_ram = match keys.get("mapped_ram") {
                Some(Value::Object(h)) => Some(MappedRamHeader {
                    version: uint_of(get(h, "version", "mapped_ram")?, "version")?,
                    page_size: u64_key(h, "page_size", "mapped_ram")?,
                    bitmap_offset: u64_key(h, "bitmap_offset", "mapped_ram")?,
                    pages_offset: u64_key(h, "pages_offset", "mapped_ram")?,
                }),
                None | Some(Value::Null) => None,
                Some(other) => {
                    return Err(Error::msg(format!(
                        "\"mapped_ram\": expected an object, found {other}"
                    )));
                }
            };
            return Ok(SectionItem::Ram(RamItem::Block(RamBlock {
                name: idstr_of(get(keys, "name", what)?, "\"name\"")?,
                length: u64_key(keys, "length", what)?,
                page_size: keys
                    .get("page_size")
                    .map(|v| uint(v, "page_size"))
                    .transpose()?,
                mr_addr: keys
                    .get("mr_addr")
                    .map(|v| uint(v, "mr_addr"))
                    .transpose()?,
                mapped_ram,
            })));
        }
        let (flag, kind) = match kind {
            "mem_size" => (qemufile::ram::FLAG_MEM_SIZE, RamKind::MemSize),
            "zero" => (
                qemufile::ram::FLAG_ZERO,
                RamKind::Zero {
                    fill: match keys.get("fill") {
                        Some(v) => uint_of(v, "fill")?,
                        None => 0,
                    },
                },
            ),
            "page" => (qemufile::ram::FLAG_PAGE, RamKind::Page),
            "xbzrle" => (
                qemufile::ram::FLAG_XBZRLE,
                RamKind::Xbzrle {
                    encoding: match keys.get("encoding") {
                        Some(v) => uint_of(v, "encoding")?,
                        None => qemufile::ram::ENCODING_FLAG_XBZRLE,
                    },
                    len: uint_of(get(keys, "len", what)?, "len")?,
                },
            ),
            "multifd_flush" => (qemufile::ram::FLAG_MULTIFD_FLUSH, RamKind::MultifdFlush),
            "hook" => (qemufile::ram::FLAG_HOOK, RamKind::Hook),
            "eos" => (qemufile::ram::FLAG_EOS, RamKind::Eos),
            other => return Err(Error::msg(format!("unknown ram record {other:?}"))),
        };
        let block = opt_idstr(keys, "block")?;
        let flags = match keys.get("flags") {
            Some(v) => uint(v, "flags")?,
            None if block.is_none()
                && flag
                    & (qemufile::ram::FLAG_ZERO
                        | qemufile::ram::FLAG_PAGE
                        | qemufile::ram::FLAG_XBZRLE)
                    != 0 =>
            {
                flag | qemufile::ram::FLAG_CONTINUE
            }
            None => flag,
        };
        return Ok(SectionItem::Ram(RamItem::Record(RamRecord {
            addr: match keys.get("addr") {
                Some(v) => uint(v, "addr")?,
                None => 0,
            },
            flags,
            block,
            kind,
        })));
    }
    if let Some(kind) = tag("htab") {
        let what = "an htab record";
        return Ok(SectionItem::Htab(match kind {
            "no_hpt" => HtabItem::NoHpt,
            "size" => HtabItem::Size {
                shift: uint_of(get(keys, "shift", what)?, "shift")?,
            },
            "entries" => HtabItem::Entries,
            "chunk" => HtabItem::Chunk(HtabChunk {
                index: uint_of(get(keys, "index", what)?, "index")?,
                n_valid: uint_of(get(keys, "n_valid", what)?, "n_valid")?,
                n_invalid: uint_of(get(keys, "n_invalid", what)?, "n_invalid")?,
            }),
            "end" => HtabItem::End,
            other => return Err(Error::msg(format!("unknown htab record {other:?}"))),
        }));
    }
    if let Some(kind) = tag("stattrib") {
        let addr = match keys.get("addr") {
            Some(v) => uint(v, "addr")?,
            None => 0,
        };
        let kind = match kind {
            "data" => StattribKind::Data {
                count: u64_key(keys, "count", "a stattrib record")?,
            },
            "done" => StattribKind::Done,
            "eos" => StattribKind::Eos,
            "error" => StattribKind::Error,
            other => return Err(Error::msg(format!("unknown stattrib record {other:?}"))),
        };
        return Ok(SectionItem::StorageAttributes(StattribRecord {
            addr,
            kind,
        }));
    }
    if let Some(kind) = tag("dirty_bitmap") {
        let what = "a dirty_bitmap record";
        let sectors = || -> Result<(u64, u32)> {
            Ok((
                u64_key(keys, "start_sector", what)?,
                uint_of(get(keys, "nr_sectors", what)?, "nr_sectors")?,
            ))
        };
        let data = match kind {
            "none" => BitmapData::None,
            "start" => BitmapData::Start {
                granularity: uint_of(get(keys, "granularity", what)?, "granularity")?,
                flags: uint_of(get(keys, "start_flags", what)?, "start_flags")?,
            },
            "complete" => BitmapData::Complete,
            "bits" => {
                let (start_sector, nr_sectors) = sectors()?;
                BitmapData::Bits {
                    start_sector,
                    nr_sectors,
                    buf_size: u64_key(keys, "buf_size", what)?,
                }
            }
            "zeroes" => {
                let (start_sector, nr_sectors) = sectors()?;
                BitmapData::Zeroes {
                    start_sector,
                    nr_sectors,
                }
            }
            other => return Err(Error::msg(format!("unknown dirty_bitmap record {other:?}"))),
        };
        return Ok(SectionItem::DirtyBitmap(DirtyBitmapRecord {
            flags: uint_of(get(keys, "flags", what)?, "flags")?,
            node: opt_idstr(keys, "node")?,
            bitmap: opt_idstr(keys, "bitmap")?,
            data,
        }));
    }
    if keys.contains_key("raw") {
        return Ok(SectionItem::Raw { len: 0 });
    }
    Err(Error::msg(
        "a record is tagged \"ram\", \"htab\", \"stattrib\", \"dirty_bitmap\" or \"raw\"",
    ))
}

/// Page data: base64 pieces and zero runs, written as they arrive; the
/// bytes written.
struct Payload<'a, 'c, W> {
    ctx: &'a Ctx<'c>,
    out: &'a mut W,
}

impl<'de, W: QemuWrite> DeserializeSeed<'de> for Payload<'_, '_, W> {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, W: QemuWrite> de::Visitor<'de> for Payload<'_, '_, W> {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of base64 strings and zero-byte counts")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<u64, A::Error> {
        let mut total = 0u64;
        loop {
            self.ctx.new_item();
            let piece = Piece {
                ctx: self.ctx,
                out: &mut *self.out,
            };
            match seq.next_element_seed(piece)? {
                Some(n) => total = total.saturating_add(n),
                None => return Ok(total),
            }
        }
    }
}

struct Piece<'a, 'c, W> {
    ctx: &'a Ctx<'c>,
    out: &'a mut W,
}

impl<'de, W: QemuWrite> DeserializeSeed<'de> for Piece<'_, '_, W> {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, W: QemuWrite> de::Visitor<'de> for Piece<'_, '_, W> {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a base64 string or a count of zero bytes")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> std::result::Result<u64, E> {
        let mut left = n;
        let zeros = [0u8; 8192];
        while left > 0 {
            let k = left.min(zeros.len() as u64) as usize;
            self.out
                .put_bytes(&zeros[..k])
                .map_err(|e| self.ctx.fail(e.into()))?;
            left -= k as u64;
        }
        Ok(n)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<u64, E> {
        let bytes = BASE64
            .decode(s)
            .map_err(|e| self.ctx.bad(format!("page data is not base64: {e}")))?;
        self.out
            .put_bytes(&bytes)
            .map_err(|e| self.ctx.fail(e.into()))?;
        Ok(bytes.len() as u64)
    }
}
