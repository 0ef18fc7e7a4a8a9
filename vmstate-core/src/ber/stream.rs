//! Whole migration streams in BER, and back byte for byte.
//!
//! [`to_ber`] reads a QEMU stream with the [`StreamDecoder`]: every device
//! section becomes a [`SECTION`](super::tags::SECTION) record holding its
//! header and its state as a BER struct (decoded with the stream's vmdesc,
//! so it is self-describing); the header of every iterative section
//! (RAM, `spapr/htab`, `s390-storage_attributes`, `dirty-bitmap`, ...) an
//! [`ITERATIVE`](super::tags::ITERATIVE) record; everything else (the
//! stream's header and configuration, the RAM, hash table, storage
//! attribute and dirty bitmap records with their data, section footers,
//! commands, EOF) is carried verbatim in [`RAW`](super::tags::RAW) records
//! named after what they hold. The vmdesc is in the document's header, so
//! that a reader has every description before the first section.
//!
//! [`to_qemu`] writes the stream back: every device section's state is
//! loaded from BER into the vmdesc's description (by name, as any BER
//! load) and written by the QEMUFile output visitor, the rest copied. For
//! every stream QEMU writes, the result is the original stream.
//!
//! Both read and write one record at a time: memory is bounded by the
//! largest device section (and the [`Limits`]), not by the stream; RAM
//! data is copied through.

use qemufile::stream::{EOF, SECTION_FOOTER, SectionHeader, SectionKind, VMDESCRIPTION, Vmdesc};
use qemufile::{QemuRead, QemuWrite};

use super::tlv::{malformed, put_integer, put_len, put_str, read_head, read_tlv, read_uint, tags};
use super::{BerOptions, DocumentKind, Header, HeaderEntry, load_walk, save_walk};
use crate::dynamic::{DescriptionArena, DynamicState};
use crate::state::owned;
use crate::stream::{Event, StreamDecoder, StreamSchema, section_root};
use crate::{Error, Limit, Limits, OutputVisitor, PathSegment, Result, visit_struct_at};

/// A reader that keeps a copy of what it consumes while `on`.
#[derive(Debug)]
struct Tee<R> {
    inner: R,
    on: bool,
    copy: Vec<u8>,
}

impl<R: QemuRead> QemuRead for Tee<R> {
    fn position(&self) -> u64 {
        self.inner.position()
    }
    fn read_into(&mut self, buf: &mut [u8]) -> qemufile::Result<()> {
        self.inner.read_into(buf)?;
        if self.on {
            self.copy.extend_from_slice(buf);
        }
        Ok(())
    }
    fn skip(&mut self, n: u64) -> qemufile::Result<()> {
        if !self.on {
            return self.inner.skip(n);
        }
        let mut left = n;
        let mut buf = [0u8; 8192];
        while left > 0 {
            let k = left.min(buf.len() as u64) as usize;
            self.read_into(&mut buf[..k])?;
            left -= k as u64;
        }
        Ok(())
    }
    fn peek(&mut self, offset: usize, len: usize) -> qemufile::Result<&[u8]> {
        self.inner.peek(offset, len)
    }
}

/// The header of a stream document: the devices of `schema` and the
/// vmdesc `json` the schema was parsed from.
pub fn stream_header(schema: &StreamSchema<'_>, json: Option<&[u8]>) -> Header {
    Header {
        format_version: super::FORMAT_VERSION,
        kind: DocumentKind::Stream,
        descriptions: schema
            .devices()
            .iter()
            .map(|d| HeaderEntry {
                name: d.description.name.to_owned(),
                version: d.description.version_id,
                section: Some((d.idstr.clone(), d.instance_id)),
            })
            .collect(),
        vmdesc: json.map(<[u8]>::to_vec),
    }
}

