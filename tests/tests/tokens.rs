//! Token-sequence tests of the visitor walk, independent of any wire format,
//! in the manner of `serde_test`: which visitor calls a type makes, in which
//! order, under which names. A token-replaying loading visitor then shows
//! that a load walk makes the same calls.

use std::collections::{BTreeMap, VecDeque};

use vmstate_core::forms::TmpState;
use vmstate_core::tokens::{Token, tokens};
use vmstate_core::{
    Description, IncomingSubsection, Result, Timer, Visitor, VmState, visit_struct_at,
};

use Token::*;

// ================================================================ types

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "pt", version = 1)]
struct Pt {
    x: i16,
    y: i16,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "nest", version = 4, minimum_version = 2)]
struct Nest {
    a: u8,
    #[vmstate(name = "origin")]
    pt: Pt,
    pts: [Pt; 2],
    boxed: Box<Pt>,
    tail: bool,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "dev", version = 2)]
struct Dev {
    reg: u32,
    #[vmstate(subsection)]
    always: DevAlways,
    #[vmstate(subsection, needed = Dev::wants_opt)]
    opt: DevOpt,
    #[vmstate(skip)]
    send_opt: bool,
}

impl Dev {
    fn wants_opt(&self) -> bool {
        self.send_opt
    }
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "dev/always", version = 3, minimum_version = 1)]
struct DevAlways {
    n: u16,
    #[vmstate(subsection)]
    deeper: DevAlwaysDeeper,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "dev/always/deeper", version = 1, needed = DevAlwaysDeeper::nonzero)]
struct DevAlwaysDeeper {
    d: u8,
}

impl DevAlwaysDeeper {
    fn nonzero(&self) -> bool {
        self.d != 0
    }
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "dev/opt", version = 5, minimum_version = 5)]
struct DevOpt {
    o: i64,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "var", version = 1)]
struct Var {
    n: u8,
    #[vmstate(len = n)]
    items: Vec<u16>,
    m: i32,
    #[vmstate(len = m)]
    pts: [Pt; 3],
    len: u32,
    #[vmstate(buffer, len = len)]
    blob: Vec<u8>,
    bits: u16,
    #[vmstate(bitmap, bits = bits)]
    map: Vec<u64>,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "lists", version = 1)]
struct Lists {
    #[vmstate(qtailq)]
    q: Vec<Pt>,
    #[vmstate(qlist)]
    l: VecDeque<Pt>,
    #[vmstate(qtailq)]
    empty: Vec<Pt>,
}

#[derive(VmState, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
#[vmstate(name = "range", version = 1)]
struct Range {
    lo: u32,
    hi: u32,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "trees", version = 1)]
struct Trees {
    #[vmstate(gtree)]
    direct: BTreeMap<u64, Pt>,
    #[vmstate(gtree)]
    keyed: BTreeMap<Range, u32>,
}

#[derive(VmState, Clone, Copy, Debug, PartialEq, Default)]
#[repr(u8)]
enum Mode {
    #[default]
    Off = 0,
    On = 1,
    Turbo = 7,
}

#[derive(VmState, Clone, Copy, Debug, PartialEq, Default)]
#[repr(i32)]
enum Sign {
    Neg = -1,
    #[default]
    Zero = 0,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "enums", version = 1)]
struct Enums(Mode, [Mode; 2], Sign);

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "nested3", version = 3, minimum_version = 1)]
struct Nested3 {
    a: u8,
    #[vmstate(since = 3)]
    b: u8,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "misc", version = 2)]
struct Misc {
    flag: bool,
    s8: i8,
    s16: i16,
    s64: i64,
    u: u64,
    d: f64,
    t: Timer,
    #[vmstate(equal)]
    e8: u8,
    #[vmstate(equal)]
    e16: u16,
    #[vmstate(equal)]
    e32: u32,
    #[vmstate(equal)]
    e64: u64,
    #[vmstate(equal)]
    ei32: i32,
    #[vmstate(le)]
    le: i32,
    #[vmstate(buffer)]
    raw: [u8; 3],
    #[vmstate(unused = 2)]
    _pad: (),
    grid: [[u8; 2]; 2],
    ptrs: [Option<u32>; 2],
    #[vmstate(auto_alloc)]
    auto: [Option<Pt>; 2],
    #[vmstate(struct_version = 2)]
    pinned: Nested3,
    #[vmstate(tmp = MiscTmp)]
    _tmp: (),
    #[vmstate(validate = Misc::ok)]
    _check: (),
    #[vmstate(since = 2)]
    late: u8,
    #[vmstate(exists = Misc::never)]
    absent: u8,
    #[vmstate(skip)]
    local: u32,
}

