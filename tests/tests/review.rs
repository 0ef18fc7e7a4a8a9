//! Review findings: each failing test demonstrates a bug (see the review
//! report). Tests that pass are fuzz/regression checks of properties that
//! hold today.

use std::collections::{BTreeMap, VecDeque};

use vmstate_core::forms::TmpState;
use vmstate_core::registry::{Registration, Registry, StreamSettings};
use vmstate_core::{Error, ErrorKind, Timer, VmState};

// ============================================================================
// Bug 1: the LOAD_INFALLIBLE fast path of load_from_slice is not infallible:
// a nested struct without subsections still peeks for subsections after its
// fields, and a 0x05 + "<nested name>..." in the *parent's* following bytes
// is an UnknownSubsection error (as in QEMU), but the fast path took no
// backup, so the destination is left half loaded.

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "in", version = 1)]
struct FastInner {
    a: u8,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "out", version = 1)]
struct FastOuter {
    inner: FastInner,
    tail: [u8; 5],
}

#[test]
fn fast_path_failed_load_leaves_destination_modified() {
    // inner.a = 0xAA, then tail = 05 03 'i' 'n' 'x': after `inner`'s fields,
    // QEMU's vmstate_subsection_load (and ours) sees subsection "inx" of
    // "in", which does not exist: the load fails.
    let bytes = [0xAA, 0x05, 0x03, b'i', b'n', b'x'];
    let mut dev = FastOuter::default();
    let r = vmstate_core::load_from_slice(&mut dev, &bytes, 1);
    assert!(
        matches!(
            r.as_ref().map_err(Error::kind),
            Err(ErrorKind::UnknownSubsection { .. })
        ),
        "{r:?}"
    );
    assert_eq!(
        dev,
        FastOuter::default(),
        "a failed load_from_slice must leave the destination as it was"
    );
}

// ============================================================================
// Bug 2: a variable array of elements that occupy no wire bytes (every field
// `skip`ped or absent by `exists`) grows with the hostile count, not with
// the input: 4 bytes of input allocate count * size_of::<T>().

fn never(_: &ZeroWire, _: u32) -> bool {
    false
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "zw", version = 1)]
struct ZeroWire {
    #[vmstate(exists = never)]
    data: u32,
    #[vmstate(skip)]
    shadow: [u64; 32],
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "zwh", version = 1)]
struct ZeroWireHolder {
    count: u32,
    #[vmstate(len = count)]
    items: Vec<ZeroWire>,
}

#[test]
fn varray_of_zero_wire_elements_allocates_with_the_count_not_the_input() {
    let count: u32 = 100_000; // u32::MAX would need ~1 TiB
    let bytes = count.to_be_bytes();
    let mut dev = ZeroWireHolder::default();
    let r = vmstate_core::load_from_slice(&mut dev, &bytes, 1);
    let used = dev.items.capacity() * std::mem::size_of::<ZeroWire>();
    // The crate promises (forms.rs, VarArray for Vec) that "a hostile count
    // cannot make us allocate more than the input holds".
    assert!(
        used < 1 << 20,
        "4 input bytes made the load allocate {used} bytes ({} elements): {r:?}",
        dev.items.len()
    );
}

// ============================================================================
// Bug 3: QEMU looks a subsection up with strcmp() on the NUL-terminated copy
// of the idstr (vmstate_get_subsection), so "zwh/s\0junk" is subsection
// "zwh/s". We compare all `len` bytes and refuse the stream.

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "p", version = 1)]
struct NulParent {
    a: u8,
    #[vmstate(subsection)]
    s: NulSub,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "p/s", version = 1, needed = NulSub::needed)]
struct NulSub {
    b: u8,
}

impl NulSub {
    fn needed(&self) -> bool {
        self.b != 0
    }
}

