//! The decoded data of `QEMU_VM_COMMAND` items (`migration/savevm.c`,
//! `qemu_savevm_send_*` and `loadvm_process_command`).
//!
//! [`Command`] holds a command's number and raw data as the stream reader
//! reads them; [`CommandPayload::parse`] decodes the data with the checks
//! QEMU's loader makes, and [`CommandPayload::encode`] turns it back into the
//! same bytes.
//!
//! | command | data |
//! |---|---|
//! | `OPEN_RETURN_PATH`, `POSTCOPY_LISTEN`, `POSTCOPY_RUN`, `ENABLE_COLO`, `POSTCOPY_RESUME`, `SWITCHOVER_START` | none |
//! | `PING` | be32 value (echoed back on the return path) |
//! | `POSTCOPY_ADVISE` | nothing (postcopy of dirty bitmaps only), or be64 RAM page size summary, be64 target page size (postcopy-ram) |
//! | `POSTCOPY_RAM_DISCARD` | u8 version (0), u8 name length, the RAM block name, a 0 byte, then (be64 start, be64 length) byte ranges |
//! | `PACKAGED` | be32 length of the embedded stream that follows the command on the wire |
//! | `RECV_BITMAP` | u8 name length, the RAM block name |
//!
//! The stream embedded after `PACKAGED` (postcopy's device state) is made of
//! the same items as the main stream, sections and commands, without header
//! or EOF: QEMU's loader reads it until `POSTCOPY_RUN` makes it return. A
//! [`StreamReader`] with the main stream's options
//! therefore reads its items in line, one after another.
//!
//! ```
//! use qemufile::command_payload::{CommandPayload, DiscardRange, RamDiscard};
//! use qemufile::stream::IdStr;
//!
//! let p = CommandPayload::PostcopyRamDiscard(RamDiscard {
//!     block: IdStr::try_from("pc.ram")?,
//!     ranges: vec![DiscardRange { start: 0x1000, length: 0x2000 }],
//! });
//! let cmd = p.encode()?;
//! assert_eq!(cmd.cmd, qemufile::stream::MIG_CMD_POSTCOPY_RAM_DISCARD);
//! assert_eq!(&cmd.data[..9], b"\x00\x06pc.ram\x00");
//! assert_eq!(CommandPayload::parse(&cmd, 0)?, p);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::payload::malformed;
use crate::stream::*;
use crate::{Error, ErrorKind, Result};

/// `postcopy_ram_discard_version`: the only `POSTCOPY_RAM_DISCARD` version.
pub const POSTCOPY_RAM_DISCARD_VERSION: u8 = 0;
/// `MAX_DISCARDS_PER_COMMAND`: the most ranges QEMU puts in one discard
/// command (the loader accepts as many as the length allows).
pub const MAX_DISCARDS_PER_COMMAND: usize = 12;
/// `QEMU_VM_PING_PACKAGED_LOADED`: the `PING` value at the end of the
/// postcopy package, sent when the destination loaded it.
pub const PING_PACKAGED_LOADED: u32 = 0x42;

/// The data of `POSTCOPY_ADVISE` with postcopy-ram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostcopyAdvise {
    /// `ram_pagesize_summary()`: the OR of all RAM blocks' page sizes; the
    /// destination's must be equal.
    pub page_size_summary: u64,
    /// The target page size; the destination's must be equal.
    pub target_page_size: u64,
}

/// A byte range of a RAM block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscardRange {
    /// Offset in the block, in bytes.
    pub start: u64,
    /// Length in bytes.
    pub length: u64,
}

/// The data of `POSTCOPY_RAM_DISCARD`: ranges of one RAM block that the
/// destination drops, to fetch them again on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamDiscard {
    /// The RAM block's idstr (not empty, no NUL byte).
    pub block: IdStr,
    /// The ranges.
    pub ranges: Vec<DiscardRange>,
}

/// A command with its data decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandPayload {
    /// `MIG_CMD_OPEN_RETURN_PATH`.
    OpenReturnPath,
    /// `MIG_CMD_PING` with its value.
    Ping(u32),
    /// `MIG_CMD_POSTCOPY_ADVISE`: page sizes with postcopy-ram, `None` for
    /// postcopy of dirty bitmaps only.
    PostcopyAdvise(Option<PostcopyAdvise>),
    /// `MIG_CMD_POSTCOPY_LISTEN`.
    PostcopyListen,
    /// `MIG_CMD_POSTCOPY_RUN`.
    PostcopyRun,
    /// `MIG_CMD_POSTCOPY_RAM_DISCARD`.
    PostcopyRamDiscard(RamDiscard),
    /// `MIG_CMD_PACKAGED`: `len` bytes of embedded stream follow the command.
    Packaged {
        /// The embedded stream's length.
        len: u32,
    },
    /// `MIG_CMD_ENABLE_COLO`.
    EnableColo,
    /// `MIG_CMD_POSTCOPY_RESUME`.
    PostcopyResume,
    /// `MIG_CMD_RECV_BITMAP`: the RAM block whose received bitmap the source asks for.
    RecvBitmap {
        /// The RAM block's idstr (not empty).
        block: IdStr,
    },
    /// `MIG_CMD_SWITCHOVER_START`.
    SwitchoverStart,
}

