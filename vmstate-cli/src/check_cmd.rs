//! `vmstate check` as the command line runs it: [`crate::stream_cmd::run_check`]
//! plus what a destination QEMU would also look at.
//!
//! * `--machine NAME`: the destination's machine type; a stream whose
//!   configuration names another one is refused as QEMU refuses it
//!   ("Machine type received is '…' and local is '…'").
//! * A stream without a usable vmdesc (missing: QEMU only warns "Expected
//!   vmdescription section, but got 0"; garbage: QEMU never parses it) is
//!   still loadable, so `check` warns and validates its framing only
//!   ([`crate::framing`]: RAM records, commands, section headers and
//!   footers found by scanning, EOF), instead of failing.

use std::io::Write;
use std::path::{Path, PathBuf};

use qemufile::stream::Vmdesc;

use crate::decode::{DecodeError, Schema};
use crate::framing::{Stop, Walker};
use crate::input::{FileReader, Input, Progress};
use crate::stream_cmd::{self, CheckArgs};

/// Arguments of `vmstate check` on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckCli {
    /// The stream and the base options.
    #[command(flatten)]
    pub base: CheckArgs,
    /// The destination's machine type (e.g. `pc-i440fx-10.0`): refuse a
    /// stream whose configuration section names another one, like QEMU.
    #[arg(long, value_name = "NAME")]
    pub machine: Option<String>,
}

/// Runs `vmstate check` (0: the stream is valid, 1: it is not).
pub fn run(args: &CheckCli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    check_path(&args.base.file, args.machine.as_deref(), out, err)
}

/// Checks the stream at `path` (see the module documentation).
pub fn check_path(
    path: &Path,
    machine: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let base = CheckArgs {
        file: path.to_path_buf(),
    };
    if path == Path::new("-") {
        // Standard input can be read once: no pre-checks.
        return stream_cmd::run_check(&base, out, err);
    }
    match pre_check(path, machine, out, err) {
        Ok(Pre::Done(status)) => status,
        Ok(Pre::Check(pre)) => {
            let (input, schema) = *pre;
            stream_cmd::run_check_input(input, Some(schema), out, err)
        }
        Err(m) => {
            let _ = writeln!(err, "vmstate check: {m}");
            1
        }
    }
}

fn open_walker(path: &Path) -> Result<(String, u64, Walker<FileReader>), String> {
    let name = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
    let r = FileReader::new(f).map_err(|e| format!("{name}: {e}"))?;
    let len = r.len();
    let w = Walker::open(r, 4096).map_err(|e| format!("{name}: {e}"))?;
    Ok((name, len, w))
}

/// What [`pre_check`] leaves to do.
enum Pre {
    /// Checked (framing only): the exit status.
    Done(u8),
    /// The full check, with the input opened and its vmdesc parsed.
    Check(Box<(Input, Schema)>),
}

/// The machine check, then the framing-only check when there is no usable
/// vmdesc ([`Pre::Done`]); else the full check is left to run.
fn pre_check(
    path: &Path,
    machine: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Pre, String> {
    let input = Input::open(Some(path))?;
    if let Some(local) = machine {
        let (name, _, w) = open_walker(path)?;
        match &w.stats().machine {
            Some(m) if m != local => {
                return Err(format!(
                    "{name}: at byte offset 8 (0x8), section configuration: Machine type \
                     received is '{m}' and local is '{local}'"
                ));
            }
            None => {
                let _ = writeln!(
                    err,
                    "vmstate check: warning: {name}: no configuration section: the machine \
                     type cannot be compared with {local}"
                );
            }
            Some(_) => {}
        }
    }
    let why = match &input.vmdesc {
        Some((at, json)) => match Schema::parse_shared(json.clone()) {
            Ok(schema) => return Ok(Pre::Check(Box::new((input, schema)))),
            Err(e) => format!(
                "at byte offset {at} (0x{at:x}): the vmdesc is not usable ({e}); QEMU never \
                 parses it and loads such a stream"
            ),
        },
        None => {
            ("no vmdesc at the end of the stream (QEMU warns \"Expected vmdescription section, \
             but got 0\" and loads it if it is otherwise complete; a truncated stream has none \
             either)")
                .to_owned()
        }
    };
    let _ = writeln!(
        err,
        "vmstate check: warning: {}: {why}: device sections are checked for framing only \
         (footers found by scanning, bodies not decoded)",
        input.name
    );
    drop(input);
    Ok(Pre::Done(framing_only(path, out, err)))
}

fn framing_only(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let r = (|| -> Result<String, String> {
        let (name, len, mut w) = open_walker(path)?;
        let mut progress = Progress::new(len);
        let fail = |e: DecodeError| format!("{name}: {e}");
        let stop = w.run(true, |p| progress.update(p)).map_err(fail)?;
        progress.finish();
        let Stop::Eof {
            offset,
            vmdesc,
            trailing,
        } = stop
        else {
            return Err(format!("{name}: internal error: walker stopped early"));
        };
        let end = w.position();
        if let Vmdesc::Absent { found: Some(b) } = vmdesc {
            return Err(format!(
                "{name}: at byte offset {end} (0x{end:x}): byte 0x{b:02x} after EOF instead of \
                 the vmdesc (0x06): QEMU warns \"Expected vmdescription section, but got {b}\" \
                 and ignores the rest"
            ));
        }
        if trailing {
            return Err(format!(
                "{name}: at byte offset {end} (0x{end:x}): bytes after the vmdesc: the stream \
                 should end here"
            ));
        }
        let s = w.stats();
        Ok(format!(
            "{name}: OK (framing only): {len} bytes, machine {}, {} device section(s), RAM {} \
             block(s) with {} data page(s) and {} zero page(s), {} command(s), EOF at byte \
             offset {offset}, {}",
            s.machine.as_deref().unwrap_or("?"),
            s.devices,
            s.blocks.len(),
            s.pages,
            s.zero,
            s.commands,
            match vmdesc.json() {
                Some(j) => format!("unusable vmdesc of {} bytes", j.len()),
                None => "no vmdesc".into(),
            }
        ))
    })();
    match r {
        Ok(line) => {
            let _ = writeln!(out, "{line}");
            0
        }
        Err(m) => {
            let _ = writeln!(err, "vmstate check: {m}");
            1
        }
    }
}

/// A check target given on the command line (for tests).
pub fn cli(file: impl Into<PathBuf>, machine: Option<&str>) -> CheckCli {
    CheckCli {
        base: CheckArgs { file: file.into() },
        machine: machine.map(str::to_owned),
    }
}

/// The number of scalar values in `body`: what [`crate::render::text_lines`]
/// would print lines for, without formatting them.
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
