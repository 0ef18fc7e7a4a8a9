use std::fmt;

/// What went wrong in a QEMUFile operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before the requested bytes.
    #[error("unexpected end of stream: needed {needed} byte(s), only {available} left")]
    UnexpectedEof {
        /// Bytes the operation needed.
        needed: u64,
        /// Bytes that were left in the input.
        available: u64,
    },
    /// A counted string longer than 255 bytes cannot be written.
    #[error("counted string of {0} bytes is longer than the 255 a length byte can say")]
    StringTooLong(usize),
    /// QEMU cannot read a zero-length counted string back (it reports it as a short read).
    #[error("zero-length counted string (QEMU reads it as a failure)")]
    EmptyString,
    /// A peek reached further ahead than QEMU's 32 KiB look-ahead buffer.
    #[error(
        "peek of {len} byte(s) at offset {offset} reaches beyond the {max}-byte look-ahead window"
    )]
    PeekTooFar {
        /// Offset of the peek from the read position.
        offset: usize,
        /// Bytes requested.
        len: usize,
        /// The window size ([`crate::MAX_PEEK`]).
        max: usize,
    },
    /// The stream does not start with `QEMU_VM_FILE_MAGIC` ("QEVM").
    #[error(
        "Not a migration stream, magic: {found:x} != {:x}",
        crate::stream::FILE_MAGIC
    )]
    NotAMigrationStream {
        /// The first four bytes, big-endian.
        found: u32,
    },
    /// Stream version 2 (`QEMU_VM_FILE_VERSION_COMPAT`), which QEMU refuses.
    #[error("SaveVM v2 format is obsolete and no longer supported")]
    ObsoleteVersion,
    /// A stream version other than 2 or 3.
    #[error("Unsupported migration stream version, file version {0:x} != {v:x}", v = crate::stream::FILE_VERSION)]
    UnsupportedVersion(u32),
    /// The configuration section was expected but another byte came.
    #[error(
        "Configuration section missing, {found:x} != {:x}",
        crate::stream::CONFIGURATION
    )]
    ConfigurationMissing {
        /// The byte found instead of `QEMU_VM_CONFIGURATION`.
        found: u8,
    },
    /// A subsection of the configuration that QEMU does not know.
    #[error("VM subsection '{0}' in 'configuration' does not exist")]
    UnknownSubsection(String),
    /// A subsection version outside what QEMU accepts.
    #[error("{name}: incoming version_id {version} is not supported (local version_id {local})")]
    SubsectionVersion {
        /// The subsection name.
        name: String,
        /// The version on the wire.
        version: u32,
        /// The only version QEMU reads.
        local: u32,
    },
    /// A section type byte QEMU does not know.
    #[error("Unknown section type {0}")]
    UnknownSectionType(u8),
    /// A PART or END section whose id no START section introduced.
    #[error("Unknown savevm section {0}")]
    UnknownSection(u32),
    /// The byte after a section body is not the footer marker `0x7e`.
    #[error("Missing section footer for {idstr} (found 0x{found:02x})")]
    MissingFooter {
        /// The section's idstr.
        idstr: String,
        /// The byte found instead of `0x7e`.
        found: u8,
    },
    /// The footer's section id differs from the header's.
    #[error(
        "Mismatched section id in footer for {idstr} - read 0x{read:x} expected 0x{expected:x}"
    )]
    MismatchedFooter {
        /// The section's idstr.
        idstr: String,
        /// Section id in the footer.
        read: u32,
        /// Section id in the header.
        expected: u32,
    },
    /// A command number QEMU does not know.
    #[error("MIG_CMD 0x{cmd:x} unknown (len 0x{len:x})")]
    UnknownCommand {
        /// The command number.
        cmd: u16,
        /// Its length field.
        len: u16,
    },
    /// A known command with a length other than its fixed one.
    #[error("{name} received with bad length - expecting {expected}, got {got}")]
    CommandLength {
        /// QEMU's name of the command.
        name: &'static str,
        /// The fixed length.
        expected: u16,
        /// The length on the wire.
        got: u16,
    },
    /// A length on the wire exceeds the bound this reader accepts.
    #[error("{what} of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// What the length is for.
        what: &'static str,
        /// The length read.
        len: u64,
        /// The bound.
        max: u64,
    },
    /// A claim in the input costs more than the reader's [`crate::Limits`] allow.
    #[error("{0}")]
    Limit(#[from] crate::LimitExceeded),
    /// The API was used out of order (e.g. reading the next item while a
    /// section body is still open).
    #[error("invalid use: {0}")]
    InvalidState(&'static str),
    /// A value the writer cannot put on the wire.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// RAM record flags QEMU's loader rejects.
    #[error("Unknown combination of migration flags: 0x{0:x}")]
    RamFlags(u64),
    /// A compressed RAM page (`RAM_SAVE_FLAG_COMPRESS_PAGE`), no longer supported by QEMU.
    #[error("Received an unexpected compressed page")]
    RamCompressedPage,
    /// A RAM record with `RAM_SAVE_FLAG_CONTINUE` but no block named before it.
    #[error("Ack, bad migration stream! (CONTINUE without a previous RAM block)")]
    RamContinueWithoutBlock,
    /// The RAM block list does not add up to the `MEM_SIZE` total.
    #[error(
        "RAM block '{block}' of {length:#x} bytes exceeds the {remaining:#x} bytes left of the MEM_SIZE total"
    )]
    RamBlockList {
        /// The block name.
        block: String,
        /// Its length.
        length: u64,
        /// What was left of the total.
        remaining: u64,
    },
    /// An XBZRLE page with an encoding byte other than `ENCODING_FLAG_XBZRLE`.
    #[error("Failed to load XBZRLE page - wrong compression! (0x{0:x})")]
    XbzrleEncoding(u8),
    /// An XBZRLE page longer than a target page.
    #[error("Failed to load XBZRLE page - len overflow! ({0} bytes)")]
    XbzrleLength(u16),
    /// A mapped-ram header version newer than QEMU's.
    #[error("Migration mapped-ram capability version not supported (expected <= 1, got {0})")]
    MappedRamVersion(u32),
    /// A mapped-ram page region that is not page aligned.
    #[error("Error reading ramblock {0} pages, region has bad alignment")]
    MappedRamAlignment(String),
    /// A mapped-ram layout that a sequential reader cannot follow (offsets
    /// behind the read position or overlapping).
    #[error("mapped-ram layout of ramblock {block}: {reason}")]
    MappedRamLayout {
        /// The block name.
        block: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// An error from the byte stream, with the stream offset at which it happened.
#[derive(Debug)]
pub struct Error {
    offset: u64,
    kind: ErrorKind,
}

impl Error {
    /// Creates an error at byte `offset` of the stream.
    pub fn new(offset: u64, kind: ErrorKind) -> Self {
        Error { offset, kind }
    }

    /// The byte offset in the stream at which the failing operation started.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Consumes the error, returning what went wrong.
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    /// True if the input ended too early (the stream is truncated).
    pub fn is_eof(&self) -> bool {
        matches!(self.kind, ErrorKind::UnexpectedEof { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte offset {}: {}", self.offset, self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Result of a QEMUFile operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
