//! The bytes of the format: tags, lengths, integers, and a strict reader of
//! one TLV (definite, minimal lengths; tag numbers up to 30).

use crate::{Error, ErrorKind, Result, WireType};

/// The tags of the format (`docs/ber-format.md` has the whole table).
///
/// Every tag is one identifier byte: class, constructed bit and a tag
/// number of at most 30 (no high-tag-number form).
pub mod tags {
    /// UNIVERSAL 1, BOOLEAN (header and record flags): `00` or `FF`.
    pub const BOOLEAN: u8 = 0x01;
    /// UNIVERSAL 2, INTEGER (versions, counts): minimal two's complement.
    pub const INTEGER: u8 = 0x02;
    /// UNIVERSAL 4, OCTET STRING: a `buffer`, raw bytes of a record.
    pub const OCTET_STRING: u8 = 0x04;
    /// UNIVERSAL 12, UTF8String: names.
    pub const UTF8_STRING: u8 = 0x0c;
    /// UNIVERSAL 16, SEQUENCE (constructed): lists in the header.
    pub const SEQUENCE: u8 = 0x30;
    /// [APPLICATION 0] (constructed): the header, first in every document.
    pub const HEADER: u8 = 0x60;
    /// [APPLICATION 1] (constructed): a struct: name, version, fields,
    /// subsections.
    pub const STRUCT: u8 = 0x61;
    /// [APPLICATION 2] (constructed): a field: name, values.
    pub const FIELD: u8 = 0x62;
    /// [APPLICATION 3] (constructed): an array of packed runs and elements.
    pub const ARRAY: u8 = 0x63;
    /// [APPLICATION 4] (constructed): a subsection: as a struct.
    pub const SUBSECTION: u8 = 0x64;
    /// [APPLICATION 5] (constructed): one array element: its values.
    pub const ELEMENT: u8 = 0x65;
    /// [APPLICATION 6] (constructed): a value known by type name and size:
    /// type name, OCTET STRING.
    pub const OPAQUE: u8 = 0x66;
    /// [APPLICATION 10] (constructed): a stream's device section.
    pub const SECTION: u8 = 0x6a;
    /// [APPLICATION 11] (constructed): verbatim bytes of a stream.
    pub const RAW: u8 = 0x6b;
    /// [APPLICATION 12] (constructed): the stream's vmdesc trailer, whose
    /// JSON is the header's.
    pub const VMDESC_TRAILER: u8 = 0x6c;
    /// [APPLICATION 13] (constructed): the header of an iterative section
    /// (RAM and others).
    pub const ITERATIVE: u8 = 0x6d;
    /// [PRIVATE n] (primitive): one scalar of wire type `n`
    /// ([`Code`](super::Code)).
    pub const fn scalar(code: u8) -> u8 {
        0xc0 | code
    }
    /// [CONTEXT n] (primitive): a packed run of scalars of wire type `n`.
    pub const fn packed(code: u8) -> u8 {
        0x80 | code
    }
}

/// The wire type of a scalar, the tag number of its TLVs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// `bool`: `00` or `01`.
    Bool = 1,
    /// `int8`.
    I8 = 2,
    /// `int16`.
    I16 = 3,
    /// `int32`.
    I32 = 4,
    /// `int64`.
    I64 = 5,
    /// `uint8`.
    U8 = 6,
    /// `uint16`.
    U16 = 7,
    /// `uint32`.
    U32 = 8,
    /// `uint64`.
    U64 = 9,
    /// `uint8 equal`.
    U8Equal = 10,
    /// `uint16 equal`.
    U16Equal = 11,
    /// `uint32 equal`.
    U32Equal = 12,
    /// `int64 equal` (QEMU's 64-bit unsigned equal type).
    U64Equal = 13,
    /// `int32 equal`.
    I32Equal = 14,
    /// `int32 le`.
    I32Le = 15,
    /// `CPU_Double_U`: the IEEE bits.
    F64 = 16,
    /// `timer`: expiry, -1 when not armed.
    Timer = 17,
    /// A pointer marker: `00` NULL, `01` present.
    PtrMarker = 18,
    /// `unused_buffer`: the byte count (minimal unsigned), no data.
    Unused = 19,
    /// One word of a `bitmap`.
    BitmapWord = 20,
}

