//! Iterative section bodies besides `ram` (`spapr/htab`,
//! `s390-storage_attributes`, `s390-skeys`, `dirty-bitmap`) and command
//! payloads: golden bytes laid out by hand from QEMU's save functions, round
//! trips, truncation at every byte, hostile counts, and real QEMU streams
//! when the fixtures are present.

use std::collections::HashMap;
use std::fmt::Debug;
use std::path::Path;

use qemufile::command_payload::{
    CommandPayload, DiscardRange, PING_PACKAGED_LOADED, PostcopyAdvise, RamDiscard,
};
use qemufile::dirty_bitmap::{
    self, BitmapData, DirtyBitmapReader, DirtyBitmapRecord, DirtyBitmapWriter,
};
use qemufile::htab::{self, HtabChunk, HtabItem, HtabReader, HtabWriter};
use qemufile::ram::{RamConfig, RamItem, RamKind, RamReader, RamWriter};
use qemufile::stattrib::{
    self, S390Body, StattribKind, StattribReader, StattribRecord, StattribWriter,
};
use qemufile::stream::{
    self, Command, IdStr, Item, SectionKind, StreamOptions, StreamReader, StreamWriter, Vmdesc,
};
use qemufile::{ErrorKind, QemuRead, QemuWrite, Reader, SliceReader};
use serde_json::Value;

fn name(s: &str) -> Option<IdStr> {
    Some(IdStr::try_from(s).unwrap())
}

fn be32(v: u32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn be64(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// An `io::Read` handing out one byte per call, to drive the buffered reader's refills.
struct Trickle<'a>(&'a [u8]);
impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
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

// ---------------------------------------------------------------------------
// One driver for the three body readers

/// A reader/writer pair for one body format.
trait Body: Clone {
    type Item: Debug + Clone + PartialEq;
    fn next<R: QemuRead>(&mut self, r: &mut R) -> qemufile::Result<Self::Item>;
    fn write<W: QemuWrite>(&self, w: &mut W, item: &Self::Item) -> qemufile::Result<()>;
    fn copy<R: QemuRead, W: QemuWrite>(&mut self, r: &mut R, w: &mut W) -> qemufile::Result<u64>;
    fn complete(&self) -> bool;
    fn pending(&self) -> u64;
}

#[derive(Clone)]
struct Htab(HtabReader);
impl Body for Htab {
    type Item = HtabItem;
    fn next<R: QemuRead>(&mut self, r: &mut R) -> qemufile::Result<HtabItem> {
        self.0.next_item(r)
    }
    fn write<W: QemuWrite>(&self, w: &mut W, item: &HtabItem) -> qemufile::Result<()> {
        HtabWriter::new().write_item(w, item)
    }
    fn copy<R: QemuRead, W: QemuWrite>(&mut self, r: &mut R, w: &mut W) -> qemufile::Result<u64> {
        self.0.copy_payload(r, w)
    }
    fn complete(&self) -> bool {
        self.0.body_complete()
    }
    fn pending(&self) -> u64 {
        self.0.payload_remaining()
    }
}

#[derive(Clone)]
struct S390(StattribReader);
impl Body for S390 {
    type Item = StattribRecord;
    fn next<R: QemuRead>(&mut self, r: &mut R) -> qemufile::Result<StattribRecord> {
        self.0.next_item(r)
    }
    fn write<W: QemuWrite>(&self, w: &mut W, item: &StattribRecord) -> qemufile::Result<()> {
        StattribWriter::new(self.0.body()).write_item(w, item)
    }
    fn copy<R: QemuRead, W: QemuWrite>(&mut self, r: &mut R, w: &mut W) -> qemufile::Result<u64> {
        self.0.copy_payload(r, w)
    }
    fn complete(&self) -> bool {
        self.0.body_complete()
    }
    fn pending(&self) -> u64 {
        self.0.payload_remaining()
    }
}

#[derive(Clone)]
struct Bitmaps(DirtyBitmapReader);
impl Body for Bitmaps {
    type Item = DirtyBitmapRecord;
    fn next<R: QemuRead>(&mut self, r: &mut R) -> qemufile::Result<DirtyBitmapRecord> {
        self.0.next_item(r)
    }
    fn write<W: QemuWrite>(&self, w: &mut W, item: &DirtyBitmapRecord) -> qemufile::Result<()> {
        DirtyBitmapWriter::new().write_item(w, item)
    }
    fn copy<R: QemuRead, W: QemuWrite>(&mut self, r: &mut R, w: &mut W) -> qemufile::Result<u64> {
        self.0.copy_payload(r, w)
    }
    fn complete(&self) -> bool {
        self.0.body_complete()
    }
    fn pending(&self) -> u64 {
        self.0.payload_remaining()
    }
}

/// Reads one body up to its end, writing every item and payload to `out`.
fn read_body<B: Body, R: QemuRead, W: QemuWrite>(
    b: &mut B,
    r: &mut R,
    out: &mut W,
) -> qemufile::Result<Vec<B::Item>> {
    let mut items = Vec::new();
    loop {
        let item = b.next(r)?;
        b.write(out, &item)?;
        b.copy(r, out)?;
        assert_eq!(b.pending(), 0);
        items.push(item);
        if b.complete() {
            return Ok(items);
        }
    }
}

/// Checks a sequence of bodies read with one reader (as the sections of a
/// stream are): the items are `expected`, reading and re-writing gives the
/// same bytes (over a slice and over a one-byte-per-read `io::Read`), and
/// every strict prefix of every body fails with end-of-input at an offset
/// inside the input, never a panic.
fn check_bodies<B: Body>(fresh: B, bodies: &[Vec<u8>], expected: &[Vec<B::Item>]) {
    assert_eq!(bodies.len(), expected.len());
    let all: Vec<u8> = bodies.concat();
    // Slice.
    let mut b = fresh.clone();
    let mut r = SliceReader::new(&all);
    let mut out = Vec::new();
    for (i, want) in expected.iter().enumerate() {
        let got = read_body(&mut b, &mut r, &mut out).unwrap_or_else(|e| panic!("body {i}: {e}"));
        assert_eq!(&got, want, "body {i}");
    }
    assert!(r.is_empty(), "bytes left after the last body");
    assert_eq!(out, all, "rewritten bytes differ");
    // Streaming.
    let mut b = fresh.clone();
    let mut r = Reader::new(Trickle(&all));
    let mut out = Vec::new();
    for want in expected {
        assert_eq!(&read_body(&mut b, &mut r, &mut out).unwrap(), want);
    }
    assert_eq!(out, all);
    // Truncated at every byte of every body.
    let mut start = 0;
    for (i, body) in bodies.iter().enumerate() {
        for cut in 0..body.len() {
            let input = &all[..start + cut];
            let mut b = fresh.clone();
            let mut r = SliceReader::new(input);
            for earlier in 0..i {
                read_body(&mut b, &mut r, &mut Vec::new())
                    .unwrap_or_else(|e| panic!("body {earlier} before cut: {e}"));
            }
            let e =
                read_body(&mut b, &mut r, &mut Vec::new()).expect_err("a truncated body must fail");
            assert!(e.is_eof(), "body {i} cut at {cut}: {e}");
            assert!(
                e.offset() <= input.len() as u64,
                "body {i} cut at {cut}: {e}"
            );
        }
        start += body.len();
    }
}

/// The first error reading `bytes` as one body with `b`.
fn body_err<B: Body>(mut b: B, bytes: &[u8]) -> qemufile::Error {
    read_body(&mut b, &mut SliceReader::new(bytes), &mut Vec::new())
        .expect_err("malformed body must fail")
}

/// `items` without payloads, except item `i` followed by `bytes` for each `(i, bytes)`.
fn with_payloads<'a, I: Clone>(items: &[I], payloads: &[(usize, &'a [u8])]) -> Vec<(I, &'a [u8])> {
    items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let p = payloads
                .iter()
                .find(|(j, _)| *j == i)
                .map_or(&[][..], |p| p.1);
            (it.clone(), p)
        })
        .collect()
}

