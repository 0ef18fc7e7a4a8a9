//! The data bytes that follow a record header in a section body (hash table
//! entries, storage attribute values, bitmap words), left in the input until
//! the caller reads, copies or skips them.

use crate::{Error, ErrorKind, QemuRead, QemuWrite, Result};

/// How many payload bytes of the last record are still in the input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Payload {
    pending: u64,
}

impl Payload {
    /// A new record announced `n` payload bytes.
    pub(crate) fn set(&mut self, n: u64) {
        self.pending = n;
    }

    /// Payload bytes not read yet.
    pub(crate) fn remaining(&self) -> u64 {
        self.pending
    }

    /// Reads the next `buf.len()` payload bytes.
    pub(crate) fn read<R: QemuRead>(&mut self, r: &mut R, buf: &mut [u8]) -> Result<()> {
        if buf.len() as u64 > self.pending {
            return Err(Error::new(
                r.position(),
                ErrorKind::InvalidState("read beyond the record's payload"),
            ));
        }
        r.read_into(buf)?;
        self.pending -= buf.len() as u64;
        Ok(())
    }

    /// Replaces `out` with the rest of the payload, growing it as the bytes
    /// arrive (a lying count on a short input fails before allocating it all).
    pub(crate) fn read_to_vec<R: QemuRead>(&mut self, r: &mut R, out: &mut Vec<u8>) -> Result<()> {
        let len = usize::try_from(self.pending).map_err(|_| {
            Error::new(
                r.position(),
                ErrorKind::TooLarge {
                    what: "record payload",
                    len: self.pending,
                    max: usize::MAX as u64,
                },
            )
        })?;
        r.read_to_vec(out, len)?;
        self.pending = 0;
        Ok(())
    }

    /// Skips the rest of the payload; returns the bytes skipped.
    pub(crate) fn skip<R: QemuRead>(&mut self, r: &mut R) -> Result<u64> {
        let n = self.pending;
        if n > 0 {
            r.skip(n)?;
            self.pending = 0;
        }
        Ok(n)
    }

    /// Copies the rest of the payload from `r` to `w` in bounded chunks.
    pub(crate) fn copy<R: QemuRead, W: QemuWrite>(&mut self, r: &mut R, w: &mut W) -> Result<u64> {
        let mut buf = [0u8; 8192];
        let total = self.pending;
        while self.pending > 0 {
            let n = self.pending.min(buf.len() as u64) as usize;
            self.read(r, &mut buf[..n])?;
            w.put_bytes(&buf[..n])?;
        }
        Ok(total)
    }
}

/// The error for bytes that QEMU's loader would refuse (or misread), at
/// stream offset `at`, with a sentence saying what is wrong.
pub(crate) fn malformed(at: u64, msg: String) -> Error {
    Error::new(at, ErrorKind::InvalidArgument(msg))
}

/// Generates the payload accessors of a section body reader whose
/// [`Payload`] is in field `payload`.
macro_rules! payload_methods {
    () => {
        /// Payload bytes of the last item not read yet.
        pub fn payload_remaining(&self) -> u64 {
            self.payload.remaining()
        }

        /// Reads the next `buf.len()` payload bytes of the last item, in as
        /// many calls as wanted; more than is left is refused.
        pub fn read_payload<R: $crate::QemuRead>(
            &mut self,
            r: &mut R,
            buf: &mut [u8],
        ) -> $crate::Result<()> {
            self.payload.read(r, buf)
        }

        /// Replaces `out` with what is left of the payload. The vector grows
        /// as the bytes arrive, so a count larger than the input fails at the
        /// end of the input without allocating the whole count.
        pub fn read_payload_to_vec<R: $crate::QemuRead>(
            &mut self,
            r: &mut R,
            out: &mut Vec<u8>,
        ) -> $crate::Result<()> {
            self.payload.read_to_vec(r, out)
        }

        /// Skips what is left of the payload (without copying when the input
        /// supports it); returns the bytes skipped.
        pub fn skip_payload<R: $crate::QemuRead>(&mut self, r: &mut R) -> $crate::Result<u64> {
            self.payload.skip(r)
        }

        /// Copies what is left of the payload from `r` to `w` in bounded
        /// chunks; returns the bytes copied.
        pub fn copy_payload<R: $crate::QemuRead, W: $crate::QemuWrite>(
            &mut self,
            r: &mut R,
            w: &mut W,
        ) -> $crate::Result<u64> {
            self.payload.copy(r, w)
        }
    };
}
pub(crate) use payload_methods;
