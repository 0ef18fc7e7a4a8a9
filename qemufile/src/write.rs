use std::io;

use crate::{Error, ErrorKind, MAX_COUNTED_STRING, Result};

/// The output side of a QEMUFile: everything QEMU's savevm code writes.
///
/// Implementors provide [`put_bytes`](QemuWrite::put_bytes) and
/// [`position`](QemuWrite::position); the typed puts are provided on top and
/// are all big-endian, as on QEMU's wire.
pub trait QemuWrite {
    /// Appends raw bytes (`qemu_put_buffer`).
    fn put_bytes(&mut self, bytes: &[u8]) -> Result<()>;

    /// Bytes written so far (`qemu_file_transferred`).
    fn position(&self) -> u64;

    /// Appends `n` zero bytes (what `VMSTATE_UNUSED` writes).
    fn put_zeros(&mut self, mut n: usize) -> Result<()> {
        const ZEROS: [u8; 256] = [0; 256];
        while n > 0 {
            let chunk = n.min(ZEROS.len());
            self.put_bytes(&ZEROS[..chunk])?;
            n -= chunk;
        }
        Ok(())
    }

    /// Appends one byte (`qemu_put_byte`).
    #[inline]
    fn put_u8(&mut self, v: u8) -> Result<()> {
        self.put_bytes(&[v])
    }

    /// Appends a big-endian 16-bit integer (`qemu_put_be16`).
    #[inline]
    fn put_be16(&mut self, v: u16) -> Result<()> {
        self.put_bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian 32-bit integer (`qemu_put_be32`).
    #[inline]
    fn put_be32(&mut self, v: u32) -> Result<()> {
        self.put_bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian 64-bit integer (`qemu_put_be64`).
    #[inline]
    fn put_be64(&mut self, v: u64) -> Result<()> {
        self.put_bytes(&v.to_be_bytes())
    }

    /// Appends a counted string: one length byte, then the bytes
    /// (`qemu_put_counted_string`). Longer than 255 bytes is refused.
    fn put_counted_string(&mut self, s: impl AsRef<[u8]>) -> Result<()> {
        let s = s.as_ref();
        if s.len() > MAX_COUNTED_STRING {
            return Err(Error::new(
                self.position(),
                ErrorKind::StringTooLong(s.len()),
            ));
        }
        // The length fits in a byte: checked just above.
        self.put_u8(s.len() as u8)?;
        self.put_bytes(s)
    }
}

/// Saving into memory: appends never fail.
impl QemuWrite for Vec<u8> {
    #[inline]
    fn put_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }

    #[inline]
    fn position(&self) -> u64 {
        self.len() as u64
    }
}

impl<T: QemuWrite> QemuWrite for &mut T {
    #[inline]
    fn put_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        (**self).put_bytes(bytes)
    }

    #[inline]
    fn position(&self) -> u64 {
        (**self).position()
    }
}

/// A buffered QEMUFile writer over any [`io::Write`] (a file, a socket, a pipe).
///
/// Bytes are collected in a 32 KiB buffer, like QEMU's `IO_BUF_SIZE`, and
/// written out when it fills, on [`flush`](Writer::flush) and on
/// [`into_inner`](Writer::into_inner). Dropping a writer without flushing loses
/// the buffered bytes, so that a failed flush is never silently ignored.
#[derive(Debug)]
pub struct Writer<W: io::Write> {
    inner: W,
    buf: Vec<u8>,
    flushed: u64,
}

const WRITE_BUF_SIZE: usize = 32 * 1024;

impl<W: io::Write> Writer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Writer {
            inner,
            buf: Vec::with_capacity(WRITE_BUF_SIZE),
            flushed: 0,
        }
    }

    /// Writes the buffered bytes to the underlying writer and flushes it.
    pub fn flush(&mut self) -> Result<()> {
        self.drain()?;
        let at = self.flushed;
        self.inner
            .flush()
            .map_err(|e| Error::new(at, ErrorKind::Io(e)))
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> Result<W> {
        self.flush()?;
        Ok(self.inner)
    }

    /// The underlying writer (bytes still buffered are not in it yet).
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    fn drain(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            let at = self.flushed;
            self.inner
                .write_all(&self.buf)
                .map_err(|e| Error::new(at, ErrorKind::Io(e)))?;
            self.flushed += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

impl<W: io::Write> QemuWrite for Writer<W> {
    #[inline]
    fn put_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if self.buf.len() + bytes.len() <= WRITE_BUF_SIZE {
            self.buf.extend_from_slice(bytes);
            return Ok(());
        }
        self.drain()?;
        if bytes.len() >= WRITE_BUF_SIZE {
            let at = self.flushed;
            self.inner
                .write_all(bytes)
                .map_err(|e| Error::new(at, ErrorKind::Io(e)))?;
            self.flushed += bytes.len() as u64;
        } else {
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    #[inline]
    fn position(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_puts() {
        let mut v = Vec::new();
        v.put_u8(0x82).unwrap();
        v.put_be16(0x0200).unwrap();
        v.put_be32(70000).unwrap();
        v.put_be64(12121212).unwrap();
        assert_eq!(
            v,
            [
                0x82, 0x02, 0x00, 0x00, 0x01, 0x11, 0x70, 0, 0, 0, 0, 0, 0xb8, 0xf4, 0x7c
            ]
        );
    }

    #[test]
    fn counted_string_limits() {
        let mut v = Vec::new();
        v.put_counted_string("a".repeat(255)).unwrap();
        assert_eq!(v.len(), 256);
        let err = v.put_counted_string("a".repeat(256)).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::StringTooLong(256)));
        assert_eq!(err.offset(), 256);
    }

    #[test]
    fn buffered_writer_matches_vec() {
        let mut w = Writer::new(Vec::new());
        let mut v = Vec::new();
        for i in 0..20_000u32 {
            w.put_be32(i).unwrap();
            v.put_be32(i).unwrap();
        }
        let big = vec![7u8; 70_000];
        w.put_bytes(&big).unwrap();
        v.put_bytes(&big).unwrap();
        w.put_zeros(1000).unwrap();
        v.put_zeros(1000).unwrap();
        assert_eq!(w.position(), v.position());
        assert_eq!(w.into_inner().unwrap(), v);
    }
}
