//! The stream subcommands: `vmstate dump`, `desc`, `reencode`, `check` and
//! `diff`, over [`crate::decode`].
//!
//! Exit statuses: 0 on success, 1 when the input cannot be read or decoded
//! (the message names the byte offset, section and field). `diff` follows
//! `diff(1)`: 0 when the streams hold the same state, 1 when they differ,
//! 2 on trouble.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use qemufile::ram::{RamItem, RamKind};
use qemufile::stream::{SectionHeader, SectionKind, Vmdesc};

use crate::decode::{
    self, DecodeError, DecodeOptions, Decoder, Event, Schema, StopPrinting, section_key,
};
use crate::input::{AnyReader, Input, Progress};
use crate::pyjson::Json;
use crate::render;

pub use crate::dump_cmd::{DumpArgs, DumpFormat};

/// Arguments of `vmstate desc`.
#[derive(Debug, Clone, clap::Args)]
pub struct DescArgs {
    /// The migration stream (`-` for standard input).
    pub file: PathBuf,
}

/// Arguments of `vmstate reencode`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReencodeArgs {
    /// The migration stream (`-` for standard input).
    pub file: PathBuf,
    /// Where to write the re-encoded stream (`-` for standard output).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
}

/// Arguments of `vmstate check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The migration stream (`-` for standard input).
    pub file: PathBuf,
}

/// Arguments of `vmstate diff`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// The old stream.
    pub a: PathBuf,
    /// The new stream.
    pub b: PathBuf,
}

/// Why a command stopped.
enum Fail {
    /// Writing the output failed (a closed pipe is not reported).
    Output(io::Error),
    /// The input is broken or unreadable.
    Input(String),
    /// `dump --format json`'s fast way failed after writing this many
    /// bytes (never reported: the slow way takes over).
    Streamed(u64),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Output(e)
    }
}

fn report(cmd: &str, r: Result<(), Fail>, err: &mut dyn Write) -> u8 {
    match r {
        Ok(()) => 0,
        Err(Fail::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(Fail::Output(e)) => {
            let _ = writeln!(err, "vmstate {cmd}: cannot write output: {e}");
            1
        }
        Err(Fail::Input(m)) => {
            let _ = writeln!(err, "vmstate {cmd}: {m}");
            1
        }
        Err(Fail::Streamed(n)) => {
            let _ = writeln!(
                err,
                "vmstate {cmd}: internal error after {n} bytes of output"
            );
            1
        }
    }
}

/// Opens an input and its decoder.
fn open(
    path: Option<&Path>,
    opts: DecodeOptions,
) -> Result<(Input, Decoder<AnyReader<'static>>), Fail> {
    let input = Input::open(path).map_err(Fail::Input)?;
    let schema = parse_schema(&input)?;
    open_with(input, schema, opts)
}

/// The schema of an input's vmdesc, if it has one.
fn parse_schema(input: &Input) -> Result<Option<Schema>, Fail> {
    Ok(match &input.vmdesc {
        Some((at, json)) => Some(Schema::parse_shared(json.clone()).map_err(|e| {
            Fail::Input(format!(
                "{}: at byte offset {} (0x{at:x}): {e}",
                input.name,
                at + 5
            ))
        })?),
        None => None,
    })
}

/// The decoder of an opened input and its schema.
fn open_with(
    mut input: Input,
    schema: Option<Schema>,
    opts: DecodeOptions,
) -> Result<(Input, Decoder<AnyReader<'static>>), Fail> {
    let name = input.name.clone();
    let reader = input
        .take_reader()
        .ok_or_else(|| Fail::Input(format!("{name}: input already used")))?;
    let dec = Decoder::open(reader, schema, opts).map_err(|e| dec_fail(&name, e))?;
    Ok((input, dec))
}

fn dec_fail(name: &str, e: DecodeError) -> Fail {
    Fail::Input(format!("{name}: {e}"))
}

fn kind_name(k: SectionKind) -> &'static str {
    match k {
        SectionKind::Start => "START",
        SectionKind::Part => "PART",
        SectionKind::End => "END",
        SectionKind::Full => "FULL",
    }
}

/// Tracks the RAM block named by the last record (what CONTINUE refers to).
#[derive(Default)]
struct RamState {
    block: String,
    pages: u64,
    zero: u64,
    other: u64,
    blocks: Vec<(String, u64)>,
}

impl RamState {
    /// Counts an item (what [`RamState::note`] counts, without the names
    /// of the pages' blocks).
    fn count(&mut self, item: &RamItem) {
        match item {
            RamItem::Block(b) => self.blocks.push((b.name.to_string_lossy(), b.length)),
            RamItem::Record(r) => match r.kind {
                RamKind::Page => self.pages += 1,
                RamKind::Zero { .. } => self.zero += 1,
                RamKind::Xbzrle { .. } => self.other += 1,
                _ => {}
            },
        }
    }

    /// Notes an item; returns the block and address of page records.
    fn note(&mut self, item: &RamItem) -> Option<(String, u64)> {
        match item {
            RamItem::Block(b) => {
                self.blocks.push((b.name.to_string_lossy(), b.length));
                self.block = b.name.to_string_lossy();
                None
            }
            RamItem::Record(r) => {
                if let Some(b) = &r.block {
                    self.block = b.to_string_lossy();
                }
                match r.kind {
                    RamKind::Page => self.pages += 1,
                    RamKind::Zero { .. } => self.zero += 1,
                    RamKind::Xbzrle { .. } => self.other += 1,
                    _ => return None,
                }
                Some((self.block.clone(), r.addr))
            }
        }
    }
}

