//! The QEMUFile input visitor: accepts exactly what QEMU's
//! `vmstate_load_vmsd` accepts, and says why when it does not.

use qemufile::QemuRead;
use qemufile::stream::{PTR_MARKER_NULL, PTR_MARKER_VALID, SUBSECTION};

use crate::{
    Description, Error, ErrorKind, IncomingSubsection, Limit, Limits, PathSegment, Result, Timer,
    Visitor, WireType,
};

/// Loads values from a QEMUFile byte stream.
///
/// Memory the input makes a load create (containers that grow by element,
/// buffers of a claimed length) is counted against [`Limits`]: one load may
/// create at most [`Limits::section_memory`] bytes, one container at most
/// [`Limits::max_allocation`].
#[derive(Debug)]
pub struct InputVisitor<R: QemuRead> {
    input: R,
    limits: Limits,
    allocated: u64,
}

impl<R: QemuRead> InputVisitor<R> {
    /// Reads from `input`, within the default [`Limits`].
    pub fn new(input: R) -> Self {
        Self::with_limits(input, Limits::DEFAULT)
    }

    /// Reads from `input`, within `limits`.
    pub fn with_limits(input: R, limits: Limits) -> Self {
        InputVisitor {
            input,
            limits,
            allocated: 0,
        }
    }

    /// Bytes of memory this load has created so far, as counted by
    /// [`Visitor::allocate`].
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// The underlying stream.
    pub fn into_inner(self) -> R {
        self.input
    }

    /// The underlying stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.input
    }

    #[inline]
    fn get<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.input.read_array::<N>()?)
    }

    /// A subsection header may follow (its first byte is `05`): the
    /// subsection of `parent` it announces, consumed, or `None` with nothing
    /// consumed.
    #[inline(always)]
    fn subsection_header<'d>(
        &mut self,
        parent: &'d Description<'d>,
    ) -> Result<Option<IncomingSubsection>> {
        match classify_header(self.input.ready(), parent) {
            Header::Ours {
                index,
                version_id,
                length,
            } => {
                self.input.skip(length)?;
                Ok(Some(IncomingSubsection { index, version_id }))
            }
            Header::NotOurs => Ok(None),
            Header::Unusual => {
                Ok(self
                    .unusual_subsection_header(parent)?
                    .map(|found| IncomingSubsection {
                        index: found.index as usize,
                        version_id: u32::from(found.version),
                    }))
            }
        }
    }

    /// [`subsection_header`](Self::subsection_header) when the header does
    /// not name one of `parent`'s subsections exactly: QEMU's rules for
    /// names that are not ours, cut short, or hold a NUL.
    ///
    /// It returns what it found in a value small enough for registers: the
    /// fast path's result then never goes through memory on its way to the
    /// walk, which would stall every load on a store-to-load forward.
    #[cold]
    #[inline(never)]
    fn unusual_subsection_header<'d>(
        &mut self,
        parent: &'d Description<'d>,
    ) -> Result<Option<Found>> {
        // Where the input ends inside what may be a subsection header: QEMU's
        // peek sets its sticky end-of-file error and the load fails. Here the
        // end of the input may also be the end of a body whose outer fields
        // (after a nested struct) or a caller's data (after the body) begin
        // with these bytes, so only a header that is ours whatever the
        // missing bytes are fails, at the read that runs out. (In a whole
        // stream, where a footer follows every body, the registry's reader
        // fails every peek that runs out, as QEMU does.)
        let Some(len) = self.input.peek_u8(1)? else {
            return Ok(None);
        };
        let len = usize::from(len);
        if len < parent.name.len() + 1 {
            return Ok(None);
        }
        let at = self.input.position();
        let name = self.input.peek(2, len)?;
        if name.len() != len {
            // QEMU decides "ours" by the first strlen(parent) bytes alone.
            let ours = name.get(..parent.name.len()) == Some(parent.name.as_bytes());
            if !ours {
                return Ok(None);
            }
            return Err(Error::from(qemufile::Error::new(
                at + 2,
                qemufile::ErrorKind::UnexpectedEof {
                    needed: len as u64,
                    available: name.len() as u64,
                },
            )));
        }
        // QEMU copies the name into a C string and compares with strncmp and
        // strcmp: a NUL byte ends it.
        let name = match name.iter().position(|&b| b == 0) {
            Some(nul) => &name[..nul],
            None => name,
        };
        if !name.starts_with(parent.name.as_bytes()) {
            return Ok(None);
        }
        let Some(index) = parent.subsection_index(name) else {
            let name = String::from_utf8_lossy(name).into_owned();
            return Err(Error::new(ErrorKind::UnknownSubsection {
                name,
                parent: parent.name.to_owned().into(),
            })
            .at_offset(at));
        };
        let index = u32::try_from(index)
            .map_err(|_| Error::msg("a description with more than 2^32 subsections"))?;
        self.input.skip(2 + len as u64)?;
        // The version is a be32 on the wire but QEMU keeps only its low byte.
        let [.., version] = self.input.get_be32()?.to_be_bytes();
        Ok(Some(Found { index, version }))
    }

    #[cold]
    fn not_equal(&self, at: u64, wire: WireType, loaded: u64, current: u64) -> Error {
        Error::new(ErrorKind::NotEqual {
            wire,
            loaded,
            current,
        })
        .at_offset(at)
    }
}

