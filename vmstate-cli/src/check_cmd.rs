//! `vmstate check FILE`: the whole stream read as a destination QEMU reads
//! it: header, configuration, every section decoded with the stream's vmdesc
//! (every byte of every body accounted for, footers checked), RAM and the
//! other iterative sections record by record, commands, EOF and the vmdesc.
//! Exit status 1 names the byte offset, section and field of the first
//! problem.
//!
//! * `--machine NAME`: the destination's machine type; a stream whose
//!   configuration names another one is refused as QEMU refuses it.
//! * A stream without a usable vmdesc (QEMU only warns "Expected
//!   vmdescription section, but got 0") is still loadable: `check` warns and
//!   checks the framing of its device sections (bodies found by their
//!   footers, not decoded), unless `--vmdesc` lends one.

use std::io::Write;
use std::path::{Path, PathBuf};

use qemufile::QemuRead;
use qemufile::ram::{RamItem, RamKind};
use qemufile::stream::Vmdesc;
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::stream::{Event, IterativeKind, SectionItem};

use crate::error::{CliError, report};
use crate::input::{Input, Progress};
use crate::limits::LimitArgs;
use crate::session;

/// Arguments of `vmstate check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The migration stream (`-` for standard input).
    pub file: PathBuf,
    /// The destination's machine type (e.g. `pc-i440fx-10.0`): refuse a
    /// stream whose configuration section names another one, like QEMU.
    #[arg(long, value_name = "NAME")]
    pub machine: Option<String>,
    /// Decode the device sections with this vmdesc instead of the stream's
    /// own: another stream of the same QEMU and machine, or a saved
    /// `vmstate desc` JSON.
    #[arg(long, value_name = "FILE")]
    pub vmdesc: Option<PathBuf>,
    /// The `--max-*` limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

impl CheckArgs {
    /// `vmstate check FILE` with no options.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        CheckArgs {
            file: file.into(),
            machine: None,
            vmdesc: None,
            limits: LimitArgs::default(),
        }
    }
}

/// What a check counted.
#[derive(Debug, Default)]
struct Counts {
    devices: u64,
    values: u64,
    blocks: u64,
    pages: u64,
    zero: u64,
    iterative_items: u64,
    commands: u64,
}

/// Runs `vmstate check` (0: the stream is valid, 1: it is not).
pub fn run(args: &CheckArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    report("check", check(args, out, err), err)
}

/// Checks the stream at `path` with no options.
pub fn check_path(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    run(&CheckArgs::file(path), out, err)
}

