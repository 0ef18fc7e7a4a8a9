//! The BER visitors take the derive's packed runs
//! (`Visitor::PACKED_RUNS`): a run of fixed-layout fields is written from
//! the plan's template and read by one comparison with it. Nothing may
//! differ from the field-by-field walk: the same bytes written, the same
//! state loaded, the same errors, whatever the input (reordered, missing,
//! unknown, retyped or widened fields, truncations, corrupted bytes).
//!
//! The field-by-field walk is the same visitor behind a wrapper that
//! declines packed runs ([`Walked`] with `PACK = false`); the wrapper with
//! `PACK = true` counts the runs the visitor took, so that each test also
//! shows the packed path ran.

use std::borrow::Cow;
use std::cell::Cell;
use std::ops::Range;

use vmstate_core::ber::{self, BerInputVisitor, BerOptions, BerOutputVisitor, Unknown};
use vmstate_core::{
    Description, Error, IncomingSubsection, PathSegment, Result, Timer, Visitor, VmState,
    visit_struct_at,
};

#[path = "../benches/ber_cases/mod.rs"]
mod ber_cases;

thread_local! {
    /// Packed runs the visitors took (put_packed or take_packed true).
    static TAKEN: Cell<usize> = const { Cell::new(0) };
}

/// `V`, taking packed runs when `PACK`, else walked field by field.
struct Walked<V, const PACK: bool>(V);

macro_rules! forward {
    ($($name:ident($($arg:ident: $t:ty),*) -> $r:ty;)*) => {
        $(
            fn $name(&mut self, $($arg: $t),*) -> $r {
                self.0.$name($($arg),*)
            }
        )*
    };
}

