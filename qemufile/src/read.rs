use std::io;

use crate::{Error, ErrorKind, MAX_PEEK, Result};

/// A counted string read from the stream: at most 255 bytes, kept inline so
/// that reading one never allocates.
#[derive(Clone, Copy)]
pub struct CountedString {
    len: u8,
    bytes: [u8; 255],
}

impl CountedString {
    /// The string's bytes (not necessarily UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The bytes as text, with invalid UTF-8 replaced, for messages.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

impl std::fmt::Debug for CountedString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl PartialEq<[u8]> for CountedString {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for CountedString {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_bytes() == other.as_slice()
    }
}

/// The input side of a QEMUFile: everything QEMU's loadvm code reads.
///
/// Implementors provide the raw operations; typed gets (big-endian) are
/// provided on top. Every read that runs out of input fails with
/// [`ErrorKind::UnexpectedEof`] at the offset where it started.
pub trait QemuRead {
    /// Bytes consumed so far (the offset of the next byte to read).
    fn position(&self) -> u64;

    /// Fills `buf` completely from the stream (`qemu_get_buffer`).
    fn read_into(&mut self, buf: &mut [u8]) -> Result<()>;

    /// Discards `n` bytes (`qemu_file_skip`).
    fn skip(&mut self, n: u64) -> Result<()>;

    /// Looks at up to `len` bytes starting `offset` bytes ahead without
    /// consuming them (`qemu_peek_buffer`). At the end of the input the slice
    /// is shorter than `len` (empty if nothing is left); a peek reaching beyond
    /// [`MAX_PEEK`] is an error.
    fn peek(&mut self, offset: usize, len: usize) -> Result<&[u8]>;

    /// The next bytes of the input that can be had right away, without
    /// waiting for more input or consuming anything: all that is left of a
    /// slice, the filled part of a reader's buffer. For fast paths that
    /// look ahead; whatever is not there is read the usual way. None by
    /// default.
    #[inline]
    fn ready(&self) -> &[u8] {
        &[]
    }

    /// Fills `buf` completely and returns `true` if the input holds that
    /// many more bytes; otherwise consumes nothing and returns `false`, so
    /// that the caller can read piece by piece and fail exactly where the
    /// input ends. Runs longer than [`MAX_PEEK`] say `false` unless the
    /// reader can tell without a peek.
    fn read_if_available(&mut self, buf: &mut [u8]) -> Result<bool> {
        if buf.len() > MAX_PEEK {
            return Ok(false);
        }
        let ahead = self.peek(0, buf.len())?;
        if ahead.len() < buf.len() {
            return Ok(false);
        }
        buf.copy_from_slice(ahead);
        self.skip(buf.len() as u64)?;
        Ok(true)
    }

    /// Reads exactly `N` bytes.
    #[inline]
    fn read_array<const N: usize>(&mut self) -> Result<[u8; N]>
    where
        Self: Sized,
    {
        let mut out = [0u8; N];
        self.read_into(&mut out)?;
        Ok(out)
    }

    /// Reads one byte (`qemu_get_byte`).
    #[inline]
    fn get_u8(&mut self) -> Result<u8>
    where
        Self: Sized,
    {
        Ok(self.read_array::<1>()?[0])
    }

    /// Reads a big-endian 16-bit integer (`qemu_get_be16`).
    #[inline]
    fn get_be16(&mut self) -> Result<u16>
    where
        Self: Sized,
    {
        Ok(u16::from_be_bytes(self.read_array()?))
    }

    /// Reads a big-endian 32-bit integer (`qemu_get_be32`).
    #[inline]
    fn get_be32(&mut self) -> Result<u32>
    where
        Self: Sized,
    {
        Ok(u32::from_be_bytes(self.read_array()?))
    }

    /// Reads a big-endian 64-bit integer (`qemu_get_be64`).
    #[inline]
    fn get_be64(&mut self) -> Result<u64>
    where
        Self: Sized,
    {
        Ok(u64::from_be_bytes(self.read_array()?))
    }

