//! The QEMUFile output visitor: writes exactly the bytes QEMU's
//! `vmstate_save_vmsd` writes.

use qemufile::stream::{PTR_MARKER_NULL, PTR_MARKER_VALID, SUBSECTION};
use qemufile::{MAX_COUNTED_STRING, QemuWrite};

use crate::{Description, Result, Timer, Visitor};

/// Saves values into a QEMUFile byte stream.
#[derive(Debug)]
pub struct OutputVisitor<W: QemuWrite> {
    out: W,
}

impl<W: QemuWrite> OutputVisitor<W> {
    /// Writes into `out`.
    pub fn new(out: W) -> Self {
        OutputVisitor { out }
    }

    /// The underlying stream.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The underlying stream.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    #[inline]
    fn put<const N: usize>(&mut self, bytes: [u8; N]) -> Result<()> {
        Ok(self.out.put_bytes(&bytes)?)
    }
}

macro_rules! put_slice {
    ($name:ident, $t:ty, $size:expr) => {
        #[inline]
        fn $name(&mut self, _name: &'d str, items: &mut [$t]) -> Result<()> {
            // Convert through a stack buffer: one copy, no per-element call.
            const CHUNK: usize = 512;
            let mut buf = [0u8; CHUNK * $size];
            for chunk in items.chunks(CHUNK) {
                for (dst, x) in buf.chunks_exact_mut($size).zip(chunk) {
                    dst.copy_from_slice(&x.to_be_bytes());
                }
                self.out.put_bytes(&buf[..chunk.len() * $size])?;
            }
            Ok(())
        }
    };
}

impl<'d, W: QemuWrite> Visitor<'d> for OutputVisitor<W> {
    const LOADING: bool = false;
    const RUNS_SAVE_HOOKS: bool = true;
    const PACKED_RUNS: bool = true;

    #[inline]
    fn put_packed(&mut self, _: std::ops::Range<usize>, bytes: &[u8]) -> Result<bool> {
        self.out.put_bytes(bytes)?;
        Ok(true)
    }

    #[inline]
    fn visit_bool(&mut self, _: &'d str, v: &mut bool) -> Result<()> {
        self.put([u8::from(*v)])
    }
    #[inline]
    fn visit_i8(&mut self, _: &'d str, v: &mut i8) -> Result<()> {
        self.put(v.to_be_bytes())
    }
    #[inline]
    fn visit_i16(&mut self, _: &'d str, v: &mut i16) -> Result<()> {
        self.put(v.to_be_bytes())
    }
    #[inline]
    fn visit_i32(&mut self, _: &'d str, v: &mut i32) -> Result<()> {
        self.put(v.to_be_bytes())
    }
    #[inline]
    fn visit_i64(&mut self, _: &'d str, v: &mut i64) -> Result<()> {
        self.put(v.to_be_bytes())
    }
    #[inline]
    fn visit_u8(&mut self, _: &'d str, v: &mut u8) -> Result<()> {
        self.put([*v])
    }
    #[inline]
    fn visit_u16(&mut self, _: &'d str, v: &mut u16) -> Result<()> {
        self.put(v.to_be_bytes())
    }
    #[inline]
    fn visit_u32(&mut self, _: &'d str, v: &mut u32) -> Result<()> {
        self.put(v.to_be_bytes())
    }
    #[inline]
    fn visit_u64(&mut self, _: &'d str, v: &mut u64) -> Result<()> {
        self.put(v.to_be_bytes())
    }
    #[inline]
    fn visit_f64(&mut self, _: &'d str, v: &mut f64) -> Result<()> {
        self.put(v.to_bits().to_be_bytes())
    }
    #[inline]
    fn visit_timer(&mut self, _: &'d str, v: &mut Timer) -> Result<()> {
        self.put(v.raw().to_be_bytes())
    }
    #[inline]
    fn visit_u8_equal(&mut self, n: &'d str, v: &mut u8) -> Result<()> {
        self.visit_u8(n, v)
    }
    #[inline]
    fn visit_u16_equal(&mut self, n: &'d str, v: &mut u16) -> Result<()> {
        self.visit_u16(n, v)
    }
    #[inline]
    fn visit_u32_equal(&mut self, n: &'d str, v: &mut u32) -> Result<()> {
        self.visit_u32(n, v)
    }
    #[inline]
    fn visit_u64_equal(&mut self, n: &'d str, v: &mut u64) -> Result<()> {
        self.visit_u64(n, v)
    }
    #[inline]
    fn visit_i32_equal(&mut self, n: &'d str, v: &mut i32) -> Result<()> {
        self.visit_i32(n, v)
    }
    #[inline]
    fn visit_i32_le(&mut self, n: &'d str, v: &mut i32) -> Result<()> {
        self.visit_i32(n, v)
    }
    #[inline]
    fn visit_buffer(&mut self, _: &'d str, bytes: &mut [u8]) -> Result<()> {
        Ok(self.out.put_bytes(bytes)?)
    }
    #[inline]
    fn visit_unused(&mut self, _: &'d str, len: usize) -> Result<()> {
        Ok(self.out.put_zeros(len)?)
    }
    #[inline]
    fn visit_bitmap_word(&mut self, _: &'d str, word: &mut u64) -> Result<()> {
        self.put(word.to_be_bytes())
    }
    #[inline]
    fn visit_ptr_marker(&mut self, _: &'d str, present: &mut bool, _: bool) -> Result<()> {
        self.put([if *present {
            PTR_MARKER_VALID
        } else {
            PTR_MARKER_NULL
        }])
    }
    #[inline]
    fn visit_list_marker(&mut self, _: &'d str, more: &mut bool) -> Result<()> {
        self.put([u8::from(*more)])
    }
    #[inline]
    fn visit_u8_slice(&mut self, _: &'d str, items: &mut [u8]) -> Result<()> {
        Ok(self.out.put_bytes(items)?)
    }
    put_slice!(visit_u16_slice, u16, 2);
    put_slice!(visit_u32_slice, u32, 4);
    put_slice!(visit_u64_slice, u64, 8);
    put_slice!(visit_i32_slice, i32, 4);

    #[inline]
    fn enter_subsection(&mut self, description: &'d Description<'d>) -> Result<()> {
        // `05`, the counted name, be32 version: one write of the whole header.
        let name = description.name.as_bytes();
        let n = name.len();
        if n > MAX_COUNTED_STRING {
            self.out.put_u8(SUBSECTION)?;
            return Ok(self.out.put_counted_string(name)?);
        }
        let mut header = [0u8; 2 + MAX_COUNTED_STRING + 4];
        header[0] = SUBSECTION;
        // At most 255: checked above.
        header[1] = n as u8;
        header[2..2 + n].copy_from_slice(name);
        header[2 + n..6 + n].copy_from_slice(&description.version_id.to_be_bytes());
        Ok(self.out.put_bytes(&header[..6 + n])?)
    }

    fn wire_offset(&self) -> Option<u64> {
        Some(self.out.position())
    }

    fn locate(&self, error: crate::Error) -> crate::Error {
        error.at_offset(self.out.position())
    }
}