fn be64(d: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

fn be32(d: &[u8]) -> u32 {
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

impl CommandPayload {
    /// The command number.
    pub fn cmd(&self) -> u16 {
        match self {
            CommandPayload::OpenReturnPath => MIG_CMD_OPEN_RETURN_PATH,
            CommandPayload::Ping(_) => MIG_CMD_PING,
            CommandPayload::PostcopyAdvise(_) => MIG_CMD_POSTCOPY_ADVISE,
            CommandPayload::PostcopyListen => MIG_CMD_POSTCOPY_LISTEN,
            CommandPayload::PostcopyRun => MIG_CMD_POSTCOPY_RUN,
            CommandPayload::PostcopyRamDiscard(_) => MIG_CMD_POSTCOPY_RAM_DISCARD,
            CommandPayload::Packaged { .. } => MIG_CMD_PACKAGED,
            CommandPayload::EnableColo => MIG_CMD_ENABLE_COLO,
            CommandPayload::PostcopyResume => MIG_CMD_POSTCOPY_RESUME,
            CommandPayload::RecvBitmap { .. } => MIG_CMD_RECV_BITMAP,
            CommandPayload::SwitchoverStart => MIG_CMD_SWITCHOVER_START,
        }
    }

    /// Decodes `cmd`'s data. `data_offset` is the stream offset of the
    /// data's first byte (for a command just read by a
    /// [`StreamReader`]: its
    /// `item_offset() + 5`); errors name offsets from it. Refused, as by
    /// QEMU's loader: unknown numbers, wrong lengths, a `POSTCOPY_RAM_DISCARD`
    /// of another version, without block name or 0 byte after it, or with a
    /// partial range, and a `RECV_BITMAP` whose name does not fill the data.
    pub fn parse(cmd: &Command, data_offset: u64) -> Result<Self> {
        let d = cmd.data.as_slice();
        let len_at = data_offset.saturating_sub(2);
        let len = u16::try_from(d.len()).map_err(|_| {
            Error::new(
                len_at,
                ErrorKind::TooLarge {
                    what: "command data",
                    len: d.len() as u64,
                    max: u16::MAX.into(),
                },
            )
        })?;
        Command::validate(cmd.cmd, len).map_err(|k| Error::new(len_at, k))?;
        Ok(match cmd.cmd {
            MIG_CMD_OPEN_RETURN_PATH => CommandPayload::OpenReturnPath,
            MIG_CMD_PING => CommandPayload::Ping(be32(d)),
            MIG_CMD_POSTCOPY_ADVISE => CommandPayload::PostcopyAdvise(match d.len() {
                0 => None,
                _ => Some(PostcopyAdvise {
                    page_size_summary: be64(d),
                    target_page_size: be64(&d[8..]),
                }),
            }),
            MIG_CMD_POSTCOPY_LISTEN => CommandPayload::PostcopyListen,
            MIG_CMD_POSTCOPY_RUN => CommandPayload::PostcopyRun,
            MIG_CMD_POSTCOPY_RAM_DISCARD => {
                CommandPayload::PostcopyRamDiscard(parse_discard(d, data_offset)?)
            }
            MIG_CMD_PACKAGED => CommandPayload::Packaged { len: be32(d) },
            MIG_CMD_ENABLE_COLO => CommandPayload::EnableColo,
            MIG_CMD_POSTCOPY_RESUME => CommandPayload::PostcopyResume,
            MIG_CMD_RECV_BITMAP => {
                let n = d.first().copied().map_or(0, usize::from);
                if n == 0 {
                    return Err(Error::new(data_offset, ErrorKind::EmptyString));
                }
                if d.len() != n + 1 {
                    return Err(malformed(
                        len_at,
                        format!(
                            "RECV_BITMAP data of {} bytes does not hold exactly the {n}-byte \
                             block name and its length byte; QEMU's loader fails with \
                             \"invalid payload length\"",
                            d.len()
                        ),
                    ));
                }
                CommandPayload::RecvBitmap {
                    block: IdStr::new(&d[1..]).map_err(|k| Error::new(data_offset, k))?,
                }
            }
            MIG_CMD_SWITCHOVER_START => CommandPayload::SwitchoverStart,
            // validate() let only the numbers above through.
            other => {
                return Err(Error::new(
                    len_at,
                    ErrorKind::UnknownCommand { cmd: other, len },
                ));
            }
        })
    }

    /// Bytes of data the command carries.
    pub fn data_len(&self) -> usize {
        match self {
            CommandPayload::Ping(_) | CommandPayload::Packaged { .. } => 4,
            CommandPayload::PostcopyAdvise(a) => a.map_or(0, |_| 16),
            CommandPayload::PostcopyRamDiscard(r) => {
                3 + r.block.as_bytes().len() + 16 * r.ranges.len()
            }
            CommandPayload::RecvBitmap { block } => 1 + block.as_bytes().len(),
            _ => 0,
        }
    }

    /// The command with its data as QEMU writes it. Refused: an empty block
    /// name, a discard block name with a NUL byte (the loader measures it
    /// with `strlen`), and data longer than the 65535 bytes the length field holds.
    pub fn encode(&self) -> Result<Command, ErrorKind> {
        let len = self.data_len();
        if len > usize::from(u16::MAX) {
            return Err(ErrorKind::TooLarge {
                what: "command data",
                len: len as u64,
                max: u16::MAX.into(),
            });
        }
        let mut data = Vec::with_capacity(len);
        match self {
            CommandPayload::Ping(v) | CommandPayload::Packaged { len: v } => {
                data.extend_from_slice(&v.to_be_bytes())
            }
            CommandPayload::PostcopyAdvise(Some(a)) => {
                data.extend_from_slice(&a.page_size_summary.to_be_bytes());
                data.extend_from_slice(&a.target_page_size.to_be_bytes());
            }
            CommandPayload::PostcopyRamDiscard(r) => {
                let name = r.block.as_bytes();
                if name.is_empty() {
                    return Err(ErrorKind::EmptyString);
                }
                if name.contains(&0) {
                    return Err(ErrorKind::InvalidArgument(format!(
                        "POSTCOPY_RAM_DISCARD block name {:?} contains a NUL byte",
                        r.block
                    )));
                }
                data.push(POSTCOPY_RAM_DISCARD_VERSION);
                // IdStr holds at most 255 bytes.
                data.push(name.len() as u8);
                data.extend_from_slice(name);
                data.push(0);
                for range in &r.ranges {
                    data.extend_from_slice(&range.start.to_be_bytes());
                    data.extend_from_slice(&range.length.to_be_bytes());
                }
            }
            CommandPayload::RecvBitmap { block } => {
                let name = block.as_bytes();
                if name.is_empty() {
                    return Err(ErrorKind::EmptyString);
                }
                data.push(name.len() as u8);
                data.extend_from_slice(name);
            }
            _ => {}
        }
        let cmd = Command {
            cmd: self.cmd(),
            data,
        };
        // What QEMU's loader checks first.
        Command::validate(cmd.cmd, len as u16)?;
        Ok(cmd)
    }
}

fn parse_discard(d: &[u8], at: u64) -> Result<RamDiscard> {
    let off = |i: usize| at + i as u64;
    // version, name length, at least one name byte, the 0 byte, one range.
    const MIN: usize = 1 + 1 + 1 + 1 + 16;
    if d.len() < MIN {
        return Err(malformed(
            at.saturating_sub(2),
            format!(
                "POSTCOPY_RAM_DISCARD data of {} bytes is shorter than the {MIN} QEMU's loader \
                 requires (\"invalid length\")",
                d.len()
            ),
        ));
    }
    if d[0] != POSTCOPY_RAM_DISCARD_VERSION {
        return Err(malformed(
            at,
            format!(
                "POSTCOPY_RAM_DISCARD version {} (QEMU knows only {POSTCOPY_RAM_DISCARD_VERSION})",
                d[0]
            ),
        ));
    }
    let n = usize::from(d[1]);
    if n == 0 {
        return Err(Error::new(off(1), ErrorKind::EmptyString));
    }
    let Some(name) = d.get(2..2 + n) else {
        return Err(malformed(
            off(1),
            format!(
                "POSTCOPY_RAM_DISCARD block name of {n} bytes runs past the {}-byte command data",
                d.len()
            ),
        ));
    };
    if let Some(i) = name.iter().position(|&b| b == 0) {
        return Err(malformed(
            off(2 + i),
            "POSTCOPY_RAM_DISCARD block name contains a NUL byte (QEMU's loader would \
             miscount the ranges)"
                .into(),
        ));
    }
    match d.get(2 + n) {
        Some(0) => {}
        Some(&b) => {
            return Err(malformed(
                off(2 + n),
                format!("POSTCOPY_RAM_DISCARD block name not followed by a 0 byte (found {b:#x})"),
            ));
        }
        None => {
            return Err(malformed(
                off(2 + n),
                "POSTCOPY_RAM_DISCARD data ends before the 0 byte after the block name".into(),
            ));
        }
    }
    let rest = &d[3 + n..];
    if rest.len() % 16 != 0 {
        return Err(malformed(
            off(3 + n),
            format!(
                "POSTCOPY_RAM_DISCARD ranges take {} bytes, not a multiple of 16 (be64 start, \
                 be64 length)",
                rest.len()
            ),
        ));
    }
    Ok(RamDiscard {
        block: IdStr::new(name).map_err(|k| Error::new(off(2), k))?,
        ranges: rest
            .chunks_exact(16)
            .map(|c| DiscardRange {
                start: be64(c),
                length: be64(&c[8..]),
            })
            .collect(),
    })
}
