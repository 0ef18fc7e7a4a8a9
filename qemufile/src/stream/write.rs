use super::*;
use crate::{Error, ErrorKind, QemuWrite, Result};

/// Writes a migration stream to any [`QemuWrite`]: header, configuration,
/// sections (header, body written by the caller through
/// [`body`](Self::body), footer), commands, EOF and the vmdesc.
///
/// The writer checks the order of the pieces only as far as footers go: a
/// footer needs an open section, and a section header needs the previous
/// section to be closed.
#[derive(Debug)]
pub struct StreamWriter<W> {
    inner: W,
    opts: StreamOptions,
    open: Option<u32>,
}

impl<W: QemuWrite> StreamWriter<W> {
    /// Wraps `inner`. Only [`StreamOptions::send_section_footer`] and
    /// [`StreamOptions::send_configuration`] matter to the writer.
    pub fn new(inner: W, opts: StreamOptions) -> Self {
        StreamWriter {
            inner,
            opts,
            open: None,
        }
    }

    fn invalid(&self, what: &'static str) -> Error {
        Error::new(self.inner.position(), ErrorKind::InvalidState(what))
    }

    /// Writes magic and version 3 (`qemu_savevm_state_header`, before the configuration).
    pub fn write_header(&mut self) -> Result<()> {
        self.inner.put_be32(FILE_MAGIC)?;
        self.inner.put_be32(FILE_VERSION)
    }

    /// Writes the configuration section. Refused when the options say the
    /// stream has none.
    pub fn write_configuration(&mut self, config: &Configuration) -> Result<()> {
        if !self.opts.send_configuration {
            return Err(self.invalid("send_configuration is off"));
        }
        config.write(&mut self.inner)
    }

    /// Writes a section header (type, id and, for START/FULL, idstr, instance
    /// and version). The body follows: write it through [`body`](Self::body),
    /// then call [`write_section_footer`](Self::write_section_footer).
    pub fn write_section_header(&mut self, h: &SectionHeader) -> Result<()> {
        if self.open.is_some() {
            return Err(self.invalid("previous section not closed: write its footer"));
        }
        self.inner.put_u8(h.kind.type_byte())?;
        self.inner.put_be32(h.section_id)?;
        if h.kind.has_full_header() {
            if h.idstr.as_bytes().is_empty() {
                return Err(Error::new(self.inner.position(), ErrorKind::EmptyString));
            }
            self.inner.put_counted_string(h.idstr.as_bytes())?;
            self.inner.put_be32(h.instance_id)?;
            self.inner.put_be32(h.version_id)?;
        }
        self.open = Some(h.section_id);
        Ok(())
    }

    /// The output, to write a section body (or anything else).
    pub fn body(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Turns section footers on or off from here on (to mirror a stream
    /// whose footers were detected while reading it).
    pub fn set_section_footer(&mut self, on: bool) {
        self.opts.send_section_footer = on;
    }

    /// Ends the open section with its footer (`7e | be32 section_id`) unless
    /// footers are off.
    pub fn write_section_footer(&mut self) -> Result<()> {
        let Some(id) = self.open.take() else {
            return Err(self.invalid("no section open"));
        };
        if self.opts.send_section_footer {
            self.inner.put_u8(SECTION_FOOTER)?;
            self.inner.put_be32(id)?;
        }
        Ok(())
    }

    /// Writes a command: `08 | be16 cmd | be16 len | data`. Unknown numbers
    /// and wrong fixed lengths are refused with QEMU's loader messages.
    pub fn write_command(&mut self, cmd: &Command) -> Result<()> {
        if self.open.is_some() {
            return Err(self.invalid("section open: write its footer first"));
        }
        let pos = self.inner.position();
        let len = u16::try_from(cmd.data.len()).map_err(|_| {
            Error::new(
                pos,
                ErrorKind::InvalidArgument(format!("command data of {} bytes", cmd.data.len())),
            )
        })?;
        Command::validate(cmd.cmd, len).map_err(|k| Error::new(pos, k))?;
        self.inner.put_u8(COMMAND)?;
        self.inner.put_be16(cmd.cmd)?;
        self.inner.put_be16(len)?;
        self.inner.put_bytes(&cmd.data)
    }

    /// Writes `QEMU_VM_EOF`.
    pub fn write_eof(&mut self) -> Result<()> {
        if self.open.is_some() {
            return Err(self.invalid("section open: write its footer first"));
        }
        self.inner.put_u8(EOF)
    }

    /// Writes the vmdesc trailer `06 | be32 len | json` (after EOF).
    pub fn write_vmdesc(&mut self, json: &[u8]) -> Result<()> {
        let len = u32::try_from(json.len()).map_err(|_| {
            Error::new(
                self.inner.position(),
                ErrorKind::InvalidArgument("vmdesc longer than 4 GiB".into()),
            )
        })?;
        self.inner.put_u8(VMDESCRIPTION)?;
        self.inner.put_be32(len)?;
        self.inner.put_bytes(json)
    }

    /// The output.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Returns the output.
    pub fn into_inner(self) -> W {
        self.inner
    }
}