/// Writes each item followed by its payload bytes and returns the bytes.
fn write_items<B: Body>(b: &B, items: &[(B::Item, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (it, payload) in items {
        b.write(&mut out, it).unwrap();
        out.put_bytes(payload).unwrap();
    }
    out
}

// ---------------------------------------------------------------------------
// spapr/htab

fn ptes(n: usize, seed: u8) -> Vec<u8> {
    (0..n * 16).map(|i| seed.wrapping_add(i as u8)).collect()
}

/// `htab_save_setup` with `htab_shift` 18: the be32 shift and nothing else.
fn htab_setup_body() -> Vec<u8> {
    vec![0, 0, 0, 18]
}

/// `htab_save_iterate` (TCG): be32 0, a first-pass chunk of valid entries,
/// a later-pass chunk of valid then invalid entries, a KVM-style run of
/// invalid entries only, a chunk at index 0 with one invalid entry (not the
/// end marker), then `htab_save_end_marker`.
fn htab_iterate_body() -> Vec<u8> {
    let mut b = be32(0);
    b.extend([0, 0, 0, 0, 0, 2, 0, 0]);
    b.extend(ptes(2, 0x80));
    b.extend([0, 0, 0, 0x40, 0, 1, 0, 3]);
    b.extend(ptes(1, 0x10));
    b.extend([0, 0, 0x01, 0, 0, 0, 0, 7]);
    b.extend([0, 0, 0, 0, 0, 0, 0, 1]);
    b.extend([0, 0, 0, 0, 0, 0, 0, 0]);
    b
}

fn htab_iterate_items() -> Vec<HtabItem> {
    let c = |index, n_valid, n_invalid| {
        HtabItem::Chunk(HtabChunk {
            index,
            n_valid,
            n_invalid,
        })
    };
    vec![
        HtabItem::Entries,
        c(0, 2, 0),
        c(0x40, 1, 3),
        c(0x100, 0, 7),
        c(0, 0, 1),
        HtabItem::End,
    ]
}

#[test]
fn htab_golden_and_roundtrip() {
    let writer = Htab(HtabReader::new());
    // The writer produces the hand-laid bytes.
    assert_eq!(
        write_items(
            &writer,
            &with_payloads(&[HtabItem::Size { shift: 18 }], &[])
        ),
        htab_setup_body()
    );
    let p1 = ptes(2, 0x80);
    let p2 = ptes(1, 0x10);
    assert_eq!(
        write_items(
            &writer,
            &with_payloads(&htab_iterate_items(), &[(1, &p1), (2, &p2)])
        ),
        htab_iterate_body()
    );
    // START (size), PART (chunks), then a body of -1 (the guest dropped its
    // HPT, as after a switch to radix), read with one reader.
    let no_hpt = vec![0xff, 0xff, 0xff, 0xff];
    check_bodies(
        Htab(HtabReader::new()),
        &[htab_setup_body(), htab_iterate_body(), no_hpt.clone()],
        &[
            vec![HtabItem::Size { shift: 18 }],
            htab_iterate_items(),
            vec![HtabItem::NoHpt],
        ],
    );
    // The shift is remembered.
    let mut r = HtabReader::new();
    assert!(r.body_complete());
    r.next_item(&mut SliceReader::new(&htab_setup_body()))
        .unwrap();
    assert_eq!(r.shift(), Some(18));
    assert!(r.body_complete());
}

#[test]
fn htab_payload_access() {
    let body = htab_iterate_body();
    let mut input = SliceReader::new(&body);
    let mut r = HtabReader::with_shift(18);
    assert_eq!(r.next_item(&mut input).unwrap(), HtabItem::Entries);
    let HtabItem::Chunk(c) = r.next_item(&mut input).unwrap() else {
        panic!()
    };
    assert_eq!(c.payload_len(), 32);
    assert_eq!(r.payload_remaining(), 32);
    let mut first = [0u8; 16];
    r.read_payload(&mut input, &mut first).unwrap();
    assert_eq!(first.to_vec(), ptes(1, 0x80));
    // more than is left is refused
    let mut big = [0u8; 17];
    let e = r.read_payload(&mut input, &mut big).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidState(_)));
    let mut rest = Vec::new();
    r.read_payload_to_vec(&mut input, &mut rest).unwrap();
    assert_eq!(rest, ptes(2, 0x80)[16..]);
    // The next chunk's payload is skipped by the following next_item.
    assert!(matches!(r.next_item(&mut input).unwrap(), HtabItem::Chunk(c) if c.index == 0x40));
    assert!(matches!(r.next_item(&mut input).unwrap(), HtabItem::Chunk(c) if c.index == 0x100));
    assert_eq!(r.payload_remaining(), 0);
}

#[test]
fn htab_bad_index_and_writer_refusals() {
    // Shift 10: 1 KiB, 64 entries. Entries 60..65 do not fit.
    let mut b = be32(10);
    let chunk_at = b.len() + 4;
    b.extend(be32(0));
    b.extend([0, 0, 0, 60, 0, 4, 0, 1]);
    let mut r = HtabReader::new();
    let mut input = SliceReader::new(&b);
    assert_eq!(
        r.next_item(&mut input).unwrap(),
        HtabItem::Size { shift: 10 }
    );
    assert_eq!(r.next_item(&mut input).unwrap(), HtabItem::Entries);
    let e = r.next_item(&mut input).unwrap_err();
    assert_eq!(e.offset(), chunk_at as u64);
    let msg = e.to_string();
    assert!(msg.contains("entries 60..65"), "{msg}");
    assert!(msg.contains("64 entries (htab_shift 10)"), "{msg}");
    assert!(msg.contains("bad index"), "{msg}");
    // 60..64 fits exactly.
    let mut ok = be32(10);
    ok.extend(be32(0));
    ok.extend([0, 0, 0, 60, 0, 4, 0, 0]);
    ok.extend(ptes(4, 0));
    ok.extend([0; 8]);
    let mut r = Htab(HtabReader::new());
    let mut input = SliceReader::new(&ok);
    read_body(&mut r, &mut input, &mut Vec::new()).unwrap();
    read_body(&mut r, &mut input, &mut Vec::new()).unwrap();
    // After -1 the loader has no table: any chunk is refused.
    let mut b = vec![0xff; 4];
    b.extend(be32(0));
    b.extend([0, 0, 0, 0, 0, 1, 0, 0]);
    let mut r = HtabReader::new();
    let mut input = SliceReader::new(&b);
    r.next_item(&mut input).unwrap();
    r.next_item(&mut input).unwrap();
    let e = r.next_item(&mut input).unwrap_err();
    assert!(e.to_string().contains("no hash page table"), "{e}");
    // Without a known size (a lone PART body) no bound is checked.
    let mut r = HtabReader::new();
    let mut input = SliceReader::new(&b[4..]);
    r.next_item(&mut input).unwrap();
    assert!(matches!(
        r.next_item(&mut input).unwrap(),
        HtabItem::Chunk(_)
    ));
    // Writer refusals: things that would read back as something else.
    let w = HtabWriter::new();
    for bad in [
        HtabItem::Size { shift: 0 },
        HtabItem::Size { shift: u32::MAX },
        HtabItem::Chunk(HtabChunk {
            index: 0,
            n_valid: 0,
            n_invalid: 0,
        }),
    ] {
        let e = w.write_item(&mut Vec::new(), &bad).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{bad:?}");
    }
}

#[test]
fn htab_hostile_counts() {
    // 65535 valid entries announced (1 MiB), 16 bytes present.
    let mut b = be32(0);
    b.extend([0, 0, 0, 0, 0xff, 0xff, 0, 0]);
    b.extend([0xaa; 16]);
    let mut r = HtabReader::new();
    let mut input = SliceReader::new(&b);
    r.next_item(&mut input).unwrap();
    r.next_item(&mut input).unwrap();
    assert_eq!(r.payload_remaining(), 65535 * 16);
    let mut v = Vec::new();
    let e = r.read_payload_to_vec(&mut input, &mut v).unwrap_err();
    assert!(e.is_eof());
    assert!(e.to_string().contains("1048560"), "{e}");
    // Skipping it fails at the end of the input, streaming too.
    let mut r = HtabReader::new();
    let mut input = Reader::new(&b[..]);
    r.next_item(&mut input).unwrap();
    r.next_item(&mut input).unwrap();
    assert!(r.next_item(&mut input).unwrap_err().is_eof());
    // The largest chunk there can be: with the largest table it fits (its
    // payload is missing), with a 1 MiB one it is refused before any payload
    // is read. (QEMU's 32-bit `index + n_valid + n_invalid` wraps here; the
    // reader sums in 64 bits.)
    let mut b = be32(46);
    b.extend(be32(0));
    b.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    let mut r = HtabReader::new();
    let mut input = SliceReader::new(&b);
    r.next_item(&mut input).unwrap();
    r.next_item(&mut input).unwrap();
    assert!(r.next_item(&mut input).is_ok());
    assert!(r.skip_payload(&mut input).unwrap_err().is_eof());
    let mut r = HtabReader::with_shift(20);
    let mut input = SliceReader::new(&b[4..]);
    r.next_item(&mut input).unwrap();
    assert!(!r.next_item(&mut input).unwrap_err().is_eof());
}

// ---------------------------------------------------------------------------
// s390-storage_attributes and s390-skeys

/// `cmma_save_setup`: EOS only.
fn stattrib_setup_body() -> Vec<u8> {
    be64(1)
}

/// `cmma_save(final = 0)`: a MORE record for gfn 0x100 (4 values), EOS.
fn stattrib_iterate_body() -> Vec<u8> {
    let mut b = be64(0x100 << 12 | 2);
    b.extend(be64(4));
    b.extend([0, 1, 0, 3]);
    b.extend(be64(1));
    b
}

/// `cmma_save(final = 1)`: a MORE record for gfn 0x2000 (2 values), DONE, EOS.
fn stattrib_complete_body() -> Vec<u8> {
    let mut b = be64(0x2000 << 12 | 2);
    b.extend(be64(2));
    b.extend([1, 1]);
    b.extend(be64(8));
    b.extend(be64(1));
    b
}

