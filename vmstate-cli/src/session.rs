//! What every stream subcommand starts with: the input, the description of
//! its device sections (its own vmdesc, or one given with `--vmdesc`), and a
//! [`StreamDecoder`] over it.

use std::path::Path;

use vmstate_core::Limits;
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::stream::{StreamDecoder, StreamSchema};

use crate::error::CliError;
use crate::input::{AnyReader, Input};

/// The description the device sections are decoded with.
pub fn schema<'d>(
    arena: &'d DescriptionArena,
    input: &Input,
    vmdesc: Option<&Path>,
) -> Result<Option<StreamSchema<'d>>, CliError> {
    if let Some(path) = vmdesc {
        return vmdesc_file(arena, path).map(Some);
    }
    match &input.vmdesc {
        Some((at, json)) => {
            StreamSchema::parse(arena, json)
                .map(Some)
                .map_err(|e| CliError::Invalid {
                    name: input.name.clone(),
                    message: format!("at byte offset {at} (0x{at:x}): {e}"),
                })
        }
        None => Ok(None),
    }
}

/// The vmdesc text the device sections are decoded with: `--vmdesc FILE`'s
/// (another stream's trailer, or a JSON text), else the input's own, if any.
pub fn vmdesc_text(input: &Input, vmdesc: Option<&Path>) -> Result<Option<Vec<u8>>, CliError> {
    let Some(path) = vmdesc else {
        return Ok(input.vmdesc.as_ref().map(|(_, json)| json.to_vec()));
    };
    let bytes = std::fs::read(path).map_err(CliError::file("open", path))?;
    if !bytes.starts_with(&qemufile::stream::FILE_MAGIC.to_be_bytes()) {
        return Ok(Some(bytes));
    }
    match qemufile::stream::find_vmdesc(&bytes) {
        Some((_, json)) => Ok(Some(json.to_vec())),
        None => Err(CliError::Invalid {
            name: path.display().to_string(),
            message: "this stream has no vmdesc at its end to lend".into(),
        }),
    }
}

/// The vmdesc of `--vmdesc FILE`: another stream (of the same QEMU and
/// machine) ending with one, or a vmdesc JSON text (`vmstate desc` output).
fn vmdesc_file<'d>(arena: &'d DescriptionArena, path: &Path) -> Result<StreamSchema<'d>, CliError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(CliError::file("open", path))?;
    let stream = bytes.starts_with(&qemufile::stream::FILE_MAGIC.to_be_bytes());
    let json = if stream {
        match qemufile::stream::find_vmdesc(&bytes) {
            Some((_, json)) => json,
            None => {
                return Err(CliError::Invalid {
                    name,
                    message: "this stream has no vmdesc at its end to lend".into(),
                });
            }
        }
    } else {
        &bytes[..]
    };
    StreamSchema::parse(arena, json).map_err(CliError::stream(&name))
}

/// A decoder over the input's reader, within `limits`.
pub fn decoder<'s, 'd>(
    input: &mut Input,
    schema: Option<&'s StreamSchema<'d>>,
    limits: Limits,
) -> Result<StreamDecoder<'s, 'd, AnyReader<'static>>, CliError> {
    let reader = input
        .take_reader()
        .ok_or_else(|| CliError::Input(format!("{}: input already used", input.name)))?;
    StreamDecoder::open_with_limits(reader, schema, limits).map_err(CliError::stream(&input.name))
}

/// The names of the sections in a stream that could not be decoded for want
/// of a description, to say so at the end.
#[derive(Debug, Default)]
pub struct Undecoded(pub Vec<String>);

impl Undecoded {
    /// One line naming them, if any.
    pub fn summary(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        Some(format!(
            "{} device section(s) not decoded (no vmdesc: give one with --vmdesc): {}",
            self.0.len(),
            self.0.join(", ")
        ))
    }
}