impl Code {
    /// The code of tag number `n`.
    pub fn from_number(n: u8) -> Option<Code> {
        use Code::*;
        Some(match n {
            1 => Bool,
            2 => I8,
            3 => I16,
            4 => I32,
            5 => I64,
            6 => U8,
            7 => U16,
            8 => U32,
            9 => U64,
            10 => U8Equal,
            11 => U16Equal,
            12 => U32Equal,
            13 => U64Equal,
            14 => I32Equal,
            15 => I32Le,
            16 => F64,
            17 => Timer,
            18 => PtrMarker,
            19 => Unused,
            20 => BitmapWord,
            _ => return None,
        })
    }

    /// Content bytes of one value (`Unused` has a variable count instead).
    pub const fn width(self) -> usize {
        use Code::*;
        match self {
            Bool | I8 | U8 | U8Equal | PtrMarker => 1,
            I16 | U16 | U16Equal => 2,
            I32 | U32 | U32Equal | I32Equal | I32Le => 4,
            I64 | U64 | U64Equal | F64 | Timer | BitmapWord => 8,
            Unused => 0,
        }
    }

    /// QEMU's name of the wire type.
    pub const fn name(self) -> &'static str {
        use Code::*;
        match self {
            Bool => "bool",
            I8 => "int8",
            I16 => "int16",
            I32 => "int32",
            I64 => "int64",
            U8 => "uint8",
            U16 => "uint16",
            U32 => "uint32",
            U64 => "uint64",
            U8Equal => "uint8 equal",
            U16Equal => "uint16 equal",
            U32Equal => "uint32 equal",
            U64Equal => "int64 equal",
            I32Equal => "int32 equal",
            I32Le => "int32 le",
            F64 => "CPU_Double_U",
            Timer => "timer",
            PtrMarker => "ptr-marker",
            Unused => "unused_buffer",
            BitmapWord => "bitmap",
        }
    }

    /// True for the integer types, which load into one another when the
    /// value fits.
    pub const fn is_integer(self) -> bool {
        use Code::*;
        matches!(
            self,
            I8 | I16
                | I32
                | I64
                | U8
                | U16
                | U32
                | U64
                | U8Equal
                | U16Equal
                | U32Equal
                | U64Equal
                | I32Equal
                | I32Le
        )
    }

    /// True for the signed integer types.
    pub const fn is_signed(self) -> bool {
        use Code::*;
        matches!(self, I8 | I16 | I32 | I64 | I32Equal | I32Le)
    }

    /// The code of a fixed-size wire type.
    pub const fn of_wire(w: WireType) -> Option<Code> {
        Some(match w {
            WireType::Bool => Code::Bool,
            WireType::Int8 => Code::I8,
            WireType::Int16 => Code::I16,
            WireType::Int32 => Code::I32,
            WireType::Int64 => Code::I64,
            WireType::Uint8 => Code::U8,
            WireType::Uint16 => Code::U16,
            WireType::Uint32 => Code::U32,
            WireType::Uint64 => Code::U64,
            WireType::Uint8Equal => Code::U8Equal,
            WireType::Uint16Equal => Code::U16Equal,
            WireType::Uint32Equal => Code::U32Equal,
            WireType::Uint64Equal => Code::U64Equal,
            WireType::Int32Equal => Code::I32Equal,
            WireType::Int32Le => Code::I32Le,
            WireType::CpuDouble => Code::F64,
            WireType::Timer => Code::Timer,
            WireType::PtrMarker => Code::PtrMarker,
            _ => return None,
        })
    }
}

/// Bytes of a definite length field for `n` content bytes (DER: short form
/// below 128, else the fewest bytes).
#[inline]
pub const fn len_size(n: usize) -> usize {
    if n < 0x80 {
        1
    } else {
        1 + (usize::BITS as usize / 8 - (n.leading_zeros() as usize) / 8)
    }
}

/// Bytes of a whole TLV of `content` bytes.
#[inline]
pub const fn tlv_size(content: usize) -> usize {
    1 + len_size(content) + content
}

/// Writes a definite length.
#[inline]
pub fn put_len(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let k = len_size(n) - 1;
        out.push(0x80 | k as u8);
        out.extend_from_slice(&n.to_be_bytes()[8 - k..]);
    }
}

/// Writes the length `n` into `slot`, which is exactly `len_size(n)` bytes.
#[inline]
pub fn write_len_at(slot: &mut [u8], n: usize) {
    if n < 0x80 {
        slot[0] = n as u8;
    } else {
        let k = slot.len() - 1;
        slot[0] = 0x80 | k as u8;
        slot[1..].copy_from_slice(&n.to_be_bytes()[8 - k..]);
    }
}