#[test]
fn stattrib_golden_and_roundtrip() {
    let w = S390(StattribReader::new(S390Body::StorageAttributes));
    assert_eq!(
        write_items(&w, &with_payloads(&[StattribRecord::eos()], &[])),
        stattrib_setup_body()
    );
    assert_eq!(
        write_items(
            &w,
            &with_payloads(
                &[StattribRecord::data(0x100 << 12, 4), StattribRecord::eos()],
                &[(0, &[0, 1, 0, 3])]
            )
        ),
        stattrib_iterate_body()
    );
    assert_eq!(
        write_items(
            &w,
            &with_payloads(
                &[
                    StattribRecord::data(0x2000 << 12, 2),
                    StattribRecord::done(),
                    StattribRecord::eos()
                ],
                &[(0, &[1, 1])]
            )
        ),
        stattrib_complete_body()
    );
    // An empty data record (QEMU never sends one, its loader takes it).
    let mut empty = be64(2);
    empty.extend(be64(0));
    empty.extend(be64(1));
    check_bodies(
        S390(StattribReader::new(S390Body::StorageAttributes)),
        &[
            stattrib_setup_body(),
            stattrib_iterate_body(),
            stattrib_complete_body(),
            empty,
        ],
        &[
            vec![StattribRecord::eos()],
            vec![StattribRecord::data(0x100000, 4), StattribRecord::eos()],
            vec![
                StattribRecord::data(0x2000000, 2),
                StattribRecord::done(),
                StattribRecord::eos(),
            ],
            vec![StattribRecord::data(0, 0), StattribRecord::eos()],
        ],
    );
    assert_eq!(StattribRecord::data(0x2000000, 2).gfn(), 0x2000);
    assert_eq!(
        S390Body::from_idstr(stattrib::SECTION_NAME.as_bytes()),
        Some(S390Body::StorageAttributes)
    );
    assert_eq!(
        S390Body::from_idstr(b"s390-skeys"),
        Some(S390Body::StorageKeys)
    );
}

/// `s390_storage_keys_save`: per memory range `start | SKEYS`, the page
/// count, one key per page; then EOS, or ERROR when the keys could not be read.
#[test]
fn skeys_golden_and_roundtrip() {
    let mut ok = be64(2);
    ok.extend(be64(3));
    ok.extend([0x06, 0x06, 0x16]);
    ok.extend(be64(0x1000_0000 | 2));
    ok.extend(be64(1));
    ok.extend([0x00]);
    ok.extend(be64(1));
    let mut failed = be64(2);
    failed.extend(be64(2));
    failed.extend([0, 0]);
    failed.extend(be64(4));
    let w = S390(StattribReader::new(S390Body::StorageKeys));
    let items = vec![
        StattribRecord::data(0, 3),
        StattribRecord::data(0x1000_0000, 1),
        StattribRecord::eos(),
    ];
    assert_eq!(
        write_items(&w, &with_payloads(&items, &[(0, &[6, 6, 0x16]), (1, &[0])])),
        ok
    );
    check_bodies(
        S390(StattribReader::new(S390Body::StorageKeys)),
        &[ok, failed],
        &[
            items,
            vec![StattribRecord::data(0, 2), StattribRecord::error()],
        ],
    );
    // DONE belongs to the storage attributes only.
    let e = StattribWriter::new(S390Body::StorageKeys)
        .write_item(&mut Vec::new(), &StattribRecord::done())
        .unwrap_err();
    assert!(e.to_string().contains("s390-skeys has no DONE"), "{e}");
    let e = body_err(S390(StattribReader::new(S390Body::StorageKeys)), &be64(8));
    assert!(
        e.to_string().contains("0x1 EOS, 0x2 SKEYS or 0x4 ERROR"),
        "{e}"
    );
}

#[test]
fn stattrib_bad_flags_and_addresses() {
    let fresh = || S390(StattribReader::new(S390Body::StorageAttributes));
    for (word, flags) in [
        (3u64, "0x3"),
        (0, "0x0"),
        (0x5010, "0x10"),
        (0xfff, "0xfff"),
    ] {
        let mut b = stattrib_setup_body();
        b.extend(be64(word));
        // The setup body ends at its EOS; read the next body.
        let mut r = fresh();
        let mut input = SliceReader::new(&b);
        read_body(&mut r, &mut input, &mut Vec::new()).unwrap();
        let e = read_body(&mut r, &mut input, &mut Vec::new()).unwrap_err();
        assert_eq!(e.offset(), 8, "{word:#x}");
        let msg = e.to_string();
        assert!(msg.contains(&format!("flag bits {flags},")), "{msg}");
        assert!(msg.contains("s390-storage_attributes"), "{msg}");
        assert!(msg.contains("Unexpected ... flag data"), "{msg}");
    }
    let e = StattribWriter::new(S390Body::StorageAttributes)
        .write_item(&mut Vec::new(), &StattribRecord::data(0x1001, 1))
        .unwrap_err();
    assert!(e.to_string().contains("not a multiple"), "{e}");
}

#[test]
fn stattrib_hostile_counts() {
    // A count beyond the address space is refused outright.
    let mut b = be64(0xffff_ffff_ffff_f000 | 2);
    b.extend(be64(2));
    let e = body_err(S390(StattribReader::new(S390Body::StorageAttributes)), &b);
    assert_eq!(e.offset(), 0);
    assert!(
        e.to_string().contains("beyond the 64-bit address space"),
        "{e}"
    );
    let mut b = be64(2);
    b.extend(be64(u64::MAX));
    assert!(!body_err(S390(StattribReader::new(S390Body::StorageKeys)), &b).is_eof());
    // A large count on a short input: reading the payload fails at the end
    // of the input without allocating the count.
    let mut b = be64(2);
    b.extend(be64(1 << 40));
    b.extend([7; 100]);
    let mut r = StattribReader::new(S390Body::StorageAttributes);
    let mut input = SliceReader::new(&b);
    r.next_item(&mut input).unwrap();
    let mut v = Vec::new();
    let e = r.read_payload_to_vec(&mut input, &mut v).unwrap_err();
    assert!(e.is_eof());
    assert_eq!(e.offset(), 16);
    assert!(v.capacity() <= 1 << 17, "allocated {}", v.capacity());
    // Streaming skip of the same.
    let mut r = StattribReader::new(S390Body::StorageKeys);
    let mut input = Reader::new(&b[..]);
    r.next_item(&mut input).unwrap();
    assert!(r.next_item(&mut input).unwrap_err().is_eof());
}

// ---------------------------------------------------------------------------
// dirty-bitmap

/// `dirty_bitmap_save_setup`: START for drive0/bitmap0 (node and bitmap
/// named), START for drive0/bitmap1 (node as before), EOS.
fn bitmap_setup_body() -> Vec<u8> {
    let mut b = vec![0x1c];
    b.extend(cstr("drive0"));
    b.extend(cstr("bitmap0"));
    b.extend(be32(65536));
    b.push(0x01);
    b.push(0x14);
    b.extend(cstr("bitmap1"));
    b.extend(be32(512));
    b.push(0x03);
    b.push(0x01);
    b
}

/// `dirty_bitmap_save_complete`: BITS with a 32-byte buffer for
/// drive0/bitmap0 (names again: the last record named bitmap1), BITS|ZEROES
/// for the next chunk, COMPLETE for bitmap0, COMPLETE for bitmap1, EOS.
fn bitmap_complete_body() -> Vec<u8> {
    let mut b = vec![0x4c];
    b.extend(cstr("drive0"));
    b.extend(cstr("bitmap0"));
    b.extend(be64(0));
    b.extend(be32(0x800));
    b.extend(be64(32));
    b.extend([0x5a; 32]);
    b.push(0x42);
    b.extend(be64(0x800));
    b.extend(be32(0x800));
    b.push(0x20);
    b.push(0x24);
    b.extend(cstr("bitmap1"));
    b.push(0x01);
    b
}

fn bitmap_setup_items() -> Vec<DirtyBitmapRecord> {
    vec![
        DirtyBitmapRecord::start(name("drive0"), name("bitmap0"), 65536, 1),
        DirtyBitmapRecord::start(None, name("bitmap1"), 512, 3),
        DirtyBitmapRecord::eos(),
    ]
}

fn bitmap_complete_items() -> Vec<DirtyBitmapRecord> {
    vec![
        DirtyBitmapRecord::bits(name("drive0"), name("bitmap0"), 0, 0x800, 32),
        DirtyBitmapRecord::zeroes(None, None, 0x800, 0x800),
        DirtyBitmapRecord::complete(None, None),
        DirtyBitmapRecord::complete(None, name("bitmap1")),
        DirtyBitmapRecord::eos(),
    ]
}

#[test]
fn dirty_bitmap_golden_and_roundtrip() {
    let w = Bitmaps(DirtyBitmapReader::new());
    assert_eq!(
        write_items(&w, &with_payloads(&bitmap_setup_items(), &[])),
        bitmap_setup_body()
    );
    assert_eq!(
        write_items(
            &w,
            &with_payloads(&bitmap_complete_items(), &[(0, &[0x5a; 32])])
        ),
        bitmap_complete_body()
    );
    // A PART in postcopy with nothing left: EOS only.
    check_bodies(
        Bitmaps(DirtyBitmapReader::new()),
        &[bitmap_setup_body(), vec![0x01], bitmap_complete_body()],
        &[
            bitmap_setup_items(),
            vec![DirtyBitmapRecord::eos()],
            bitmap_complete_items(),
        ],
    );
    // The reader tracks the names records refer to, across bodies.
    let all = [bitmap_setup_body(), bitmap_complete_body()].concat();
    let mut r = DirtyBitmapReader::new();
    let mut input = SliceReader::new(&all);
    let mut seen = Vec::new();
    while !input.is_empty() {
        let rec = r.next_item(&mut input).unwrap();
        seen.push((
            r.node().unwrap().to_string(),
            r.bitmap().unwrap().to_string(),
            rec.data,
        ));
    }
    assert_eq!(seen[1].1, "bitmap1");
    assert_eq!(seen[1].0, "drive0");
    assert_eq!(
        (seen[5].1.as_str(), seen[5].2),
        ("bitmap0", BitmapData::Complete)
    );
    assert_eq!(seen[6].1, "bitmap1");
}