impl Misc {
    fn ok(&self, _: u32) -> bool {
        true
    }
    fn never(&self, _: u32) -> bool {
        false
    }
}

#[derive(VmState, Default)]
#[vmstate(name = "misc/tmp", version = 1)]
struct MiscTmp {
    twice: u32,
}

impl TmpState<Misc> for MiscTmp {
    fn from_parent(p: &Misc) -> Result<Self> {
        Ok(MiscTmp { twice: p.local * 2 })
    }
    fn into_parent(self, p: &mut Misc) -> Result<()> {
        p.local = self.twice / 2;
        Ok(())
    }
}

fn st(name: &'static str, description: &'static str, version_id: u32) -> Token<'static> {
    Struct {
        name,
        description,
        version_id,
    }
}

fn pt_tokens(name: &'static str, x: i16, y: i16) -> Vec<Token<'static>> {
    vec![st(name, "pt", 1), I16("x", x), I16("y", y), StructEnd]
}

fn element(i: usize, inner: Vec<Token<'static>>) -> Vec<Token<'static>> {
    [vec![Element(i)], inner, vec![ElementEnd]].concat()
}

// ================================================================ save walks

#[test]
fn nested_structs_and_arrays_of_structs() {
    let mut v = Nest {
        a: 1,
        pt: Pt { x: 2, y: -3 },
        pts: [Pt { x: 4, y: 5 }, Pt { x: 6, y: 7 }],
        boxed: Box::new(Pt { x: 8, y: 9 }),
        tail: true,
    };
    let expected = [
        vec![st("nest", "nest", 4), U8("a", 1)],
        pt_tokens("origin", 2, -3),
        vec![Array {
            name: "pts",
            len: 2,
        }],
        element(0, pt_tokens("pts", 4, 5)),
        element(1, pt_tokens("pts", 6, 7)),
        vec![ArrayEnd],
        pt_tokens("boxed", 8, 9),
        vec![Bool("tail", true), StructEnd],
    ]
    .concat();
    assert_eq!(tokens(&mut v).unwrap(), expected);
}

#[test]
fn subsections_needed_and_not_needed() {
    // Only the unconditional subsection; its own subsection is not needed.
    let mut v = Dev {
        reg: 0x10,
        always: DevAlways {
            n: 3,
            deeper: DevAlwaysDeeper { d: 0 },
        },
        opt: DevOpt { o: -5 },
        send_opt: false,
    };
    assert_eq!(
        tokens(&mut v).unwrap(),
        [
            st("dev", "dev", 2),
            U32("reg", 0x10),
            Subsection {
                name: "dev/always",
                version_id: 3,
            },
            st("dev/always", "dev/always", 3),
            U16("n", 3),
            StructEnd,
            SubsectionEnd,
            StructEnd,
        ]
    );

    // Everything needed: subsections in declaration order, nested ones
    // inside their parent's struct, each at its own version.
    v.always.deeper.d = 9;
    v.send_opt = true;
    assert_eq!(
        tokens(&mut v).unwrap(),
        [
            st("dev", "dev", 2),
            U32("reg", 0x10),
            Subsection {
                name: "dev/always",
                version_id: 3,
            },
            st("dev/always", "dev/always", 3),
            U16("n", 3),
            Subsection {
                name: "dev/always/deeper",
                version_id: 1,
            },
            st("dev/always/deeper", "dev/always/deeper", 1),
            U8("d", 9),
            StructEnd,
            SubsectionEnd,
            StructEnd,
            SubsectionEnd,
            Subsection {
                name: "dev/opt",
                version_id: 5,
            },
            st("dev/opt", "dev/opt", 5),
            I64("o", -5),
            StructEnd,
            SubsectionEnd,
            StructEnd,
        ]
    );
}

#[test]
fn variable_arrays_buffers_and_bitmaps() {
    let mut v = Var {
        n: 2,
        items: vec![0xa, 0xb],
        m: 1,
        pts: [Pt { x: 1, y: 2 }, Pt { x: 3, y: 4 }, Pt { x: 5, y: 6 }],
        len: 3,
        blob: vec![7, 8, 9],
        bits: 65,
        map: vec![u64::MAX, 1],
    };
    let expected = [
        vec![
            st("var", "var", 1),
            U8("n", 2),
            Array {
                name: "items",
                len: 2,
            },
            Element(0),
            U16("items", 0xa),
            ElementEnd,
            Element(1),
            U16("items", 0xb),
            ElementEnd,
            ArrayEnd,
            I32("m", 1),
            // Only the first `m` elements of the fixed array.
            Array {
                name: "pts",
                len: 1,
            },
        ],
        element(0, pt_tokens("pts", 1, 2)),
        vec![
            ArrayEnd,
            U32("len", 3),
            Buffer("blob", vec![7, 8, 9]),
            U16("bits", 65),
            Array {
                name: "map",
                len: 2,
            },
            Element(0),
            BitmapWord("map", u64::MAX),
            ElementEnd,
            Element(1),
            BitmapWord("map", 1),
            ElementEnd,
            ArrayEnd,
            StructEnd,
        ],
    ]
    .concat();
    assert_eq!(tokens(&mut v).unwrap(), expected);

    // Empty: the array is still announced, with no elements.
    let mut v = Var::default();
    assert_eq!(
        tokens(&mut v).unwrap(),
        [
            st("var", "var", 1),
            U8("n", 0),
            Array {
                name: "items",
                len: 0
            },
            ArrayEnd,
            I32("m", 0),
            Array {
                name: "pts",
                len: 0
            },
            ArrayEnd,
            U32("len", 0),
            Buffer("blob", vec![]),
            U16("bits", 0),
            Array {
                name: "map",
                len: 0
            },
            ArrayEnd,
            StructEnd,
        ]
    );
}

#[test]
fn qtailq_and_qlist() {
    let mut v = Lists {
        q: vec![Pt { x: 1, y: 2 }, Pt { x: 3, y: 4 }],
        l: VecDeque::from([Pt { x: 5, y: 6 }]),
        empty: vec![],
    };
    // Each element's `01` marker comes before the element, the final `00`
    // inside the array: the same calls in both directions.
    let expected = [
        vec![
            st("lists", "lists", 1),
            Array { name: "q", len: 2 },
            ListMarker("q", true),
        ],
        element(0, pt_tokens("q", 1, 2)),
        vec![ListMarker("q", true)],
        element(1, pt_tokens("q", 3, 4)),
        vec![
            ListMarker("q", false),
            ArrayEnd,
            Array { name: "l", len: 1 },
            ListMarker("l", true),
        ],
        element(0, pt_tokens("l", 5, 6)),
        vec![
            ListMarker("l", false),
            ArrayEnd,
            Array {
                name: "empty",
                len: 0,
            },
            ListMarker("empty", false),
            ArrayEnd,
            StructEnd,
        ],
    ]
    .concat();
    assert_eq!(tokens(&mut v).unwrap(), expected);
}

#[test]
fn gtrees_with_direct_and_struct_keys() {
    let mut v = Trees {
        direct: BTreeMap::from([(9, Pt { x: 1, y: 2 }), (3, Pt { x: 3, y: 4 })]),
        keyed: BTreeMap::from([(Range { lo: 1, hi: 2 }, 77)]),
    };
    let expected = [
        vec![
            st("trees", "trees", 1),
            // The node count, then the nodes in key order.
            U32("direct", 2),
            Array {
                name: "direct",
                len: 2,
            },
            ListMarker("direct", true),
        ],
        element(
            0,
            [vec![U64("direct", 3)], pt_tokens("direct", 3, 4)].concat(),
        ),
        vec![ListMarker("direct", true)],
        element(
            1,
            [vec![U64("direct", 9)], pt_tokens("direct", 1, 2)].concat(),
        ),
        vec![
            ListMarker("direct", false),
            ArrayEnd,
            U32("keyed", 1),
            Array {
                name: "keyed",
                len: 1,
            },
            ListMarker("keyed", true),
        ],
        element(
            0,
            vec![
                st("keyed", "range", 1),
                U32("lo", 1),
                U32("hi", 2),
                StructEnd,
                U32("keyed", 77),
            ],
        ),
        vec![ListMarker("keyed", false), ArrayEnd, StructEnd],
    ]
    .concat();
    assert_eq!(tokens(&mut v).unwrap(), expected);
}

#[test]
fn enums_walk_as_their_repr() {
    let mut v = Enums(Mode::Turbo, [Mode::On, Mode::Off], Sign::Neg);
    assert_eq!(
        tokens(&mut v).unwrap(),
        [
            st("enums", "enums", 1),
            U8("0", 7),
            Array { name: "1", len: 2 },
            Element(0),
            U8("1", 1),
            ElementEnd,
            Element(1),
            U8("1", 0),
            ElementEnd,
            ArrayEnd,
            I32("2", -1),
            StructEnd,
        ]
    );
}

fn misc() -> Misc {
    Misc {
        flag: true,
        s8: -1,
        s16: -2,
        s64: -3,
        u: 4,
        d: 1.5,
        t: Timer::armed_at(1000),
        e8: 5,
        e16: 6,
        e32: 7,
        e64: 8,
        ei32: -9,
        le: 10,
        raw: [1, 2, 3],
        _pad: (),
        grid: [[1, 2], [3, 4]],
        ptrs: [None, Some(11)],
        auto: [Some(Pt { x: 12, y: 13 }), None],
        pinned: Nested3 { a: 14, b: 15 },
        _tmp: (),
        _check: (),
        late: 16,
        absent: 17,
        local: 18,
    }
}

#[test]
fn every_scalar_token_and_the_special_forms() {
    let expected = [
        vec![
            st("misc", "misc", 2),
            Bool("flag", true),
            I8("s8", -1),
            I16("s16", -2),
            I64("s64", -3),
            U64("u", 4),
            F64("d", 1.5),
            Timer("t", vmstate_core::Timer::armed_at(1000)),
            U8Equal("e8", 5),
            U16Equal("e16", 6),
            U32Equal("e32", 7),
            U64Equal("e64", 8),
            I32Equal("ei32", -9),
            I32Le("le", 10),
            Buffer("raw", vec![1, 2, 3]),
            Unused("unused", 2),
            // A 2-D array: arrays in elements.
            Array {
                name: "grid",
                len: 2,
            },
        ],
        element(
            0,
            vec![
                Array {
                    name: "grid",
                    len: 2,
                },
                Element(0),
                U8("grid", 1),
                ElementEnd,
                Element(1),
                U8("grid", 2),
                ElementEnd,
                ArrayEnd,
            ],
        ),
        element(
            1,
            vec![
                Array {
                    name: "grid",
                    len: 2,
                },
                Element(0),
                U8("grid", 3),
                ElementEnd,
                Element(1),
                U8("grid", 4),
                ElementEnd,
                ArrayEnd,
            ],
        ),
        vec![
            ArrayEnd,
            // A NULL pointer is its marker; a present one is the element.
            Array {
                name: "ptrs",
                len: 2,
            },
            Element(0),
            PtrMarker("ptrs", false),
            ElementEnd,
            Element(1),
            U32("ptrs", 11),
            ElementEnd,
            ArrayEnd,
            // auto_alloc: a marker before every element.
            Array {
                name: "auto",
                len: 2,
            },
            Element(0),
            PtrMarker("auto", true),
        ],
        pt_tokens("auto", 12, 13),
        vec![
            ElementEnd,
            Element(1),
            PtrMarker("auto", false),
            ElementEnd,
            ArrayEnd,
            // Pinned at version 2: `b` (since 3) is not walked.
            st("pinned", "nested3", 2),
            U8("a", 14),
            StructEnd,
            // The tmp struct under the field's name; validate walks nothing.
            st("_tmp", "misc/tmp", 1),
            U32("twice", 36),
            StructEnd,
            U8("late", 16),
            StructEnd,
        ],
    ]
    .concat();
    assert_eq!(tokens(&mut misc()).unwrap(), expected);
}

#[test]
fn recorder_can_be_driven_by_hand() {
    let mut rec = vmstate_core::tokens::TokenRecorder::new();
    let mut v = Pt { x: 1, y: 2 };
    visit_struct_at(&mut v, &mut rec, "renamed", 1).unwrap();
    assert_eq!(rec.into_tokens(), pt_tokens("renamed", 1, 2));
}

// ================================================================ load walks

/// A loading visitor that takes its values from a save walk's tokens and
/// records the calls it receives as tokens.
///
/// The data tokens (scalars, buffers, markers) and the subsection headers are
/// replayed in order and must be asked for under the same name; structure
/// tokens (structs, arrays, elements) are only recorded.
struct Replay {
    feed: Vec<Token<'static>>,
    next: usize,
    seen: Vec<Token<'static>>,
}

fn is_structure(t: &Token) -> bool {
    matches!(
        t,
        Struct { .. } | StructEnd | Array { .. } | ArrayEnd | Element(_) | ElementEnd
    )
}

impl Replay {
    fn new(save_tokens: &[Token<'static>]) -> Self {
        Replay {
            feed: save_tokens
                .iter()
                .filter(|t| !is_structure(t) && **t != SubsectionEnd)
                .cloned()
                .collect(),
            next: 0,
            seen: Vec::new(),
        }
    }

    fn take(&mut self) -> Result<Token<'static>> {
        let t = self
            .feed
            .get(self.next)
            .cloned()
            .ok_or_else(|| vmstate_core::Error::msg("replay: out of tokens"))?;
        self.next += 1;
        Ok(t)
    }

    fn mismatch(&self, wanted: &str, got: &Token<'static>) -> vmstate_core::Error {
        vmstate_core::Error::msg(format!(
            "replay: the walk asks for {wanted}, the save walk had {got:?}"
        ))
    }
}

macro_rules! replay {
    ($($method:ident($t:ty) => $tok:ident),* $(,)?) => {$(
        fn $method(&mut self, name: &'static str, v: &mut $t) -> Result<()> {
            match self.take()? {
                $tok(n, x) if n == name => {
                    *v = x;
                    self.seen.push($tok(name, x));
                    Ok(())
                }
                other => Err(self.mismatch(concat!(stringify!($tok), " ") , &other)),
            }
        }
    )*};
}

impl Visitor<'static> for Replay {
    const LOADING: bool = true;

    replay! {
        visit_bool(bool) => Bool, visit_i8(i8) => I8, visit_i16(i16) => I16,
        visit_i32(i32) => I32, visit_i64(i64) => I64, visit_u8(u8) => U8,
        visit_u16(u16) => U16, visit_u32(u32) => U32, visit_u64(u64) => U64,
        visit_f64(f64) => F64, visit_timer(vmstate_core::Timer) => Timer,
        visit_u8_equal(u8) => U8Equal, visit_u16_equal(u16) => U16Equal,
        visit_u32_equal(u32) => U32Equal, visit_u64_equal(u64) => U64Equal,
        visit_i32_equal(i32) => I32Equal, visit_i32_le(i32) => I32Le,
        visit_bitmap_word(u64) => BitmapWord,
        visit_list_marker(bool) => ListMarker,
    }

    fn visit_buffer(&mut self, name: &'static str, bytes: &mut [u8]) -> Result<()> {
        match self.take()? {
            Buffer(n, b) if n == name && b.len() == bytes.len() => {
                bytes.copy_from_slice(&b);
                self.seen.push(Buffer(name, b));
                Ok(())
            }
            other => Err(self.mismatch("Buffer", &other)),
        }
    }
    fn visit_buffer_vec(
        &mut self,
        name: &'static str,
        bytes: &mut Vec<u8>,
        len: usize,
    ) -> Result<()> {
        bytes.resize(len, 0);
        self.visit_buffer(name, bytes)
    }
    fn visit_unused(&mut self, name: &'static str, len: usize) -> Result<()> {
        match self.take()? {
            Unused(n, l) if n == name && l == len => {
                self.seen.push(Unused(name, len));
                Ok(())
            }
            other => Err(self.mismatch("Unused", &other)),
        }
    }
    fn visit_ptr_marker(
        &mut self,
        name: &'static str,
        present: &mut bool,
        valid_allowed: bool,
    ) -> Result<()> {
        match self.take()? {
            PtrMarker(n, p) if n == name && (valid_allowed || !p) => {
                *present = p;
                self.seen.push(PtrMarker(name, p));
                Ok(())
            }
            other => Err(self.mismatch("PtrMarker", &other)),
        }
    }
    fn enter_struct(
        &mut self,
        name: &'static str,
        d: &'static Description<'static>,
        version_id: u32,
    ) -> Result<()> {
        self.seen.push(Struct {
            name,
            description: d.name,
            version_id,
        });
        Ok(())
    }
    fn leave_struct(&mut self) -> Result<()> {
        self.seen.push(StructEnd);
        Ok(())
    }
    fn enter_array(&mut self, name: &'static str, len: usize, _: usize) -> Result<()> {
        self.seen.push(Array { name, len });
        Ok(())
    }
    fn leave_array(&mut self) -> Result<()> {
        self.seen.push(ArrayEnd);
        Ok(())
    }
    fn enter_element(&mut self, index: usize) -> Result<()> {
        self.seen.push(Element(index));
        Ok(())
    }
    fn leave_element(&mut self) -> Result<()> {
        self.seen.push(ElementEnd);
        Ok(())
    }
    fn enter_subsection(&mut self, _: &'static Description<'static>) -> Result<()> {
        Err(vmstate_core::Error::msg(
            "replay: enter_subsection is for saving",
        ))
    }
    fn leave_subsection(&mut self) -> Result<()> {
        self.seen.push(SubsectionEnd);
        Ok(())
    }
    fn next_subsection(
        &mut self,
        parent: &'static Description<'static>,
    ) -> Result<Option<IncomingSubsection>> {
        if let Some(Subsection { name, version_id }) = self.feed.get(self.next).cloned() {
            if let Some(index) = parent.subsection_index(name.as_bytes()) {
                self.next += 1;
                self.seen.push(Subsection { name, version_id });
                return Ok(Some(IncomingSubsection { index, version_id }));
            }
        }
        Ok(None)
    }
}

/// The structure of a walk: the structure tokens, with the length of arrays
/// (which a load of a list cannot know up front) left out.
fn structure(ts: &[Token<'static>]) -> Vec<Token<'static>> {
    ts.iter()
        .filter(|t| is_structure(t) || matches!(t, Subsection { .. } | SubsectionEnd))
        .map(|t| match t {
            Array { name, .. } => Array { name, len: 0 },
            t => t.clone(),
        })
        .collect()
}

/// The data of a walk: everything but the structure.
fn data(ts: &[Token<'static>]) -> Vec<Token<'static>> {
    ts.iter().filter(|t| !is_structure(t)).cloned().collect()
}

/// Replays the save walk of `src` into `dest` at `src`'s version; returns
/// the load walk's tokens after checking that every token was used.
fn replay_into<T: VmState>(
    src: &mut T,
    dest: &mut T,
) -> (Vec<Token<'static>>, Vec<Token<'static>>) {
    let saved = tokens(src).unwrap();
    let mut replay = Replay::new(&saved);
    visit_struct_at(
        dest,
        &mut replay,
        T::DESCRIPTION.name,
        T::DESCRIPTION.version_id,
    )
    .unwrap();
    assert_eq!(
        replay.next,
        replay.feed.len(),
        "every saved token is loaded"
    );
    (saved, replay.seen)
}

/// A load walk visits what the save walk visited: the same data under the
/// same names in the same order, in the same structure; the loaded value
/// walks exactly like the source.
fn assert_load_walk_matches<T: VmState + Default + PartialEq + std::fmt::Debug>(
    mut src: T,
    mut dest: T,
) -> Vec<Token<'static>> {
    let (saved, loaded) = replay_into(&mut src, &mut dest);
    assert_eq!(data(&loaded), data(&saved), "data");
    assert_eq!(structure(&loaded), structure(&saved), "structure");
    assert_eq!(
        tokens(&mut dest).unwrap(),
        saved,
        "re-walk of the loaded value"
    );
    loaded
}

#[test]
fn load_walk_of_structs_arrays_and_subsections() {
    let nest = Nest {
        a: 1,
        pt: Pt { x: 2, y: -3 },
        pts: [Pt { x: 4, y: 5 }, Pt { x: 6, y: 7 }],
        boxed: Box::new(Pt { x: 8, y: 9 }),
        tail: true,
    };
    let loaded = assert_load_walk_matches(nest.clone(), Nest::default());
    // Fixed arrays and structs: the load walk is the save walk, token for token.
    assert_eq!(loaded, tokens(&mut nest.clone()).unwrap());

    let dev = Dev {
        reg: 0x10,
        always: DevAlways {
            n: 3,
            deeper: DevAlwaysDeeper { d: 9 },
        },
        opt: DevOpt { o: -5 },
        send_opt: true,
    };
    let loaded = assert_load_walk_matches(
        dev.clone(),
        Dev {
            send_opt: true,
            ..Dev::default()
        },
    );
    assert_eq!(loaded, tokens(&mut dev.clone()).unwrap());
}

#[test]
fn load_walk_of_variable_arrays_and_special_forms() {
    let var = Var {
        n: 2,
        items: vec![0xa, 0xb],
        m: 2,
        pts: [Pt { x: 1, y: 2 }, Pt { x: 3, y: 4 }, Pt::default()],
        len: 3,
        blob: vec![7, 8, 9],
        bits: 65,
        map: vec![u64::MAX, 1],
    };
    let loaded = assert_load_walk_matches(var.clone(), Var::default());
    assert_eq!(loaded, tokens(&mut var.clone()).unwrap());

    let dest = Misc {
        e8: 5,
        e16: 6,
        e32: 7,
        e64: 8,
        ei32: -9,
        le: 10,
        ptrs: [None, Some(0)],
        ..Misc::default()
    };
    let mut src = misc();
    src.pinned.b = 0; // not walked at the pinned version
    src.absent = 0; // never exists
    let loaded = assert_load_walk_matches(src.clone(), dest);
    assert_eq!(loaded, tokens(&mut src.clone()).unwrap());

    let e = Enums(Mode::Turbo, [Mode::On, Mode::Off], Sign::Neg);
    let loaded = assert_load_walk_matches(e.clone(), Enums::default());
    assert_eq!(loaded, tokens(&mut e.clone()).unwrap());
}

#[test]
fn load_walk_of_lists() {
    let lists = Lists {
        q: vec![Pt { x: 1, y: 2 }, Pt { x: 3, y: 4 }],
        l: VecDeque::from([Pt { x: 5, y: 6 }]),
        empty: vec![],
    };
    assert_load_walk_matches(lists, Lists::default());
}

#[test]
fn load_walk_of_gtrees() {
    let trees = Trees {
        direct: BTreeMap::from([(9, Pt { x: 1, y: 2 }), (3, Pt { x: 3, y: 4 })]),
        keyed: BTreeMap::from([(Range { lo: 1, hi: 2 }, 77)]),
    };
    assert_load_walk_matches(trees, Trees::default());
}

#[test]
fn replay_refuses_a_walk_that_differs() {
    // The replay is strict: the tokens of one type do not load another.
    let saved = tokens(&mut Pt { x: 1, y: 2 }).unwrap();
    let mut replay = Replay::new(&saved);
    let mut other = Range::default();
    let err = visit_struct_at(&mut other, &mut replay, "range", 1).unwrap_err();
    assert!(err.to_string().contains("replay"), "{err}");
}
