//! `vmstate set FILE PATH=VALUE... -o OUT`: fields of a real stream changed,
//! every other byte copied ([`vmstate_core::edit::set_fields_with`]). Paths
//! are those `vmstate dump` prints (`mc146818rtc.cmos_index`, `pl011.cr`,
//! `cpu[1].env.regs[0]`); `PATH[i]` is byte `i` of a buffer
//! (`mc146818rtc.cmos_data[14]=0x20`). Values that do not fit the field,
//! unknown paths (with the nearest paths as suggestions) and edits that
//! would change a section's layout or size are refused. With
//! `--allow-resize`, a count named by `--count COUNT=ARRAY` (the vmdesc does
//! not say which field counts which array) may be set to another value: the
//! arrays and buffers it counts grow (new elements zero) or shrink, the
//! section is encoded again and its vmdesc entry is written again as QEMU
//! writes it. OUT is written only if every assignment was made, and never
//! over FILE.

use std::io::Write;
use std::path::PathBuf;

use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::edit::{Assignment, CountLink, EditError, EditOptions, set_fields_with};

use crate::error::{CliError, report};
use crate::input::Input;
use crate::limits::LimitArgs;
use crate::output::Output;
use crate::session;

/// Arguments of `vmstate set`.
#[derive(Debug, Clone, clap::Args)]
pub struct SetArgs {
    /// The migration stream (`-` for standard input).
    pub file: PathBuf,
    /// The values to set, as `PATH=VALUE`: decimal or hex integers (`32`,
    /// `0x20`, `-1`; signed fields also as their bits in hex), `true` or
    /// `false`, hex bytes for a buffer (`0x0102...`, as many as it holds).
    #[arg(required = true, value_name = "PATH=VALUE", value_parser = parse_assignment)]
    pub assignments: Vec<Assignment>,
    /// Where to write the edited stream (`-` for standard output).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Decode the sections with this vmdesc instead of the stream's own
    /// (the stream's own vmdesc is copied unchanged, unless a section is
    /// resized).
    #[arg(long, value_name = "FILE")]
    pub vmdesc: Option<PathBuf>,
    /// Allow edits that change a section's size: setting a count named by
    /// `--count` grows its arrays and buffers (new elements and bytes are
    /// zero; set them in the same command, `dev.n=3 dev.arr[2]=7`) or
    /// shrinks them (trailing elements dropped); a counted buffer set to a
    /// value of another length sets its length field. The resized section
    /// is encoded again and its vmdesc entry written again as QEMU writes it
    /// for the new state; every other byte is copied.
    #[arg(long)]
    pub allow_resize: bool,
    /// `COUNT=TARGET[,TARGET...]`: the integer at path COUNT is the number
    /// of elements (a buffer's: bytes) of the fields TARGET that follow it
    /// in the same struct (QEMU's VMSTATE_VARRAY_* / VMSTATE_VBUFFER*); the
    /// vmdesc does not say it. E.g.
    /// `nvram@71000001/spapr_nvram.size=buf`. Needs --allow-resize.
    #[arg(
        long = "count",
        value_name = "COUNT=TARGET",
        requires = "allow_resize",
        value_parser = parse_count
    )]
    pub counts: Vec<CountLink>,
    /// The `--max-*` limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

fn parse_assignment(text: &str) -> Result<Assignment, String> {
    Assignment::parse(text).map_err(|e| e.to_string())
}

fn parse_count(text: &str) -> Result<CountLink, String> {
    CountLink::parse(text).map_err(|e| e.to_string())
}

/// Runs `vmstate set`: the changes are listed on `out`, or on `err` when
/// the stream itself goes to standard output (`-o -`).
pub fn run(args: &SetArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let r = set(args, out, err);
    report("set", r, err)
}

fn set(args: &SetArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), CliError> {
    let to_stdout = args.output.as_os_str() == "-";
    let limits = args.limits.limits();
    let mut input = Input::open(Some(&args.file), &limits)?;
    let name = input.name.clone();
    let arena = DescriptionArena::with_limits(limits);
    let schema = session::schema(&arena, &input, args.vmdesc.as_deref())?.ok_or_else(|| {
        CliError::Invalid {
            name: name.clone(),
            message: "no vmdesc at the end of the stream to find the fields with: give one \
                      with --vmdesc"
                .into(),
        }
    })?;
    let source = (args.file.as_os_str() != "-").then_some(args.file.as_path());
    let mut output = Output::create(&args.output, source)?;
    let reader = input
        .take_reader()
        .ok_or_else(|| CliError::Input(format!("{name}: input already used")))?;
    let options = EditOptions {
        limits,
        allow_resize: args.allow_resize,
        counts: args.counts.clone(),
    };
    let changes = set_fields_with(
        reader,
        &schema,
        &args.assignments,
        output.writer(),
        &options,
    )
    .map_err(|source| match source {
        EditError::Stream(source) => CliError::Stream {
            name: name.clone(),
            source,
        },
        source => CliError::Edit {
            name: name.clone(),
            source,
        },
    })?;
    output.commit(out)?;
    let log: &mut dyn Write = if to_stdout { err } else { out };
    for c in &changes {
        let at = match c.offset {
            Some(o) => format!("at byte offset {o} ({o:#x})"),
            None => "(unchanged: the same value)".to_owned(),
        };
        writeln!(
            log,
            "{} ({}): {} -> {} {at}",
            c.path, c.wire_type, c.old, c.new
        )?;
        if let Some(note) = &c.note {
            writeln!(log, "  {note}")?;
        }
    }
    let dest = args.output.display();
    let resized = changes
        .iter()
        .any(|c| c.note.as_deref().is_some_and(|n| n.contains("resizes")));
    if resized {
        writeln!(
            log,
            "{} value(s) set; the resized section(s) encoded again and their vmdesc entries \
             written again; every other byte of {name} copied into {dest}",
            changes.len()
        )?;
    } else {
        writeln!(
            log,
            "{} value(s) set; every other byte of {name} copied into {dest}",
            changes.len()
        )?;
    }
    Ok(())
}