/// The 2- and 4-byte flag forms, which QEMU reads but never writes. Its
/// loader keeps only the last byte read.
#[test]
fn dirty_bitmap_extended_flags() {
    assert_eq!(dirty_bitmap::flags_len(0x01), Some(1));
    assert_eq!(dirty_bitmap::flags_len(0x8001), Some(2));
    assert_eq!(dirty_bitmap::flags_len(0x8080_0001), Some(4));
    for bad in [
        0x80,
        0xff,
        0x0100,
        0x7fff,
        0x8080,
        0x1_0000,
        0x8000_0001,
        0x0080_0001,
    ] {
        assert_eq!(dirty_bitmap::flags_len(bad), None, "{bad:#x}");
        let rec = DirtyBitmapRecord {
            flags: bad,
            node: None,
            bitmap: None,
            data: BitmapData::None,
        };
        let e = DirtyBitmapWriter::new()
            .write_item(&mut Vec::new(), &rec)
            .unwrap_err();
        assert!(e.to_string().contains("cannot be encoded"), "{e}");
    }
    let rec = |flags, data| DirtyBitmapRecord {
        flags,
        node: None,
        bitmap: None,
        data,
    };
    // 4 bytes whose last is COMPLETE; 4 bytes whose last is BITS|ZEROES with
    // 0x80 set (meaningless in the last byte, kept); EOS in 2 bytes.
    let mut b = vec![0xc0, 0x80, 0xff, 0x20];
    b.extend([0x80, 0x80, 0x00, 0xc2]);
    b.extend(be64(7));
    b.extend(be32(1));
    b.extend([0x80, 0x01]);
    check_bodies(
        Bitmaps(DirtyBitmapReader::new()),
        &[b],
        &[vec![
            rec(0xc080_ff20, BitmapData::Complete),
            rec(
                0x8080_00c2,
                BitmapData::Zeroes {
                    start_sector: 7,
                    nr_sectors: 1,
                },
            ),
            rec(0x8001, BitmapData::None),
        ]],
    );
    assert_eq!(dirty_bitmap::effective_flags(0x8080_00c2), 0xc2);
}

#[test]
fn dirty_bitmap_errors() {
    // Empty node name: QEMU "Unable to read node alias string".
    let e = body_err(Bitmaps(DirtyBitmapReader::new()), &[0x18, 0]);
    assert!(matches!(e.kind(), ErrorKind::EmptyString));
    assert_eq!(e.offset(), 1);
    // The buffer bound: 10 KiB is taken, one byte more is not.
    let bits = |size: u64| {
        let mut b = vec![0x41];
        b.extend(be64(0));
        b.extend(be32(8));
        b.extend(be64(size));
        b
    };
    let mut ok = bits(dirty_bitmap::MAX_BUF_SIZE);
    ok.extend(vec![0xff; 10240]);
    check_bodies(
        Bitmaps(DirtyBitmapReader::new()),
        &[ok],
        &[vec![DirtyBitmapRecord {
            flags: 0x41,
            node: None,
            bitmap: None,
            data: BitmapData::Bits {
                start_sector: 0,
                nr_sectors: 8,
                buf_size: 10240,
            },
        }]],
    );
    for size in [10241, u64::MAX] {
        let e = body_err(Bitmaps(DirtyBitmapReader::new()), &bits(size));
        assert_eq!(e.offset(), 13);
        let msg = e.to_string();
        assert!(msg.contains("exceeds the 10240 bytes"), "{msg}");
        assert!(msg.contains("allocation request is too large"), "{msg}");
    }
    // Writer refusals.
    let w = DirtyBitmapWriter::new();
    let mut missing_name = DirtyBitmapRecord::complete(name("d"), None);
    missing_name.node = None;
    let mut wrong_data = DirtyBitmapRecord::complete(None, None);
    wrong_data.data = BitmapData::None;
    let empty_name = DirtyBitmapRecord::complete(name(""), None);
    let big = DirtyBitmapRecord::bits(None, None, 0, 1, 10241);
    for (rec, what) in [
        (missing_name, "names must be present"),
        (wrong_data, "does not match flags"),
        (big, "larger than the 10240"),
    ] {
        let e = w.write_item(&mut Vec::new(), &rec).unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
    }
    let e = w.write_item(&mut Vec::new(), &empty_name).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::EmptyString));
}

// ---------------------------------------------------------------------------
// Commands

/// Every command as `qemu_savevm_send_*` writes it (`08 | be16 cmd | be16
/// len | data`), with its decoded payload.
fn golden_commands() -> Vec<(Vec<u8>, CommandPayload)> {
    let item = |cmd: u16, data: Vec<u8>| {
        let mut v = vec![8];
        v.extend(cmd.to_be_bytes());
        v.extend((data.len() as u16).to_be_bytes());
        v.extend(data);
        v
    };
    let mut discard = vec![0, 6];
    discard.extend(b"pc.ram\0");
    discard.extend(be64(0x1000));
    discard.extend(be64(0x3000));
    discard.extend(be64(0x10_0000));
    discard.extend(be64(0x1000));
    // A 17-byte name: QEMU's "at least 20 bytes" check passes with no range.
    let mut discard_none = vec![0, 17];
    discard_none.extend(b"/rom@etc/table-lo\0");
    let advise = [be64(0x1000), be64(0x1000)].concat();
    vec![
        (item(1, vec![]), CommandPayload::OpenReturnPath),
        (item(2, be32(1)), CommandPayload::Ping(1)),
        (
            item(2, be32(PING_PACKAGED_LOADED)),
            CommandPayload::Ping(0x42),
        ),
        (
            item(3, advise),
            CommandPayload::PostcopyAdvise(Some(PostcopyAdvise {
                page_size_summary: 0x1000,
                target_page_size: 0x1000,
            })),
        ),
        (item(3, vec![]), CommandPayload::PostcopyAdvise(None)),
        (item(4, vec![]), CommandPayload::PostcopyListen),
        (item(5, vec![]), CommandPayload::PostcopyRun),
        (
            item(6, discard),
            CommandPayload::PostcopyRamDiscard(RamDiscard {
                block: name("pc.ram").unwrap(),
                ranges: vec![
                    DiscardRange {
                        start: 0x1000,
                        length: 0x3000,
                    },
                    DiscardRange {
                        start: 0x10_0000,
                        length: 0x1000,
                    },
                ],
            }),
        ),
        (
            item(6, discard_none),
            CommandPayload::PostcopyRamDiscard(RamDiscard {
                block: name("/rom@etc/table-lo").unwrap(),
                ranges: vec![],
            }),
        ),
        (
            item(7, be32(0x1234)),
            CommandPayload::Packaged { len: 0x1234 },
        ),
        (item(8, vec![]), CommandPayload::EnableColo),
        (item(9, vec![]), CommandPayload::PostcopyResume),
        (
            item(10, cstr("pc.ram")),
            CommandPayload::RecvBitmap {
                block: name("pc.ram").unwrap(),
            },
        ),
        (item(11, vec![]), CommandPayload::SwitchoverStart),
    ]
}

#[test]
fn commands_golden_and_roundtrip() {
    let opts = StreamOptions {
        send_configuration: false,
        ..StreamOptions::default()
    };
    let golden = golden_commands();
    // Write them all through the stream writer.
    let mut w = StreamWriter::new(Vec::new(), opts.clone());
    w.write_header().unwrap();
    for (bytes, p) in &golden {
        let cmd = p.encode().unwrap();
        assert_eq!(cmd.cmd, p.cmd());
        assert_eq!(cmd.data.len(), p.data_len());
        assert_eq!(Command::from_payload(p).unwrap(), cmd);
        let at = w.get_ref().len();
        w.write_command(&cmd).unwrap();
        assert_eq!(&w.get_ref()[at..], bytes.as_slice(), "{p:?}");
        if let CommandPayload::Packaged { len } = p {
            // The embedded stream follows the command: here a PING item.
            assert_eq!(*len, 0x1234);
        }
    }
    w.write_eof().unwrap();
    let stream_bytes = w.into_inner();
    // Read them back through the stream reader.
    let mut r = StreamReader::open(SliceReader::new(&stream_bytes), opts).unwrap();
    for (bytes, p) in &golden {
        let Item::Command(c) = r.next_item().unwrap() else {
            panic!("{p:?}")
        };
        let at = r.item_offset();
        assert_eq!(&stream_bytes[at as usize..r.position() as usize], bytes);
        assert_eq!(&c.payload(at + 5).unwrap(), p);
        assert_eq!(
            CommandPayload::parse(&c, at + 5).unwrap().encode().unwrap(),
            c
        );
    }
    assert!(matches!(r.next_item().unwrap(), Item::Eof));
}