/// A subsection header found on the careful path: the subsection's index
/// in its parent and the low byte of its version.
struct Found {
    index: u32,
    version: u8,
}

/// What the bytes at hand say about a subsection header (`05`, the name's
/// length, the name, a be32 version) in `parent`.
enum Header {
    /// The whole header is at hand and names subsection `index` exactly; it
    /// is `length` bytes long.
    Ours {
        index: usize,
        version_id: u32,
        length: u64,
    },
    /// The whole name is at hand and does not start with the parent's:
    /// the subsection of an enclosing struct, or the bytes after the struct
    /// (a NUL only shortens a name, so a name that does not start with the
    /// parent's never does).
    NotOurs,
    /// Anything else (cut short, a NUL, a name that is not one of ours):
    /// the careful path decides by QEMU's rules.
    Unusual,
}

/// The common cases of a subsection header, decided from the bytes at hand
/// alone. A name that is exactly one of ours holds no NUL, so QEMU's
/// C-string reading of it agrees.
#[inline(always)]
fn classify_header(ahead: &[u8], parent: &Description<'_>) -> Header {
    let [_, len, rest @ ..] = ahead else {
        return Header::Unusual;
    };
    let len = usize::from(*len);
    let Some(name) = rest.get(..len) else {
        return Header::Unusual;
    };
    // QEMU takes a header as ours only when the name starts with the
    // parent's and is longer.
    let prefix = parent.name.as_bytes();
    if len <= prefix.len() || !short_eq(&name[..prefix.len()], prefix) {
        return Header::NotOurs;
    }
    let (Some(&version), Some(index)) = (
        rest.get(len + 3),
        parent
            .subsections
            .iter()
            .position(|sub| short_eq(sub.name.as_bytes(), name)),
    ) else {
        return Header::Unusual;
    };
    // The version is a be32 on the wire but QEMU keeps only its low byte.
    Header::Ours {
        index,
        version_id: u32::from(version),
        length: len as u64 + 6,
    }
}

/// `a == b` for the short names of subsections, without a call to
/// `memcmp`: whole words, the last one overlapping.
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n > 64 {
        return a == b;
    }
    if n < 8 {
        // Two overlapping half words, or the bytes of the shortest names.
        if n < 4 {
            return a.iter().zip(b).all(|(x, y)| x == y);
        }
        let half = |s: &[u8], at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&s[at..at + 4]);
            u32::from_ne_bytes(w)
        };
        return half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4);
    }
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// Turns a truncation inside a run of `size`-byte elements into an error at
/// the first element that could not be read, with that element's offset.
#[cold]
fn truncated_in_run(e: qemufile::Error, first_index: usize, size: usize) -> Error {
    match *e.kind() {
        qemufile::ErrorKind::UnexpectedEof { available, .. } => {
            let whole = available / size as u64;
            let at = e.offset() + whole * size as u64;
            let partial = qemufile::ErrorKind::UnexpectedEof {
                needed: size as u64,
                available: available % size as u64,
            };
            Error::from(qemufile::Error::new(at, partial))
                .within(PathSegment::Index(first_index + whole as usize))
        }
        _ => Error::from(e),
    }
}