/// Runs `vmstate dump --format json`.
pub fn run_dump_json(args: &DumpArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    report("dump", dump_json(args, out), err)
}

/// Runs `vmstate dump`.
pub fn run_dump(args: &DumpArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let r = match args.format {
        DumpFormat::Json => dump_json(args, out),
        DumpFormat::Text => dump_text(args, out),
    };
    report("dump", r, err)
}

fn read_page(dec: &mut Decoder<AnyReader<'static>>, name: &str) -> Result<Vec<u8>, Fail> {
    let n = dec.payload_remaining();
    if n > decode::MAX_FIELD_SIZE {
        return Err(Fail::Input(format!(
            "{name}: at byte offset {}: RAM page of {n} bytes is too large to read",
            dec.position()
        )));
    }
    let mut buf = vec![0u8; usize::try_from(n).unwrap_or(0)];
    dec.read_payload(&mut buf).map_err(|e| dec_fail(name, e))?;
    Ok(buf)
}

/// The `"ram (N)"` value of the analyzer's JSON: block sizes, and pages
/// with `--memory`.
#[derive(Default)]
struct RamJson {
    ram: RamState,
    sizes: Vec<(String, Json)>,
    memory: Vec<(String, Json)>,
}

impl RamJson {
    fn item(
        &mut self,
        item: &RamItem,
        memory: bool,
        dec: &mut Decoder<AnyReader<'static>>,
        name: &str,
    ) -> Result<(), Fail> {
        if let RamItem::Block(b) = item {
            self.sizes.push((
                b.name.to_string_lossy(),
                Json::String(format!("0x{:016x}", b.length)),
            ));
        }
        if !memory {
            return Ok(());
        }
        let page = self.ram.note(item);
        if let (Some((block, addr)), RamItem::Record(r)) = (page, item) {
            let key = format!("{block} (0x{addr:016x})");
            let v = match r.kind {
                RamKind::Zero { .. } => "Filled with 0x00".to_owned(),
                RamKind::Page => render::spaced_hex(&read_page(dec, name)?),
                _ => format!("xbzrle {}", render::spaced_hex(&read_page(dec, name)?)),
            };
            self.memory.push((key, Json::String(v)));
        }
        Ok(())
    }

    fn into_json(self, memory: bool) -> Json {
        let mut m = vec![("section sizes".to_owned(), Json::Object(self.sizes))];
        if memory {
            m.push(("memory".to_owned(), Json::Object(self.memory)));
        }
        Json::Object(m)
    }
}

/// Opens the input of `dump` and its decoder (non-strict).
fn open_dump(args: &DumpArgs) -> Result<(Input, Decoder<AnyReader<'static>>), Fail> {
    open(args.file.as_deref(), DecodeOptions::default())
}

/// A fresh decoder over an input opened before (for the slow way).
fn reopen(input: &mut Input) -> Result<Decoder<AnyReader<'static>>, Fail> {
    let schema = parse_schema(input)?;
    let reader = input.reopen().map_err(Fail::Input)?;
    Decoder::open(reader, schema, DecodeOptions::default()).map_err(|e| dec_fail(&input.name, e))
}

/// `dump --format json`: printed straight from the compiled descriptions
/// while reading; when that fails (a broken stream, or a body the direct
/// printer does not handle), the stream is decoded again the slow way,
/// which prints the same JSON or the exact error. Output is written as it
/// is made only once a first pass (run inline before printing when the
/// stream is over 64 KiB, else when the output grows large) has read the
/// whole stream: a broken stream prints nothing.
fn dump_json(args: &DumpArgs, out: &mut dyn Write) -> Result<(), Fail> {
    let (mut input, dec) = open_dump(args)?;
    let written = match dump_json_fast(args, &input, dec, out) {
        Err(Fail::Input(_)) => 0,
        Err(Fail::Streamed(n)) => n,
        r => return r,
    };
    let dec = reopen(&mut input)?;
    let mut text = dump_json_slow(args, &input, dec)?;
    text.push('\n');
    let b = text.as_bytes();
    out.write_all(
        b.get(usize::try_from(written).unwrap_or(usize::MAX)..)
            .unwrap_or(&[]),
    )?;
    out.flush()?;
    Ok(())
}

/// What the first pass of `dump` found: the section keys and the `"ram"`
/// value (without pages).
type FirstPassResult = (Vec<String>, Json);

/// Reads the whole stream as `dump` does, without printing, with a reader
/// of its own: the section keys and the `"ram"` value, if it reads to the
/// end (and is not cancelled).
fn first_pass(
    reader: AnyReader<'static>,
    schema: Option<Schema>,
    cancel: &AtomicBool,
) -> Option<FirstPassResult> {
    let mut dec = Decoder::open(reader, schema, DecodeOptions::default()).ok()?;
    dec.set_validate_only(true);
    dec.set_skip_vmdesc(true);
    let mut keys = Vec::new();
    let mut ram_key = false;
    let mut ram = RamJson::default();
    while let Some(ev) = dec.next_event().ok()? {
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        match ev {
            Event::Section(s) => keys.push(s.key()),
            Event::RamHeader(h) => {
                if h.kind.has_full_header() && !ram_key {
                    ram_key = true;
                    keys.push(section_key(&h));
                }
            }
            Event::Ram(item) => ram.item(&item, false, &mut dec, "").ok()?,
            Event::RamEnd | Event::Command(_) | Event::Eof(_) => {}
        }
    }
    Some((keys, ram.into_json(false)))
}

/// Output a dump holds back before it is written while a section is
/// printed: up to this size no first pass is needed.
const HOLD_BACK: usize = 256 << 10;