/// Writes the identifier and the length of a TLV of `len` content bytes.
#[inline]
pub fn put_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    put_len(out, len);
}

/// Writes a whole primitive TLV.
#[inline]
pub fn put_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    put_header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// Bytes of the content of an INTEGER holding `v` (non-negative).
#[inline]
pub const fn uint_content_size(v: u64) -> usize {
    // One more byte when the top bit of the highest byte is set.
    let bits = 64 - v.leading_zeros() as usize;
    bits / 8 + 1
}

/// Writes an INTEGER TLV holding `v`.
pub fn put_integer(out: &mut Vec<u8>, v: u64) {
    let n = uint_content_size(v);
    out.push(tags::INTEGER);
    out.push(n as u8);
    let bytes = v.to_be_bytes();
    if n == 9 {
        out.push(0);
        out.extend_from_slice(&bytes);
    } else {
        out.extend_from_slice(&bytes[8 - n..]);
    }
}

/// The content of an `unused_buffer` count: minimal unsigned big-endian
/// (empty for 0).
pub fn unsigned_minimal(v: u64) -> ([u8; 8], usize) {
    let n = (64 - v.leading_zeros() as usize).div_ceil(8);
    (v.to_be_bytes(), n)
}

/// Writes a UTF8String TLV.
#[inline]
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_tlv(out, tags::UTF8_STRING, s.as_bytes());
}

/// One TLV found in the input: offsets into the buffer it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv {
    /// The identifier byte.
    pub tag: u8,
    /// Offset of the identifier byte.
    pub start: usize,
    /// Offset of the first content byte.
    pub content: usize,
    /// Offset just past the content.
    pub end: usize,
}

impl Tlv {
    /// Content bytes.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.end - self.content
    }
}

/// A malformed-input error at `offset` (of the whole input).
#[cold]
pub fn malformed(offset: u64, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Malformed(message.into())).at_offset(offset)
}

/// What follows an identifier byte: the header of a TLV, as it can be read
/// from the first bytes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The identifier byte.
    pub tag: u8,
    /// Bytes of identifier and length.
    pub header: usize,
    /// Content bytes.
    pub len: u64,
}

/// Parses the identifier and length at the start of `bytes` strictly: one
/// identifier byte (tag number at most 30), a definite length in its
/// shortest form. `base` is the offset of `bytes[0]` for errors. `Ok(None)`
/// when `bytes` is too short to hold the header.
pub fn read_head(bytes: &[u8], base: u64) -> Result<Option<Head>> {
    let Some(&tag) = bytes.first() else {
        return Ok(None);
    };
    if tag & 0x1f == 0x1f {
        return Err(malformed(
            base,
            format!("identifier {tag:#04x}: tag numbers above 30 are not used by this format"),
        ));
    }
    let Some(&first) = bytes.get(1) else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some(Head {
            tag,
            header: 2,
            len: u64::from(first),
        }));
    }
    if first == 0x80 {
        return Err(malformed(
            base + 1,
            "indefinite length: this format uses definite lengths only",
        ));
    }
    let k = usize::from(first & 0x7f);
    if k > 8 {
        return Err(malformed(
            base + 1,
            format!("a length of {k} bytes does not fit 64 bits"),
        ));
    }
    let Some(digits) = bytes.get(2..2 + k) else {
        return Ok(None);
    };
    if digits[0] == 0 {
        return Err(malformed(
            base + 1,
            "length with a leading zero byte: not the shortest form (DER)",
        ));
    }
    let mut len = 0u64;
    for &d in digits {
        len = (len << 8) | u64::from(d);
    }
    if len < 0x80 {
        return Err(malformed(
            base + 1,
            format!("length {len} in the long form: not the shortest form (DER)"),
        ));
    }
    Ok(Some(Head {
        tag,
        header: 2 + k,
        len,
    }))
}