macro_rules! get_slice {
    ($name:ident, $t:ty, $size:expr) => {
        #[inline]
        fn $name(&mut self, _name: &'d str, items: &mut [$t]) -> Result<()> {
            // Converted straight from the input where it is all at hand.
            let need = items.len() * $size;
            if let Some(src) = self.input.ready().get(..need) {
                for (x, b) in items.iter_mut().zip(src.chunks_exact($size)) {
                    let mut a = [0u8; $size];
                    a.copy_from_slice(b);
                    *x = <$t>::from_be_bytes(a);
                }
                return Ok(self.input.skip(need as u64)?);
            }
            const CHUNK: usize = 512;
            let mut buf = [0u8; CHUNK * $size];
            for (c, chunk) in items.chunks_mut(CHUNK).enumerate() {
                let bytes = &mut buf[..chunk.len() * $size];
                self.input
                    .read_into(bytes)
                    .map_err(|e| truncated_in_run(e, c * CHUNK, $size))?;
                for (x, src) in chunk.iter_mut().zip(bytes.chunks_exact($size)) {
                    let mut a = [0u8; $size];
                    a.copy_from_slice(src);
                    *x = <$t>::from_be_bytes(a);
                }
            }
            Ok(())
        }
    };
}

impl<'d, R: QemuRead> Visitor<'d> for InputVisitor<R> {
    const LOADING: bool = true;
    const PACKED_RUNS: bool = true;

    #[inline]
    fn take_packed(&mut self, _: std::ops::Range<usize>, bytes: &mut [u8]) -> Result<bool> {
        Ok(self.input.read_if_available(bytes)?)
    }