#[test]
fn subsection_name_with_nul_matches_like_qemu_strcmp() {
    // a = 1; subsection len 5 "p/s\0x", version 1, b = 7
    let bytes = [1, 0x05, 5, b'p', b'/', b's', 0, b'x', 0, 0, 0, 1, 7];
    let mut dev = NulParent::default();
    vmstate_core::load_from_slice(&mut dev, &bytes, 1).unwrap();
    assert_eq!(dev.s.b, 7);
}

// ============================================================================
// Bug 4: a negative int32 count. QEMU's vmstate_n_elems() returns it as an
// int and the element loop `for (i = 0; i < n_elems; i++)` runs zero times,
// on save and on load: nothing is written or read. We refuse both.

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "neg", version = 1)]
struct NegCount {
    n: i32,
    #[vmstate(len = n)]
    regs: [u32; 4],
    tail: u8,
}

#[test]
fn negative_i32_count_saves_and_loads_zero_elements_like_qemu() {
    let mut dev = NegCount {
        n: -1,
        regs: [0; 4],
        tail: 9,
    };
    let bytes =
        vmstate_core::save_to_vec(&mut dev).expect("QEMU saves a negative count as 0 elements");
    assert_eq!(bytes, [0xff, 0xff, 0xff, 0xff, 9]);
    let mut back = NegCount::default();
    vmstate_core::load_from_slice(&mut back, &bytes, 1).unwrap();
    assert_eq!(back, dev);
}

// ============================================================================
// Fuzz: mutated and random bytes through every complex form. No panic, and a
// failed load leaves the destination exactly as it was.

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fz/leaf", version = 2, minimum_version = 1)]
struct FzLeafSub {
    x: u16,
    #[vmstate(since = 2)]
    y: u8,
}

