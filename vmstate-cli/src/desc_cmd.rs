//! `vmstate desc FILE`: the stream's vmdesc, printed as QEMU's
//! `analyze-migration.py -d desc` prints it (Python's `json.dumps` with
//! `indent=4`, [`vmstate_core::analyzer::write_python_json`]).

use std::io::Write;
use std::path::PathBuf;

use crate::error::{CliError, report};
use crate::input::Input;
use crate::limits::LimitArgs;

/// Arguments of `vmstate desc`.
#[derive(Debug, Clone, clap::Args)]
pub struct DescArgs {
    /// The migration stream (`-` for standard input).
    pub file: PathBuf,
    /// The `--max-*` limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Runs `vmstate desc`.
pub fn run(args: &DescArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    report("desc", desc(args, out), err)
}

fn desc(args: &DescArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let input = Input::open(Some(&args.file), &args.limits.limits())?;
    let Some((at, json)) = &input.vmdesc else {
        return Err(CliError::Invalid {
            name: input.name.clone(),
            message: format!(
                "no vmdesc at the end of the stream (byte offset {}): truncated, or written \
                 with suppress-vmdesc",
                input.len
            ),
        });
    };
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| CliError::Invalid {
        name: input.name.clone(),
        message: format!(
            "at byte offset {at} (0x{at:x}): the vmdesc is not JSON (line {} column {}: {e})",
            e.line(),
            e.column()
        ),
    })?;
    let mut text = Vec::with_capacity(json.len() * 2);
    vmstate_core::analyzer::write_python_json(&value, &mut text, 0);
    text.push(b'\n');
    out.write_all(&text)?;
    out.flush()?;
    Ok(())
}