    /// Replaces the contents of `out` with the next `len` bytes, growing it
    /// in 64 KiB steps as the bytes arrive, so that a length read from an
    /// untrusted stream cannot allocate more than the stream holds (plus one
    /// step). At the end of the input the error is at the offset where the
    /// `len` bytes began, and says how many of them were there.
    fn read_to_vec(&mut self, out: &mut Vec<u8>, len: usize) -> Result<()>
    where
        Self: Sized,
    {
        const STEP: usize = 64 * 1024;
        let at = self.position();
        out.clear();
        while out.len() < len {
            let got = out.len();
            out.resize(got + (len - got).min(STEP), 0);
            if let Err(e) = self.read_into(&mut out[got..]) {
                return Err(match *e.kind() {
                    ErrorKind::UnexpectedEof { available, .. } => Error::new(
                        at,
                        ErrorKind::UnexpectedEof {
                            needed: len as u64,
                            available: got as u64 + available,
                        },
                    ),
                    _ => e,
                });
            }
        }
        Ok(())
    }

    /// Peeks one byte `offset` bytes ahead; `None` at the end of the input
    /// (where QEMU's `qemu_peek_byte` returns 0 and sets a sticky error).
    fn peek_u8(&mut self, offset: usize) -> Result<Option<u8>> {
        Ok(self.peek(offset, 1)?.first().copied())
    }

    /// Reads a counted string: a length byte, then that many bytes
    /// (`qemu_get_counted_string`). A zero length is an error, as in QEMU.
    fn get_counted_string(&mut self) -> Result<CountedString>
    where
        Self: Sized,
    {
        let at = self.position();
        let len = self.get_u8()?;
        if len == 0 {
            return Err(Error::new(at, ErrorKind::EmptyString));
        }
        let mut s = CountedString {
            len,
            bytes: [0; 255],
        };
        self.read_into(&mut s.bytes[..usize::from(len)])?;
        Ok(s)
    }
}

/// Forwards the object-safe operations of a `&mut` reference.
macro_rules! forward_read {
    () => {
        #[inline]
        fn position(&self) -> u64 {
            (**self).position()
        }
        #[inline]
        fn peek_u8(&mut self, offset: usize) -> Result<Option<u8>> {
            (**self).peek_u8(offset)
        }
        #[inline]
        fn read_into(&mut self, buf: &mut [u8]) -> Result<()> {
            (**self).read_into(buf)
        }
        #[inline]
        fn skip(&mut self, n: u64) -> Result<()> {
            (**self).skip(n)
        }
        #[inline]
        fn peek(&mut self, offset: usize, len: usize) -> Result<&[u8]> {
            (**self).peek(offset, len)
        }
        #[inline]
        fn read_if_available(&mut self, buf: &mut [u8]) -> Result<bool> {
            (**self).read_if_available(buf)
        }
        #[inline]
        fn ready(&self) -> &[u8] {
            (**self).ready()
        }
    };
}

impl<T: QemuRead> QemuRead for &mut T {
    forward_read!();
    #[inline]
    fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        (**self).read_array()
    }
}

/// Reading through a trait object, for code that cannot be generic (a
/// registry of devices of different types).
impl QemuRead for &mut dyn QemuRead {
    forward_read!();
}

fn check_peek(offset: usize, len: usize) -> Result<(), ErrorKind> {
    match offset.checked_add(len) {
        Some(end) if end <= MAX_PEEK => Ok(()),
        _ => Err(ErrorKind::PeekTooFar {
            offset,
            len,
            max: MAX_PEEK,
        }),
    }
}

