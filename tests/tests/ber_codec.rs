//! BER codec: round trips of every form through the BER visitors, typed and
//! dynamic; the canonical encoding; hostile input.

use std::collections::BTreeMap;

use vmstate_core::ber::{self, BerOptions};
use vmstate_core::{ErrorKind, Timer, VmState};
use vmstate_tests::devices::i8259::{I8259, I8259Ltim};

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "inner", version = 2, minimum_version = 1)]
struct Inner {
    a: u16,
    b: [u8; 3],
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "all/sub", version = 1, minimum_version = 1, needed = Sub::needed)]
struct Sub {
    x: u64,
}

impl Sub {
    fn needed(&self) -> bool {
        self.x != 0
    }
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "all", version = 3, minimum_version = 1)]
struct All {
    flag: bool,
    s8: i8,
    s16: i16,
    s32: i32,
    s64: i64,
    u8_: u8,
    u16_: u16,
    u32_: u32,
    u64_: u64,
    f: f64,
    timer: Timer,
    #[vmstate(equal)]
    eq: u32,
    #[vmstate(le)]
    le: i32,
    #[vmstate(buffer)]
    buf: [u8; 5],
    words: [u32; 4],
    wide: [u64; 2],
    ints: [i32; 2],
    halves: [u16; 3],
    grid: [[u8; 2]; 2],
    inner: Inner,
    inners: [Inner; 2],
    #[vmstate(unused = 3)]
    _pad: (),
    n: u32,
    #[vmstate(len = n)]
    vec: Vec<u16>,
    nb: u8,
    #[vmstate(buffer, len = nb)]
    vbuf: Vec<u8>,
    bits: u32,
    #[vmstate(bitmap, bits = bits)]
    bitmap: Vec<u64>,
    #[vmstate(qtailq)]
    list: Vec<Inner>,
    #[vmstate(gtree)]
    tree: BTreeMap<u64, Inner>,
    ptrs: [Option<Box<Inner>>; 3],
    #[vmstate(auto_alloc)]
    auto: [Option<Box<Inner>>; 2],
    #[vmstate(struct_version = 1)]
    pinned: Inner,
    #[vmstate(subsection)]
    sub: Sub,
}

fn sample() -> All {
    let inner = |k: u16| Inner {
        a: k,
        b: [k as u8, 2, 3],
    };
    All {
        flag: true,
        s8: -2,
        s16: -300,
        s32: -70000,
        s64: i64::MIN,
        u8_: 200,
        u16_: 60000,
        u32_: 0xdead_beef,
        u64_: u64::MAX,
        f: 1.5,
        timer: Timer::not_armed(),
        eq: 7,
        le: 3,
        buf: *b"hello",
        words: [1, 2, 3, 0xffff_ffff],
        wide: [5, 6],
        ints: [-1, 1],
        halves: [9, 8, 7],
        grid: [[1, 2], [3, 4]],
        inner: inner(1),
        inners: [inner(2), inner(3)],
        _pad: (),
        n: 3,
        vec: vec![10, 20, 30],
        nb: 2,
        vbuf: vec![0xaa, 0xbb],
        bits: 70,
        bitmap: vec![u64::MAX, 1],
        list: vec![inner(4), inner(5)],
        tree: BTreeMap::from([(1, inner(6)), (9, inner(7))]),
        ptrs: [Some(Box::new(inner(8))), None, Some(Box::new(inner(9)))],
        auto: [None, Some(Box::new(inner(10)))],
        pinned: inner(11),
        sub: Sub { x: 42 },
    }
}

fn destination() -> All {
    All {
        eq: 7,
        le: 100,
        ptrs: [Some(Box::default()), None, Some(Box::default())],
        ..All::default()
    }
}

#[test]
fn every_form_round_trips() {
    let mut value = sample();
    let bytes = ber::save_to_vec(&mut value).unwrap();
    let mut back = destination();
    let report = ber::load(&mut back, &bytes).unwrap();
    assert_eq!(back, value);
    assert_eq!(report.version, 3);
    assert!(report.unknown_fields.is_empty());
    // Canonical: the same state encodes to the same bytes.
    assert_eq!(ber::save_to_vec(&mut back).unwrap(), bytes);
}

#[test]
fn subsections_and_real_devices() {
    let mut pic = I8259 {
        irr: 0x10,
        imr: 0xb8,
        elcr: 0x0c,
        ltim: I8259Ltim { ltim: 1 },
        ..I8259::default()
    };
    let bytes = ber::save_to_vec(&mut pic).unwrap();
    let mut back = I8259::default();
    ber::load(&mut back, &bytes).unwrap();
    assert_eq!(back, pic);
    // Without the subsection, the destination keeps its own value.
    pic.ltim.ltim = 0;
    let bytes = ber::save_to_vec(&mut pic).unwrap();
    let mut back = I8259 {
        ltim: I8259Ltim { ltim: 5 },
        ..I8259::default()
    };
    ber::load(&mut back, &bytes).unwrap();
    assert_eq!(back.ltim.ltim, 5);
    assert_eq!(back.elcr, 0x0c);
}

#[test]
fn equal_fields_are_checked() {
    let mut value = sample();
    let bytes = ber::save_to_vec(&mut value).unwrap();
    let mut back = All {
        eq: 8,
        ..destination()
    };
    let e = ber::load(&mut back, &bytes).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotEqual { .. }), "{e}");
    assert_eq!(e.path_string(), "all.eq");
    assert_eq!(
        back,
        All {
            eq: 8,
            ..destination()
        },
        "transactional"
    );
}