#[derive(VmState, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
#[vmstate(name = "fzkey", version = 1)]
struct FzKey {
    k: u16,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fzel", version = 1, post_load = FzElem::check)]
struct FzElem {
    tag: u8,
    magic: u8,
    t: Timer,
    #[vmstate(subsection)]
    sub: FzElemSub,
}

impl FzElem {
    fn check(&mut self, _: u32) -> Result<(), String> {
        if self.tag == 0xEE {
            return Err("bad tag".into());
        }
        Ok(())
    }
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fzel/sub", version = 1, needed = FzElemSub::needed)]
struct FzElemSub {
    z: u32,
}

impl FzElemSub {
    fn needed(&self) -> bool {
        self.z != 0
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
#[repr(u8)]
#[derive(VmState)]
enum FzMode {
    #[default]
    A = 0,
    B = 7,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fztmp", version = 1)]
struct FzTmp {
    doubled: u32,
}

impl TmpState<Fz> for FzTmp {
    fn from_parent(p: &Fz) -> Result<Self, Error> {
        Ok(FzTmp {
            doubled: p.hidden.wrapping_mul(2),
        })
    }
    fn into_parent(self, p: &mut Fz) -> Result<(), Error> {
        if self.doubled % 2 != 0 {
            return Err(Error::msg("odd"));
        }
        p.hidden = self.doubled / 2;
        Ok(())
    }
}

fn fz_ok(_: &Fz, _: u32) -> bool {
    true
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "fz", version = 3, minimum_version = 1, pre_load = Fz::pre, post_load = Fz::post)]
struct Fz {
    a: u8,
    #[vmstate(equal)]
    cfg: u32,
    n: u8,
    #[vmstate(len = n)]
    elems: Vec<FzElem>,
    #[vmstate(qtailq)]
    q: Vec<FzElem>,
    #[vmstate(qlist)]
    ql: VecDeque<FzKey>,
    #[vmstate(gtree)]
    tree: BTreeMap<FzKey, FzElem>,
    #[vmstate(gtree)]
    dtree: BTreeMap<u64, FzKey>,
    #[vmstate(auto_alloc)]
    slots: [Option<FzElem>; 3],
    ptrs: [Option<FzKey>; 2],
    #[vmstate(tmp = FzTmp)]
    tmp: (),
    #[vmstate(skip)]
    hidden: u32,
    blen: u16,
    #[vmstate(buffer, len = blen)]
    blob: Vec<u8>,
    bits: u32,
    #[vmstate(bitmap, bits = bits)]
    map: Vec<u64>,
    mode: FzMode,
    #[vmstate(le)]
    le: i32,
    #[vmstate(since = 2)]
    late: u64,
    #[vmstate(unused = 3)]
    pad: (),
    #[vmstate(validate = fz_ok)]
    check: (),
    nested: FzElem,
    #[vmstate(subsection)]
    leaf: FzLeafSub,
}

impl Fz {
    fn pre(&mut self) -> Result<(), String> {
        self.a = self.a.wrapping_add(1); // a visible side effect
        Ok(())
    }
    fn post(&mut self, _: u32) -> Result<(), String> {
        if self.a == 0x42 {
            return Err("a == 0x42".into());
        }
        Ok(())
    }
}

fn sample() -> Fz {
    let el = |tag: u8, z: u32| FzElem {
        tag,
        magic: 0x5a,
        t: Timer::not_armed(),
        sub: FzElemSub { z },
    };
    let mut tree = BTreeMap::new();
    tree.insert(FzKey { k: 1 }, el(3, 0));
    tree.insert(FzKey { k: 9 }, el(4, 1));
    let mut dtree = BTreeMap::new();
    dtree.insert(5u64, FzKey { k: 2 });
    Fz {
        a: 1,
        cfg: 0xc0ffee,
        n: 2,
        elems: vec![el(1, 0), el(2, 5)],
        q: vec![el(7, 0)],
        ql: VecDeque::from(vec![FzKey { k: 3 }, FzKey { k: 4 }]),
        tree,
        dtree,
        slots: [Some(el(8, 0)), None, Some(el(9, 2))],
        ptrs: [Some(FzKey { k: 6 }), None],
        tmp: (),
        hidden: 21,
        blen: 3,
        blob: vec![1, 2, 3],
        bits: 70,
        map: vec![u64::MAX, 0x3f],
        mode: FzMode::B,
        le: 5,
        late: 77,
        pad: (),
        check: (),
        nested: el(0x11, 3),
        leaf: FzLeafSub { x: 0x1234, y: 1 },
    }
}

/// The destination a stream is loaded into: its `equal` fields and `le`
/// bound agree with the sample, its pointer slots are NULL where the
/// sample's are.
fn destination() -> Fz {
    let el = || FzElem {
        magic: 0x5a,
        ..FzElem::default()
    };
    Fz {
        elems: vec![el(), el()],
        slots: [None, None, None],
        ptrs: [Some(FzKey::default()), None],
        le: 100,
        cfg: 0xc0ffee,
        nested: el(),
        ..Fz::default()
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            2 if !b.is_empty() => {
                let i = rng.below(b.len());
                b.truncate(i);
            }
            3 => {
                let i = rng.below(b.len() + 1);
                b.insert(i, [0, 1, 5, 0x30, 0x31, 0xff][rng.below(6)]);
            }
            4 if !b.is_empty() => {
                let i = rng.below(b.len());
                b.remove(i);
            }
            _ => {
                let i = rng.below(b.len() + 1);
                let j = rng.below(b.len() + 1);
                let (i, j) = (i.min(j), i.max(j));
                let chunk = b[i..j].to_vec();
                b.splice(i..i, chunk);
            }
        }
    }
    b
}

#[test]
fn sample_round_trips() {
    let mut s = sample();
    let bytes = vmstate_core::save_to_vec(&mut s).unwrap();
    let mut d = destination();
    vmstate_core::load_from_slice(&mut d, &bytes, 3).unwrap();
    // pre_load bumped `a` before the fields overwrote it.
    assert_eq!(d, s);
}

#[test]
fn fuzz_mutated_loads_are_transactional_and_do_not_panic() {
    let mut s = sample();
    let base = vmstate_core::save_to_vec(&mut s).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = 0;
    for iter in 0..20_000 {
        let bytes = if iter % 10 == 0 {
            (0..rng.below(base.len() * 2))
                .map(|_| rng.next() as u8)
                .collect()
        } else {
            mutate(&mut rng, &base)
        };
        let version = [1, 2, 3, 4, 0][rng.below(5)];
        let mut d = destination();
        let before = d.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            vmstate_core::load_from_slice(&mut d, &bytes, version)
        }));
        match r {
            Err(_) => panic!("panic on input {bytes:02x?} (version {version})"),
            Ok(Err(e)) => {
                failures += 1;
                assert_eq!(d, before, "failed load modified the destination: {e}");
                // Every error of a byte stream says where.
                assert!(e.offset().is_some(), "error without offset: {e}");
                assert!(
                    e.offset().unwrap() <= bytes.len() as u64,
                    "offset past the input: {e}"
                );
            }
            Ok(Ok(())) => {}
        }
        // The streaming loader must behave the same.
        let mut d2 = destination();
        let r2 = vmstate_core::load(&mut d2, qemufile::SliceReader::new(&bytes), version);
        if r2.is_err() {
            assert_eq!(d2, destination());
        }
    }
    assert!(failures > 1000);
}