/// Shortened and corrupted data: errors (never panics), with QEMU's reasons.
#[test]
fn command_payload_errors() {
    for (bytes, p) in golden_commands() {
        let data = &bytes[5..];
        for cut in 0..data.len() {
            let c = Command {
                cmd: p.cmd(),
                data: data[..cut].to_vec(),
            };
            match CommandPayload::parse(&c, 100) {
                Err(e) => assert!(e.offset() >= 98, "{e}"),
                // Shorter forms that are valid too (ADVISE without data,
                // a discard with fewer ranges) encode back to those bytes.
                Ok(q) => assert_eq!(q.encode().unwrap(), c, "{p:?} cut at {cut}"),
            }
        }
    }
    let parse = |cmd: u16, data: &[u8]| {
        CommandPayload::parse(
            &Command {
                cmd,
                data: data.to_vec(),
            },
            1000,
        )
    };
    let discard = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = vec![0, 6];
        d.extend(b"pc.ram\0");
        d.extend(be64(0));
        d.extend(be64(0x1000));
        f(&mut d);
        parse(6, &d).unwrap_err()
    };
    let e = discard(&|d| d[0] = 1);
    assert_eq!(e.offset(), 1000);
    assert!(e.to_string().contains("version 1"), "{e}");
    let e = discard(&|d| d[8] = b'!');
    assert_eq!(e.offset(), 1008);
    assert!(e.to_string().contains("not followed by a 0 byte"), "{e}");
    let e = discard(&|d| d.push(0));
    assert_eq!(e.offset(), 1009);
    assert!(
        e.to_string().contains("17 bytes, not a multiple of 16"),
        "{e}"
    );
    let e = discard(&|d| d[1] = 0);
    assert!(matches!(e.kind(), ErrorKind::EmptyString));
    assert_eq!(e.offset(), 1001);
    let e = discard(&|d| d[3] = 0);
    assert!(e.to_string().contains("NUL byte"), "{e}");
    assert_eq!(e.offset(), 1003);
    let e = discard(&|d| d[1] = 30);
    assert!(e.to_string().contains("runs past"), "{e}");
    let e = discard(&|d| d.truncate(19));
    assert!(e.to_string().contains("shorter than the 20"), "{e}");
    assert_eq!(e.offset(), 998);
    // RECV_BITMAP: the name must fill the data exactly.
    let e = parse(10, b"\x06pc.ram!").unwrap_err();
    assert!(e.to_string().contains("invalid payload length"), "{e}");
    let e = parse(10, b"\x00").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::EmptyString));
    // Fixed lengths and numbers, as the stream reader checks them.
    let e = parse(2, &[0, 0, 1]).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("PING received with bad length - expecting 4, got 3"),
        "{e}"
    );
    assert_eq!(e.offset(), 998);
    let e = parse(3, &[0; 8]).unwrap_err();
    assert!(e.to_string().contains("POSTCOPY_ADVISE"), "{e}");
    let e = parse(12, &[]).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::UnknownCommand { cmd: 12, len: 0 }
    ));
    // Encoding refusals.
    let too_many = CommandPayload::PostcopyRamDiscard(RamDiscard {
        block: name("pc.ram").unwrap(),
        ranges: vec![
            DiscardRange {
                start: 0,
                length: 0
            };
            4096
        ],
    });
    assert!(matches!(
        too_many.encode().unwrap_err(),
        ErrorKind::TooLarge { .. }
    ));
    let nul = CommandPayload::PostcopyRamDiscard(RamDiscard {
        block: IdStr::new(&b"a\0b"[..]).unwrap(),
        ranges: vec![],
    });
    assert!(matches!(
        nul.encode().unwrap_err(),
        ErrorKind::InvalidArgument(_)
    ));
    let empty = CommandPayload::RecvBitmap {
        block: IdStr::default(),
    };
    assert!(matches!(
        empty.encode().unwrap_err(),
        ErrorKind::EmptyString
    ));
}

// ---------------------------------------------------------------------------
// Real streams (tests/fixtures, made by QEMU 10.0.2; skipped when absent)

/// A fixture from `tests/fixtures`, else from `$QEMUFILE_EXTRA_STREAMS`
/// (default `/tmp/streams`); `None`, said on stderr, when neither has it.
fn fixture(file: &str) -> Option<Vec<u8>> {
    fixture_at(file).map(|(b, _)| b)
}

/// [`fixture`] and the path it was read from.
fn fixture_at(file: &str) -> Option<(Vec<u8>, std::path::PathBuf)> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(file);
    let dir = std::env::var("QEMUFILE_EXTRA_STREAMS").unwrap_or_else(|_| "/tmp/streams".into());
    let extra = Path::new(&dir).join(file);
    for p in [shared.clone(), extra.clone()] {
        if let Ok(b) = std::fs::read(&p) {
            eprintln!("{file}: reading {}", p.display());
            return Some((b, p));
        }
    }
    eprintln!(
        "SKIPPED: fixture {file} is in neither {} nor {} (see tests/fixtures/scenarios); \
         this test checks nothing until it is",
        shared.display(),
        extra.display()
    );
    None
}

/// The commands a QEMU trace log (`*.src.trace` of make-tcp-streams.py)
/// says the source sent: (number, length) of `savevm_command_send`, and
/// (block, ranges) of `qemu_savevm_send_postcopy_ram_discard`.
type Trace = (Vec<(u16, usize)>, Vec<(String, usize)>, Vec<u32>);

fn read_trace(mig: &Path) -> Option<Trace> {
    let p = mig.with_extension("src.trace");
    let Ok(text) = std::fs::read_to_string(&p) else {
        eprintln!(
            "{}: no trace log, commands not compared with one",
            p.display()
        );
        return None;
    };
    let mut t: Trace = Default::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("savevm_command_send com=0x") {
            let (cmd, len) = rest.split_once(" len=").unwrap();
            t.0.push((
                u16::from_str_radix(cmd, 16).unwrap(),
                len.trim().parse().unwrap(),
            ));
        } else if let Some(rest) = line.strip_prefix("qemu_savevm_send_postcopy_ram_discard ") {
            let (block, n) = rest.rsplit_once(": ").unwrap();
            t.1.push((block.to_string(), n.trim_end_matches('d').parse().unwrap()));
        } else if let Some(v) = line.strip_prefix("savevm_send_ping 0x") {
            t.2.push(u32::from_str_radix(v.trim(), 16).unwrap());
        }
    }
    Some(t)
}

/// Compares the decoded commands with the trace (as multisets: the
/// package's commands are made before the PACKAGED command is sent).
fn check_trace(file: &str, c: &Census, trace: Option<Trace>) {
    let Some((mut sent, discards, pings)) = trace else {
        return;
    };
    let mut got: Vec<(u16, usize)> = c.commands.iter().map(|p| (p.cmd(), p.data_len())).collect();
    sent.sort();
    got.sort();
    assert_eq!(got, sent, "{file}: commands against the trace");
    let got_discards: Vec<(String, usize)> = c
        .commands
        .iter()
        .filter_map(|p| match p {
            CommandPayload::PostcopyRamDiscard(d) => Some((d.block.to_string(), d.ranges.len())),
            _ => None,
        })
        .collect();
    assert_eq!(got_discards, discards, "{file}: discards against the trace");
    let mut got_pings: Vec<u32> = c
        .commands
        .iter()
        .filter_map(|p| match p {
            CommandPayload::Ping(v) => Some(*v),
            _ => None,
        })
        .collect();
    let mut pings = pings;
    got_pings.sort();
    pings.sort();
    assert_eq!(got_pings, pings, "{file}: PING values against the trace");
    eprintln!("{file}: {} commands agree with the trace log", sent.len());
}

/// Body size of a vmsd object in the vmdesc (fields, plus subsections).
fn vmsd_size(v: &Value) -> u64 {
    if let Some(s) = v.get("size").and_then(Value::as_u64) {
        if v.get("vmsd_name").is_none() {
            return s; // legacy section
        }
    }
    let mut n = 0;
    for f in v["fields"].as_array().into_iter().flatten() {
        let size = f["size"].as_u64().unwrap_or(0);
        let count = f.get("array_len").and_then(Value::as_u64).unwrap_or(1);
        n += size * count;
    }
    for s in v
        .get("subsections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s["vmsd_name"].as_str().unwrap_or("");
        n += 1 + 1 + name.len() as u64 + 4 + vmsd_size(s);
    }
    n
}

/// (idstr, instance_id) → body size, from the vmdesc JSON.
fn body_sizes(json: &[u8]) -> HashMap<(String, u32), u64> {
    let v: Value = serde_json::from_slice(json).expect("vmdesc is JSON");
    v["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let key = (
                d["name"].as_str().unwrap_or("").to_string(),
                d["instance_id"].as_u64().unwrap_or(0) as u32,
            );
            (key, vmsd_size(d))
        })
        .collect()
}

/// Where the body of section `id` starting at `pos` ends: at `size` from
/// the vmdesc if its footer is there, else at the first footer `7e | id`
/// followed by a byte that can start the next item.
fn body_end(bytes: &[u8], pos: usize, id: u32, size: Option<u64>) -> usize {
    let footer = |p: usize| {
        bytes.get(p) == Some(&stream::SECTION_FOOTER)
            && bytes.get(p + 1..p + 5) == Some(&id.to_be_bytes()[..])
    };
    if let Some(s) = size {
        if footer(pos + s as usize) {
            return pos + s as usize;
        }
    }
    (pos..bytes.len())
        .find(|&p| footer(p) && bytes.get(p + 5).is_some_and(|&t| matches!(t, 0..=4 | 8)))
        .unwrap_or_else(|| panic!("no footer for section {id} after offset {pos}"))
}

#[derive(Debug, Default)]
struct Census {
    sections: Vec<(SectionKind, String, u64)>,
    htab: Vec<(SectionKind, Vec<HtabItem>)>,
    stattrib: Vec<(SectionKind, Vec<StattribRecord>)>,
    skeys: Vec<Vec<StattribRecord>>,
    bitmaps: Vec<(SectionKind, Vec<DirtyBitmapRecord>)>,
    commands: Vec<CommandPayload>,
    raw_bodies: usize,
    /// (idstr, kind, body start, body end) of each body this crate decoded.
    decoded: Vec<(String, SectionKind, usize, usize)>,
    /// Stream offsets of the embedded stream after PACKAGED.
    package: Option<(u64, u64)>,
}