/// The bytes QEMU writes for a section header.
fn section_header_bytes(h: &SectionHeader, out: &mut Vec<u8>) {
    out.push(h.kind.type_byte());
    out.extend_from_slice(&h.section_id.to_be_bytes());
    if h.kind.has_full_header() {
        let idstr = h.idstr.as_bytes();
        out.push(idstr.len() as u8);
        out.extend_from_slice(idstr);
        out.extend_from_slice(&h.instance_id.to_be_bytes());
        out.extend_from_slice(&h.version_id.to_be_bytes());
    }
}

/// A section header's fields as the content of a record.
fn put_section_header(h: &SectionHeader, out: &mut Vec<u8>) {
    put_integer(out, u64::from(h.kind.type_byte()));
    put_integer(out, u64::from(h.section_id));
    if h.kind.has_full_header() {
        let idstr = h.idstr.as_bytes();
        let tag = match std::str::from_utf8(idstr) {
            Ok(_) => tags::UTF8_STRING,
            Err(_) => tags::OCTET_STRING,
        };
        out.push(tag);
        put_len(out, idstr.len());
        out.extend_from_slice(idstr);
        put_integer(out, u64::from(h.instance_id));
        put_integer(out, u64::from(h.version_id));
    }
}

fn put_record<W: QemuWrite>(w: &mut W, tag: u8, content: &[u8]) -> Result<()> {
    let mut head = vec![tag];
    put_len(&mut head, content.len());
    w.put_bytes(&head)?;
    w.put_bytes(content)?;
    Ok(())
}

/// Writes the head of a RAW record named `what` whose bytes are `len` long;
/// the bytes follow.
fn put_raw_head<W: QemuWrite>(w: &mut W, what: &str, len: u64) -> Result<()> {
    let mut inner = Vec::new();
    put_str(&mut inner, what);
    inner.push(tags::OCTET_STRING);
    let len = usize::try_from(len).map_err(|_| Error::msg("a record beyond the address space"))?;
    put_len(&mut inner, len);
    let mut head = vec![tags::RAW];
    put_len(&mut head, inner.len() + len);
    head.extend_from_slice(&inner);
    w.put_bytes(&head)?;
    Ok(())
}

fn put_raw<W: QemuWrite>(w: &mut W, what: &str, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    put_raw_head(w, what, bytes.len() as u64)?;
    Ok(w.put_bytes(bytes)?)
}