/// Streams up to this size get their first pass started at once, on a
/// thread of its own (larger ones, when it is needed).
const EAGER_FIRST_PASS: u64 = 64 << 20;

/// The first pass of a dump (see [`HOLD_BACK`]): started on a thread of
/// its own for small streams, else when needed.
struct FirstPass<'a> {
    input: &'a Input,
    schema: Option<Schema>,
    thread: Option<std::thread::JoinHandle<Option<FirstPassResult>>>,
    cancel: Arc<AtomicBool>,
    result: Option<Option<FirstPassResult>>,
}

impl<'a> FirstPass<'a> {
    fn new(input: &'a Input, schema: Option<Schema>, eager: bool) -> Self {
        let cancel = Arc::new(AtomicBool::new(false));
        let thread = if eager && input.len <= EAGER_FIRST_PASS && input.len > HOLD_BACK as u64 / 4 {
            input.open_independent().and_then(|reader| {
                let (schema, cancel) = (schema.clone(), cancel.clone());
                std::thread::Builder::new()
                    .spawn(move || first_pass(reader, schema, &cancel))
                    .ok()
            })
        } else {
            None
        };
        FirstPass {
            input,
            schema,
            thread,
            cancel,
            result: None,
        }
    }

    /// Whether the first pass has run (and read the whole stream); takes
    /// the result of the thread if it has finished.
    fn done(&mut self) -> bool {
        if self.result.is_none() && self.thread.as_ref().is_some_and(|t| t.is_finished()) {
            self.result();
        }
        matches!(self.result, Some(Some(_)))
    }

    /// The result of the first pass, running it (or waiting for it) first.
    fn result(&mut self) -> Option<&FirstPassResult> {
        if self.result.is_none() {
            let r = match self.thread.take() {
                Some(t) => t.join().ok().flatten(),
                None => self
                    .input
                    .open_independent()
                    .and_then(|reader| first_pass(reader, self.schema.clone(), &self.cancel)),
            };
            self.result = Some(r);
        }
        self.result.as_ref().and_then(Option::as_ref)
    }
}

impl Drop for FirstPass<'_> {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

fn has_duplicates(keys: &[String]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    !keys.iter().all(|k| seen.insert(k.as_str()))
}

/// The `"ram (N)"` member, with its leading comma.
fn ram_member(key: &str, value: &Json) -> Vec<u8> {
    let mut v = String::from(",\n    ");
    crate::pyjson::write_py_string(&mut v, key);
    v.push_str(": ");
    value.write_python(&mut v, 1);
    v.into_bytes()
}

/// The JSON output of the fast way: held back until the first pass has
/// read the whole stream (or it is done).
struct JsonOut<'a> {
    first: FirstPass<'a>,
    out: &'a mut dyn Write,
    /// `--memory`: everything is kept (the pages come last).
    keep: bool,
    written: u64,
    /// The place of the `"ram"` member in the buffer, before the first pass.
    ram_slot: Option<(usize, String)>,
    io: Option<io::Error>,
}

impl JsonOut<'_> {
    fn write(&mut self, buf: &mut Vec<u8>) -> Result<(), StopPrinting> {
        if buf.is_empty() {
            return Ok(());
        }
        if self.written == 0 {
            // The first member's comma.
            buf[0] = b'{';
        }
        match self.out.write_all(buf) {
            Ok(()) => {
                self.written += buf.len() as u64;
                buf.clear();
                Ok(())
            }
            Err(e) => {
                self.io = Some(e);
                Err(StopPrinting)
            }
        }
    }

    /// The `"ram"` value, once the first pass has run.
    fn ram_value(&self) -> Option<&Json> {
        match &self.first.result {
            Some(Some((_, ram))) => Some(ram),
            _ => None,
        }
    }
}

impl decode::Drain for JsonOut<'_> {
    fn drain(&mut self, buf: &mut Vec<u8>) -> Result<(), StopPrinting> {
        if self.keep || (!self.first.done() && buf.len() < HOLD_BACK) {
            return Ok(());
        }
        if self.written == 0 {
            // Nothing written yet: what the first pass found applies first.
            let (keys, ram) = self.first.result().ok_or(StopPrinting)?;
            if has_duplicates(keys) {
                return Err(StopPrinting);
            }
            if let Some((at, key)) = self.ram_slot.take() {
                buf.splice(at..at, ram_member(&key, ram));
            }
        }
        self.write(buf)
    }
}

fn json_preamble(out: &mut Vec<u8>, h: &SectionHeader, _at: u64) {
    out.extend_from_slice(b",\n    ");
    let mut k = String::new();
    crate::pyjson::write_py_string(&mut k, &section_key(h));
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b": ");
}

fn dump_json_fast(
    args: &DumpArgs,
    input: &Input,
    mut dec: Decoder<AnyReader<'static>>,
    out: &mut dyn Write,
) -> Result<(), Fail> {
    let name = &input.name;
    let mut progress = Progress::new(input.len);
    dec.set_emit(Some((decode::EmitFormat::Json, json_preamble)));
    dec.set_skip_vmdesc(true);
    let mut sink = JsonOut {
        // Run inline, not on a thread: a thread spawned here usually waits
        // for a CPU until the printing blocks on it (measured slower).
        first: FirstPass::new(input, dec.schema().cloned(), false),
        out,
        keep: args.memory,
        written: 0,
        ram_slot: None,
        io: None,
    };
    if !args.memory && input.len > HOLD_BACK as u64 / 4 {
        // Likely needed: run it before printing, so that the output is
        // written in small pieces from the start (a buffer that does not
        // grow to `HOLD_BACK` saves page faults). A broken stream leaves
        // it failed, and the output is held back as before.
        sink.first.result();
    }
    let r = json_fast_loop(args, name, &mut dec, &mut sink, &mut progress);
    if let Some(e) = sink.io.take() {
        return Err(Fail::Output(e));
    }
    match r {
        Err(Fail::Input(_)) if sink.written > 0 => Err(Fail::Streamed(sink.written)),
        r => r,
    }
}

