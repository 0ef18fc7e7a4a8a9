//! Unknown fields kept and written back, where the schema says so
//! (`ber::KeepUnknown`): an older binary loads a newer document, saves it
//! back, and the newer binary finds the fields only it knows unchanged, in
//! the root, in a nested struct, in array elements and in subsections
//! (a subsection only the newer binary has included).

#[path = "support/oracles.rs"]
mod oracles;

use vmstate_core::ber::{self, BerOptions, KeepUnknown, Unknown};
use vmstate_core::{Limits, VmState};

// The newer binary: version 3 of `dev`, version 2 of its parts.

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "part", version = 2, minimum_version = 1)]
struct NewPart {
    base: u32,
    #[vmstate(since = 2)]
    limit: u64,
    flags: u8,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "dev/known", version = 2, minimum_version = 1, needed = NewKnown::needed)]
struct NewKnown {
    a: u16,
    #[vmstate(since = 2)]
    b: [u8; 3],
}

impl NewKnown {
    fn needed(&self) -> bool {
        self.a != 0
    }
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "dev/extra", version = 1, minimum_version = 1, needed = NewExtra::needed)]
struct NewExtra {
    x: u64,
    tag: [u8; 5],
}

impl NewExtra {
    fn needed(&self) -> bool {
        self.x != 0
    }
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "dev", version = 3, minimum_version = 1)]
struct NewDev {
    ctrl: u16,
    #[vmstate(since = 2)]
    irq: u8,
    mode: u8,
    part: NewPart,
    parts: [NewPart; 2],
    #[vmstate(since = 3)]
    #[vmstate(buffer)]
    blob: [u8; 6],
    #[vmstate(subsection)]
    known: NewKnown,
    #[vmstate(subsection)]
    extra: NewExtra,
}

// The older binary: version 1 of everything, keeping what it does not know.

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "part", version = 1, minimum_version = 1)]
struct OldPart {
    base: u32,
    flags: u8,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "dev/known", version = 1, minimum_version = 1, needed = OldKnown::needed)]
struct OldKnown {
    a: u16,
}

impl OldKnown {
    fn needed(&self) -> bool {
        self.a != 0
    }
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct OldDev {
    ctrl: u16,
    mode: u8,
    part: OldPart,
    parts: [OldPart; 2],
    #[vmstate(subsection)]
    known: OldKnown,
    /// What this binary's schema does not know, kept.
    #[vmstate(skip)]
    unknown: Unknown,
}

impl KeepUnknown for OldDev {
    fn unknown(&mut self) -> &mut Unknown {
        &mut self.unknown
    }
}

fn part(i: u32) -> NewPart {
    NewPart {
        base: 0x1000 * (i + 1),
        limit: 0xdead_0000_0000 + u64::from(i),
        flags: i as u8 + 1,
    }
}

fn newer() -> NewDev {
    NewDev {
        ctrl: 0x1234,
        irq: 9,
        mode: 3,
        part: part(0),
        parts: [part(1), part(2)],
        blob: *b"binary",
        known: NewKnown { a: 7, b: [1, 2, 3] },
        extra: NewExtra {
            x: 0x0123_4567_89ab_cdef,
            tag: *b"extra",
        },
    }
}

#[test]
fn an_older_binary_writes_back_what_it_does_not_know() {
    let doc = ber::save_to_vec(&mut newer()).unwrap();
    oracles::check_independent_decoders("newer document", &doc);

    // Without keeping: the unknown subsection is refused, as before.
    let mut plain = OldDev::default();
    assert!(ber::load(&mut plain, &doc).is_err());

    let mut old = OldDev::default();
    let report = ber::load_keeping(&mut old, &doc).unwrap();
    assert_eq!(report.version, 3);
    assert_eq!(
        (
            old.ctrl,
            old.mode,
            old.known.a,
            old.part.base,
            old.parts[1].flags
        ),
        (0x1234, 3, 7, 0x1000, 3)
    );
    let mut names: Vec<_> = old
        .unknown
        .names()
        .into_iter()
        .map(|(d, n, sub)| format!("{d}.{n}{}", if sub { " (subsection)" } else { "" }))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "dev.blob",
            "dev.dev/extra (subsection)",
            "dev.irq",
            "dev/known.b",
            "part.limit",
            "part.limit",
            "part.limit",
        ]
    );
    assert_eq!(report.unknown_subsections.len(), 1);
    assert_eq!(report.unknown_fields.len(), 6);

    // Saved back unchanged: the same document, byte for byte.
    let back = ber::save_keeping_to_vec(&mut old).unwrap();
    assert_eq!(back, doc);

    // Changed where it knows the fields: the newer binary sees the change
    // and every field only it knows as it wrote them.
    old.ctrl = 0x4321;
    old.parts[0].base = 0xffff;
    old.known.a = 8;
    let back = ber::save_keeping_to_vec(&mut old).unwrap();
    oracles::check_independent_decoders("written back", &back);
    let mut new = NewDev::default();
    let report = ber::load(&mut new, &back).unwrap();
    assert!(report.unknown_fields.is_empty());
    let mut want = newer();
    want.ctrl = 0x4321;
    want.parts[0].base = 0xffff;
    want.known.a = 8;
    assert_eq!(new, want);

    // The written-back document loads into the older binary again, and
    // saves to itself.
    let mut again = OldDev::default();
    ber::load_keeping(&mut again, &back).unwrap();
    assert_eq!(ber::save_keeping_to_vec(&mut again).unwrap(), back);
}