/// Converts the QEMU stream `input` into a BER stream document written to
/// `out`. `schema` describes its device sections (the stream's own vmdesc,
/// or one given), `json` is the vmdesc text it was parsed from (carried in
/// the header). Calls `progress` with the input position now and then.
pub fn to_ber<R: QemuRead, W: QemuWrite>(
    input: R,
    schema: &StreamSchema<'_>,
    json: Option<&[u8]>,
    mut out: W,
    limits: Limits,
    mut progress: impl FnMut(u64),
) -> Result<W> {
    let tee = Tee {
        inner: input,
        on: true,
        copy: Vec::new(),
    };
    let mut dec = StreamDecoder::open_with_limits(tee, Some(schema), limits)?;
    let mut head = Vec::new();
    stream_header(schema, json).write(&mut head);
    out.put_bytes(&head)?;
    let start = std::mem::take(&mut dec.get_mut().copy);
    put_raw(&mut out, "stream-start", &start)?;
    let mut record = Vec::new();
    let mut regenerated = Vec::new();
    while let Some(event) = dec.next_event()? {
        let captured = std::mem::take(&mut dec.get_mut().copy);
        match event {
            Event::Section(h) => {
                regenerated.clear();
                section_header_bytes(&h, &mut regenerated);
                if regenerated != captured {
                    return Err(Error::msg(
                        "a section header QEMU's writer would not write this way",
                    )
                    .in_section(&h.idstr.to_string_lossy(), h.instance_id));
                }
                dec.get_mut().on = false;
                let mut state = dec.decode_section()?;
                dec.get_mut().on = true;
                record.clear();
                put_section_header(&h, &mut record);
                let footer = dec.options().send_section_footer;
                record.extend_from_slice(&[tags::BOOLEAN, 1, if footer { 0xff } else { 0 }]);
                save_walk(&mut state, &mut record).map_err(|e| {
                    e.within(PathSegment::Root(owned(&section_root(&h))))
                        .in_section(&h.idstr.to_string_lossy(), h.instance_id)
                })?;
                put_record(&mut out, tags::SECTION, &record)?;
                progress(dec.position());
            }
            Event::IterativeHeader(h) => {
                regenerated.clear();
                section_header_bytes(&h, &mut regenerated);
                if regenerated == captured {
                    record.clear();
                    put_section_header(&h, &mut record);
                    put_record(&mut out, tags::ITERATIVE, &record)?;
                } else {
                    put_raw(&mut out, "section-header", &captured)?;
                }
            }
            Event::Item(item) => {
                let what = match &item {
                    crate::stream::SectionItem::Ram(_) => "ram",
                    crate::stream::SectionItem::Htab(_) => "spapr/htab",
                    crate::stream::SectionItem::StorageAttributes(_) => "s390-storage_attributes",
                    crate::stream::SectionItem::DirtyBitmap(_) => "dirty-bitmap",
                    _ => "iterative",
                };
                let payload = dec.payload_remaining();
                put_raw_head(&mut out, what, captured.len() as u64 + payload)?;
                out.put_bytes(&captured)?;
                dec.get_mut().on = false;
                let copied = dec.copy_payload(&mut out)?;
                dec.get_mut().on = true;
                if copied != payload {
                    return Err(Error::msg("an item's payload was not as long as announced"));
                }
                progress(dec.position());
            }
            Event::IterativeEnd => put_raw(&mut out, "section-footer", &captured)?,
            Event::Command(_) => put_raw(&mut out, "command", &captured)?,
            Event::Eof(vmdesc) => {
                let trailer = match (&vmdesc, json) {
                    (Vmdesc::Present(j), Some(header)) if j[..] == header[..] => {
                        let mut t = vec![VMDESCRIPTION];
                        t.extend_from_slice(&(j.len() as u32).to_be_bytes());
                        t.extend_from_slice(j);
                        captured.ends_with(&t).then_some(t.len())
                    }
                    _ => None,
                };
                match trailer {
                    Some(n) => {
                        put_raw(&mut out, "eof", &captured[..captured.len() - n])?;
                        put_record(&mut out, tags::VMDESC_TRAILER, &[])?;
                    }
                    None => put_raw(&mut out, "eof", &captured)?,
                }
            }
        }
    }
    // Whatever follows the stream.
    let tee = dec.get_mut();
    tee.on = false;
    loop {
        let chunk = tee.inner.peek(0, qemufile::MAX_PEEK)?.to_vec();
        if chunk.is_empty() {
            break;
        }
        tee.inner.skip(chunk.len() as u64)?;
        put_raw(&mut out, "trailing", &chunk)?;
    }
    Ok(out)
}

/// Reads the identifier and length of the next record, consuming them;
/// `None` at the end of the input.
fn next_head<R: QemuRead>(r: &mut R) -> Result<Option<super::tlv::Head>> {
    let at = r.position();
    let window = r.peek(0, 10)?;
    if window.is_empty() {
        return Ok(None);
    }
    let head = read_head(window, at)?.ok_or_else(|| {
        malformed(
            at,
            "the input ends inside the identifier or length of a record",
        )
    })?;
    r.skip(head.header as u64)?;
    Ok(Some(head))
}

/// Reads `len` bytes of a record into memory, within `limits`.
fn read_record<R: QemuRead>(r: &mut R, len: u64, limits: &Limits, what: &str) -> Result<Vec<u8>> {
    let at = r.position();
    limits
        .check(Limit::MaxAllocation, len, || {
            format!("the BER record of {what}")
        })
        .map_err(|e| Error::from(e).at_offset(at))?;
    let mut buf = Vec::new();
    r.read_to_vec(&mut buf, len as usize)?;
    Ok(buf)
}

