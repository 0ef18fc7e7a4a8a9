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

use qemufile::ram::{RamItem, RamKind};
use qemufile::stream::{SectionHeader, SectionKind, Vmdesc};

use crate::decode::{self, DecodeError, DecodeOptions, Decoder, Event, Schema, section_key};
use crate::input::{AnyReader, Input, Progress};
use crate::pyjson::Json;
use crate::render;

/// Output format of `vmstate dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DumpFormat {
    /// One line per scalar: `i8259.irr = (uint8) 0x10`.
    #[default]
    Text,
    /// The JSON `analyze-migration.py -d state` prints.
    Json,
}

/// Arguments of `vmstate dump`.
#[derive(Debug, Clone, clap::Args)]
pub struct DumpArgs {
    /// The migration stream (`-` for standard input); without it, a sample
    /// stream built into the binary (QEMU 10.0.2, x86 pc, 32 MiB).
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DumpFormat::Text)]
    pub format: DumpFormat,
    /// Also dump RAM contents (like `analyze-migration.py -m`).
    #[arg(long, short = 'm')]
    pub memory: bool,
}

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
        Some((at, json)) => Some(Schema::parse(json).map_err(|e| {
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

fn dump_json(args: &DumpArgs, out: &mut dyn Write) -> Result<(), Fail> {
    let (input, mut dec) = open(args.file.as_deref(), DecodeOptions::default())?;
    let name = input.name.clone();
    let mut progress = Progress::new(input.len);
    let mut sections: Vec<(String, Json)> = Vec::new();
    let mut ram_slot: Option<usize> = None;
    let mut ram = RamState::default();
    let mut sizes: Vec<(String, Json)> = Vec::new();
    let mut memory: Vec<(String, Json)> = Vec::new();
    while let Some(ev) = dec.next_event().map_err(|e| dec_fail(&name, e))? {
        progress.update(dec.position());
        match ev {
            Event::Section(s) => sections.push((s.key(), render::body_json(&s.body))),
            Event::RamHeader(h) => {
                if h.kind.has_full_header() && ram_slot.is_none() {
                    ram_slot = Some(sections.len());
                    sections.push((section_key(&h), Json::Null));
                }
            }
            Event::Ram(item) => {
                if let RamItem::Block(b) = &item {
                    sizes.push((
                        b.name.to_string_lossy(),
                        Json::String(format!("0x{:016x}", b.length)),
                    ));
                }
                let page = ram.note(&item);
                if let (true, Some((block, addr)), RamItem::Record(r)) = (args.memory, page, &item)
                {
                    let key = format!("{block} (0x{addr:016x})");
                    let v = match r.kind {
                        RamKind::Zero { .. } => "Filled with 0x00".to_owned(),
                        RamKind::Page => render::spaced_hex(&read_page(&mut dec, &name)?),
                        _ => format!(
                            "xbzrle {}",
                            render::spaced_hex(&read_page(&mut dec, &name)?)
                        ),
                    };
                    memory.push((key, Json::String(v)));
                }
            }
            Event::RamEnd | Event::Command(_) | Event::Eof(_) => {}
        }
    }
    progress.finish();
    if let Some(i) = ram_slot {
        let mut m = vec![("section sizes".to_owned(), Json::Object(sizes))];
        if args.memory {
            m.push(("memory".to_owned(), Json::Object(memory)));
        }
        sections[i].1 = Json::Object(m);
    }
    let mut text = Json::Object(sections).to_python_string();
    text.push('\n');
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn dump_text(args: &DumpArgs, out: &mut dyn Write) -> Result<(), Fail> {
    let (input, mut dec) = open(args.file.as_deref(), DecodeOptions::default())?;
    let name = input.name.clone();
    let mut out = io::BufWriter::new(out);
    let mut progress = Progress::new(input.len);
    writeln!(out, "# {name}: {} bytes", input.len)?;
    let section_text = |b: &decode::Body, prefix: &str| {
        let mut t = String::new();
        render::text_lines(b, prefix, &mut |p, ty, v| {
            t.push_str(p);
            t.push_str(" = (");
            t.push_str(ty);
            t.push_str(") ");
            t.push_str(v);
            t.push('\n');
        });
        t
    };
    if let Some(c) = dec.configuration() {
        writeln!(
            out,
            "# configuration: machine {}",
            String::from_utf8_lossy(c.config.machine())
        )?;
        if let Some(b) = &c.body {
            out.write_all(section_text(b, "configuration").as_bytes())?;
        }
    }
    let mut ram = RamState::default();
    while let Some(ev) = dec.next_event().map_err(|e| dec_fail(&name, e))? {
        progress.update(dec.position());
        match ev {
            Event::Section(s) => {
                writeln!(
                    out,
                    "# section {}: instance {}, version {}, offset {}",
                    s.key(),
                    s.header.instance_id,
                    s.header.version_id,
                    s.offset
                )?;
                let prefix = s
                    .body
                    .vmsd_name
                    .clone()
                    .unwrap_or_else(|| s.header.idstr.to_string_lossy());
                out.write_all(section_text(&s.body, &prefix).as_bytes())?;
            }
            Event::RamHeader(h) => {
                writeln!(out, "# section {} {}", section_key(&h), kind_name(h.kind))?;
            }
            Event::Ram(item) => {
                if let RamItem::Block(b) = &item {
                    writeln!(
                        out,
                        "ram.block[{:?}].length = (uint64) {:#x}",
                        b.name.to_string_lossy(),
                        b.length
                    )?;
                }
                let page = ram.note(&item);
                if let (true, Some((block, addr)), RamItem::Record(r)) = (args.memory, page, &item)
                {
                    match r.kind {
                        RamKind::Zero { fill } => {
                            writeln!(out, "ram.page[{block:?}][{addr:#x}] = (zero) {fill:#x}")?;
                        }
                        RamKind::Page => {
                            let data = read_page(&mut dec, &name)?;
                            writeln!(
                                out,
                                "ram.page[{block:?}][{addr:#x}] = (page) 0x{}",
                                render::hex(&data)
                            )?;
                        }
                        _ => {
                            let data = read_page(&mut dec, &name)?;
                            writeln!(
                                out,
                                "ram.page[{block:?}][{addr:#x}] = (xbzrle) 0x{}",
                                render::hex(&data)
                            )?;
                        }
                    }
                }
            }
            Event::RamEnd => {}
            Event::Command(c) => writeln!(
                out,
                "# command {} ({} byte(s) of data)",
                c.name().unwrap_or("?"),
                c.data.len()
            )?,
            Event::Eof(v) => {
                writeln!(
                    out,
                    "# ram: {} data page(s), {} zero page(s), {} xbzrle page(s)",
                    ram.pages, ram.zero, ram.other
                )?;
                match v.json() {
                    Some(j) => writeln!(out, "# EOF; vmdesc of {} bytes", j.len())?,
                    None => writeln!(out, "# EOF; no vmdesc")?,
                }
            }
        }
    }
    progress.finish();
    out.flush()?;
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
                    crate::check_cmd::scalar_count(&s.body)
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