#[test]
fn a_newer_binary_keeps_what_an_older_one_had() {
    // The other way: fields the newer schema dropped are kept too.
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "dev", version = 1, minimum_version = 1)]
    struct Slim {
        mode: u8,
        #[vmstate(skip)]
        unknown: Unknown,
    }
    impl KeepUnknown for Slim {
        fn unknown(&mut self) -> &mut Unknown {
            &mut self.unknown
        }
    }
    let mut old = OldDev {
        ctrl: 5,
        mode: 6,
        part: OldPart { base: 1, flags: 2 },
        ..OldDev::default()
    };
    let doc = ber::save_keeping_to_vec(&mut old).unwrap();
    let mut slim = Slim::default();
    let options = BerOptions {
        require_fields: false,
        ..BerOptions::default()
    };
    ber::load_keeping_with(&mut slim, &doc, &options).unwrap();
    assert_eq!(slim.mode, 6);
    slim.mode = 60;
    let back = ber::save_keeping_to_vec(&mut slim).unwrap();
    let mut old2 = OldDev::default();
    ber::load(&mut old2, &back).unwrap();
    assert_eq!(
        old2,
        OldDev {
            mode: 60,
            ..old.clone()
        }
    );
}

#[test]
fn what_is_kept_is_bounded_by_the_limits() {
    let doc = ber::save_to_vec(&mut newer()).unwrap();
    let (_, at) = ber::Header::parse(&doc).unwrap();
    let body = &doc[at..];
    let small = BerOptions {
        limits: Limits {
            section_memory: 64,
            ..Limits::DEFAULT
        },
        ..BerOptions::default()
    };
    let mut old = OldDev::default();
    let mut unknown = Unknown::default();
    let err = ber::load_struct_keeping(&mut old, body, 0, &small, &mut unknown).unwrap_err();
    assert!(err.to_string().contains("section_memory"), "{err}");
    // The same limits load the document when nothing is kept (no unknown
    // subsection in this one).
    let mut plain = newer();
    plain.extra.x = 0;
    let doc2 = ber::save_to_vec(&mut plain).unwrap();
    let mut old2 = OldDev::default();
    ber::load_with(&mut old2, &doc2, &small).unwrap();
    let mut kept = old2.clone();
    let mut unknown = Unknown::default();
    let (_, at2) = ber::Header::parse(&doc2).unwrap();
    assert!(ber::load_struct_keeping(&mut kept, &doc2[at2..], 0, &small, &mut unknown).is_err());

    let mut unknown = Unknown::default();
    ber::load_struct_keeping(&mut old, body, 0, &BerOptions::default(), &mut unknown).unwrap();
    assert_eq!(unknown.len(), 7);
    assert!(unknown.kept_bytes() < body.len());
    // The struct alone, without a header, written back: the same struct.
    let mut out = Vec::new();
    ber::save_struct_keeping(&mut old, &unknown, &mut out).unwrap();
    assert_eq!(out, body);
}

#[test]
fn a_field_out_of_place_in_the_input_is_kept_after_the_known_field_before_it() {
    // Fields in another order than the reader's: loaded by name, the
    // unknown ones written back after the known field they followed.
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "r", version = 2, minimum_version = 1)]
    struct Writer {
        z: u8,
        new1: u32,
        a: u8,
        #[vmstate(since = 2)]
        new2: u16,
    }
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "r", version = 1, minimum_version = 1)]
    struct Reader {
        a: u8,
        z: u8,
        #[vmstate(skip)]
        unknown: Unknown,
    }
    impl KeepUnknown for Reader {
        fn unknown(&mut self) -> &mut Unknown {
            &mut self.unknown
        }
    }
    let mut w = Writer {
        z: 1,
        new1: 2,
        a: 3,
        new2: 4,
    };
    let doc = ber::save_to_vec(&mut w).unwrap();
    let mut r = Reader::default();
    ber::load_keeping(&mut r, &doc).unwrap();
    assert_eq!((r.a, r.z), (3, 1));
    let back = ber::save_keeping_to_vec(&mut r).unwrap();
    oracles::check_independent_decoders("reordered", &back);
    let mut w2 = Writer::default();
    ber::load(&mut w2, &back).unwrap();
    assert_eq!(w2, w);
}