    #[inline]
    fn visit_bool(&mut self, _: &'d str, v: &mut bool) -> Result<()> {
        *v = self.get::<1>()?[0] != 0;
        Ok(())
    }
    #[inline]
    fn visit_i8(&mut self, _: &'d str, v: &mut i8) -> Result<()> {
        *v = i8::from_be_bytes(self.get()?);
        Ok(())
    }
    #[inline]
    fn visit_i16(&mut self, _: &'d str, v: &mut i16) -> Result<()> {
        *v = i16::from_be_bytes(self.get()?);
        Ok(())
    }
    #[inline]
    fn visit_i32(&mut self, _: &'d str, v: &mut i32) -> Result<()> {
        *v = i32::from_be_bytes(self.get()?);
        Ok(())
    }
    #[inline]
    fn visit_i64(&mut self, _: &'d str, v: &mut i64) -> Result<()> {
        *v = i64::from_be_bytes(self.get()?);
        Ok(())
    }
    #[inline]
    fn visit_u8(&mut self, _: &'d str, v: &mut u8) -> Result<()> {
        *v = self.get::<1>()?[0];
        Ok(())
    }
    #[inline]
    fn visit_u16(&mut self, _: &'d str, v: &mut u16) -> Result<()> {
        *v = u16::from_be_bytes(self.get()?);
        Ok(())
    }
    #[inline]
    fn visit_u32(&mut self, _: &'d str, v: &mut u32) -> Result<()> {
        *v = u32::from_be_bytes(self.get()?);
        Ok(())
    }
    #[inline]
    fn visit_u64(&mut self, _: &'d str, v: &mut u64) -> Result<()> {
        *v = u64::from_be_bytes(self.get()?);
        Ok(())
    }
    #[inline]
    fn visit_f64(&mut self, _: &'d str, v: &mut f64) -> Result<()> {
        *v = f64::from_bits(u64::from_be_bytes(self.get()?));
        Ok(())
    }
    #[inline]
    fn visit_timer(&mut self, _: &'d str, v: &mut Timer) -> Result<()> {
        *v = Timer::from_raw(i64::from_be_bytes(self.get()?));
        Ok(())
    }
    fn visit_u8_equal(&mut self, _: &'d str, v: &mut u8) -> Result<()> {
        let at = self.input.position();
        let loaded = self.get::<1>()?[0];
        if loaded != *v {
            return Err(self.not_equal(at, WireType::Uint8Equal, loaded.into(), (*v).into()));
        }
        Ok(())
    }
    fn visit_u16_equal(&mut self, _: &'d str, v: &mut u16) -> Result<()> {
        let at = self.input.position();
        let loaded = u16::from_be_bytes(self.get()?);
        if loaded != *v {
            return Err(self.not_equal(at, WireType::Uint16Equal, loaded.into(), (*v).into()));
        }
        Ok(())
    }
    fn visit_u32_equal(&mut self, _: &'d str, v: &mut u32) -> Result<()> {
        let at = self.input.position();
        let loaded = u32::from_be_bytes(self.get()?);
        if loaded != *v {
            return Err(self.not_equal(at, WireType::Uint32Equal, loaded.into(), (*v).into()));
        }
        Ok(())
    }
    fn visit_u64_equal(&mut self, _: &'d str, v: &mut u64) -> Result<()> {
        let at = self.input.position();
        let loaded = u64::from_be_bytes(self.get()?);
        if loaded != *v {
            return Err(self.not_equal(at, WireType::Uint64Equal, loaded, *v));
        }
        Ok(())
    }
    fn visit_i32_equal(&mut self, _: &'d str, v: &mut i32) -> Result<()> {
        let at = self.input.position();
        let loaded = i32::from_be_bytes(self.get()?);
        if loaded != *v {
            return Err(self.not_equal(
                at,
                WireType::Int32Equal,
                u64::from(loaded as u32),
                u64::from(*v as u32),
            ));
        }
        Ok(())
    }
    fn visit_i32_le(&mut self, _: &'d str, v: &mut i32) -> Result<()> {
        let at = self.input.position();
        let loaded = i32::from_be_bytes(self.get()?);
        if !(0..=*v).contains(&loaded) {
            return Err(Error::new(ErrorKind::NotLessOrEqual { loaded, max: *v }).at_offset(at));
        }
        *v = loaded;
        Ok(())
    }
    #[inline]
    fn visit_buffer(&mut self, _: &'d str, bytes: &mut [u8]) -> Result<()> {
        Ok(self.input.read_into(bytes)?)
    }
    fn visit_buffer_vec(&mut self, _: &'d str, bytes: &mut Vec<u8>, len: usize) -> Result<()> {
        let added = (len as u64).saturating_sub(bytes.len() as u64);
        self.allocate(added, len as u64)?;
        // Grows with the input: a hostile length cannot allocate more than
        // the stream holds.
        Ok(self.input.read_to_vec(bytes, len)?)
    }
    #[inline]
    fn visit_unused(&mut self, _: &'d str, len: usize) -> Result<()> {
        Ok(self.input.skip(len as u64)?)
    }
    #[inline]
    fn visit_bitmap_word(&mut self, _: &'d str, word: &mut u64) -> Result<()> {
        *word = u64::from_be_bytes(self.get()?);
        Ok(())
    }
    fn visit_ptr_marker(
        &mut self,
        _: &'d str,
        present: &mut bool,
        valid_allowed: bool,
    ) -> Result<()> {
        let at = self.input.position();
        match self.get::<1>()?[0] {
            PTR_MARKER_NULL => *present = false,
            PTR_MARKER_VALID if valid_allowed => *present = true,
            found => {
                return Err(Error::new(ErrorKind::PtrMarker {
                    found,
                    expected: if valid_allowed {
                        "0x30 (NULL) or 0x31 (present)"
                    } else {
                        "0x30, because this slot is NULL on the destination"
                    },
                })
                .at_offset(at));
            }
        }
        Ok(())
    }
    #[inline]
    fn visit_list_marker(&mut self, _: &'d str, more: &mut bool) -> Result<()> {
        *more = self.get::<1>()?[0] != 0;
        Ok(())
    }
    #[inline]
    fn visit_u8_slice(&mut self, _: &'d str, items: &mut [u8]) -> Result<()> {
        self.input
            .read_into(items)
            .map_err(|e| truncated_in_run(e, 0, 1))
    }
    get_slice!(visit_u16_slice, u16, 2);
    get_slice!(visit_u32_slice, u32, 4);
    get_slice!(visit_u64_slice, u64, 8);
    get_slice!(visit_i32_slice, i32, 4);

    #[inline(always)]
    fn next_subsection(
        &mut self,
        parent: &'d Description<'d>,
    ) -> Result<Option<IncomingSubsection>> {
        // QEMU's vmstate_subsection_load: peek, never consume what is not ours.
        if self.input.peek_u8(0)? != Some(SUBSECTION) {
            return Ok(None);
        }
        self.subsection_header(parent)
    }

    fn allocate(&mut self, added: u64, container: u64) -> Result<()> {
        let at = self.input.position();
        let total = self.allocated.saturating_add(added);
        let limits = &self.limits;
        limits
            .check(Limit::SectionMemory, total, || {
                "the state loaded so far".to_owned()
            })
            .and_then(|()| {
                limits.check(Limit::MaxAllocation, container, || {
                    "this field of the loaded state".to_owned()
                })
            })
            .map_err(|e| Error::from(e).at_offset(at))?;
        self.allocated = total;
        Ok(())
    }

    fn input_position(&self) -> Option<u64> {
        Some(self.input.position())
    }

    fn locate(&self, error: Error) -> Error {
        error.at_offset(self.input.position())
    }
}