fn json_fast_loop(
    args: &DumpArgs,
    name: &str,
    dec: &mut Decoder<AnyReader<'static>>,
    sink: &mut JsonOut<'_>,
    progress: &mut Progress,
) -> Result<(), Fail> {
    use decode::Drain;
    // The members are printed in stream order: a repeated key (which the
    // analyzer prints once, at its first place) is left to the slow way.
    let mut keys: Vec<String> = Vec::new();
    let mut ram = RamJson::default();
    let mut ram_seen = false;
    let dup = || Fail::Input("repeated section key".into());
    while let Some(ev) = dec.next_event_with(sink).map_err(|e| dec_fail(name, e))? {
        progress.update(dec.position());
        match ev {
            Event::Section(s) => {
                let k = s.key();
                if !sink.first.done() && keys.contains(&k) {
                    return Err(dup());
                }
                keys.push(k);
            }
            Event::RamHeader(h) => {
                if h.kind.has_full_header() && !ram_seen {
                    ram_seen = true;
                    let k = section_key(&h);
                    if !sink.first.done() && keys.contains(&k) {
                        return Err(dup());
                    }
                    let member = sink.ram_value().map(|v| ram_member(&k, v));
                    let buf = dec.emit_buffer();
                    match member {
                        Some(m) => buf.extend_from_slice(&m),
                        None => sink.ram_slot = Some((buf.len(), k.clone())),
                    }
                    keys.push(k);
                }
            }
            Event::Ram(item) => ram.item(&item, args.memory, dec, name)?,
            Event::RamEnd | Event::Command(_) | Event::Eof(_) => {}
        }
        if dec.emit_buffer().len() >= 1 << 16 {
            sink.drain(dec.emit_buffer())
                .map_err(|StopPrinting| Fail::Input("first pass failed".into()))?;
        }
    }
    progress.finish();
    let mut buf = std::mem::take(dec.emit_buffer());
    if let Some((at, key)) = sink.ram_slot.take() {
        buf.splice(at..at, ram_member(&key, &ram.into_json(args.memory)));
    }
    if sink.written == 0 && buf.is_empty() {
        buf.extend_from_slice(b"{}\n");
    } else {
        buf.extend_from_slice(b"\n}\n");
    }
    sink.write(&mut buf)
        .map_err(|StopPrinting| Fail::Input("cannot write".into()))?;
    sink.out.flush()?;
    Ok(())
}

/// The analyzer's JSON from decoded sections (without the final newline).
fn dump_json_slow(
    args: &DumpArgs,
    input: &Input,
    mut dec: Decoder<AnyReader<'static>>,
) -> Result<String, Fail> {
    let name = &input.name;
    let mut progress = Progress::new(input.len);
    let mut sections: Vec<(String, Json)> = Vec::new();
    let mut ram_slot: Option<usize> = None;
    let mut ram = RamJson::default();
    while let Some(ev) = dec.next_event().map_err(|e| dec_fail(name, e))? {
        progress.update(dec.position());
        match ev {
            Event::Section(s) => sections.push((s.key(), render::body_json(&s.body))),
            Event::RamHeader(h) => {
                if h.kind.has_full_header() && ram_slot.is_none() {
                    ram_slot = Some(sections.len());
                    sections.push((section_key(&h), Json::Null));
                }
            }
            Event::Ram(item) => ram.item(&item, args.memory, &mut dec, name)?,
            Event::RamEnd | Event::Command(_) | Event::Eof(_) => {}
        }
    }
    progress.finish();
    if let Some(i) = ram_slot {
        sections[i].1 = ram.into_json(args.memory);
    }
    Ok(Json::Object(sections).to_python_string())
}

/// A writer that drops the first `skip` bytes written to it.
struct Skipping<'a> {
    inner: &'a mut dyn Write,
    skip: u64,
}

impl Write for Skipping<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = usize::try_from(self.skip)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        self.skip -= k as u64;
        if k < buf.len() {
            self.inner.write_all(&buf[k..])?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `dump` (text): printed straight from the compiled descriptions while
/// reading. When that fails (a broken stream, or a body the direct printer
/// does not handle), the stream is decoded again the slow way, whose output
/// up to there is what was printed already: the rest of it follows. A
/// section is written out while being printed (when it is large) only once
/// a first pass has read the whole stream, so that the slow way's output
/// (which shows the sections read before a failure) always extends it.
fn dump_text(args: &DumpArgs, out: &mut dyn Write) -> Result<(), Fail> {
    let (mut input, dec) = open_dump(args)?;
    let skip = {
        let mut sink = TextOut {
            first: Some(FirstPass::new(&input, dec.schema().cloned(), true)),
            out: &mut *out,
            written: 0,
            io: None,
        };
        let r = dump_text_events(args, &input, dec, &mut sink, true);
        if let Some(e) = sink.io.take() {
            return Err(Fail::Output(e));
        }
        match r {
            Err(Fail::Input(_)) => sink.written,
            r => return r,
        }
    };
    let dec = reopen(&mut input)?;
    let mut rest = Skipping { inner: out, skip };
    let mut sink = TextOut {
        first: None,
        out: &mut rest,
        written: 0,
        io: None,
    };
    let r = dump_text_events(args, &input, dec, &mut sink, false);
    match sink.io.take() {
        Some(e) => Err(Fail::Output(e)),
        None => r,
    }
}

/// The text output: written out between sections, and while a section is
/// printed once the first pass has read the whole stream (or when no
/// first pass is needed).
struct TextOut<'a> {
    first: Option<FirstPass<'a>>,
    out: &'a mut dyn Write,
    written: u64,
    io: Option<io::Error>,
}

