//! `vmstate dump [FILE]`: every section of a stream, decoded with its
//! vmdesc. The text format is the library's pretty-printer
//! ([`vmstate_core::PrettyPrinter`]): one line per value, each path naming
//! one field of one section (`cpu.env.regs[2]`, `cpu[1].env.eip`,
//! `0000:00:01.0/PIIX3.dev.config[0]`), the same paths as in errors and
//! `vmstate diff`. `--format json` prints what QEMU's `analyze-migration.py
//! -d state` prints.

use std::io::Write;
use std::path::PathBuf;

use qemufile::ram::{RamItem, RamKind};
use qemufile::stream::{SectionKind, Vmdesc};
use vmstate_core::PrettyPrinter;
use vmstate_core::analyzer::{StateJsonOptions, write_state_json};
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::stream::{Event, SectionItem, section_root};

use crate::error::{CliError, report};
use crate::input::Input;
use crate::limits::LimitArgs;
use crate::session::{self, Undecoded};

/// Output format of `vmstate dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DumpFormat {
    /// One line per value: `i8259.irr = (uint8) 0x10`.
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
    /// Decode the device sections with this vmdesc instead of the stream's
    /// own: another stream of the same QEMU and machine, or a saved
    /// `vmstate desc` JSON.
    #[arg(long, value_name = "FILE")]
    pub vmdesc: Option<PathBuf>,
    /// The `--max-*` limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Runs `vmstate dump`.
pub fn run(args: &DumpArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match args.format {
        DumpFormat::Text => report("dump", dump_text(args, out, err), err),
        DumpFormat::Json => report("dump", dump_json(args, out), err),
    }
}

fn kind_name(k: SectionKind) -> &'static str {
    match k {
        SectionKind::Start => "START",
        SectionKind::Part => "PART",
        SectionKind::End => "END",
        SectionKind::Full => "FULL",
    }
}

/// Lowercase hex of bytes.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `--format json`: [`vmstate_core::analyzer::write_state_json`], which
/// prints nothing unless the whole stream reads. Commands and iterative
/// sections the analyzer refuses are carried on past (its `lenient` mode).
fn dump_json(args: &DumpArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut input = Input::open_any(args.file.as_deref(), &args.limits.limits())?;
    let name = input.name.clone();
    let arena = DescriptionArena::with_limits(args.limits.limits());
    let schema = session::schema(&arena, &input, args.vmdesc.as_deref())?;
    let mut dec = session::decoder(&mut input, schema.as_ref(), args.limits.limits())?;
    let options = StateJsonOptions {
        memory: args.memory,
        lenient: true,
    };
    match write_state_json(&mut dec, &mut *out, &options) {
        Ok(()) => Ok(out.flush()?),
        Err(e) => match e.kind() {
            vmstate_core::ErrorKind::Stream(qemufile::ErrorKind::Io(io)) if is_output_error(&e) => {
                Err(CliError::Output(std::io::Error::new(
                    io.kind(),
                    io.to_string(),
                )))
            }
            _ => Err(CliError::Stream { name, source: e }),
        },
    }
}

/// True for an error writing the output, not reading the input: input
/// errors carry the byte offset where they happened, output errors none.
fn is_output_error(e: &vmstate_core::Error) -> bool {
    e.offset().is_none()
}

