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