impl TextOut<'_> {
    fn write(&mut self, buf: &mut Vec<u8>) -> Result<(), StopPrinting> {
        match self.out.write_all(buf) {
            Ok(()) => {
                self.written += buf.len() as u64;
                buf.clear();
                Ok(())
            }
            Err(e) => {
                self.io = Some(e);
                Err(StopPrinting)
            }
        }
    }

    fn write_fail(&mut self, buf: &mut Vec<u8>) -> Result<(), Fail> {
        self.write(buf)
            .map_err(|StopPrinting| match self.io.take() {
                Some(e) => Fail::Output(e),
                None => Fail::Input("cannot write".into()),
            })
    }
}

impl decode::Drain for TextOut<'_> {
    fn drain(&mut self, buf: &mut Vec<u8>) -> Result<(), StopPrinting> {
        if let Some(first) = &mut self.first {
            if !first.done() {
                if buf.len() < HOLD_BACK {
                    return Ok(());
                }
                first.result().ok_or(StopPrinting)?;
            }
        }
        self.write(buf)
    }
}

fn section_text(buf: &mut Vec<u8>, b: &decode::Body, prefix: &str) {
    render::text_lines(b, prefix, &mut |p, ty, v| {
        buf.extend_from_slice(p.as_bytes());
        buf.extend_from_slice(b" = (");
        buf.extend_from_slice(ty.as_bytes());
        buf.extend_from_slice(b") ");
        buf.extend_from_slice(v.as_bytes());
        buf.push(b'\n');
    });
}

fn text_preamble(out: &mut Vec<u8>, h: &SectionHeader, at: u64) {
    let _ = writeln!(
        out,
        "# section {}: instance {}, version {}, offset {at}",
        section_key(h),
        h.instance_id,
        h.version_id,
    );
}

fn dump_text_events(
    args: &DumpArgs,
    input: &Input,
    mut dec: Decoder<AnyReader<'static>>,
    sink: &mut TextOut<'_>,
    fast: bool,
) -> Result<(), Fail> {
    let name = &input.name;
    let mut progress = Progress::new(input.len);
    if fast {
        dec.set_emit(Some((decode::EmitFormat::Text, text_preamble)));
    }
    let mut buf = std::mem::take(dec.emit_buffer());
    writeln!(buf, "# {name}: {} bytes", input.len)?;
    if let Some(c) = dec.configuration() {
        writeln!(
            buf,
            "# configuration: machine {}",
            String::from_utf8_lossy(c.config.machine())
        )?;
        if let Some(b) = &c.body {
            section_text(&mut buf, b, "configuration");
        }
    }
    *dec.emit_buffer() = buf;
    let mut ram = RamState::default();
    let r = text_loop(args, name, &mut dec, &mut ram, sink, &mut progress);
    let mut buf = std::mem::take(dec.emit_buffer());
    if r.is_err() {
        // What was read before the failure is shown (the fast way leaves
        // that to the slow way).
        if !fast {
            let _ = sink.write(&mut buf);
            let _ = sink.out.flush();
        }
        return r;
    }
    progress.finish();
    sink.write_fail(&mut buf)?;
    sink.out.flush()?;
    Ok(())
}

fn text_loop(
    args: &DumpArgs,
    name: &str,
    dec: &mut Decoder<AnyReader<'static>>,
    ram: &mut RamState,
    sink: &mut TextOut<'_>,
    progress: &mut Progress,
) -> Result<(), Fail> {
    let fast = dec.emitting();
    loop {
        if dec.emit_buffer().len() >= 1 << 16 {
            sink.write_fail(dec.emit_buffer())?;
        }
        let Some(ev) = dec.next_event_with(sink).map_err(|e| dec_fail(name, e))? else {
            break;
        };
        progress.update(dec.position());
        let page = match &ev {
            Event::Ram(item) => ram.note(item),
            _ => None,
        };
        let data = match (&ev, args.memory, &page) {
            (Event::Ram(RamItem::Record(r)), true, Some(_))
                if !matches!(r.kind, RamKind::Zero { .. }) =>
            {
                Some(read_page(dec, name)?)
            }
            _ => None,
        };
        let buf = dec.emit_buffer();
        match ev {
            Event::Section(s) => {
                if !fast {
                    text_preamble(buf, &s.header, s.offset);
                    let prefix = s
                        .body
                        .vmsd_name
                        .clone()
                        .unwrap_or_else(|| s.header.idstr.to_string_lossy());
                    section_text(buf, &s.body, &prefix);
                }
            }
            Event::RamHeader(h) => {
                writeln!(buf, "# section {} {}", section_key(&h), kind_name(h.kind))?;
            }
            Event::Ram(item) => {
                if let RamItem::Block(b) = &item {
                    writeln!(
                        buf,
                        "ram.block[{:?}].length = (uint64) {:#x}",
                        b.name.to_string_lossy(),
                        b.length
                    )?;
                }
                if let (true, Some((block, addr)), RamItem::Record(r)) = (args.memory, page, &item)
                {
                    match (r.kind, data) {
                        (RamKind::Zero { fill }, _) => {
                            writeln!(buf, "ram.page[{block:?}][{addr:#x}] = (zero) {fill:#x}")?;
                        }
                        (RamKind::Page, Some(data)) => {
                            writeln!(
                                buf,
                                "ram.page[{block:?}][{addr:#x}] = (page) 0x{}",
                                render::hex(&data)
                            )?;
                        }
                        (_, data) => {
                            writeln!(
                                buf,
                                "ram.page[{block:?}][{addr:#x}] = (xbzrle) 0x{}",
                                render::hex(&data.unwrap_or_default())
                            )?;
                        }
                    }
                }
            }
            Event::RamEnd => {}
            Event::Command(c) => writeln!(
                buf,
                "# command {} ({} byte(s) of data)",
                c.name().unwrap_or("?"),
                c.data.len()
            )?,
            Event::Eof(v) => {
                writeln!(
                    buf,
                    "# ram: {} data page(s), {} zero page(s), {} xbzrle page(s)",
                    ram.pages, ram.zero, ram.other
                )?;
                match v.json() {
                    Some(j) => writeln!(buf, "# EOF; vmdesc of {} bytes", j.len())?,
                    None => writeln!(buf, "# EOF; no vmdesc")?,
                }
            }
        }
    }
    Ok(())
}

