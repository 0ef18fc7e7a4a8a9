use super::*;

/// What QEMU knows about a command number (`mig_cmd_args` in `savevm.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// QEMU's name, used in its error messages (e.g. `"SWITCHOVER_START"`).
    pub name: &'static str,
    /// The fixed length of the data, or `None` when variable.
    pub len: Option<u16>,
}

/// The spec of a known command, `None` for `MIG_CMD_INVALID` (0) and numbers
/// from `MIG_CMD_MAX` on, which QEMU refuses.
pub fn command_spec(cmd: u16) -> Option<CommandSpec> {
    let (name, len) = match cmd {
        MIG_CMD_OPEN_RETURN_PATH => ("OPEN_RETURN_PATH", Some(0)),
        MIG_CMD_PING => ("PING", Some(4)),
        MIG_CMD_POSTCOPY_ADVISE => ("POSTCOPY_ADVISE", None),
        MIG_CMD_POSTCOPY_LISTEN => ("POSTCOPY_LISTEN", Some(0)),
        MIG_CMD_POSTCOPY_RUN => ("POSTCOPY_RUN", Some(0)),
        MIG_CMD_POSTCOPY_RAM_DISCARD => ("POSTCOPY_RAM_DISCARD", None),
        MIG_CMD_PACKAGED => ("PACKAGED", Some(4)),
        MIG_CMD_ENABLE_COLO => ("ENABLE_COLO", Some(0)),
        MIG_CMD_POSTCOPY_RESUME => ("POSTCOPY_RESUME", Some(0)),
        MIG_CMD_RECV_BITMAP => ("RECV_BITMAP", None),
        MIG_CMD_SWITCHOVER_START => ("SWITCHOVER_START", Some(0)),
        _ => return None,
    };
    Some(CommandSpec { name, len })
}

/// A `QEMU_VM_COMMAND` item: `08 | be16 cmd | be16 len | len bytes`.
///
/// For [`MIG_CMD_PACKAGED`] the 4 data bytes are the be32 size of an embedded
/// stream (sections and EOF, no header) that follows the command on the wire;
/// the reader leaves those bytes in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command number (`enum qemu_vm_cmd`).
    pub cmd: u16,
    /// The command's data (at most 65535 bytes).
    pub data: Vec<u8>,
}

impl Command {
    /// `MIG_CMD_SWITCHOVER_START`, with no data.
    pub fn switchover_start() -> Self {
        Command {
            cmd: MIG_CMD_SWITCHOVER_START,
            data: Vec::new(),
        }
    }

    /// QEMU's name for the command, if known.
    pub fn name(&self) -> Option<&'static str> {
        command_spec(self.cmd).map(|s| s.name)
    }

    /// For `MIG_CMD_PACKAGED`: the size of the embedded stream that follows.
    pub fn packaged_len(&self) -> Option<u32> {
        match (self.cmd, self.data.as_slice()) {
            (MIG_CMD_PACKAGED, &[a, b, c, d]) => Some(u32::from_be_bytes([a, b, c, d])),
            _ => None,
        }
    }

    /// Checks number and length as QEMU's `loadvm_process_command` does.
    pub fn validate(cmd: u16, len: u16) -> Result<(), crate::ErrorKind> {
        let Some(spec) = command_spec(cmd) else {
            return Err(crate::ErrorKind::UnknownCommand { cmd, len });
        };
        if let Some(expected) = spec.len {
            if expected != len {
                return Err(crate::ErrorKind::CommandLength {
                    name: spec.name,
                    expected,
                    got: len,
                });
            }
        }
        if cmd == MIG_CMD_POSTCOPY_ADVISE && len != 0 && len != 16 {
            return Err(crate::ErrorKind::CommandLength {
                name: spec.name,
                expected: 16,
                got: len,
            });
        }
        Ok(())
    }
}

impl Command {
    /// Decodes the data ([`CommandPayload::parse`](crate::command_payload::CommandPayload::parse));
    /// `data_offset` is the stream offset of the first data byte
    /// ([`StreamReader::item_offset`](super::StreamReader::item_offset) `+ 5`).
    pub fn payload(
        &self,
        data_offset: u64,
    ) -> crate::Result<crate::command_payload::CommandPayload> {
        crate::command_payload::CommandPayload::parse(self, data_offset)
    }

    /// The command carrying `payload`
    /// ([`CommandPayload::encode`](crate::command_payload::CommandPayload::encode)).
    pub fn from_payload(
        payload: &crate::command_payload::CommandPayload,
    ) -> Result<Self, crate::ErrorKind> {
        payload.encode()
    }
}