/// A QEMUFile reader over a byte slice: the fast path when the whole stream
/// (or a section of it) is in memory.
#[derive(Debug, Clone)]
pub struct SliceReader<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> SliceReader<'a> {
    /// Reads `data` from its start; positions count from 0.
    pub fn new(data: &'a [u8]) -> Self {
        Self::with_base_offset(data, 0)
    }

    /// Reads `data`, which starts at byte `base` of a larger stream, so that
    /// positions and error offsets are those of the larger stream.
    pub fn with_base_offset(data: &'a [u8], base: u64) -> Self {
        SliceReader { data, pos: 0, base }
    }

    /// The bytes not read yet.
    #[inline]
    pub fn remaining(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos == self.data.len()
    }

    #[cold]
    fn eof(&self, needed: usize) -> Error {
        Error::new(
            self.position(),
            ErrorKind::UnexpectedEof {
                needed: needed as u64,
                available: (self.data.len() - self.pos) as u64,
            },
        )
    }
}

impl QemuRead for SliceReader<'_> {
    #[inline]
    fn position(&self) -> u64 {
        self.base + self.pos as u64
    }

    #[inline]
    fn ready(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    #[inline]
    fn read_into(&mut self, buf: &mut [u8]) -> Result<()> {
        match self.data.get(self.pos..self.pos + buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                self.pos += buf.len();
                Ok(())
            }
            None => Err(self.eof(buf.len())),
        }
    }

    #[inline]
    fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self.data.get(self.pos..self.pos + N) {
            Some(src) => {
                let mut out = [0u8; N];
                out.copy_from_slice(src);
                self.pos += N;
                Ok(out)
            }
            None => Err(self.eof(N)),
        }
    }

    #[inline]
    fn read_if_available(&mut self, buf: &mut [u8]) -> Result<bool> {
        match self.data.get(self.pos..self.pos + buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                self.pos += buf.len();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    #[inline]
    fn skip(&mut self, n: u64) -> Result<()> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return Err(self.eof(usize::try_from(n).unwrap_or(usize::MAX)));
        }
        // n <= left, which fits in usize.
        self.pos += n as usize;
        Ok(())
    }

    #[inline]
    fn peek_u8(&mut self, offset: usize) -> Result<Option<u8>> {
        // Within the window by construction for the offsets QEMU peeks (0, 1).
        if offset < MAX_PEEK {
            return Ok(self.data.get(self.pos.saturating_add(offset)).copied());
        }
        self.peek(offset, 1).map(|b| b.first().copied())
    }

    #[inline]
    fn peek(&mut self, offset: usize, len: usize) -> Result<&[u8]> {
        check_peek(offset, len).map_err(|k| Error::new(self.position(), k))?;
        let rest = &self.data[self.pos..];
        let start = offset.min(rest.len());
        let end = (offset + len).min(rest.len());
        Ok(&rest[start..end])
    }
}

/// A buffered QEMUFile reader over any [`io::Read`] (a file, a socket, a pipe).
///
/// Memory is bounded: one buffer of [`MAX_PEEK`] bytes, whatever the stream.
#[derive(Debug)]
pub struct Reader<R: io::Read> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    consumed: u64,
    eof: bool,
}

impl<R: io::Read> Reader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            buf: vec![0u8; MAX_PEEK].into_boxed_slice(),
            start: 0,
            end: 0,
            consumed: 0,
            eof: false,
        }
    }

    /// The underlying reader. Bytes already buffered are not in it any more.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying reader; bytes read ahead into the buffer are dropped.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Makes at least `want` bytes (at most the buffer size) available, unless
    /// the input ends first.
    fn fill(&mut self, want: usize) -> Result<()> {
        if self.buffered() >= want || self.eof {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < want {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::new(self.position(), ErrorKind::Io(e))),
            }
        }
        Ok(())
    }

    #[cold]
    fn eof_error(&self, at: u64, needed: u64, got: u64) -> Error {
        Error::new(
            at,
            ErrorKind::UnexpectedEof {
                needed,
                available: got,
            },
        )
    }
}

impl<R: io::Read> QemuRead for Reader<R> {
    #[inline]
    fn position(&self) -> u64 {
        self.consumed
    }