/// Runs `vmstate desc`.
pub fn run_desc(args: &DescArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let r = (|| {
        let (input, dec) = open(Some(&args.file), DecodeOptions::default())?;
        let Some(schema) = dec.schema() else {
            return Err(Fail::Input(format!(
                "{}: no vmdesc at the end of the stream (byte offset {}): truncated, or written \
                 with suppress-vmdesc",
                input.name, input.len
            )));
        };
        let mut text = schema.json().to_python_string();
        text.push('\n');
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    })();
    report("desc", r, err)
}

/// Runs `vmstate reencode`.
pub fn run_reencode(args: &ReencodeArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let r = (|| {
        let (input, mut dec) = open(Some(&args.file), DecodeOptions::default())?;
        let name = input.name.clone();
        let mut progress = Progress::new(input.len);
        let to_stdout = args.output == Path::new("-");
        let sink: Box<dyn Write> = if to_stdout {
            Box::new(io::stdout().lock())
        } else {
            Box::new(std::fs::File::create(&args.output).map_err(|e| {
                Fail::Input(format!("cannot create {}: {e}", args.output.display()))
            })?)
        };
        let w = qemufile::Writer::new(sink);
        let w = decode::reencode(&mut dec, w, |p| progress.update(p))
            .map_err(|e| dec_fail(&name, e))?;
        let written = qemufile::QemuWrite::position(&w);
        w.into_inner()
            .map_err(|e| Fail::Input(format!("writing {}: {}", args.output.display(), e.kind())))?;
        progress.finish();
        if !to_stdout {
            writeln!(
                out,
                "{name}: {written} bytes written to {}",
                args.output.display()
            )?;
        }
        Ok(())
    })();
    report("reencode", r, err)
}

/// Runs `vmstate check`.
pub fn run_check(args: &CheckArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let r = (|| {
        let input = Input::open(Some(&args.file)).map_err(Fail::Input)?;
        let schema = parse_schema(&input)?;
        check_input(input, schema, out)
    })();
    report("check", r, err)
}

/// Runs `vmstate check` on an opened input whose vmdesc (if any) is parsed
/// already.
pub fn run_check_input(
    input: Input,
    schema: Option<Schema>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    report("check", check_input(input, schema, out), err)
}

/// Validates the sections without building their values; only when that
/// fails, decodes the stream again (the same failure, with the field and
/// the reason named).
fn check_input(input: Input, schema: Option<Schema>, out: &mut dyn Write) -> Result<(), Fail> {
    let (mut input, mut dec) = open_with(input, schema, DecodeOptions { strict: true })?;
    dec.set_validate_only(true);
    let line = match check_events(&input, dec, true) {
        Err(Fail::Input(_)) => {
            let schema = parse_schema(&input)?;
            let reader = input.reopen().map_err(Fail::Input)?;
            let dec = Decoder::open(reader, schema, DecodeOptions { strict: true })
                .map_err(|e| dec_fail(&input.name, e))?;
            check_events(&input, dec, false)?
        }
        r => r?,
    };
    writeln!(out, "{line}")?;
    Ok(())
}

/// Runs a strict decoder to the end; the summary line.
fn check_events(
    input: &Input,
    mut dec: Decoder<AnyReader<'static>>,
    validated: bool,
) -> Result<String, Fail> {
    let name = &input.name;
    let mut progress = Progress::new(input.len);
    let (mut devices, mut fields, mut commands) = (0u64, 0u64, 0u64);
    let mut ram = RamState::default();
    let mut vmdesc_len = None;
    while let Some(ev) = dec.next_event().map_err(|e| dec_fail(name, e))? {
        progress.update(dec.position());
        match ev {
            Event::Section(s) => {
                devices += 1;
                fields += if validated {
                    dec.section_values()
                } else {
                    scalar_count(&s.body)
                };
            }
            Event::Ram(item) => {
                ram.count(&item);
            }
            Event::Command(_) => commands += 1,
            Event::Eof(v) => {
                vmdesc_len = v.json().map(<[u8]>::len);
                if let (Vmdesc::Absent { .. }, Some((at, _))) = (&v, &input.vmdesc) {
                    return Err(Fail::Input(format!(
                        "{name}: at byte offset {at} (0x{at:x}): a vmdesc ends the file, \
                         but the stream's EOF is elsewhere"
                    )));
                }
            }
            Event::RamHeader(_) | Event::RamEnd => {}
        }
    }
    progress.finish();
    Ok(format!(
        "{name}: OK: {} bytes, machine {}, {devices} device section(s) with {fields} \
         value(s), RAM {} block(s) with {} data page(s) and {} zero page(s), {commands} \
         command(s), {}",
        input.len,
        dec.configuration().map_or_else(
            || "?".into(),
            |c| String::from_utf8_lossy(c.config.machine()).into_owned()
        ),
        ram.blocks.len(),
        ram.pages,
        ram.zero,
        match vmdesc_len {
            Some(n) => format!("vmdesc of {n} bytes"),
            None => "no vmdesc".into(),
        }
    ))
}