impl Census {
    fn package_len(&self) -> u64 {
        self.commands
            .iter()
            .find_map(|p| match p {
                CommandPayload::Packaged { len } => Some(u64::from(*len)),
                _ => None,
            })
            .unwrap_or(0)
    }
}

/// Reads a whole stream, decoding the sections of this crate's body readers
/// and every command, writes it again with the writers, and checks that the
/// bytes are the same.
fn rewrite_fixture(file: &str, bytes: &[u8]) -> Census {
    rewrite(file, bytes, true)
}

/// [`rewrite_fixture`]; `vmdesc_exact` says that the vmdesc describes the
/// bodies as they are (not so in a stream whose bodies were replaced).
fn rewrite(file: &str, bytes: &[u8], vmdesc_exact: bool) -> Census {
    let opts = StreamOptions::default();
    let sizes = stream::find_vmdesc(bytes)
        .map(|(_, j)| body_sizes(j))
        .unwrap_or_default();
    let mut c = Census::default();
    let mut r = StreamReader::open(SliceReader::new(bytes), opts.clone())
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut w = StreamWriter::new(Vec::new(), opts);
    w.write_header().unwrap();
    if let Some(cfg) = r.configuration() {
        w.write_configuration(cfg).unwrap();
    }
    let ram_cfg = RamConfig::from_configuration(r.configuration(), 4096);
    let mut ram = RamReader::new(ram_cfg.clone());
    let ram_w = RamWriter::new(ram_cfg);
    let mut htab = Htab(HtabReader::new());
    let mut cmma = S390(StattribReader::new(S390Body::StorageAttributes));
    let mut skeys = S390(StattribReader::new(S390Body::StorageKeys));
    let mut dbm = Bitmaps(DirtyBitmapReader::new());
    let fail = |e: qemufile::Error| -> ! { panic!("{file}: {e}") };
    // Where the stream embedded after PACKAGED ends.
    let mut package_end = None;
    loop {
        if let Some(end) = package_end.filter(|&e| r.position() >= e) {
            assert_eq!(r.position(), end, "{file}: package ends inside an item");
            assert_eq!(
                c.commands.last(),
                Some(&CommandPayload::PostcopyRun),
                "{file}: QEMU's package ends with POSTCOPY_RUN"
            );
            c.package = Some((end - c.package_len(), end));
            package_end = None;
        }
        match r.next_item().unwrap_or_else(|e| fail(e)) {
            Item::Section(h) => {
                let start = r.position();
                let raw_before = c.raw_bodies;
                c.sections
                    .push((h.kind, h.idstr.to_string(), r.item_offset()));
                w.write_section_header(&h).unwrap();
                let id = h.idstr.as_bytes();
                if id == b"ram" {
                    loop {
                        let item = ram.next_item(r.body()).unwrap_or_else(|e| fail(e));
                        ram_w.write_item(w.body(), &item).unwrap();
                        ram.copy_payload(r.body(), w.body()).unwrap();
                        if matches!(&item, RamItem::Record(rec) if rec.kind == RamKind::Eos) {
                            break;
                        }
                    }
                } else if id == htab::SECTION_NAME.as_bytes() {
                    assert_eq!(h.version_id, htab::SECTION_VERSION);
                    let items =
                        read_body(&mut htab, r.body(), w.body()).unwrap_or_else(|e| fail(e));
                    c.htab.push((h.kind, items));
                } else if id == stattrib::SECTION_NAME.as_bytes() {
                    assert_eq!(h.version_id, stattrib::SECTION_VERSION);
                    let items =
                        read_body(&mut cmma, r.body(), w.body()).unwrap_or_else(|e| fail(e));
                    c.stattrib.push((h.kind, items));
                } else if id == stattrib::SKEYS_SECTION_NAME.as_bytes() {
                    assert_eq!(h.version_id, stattrib::SKEYS_SECTION_VERSION);
                    let items =
                        read_body(&mut skeys, r.body(), w.body()).unwrap_or_else(|e| fail(e));
                    // The vmdesc records the old-style body's size.
                    let size = sizes.get(&(h.idstr.to_string(), h.instance_id));
                    if let Some(&n) = size.filter(|_| vmdesc_exact) {
                        assert_eq!(r.position() - start, n, "{file}: s390-skeys body size");
                    }
                    c.skeys.push(items);
                } else if id == dirty_bitmap::SECTION_NAME.as_bytes() {
                    assert_eq!(h.version_id, dirty_bitmap::SECTION_VERSION);
                    let items = read_body(&mut dbm, r.body(), w.body()).unwrap_or_else(|e| fail(e));
                    c.bitmaps.push((h.kind, items));
                } else {
                    let size = sizes.get(&(h.idstr.to_string(), h.instance_id)).copied();
                    let end = body_end(bytes, start as usize, h.section_id, size);
                    let mut body = vec![0u8; end - start as usize];
                    r.body().read_into(&mut body).unwrap();
                    w.body().put_bytes(&body).unwrap();
                    c.raw_bodies += 1;
                }
                if id != b"ram" && c.raw_bodies == raw_before {
                    let end = r.position() as usize;
                    c.decoded
                        .push((h.idstr.to_string(), h.kind, start as usize, end));
                }
                r.finish_section().unwrap_or_else(|e| fail(e));
                w.write_section_footer().unwrap();
            }
            Item::Command(cmd) => {
                let p = cmd.payload(r.item_offset() + 5).unwrap_or_else(|e| fail(e));
                let again = p.encode().unwrap();
                assert_eq!(again, cmd, "{file}: command re-encoded");
                w.write_command(&again).unwrap();
                // PACKAGED: the embedded stream's items follow in line.
                if let CommandPayload::Packaged { len } = p {
                    assert!(package_end.is_none(), "{file}: package in a package");
                    package_end = Some(r.position() + u64::from(len));
                }
                c.commands.push(p);
            }
            Item::Eof => {
                w.write_eof().unwrap();
                break;
            }
        }
    }
    match r.read_vmdesc().unwrap_or_else(|e| fail(e)) {
        Vmdesc::Present(json) => w.write_vmdesc(&json).unwrap(),
        Vmdesc::Absent { found } => assert_eq!(found, None, "{file}: bytes after EOF"),
    }
    assert!(r.at_end().unwrap(), "{file}: bytes left");
    let out = w.into_inner();
    assert_eq!(out.len(), bytes.len(), "{file}: rewritten length");
    assert!(out == bytes, "{file}: rewritten stream differs");
    eprintln!(
        "{file}: {} sections ({} raw device bodies), {} htab, {} stattrib, {} skeys, {} \
         dirty-bitmap bodies, commands {:?}",
        c.sections.len(),
        c.raw_bodies,
        c.htab.len(),
        c.stattrib.len(),
        c.skeys.len(),
        c.bitmaps.len(),
        c.commands
            .iter()
            .map(CommandPayload::cmd)
            .collect::<Vec<_>>()
    );
    c
}

#[test]
fn fixture_ppc64_pseries_htab() {
    let Some(bytes) = fixture("ppc64-pseries.mig") else {
        return;
    };
    let c = rewrite_fixture("ppc64-pseries.mig", &bytes);
    assert!(!c.htab.is_empty(), "no spapr/htab section");
    // START: the size or -1, alone; every later body ends at its end marker or -1.
    let (kind, first) = &c.htab[0];
    assert_eq!(*kind, SectionKind::Start);
    assert!(matches!(
        first[..],
        [HtabItem::Size { .. }] | [HtabItem::NoHpt]
    ));
    for (kind, items) in &c.htab[1..] {
        assert_ne!(*kind, SectionKind::Start);
        assert!(matches!(
            items.last(),
            Some(HtabItem::End) | Some(HtabItem::NoHpt)
        ));
    }
    assert!(matches!(c.htab.last().unwrap().0, SectionKind::End));
    for (kind, items) in &c.htab {
        let chunks: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                HtabItem::Chunk(c) => Some(c),
                _ => None,
            })
            .collect();
        let valid: u64 = chunks.iter().map(|c| u64::from(c.n_valid)).sum();
        let invalid: u64 = chunks.iter().map(|c| u64::from(c.n_invalid)).sum();
        eprintln!(
            "spapr/htab {kind:?}: {} items, {} chunks, {valid} valid + {invalid} invalid entries",
            items.len(),
            chunks.len()
        );
    }
}

#[test]
fn fixture_s390x_ccw_storage() {
    let Some(bytes) = fixture("s390x-ccw.mig") else {
        return;
    };
    let c = rewrite_fixture("s390x-ccw.mig", &bytes);
    assert!(!c.stattrib.is_empty(), "no s390-storage_attributes section");
    // cmma_save_setup sends EOS alone; the END body has DONE before its EOS.
    assert_eq!(c.stattrib[0].0, SectionKind::Start);
    assert_eq!(c.stattrib[0].1, [StattribRecord::eos()]);
    let (kind, last) = c.stattrib.last().unwrap();
    assert_eq!(*kind, SectionKind::End);
    assert_eq!(
        last[last.len() - 2..],
        [StattribRecord::done(), StattribRecord::eos()]
    );
    for (_, body) in &c.stattrib {
        assert!(body.last().unwrap().ends_body());
    }
    for body in &c.skeys {
        assert_eq!(body.last().unwrap().kind, StattribKind::Eos);
    }
}