    #[inline]
    fn ready(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn read_into(&mut self, out: &mut [u8]) -> Result<()> {
        let at = self.position();
        let mut done = 0;
        while done < out.len() {
            if self.buffered() == 0 {
                // Large remainders bypass the buffer.
                if out.len() - done >= self.buf.len() && !self.eof {
                    match self.inner.read(&mut out[done..]) {
                        Ok(0) => self.eof = true,
                        Ok(n) => {
                            done += n;
                            self.consumed += n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(Error::new(self.position(), ErrorKind::Io(e))),
                    }
                    continue;
                }
                self.fill(1)?;
                if self.buffered() == 0 {
                    return Err(self.eof_error(at, out.len() as u64, done as u64));
                }
            }
            let n = self.buffered().min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
            self.consumed += n as u64;
            done += n;
        }
        Ok(())
    }

    fn skip(&mut self, mut n: u64) -> Result<()> {
        let at = self.position();
        let total = n;
        while n > 0 {
            if self.buffered() == 0 {
                self.fill(1)?;
                if self.buffered() == 0 {
                    return Err(self.eof_error(at, total, total - n));
                }
            }
            let step = (self.buffered() as u64).min(n) as usize;
            self.start += step;
            self.consumed += step as u64;
            n -= step as u64;
        }
        Ok(())
    }

    fn peek(&mut self, offset: usize, len: usize) -> Result<&[u8]> {
        check_peek(offset, len).map_err(|k| Error::new(self.position(), k))?;
        self.fill(offset + len)?;
        let avail = &self.buf[self.start..self.end];
        let start = offset.min(avail.len());
        let end = (offset + len).min(avail.len());
        Ok(&avail[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per call, to exercise refills.
    struct Trickle<'a>(&'a [u8]);
    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn exercise(r: &mut impl QemuRead) {
        assert_eq!(r.peek(0, 2).unwrap(), &[0x05, 0x03]);
        assert_eq!(r.peek_u8(1).unwrap(), Some(3));
        assert_eq!(r.get_u8().unwrap(), 5);
        assert_eq!(r.get_counted_string().unwrap().as_bytes(), b"dev");
        assert_eq!(r.get_be32().unwrap(), 0x0000_0103);
        assert_eq!(r.position(), 9);
        assert_eq!(r.peek(0, 10).unwrap(), &[0xab, 0xcd]);
        assert_eq!(r.get_be16().unwrap(), 0xabcd);
        assert_eq!(r.peek_u8(0).unwrap(), None);
        let err = r.get_be64().unwrap_err();
        assert!(err.is_eof());
        assert_eq!(err.offset(), 11);
    }

    const BYTES: &[u8] = &[0x05, 0x03, b'd', b'e', b'v', 0, 0, 1, 3, 0xab, 0xcd];

    #[test]
    fn slice_reader() {
        exercise(&mut SliceReader::new(BYTES));
    }

    #[test]
    fn io_reader() {
        exercise(&mut Reader::new(Trickle(BYTES)));
        exercise(&mut Reader::new(BYTES));
    }

    #[test]
    fn peek_window_is_bounded() {
        let mut r = SliceReader::new(BYTES);
        assert!(matches!(
            r.peek(MAX_PEEK, 1).unwrap_err().kind(),
            ErrorKind::PeekTooFar { .. }
        ));
    }

    #[test]
    fn empty_counted_string_fails() {
        let mut r = SliceReader::new(&[0]);
        assert!(matches!(
            r.get_counted_string().unwrap_err().kind(),
            ErrorKind::EmptyString
        ));
    }

    #[test]
    fn large_reads_and_skips() {
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut r = Reader::new(Trickle(&data));
        let mut first = vec![0u8; 40_000];
        r.read_into(&mut first).unwrap();
        assert_eq!(first, data[..40_000]);
        r.skip(100_000).unwrap();
        assert_eq!(r.get_u8().unwrap(), data[140_000]);
        let err = r.skip(60_000).unwrap_err();
        assert!(err.is_eof());
        let mut r = Reader::new(&data[..]);
        let mut all = vec![0u8; 200_000];
        r.read_into(&mut all).unwrap();
        assert_eq!(all, data);
    }
}