/// One scalar of a section: path, type, value.
type Line = (String, String, String);

/// A section of a [`Snapshot`]: key (idstr, instance), header, scalars.
type SectionLines = ((String, u32), SectionHeader, Vec<Line>);

/// What `diff` compares of one stream.
struct Snapshot {
    name: String,
    machine: Option<String>,
    /// Per section: key (idstr, instance), header, scalar lines.
    sections: Vec<SectionLines>,
    blocks: Vec<(String, u64)>,
    /// (block, page address) → content hash (0 for zero pages).
    pages: HashMap<(String, u64), u64>,
}

fn page_hash(data: &[u8]) -> u64 {
    if data.iter().all(|&b| b == 0) {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for chunk in data.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h ^= u64::from_le_bytes(w);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h | 1
}

fn snapshot(path: &Path) -> Result<Snapshot, Fail> {
    let (input, mut dec) = open(Some(path), DecodeOptions::default())?;
    let name = input.name.clone();
    let mut progress = Progress::new(input.len);
    let mut snap = Snapshot {
        name: name.clone(),
        machine: dec
            .configuration()
            .map(|c| String::from_utf8_lossy(c.config.machine()).into_owned()),
        sections: Vec::new(),
        blocks: Vec::new(),
        pages: HashMap::new(),
    };
    let mut ram = RamState::default();
    while let Some(ev) = dec.next_event().map_err(|e| dec_fail(&name, e))? {
        progress.update(dec.position());
        match ev {
            Event::Section(s) => {
                let prefix = s
                    .body
                    .vmsd_name
                    .clone()
                    .unwrap_or_else(|| s.header.idstr.to_string_lossy());
                let mut lines = Vec::new();
                render::text_lines(&s.body, &prefix, &mut |p, t, v| {
                    lines.push((p.to_owned(), t.to_owned(), v.to_owned()));
                });
                let key = (s.header.idstr.to_string_lossy(), s.header.instance_id);
                snap.sections.push((key, s.header, lines));
            }
            Event::Ram(item) => {
                let page = ram.note(&item);
                if let (Some(k), RamItem::Record(r)) = (page, &item) {
                    let h = match r.kind {
                        RamKind::Zero { fill: 0 } => 0,
                        _ => page_hash(&read_page(&mut dec, &name)?),
                    };
                    snap.pages.insert(k, h);
                }
            }
            _ => {}
        }
    }
    progress.finish();
    snap.blocks = ram.blocks;
    Ok(snap)
}

/// Runs `vmstate diff`: 0 when the streams hold the same state, 1 when they
/// differ, 2 on trouble.
pub fn run_diff(args: &DiffArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let snaps = snapshot(&args.a).and_then(|a| Ok((a, snapshot(&args.b)?)));
    let (a, b) = match snaps {
        Ok(s) => s,
        Err(e) => {
            return match report("diff", Err(e), err) {
                0 => 0,
                _ => 2,
            };
        }
    };
    let mut text = String::new();
    let n = diff_snapshots(&a, &b, &mut text);
    let r = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if let Err(e) = r {
        if e.kind() != io::ErrorKind::BrokenPipe {
            let _ = writeln!(err, "vmstate diff: cannot write output: {e}");
            return 2;
        }
    }
    u8::from(n > 0)
}

fn diff_snapshots(a: &Snapshot, b: &Snapshot, o: &mut String) -> usize {
    use std::fmt::Write as _;
    let mut n = 0;
    let _ = writeln!(o, "--- {}\n+++ {}", a.name, b.name);
    if a.machine != b.machine {
        n += 1;
        let _ = writeln!(o, "machine: {:?} -> {:?}", a.machine, b.machine);
    }
    let bmap: HashMap<&(String, u32), usize> = b
        .sections
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.0, i))
        .collect();
    let amap: HashMap<&(String, u32), usize> = a
        .sections
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.0, i))
        .collect();
    for (key, ha, la) in &a.sections {
        let Some(&j) = bmap.get(key) else {
            n += 1;
            let _ = writeln!(
                o,
                "- section {} instance {}: only in {}",
                key.0, key.1, a.name
            );
            continue;
        };
        let (_, hb, lb) = &b.sections[j];
        let mut head = false;
        let mut section_head = |o: &mut String| {
            if !head {
                let _ = writeln!(o, "section {} instance {}:", key.0, key.1);
                head = true;
            }
        };
        if ha.version_id != hb.version_id {
            n += 1;
            section_head(o);
            let _ = writeln!(o, "  version: {} -> {}", ha.version_id, hb.version_id);
        }
        let lbm: HashMap<&str, (&str, &str)> = lb
            .iter()
            .map(|(p, t, v)| (p.as_str(), (t.as_str(), v.as_str())))
            .collect();
        let lam: HashMap<&str, ()> = la.iter().map(|(p, _, _)| (p.as_str(), ())).collect();
        for (p, t, v) in la {
            match lbm.get(p.as_str()) {
                Some((tb, vb)) if *tb == t && *vb == v => {}
                Some((tb, vb)) => {
                    n += 1;
                    section_head(o);
                    if *tb == t {
                        let _ = writeln!(o, "  {p} ({t}): {v} -> {vb}");
                    } else {
                        let _ = writeln!(o, "  {p}: ({t}) {v} -> ({tb}) {vb}");
                    }
                }
                None => {
                    n += 1;
                    section_head(o);
                    let _ = writeln!(o, "  - {p} = ({t}) {v}");
                }
            }
        }
        for (p, t, v) in lb {
            if !lam.contains_key(p.as_str()) {
                n += 1;
                section_head(o);
                let _ = writeln!(o, "  + {p} = ({t}) {v}");
            }
        }
    }
    for (key, _, _) in &b.sections {
        if !amap.contains_key(key) {
            n += 1;
            let _ = writeln!(
                o,
                "+ section {} instance {}: only in {}",
                key.0, key.1, b.name
            );
        }
    }
    if a.blocks != b.blocks {
        n += 1;
        let _ = writeln!(o, "ram blocks: {:?} -> {:?}", a.blocks, b.blocks);
    }
    let mut per_block: Vec<(String, u64)> = Vec::new();
    let mut count = |blk: &str| match per_block.iter_mut().find(|(b, _)| b == blk) {
        Some((_, c)) => *c += 1,
        None => per_block.push((blk.to_owned(), 1)),
    };
    for (k, h) in &a.pages {
        if b.pages.get(k).copied().unwrap_or(0) != *h {
            count(&k.0);
        }
    }
    for (k, h) in &b.pages {
        if !a.pages.contains_key(k) && *h != 0 {
            count(&k.0);
        }
    }
    per_block.sort();
    for (blk, c) in per_block {
        n += 1;
        let _ = writeln!(o, "ram block {blk:?}: {c} page(s) differ");
    }
    if n == 0 {
        let _ = writeln!(o, "no differences");
    } else {
        let _ = writeln!(o, "{n} difference(s)");
    }
    n
}

