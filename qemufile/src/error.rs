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