fn dump_text(args: &DumpArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), CliError> {
    let mut input = Input::open_any(args.file.as_deref(), &args.limits.limits())?;
    let name = input.name.clone();
    let arena = DescriptionArena::with_limits(args.limits.limits());
    let schema = session::schema(&arena, &input, args.vmdesc.as_deref())?;
    let mut dec = session::decoder(&mut input, schema.as_ref(), args.limits.limits())?;
    let fail = CliError::stream(&name);
    writeln!(out, "# {name}: {} bytes", input.len)?;
    if let Some(c) = dec.configuration() {
        writeln!(
            out,
            "# configuration: machine {}",
            String::from_utf8_lossy(c.machine())
        )?;
    }
    if let Some(mut config) = dec.configuration_state().map_err(&fail)? {
        let p = PrettyPrinter::new(String::new()).with_root("configuration");
        out.write_all(walk(&mut config, p).map_err(&fail)?.as_bytes())?;
    }
    let mut undecoded = Undecoded::default();
    // The RAM block the last record named (what CONTINUE refers to).
    let mut block = String::new();
    let (mut pages, mut zero) = (0u64, 0u64);
    while let Some(event) = dec.next_event().map_err(&fail)? {
        match event {
            Event::Section(h) => {
                let root = section_root(&h);
                writeln!(
                    out,
                    "# section {} ({}): instance {}, version {}, offset {}",
                    h.idstr.to_string_lossy(),
                    h.section_id,
                    h.instance_id,
                    h.version_id,
                    dec.item_offset()
                )?;
                if schema.is_none() {
                    let len = dec.skip_section_raw().map_err(&fail)?;
                    writeln!(out, "# {len} byte(s), not decoded (no vmdesc)")?;
                    undecoded.0.push(root);
                    continue;
                }
                let mut state = dec.decode_section().map_err(&fail)?;
                let p = PrettyPrinter::new(String::new()).with_root(&root);
                out.write_all(walk(&mut state, p).map_err(&fail)?.as_bytes())?;
            }
            Event::IterativeHeader(h) => {
                write!(
                    out,
                    "# section {} ({}) {}",
                    h.idstr.to_string_lossy(),
                    h.section_id,
                    kind_name(h.kind)
                )?;
                if h.kind.has_full_header() {
                    write!(
                        out,
                        ": instance {}, version {}",
                        h.instance_id, h.version_id
                    )?;
                }
                writeln!(out, ", offset {}", dec.item_offset())?;
            }
            Event::Item(SectionItem::Ram(item)) => match item {
                RamItem::Block(b) => {
                    block = b.name.to_string_lossy();
                    writeln!(
                        out,
                        "ram.block[{block:?}].length = (uint64) {:#x}",
                        b.length
                    )?;
                }
                RamItem::Record(r) => {
                    if let Some(b) = &r.block {
                        block = b.to_string_lossy();
                    }
                    match r.kind {
                        RamKind::Page => pages += 1,
                        RamKind::Zero { .. } => zero += 1,
                        _ => {}
                    }
                    if args.memory {
                        match r.kind {
                            RamKind::Zero { fill } => writeln!(
                                out,
                                "ram.page[{block:?}][{:#x}] = (zero page) {fill:#x}",
                                r.addr
                            )?,
                            RamKind::Page | RamKind::Xbzrle { .. } => {
                                let n = usize::try_from(dec.payload_remaining()).unwrap_or(0);
                                let mut buf = vec![0; n.min(1 << 20)];
                                dec.read_payload(&mut buf).map_err(&fail)?;
                                writeln!(
                                    out,
                                    "ram.page[{block:?}][{:#x}] = (page) 0x{}",
                                    r.addr,
                                    hex(&buf)
                                )?;
                            }
                            _ => {}
                        }
                    }
                }
            },
            Event::Item(SectionItem::Raw { len }) => {
                // Shown raw: this build does not know the section's format.
                let mut raw = vec![0; usize::try_from(len).unwrap_or(0)];
                dec.read_payload(&mut raw).map_err(&fail)?;
                writeln!(
                    out,
                    "# {len} byte(s) of an iterative section this build does not know: 0x{}",
                    hex(&raw)
                )?;
            }
            Event::Item(item) => writeln!(out, "# {item:?}")?,
            Event::IterativeEnd => {
                if pages + zero > 0 {
                    writeln!(out, "# ram: {pages} data page(s), {zero} zero page(s)")?;
                    (pages, zero) = (0, 0);
                }
            }
            Event::Command(c) => {
                let at = dec.item_offset();
                let payload = c.payload(at + 5).map_err(|e| fail(e.into()))?;
                writeln!(
                    out,
                    "# command {} ({}): {payload:?}",
                    c.name().unwrap_or("unknown"),
                    c.cmd
                )?;
            }
            Event::Eof(v) => match v {
                Vmdesc::Present(j) => writeln!(out, "# EOF; vmdesc of {} bytes", j.len())?,
                Vmdesc::Absent { .. } => writeln!(out, "# EOF; no vmdesc")?,
            },
        }
    }
    if let Some(line) = undecoded.summary() {
        writeln!(err, "vmstate dump: warning: {name}: {line}")?;
    }
    Ok(())
}

/// The pretty dump of a decoded section.
fn walk<'d>(
    state: &mut vmstate_core::dynamic::DynamicState<'d>,
    mut p: PrettyPrinter<'d, String>,
) -> vmstate_core::Result<String> {
    let d = state.description();
    vmstate_core::visit_struct_at(state, &mut p, d.name, d.version_id)?;
    Ok(p.into_inner())
}