/// The number of scalar values in `body`.
pub fn scalar_count(body: &crate::decode::Body) -> u64 {
    use crate::decode::Value;
    let mut n = 0;
    for f in &body.fields {
        n += match &f.value {
            Value::Struct(b) | Value::Embedded(b) => scalar_count(b),
            Value::List(items) => items.iter().map(scalar_count).sum(),
            _ => 1,
        };
    }
    n + body
        .subsections
        .iter()
        .map(|s| scalar_count(&s.body))
        .sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(memory: bool) -> DumpArgs {
        DumpArgs {
            file: None,
            format: DumpFormat::Json,
            memory,
            vmdesc: None,
        }
    }

    fn open_static(data: &'static [u8]) -> Option<(Input, Decoder<AnyReader<'static>>)> {
        let input = Input::from_static("t", data);
        let schema = parse_schema(&input).ok()?;
        open_with(input, schema, DecodeOptions::default()).ok()
    }

    /// The direct printers (JSON and text) print what decoding and
    /// printing the values prints, on good and damaged streams; when they
    /// fail, what they wrote is the start of the slow way's output.
    #[test]
    fn direct_printing_agrees_with_decoding() {
        let good = crate::input::SAMPLE_STREAM;
        let (desc_at, _) = qemufile::stream::find_vmdesc(good).unwrap();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let (mut same, mut fell_back) = (0, 0);
        for i in 0..160 {
            let mut b = good.to_vec();
            if i > 0 {
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
            }
            let data: &'static [u8] = Box::leak(b.into_boxed_slice());
            let a = args(i % 7 == 3);
            // JSON.
            let (Some((input, dec)), Some((input2, slow))) = (open_static(data), open_static(data))
            else {
                continue;
            };
            let mut fast_out = Vec::new();
            let fast = dump_json_fast(&a, &input, dec, &mut fast_out);
            let slow = dump_json_slow(&a, &input2, slow);
            match (&fast, &slow) {
                (Ok(()), Ok(text)) => {
                    assert_eq!(
                        String::from_utf8_lossy(&fast_out),
                        format!("{text}\n"),
                        "case {i}"
                    );
                    same += 1;
                }
                (Ok(()), Err(_)) => panic!("case {i}: the fast way reads a broken stream"),
                (Err(Fail::Input(_)), _) => {
                    assert!(fast_out.is_empty(), "case {i}");
                    fell_back += 1;
                }
                (Err(Fail::Streamed(n)), Ok(text)) => {
                    assert_eq!(&fast_out[..], &text.as_bytes()[..*n as usize], "case {i}");
                }
                (Err(_), _) => panic!("case {i}: unexpected failure"),
            }
            // Text.
            let (Some((input, dec)), Some((input2, slow))) = (open_static(data), open_static(data))
            else {
                continue;
            };
            let mut fast_out = Vec::new();
            let mut sink = TextOut {
                first: Some(FirstPass::new(&input, dec.schema().cloned(), true)),
                out: &mut fast_out,
                written: 0,
                io: None,
            };
            let fast = dump_text_events(&a, &input, dec, &mut sink, true);
            let mut slow_out = Vec::new();
            let mut sink2 = TextOut {
                first: None,
                out: &mut slow_out,
                written: 0,
                io: None,
            };
            let slow = dump_text_events(&a, &input2, slow, &mut sink2, false);
            drop((sink, sink2));
            match (fast.is_ok(), slow.is_ok()) {
                (true, true) => assert!(fast_out == slow_out, "case {i}"),
                (true, false) => panic!("case {i}: the fast way reads a broken stream"),
                (false, _) => assert!(slow_out.starts_with(&fast_out), "case {i}"),
            }
        }
        assert!(same > 20 && fell_back > 5, "{same} {fell_back}");
    }
}