/// A stream whose guest touched its storage keys: `s390-skeys` carries one
/// key per page of each memory range.
#[test]
fn fixture_s390x_ccw_skeys() {
    let Some(bytes) = fixture("s390x-ccw-skeys.mig") else {
        return;
    };
    let c = rewrite_fixture("s390x-ccw-skeys.mig", &bytes);
    assert_eq!(c.skeys.len(), 1);
    let body = &c.skeys[0];
    assert_eq!(body.last(), Some(&StattribRecord::eos()));
    let pages: u64 = body.iter().map(StattribRecord::payload_len).sum();
    assert!(pages > 0, "no storage keys in {body:?}");
    assert!(
        body[..body.len() - 1]
            .iter()
            .all(|r| matches!(r.kind, StattribKind::Data { .. }))
    );
    eprintln!("s390-skeys: {body:?}");
}

#[test]
fn fixture_x86_pc_dirty_bitmap() {
    let Some(bytes) = fixture("x86-pc-dirty-bitmap.mig") else {
        return;
    };
    let c = rewrite_fixture("x86-pc-dirty-bitmap.mig", &bytes);
    assert!(!c.bitmaps.is_empty(), "no dirty-bitmap section");
    let (kind, setup) = &c.bitmaps[0];
    assert_eq!(*kind, SectionKind::Start);
    assert!(
        setup
            .iter()
            .any(|r| matches!(r.data, BitmapData::Start { .. }))
    );
    for (_, body) in &c.bitmaps {
        assert_eq!(body.last().unwrap(), &DirtyBitmapRecord::eos());
    }
    let (kind, end) = c.bitmaps.last().unwrap();
    assert_eq!(*kind, SectionKind::End);
    let starts = setup
        .iter()
        .filter(|r| matches!(r.data, BitmapData::Start { .. }))
        .count();
    let completes = end
        .iter()
        .filter(|r| r.data == BitmapData::Complete)
        .count();
    assert_eq!(starts, completes, "a COMPLETE per bitmap");
    // make-dirty-bitmap.sh: disk0/bitmap0 (64 KiB, enabled) and disk0/bitmap1
    // (4 KiB, disabled), both with bits set.
    let mut found: Vec<(String, u32, u8)> = Vec::new();
    let (mut node, mut bitmap) = (None, None);
    for (_, body) in &c.bitmaps {
        for rec in body {
            // Records without names refer to the last ones named.
            node = rec.node.clone().or(node);
            bitmap = rec.bitmap.clone().or(bitmap);
            if let BitmapData::Start { granularity, flags } = rec.data {
                assert_eq!(node.as_ref().unwrap(), "disk0");
                found.push((bitmap.as_ref().unwrap().to_string(), granularity, flags));
            }
            if let BitmapData::Bits { buf_size, .. } = rec.data {
                assert!(buf_size <= dirty_bitmap::CHUNK_SIZE);
            }
        }
    }
    found.sort();
    if found.iter().any(|f| f.0 == "bitmap0") {
        assert_eq!(
            found,
            [
                (
                    "bitmap0".to_string(),
                    65536,
                    dirty_bitmap::START_FLAG_ENABLED
                ),
                ("bitmap1".to_string(), 4096, 0)
            ]
        );
    }
    assert!(
        end.iter()
            .any(|r| matches!(r.data, BitmapData::Bits { .. })),
        "the bitmaps have bits set"
    );
}

#[test]
fn fixture_x86_pc_postcopy() {
    let Some((bytes, path)) = fixture_at("x86-pc-postcopy.mig") else {
        return;
    };
    let c = rewrite_fixture("x86-pc-postcopy.mig", &bytes);
    let has = |f: fn(&CommandPayload) -> bool| c.commands.iter().any(f);
    // postcopy-ram: ADVISE carries the page sizes (4 KiB pages on x86).
    assert!(
        c.commands
            .contains(&CommandPayload::PostcopyAdvise(Some(PostcopyAdvise {
                page_size_summary: 4096,
                target_page_size: 4096,
            })))
    );
    assert!(has(|p| matches!(p, CommandPayload::Packaged { .. })));
    assert!(has(|p| matches!(p, CommandPayload::PostcopyListen)));
    // The package was found to end right after POSTCOPY_RUN.
    let (start, end) = c.package.expect("package end reached");
    assert!(end > start);
    // Discards: page-aligned byte ranges of named blocks, at most 12 a command.
    for p in &c.commands {
        if let CommandPayload::PostcopyRamDiscard(d) = p {
            assert!(!d.ranges.is_empty() && d.ranges.len() <= 12);
            for r in &d.ranges {
                assert_eq!(r.start % 4096, 0);
                assert!(r.length > 0 && r.length % 4096 == 0);
            }
        }
    }
    // The embedded stream holds the device sections.
    let in_package = c
        .sections
        .iter()
        .filter(|s| s.2 >= start && s.2 < end)
        .count();
    assert!(in_package > 10, "{in_package} sections in the package");
    check_trace("x86-pc-postcopy.mig", &c, read_trace(&path));
}

#[test]
fn fixture_x86_pc_return_path() {
    let Some((bytes, path)) = fixture_at("x86-pc-return-path.mig") else {
        return;
    };
    let c = rewrite_fixture("x86-pc-return-path.mig", &bytes);
    assert_eq!(c.commands.first(), Some(&CommandPayload::OpenReturnPath));
    assert!(
        c.commands
            .iter()
            .any(|p| matches!(p, CommandPayload::Ping(_)))
    );
    check_trace("x86-pc-return-path.mig", &c, read_trace(&path));
}

// ---------------------------------------------------------------------------
// Proof against QEMU: bodies made by the writers load into QEMU 10.0, and
// what QEMU saves again reads back with the readers. Needs the emulators and
// ../shared/qemu/load-stream.sh; skipped visibly without them.

fn shared_qemu() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/qemu")
}

fn extra_scenarios() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/scenarios/extra.txt")
}

/// Why QEMU interop cannot run here, if it cannot.
fn qemu_unavailable(binary: &str) -> Option<String> {
    let script = shared_qemu().join("load-stream.sh");
    if !script.exists() {
        return Some(format!("{} not found", script.display()));
    }
    if !extra_scenarios().exists() {
        return Some(format!("{} not found", extra_scenarios().display()));
    }
    match std::process::Command::new(binary).arg("--version").output() {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let major: u32 = text
                .split_whitespace()
                .skip_while(|w| *w != "version")
                .nth(1)
                .and_then(|v| v.split('.').next())
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            (major < 10).then(|| format!("{binary} is older than 10.0"))
        }
        _ => Some(format!("{binary} is not installed")),
    }
}