/// Converts the BER stream document `input` back into the QEMU stream it
/// was made from, written to `out`.
pub fn to_qemu<R: QemuRead, W: QemuWrite>(mut input: R, mut out: W, limits: Limits) -> Result<W> {
    let at = input.position();
    let head = next_head(&mut input)?
        .ok_or_else(|| malformed(at, "an empty input: no vmstate-ber header"))?;
    if head.tag != tags::HEADER {
        return Err(malformed(at, "not a vmstate BER document: no header first"));
    }
    let max = u64::from(limits.max_vmdesc_len).saturating_add(1 << 20);
    let content = read_record(
        &mut input,
        head.len,
        &Limits {
            max_allocation: max,
            ..limits
        },
        "the header",
    )?;
    let mut whole = vec![tags::HEADER];
    put_len(&mut whole, content.len());
    whole.extend_from_slice(&content);
    let (header, _) = Header::parse(&whole)?;
    if header.kind != DocumentKind::Stream {
        return Err(malformed(
            at,
            "this BER document is one state, not a stream: it has no QEMU stream to convert to",
        ));
    }
    let arena = DescriptionArena::with_limits(limits);
    let schema = match &header.vmdesc {
        Some(json) => Some(StreamSchema::parse(&arena, json)?),
        None => None,
    };
    let options = BerOptions {
        limits,
        ..BerOptions::default()
    };
    let mut body = Vec::new();
    loop {
        let at = input.position();
        let Some(head) = next_head(&mut input)? else {
            break;
        };
        match head.tag {
            tags::RAW => {
                // A name and the bytes, streamed.
                let start = input.position();
                let name = next_head(&mut input)?
                    .filter(|h| h.tag == tags::UTF8_STRING && h.len <= 255)
                    .ok_or_else(|| malformed(start, "a raw record starts with its name"))?;
                input.skip(name.len)?;
                let bytes_at = input.position();
                let bytes = next_head(&mut input)?
                    .filter(|h| h.tag == tags::OCTET_STRING)
                    .ok_or_else(|| malformed(bytes_at, "a raw record's bytes (OCTET STRING)"))?;
                let used = input.position() - start + bytes.len;
                if used != head.len {
                    return Err(malformed(
                        at,
                        "a raw record holds more than its name and bytes",
                    ));
                }
                copy(&mut input, &mut out, bytes.len)?;
            }
            tags::ITERATIVE => {
                let record = read_record(&mut input, head.len, &limits, "a section header")?;
                let base = at + 1 + head_len_size(head.len);
                let (h, rest) = parse_section_header(&record, base)?;
                if rest != record.len() {
                    return Err(malformed(base + rest as u64, "more after a section header"));
                }
                body.clear();
                section_header_bytes(&h, &mut body);
                out.put_bytes(&body)?;
            }
            tags::SECTION => {
                let record = read_record(&mut input, head.len, &limits, "a device section")?;
                let base = at + 1 + head_len_size(head.len);
                let (h, rest) = parse_section_header(&record, base)?;
                let flag = read_tlv(&record, rest, record.len(), base)?;
                if flag.tag != tags::BOOLEAN || flag.end - flag.content != 1 {
                    return Err(malformed(
                        base + flag.start as u64,
                        "a section's footer flag (BOOLEAN)",
                    ));
                }
                let footer = record[flag.content] != 0;
                let state_tlv = &record[flag.end..];
                let idstr = h.idstr.to_string_lossy();
                let in_section = |e: Error| e.in_section(&idstr, h.instance_id);
                let device = schema
                    .as_ref()
                    .and_then(|s| s.device(&idstr, h.instance_id))
                    .ok_or_else(|| {
                        in_section(malformed(
                            at,
                            format!(
                                "section {idstr} instance {} is not in the header's vmdesc",
                                h.instance_id
                            ),
                        ))
                    })?;
                let d = device.description;
                let mut state = DynamicState::new(d).map_err(in_section)?;
                load_walk(&mut state, state_tlv, base + flag.end as u64, &options).map_err(
                    |e| in_section(e.within(PathSegment::Root(owned(&section_root(&h))))),
                )?;
                body.clear();
                section_header_bytes(&h, &mut body);
                let mut v = OutputVisitor::new(&mut body);
                visit_struct_at(&mut state, &mut v, d.name, d.version_id).map_err(in_section)?;
                if footer {
                    body.push(SECTION_FOOTER);
                    body.extend_from_slice(&h.section_id.to_be_bytes());
                }
                out.put_bytes(&body)?;
            }
            tags::VMDESC_TRAILER => {
                if head.len != 0 {
                    return Err(malformed(at, "a vmdesc trailer record is empty"));
                }
                let json = header.vmdesc.as_deref().ok_or_else(|| {
                    malformed(at, "a vmdesc trailer, but the header has no vmdesc")
                })?;
                out.put_u8(VMDESCRIPTION)?;
                out.put_bytes(&(json.len() as u32).to_be_bytes())?;
                out.put_bytes(json)?;
            }
            other => {
                return Err(malformed(
                    at,
                    format!("unknown record {other:#04x} in a stream document"),
                ));
            }
        }
    }
    let _ = EOF;
    Ok(out)
}