impl<'d, V: Visitor<'d>, const PACK: bool> Visitor<'d> for Walked<V, PACK> {
    const LOADING: bool = V::LOADING;
    const RUNS_SAVE_HOOKS: bool = V::RUNS_SAVE_HOOKS;
    const PACKED_RUNS: bool = PACK && V::PACKED_RUNS;

    fn put_packed(&mut self, fields: Range<usize>, bytes: &[u8]) -> Result<bool> {
        let taken = self.0.put_packed(fields, bytes)?;
        TAKEN.with(|t| t.set(t.get() + usize::from(taken)));
        Ok(taken)
    }
    fn take_packed(&mut self, fields: Range<usize>, bytes: &mut [u8]) -> Result<bool> {
        let taken = self.0.take_packed(fields, bytes)?;
        TAKEN.with(|t| t.set(t.get() + usize::from(taken)));
        Ok(taken)
    }

    forward! {
        visit_bool(name: &'d str, v: &mut bool) -> Result<()>;
        visit_i8(name: &'d str, v: &mut i8) -> Result<()>;
        visit_i16(name: &'d str, v: &mut i16) -> Result<()>;
        visit_i32(name: &'d str, v: &mut i32) -> Result<()>;
        visit_i64(name: &'d str, v: &mut i64) -> Result<()>;
        visit_u8(name: &'d str, v: &mut u8) -> Result<()>;
        visit_u16(name: &'d str, v: &mut u16) -> Result<()>;
        visit_u32(name: &'d str, v: &mut u32) -> Result<()>;
        visit_u64(name: &'d str, v: &mut u64) -> Result<()>;
        visit_f64(name: &'d str, v: &mut f64) -> Result<()>;
        visit_timer(name: &'d str, v: &mut Timer) -> Result<()>;
        visit_u8_equal(name: &'d str, v: &mut u8) -> Result<()>;
        visit_u16_equal(name: &'d str, v: &mut u16) -> Result<()>;
        visit_u32_equal(name: &'d str, v: &mut u32) -> Result<()>;
        visit_u64_equal(name: &'d str, v: &mut u64) -> Result<()>;
        visit_i32_equal(name: &'d str, v: &mut i32) -> Result<()>;
        visit_i32_le(name: &'d str, v: &mut i32) -> Result<()>;
        visit_buffer(name: &'d str, bytes: &mut [u8]) -> Result<()>;
        visit_buffer_vec(name: &'d str, bytes: &mut Vec<u8>, len: usize) -> Result<()>;
        visit_opaque(name: &'d str, type_name: &'d str, bytes: &mut Vec<u8>, len: usize) -> Result<()>;
        visit_unused(name: &'d str, len: usize) -> Result<()>;
        visit_bitmap_word(name: &'d str, word: &mut u64) -> Result<()>;
        visit_ptr_marker(name: &'d str, present: &mut bool, valid_allowed: bool) -> Result<()>;
        visit_list_marker(name: &'d str, more: &mut bool) -> Result<()>;
        visit_u8_slice(name: &'d str, items: &mut [u8]) -> Result<()>;
        visit_u16_slice(name: &'d str, items: &mut [u16]) -> Result<()>;
        visit_u32_slice(name: &'d str, items: &mut [u32]) -> Result<()>;
        visit_u64_slice(name: &'d str, items: &mut [u64]) -> Result<()>;
        visit_i32_slice(name: &'d str, items: &mut [i32]) -> Result<()>;
        enter_field(index: usize) -> Result<()>;
        leave_field() -> Result<()>;
        enter_struct(name: &'d str, description: &'d Description<'d>, version_id: u32) -> Result<()>;
        leave_struct() -> Result<()>;
        enter_array(name: &'d str, len: usize, element_size: usize) -> Result<()>;
        leave_array() -> Result<()>;
        pointer_nulls(name: &'d str, nulls: &mut dyn Iterator<Item = bool>) -> Result<()>;
        enter_element(index: usize) -> Result<()>;
        leave_element() -> Result<()>;
        enter_subsection(description: &'d Description<'d>) -> Result<()>;
        leave_subsection() -> Result<()>;
        next_subsection(parent: &'d Description<'d>) -> Result<Option<IncomingSubsection>>;
        allocate(added: u64, container: u64) -> Result<()>;
    }

    fn field_absent(&self) -> bool {
        self.0.field_absent()
    }
    fn input_position(&self) -> Option<u64> {
        self.0.input_position()
    }
    fn wire_offset(&self) -> Option<u64> {
        self.0.wire_offset()
    }
    fn locate(&self, error: Error) -> Error {
        self.0.locate(error)
    }
}

fn taken() -> usize {
    TAKEN.with(Cell::get)
}

fn root(d: &Description<'_>) -> PathSegment {
    PathSegment::Root(Cow::Owned(d.name.to_owned()))
}

/// Saves `value` as `ber::save_struct` does, packed or field by field.
fn save<const PACK: bool, T: VmState>(value: &mut T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let d = T::DESCRIPTION;
    let mut v = Walked::<_, PACK>(BerOutputVisitor::new(&mut out));
    visit_struct_at(value, &mut v, d.name, d.version_id).map_err(|e| e.within(root(d)))?;
    Ok(out)
}

/// What a load gives: the state, or the error (its message, path and
/// offset), and the fields reported unknown.
#[derive(Debug, PartialEq)]
struct Outcome<T> {
    state: T,
    result: std::result::Result<(u32, Vec<String>), String>,
}

/// Loads `bytes` into a copy of `dst` as `ber::load_struct` does, packed or
/// field by field.
fn load<const PACK: bool, T: VmState + Clone>(
    dst: &T,
    bytes: &[u8],
    options: &BerOptions,
) -> Outcome<T> {
    let mut state = dst.clone();
    let d = T::DESCRIPTION;
    let mut v = Walked::<_, PACK>(BerInputVisitor::new(bytes, 0, *options));
    let result =
        v.0.root()
            .and_then(|(_, version)| {
                visit_struct_at(&mut state, &mut v, d.name, version.min(d.version_id))?;
                Ok(version)
            })
            .map_err(|e| e.within(root(d)))
            .map(|version| {
                let unknown =
                    v.0.unknown_fields()
                        .iter()
                        .map(|u| format!("{}.{} at {}", u.description, u.name, u.offset))
                        .collect();
                (version, unknown)
            })
            .map_err(|e| format!("{e} | path {} | offset {:?}", e.path_string(), e.offset()));
    Outcome { state, result }
}

/// Both paths load `bytes` into `dst` alike; the outcome.
fn load_alike<T: VmState + Clone + PartialEq + std::fmt::Debug>(
    dst: &T,
    bytes: &[u8],
    options: &BerOptions,
    what: &str,
) -> Outcome<T> {
    let fields = load::<false, _>(dst, bytes, options);
    let packed = load::<true, _>(dst, bytes, options);
    assert_eq!(packed, fields, "{what}");
    packed
}

/// The packed save writes the field-by-field bytes (and `ber::save_struct`,
/// shared plans, the same), and takes at least `runs` runs; both loads give
/// the value back, the packed one taking at least `runs` runs.
fn same_both_ways<T: VmState + Clone + PartialEq + std::fmt::Debug>(
    value: &T,
    runs: usize,
) -> Vec<u8> {
    let fields = save::<false, _>(&mut value.clone()).unwrap();
    let before = taken();
    let packed = save::<true, _>(&mut value.clone()).unwrap();
    assert!(taken() - before >= runs, "the save took the packed runs");
    assert_eq!(packed, fields);
    let mut shared = Vec::new();
    ber::save_struct(&mut value.clone(), &mut shared).unwrap();
    assert_eq!(shared, fields);
    let before = taken();
    let out = load_alike(value, &fields, &BerOptions::default(), "in order");
    assert!(taken() - before >= runs, "the load took the packed runs");
    assert_eq!(&out.state, value);
    assert!(out.result.is_ok());
    let mut back = value.clone();
    ber::load_struct(&mut back, &fields, 0, &BerOptions::default()).unwrap();
    assert_eq!(&back, value);
    fields
}

/// Every truncation and every corrupted byte of `bytes` gives the same
/// outcome on both paths.
fn hostile_alike<T: VmState + Clone + PartialEq + std::fmt::Debug>(dst: &T, bytes: &[u8]) {
    let options = BerOptions::default();
    for cut in 0..bytes.len() {
        let out = load_alike(dst, &bytes[..cut], &options, &format!("cut at {cut}"));
        assert!(out.result.is_err(), "cut at {cut}");
    }
    for at in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.to_vec();
            b[at] ^= flip;
            load_alike(dst, &b, &options, &format!("byte {at} ^ {flip:#x}"));
        }
    }
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "inner", version = 1)]
struct Inner {
    p: u8,
    q: u16,
    r: u32,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "mixed/sub", version = 1, needed = MixedSub::needed)]
struct MixedSub {
    s1: u32,
    s2: u8,
    s3: [u16; 2],
}

impl MixedSub {
    fn needed(&self) -> bool {
        self.s1 != 0
    }
}

/// Packable runs broken by every kind of field the template leaves out.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "mixed", version = 3, minimum_version = 1)]
struct Mixed {
    a: u8,
    b: u16,
    c: u32,
    d: u64,
    e: i8,
    f: i16,
    g: i32,
    h: i64,
    flag: bool,
    x: f64,
    t: Timer,
    words: [u32; 3],
    octets: [u8; 5],
    ints: [i32; 2],
    longs: [u64; 2],
    halves: [u16; 3],
    #[vmstate(buffer)]
    raw: [u8; 4],
    inner: Inner,
    k: u16,
    // Packed by the derive, walked element by element: BER declines this
    // run.
    grid: [[u16; 2]; 2],
    small: [i16; 3],
    l: u32,
    #[vmstate(since = 2)]
    late: u16,
    m: u8,
    n: u8,
    #[vmstate(exists = Mixed::has_opt)]
    opt: u32,
    o: u64,
    #[vmstate(equal)]
    magic: u8,
    // Too big for a run (160 bytes): written on its own.
    big: [u64; 20],
    u: u64,
    v: bool,
    inners: [Inner; 2],
    w: u32,
    y: i64,
    #[vmstate(subsection)]
    sub: MixedSub,
    #[vmstate(skip)]
    no_opt: bool,
}

impl Mixed {
    fn has_opt(&self, _version: u32) -> bool {
        !self.no_opt
    }
}

fn mixed() -> Mixed {
    let mut big = [0u64; 20];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i as u64).wrapping_mul(0x0101_0101_0101_0101);
    }
    Mixed {
        a: 0x01,
        b: 0x0203,
        c: 0x0405_0607,
        d: 0x0809_0a0b_0c0d_0e0f,
        e: -2,
        f: -3,
        g: -4,
        h: -5,
        flag: true,
        x: 1.5,
        t: Timer::from_raw(-1),
        words: [0x1111_1111, 0x2222_2222, 0x3333_3333],
        octets: *b"octet",
        ints: [-7, 7],
        longs: [u64::MAX, 1],
        halves: [0xffff, 0x8000, 1],
        raw: *b"RAW!",
        inner: Inner {
            p: 0x70,
            q: 0x7172,
            r: 0x7374_7576,
        },
        k: 0x0b0b,
        grid: [[0xa1a2, 0xa3a4], [0xa5a6, 0xa7a8]],
        small: [-1, 0, 1],
        l: 0x0c0c_0c0c,
        late: 0xbeef,
        m: 0x0d,
        n: 0x0e,
        opt: 0x0f0f_0f0f,
        o: 0x1010_1010_1010_1010,
        magic: 0x5a,
        big,
        u: 0x2020,
        v: false,
        inners: [Inner { p: 1, q: 2, r: 3 }, Inner { p: 4, q: 5, r: 6 }],
        w: 0x3030_3030,
        y: i64::MIN,
        sub: MixedSub {
            s1: 0x4040_4040,
            s2: 0x41,
            s3: [0x4243, 0x4445],
        },
        no_opt: false,
    }
}

#[test]
fn the_bench_cases_write_and_read_the_same_both_ways() {
    same_both_ways(&ber_cases::Scalars::sample(), 1);
    let pic = ber_cases::i8259();
    let bytes = same_both_ways(&pic, 1);
    hostile_alike(&vmstate_tests::devices::i8259::I8259::default(), &bytes);
    // Not needed: the subsection is left out.
    same_both_ways(&vmstate_tests::devices::i8259::I8259::default(), 1);
    same_both_ways(&ber_cases::boxed_bytes(), 0);
    same_both_ways(&ber_cases::words(), 0);
}

#[test]
fn mixed_fields_write_and_read_the_same_both_ways() {
    let value = mixed();
    let bytes = same_both_ways(&value, 5);
    let dst = Mixed {
        magic: 0x5a,
        ..Mixed::default()
    };
    hostile_alike(&dst, &bytes);
    // Without the `exists` field and the subsection.
    let value = Mixed {
        no_opt: true,
        sub: MixedSub::default(),
        ..mixed()
    };
    let bytes = same_both_ways(&value, 5);
    let dst = Mixed {
        magic: 0x5a,
        no_opt: true,
        ..Mixed::default()
    };
    hostile_alike(&dst, &bytes);
}

#[test]
fn a_bool_other_than_00_or_01_fails_alike() {
    let value = mixed();
    let bytes = save::<false, _>(&mut value.clone()).unwrap();
    // The `flag` field: its name, then c1 01 and the value.
    let name = b"\x0c\x04flag\xc1\x01";
    let at = bytes
        .windows(name.len())
        .position(|w| w == name)
        .expect("the flag field")
        + name.len();
    assert_eq!(bytes[at], 1);
    let mut b = bytes.clone();
    b[at] = 2;
    let out = load_alike(&Mixed::default(), &b, &BerOptions::default(), "bool 02");
    let err = out.result.unwrap_err();
    assert!(err.contains("mixed.flag"), "{err}");
}

/// The same names, other orders and types: what schema evolution changes.
mod evolved {
    use vmstate_core::VmState;

    /// `Mixed`'s first fields in another order.
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "mixed", version = 3, minimum_version = 1)]
    pub struct Reordered {
        pub b: u16,
        pub a: u8,
        pub d: u64,
        pub c: u32,
    }

    /// `a` and `b` widened, `c` narrowed and signed.
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "mixed", version = 3, minimum_version = 1)]
    pub struct Retyped {
        pub a: u32,
        pub b: u64,
        pub c: i64,
        pub d: u64,
        pub flag: u8,
    }

    /// A field `Mixed` does not know in the middle of its first run.
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "mixed", version = 3, minimum_version = 1)]
    pub struct Extra {
        pub a: u8,
        pub b: u16,
        pub extra: u32,
        pub c: u32,
        pub d: u64,
    }

    /// `Mixed` at version 1, with `b` missing.
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "mixed", version = 1, minimum_version = 1)]
    pub struct Missing {
        pub a: u8,
        pub c: u32,
        pub d: u64,
    }

    /// A value that does not fit the destination's `u8`.
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "mixed", version = 3, minimum_version = 1)]
    pub struct TooBig {
        pub a: u16,
        pub b: u16,
    }
}

#[test]
fn evolved_inputs_load_alike() {
    let dst = Mixed {
        magic: 0x5a,
        ..mixed()
    };
    let lenient = BerOptions {
        require_fields: false,
        ..BerOptions::default()
    };
    let mut inputs: Vec<(&str, Vec<u8>)> = vec![
        (
            "reordered",
            ber::save_to_vec(&mut evolved::Reordered {
                b: 0x1122,
                a: 0x33,
                d: 0x44,
                c: 0x55,
            })
            .unwrap(),
        ),
        (
            "retyped",
            ber::save_to_vec(&mut evolved::Retyped {
                a: 0x7f,
                b: 0xffff,
                c: -1,
                d: 9,
                flag: 1,
            })
            .unwrap(),
        ),
        (
            "extra",
            ber::save_to_vec(&mut evolved::Extra {
                a: 1,
                b: 2,
                extra: 3,
                c: 4,
                d: 5,
            })
            .unwrap(),
        ),
        (
            "missing",
            ber::save_to_vec(&mut evolved::Missing { a: 1, c: 3, d: 4 }).unwrap(),
        ),
        (
            "too big",
            ber::save_to_vec(&mut evolved::TooBig { a: 0x100, b: 1 }).unwrap(),
        ),
    ];
    // A newer writer's struct: `Mixed` at version 3 read as version 1.
    inputs.push(("whole", ber::save_to_vec(&mut mixed()).unwrap()));
    for (what, doc) in &inputs {
        let (_, at) = ber::Header::parse(doc).unwrap();
        let body = &doc[at..];
        for options in [BerOptions::default(), lenient] {
            let out = load_alike(&dst, body, &options, what);
            if *what == "whole" {
                assert_eq!(out.state, dst);
            }
            if *what == "extra" && !options.require_fields {
                assert_eq!(out.state.c, 4);
                let (_, unknown) = out.result.as_ref().unwrap();
                assert!(unknown.iter().any(|u| u.starts_with("mixed.extra")));
            }
        }
    }
    // The evolution results, through `ber::load` (the packed path).
    let mut v = dst.clone();
    let report = ber::load_with(&mut v, &inputs[2].1, &lenient).unwrap();
    assert_eq!((v.a, v.b, v.c, v.d), (1, 2, 4, 5));
    assert_eq!(report.unknown_fields.len(), 1);
    let mut v = dst.clone();
    ber::load_with(&mut v, &inputs[0].1, &lenient).unwrap();
    assert_eq!((v.a, v.b, v.c, v.d), (0x33, 0x1122, 0x55, 0x44));
    let mut v = dst.clone();
    let err = ber::load_with(&mut v, &inputs[4].1, &lenient).unwrap_err();
    assert!(err.path_string().contains("mixed.a"), "{err}");
}

/// Limits: the in-order path allocates nothing; a tight limit fails alike.
#[test]
fn limits_apply_alike() {
    let value = mixed();
    let bytes = save::<false, _>(&mut value.clone()).unwrap();
    let mut shuffled = bytes.clone();
    // Swap the first two fields' names' letters: both fields become
    // unknown and the struct is indexed (within the limit or not).
    let a = shuffled.windows(3).position(|w| w == b"\x0c\x01a").unwrap();
    shuffled[a + 2] = b'z';
    for max in [0u64, 64, 1 << 20] {
        let options = BerOptions {
            limits: vmstate_core::Limits {
                max_allocation: max,
                ..vmstate_core::Limits::DEFAULT
            },
            require_fields: false,
            ..BerOptions::default()
        };
        load_alike(&Mixed::default(), &bytes, &options, "in order");
        load_alike(&Mixed::default(), &shuffled, &options, "renamed");
    }
}

/// What a load keeps of an input it does not know goes back in its place,
/// the same both ways.
#[test]
fn kept_fields_are_written_back_alike() {
    let doc = ber::save_to_vec(&mut evolved::Extra {
        a: 1,
        b: 2,
        extra: 3,
        c: 4,
        d: 5,
    })
    .unwrap();
    let (_, at) = ber::Header::parse(&doc).unwrap();
    let body = &doc[at..];
    let options = BerOptions {
        require_fields: false,
        ..BerOptions::default()
    };
    let dst = Mixed {
        magic: 0x5a,
        ..Mixed::default()
    };
    let keep = |pack: bool| -> (Mixed, Unknown, Vec<u8>) {
        let mut state = dst.clone();
        let d = Mixed::DESCRIPTION;
        let v = BerInputVisitor::new(body, 0, options).keeping_unknown();
        let unknown = if pack {
            let mut v = Walked::<_, true>(v);
            let (_, version) = v.0.root().unwrap();
            visit_struct_at(&mut state, &mut v, d.name, version.min(d.version_id)).unwrap();
            v.0.take_kept()
        } else {
            let mut v = Walked::<_, false>(v);
            let (_, version) = v.0.root().unwrap();
            visit_struct_at(&mut state, &mut v, d.name, version.min(d.version_id)).unwrap();
            v.0.take_kept()
        };
        let mut out = Vec::new();
        let w = BerOutputVisitor::new(&mut out).writing_back(&unknown);
        if pack {
            let mut w = Walked::<_, true>(w);
            visit_struct_at(&mut state.clone(), &mut w, d.name, d.version_id).unwrap();
        } else {
            let mut w = Walked::<_, false>(w);
            visit_struct_at(&mut state.clone(), &mut w, d.name, d.version_id).unwrap();
        }
        (state, unknown, out)
    };
    let (s1, k1, o1) = keep(false);
    let (s2, k2, o2) = keep(true);
    assert_eq!(s1, s2);
    assert_eq!(k1, k2);
    assert_eq!(o1, o2);
    assert!(
        o1.windows(7).any(|w| w == b"\x0c\x05extra"),
        "the unknown field is written back"
    );
    // Without kept parts in a struct, its runs are packed when written back.
    let (_, _, plain) = {
        let empty = Unknown::default();
        let mut out = Vec::new();
        let before = taken();
        let w = BerOutputVisitor::new(&mut out).writing_back(&empty);
        let mut w = Walked::<_, true>(w);
        let d = Mixed::DESCRIPTION;
        visit_struct_at(&mut mixed(), &mut w, d.name, d.version_id).unwrap();
        assert!(taken() > before);
        (0, 0, out)
    };
    assert_eq!(plain, save::<false, _>(&mut mixed()).unwrap());
}

/// A struct whose `post_load` fails, after runs that end in an array, a
/// buffer and a scalar: the error is located where the per-field load
/// left its last read.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "refuse", version = 1, post_load = Refuse::check)]
struct Refuse {
    a: u8,
    b: u32,
    arr: [u16; 2],
    #[vmstate(buffer)]
    buf: [u8; 3],
    c: u8,
}

impl Refuse {
    fn check(&mut self, _: u32) -> std::result::Result<(), String> {
        Err("refused".into())
    }
}

/// `Refuse`, ending with the array.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "refuse", version = 1, post_load = RefuseArray::check)]
struct RefuseArray {
    a: u8,
    b: u32,
    arr: [u16; 2],
}

impl RefuseArray {
    fn check(&mut self, _: u32) -> std::result::Result<(), String> {
        Err("refused".into())
    }
}

/// `Refuse`, ending with the buffer.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "refuse", version = 1, post_load = RefuseBuffer::check)]
struct RefuseBuffer {
    a: u8,
    b: u32,
    #[vmstate(buffer)]
    buf: [u8; 3],
}

impl RefuseBuffer {
    fn check(&mut self, _: u32) -> std::result::Result<(), String> {
        Err("refused".into())
    }
}

#[test]
fn a_hook_error_after_a_run_is_located_alike() {
    fn check<T: VmState + Clone + PartialEq + std::fmt::Debug + Default>(value: T) {
        let bytes = save::<false, _>(&mut value.clone()).unwrap();
        let before = taken();
        let out = load_alike(&T::default(), &bytes, &BerOptions::default(), "hook");
        assert!(taken() > before, "the load took the run");
        let err = out.result.unwrap_err();
        assert!(err.contains("refused"), "{err}");
    }
    check(RefuseArray {
        a: 1,
        b: 2,
        arr: [3, 4],
    });
    check(RefuseBuffer {
        a: 1,
        b: 2,
        buf: [3, 4, 5],
    });
    check(Refuse {
        a: 1,
        b: 2,
        arr: [3, 4],
        buf: [5, 6, 7],
        c: 8,
    });
}

/// A struct's last entry, a subsection, is read in place (no index), with
/// the checks the index makes: its limit, the subsection's version, an
/// unknown subsection.
#[test]
fn a_last_subsection_is_read_with_the_checks_of_the_index() {
    let mut pic = ber_cases::i8259();
    let mut bytes = Vec::new();
    ber::save_struct(&mut pic, &mut bytes).unwrap();
    let dst = vmstate_tests::devices::i8259::I8259::default();
    let mut back = dst.clone();
    ber::load_struct(&mut back, &bytes, 0, &BerOptions::default()).unwrap();
    assert_eq!(back, pic);

    let tiny = BerOptions {
        limits: vmstate_core::Limits {
            max_allocation: 1,
            ..vmstate_core::Limits::DEFAULT
        },
        ..BerOptions::default()
    };
    let err = ber::load_struct(&mut dst.clone(), &bytes, 0, &tiny).unwrap_err();
    assert!(err.to_string().contains("index of the fields"), "{err}");

    let sub = b"\x0c\x0ai8259/ltim\x02\x01";
    let at = bytes.windows(sub.len()).position(|w| w == sub).unwrap() + sub.len();
    assert_eq!(bytes[at], 1, "the subsection's version");
    let mut newer = bytes.clone();
    newer[at] = 2;
    let mut v = dst.clone();
    ber::load_struct(&mut v, &newer, 0, &BerOptions::default()).unwrap();
    assert_eq!(
        v, pic,
        "a newer subsection loads at the version the destination has"
    );
    let strict = BerOptions {
        accept_newer: false,
        ..BerOptions::default()
    };
    let err = ber::load_struct(&mut dst.clone(), &newer, 0, &strict).unwrap_err();
    assert!(err.path_string().contains("i8259/ltim"), "{err}");
    let mut older = bytes.clone();
    older[at] = 0;
    let err = ber::load_struct(&mut dst.clone(), &older, 0, &strict).unwrap_err();
    assert!(err.path_string().contains("i8259/ltim"), "{err}");

    let mut unknown = bytes.clone();
    unknown[at - 3] = b'X';
    let err = ber::load_struct(&mut dst.clone(), &unknown, 0, &BerOptions::default()).unwrap_err();
    assert!(err.to_string().contains("i8259/ltiX"), "{err}");
}