/// Loads `stream` into the destination QEMU of `scenario` and has it save
/// its state again; returns the re-saved stream.
fn load_and_resave(scenario: &str, stream: &[u8]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!(
        "qemufile-sections-{}-{scenario}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join(format!("{scenario}.mig"));
    let resaved = dir.join(format!("{scenario}.resaved.mig"));
    std::fs::write(&input, stream).unwrap();
    let out = std::process::Command::new(shared_qemu().join("load-stream.sh"))
        .arg("--scenarios")
        .arg(extra_scenarios())
        .arg("--resave")
        .arg(&resaved)
        .arg(scenario)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "QEMU refused the stream:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let again = std::fs::read(&resaved).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    again
}

/// `bytes` with the decoded body `(idstr, kind)` (the `nth` one) replaced by `body`.
fn splice(bytes: &[u8], c: &Census, idstr: &str, kind: SectionKind, body: &[u8]) -> Vec<u8> {
    let &(_, _, start, end) = c
        .decoded
        .iter()
        .find(|d| d.0 == idstr && d.1 == kind)
        .unwrap_or_else(|| panic!("no {kind:?} body of {idstr}"));
    [&bytes[..start], body, &bytes[end..]].concat()
}

/// Hash table entries written by [`HtabWriter`] into the PART body of a real
/// pSeries stream load into QEMU, and QEMU's next first pass sends them back
/// as a chunk of valid entries.
#[test]
fn qemu_loads_written_htab_chunks() {
    if let Some(why) = qemu_unavailable("qemu-system-ppc64") {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let Some(bytes) = fixture("ppc64-pseries.mig") else {
        return;
    };
    let c = rewrite_fixture("ppc64-pseries.mig", &bytes);
    let Some((_, [HtabItem::Size { shift }])) = c.htab.first().map(|(k, i)| (k, &i[..])) else {
        eprintln!("SKIPPED: this pSeries stream has no hash page table");
        return;
    };
    // Two valid entries at 5 and 6 (AVPN bits and V; the software dirty bit
    // 0x40 clear), three cleared after them, and a KVM-style run of invalid
    // entries elsewhere.
    let mut entries = Vec::new();
    for i in 0..2u64 {
        entries.extend(((0x1000u64 + (i << 7)) | 1).to_be_bytes());
        entries.extend((0x0012_3196u64 + (i << 12)).to_be_bytes());
    }
    let w = HtabWriter::new();
    let mut body = Vec::new();
    w.write_item(&mut body, &HtabItem::Entries).unwrap();
    let chunk = HtabChunk {
        index: 5,
        n_valid: 2,
        n_invalid: 3,
    };
    w.write_item(&mut body, &HtabItem::Chunk(chunk)).unwrap();
    body.extend(&entries);
    let invalid = HtabChunk {
        index: 100,
        n_valid: 0,
        n_invalid: 50,
    };
    w.write_item(&mut body, &HtabItem::Chunk(invalid)).unwrap();
    w.write_item(&mut body, &HtabItem::End).unwrap();
    let edited = splice(&bytes, &c, htab::SECTION_NAME, SectionKind::Part, &body);
    let e = rewrite("ppc64-pseries.mig (edited)", &edited, false);
    assert_eq!(
        e.htab[1].1,
        [
            HtabItem::Entries,
            HtabItem::Chunk(chunk),
            HtabItem::Chunk(invalid),
            HtabItem::End
        ]
    );
    let resaved = load_and_resave("ppc64-pseries", &edited);
    let r = rewrite_fixture("ppc64-pseries.mig (re-saved by QEMU)", &resaved);
    assert_eq!(r.htab[0].1, [HtabItem::Size { shift: *shift }]);
    let sent: Vec<HtabChunk> = r
        .htab
        .iter()
        .flat_map(|(_, items)| items)
        .filter_map(|i| match i {
            HtabItem::Chunk(c) => Some(*c),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        [HtabChunk {
            index: 5,
            n_valid: 2,
            n_invalid: 0
        }]
    );
    // QEMU sent our 32 bytes back.
    let (_, _, start, end) = r
        .decoded
        .iter()
        .find(|d| d.0 == htab::SECTION_NAME && d.1 == SectionKind::Part)
        .cloned()
        .unwrap();
    let part = &resaved[start..end];
    assert_eq!(&part[4 + 8..4 + 8 + 32], entries.as_slice());
}

/// Storage keys written by [`StattribWriter`] load into QEMU, which then
/// saves exactly those keys; storage attribute records load too (TCG keeps
/// none, so they do not come back).
#[test]
fn qemu_loads_written_s390_storage() {
    if let Some(why) = qemu_unavailable("qemu-system-s390x") {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let Some(bytes) = fixture("s390x-ccw.mig") else {
        return;
    };
    let c = rewrite_fixture("s390x-ccw.mig", &bytes);
    let pages: u64 = {
        // The RAM size from the MEM_SIZE record of the ram START section.
        let (kind, idstr, at) = &c.sections[0];
        assert_eq!((*kind, idstr.as_str()), (SectionKind::Start, "ram"));
        let at = *at as usize;
        let body = at + 1 + 4 + 1 + 3 + 4 + 4;
        let word = u64::from_be_bytes(bytes[body..body + 8].try_into().unwrap());
        (word & !0xfff) / 4096
    };
    assert!(pages > 0);
    let keys: Vec<u8> = (0..pages).map(|i| (i as u8) & 0xfe).collect();
    let kw = StattribWriter::new(S390Body::StorageKeys);
    let mut skeys_body = Vec::new();
    kw.write_item(&mut skeys_body, &StattribRecord::data(0, pages))
        .unwrap();
    skeys_body.extend(&keys);
    kw.write_item(&mut skeys_body, &StattribRecord::eos())
        .unwrap();
    let aw = StattribWriter::new(S390Body::StorageAttributes);
    let mut cmma_body = Vec::new();
    aw.write_item(&mut cmma_body, &StattribRecord::data(0x10 << 12, 4))
        .unwrap();
    cmma_body.extend([0, 1, 2, 3]);
    aw.write_item(&mut cmma_body, &StattribRecord::done())
        .unwrap();
    aw.write_item(&mut cmma_body, &StattribRecord::eos())
        .unwrap();
    // Splice the later body first so that the earlier offsets stay right.
    let (first, second) = {
        let k = c.decoded.iter().position(|d| d.0 == "s390-skeys").unwrap();
        let a = c
            .decoded
            .iter()
            .position(|d| d.0 == stattrib::SECTION_NAME && d.1 == SectionKind::End)
            .unwrap();
        (k.min(a), k.max(a))
    };
    let mut edited = bytes.clone();
    for i in [second, first] {
        let (name, kind, ..) = &c.decoded[i];
        let body = if name == "s390-skeys" {
            &skeys_body
        } else {
            &cmma_body
        };
        edited = splice(&edited, &c, name, *kind, body);
    }
    let e = rewrite("s390x-ccw.mig (edited)", &edited, false);
    assert_eq!(
        e.skeys[0],
        [StattribRecord::data(0, pages), StattribRecord::eos()]
    );
    let resaved = load_and_resave("s390x-ccw", &edited);
    let r = rewrite_fixture("s390x-ccw.mig (re-saved by QEMU)", &resaved);
    assert_eq!(r.skeys.len(), 1);
    assert_eq!(r.skeys[0].last(), Some(&StattribRecord::eos()));
    let (_, _, start, end) = r
        .decoded
        .iter()
        .find(|d| d.0 == "s390-skeys")
        .cloned()
        .unwrap();
    // Read the keys back with the reader.
    let mut input = SliceReader::new(&resaved[start..end]);
    let mut sr = StattribReader::new(S390Body::StorageKeys);
    let mut got = Vec::new();
    loop {
        let rec = sr.next_item(&mut input).unwrap();
        if let StattribKind::Data { .. } = rec.kind {
            let mut v = Vec::new();
            sr.read_payload_to_vec(&mut input, &mut v).unwrap();
            assert_eq!(rec.gfn(), got.len() as u64);
            got.extend(v);
        }
        if sr.body_complete() {
            break;
        }
    }
    assert_eq!(got, keys);
}

/// Dirty-bitmap bodies re-written with the 2- and 4-byte flag forms (which
/// QEMU reads but never writes) load into QEMU, and the bitmaps QEMU then
/// saves are the ones it was sent.
#[test]
fn qemu_loads_written_dirty_bitmaps() {
    if let Some(why) = qemu_unavailable("qemu-system-x86_64") {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let Some(bytes) = fixture("x86-pc-dirty-bitmap.mig") else {
        return;
    };
    let c = rewrite_fixture("x86-pc-dirty-bitmap.mig", &bytes);
    // Every record and payload of every dirty-bitmap body, with payloads.
    let records = |bytes: &[u8], c: &Census| -> Vec<(DirtyBitmapRecord, Vec<u8>)> {
        let mut r = DirtyBitmapReader::new();
        let mut out = Vec::new();
        for (_, _, start, end) in c
            .decoded
            .iter()
            .filter(|d| d.0 == dirty_bitmap::SECTION_NAME)
        {
            let mut input = SliceReader::new(&bytes[*start..*end]);
            loop {
                let rec = r.next_item(&mut input).unwrap();
                let mut payload = Vec::new();
                r.read_payload_to_vec(&mut input, &mut payload).unwrap();
                out.push((rec, payload));
                if r.body_complete() {
                    break;
                }
            }
            assert!(input.is_empty());
        }
        out
    };
    let original = records(&bytes, &c);
    assert!(original.iter().all(|(r, _)| r.flags < 0x80));
    // Widen: alternately 2 and 4 bytes of flags, same last byte.
    let w = DirtyBitmapWriter::new();
    let mut edited = bytes.clone();
    let mut i = 0;
    let bodies: Vec<_> = c
        .decoded
        .iter()
        .filter(|d| d.0 == dirty_bitmap::SECTION_NAME)
        .cloned()
        .collect();
    let mut r = DirtyBitmapReader::new();
    for (_, kind, start, end) in bodies.iter().rev() {
        // Re-read the body, write it widened.
        let mut input = SliceReader::new(&bytes[*start..*end]);
        let mut body = Vec::new();
        loop {
            let mut rec = r.next_item(&mut input).unwrap();
            rec.flags = if i % 2 == 0 {
                0x8000 | rec.flags
            } else {
                0xc0a5_0000 | rec.flags
            };
            i += 1;
            w.write_item(&mut body, &rec).unwrap();
            r.copy_payload(&mut input, &mut body).unwrap();
            if r.body_complete() {
                break;
            }
        }
        edited = [&edited[..*start], &body[..], &edited[*end..]].concat();
        eprintln!(
            "dirty-bitmap {kind:?}: {} -> {} bytes",
            end - start,
            body.len()
        );
    }
    let e = rewrite("x86-pc-dirty-bitmap.mig (widened)", &edited, false);
    let widened = records(&edited, &e);
    assert_eq!(widened.len(), original.len());
    for ((a, pa), (b, pb)) in original.iter().zip(&widened) {
        assert_ne!(a.flags, b.flags);
        assert_eq!(a.effective_flags(), b.effective_flags());
        assert_eq!(
            (&a.node, &a.bitmap, a.data, pa),
            (&b.node, &b.bitmap, b.data, pb)
        );
    }
    let resaved = load_and_resave("x86-pc-dirty-bitmap", &edited);
    let r = rewrite_fixture("x86-pc-dirty-bitmap.mig (re-saved by QEMU)", &resaved);
    let again = records(&resaved, &r);
    // Same bitmaps (names, granularity, flags) and the same bits, in
    // whatever order the destination keeps them.
    let summary = |recs: &[(DirtyBitmapRecord, Vec<u8>)]| {
        let (mut node, mut bitmap) = (None, None);
        let mut v: Vec<(String, String, BitmapData, Vec<u8>)> = recs
            .iter()
            .map(|(rec, p)| {
                node = rec.node.clone().or(node.clone());
                bitmap = rec.bitmap.clone().or(bitmap.clone());
                let name =
                    |n: &Option<IdStr>| n.as_ref().map(|s| s.to_string()).unwrap_or_default();
                (name(&node), name(&bitmap), rec.data, p.clone())
            })
            .filter(|x| x.2 != BitmapData::None)
            .collect();
        v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        v
    };
    assert_eq!(summary(&again), summary(&original));
}