fn head_len_size(len: u64) -> u64 {
    super::tlv::len_size(usize::try_from(len).unwrap_or(usize::MAX)) as u64
}

fn copy<R: QemuRead, W: QemuWrite>(r: &mut R, w: &mut W, mut n: u64) -> Result<()> {
    let mut buf = [0u8; 8192];
    while n > 0 {
        let k = n.min(buf.len() as u64) as usize;
        r.read_into(&mut buf[..k])?;
        w.put_bytes(&buf[..k])?;
        n -= k as u64;
    }
    Ok(())
}

/// Parses the section header fields at the start of a record's content;
/// returns the header and where the rest begins.
fn parse_section_header(record: &[u8], base: u64) -> Result<(SectionHeader, usize)> {
    let end = record.len();
    let number = |t: &super::tlv::Tlv| -> Result<u64> {
        if t.tag != tags::INTEGER {
            return Err(malformed(
                base + t.start as u64,
                "a section header number (INTEGER)",
            ));
        }
        read_uint(&record[t.content..t.end], base + t.content as u64)
    };
    let u32_of = |t: &super::tlv::Tlv| -> Result<u32> {
        u32::try_from(number(t)?)
            .map_err(|_| malformed(base + t.start as u64, "a number above 2^32 - 1"))
    };
    let kind_tlv = read_tlv(record, 0, end, base)?;
    let kind = u8::try_from(number(&kind_tlv)?)
        .ok()
        .and_then(SectionKind::from_type_byte)
        .ok_or_else(|| malformed(base, "unknown section type"))?;
    let id_tlv = read_tlv(record, kind_tlv.end, end, base)?;
    let section_id = u32_of(&id_tlv)?;
    let mut at = id_tlv.end;
    let (idstr, instance_id, version_id) = if kind.has_full_header() {
        let s = read_tlv(record, at, end, base)?;
        if s.tag != tags::UTF8_STRING && s.tag != tags::OCTET_STRING {
            return Err(malformed(base + s.start as u64, "a section's idstr"));
        }
        let idstr = qemufile::stream::IdStr::try_from(&record[s.content..s.end])
            .map_err(|k| Error::from(qemufile::Error::new(base + s.start as u64, k)))?;
        let i = read_tlv(record, s.end, end, base)?;
        let v = read_tlv(record, i.end, end, base)?;
        at = v.end;
        (idstr, u32_of(&i)?, u32_of(&v)?)
    } else {
        (qemufile::stream::IdStr::default(), 0, 0)
    };
    Ok((
        SectionHeader {
            kind,
            section_id,
            idstr,
            instance_id,
            version_id,
        },
        at,
    ))
}