#[test]
fn every_truncation_and_every_byte_flip_is_refused_or_loads_without_panic() {
    let mut value = sample();
    let bytes = ber::save_to_vec(&mut value).unwrap();
    for n in 0..bytes.len() {
        let mut back = destination();
        assert!(ber::load(&mut back, &bytes[..n]).is_err(), "prefix {n}");
    }
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            let mut back = destination();
            let _ = ber::load_with(&mut back, &b, &BerOptions::default());
        }
    }
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "entry", version = 1, minimum_version = 1)]
struct Entry {
    addr: u64,
    len: u32,
    data: [u8; 8],
}

/// The same element, fields reversed: read through the index.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "entry", version = 1, minimum_version = 1)]
struct EntryReversed {
    data: [u8; 8],
    len: u32,
    addr: u64,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "table", version = 1, minimum_version = 1)]
struct Table {
    #[vmstate(qtailq)]
    entries: Vec<Entry>,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "table", version = 1, minimum_version = 1)]
struct TableReversed {
    #[vmstate(qtailq)]
    entries: Vec<EntryReversed>,
}

/// Growing inputs load correctly in order and out of order; the time per
/// byte is printed, not asserted (the `ber` bench measures it:
/// BENCHMARKS.md).
#[test]
fn growing_inputs_load_in_and_out_of_order() {
    for n in [1usize << 8, 1 << 10, 1 << 12, 1 << 14] {
        let mut table = Table {
            entries: (0..n)
                .map(|i| Entry {
                    addr: i as u64,
                    len: (i * 3) as u32,
                    data: [i as u8; 8],
                })
                .collect(),
        };
        let bytes = ber::save_to_vec(&mut table).unwrap();
        let start = std::time::Instant::now();
        let mut back = Table::default();
        ber::load(&mut back, &bytes).unwrap();
        let in_order = start.elapsed();
        assert_eq!(back, table);
        let start = std::time::Instant::now();
        let mut reversed = TableReversed::default();
        ber::load(&mut reversed, &bytes).unwrap();
        let out_of_order = start.elapsed();
        assert!(
            reversed
                .entries
                .iter()
                .zip(&table.entries)
                .all(|(r, t)| { r.addr == t.addr && r.len == t.len && r.data == t.data })
        );
        eprintln!(
            "{n} elements, {} bytes: in order {:.1} ns/byte, reordered {:.1} ns/byte",
            bytes.len(),
            in_order.as_nanos() as f64 / bytes.len() as f64,
            out_of_order.as_nanos() as f64 / bytes.len() as f64
        );
    }
}

/// Hostile documents: a claimed length beyond the input, lengths in a long
/// form, an index larger than the limits allow, deep nesting the
/// destination does not have. All refused without a panic.
#[test]
fn hostile_documents_are_refused() {
    let mut table = Table {
        entries: vec![Entry::default(); 64],
    };
    let bytes = ber::save_to_vec(&mut table).unwrap();
    let (_, at) = ber::Header::parse(&bytes).unwrap();
    // The struct claims more than there is.
    let mut b = bytes.clone();
    b[at + 1] = 0x84;
    b.splice(at + 2..at + 2, [0x7f, 0xff, 0xff]);
    assert!(ber::load(&mut Table::default(), &b).is_err());
    // A tiny allocation limit refuses the index of the fields.
    let tight = BerOptions {
        limits: vmstate_core::Limits {
            max_allocation: 64,
            ..vmstate_core::Limits::DEFAULT
        },
        ..BerOptions::default()
    };
    let e = ber::load_with(&mut Table::default(), &bytes, &tight).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Limit(_)), "{e}");
    // Nesting 100000 deep where the destination expects an integer.
    let mut deep = Vec::new();
    ber::Header::for_state(<Entry as VmState>::DESCRIPTION).write(&mut deep);
    let mut inner = vec![0xc9, 8, 0, 0, 0, 0, 0, 0, 0, 1];
    for _ in 0..100_000 {
        let mut outer = vec![0x63];
        let mut len = Vec::new();
        let n = inner.len();
        if n < 128 {
            len.push(n as u8);
        } else {
            let k = (64 - (n as u64).leading_zeros() as usize).div_ceil(8);
            len.push(0x80 | k as u8);
            len.extend_from_slice(&(n as u64).to_be_bytes()[8 - k..]);
        }
        outer.extend_from_slice(&len);
        outer.extend_from_slice(&inner);
        inner = outer;
    }
    let mut doc = deep.clone();
    let mut fields = vec![0x0c, 5];
    fields.extend_from_slice(b"entry");
    fields.extend_from_slice(&[0x02, 1, 1, 0x62]);
    let mut field = vec![0x0c, 4];
    field.extend_from_slice(b"addr");
    field.extend_from_slice(&inner);
    let k = (64 - (field.len() as u64).leading_zeros() as usize).div_ceil(8);
    fields.push(0x80 | k as u8);
    fields.extend_from_slice(&(field.len() as u64).to_be_bytes()[8 - k..]);
    fields.extend_from_slice(&field);
    doc.push(0x61);
    let k = (64 - (fields.len() as u64).leading_zeros() as usize).div_ceil(8);
    doc.push(0x80 | k as u8);
    doc.extend_from_slice(&(fields.len() as u64).to_be_bytes()[8 - k..]);
    doc.extend_from_slice(&fields);
    let e = ber::load(&mut Entry::default(), &doc).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::TypeMismatch { .. }), "{e}");
    assert_eq!(e.path_string(), "entry.addr");
}