fn check(args: &CheckArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), CliError> {
    let mut input = Input::open_any(Some(&args.file), &args.limits.limits())?;
    let name = input.name.clone();
    let arena = DescriptionArena::with_limits(args.limits.limits());
    let mut unusable = false;
    let schema = match session::schema(&arena, &input, args.vmdesc.as_deref()) {
        Ok(s) => s,
        // A vmdesc QEMU would never parse does not stop it loading the stream.
        Err(CliError::Invalid { message, .. }) if args.vmdesc.is_none() => {
            writeln!(
                err,
                "vmstate check: warning: {name}: the vmdesc is not usable ({message}); QEMU \
                 never parses it and loads such a stream: device sections are checked for \
                 framing only (footers found by scanning, bodies not decoded)"
            )?;
            unusable = true;
            None
        }
        Err(e) => return Err(e),
    };
    if schema.is_none() && !unusable {
        writeln!(
            err,
            "vmstate check: warning: {name}: no vmdesc at the end of the stream (QEMU warns \
             \"Expected vmdescription section, but got 0\" and loads it if it is otherwise \
             complete; a truncated stream has none either): device sections are checked for \
             framing only (footers found by scanning, bodies not decoded)"
        )?;
    }
    let mut dec = session::decoder(&mut input, schema.as_ref(), args.limits.limits())?;
    let fail = CliError::stream(&name);
    let invalid = |at: u64, message: String| CliError::Invalid {
        name: name.clone(),
        message: format!("at byte offset {at} (0x{at:x}): {message}"),
    };
    let machine = dec
        .configuration()
        .map(|c| String::from_utf8_lossy(c.machine()).into_owned());
    if let Some(local) = &args.machine {
        match &machine {
            Some(m) if m != local => {
                return Err(invalid(
                    8,
                    format!(
                        "section configuration: Machine type received is '{m}' and local is \
                         '{local}'"
                    ),
                ));
            }
            None => writeln!(
                err,
                "vmstate check: warning: {name}: no configuration section: the machine type \
                 cannot be compared with {local}"
            )?,
            Some(_) => {}
        }
    }
    dec.configuration_state().map_err(&fail)?;
    let mut counts = Counts::default();
    let mut progress = Progress::new(input.len);
    let mut vmdesc = Vmdesc::Absent { found: None };
    while let Some(event) = dec.next_event().map_err(&fail)? {
        match event {
            Event::Section(_) => {
                counts.devices += 1;
                if schema.is_some() {
                    counts.values += dec.decode_section().map_err(&fail)?.value_count();
                } else {
                    dec.skip_section_raw().map_err(&fail)?;
                }
                progress.update(dec.position());
            }
            Event::Item(SectionItem::Ram(item)) => {
                match item {
                    RamItem::Block(_) => counts.blocks += 1,
                    RamItem::Record(r) => match r.kind {
                        RamKind::Page => counts.pages += 1,
                        RamKind::Zero { .. } => counts.zero += 1,
                        _ => {}
                    },
                }
                progress.update(dec.position());
            }
            Event::Item(_) => counts.iterative_items += 1,
            Event::Command(c) => {
                c.payload(dec.item_offset() + 5)
                    .map_err(|e| CliError::Stream {
                        name: name.clone(),
                        source: e.into(),
                    })?;
                counts.commands += 1;
            }
            Event::IterativeHeader(h) => {
                if IterativeKind::of(h.idstr.as_bytes()) == IterativeKind::Unknown {
                    writeln!(
                        err,
                        "vmstate check: warning: {name}: at byte offset {at} (0x{at:x}): \
                         iterative section {} (id {}) is not known to this build: its body is \
                         carried up to its footer, not checked (a destination without a \
                         handler for it refuses the stream)",
                        h.idstr.to_string_lossy(),
                        h.section_id,
                        at = dec.item_offset()
                    )?;
                }
            }
            Event::IterativeEnd => {}
            Event::Eof(v) => vmdesc = v,
        }
    }
    progress.finish();
    let end = dec.position();
    if let Vmdesc::Absent { found: Some(b) } = vmdesc {
        return Err(invalid(
            end,
            format!(
                "byte 0x{b:02x} after EOF instead of the vmdesc (0x06): QEMU warns \"Expected \
                 vmdescription section, but got {b}\" and ignores the rest"
            ),
        ));
    }
    if !dec
        .get_mut()
        .peek(0, 1)
        .map_err(|e| fail(e.into()))?
        .is_empty()
    {
        return Err(invalid(
            end,
            "bytes after the vmdesc: the stream should end here".into(),
        ));
    }
    if let (Some(s), None) = (&schema, &args.vmdesc) {
        for d in s.devices() {
            if dec.device_section_offset(&d.idstr, d.instance_id).is_none() {
                return Err(invalid(
                    end,
                    format!(
                        "the vmdesc lists device {} instance {}, but the stream has no section \
                         for it",
                        d.idstr, d.instance_id
                    ),
                ));
            }
        }
    }
    let how = if schema.is_some() {
        ""
    } else {
        " (framing only)"
    };
    let values = if schema.is_some() {
        format!(" with {} value(s)", counts.values)
    } else {
        String::new()
    };
    let iterative = match counts.iterative_items {
        0 => String::new(),
        n => format!(", {n} other iterative record(s)"),
    };
    writeln!(
        out,
        "{name}: OK{how}: {} bytes, machine {}, {} device section(s){values}, RAM {} block(s) \
         with {} data page(s) and {} zero page(s){iterative}, {} command(s), {}",
        input.len,
        machine.as_deref().unwrap_or("none"),
        counts.devices,
        counts.blocks,
        counts.pages,
        counts.zero,
        counts.commands,
        match (vmdesc.json(), &args.vmdesc) {
            (_, Some(p)) => format!("device sections decoded with the vmdesc of {}", p.display()),
            (Some(j), None) if schema.is_some() => format!("vmdesc of {} bytes", j.len()),
            (Some(j), None) => format!("unusable vmdesc of {} bytes", j.len()),
            (None, None) => "no vmdesc".into(),
        }
    )?;
    Ok(())
}