// ---------------------------------------------------------------- registry

#[test]
fn fuzz_registry_load_is_all_or_nothing() {
    let mut a = sample();
    let mut b = FastOuter {
        inner: FastInner { a: 3 },
        tail: [1, 2, 3, 4, 5],
    };
    let mut stream = Vec::new();
    let settings = StreamSettings::new("pc-i440fx-10.0");
    {
        let mut reg = Registry::new();
        reg.register(&mut a, Registration::default()).unwrap();
        reg.register(&mut b, Registration::default()).unwrap();
        reg.save(&mut stream, &settings).unwrap();
    }
    let mut rng = Rng(12345);
    for _ in 0..5_000 {
        let bytes = mutate(&mut rng, &stream);
        let mut a2 = destination();
        let mut b2 = FastOuter::default();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut reg = Registry::new();
            reg.register(&mut a2, Registration::default()).unwrap();
            reg.register(&mut b2, Registration::default()).unwrap();
            reg.load(qemufile::SliceReader::new(&bytes), &settings)
        }));
        match r {
            Err(_) => panic!("registry load panicked on {bytes:02x?}"),
            Ok(Err(_)) => {
                assert_eq!(a2, destination());
                assert_eq!(b2, FastOuter::default());
            }
            Ok(Ok(())) => {}
        }
    }
}

// ---------------------------------------------------------------- hooks

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ph", version = 1, post_load = Panicky::post)]
struct Panicky {
    a: u32,
    #[vmstate(subsection)]
    s: PanickySub,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "ph/s", version = 1, post_load = PanickySub::post)]
struct PanickySub {
    b: u8,
}

impl Panicky {
    fn post(&mut self, _: u32) -> Result<(), String> {
        if self.a == 1 {
            panic!("hook panics");
        }
        Ok(())
    }
}

impl PanickySub {
    fn post(&mut self, _: u32) -> Result<(), String> {
        if self.b == 2 {
            return Err("sub fails".into());
        }
        Ok(())
    }
}

#[test]
fn panicking_or_failing_hooks_restore_the_destination() {
    let orig = Panicky {
        a: 9,
        s: PanickySub { b: 4 },
    };
    let mut d = orig.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = vmstate_core::load_from_slice(&mut d, &[0, 0, 0, 1], 1);
    }));
    assert!(r.is_err());
    assert_eq!(d, orig);
    let bytes = [0, 0, 0, 5, 5, 4, b'p', b'h', b'/', b's', 0, 0, 0, 1, 2];
    let e = vmstate_core::load_from_slice(&mut d, &bytes, 1).unwrap_err();
    assert_eq!(d, orig);
    assert!(e.to_string().contains("ph/s"), "{e}");
    assert!(e.offset().is_some(), "{e}");
}