/// Reads the TLV at `at` of `buf`, which must end by `end`. `base` is the
/// offset of `buf[0]` in the whole input.
#[inline]
pub fn read_tlv(buf: &[u8], at: usize, end: usize, base: u64) -> Result<Tlv> {
    let window = &buf[at.min(end)..end];
    let offset = base + at as u64;
    // The common case: a short length.
    if let [tag, len, ..] = *window {
        if len < 0x80 && tag & 0x1f != 0x1f {
            let content = at + 2;
            let stop = content + usize::from(len);
            if stop <= end {
                return Ok(Tlv {
                    tag,
                    start: at,
                    content,
                    end: stop,
                });
            }
        }
    }
    let head = read_head(window, offset)?.ok_or_else(|| {
        malformed(
            offset,
            "the input ends inside the identifier or length of a TLV",
        )
    })?;
    let content = at + head.header;
    let available = (end - content) as u64;
    if head.len > available {
        return Err(malformed(
            offset,
            format!(
                "a TLV of {} content bytes where only {available} remain in what holds it",
                head.len
            ),
        ));
    }
    Ok(Tlv {
        tag: head.tag,
        start: at,
        content,
        end: content + head.len as usize,
    })
}

/// The value of an INTEGER's content (non-negative, minimal, at most 64 bits).
pub fn read_uint(content: &[u8], offset: u64) -> Result<u64> {
    match content {
        [] => Err(malformed(offset, "an INTEGER with no content")),
        [b, ..] if b & 0x80 != 0 => Err(malformed(offset, "a negative INTEGER")),
        [0, next, ..] if next & 0x80 == 0 => {
            Err(malformed(offset, "an INTEGER with a needless leading zero"))
        }
        _ if content.len() > 9 || (content.len() == 9 && content[0] != 0) => {
            Err(malformed(offset, "an INTEGER above 2^64 - 1"))
        }
        _ => Ok(content
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))),
    }
}

/// The value of an `unused_buffer` count (minimal unsigned).
pub fn read_unsigned_minimal(content: &[u8], offset: u64) -> Result<u64> {
    if content.len() > 8 || content.first() == Some(&0) {
        return Err(malformed(
            offset,
            "an unused_buffer count that is not minimal unsigned",
        ));
    }
    Ok(content
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// The value of a scalar's content as an integer (integer types, bool,
/// pointer markers), two's complement for the signed types.
#[inline]
pub fn int_value(code: Code, content: &[u8]) -> i128 {
    let mut b = [0u8; 8];
    b[8 - content.len()..].copy_from_slice(content);
    let raw = u64::from_be_bytes(b);
    if code.is_signed() {
        let shift = 64 - 8 * content.len() as u32;
        i128::from(((raw << shift) as i64) >> shift)
    } else {
        i128::from(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_shortest_form() {
        for n in [
            0usize,
            1,
            127,
            128,
            255,
            256,
            65535,
            65536,
            1 << 24,
            usize::MAX >> 1,
        ] {
            let mut v = Vec::new();
            put_len(&mut v, n);
            assert_eq!(v.len(), len_size(n), "{n}");
            let mut t = vec![0x04];
            t.extend_from_slice(&v);
            let head = read_head(&t, 0).ok().flatten();
            assert_eq!(
                head.map(|h| (h.header, h.len)),
                Some((1 + v.len(), n as u64))
            );
        }
        // Non-minimal and indefinite lengths are refused.
        for bad in [
            &[0x04u8, 0x81, 0x05][..],
            &[0x04, 0x82, 0x00, 0x80],
            &[0x30, 0x80],
        ] {
            assert!(read_head(bad, 0).is_err(), "{bad:02x?}");
        }
        assert!(read_head(&[0x1f, 0x01], 0).is_err());
    }

    #[test]
    fn integers_are_minimal_twos_complement() {
        for (v, want) in [
            (0u64, &[0x02u8, 1, 0][..]),
            (127, &[0x02, 1, 0x7f]),
            (128, &[0x02, 2, 0, 0x80]),
            (256, &[0x02, 2, 1, 0]),
            (
                u64::MAX,
                &[0x02, 9, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
        ] {
            let mut out = Vec::new();
            put_integer(&mut out, v);
            assert_eq!(out, want);
            assert_eq!(read_uint(&out[2..], 0).ok(), Some(v));
        }
        assert!(read_uint(&[0, 1], 0).is_err());
        assert!(read_uint(&[0x80], 0).is_err());
        assert!(read_uint(&[], 0).is_err());
    }

    #[test]
    fn signed_values() {
        assert_eq!(int_value(Code::I16, &[0xff, 0xfe]), -2);
        assert_eq!(int_value(Code::U16, &[0xff, 0xfe]), 0xfffe);
        assert_eq!(
            int_value(Code::I64, &[0x80, 0, 0, 0, 0, 0, 0, 0]),
            i128::from(i64::MIN)
        );
    }
}
