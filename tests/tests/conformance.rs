//! QEMU's own unit-test byte vectors (tests/unit/test-vmstate.c) and the
//! derived vectors of the reference (§2.9): save gives exactly these bytes,
//! load gives the value, and the truncations QEMU tests fail.

use std::collections::BTreeMap;

use qemufile::{QemuRead, SliceReader};
use vmstate_core::forms::TmpState;
use vmstate_core::{ErrorKind, InputVisitor, Timer, VmState, visit_struct_at};

/// Strips the QEMU_VM_EOF byte the C harness appends after every save.
fn body(wire: &[u8]) -> &[u8] {
    assert_eq!(
        wire.last(),
        Some(&0),
        "harness vectors end with QEMU_VM_EOF"
    );
    &wire[..wire.len() - 1]
}

/// QEMU's load_vmstate(): loads of 0 bytes, size-2 bytes, the first half and
/// the second half of the harness wire (state + EOF byte) fail. As in
/// load_vmstate_one(), a load only succeeds if the EOF byte follows the state.
fn check_truncations<T: VmState + Clone>(dest: &T, wire: &[u8], version: u32) {
    let size = wire.len();
    let mut cases: Vec<&[u8]> = vec![&wire[..0]];
    if size > 3 {
        cases.push(&wire[..size - 2]);
        cases.push(&wire[..size / 2]);
        cases.push(&wire[size / 2..size / 2 + size / 2]);
    }
    for case in cases {
        let mut scratch = dest.clone();
        let mut reader = SliceReader::new(case);
        let loaded = vmstate_core::load(&mut scratch, &mut reader, version);
        let clean = loaded.is_ok() && reader.remaining() == [0];
        assert!(!clean, "loading {} of {} bytes must fail", case.len(), size);
        if loaded.is_err() {
            assert_eq!(
                vmstate_core::save_to_vec(&mut scratch).ok(),
                vmstate_core::save_to_vec(&mut dest.clone()).ok(),
                "a failed load leaves the destination as it was"
            );
        }
    }
    let mut scratch = dest.clone();
    let mut reader = SliceReader::new(wire);
    vmstate_core::load(&mut scratch, &mut reader, version).unwrap();
    assert_eq!(reader.remaining(), [0]);
}

// ---------------------------------------------------------------- 2.1

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "simple/primitive", version = 1, minimum_version = 1)]
struct TestSimple {
    b_1: bool,
    b_2: bool,
    u8_1: u8,
    u16_1: u16,
    u32_1: u32,
    u64_1: u64,
    i8_1: i8,
    i8_2: i8,
    i16_1: i16,
    i16_2: i16,
    i32_1: i32,
    i32_2: i32,
    i64_1: i64,
    i64_2: i64,
}

const WIRE_SIMPLE_PRIMITIVE: &[u8] = &[
    0x01, 0x00, 0x82, 0x02, 0x00, 0x00, 0x01, 0x11, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb8, 0xf4,
    0x7c, 0x41, 0xbf, 0x02, 0x00, 0xfe, 0x00, 0x00, 0x01, 0x11, 0x70, 0xff, 0xfe, 0xee, 0x90, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xb8, 0xf4, 0x7c, 0xff, 0xff, 0xff, 0xff, 0xff, 0x47, 0x0b, 0x84, 0x00,
];

fn obj_simple() -> TestSimple {
    TestSimple {
        b_1: true,
        b_2: false,
        u8_1: 130,
        u16_1: 512,
        u32_1: 70000,
        u64_1: 12121212,
        i8_1: 65,
        i8_2: -65,
        i16_1: 512,
        i16_2: -512,
        i32_1: 70000,
        i32_2: -70000,
        i64_1: 12121212,
        i64_2: -12121212,
    }
}

#[test]
fn simple_primitive_save() {
    let bytes = vmstate_core::save_to_vec(&mut obj_simple()).unwrap();
    assert_eq!(bytes, body(WIRE_SIMPLE_PRIMITIVE));
}

#[test]
fn simple_primitive_load() {
    let mut obj = TestSimple::default();
    vmstate_core::load_from_slice(&mut obj, body(WIRE_SIMPLE_PRIMITIVE), 1).unwrap();
    assert_eq!(obj, obj_simple());
    check_truncations(&TestSimple::default(), WIRE_SIMPLE_PRIMITIVE, 1);
}

#[test]
fn harness_eof_byte_is_left_for_the_caller() {
    // QEMU's compare_vmstate: reading exactly the state leaves the EOF byte.
    let mut obj = TestSimple::default();
    let mut reader = SliceReader::new(WIRE_SIMPLE_PRIMITIVE);
    vmstate_core::load(&mut obj, &mut reader, 1).unwrap();
    assert_eq!(reader.get_u8().unwrap(), 0);
    assert!(reader.get_u8().unwrap_err().is_eof());
}

// ---------------------------------------------------------------- 2.2

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "simple/array", version = 1, minimum_version = 1)]
struct TestSimpleArray {
    u16_1: [u16; 3],
}

#[test]
fn simple_array() {
    let wire = [0x00, 0x42, 0x00, 0x43, 0x00, 0x44, 0x00];
    let mut obj = TestSimpleArray {
        u16_1: [0x42, 0x43, 0x44],
    };
    assert_eq!(vmstate_core::save_to_vec(&mut obj).unwrap(), body(&wire));
    let loaded: TestSimpleArray = vmstate_core::load_new(body(&wire), 1).unwrap();
    assert_eq!(loaded, obj);
    check_truncations(&obj, &wire, 1);
}

// ---------------------------------------------------------------- 2.3 / 2.4

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/versioned", version = 2, minimum_version = 1)]
struct TestVersioned {
    a: u32,
    #[vmstate(since = 2)]
    b: u32,
    c: u32,
    d: u64,
    #[vmstate(since = 2)]
    e: u32,
    #[vmstate(since = 2)]
    f: u64,
}

const WIRE_V1: &[u8] = &[0, 0, 0, 0x0a, 0, 0, 0, 0x1e, 0, 0, 0, 0, 0, 0, 0, 0x28, 0];
const WIRE_V2: &[u8] = &[
    0, 0, 0, 0x0a, 0, 0, 0, 0x14, 0, 0, 0, 0x1e, 0, 0, 0, 0, 0, 0, 0, 0x28, 0, 0, 0, 0x32, 0, 0, 0,
    0, 0, 0, 0, 0x3c, 0,
];

#[test]
fn versioned_load_v1() {
    let mut obj = TestVersioned {
        b: 200,
        e: 500,
        f: 600,
        ..Default::default()
    };
    vmstate_core::load_from_slice(&mut obj, body(WIRE_V1), 1).unwrap();
    assert_eq!(
        (obj.a, obj.b, obj.c, obj.d, obj.e, obj.f),
        (10, 200, 30, 40, 500, 600)
    );
    check_truncations(&obj, WIRE_V1, 1);
}

#[test]
fn versioned_load_v2() {
    let mut obj = TestVersioned::default();
    vmstate_core::load_from_slice(&mut obj, body(WIRE_V2), 2).unwrap();
    assert_eq!(
        (obj.a, obj.b, obj.c, obj.d, obj.e, obj.f),
        (10, 20, 30, 40, 50, 60)
    );
    check_truncations(&TestVersioned::default(), WIRE_V2, 2);
}

#[test]
fn versions_outside_the_range_are_refused() {
    let mut obj = TestVersioned::default();
    let err = vmstate_core::load_from_slice(&mut obj, body(WIRE_V2), 3).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::VersionTooNew {
            incoming: 3,
            local: 2,
            ..
        }
    ));
    let err = vmstate_core::load_from_slice(&mut obj, body(WIRE_V1), 0).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::VersionTooOld {
            incoming: 0,
            minimum: 1,
            ..
        }
    ));
    assert!(
        err.to_string()
            .contains("too old for local minimum version_id 1"),
        "{err}"
    );
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/skip", version = 2, minimum_version = 1)]
struct TestSkip {
    a: u32,
    b: u32,
    #[vmstate(exists = TestSkip::test_skip)]
    c: u32,
    d: u64,
    #[vmstate(exists = TestSkip::test_skip)]
    e: u32,
    #[vmstate(since = 2)]
    f: u64,
    #[vmstate(skip)]
    skip_c_e: bool,
}

impl TestSkip {
    fn test_skip(&self, _version: u32) -> bool {
        !self.skip_c_e
    }
}

#[test]
fn field_exists_save_noskip() {
    let mut obj = TestSkip {
        a: 1,
        b: 2,
        c: 3,
        d: 4,
        e: 5,
        f: 6,
        skip_c_e: false,
    };
    let expected = [
        0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0,
        0, 6,
    ];
    assert_eq!(vmstate_core::save_to_vec(&mut obj).unwrap(), expected);
}

#[test]
fn field_exists_save_skip() {
    let mut obj = TestSkip {
        a: 1,
        b: 2,
        c: 3,
        d: 4,
        e: 5,
        f: 6,
        skip_c_e: true,
    };
    let expected = [
        0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 6,
    ];
    assert_eq!(vmstate_core::save_to_vec(&mut obj).unwrap(), expected);
}

#[test]
fn field_exists_load_noskip() {
    let mut obj = TestSkip::default();
    vmstate_core::load_from_slice(&mut obj, body(WIRE_V2), 2).unwrap();
    assert_eq!(
        (obj.a, obj.b, obj.c, obj.d, obj.e, obj.f),
        (10, 20, 30, 40, 50, 60)
    );
    check_truncations(&TestSkip::default(), WIRE_V2, 2);
}

#[test]
fn field_exists_load_skip() {
    let wire = [
        0, 0, 0, 0x0a, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0, 0, 0x28, 0, 0, 0, 0, 0, 0, 0, 0x3c, 0,
    ];
    let mut obj = TestSkip {
        skip_c_e: true,
        c: 300,
        e: 500,
        ..Default::default()
    };
    vmstate_core::load_from_slice(&mut obj, body(&wire), 2).unwrap();
    assert_eq!(
        (obj.a, obj.b, obj.c, obj.d, obj.e, obj.f),
        (10, 20, 300, 40, 500, 60)
    );
    check_truncations(&obj, &wire, 2);
}

// ---------------------------------------------------------------- 2.5

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/tst", version = 1, minimum_version = 1)]
struct TestStructTriv {
    i: i32,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/arps", version = 1, minimum_version = 1)]
struct TestArrayOfPtrToStruct {
    ar: [Option<TestStructTriv>; 4],
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/arps", version = 1, minimum_version = 1)]
struct TestArrayOfPtrToInt {
    ar: [Option<i32>; 4],
}

const WIRE_ARR_PTR_NO0: &[u8] = &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0];
const WIRE_ARR_PTR_0: &[u8] = &[0, 0, 0, 0, 0x30, 0, 0, 0, 2, 0, 0, 0, 3, 0];

fn triv(i: i32) -> Option<TestStructTriv> {
    Some(TestStructTriv { i })
}

#[test]
fn array_ptr_str_no0() {
    let mut obj = TestArrayOfPtrToStruct {
        ar: [triv(0), triv(1), triv(2), triv(3)],
    };
    assert_eq!(
        vmstate_core::save_to_vec(&mut obj).unwrap(),
        body(WIRE_ARR_PTR_NO0)
    );
    let mut dest = TestArrayOfPtrToStruct {
        ar: [triv(0), triv(0), triv(0), triv(0)],
    };
    vmstate_core::load_from_slice(&mut dest, body(WIRE_ARR_PTR_NO0), 1).unwrap();
    assert_eq!(dest, obj);
    check_truncations(&dest, WIRE_ARR_PTR_NO0, 1);
}

#[test]
fn array_ptr_str_0() {
    let mut obj = TestArrayOfPtrToStruct {
        ar: [triv(0), None, triv(2), triv(3)],
    };
    assert_eq!(
        vmstate_core::save_to_vec(&mut obj).unwrap(),
        body(WIRE_ARR_PTR_0)
    );
    let mut dest = TestArrayOfPtrToStruct {
        ar: [triv(0), None, triv(0), triv(0)],
    };
    vmstate_core::load_from_slice(&mut dest, body(WIRE_ARR_PTR_0), 1).unwrap();
    assert_eq!(dest, obj);
    check_truncations(&dest, WIRE_ARR_PTR_0, 1);
}

#[test]
fn array_ptr_prim_0() {
    let mut obj = TestArrayOfPtrToInt {
        ar: [Some(0), None, Some(2), Some(3)],
    };
    assert_eq!(
        vmstate_core::save_to_vec(&mut obj).unwrap(),
        body(WIRE_ARR_PTR_0)
    );
    let mut dest = TestArrayOfPtrToInt {
        ar: [Some(3), None, Some(1), Some(0)],
    };
    vmstate_core::load_from_slice(&mut dest, body(WIRE_ARR_PTR_0), 1).unwrap();
    assert_eq!(dest.ar, [Some(0), None, Some(2), Some(3)]);
    check_truncations(&dest, WIRE_ARR_PTR_0, 1);
}

#[test]
fn null_slot_mismatch_is_refused() {
    // The destination has a NULL where the stream has an element.
    let mut dest = TestArrayOfPtrToInt {
        ar: [Some(0), None, None, Some(0)],
    };
    let err = vmstate_core::load_from_slice(&mut dest, body(WIRE_ARR_PTR_0), 1).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::PtrMarker { found: 0, .. }),
        "{err}"
    );
    assert_eq!(err.path_string(), "test/arps.ar[2]");
    assert_eq!(err.offset(), Some(5));
    assert_eq!(
        dest.ar,
        [Some(0), None, None, Some(0)],
        "a failed load changes nothing"
    );
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/auto", version = 1, minimum_version = 1)]
struct TestAutoAlloc {
    #[vmstate(auto_alloc)]
    ar: [Option<TestStructTriv>; 3],
}

#[test]
fn array_ptr_auto_alloc_markers() {
    let mut obj = TestAutoAlloc {
        ar: [triv(5), None, triv(7)],
    };
    let wire = vmstate_core::save_to_vec(&mut obj).unwrap();
    assert_eq!(wire, [0x31, 0, 0, 0, 5, 0x30, 0x31, 0, 0, 0, 7]);
    let loaded: TestAutoAlloc = vmstate_core::load_new(&wire, 1).unwrap();
    assert_eq!(loaded, obj);
    let err = vmstate_core::load_new::<TestAutoAlloc>(&[0x32], 1).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::PtrMarker { found: 0x32, .. }
    ));
}

// ---------------------------------------------------------------- 2.6

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/queue-element", version = 1, minimum_version = 1)]
struct TestQtailqElement {
    b: bool,
    u8: u8,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/queue", version = 1, minimum_version = 1)]
struct TestQtailq {
    i16: i16,
    #[vmstate(qtailq, since = 1)]
    q: Vec<TestQtailqElement>,
    i32: i32,
}

const WIRE_Q: &[u8] = &[
    0xfe, 0x00, 0x01, 0x01, 0x82, 0x01, 0x00, 0x41, 0x00, 0x00, 0x01, 0x11, 0x70, 0x00,
];

#[test]
fn qtailq() {
    let mut obj = TestQtailq {
        i16: -512,
        q: vec![
            TestQtailqElement { b: true, u8: 130 },
            TestQtailqElement { b: false, u8: 65 },
        ],
        i32: 70000,
    };
    assert_eq!(vmstate_core::save_to_vec(&mut obj).unwrap(), body(WIRE_Q));
    let loaded: TestQtailq = vmstate_core::load_new(body(WIRE_Q), 1).unwrap();
    assert_eq!(loaded, obj);
    check_truncations(&TestQtailq::default(), WIRE_Q, 1);
}

// ---------------------------------------------------------------- 2.7

#[derive(VmState, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
#[vmstate(name = "interval", version = 1, minimum_version = 1)]
struct TestGTreeInterval {
    low: u64,
    high: u64,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "mapping", version = 1, minimum_version = 1)]
struct TestGTreeMapping {
    phys_addr: u64,
    flags: u32,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "domain", version = 1, minimum_version = 1)]
struct TestGTreeDomain {
    id: i32,
    #[vmstate(gtree, since = 1)]
    mappings: BTreeMap<TestGTreeInterval, TestGTreeMapping>,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "iommu", version = 1, minimum_version = 1)]
struct TestGTreeIommu {
    id: i32,
    /// Direct keys: QEMU writes the key pointer's value as be64.
    #[vmstate(gtree, since = 1)]
    domains: BTreeMap<u64, TestGTreeDomain>,
}

fn interval(low: u64, high: u64) -> TestGTreeInterval {
    TestGTreeInterval { low, high }
}

fn mapping(phys_addr: u64, flags: u32) -> TestGTreeMapping {
    TestGTreeMapping { phys_addr, flags }
}

fn domain6() -> TestGTreeDomain {
    TestGTreeDomain {
        id: 6,
        mappings: BTreeMap::from([
            (interval(0x1000, 0x1fff), mapping(0xa000, 1)),
            (interval(0x4000, 0x4fff), mapping(0xe0000, 2)),
        ]),
    }
}

const FIRST_DOMAIN_DUMP: &[u8] = &[
    0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x02, //
    0x01, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0xa0, 0x00,
    0x00, 0x00, 0x00, 0x01, //
    0x01, 0, 0, 0, 0, 0, 0, 0x40, 0x00, 0, 0, 0, 0, 0, 0, 0x4f, 0xff, 0, 0, 0, 0, 0, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x02, //
    0x00, 0x00,
];

const IOMMU_DUMP: &[u8] = &[
    0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x02, //
    0x01, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0, 0, 0x05, 0, 0, 0, 0x01, //
    0x01, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x0f, 0, 0, 0,
    0, 0, 0, 0x03, //
    0x00, //
    0x01, 0, 0, 0, 0, 0, 0, 0, 0x06, 0, 0, 0, 0x06, 0, 0, 0, 0x02, //
    0x01, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0xa0, 0x00,
    0x00, 0x00, 0x00, 0x01, //
    0x01, 0, 0, 0, 0, 0, 0, 0x40, 0x00, 0, 0, 0, 0, 0, 0, 0x4f, 0xff, 0, 0, 0, 0, 0, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x02, //
    0x00, //
    0x00, 0x00,
];

#[test]
fn gtree_domain() {
    assert_eq!(FIRST_DOMAIN_DUMP.len(), 68);
    let mut obj = domain6();
    assert_eq!(
        vmstate_core::save_to_vec(&mut obj).unwrap(),
        body(FIRST_DOMAIN_DUMP)
    );
    let loaded: TestGTreeDomain = vmstate_core::load_new(body(FIRST_DOMAIN_DUMP), 1).unwrap();
    assert_eq!(loaded, obj);
    check_truncations(&TestGTreeDomain::default(), FIRST_DOMAIN_DUMP, 1);
}

#[test]
fn gtree_iommu() {
    assert_eq!(IOMMU_DUMP.len(), 133);
    let domain5 = TestGTreeDomain {
        id: 5,
        mappings: BTreeMap::from([(interval(0x100_0000, 0x1ff_ffff), mapping(0xf00_0000, 3))]),
    };
    let mut obj = TestGTreeIommu {
        id: 7,
        domains: BTreeMap::from([(5, domain5), (6, domain6())]),
    };
    assert_eq!(
        vmstate_core::save_to_vec(&mut obj).unwrap(),
        body(IOMMU_DUMP)
    );
    let loaded: TestGTreeIommu = vmstate_core::load_new(body(IOMMU_DUMP), 1).unwrap();
    assert_eq!(loaded, obj);
    check_truncations(&TestGTreeIommu::default(), IOMMU_DUMP, 1);
}

#[test]
fn gtree_count_mismatch_is_refused() {
    let mut bytes = body(FIRST_DOMAIN_DUMP).to_vec();
    bytes[7] = 3; // announces 3 nodes, 2 follow
    let err = vmstate_core::load_new::<TestGTreeDomain>(&bytes, 1).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::TreeCount {
                expected: 3,
                found: 2
            }
        ),
        "{err}"
    );
    bytes[7] = 1; // announces 1 node, 2 follow
    let err = vmstate_core::load_new::<TestGTreeDomain>(&bytes, 1).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::TreeCount {
                expected: 1,
                found: 2
            }
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------- 2.8

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/queue list", version = 1, minimum_version = 1)]
struct TestQListElement {
    id: u32,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/container/qlist", version = 1, minimum_version = 1)]
struct TestQListContainer {
    id: u32,
    #[vmstate(qlist, since = 1)]
    list: std::collections::VecDeque<TestQListElement>,
}

#[test]
fn qlist() {
    let wire = [
        0, 0, 0, 1, 1, 0, 0, 0, 0x0a, 1, 0, 0, 0x0b, 0, 1, 0, 0x0c, 0, 0, 1, 0x0d, 0, 0, 0, 0, 0,
    ];
    let mut obj = TestQListContainer {
        id: 1,
        list: [0x0a, 0x0b00, 0xc0000, 0xd000000]
            .into_iter()
            .map(|id| TestQListElement { id })
            .collect(),
    };
    assert_eq!(vmstate_core::save_to_vec(&mut obj).unwrap(), body(&wire));
    let loaded: TestQListContainer = vmstate_core::load_new(body(&wire), 1).unwrap();
    assert_eq!(loaded, obj);
    check_truncations(&TestQListContainer::default(), &wire, 1);
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "test/with_tmp", version = 1)]
struct TestWithTmp {
    a: u32,
    #[vmstate(skip)]
    b: u32,
    d: u64,
    #[vmstate(tmp = TmpChild)]
    tmp: (),
    #[vmstate(skip)]
    f: u64,
}

/// The temporary of QEMU's test: `diff` = b - a, and `f` through the parent.
#[derive(VmState, Default)]
#[vmstate(name = "test/tmp_child")]
struct TmpChild {
    diff: i64,
    parent_f: TmpBackToParent,
}

#[derive(VmState, Default)]
#[vmstate(name = "test/tmp_child_parent")]
struct TmpBackToParent {
    f: u64,
}

impl TmpState<TestWithTmp> for TmpChild {
    fn from_parent(p: &TestWithTmp) -> vmstate_core::Result<Self> {
        Ok(TmpChild {
            diff: i64::from(p.b) - i64::from(p.a),
            parent_f: TmpBackToParent { f: p.f },
        })
    }
    fn into_parent(self, p: &mut TestWithTmp) -> vmstate_core::Result<()> {
        p.b = u32::try_from(i64::from(p.a) + self.diff).map_err(|_| "b out of range")?;
        p.f = self.parent_f.f;
        Ok(())
    }
}

#[test]
fn tmp_struct() {
    let wire = [
        0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 8, 0,
    ];
    let mut obj = TestWithTmp {
        a: 2,
        b: 4,
        d: 1,
        tmp: (),
        f: 8,
    };
    assert_eq!(vmstate_core::save_to_vec(&mut obj).unwrap(), body(&wire));
    let loaded: TestWithTmp = vmstate_core::load_new(body(&wire), 1).unwrap();
    assert_eq!(loaded, obj);
    check_truncations(&TestWithTmp::default(), &wire, 1);
}

// ---------------------------------------------------------------- 2.9 D1, D2

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "inner", version = 1, minimum_version = 1)]
struct Inner {
    x: u8,
    y: i16,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "dev", version = 1, minimum_version = 1)]
struct Dev {
    reg: u32,
    inner: Inner,
    #[vmstate(subsection)]
    extra: DevExtra,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "dev/extra", version = 3, minimum_version = 3, needed = DevExtra::is_needed)]
struct DevExtra {
    extra: u16,
    #[vmstate(skip)]
    send: bool,
}

impl DevExtra {
    fn is_needed(&self) -> bool {
        self.send
    }
}

fn dev(send: bool) -> Dev {
    Dev {
        reg: 0x1122_3344,
        inner: Inner { x: 7, y: -2 },
        extra: DevExtra {
            extra: 0xbeef,
            send,
        },
    }
}

const D1: &[u8] = &[
    0x11, 0x22, 0x33, 0x44, 0x07, 0xff, 0xfe, 0x05, 0x09, 0x64, 0x65, 0x76, 0x2f, 0x65, 0x78, 0x74,
    0x72, 0x61, 0x00, 0x00, 0x00, 0x03, 0xbe, 0xef,
];

#[test]
fn subsection_present_and_absent() {
    assert_eq!(vmstate_core::save_to_vec(&mut dev(true)).unwrap(), D1);
    assert_eq!(
        vmstate_core::save_to_vec(&mut dev(false)).unwrap(),
        &D1[..7]
    );

    let mut dest = Dev::default();
    vmstate_core::load_from_slice(&mut dest, D1, 1).unwrap();
    assert_eq!(dest.extra.extra, 0xbeef);
    assert_eq!(
        (dest.reg, dest.inner.clone()),
        (0x1122_3344, Inner { x: 7, y: -2 })
    );

    // Absent: accepted, the subsection's state is left as it was.
    let mut dest = Dev {
        extra: DevExtra {
            extra: 0x1234,
            send: false,
        },
        ..Dev::default()
    };
    vmstate_core::load_from_slice(&mut dest, &D1[..7], 1).unwrap();
    assert_eq!(dest.extra.extra, 0x1234);
    check_truncations(&Dev::default(), &[D1, &[0]].concat(), 1);
}

#[test]
fn unknown_subsection_is_refused() {
    let mut bytes = D1.to_vec();
    bytes[17] = b'X'; // "dev/extrX"
    let mut dest = dev(false);
    let err = vmstate_core::load_from_slice(&mut dest, &bytes, 1).unwrap_err();
    match err.kind() {
        ErrorKind::UnknownSubsection { name, parent } => {
            assert_eq!((name.as_str(), parent.as_ref()), ("dev/extrX", "dev"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("VM subsection 'dev/extrX' in 'dev' does not exist")
    );
    assert_eq!(err.offset(), Some(7));
    assert_eq!(dest, dev(false), "a failed load changes nothing");
}

#[test]
fn subsection_version_keeps_the_low_byte() {
    let mut bytes = D1.to_vec();
    bytes[18..22].copy_from_slice(&[0, 0, 1, 3]);
    let mut dest = Dev::default();
    vmstate_core::load_from_slice(&mut dest, &bytes, 1).unwrap();
    assert_eq!(dest.extra.extra, 0xbeef);
    // 0x0104 is version 4 to QEMU: too new for dev/extra v3.
    bytes[18..22].copy_from_slice(&[0, 0, 1, 4]);
    let err = vmstate_core::load_from_slice(&mut dest, &bytes, 1).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::VersionTooNew {
                incoming: 4,
                local: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn foreign_subsection_prefix_is_left_unconsumed() {
    let mut bytes = D1.to_vec();
    bytes.extend_from_slice(&[0x05, 0x05, b'o', b't', b'h', b'e', b'r']);
    let mut dest = Dev::default();
    let mut reader = SliceReader::new(&bytes);
    vmstate_core::load(&mut dest, &mut reader, 1).unwrap();
    assert_eq!(
        reader.remaining(),
        &[0x05, 0x05, b'o', b't', b'h', b'e', b'r']
    );
    // A strict whole-slice load reports the leftover bytes.
    let err = vmstate_core::load_from_slice(&mut dest, &bytes, 1).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TrailingBytes(7)));
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "chld", version = 1, minimum_version = 1)]
struct Chld {
    c: u8,
    #[vmstate(subsection)]
    s: ChldS,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "chld/s", version = 1, minimum_version = 1)]
struct ChldS {
    d: u16,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "par", version = 1, minimum_version = 1)]
struct Par {
    inner: Chld,
    z: u32,
    #[vmstate(subsection)]
    t: ParT,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "par/t", version = 2, minimum_version = 1)]
struct ParT {
    e: u8,
}

#[test]
fn nested_struct_with_its_own_subsection() {
    let wire = [
        0xaa, 0x05, 0x06, 0x63, 0x68, 0x6c, 0x64, 0x2f, 0x73, 0x00, 0x00, 0x00, 0x01, 0x12, 0x34,
        0x00, 0x00, 0x00, 0x07, 0x05, 0x05, 0x70, 0x61, 0x72, 0x2f, 0x74, 0x00, 0x00, 0x00, 0x02,
        0x55,
    ];
    let mut obj = Par {
        inner: Chld {
            c: 0xaa,
            s: ChldS { d: 0x1234 },
        },
        z: 7,
        t: ParT { e: 0x55 },
    };
    assert_eq!(vmstate_core::save_to_vec(&mut obj).unwrap(), wire);
    let loaded: Par = vmstate_core::load_new(&wire, 1).unwrap();
    assert_eq!(loaded, obj);
}

// ---------------------------------------------------------------- 2.9 D3, D5-D7

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "varr", version = 1)]
struct VarArr {
    n: u8,
    #[vmstate(len = n)]
    arr: Vec<u16>,
}

#[test]
fn varray_count_is_the_earlier_field() {
    let mut obj = VarArr {
        n: 3,
        arr: vec![1, 2, 3],
    };
    let wire = vmstate_core::save_to_vec(&mut obj).unwrap();
    assert_eq!(wire, [0x03, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03]);
    assert_eq!(vmstate_core::load_new::<VarArr>(&wire, 1).unwrap(), obj);
    // A count that disagrees with the vector is refused on save.
    let err = vmstate_core::save_to_vec(&mut VarArr {
        n: 2,
        arr: vec![1, 2, 3],
    })
    .unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::CountMismatch {
            count: 2,
            len: 3,
            ..
        }
    ));
    // A hostile count fails on the missing bytes; nothing huge is allocated.
    let err = vmstate_core::load_new::<VarArr>(&[0xff, 0, 1], 1).unwrap_err();
    assert!(err.is_eof());
    assert_eq!(err.path_string(), "varr.arr[1]");
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "fixed-varr", version = 1)]
struct FixedVarArr {
    n: i32,
    #[vmstate(len = n)]
    arr: [u32; 4],
}

#[test]
fn varray_into_a_fixed_array_refuses_overruns() {
    let mut obj = FixedVarArr {
        n: 2,
        arr: [7, 8, 0, 0],
    };
    let wire = vmstate_core::save_to_vec(&mut obj).unwrap();
    assert_eq!(wire, [0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 8]);
    assert_eq!(
        vmstate_core::load_new::<FixedVarArr>(&wire, 1).unwrap(),
        obj
    );
    let err = vmstate_core::load_new::<FixedVarArr>(&[0, 0, 0, 5], 1).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::CountTooLarge {
                count: 5,
                capacity: 4,
                ..
            }
        ),
        "{err}"
    );
    // A negative int32 count is zero elements, as QEMU's element loop runs
    // zero times for it.
    let neg = vmstate_core::load_new::<FixedVarArr>(&[0xff, 0xff, 0xff, 0xff], 1).unwrap();
    assert_eq!(neg, FixedVarArr { n: -1, arr: [0; 4] });
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "bm", version = 1)]
struct Bitmap {
    nbits: i32,
    #[vmstate(bitmap, bits = nbits)]
    map: Vec<u64>,
}

#[test]
fn bitmap_words() {
    let mut obj = Bitmap {
        nbits: 70,
        map: vec![1, 1 << 5],
    };
    let wire = vmstate_core::save_to_vec(&mut obj).unwrap();
    assert_eq!(
        &wire[4..],
        [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x20]
    );
    assert_eq!(vmstate_core::load_new::<Bitmap>(&wire, 1).unwrap(), obj);
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "misc", version = 1)]
struct Misc {
    t_off: Timer,
    t_on: Timer,
    d: f64,
    #[vmstate(unused = 4)]
    _gone: (),
    #[vmstate(buffer)]
    raw: [u8; 3],
    len: u32,
    #[vmstate(buffer, len = len)]
    blob: Vec<u8>,
}

#[test]
fn timer_double_unused_buffers() {
    let mut obj = Misc {
        t_off: Timer::not_armed(),
        t_on: Timer::armed_at(1_000_000_000),
        d: 1.0,
        _gone: (),
        raw: [1, 2, 3],
        len: 2,
        blob: vec![9, 8],
    };
    let wire = vmstate_core::save_to_vec(&mut obj).unwrap();
    let expected: Vec<u8> = [
        &[0xff; 8][..],
        &[0, 0, 0, 0, 0x3b, 0x9a, 0xca, 0],
        &[0x3f, 0xf0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 0],
        &[1, 2, 3],
        &[0, 0, 0, 2],
        &[9, 8],
    ]
    .concat();
    assert_eq!(wire, expected);
    // Unused bytes are skipped on load whatever they hold.
    let mut garbage = expected.clone();
    garbage[24..28].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(vmstate_core::load_new::<Misc>(&garbage, 1).unwrap(), obj);
}

// ---------------------------------------------------------------- equal / le

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "eq", version = 1)]
struct Equal {
    #[vmstate(equal)]
    num: u8,
    #[vmstate(equal)]
    big: u64,
    #[vmstate(le)]
    limit: i32,
}

#[test]
fn equal_and_le() {
    let mut src = Equal {
        num: 3,
        big: 5,
        limit: 7,
    };
    let wire = vmstate_core::save_to_vec(&mut src).unwrap();
    assert_eq!(wire, [3, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 7]);

    let mut dest = Equal {
        num: 3,
        big: 5,
        limit: 10,
    };
    vmstate_core::load_from_slice(&mut dest, &wire, 1).unwrap();
    assert_eq!(dest.limit, 7, "int32 le stores the loaded value");

    let mut dest = Equal {
        num: 4,
        big: 5,
        limit: 10,
    };
    let err = vmstate_core::load_from_slice(&mut dest, &wire, 1).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::NotEqual {
            loaded: 3,
            current: 4,
            ..
        }
    ));
    assert_eq!(err.path_string(), "eq.num");
    assert_eq!(err.offset(), Some(0));

    let mut dest = Equal {
        num: 3,
        big: 6,
        limit: 10,
    };
    let err = vmstate_core::load_from_slice(&mut dest, &wire, 1).unwrap_err();
    assert!(err.to_string().contains("int64 equal"), "{err}");

    let mut dest = Equal {
        num: 3,
        big: 5,
        limit: 6,
    };
    let err = vmstate_core::load_from_slice(&mut dest, &wire, 1).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::NotLessOrEqual { loaded: 7, max: 6 }
    ));
    assert_eq!(
        dest,
        Equal {
            num: 3,
            big: 5,
            limit: 6
        }
    );
}

// ---------------------------------------------------------------- hooks

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "hooked", version = 2, minimum_version = 1,
          pre_save = Hooked::pre_save, post_save = Hooked::post_save,
          pre_load = Hooked::pre_load, post_load = Hooked::post_load)]
struct Hooked {
    value: u32,
    #[vmstate(subsection)]
    sub: HookedSub,
    #[vmstate(skip)]
    log: Vec<String>,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "hooked/sub", version = 1, post_load = HookedSub::post_load)]
struct HookedSub {
    x: u8,
    #[vmstate(skip)]
    loaded: bool,
}

impl HookedSub {
    fn post_load(&mut self, _: u32) -> Result<(), String> {
        self.loaded = true;
        Ok(())
    }
}

impl Hooked {
    fn pre_save(&mut self) -> Result<(), String> {
        self.log.push("pre_save".into());
        Ok(())
    }
    fn post_save(&mut self) {
        self.log.push("post_save".into());
    }
    fn pre_load(&mut self) -> Result<(), String> {
        self.log.push("pre_load".into());
        Ok(())
    }
    fn post_load(&mut self, version: u32) -> Result<(), String> {
        self.log.push(format!(
            "post_load v{version} sub loaded={}",
            self.sub.loaded
        ));
        if self.value == 0xdead {
            return Err("value 0xdead is reserved".into());
        }
        Ok(())
    }
}

#[test]
fn hooks_run_in_qemus_order() {
    let mut src = Hooked {
        value: 5,
        ..Default::default()
    };
    let wire = vmstate_core::save_to_vec(&mut src).unwrap();
    assert_eq!(src.log, ["pre_save", "post_save"]);
    // The subsection is always needed (no predicate): 05 len "hooked/sub" be32 1, x.
    assert_eq!(
        wire,
        [&[0, 0, 0, 5, 5, 10][..], b"hooked/sub", &[0, 0, 0, 1, 0]].concat()
    );
    let mut dest = Hooked::default();
    vmstate_core::load_from_slice(&mut dest, &wire, 1).unwrap();
    // The outer post_load runs after the subsections.
    assert_eq!(dest.log, ["pre_load", "post_load v1 sub loaded=true"]);
}

#[test]
fn failing_post_load_leaves_the_destination_untouched() {
    let mut src = Hooked {
        value: 0xdead,
        ..Default::default()
    };
    let wire = vmstate_core::save_to_vec(&mut src).unwrap();
    let mut dest = Hooked {
        value: 1,
        ..Default::default()
    };
    let before = dest.clone();
    let err = vmstate_core::load_from_slice(&mut dest, &wire, 2).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Hook {
                hook: "post_load",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("value 0xdead is reserved"));
    assert_eq!(dest, before);
}

// ---------------------------------------------------------------- enums

#[derive(VmState, Clone, Copy, Debug, PartialEq, Default)]
#[repr(u8)]
enum Mode {
    #[default]
    Idle = 0,
    Run = 3,
    Halt,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "moded", version = 1)]
struct Moded(Mode, [Mode; 2]);

#[test]
fn enums_and_tuple_structs() {
    let mut obj = Moded(Mode::Halt, [Mode::Run, Mode::Idle]);
    let wire = vmstate_core::save_to_vec(&mut obj).unwrap();
    assert_eq!(wire, [4, 3, 0]);
    assert_eq!(vmstate_core::load_new::<Moded>(&wire, 1).unwrap(), obj);
    let err = vmstate_core::load_new::<Moded>(&[4, 3, 9], 1).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidDiscriminant { value: 9, .. }),
        "{err}"
    );
    assert_eq!(err.path_string(), "moded.1[1]");
}

// ---------------------------------------------------------------- generics

#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "regs", version = 1)]
struct Regs<T, const N: usize> {
    regs: [T; N],
    count: u32,
}

#[test]
fn generic_structs() {
    let mut obj = Regs::<u16, 2> {
        regs: [1, 2],
        count: 9,
    };
    let wire = vmstate_core::save_to_vec(&mut obj).unwrap();
    assert_eq!(wire, [0, 1, 0, 2, 0, 0, 0, 9]);
    let mut dest = Regs::<u16, 2> {
        regs: [0, 0],
        count: 0,
    };
    vmstate_core::load_from_slice(&mut dest, &wire, 1).unwrap();
    assert_eq!(dest, obj);
}

// ---------------------------------------------------------------- repeated names

/// QEMU repeats wire names (e1000 sends `mac_reg` as three sub-arrays): the
/// fields are found by position, and descriptions number the repeats.
#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "e1000", version = 2, minimum_version = 1)]
struct MacRegs {
    #[vmstate(name = "mac_reg")]
    ra: [u32; 2],
    #[vmstate(name = "mac_reg")]
    mta: [u32; 3],
    #[vmstate(name = "mac_reg", equal)]
    vfta: u8,
}

const WIRE_REPEATED: &[u8] = &[
    0, 0, 0, 1, 0, 0, 0, 2, // mac_reg[0]
    0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, // mac_reg[1]
    6, // mac_reg[2]
    0, // QEMU_VM_EOF
];

#[test]
fn repeated_wire_names() {
    let mut obj = MacRegs {
        ra: [1, 2],
        mta: [3, 4, 5],
        vfta: 6,
    };
    assert_eq!(
        vmstate_core::save_to_vec(&mut obj).unwrap(),
        body(WIRE_REPEATED)
    );
    let mut dest = MacRegs {
        vfta: 6,
        ..MacRegs::default()
    };
    vmstate_core::load_from_slice(&mut dest, body(WIRE_REPEATED), 2).unwrap();
    assert_eq!(dest, obj);
    check_truncations(&dest, WIRE_REPEATED, 2);

    let d = <MacRegs as VmState>::DESCRIPTION;
    let names: Vec<_> = (0..d.fields.len()).map(|i| d.unique_name(i)).collect();
    assert_eq!(names, ["mac_reg[0]", "mac_reg[1]", "mac_reg[2]"]);
    let json = vmstate_core::vmdesc::save_with_vmdesc(&mut obj, Vec::new()).unwrap();
    assert_eq!(
        json,
        r#""vmsd_name": "e1000", "version": 2, "fields": [{"name": "mac_reg[0]", "array_len": 2, "type": "uint32", "size": 4}, {"name": "mac_reg[1]", "array_len": 3, "type": "uint32", "size": 4}, {"name": "mac_reg[2]", "type": "uint8 equal", "size": 1}]"#
    );

    // Errors name the repeat by its number.
    let mut other = MacRegs {
        vfta: 7,
        ..MacRegs::default()
    };
    let err = vmstate_core::load_from_slice(&mut other, body(WIRE_REPEATED), 2).unwrap_err();
    assert_eq!(err.path_string(), "e1000.mac_reg[2]");
    assert_eq!(err.offset(), Some(20));
}

// ---------------------------------------------------------------- boxed buffers

/// A large buffer QEMU reaches through a pointer (`VMSTATE_BUFFER_POINTER_UNSAFE`,
/// `VMS_BUFFER | VMS_POINTER`) is boxed in Rust; the wire is the buffer's.
#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "boxed", version = 1)]
struct Boxed {
    #[vmstate(buffer)]
    ram: Box<[u8; 4]>,
    n: u8,
    #[vmstate(buffer, len = n)]
    fifo: Box<[u8; 4]>,
    #[vmstate(len = n)]
    regs: Box<[u16; 3]>,
    plain: Box<[u8; 2]>,
}

const WIRE_BOXED: &[u8] = &[
    1, 2, 3, 4, // ram
    2, // n
    5, 6, // fifo[..2]
    0, 7, 0, 8, // regs[..2]
    9, 10, // plain
    0,  // QEMU_VM_EOF
];

#[test]
fn boxed_buffers_and_arrays() {
    let mut obj = Boxed {
        ram: Box::new([1, 2, 3, 4]),
        n: 2,
        fifo: Box::new([5, 6, 0, 0]),
        regs: Box::new([7, 8, 0]),
        plain: Box::new([9, 10]),
    };
    assert_eq!(
        vmstate_core::save_to_vec(&mut obj).unwrap(),
        body(WIRE_BOXED)
    );
    let mut dest = Boxed::default();
    vmstate_core::load_from_slice(&mut dest, body(WIRE_BOXED), 1).unwrap();
    assert_eq!(dest, obj);
    check_truncations(&dest, WIRE_BOXED, 1);

    let json = vmstate_core::vmdesc::save_with_vmdesc(&mut obj, Vec::new()).unwrap();
    assert_eq!(
        json,
        r#""vmsd_name": "boxed", "version": 1, "fields": [{"name": "ram", "type": "buffer", "size": 4}, {"name": "n", "type": "uint8", "size": 1}, {"name": "fifo", "type": "buffer", "size": 2}, {"name": "regs", "array_len": 2, "type": "uint16", "size": 2}, {"name": "plain", "array_len": 2, "type": "uint8", "size": 1}]"#
    );
    let d = <Boxed as VmState>::DESCRIPTION;
    assert_eq!(d.fields[0].layout, vmstate_core::Layout::Buffer(4));
    assert_eq!(d.fixed_size(), None);

    // A count larger than the boxed array is refused, as for a plain one.
    let mut wire = body(WIRE_BOXED).to_vec();
    wire[4] = 5;
    let err = vmstate_core::load_from_slice(&mut dest, &wire, 1).unwrap_err();
    assert_eq!(err.path_string(), "boxed.fifo");
}

// ---------------------------------------------------------------- pinned

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "nested", version = 3, minimum_version = 1)]
struct NestedV {
    a: u8,
    #[vmstate(since = 3)]
    b: u8,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "outer", version = 1)]
struct Outer {
    #[vmstate(struct_version = 2)]
    pinned: NestedV,
    current: NestedV,
}

#[test]
fn nested_structs_load_at_their_own_or_pinned_version() {
    let mut obj = Outer {
        pinned: NestedV { a: 1, b: 0 },
        current: NestedV { a: 2, b: 3 },
    };
    let wire = vmstate_core::save_to_vec(&mut obj).unwrap();
    // Pinned at v2, `b` (since 3) is not sent; the other is at its own v3.
    assert_eq!(wire, [1, 2, 3]);
    assert_eq!(vmstate_core::load_new::<Outer>(&wire, 1).unwrap(), obj);
}

// ---------------------------------------------------------------- errors

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "hpet_timer", version = 1)]
struct HpetTimer {
    tn: u8,
    cmp: u64,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "hpet", version = 2, minimum_version = 2)]
struct Hpet {
    num_timers: u8,
    #[vmstate(len = num_timers)]
    timer: [HpetTimer; 4],
}

#[test]
fn errors_name_offset_path_and_versions() {
    let wire = [2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0];
    let err = vmstate_core::load_new::<Hpet>(&wire, 2).unwrap_err();
    assert!(err.is_eof());
    assert_eq!(err.path_string(), "hpet.timer[1].cmp");
    assert_eq!(err.offset(), Some(11));
    let v = err.versions().unwrap();
    assert_eq!((v.name.as_ref(), v.version), ("hpet_timer", 1));
    let text = err.to_string();
    assert!(
        text.starts_with("at byte offset 11 (0xb), field hpet.timer[1].cmp: unexpected end"),
        "{text}"
    );
}

#[test]
fn input_visitor_over_io_read_matches_slices() {
    let mut src = dev(true);
    let wire = vmstate_core::save_to_vec(&mut src).unwrap();
    let mut dest = Dev::default();
    let mut reader = qemufile::Reader::new(&wire[..]);
    let mut v = InputVisitor::new(&mut reader);
    visit_struct_at(&mut dest, &mut v, "dev", 1).unwrap();
    assert_eq!(
        (dest.reg, &dest.inner, dest.extra.extra),
        (src.reg, &src.inner, src.extra.extra)
    );
}

/// A body that ends inside a subsection header fails at the end of input
/// (QEMU's end of file is sticky), never as "bytes left over" or with the
/// header's bytes read as fields.
#[test]
fn truncation_inside_a_subsection_header_is_an_end_of_input() {
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "d", version = 1)]
    struct D {
        a: u8,
        #[vmstate(subsection)]
        s: DSub,
    }
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "d/sub", version = 3, needed = DSub::needed)]
    struct DSub {
        x: u64,
        y: [u8; 8],
    }
    impl DSub {
        fn needed(&self) -> bool {
            true
        }
    }
    let mut d = D::default();
    let body = vmstate_core::save_to_vec(&mut d).unwrap();
    assert_eq!(&body[..3], [0, 5, 5]);
    // Cut anywhere inside the header: 05 | len | "d/sub" | be32 version.
    for cut in 2..1 + 2 + 5 + 4 {
        let err = vmstate_core::load_new::<D>(&body[..cut], 1).unwrap_err();
        assert!(err.is_eof(), "cut at {cut}: {err}");
        let mut dest = D {
            a: 9,
            ..D::default()
        };
        assert!(vmstate_core::load_from_slice(&mut dest, &body[..cut], 1).is_err());
        assert_eq!(dest.a, 9, "a failed load changed the destination");
    }
}

// ---------------------------------------------------------------- counts not migrated

/// QEMU's `Fifo8` (`util/fifo8.c`, `vmstate_fifo8`):
/// `VMSTATE_VBUFFER_UINT32(data, Fifo8, 1, NULL, capacity)`, head, num. The
/// `capacity` is configuration both sides know: it is not migrated, and the
/// destination reads as many bytes as its own capacity says.
#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "Fifo8", version = 1, minimum_version = 1)]
struct Fifo8 {
    #[vmstate(buffer, len = capacity, since = 1)]
    data: Vec<u8>,
    head: u32,
    num: u32,
    /// After the buffer, as in QEMU's struct: a count that is not on the
    /// wire is not read, so it may be declared anywhere.
    #[vmstate(skip)]
    capacity: u32,
}

impl Fifo8 {
    fn with_capacity(capacity: u32) -> Self {
        Fifo8 {
            data: vec![0; capacity as usize],
            head: 0,
            num: 0,
            capacity,
        }
    }
}

const WIRE_FIFO8: &[u8] = &[
    b'a', b'b', b'c', b'd', // data, `capacity` (4) bytes, no length on the wire
    0, 0, 0, 1, // head
    0, 0, 0, 2, // num
    0, // QEMU_VM_EOF
];

#[test]
fn count_of_a_skip_field_is_configuration() {
    let mut fifo = Fifo8 {
        data: b"abcd".to_vec(),
        head: 1,
        num: 2,
        capacity: 4,
    };
    assert_eq!(
        vmstate_core::save_to_vec(&mut fifo).unwrap(),
        body(WIRE_FIFO8)
    );
    let dest = Fifo8::with_capacity(4);
    let mut loaded = dest.clone();
    vmstate_core::load_from_slice(&mut loaded, body(WIRE_FIFO8), 1).unwrap();
    assert_eq!(loaded, fifo);
    check_truncations(&dest, WIRE_FIFO8, 1);
    // A destination configured with another capacity reads another number
    // of bytes, as QEMU's does: here it runs out of input.
    let mut bigger = Fifo8::with_capacity(16);
    let err = vmstate_core::load_from_slice(&mut bigger, body(WIRE_FIFO8), 1).unwrap_err();
    assert!(err.is_eof(), "{err}");
    assert_eq!(
        bigger,
        Fifo8::with_capacity(16),
        "a failed load changes nothing"
    );
    // The description names the count; vmdesc shows the bytes sent.
    let d = <Fifo8 as VmState>::DESCRIPTION;
    assert_eq!(
        d.fields[0].layout,
        vmstate_core::Layout::VarBuffer {
            len_field: "capacity"
        }
    );
    let json = vmstate_core::vmdesc::save_with_vmdesc(&mut fifo, Vec::new()).unwrap();
    assert_eq!(
        json,
        r#""vmsd_name": "Fifo8", "version": 1, "fields": [{"name": "data", "type": "buffer", "size": 4}, {"name": "head", "type": "uint32", "size": 4}, {"name": "num", "type": "uint32", "size": 4}]"#
    );
}

/// The fdc's command FIFO (`VMSTATE_VARRAY_INT32(fifo, FDCtrl, fifo_size,
/// ...)` with the unmigrated `fifo_size`), a constant count, and a count
/// computed from the struct.
#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "counts", version = 1)]
struct Counts {
    #[vmstate(skip)]
    fifo_size: i32,
    #[vmstate(len = fifo_size)]
    fifo: Vec<u8>,
    /// A constant: a fixed-length array in the description (QEMU's
    /// `VMSTATE_STRUCT_VARRAY_POINTER_KNOWN`, `num` known).
    #[vmstate(len = REGS)]
    regs: Vec<u16>,
    /// The first bytes of a larger array (QEMU's `VMSTATE_PARTIAL_BUFFER`).
    #[vmstate(buffer, len = 2)]
    partial: [u8; 4],
    #[vmstate(skip)]
    ports: u8,
    /// An expression of `self` (a `u64`: counts that are not migrated may
    /// have any integer width).
    #[vmstate(len = self.ports_in_use())]
    port: [u32; 4],
}

const REGS: usize = 3;

impl Counts {
    fn ports_in_use(&self) -> u64 {
        u64::from(self.ports) / 2
    }
}

const WIRE_COUNTS: &[u8] = &[
    9, 8, // fifo: fifo_size (2) elements
    0, 1, 0, 2, 0, 3, // regs: REGS elements
    7, 7, // partial[..2]
    0, 0, 0, 5, // port[0], ports_in_use() = 1
    0, // QEMU_VM_EOF
];

#[test]
fn constant_and_computed_counts() {
    let mut obj = Counts {
        fifo_size: 2,
        fifo: vec![9, 8],
        regs: vec![1, 2, 3],
        partial: [7, 7, 0, 0],
        ports: 3,
        port: [5, 0, 0, 0],
    };
    assert_eq!(
        vmstate_core::save_to_vec(&mut obj).unwrap(),
        body(WIRE_COUNTS)
    );
    let dest = Counts {
        fifo_size: 2,
        ports: 3,
        ..Counts::default()
    };
    let mut loaded = dest.clone();
    vmstate_core::load_from_slice(&mut loaded, body(WIRE_COUNTS), 1).unwrap();
    assert_eq!(loaded, obj);
    check_truncations(&dest, WIRE_COUNTS, 1);
    // A vector must hold exactly the constant count to be saved.
    let mut short = obj.clone();
    short.regs.pop();
    let err = vmstate_core::save_to_vec(&mut short).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::CountMismatch {
                count: 3,
                len: 2,
                ..
            }
        ),
        "{err}"
    );

    use vmstate_core::Layout;
    let d = <Counts as VmState>::DESCRIPTION;
    let layouts: Vec<_> = d.fields.iter().map(|f| (f.name, f.layout)).collect();
    assert_eq!(
        layouts,
        [
            (
                "fifo",
                Layout::VarArray {
                    count_field: "fifo_size",
                    capacity: None,
                    element: &Layout::Scalar(vmstate_core::WireType::Uint8)
                }
            ),
            (
                "regs",
                Layout::Array {
                    len: 3,
                    element: &Layout::Scalar(vmstate_core::WireType::Uint16)
                }
            ),
            ("partial", Layout::Buffer(2)),
            (
                "port",
                Layout::VarArray {
                    count_field: "self.ports_in_use()",
                    capacity: Some(4),
                    element: &Layout::Scalar(vmstate_core::WireType::Uint32)
                }
            ),
        ]
    );
    // -dump-vmstate: the constant array has its `num`, as VMS_ARRAY fields
    // do in QEMU's dump; the variable ones have none.
    let dump = vmstate_core::dump::DumpDescription::from_static(d);
    let nums: Vec<_> = dump
        .fields
        .unwrap()
        .iter()
        .map(|f| (f.num, f.size))
        .collect();
    assert_eq!(
        nums,
        [
            (None, Some(1)),
            (Some(3), Some(2)),
            (None, Some(2)),
            (None, Some(4))
        ]
    );
}

// ---------------------------------------------------------------- views and inline subsections

const CTRL: usize = 0;
const STATUS: usize = 2;
const RA: usize = 8;
const MTA: usize = 12;
const ITR: usize = 20;

/// One register file sent the ways e1000 sends `mac_reg`: single registers
/// (`VMSTATE_UINT32(mac_reg[CTRL], ..)`), runs (`VMSTATE_UINT32_SUB_ARRAY`),
/// and in subsections over the same struct (`e1000/mit_state`,
/// `e1000/full_mac_state`) a register again and the whole file again. One
/// Rust field; every wire field is a view of it.
#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "nic", version = 2, default)]
struct Nic {
    #[vmstate(skip)]
    mac_reg: Box<[u32; 32]>,
    #[vmstate(view = mac_reg, index = [CTRL, STATUS])]
    _regs: (),
    #[vmstate(view = mac_reg, start = RA, len = 2)]
    _ra: (),
    #[vmstate(view = mac_reg, start = MTA, len = 3)]
    _mta: (),
    #[vmstate(subsection = "nic/mit_state", version = 1, needed = Nic::mit_needed,
              pre_save = Nic::mit_pre_save, post_load = Nic::mit_post_load)]
    _mit_state: (),
    #[vmstate(view = mac_reg, index = ITR)]
    _itr: (),
    mit_irq_level: bool,
    #[vmstate(subsection = "nic/full_mac_state", version = 1, needed = Nic::full_needed)]
    _full_mac_state: (),
    #[vmstate(view = mac_reg)]
    _mac_reg: (),
    #[vmstate(skip)]
    mit_on: bool,
    #[vmstate(skip, default = true)]
    full_on: bool,
    #[vmstate(skip)]
    log: Vec<&'static str>,
}

impl Nic {
    fn mit_needed(&self) -> bool {
        self.mit_on
    }
    fn full_needed(&self) -> bool {
        self.full_on
    }
    fn mit_pre_save(&mut self) -> Result<(), String> {
        self.log.push("mit pre_save");
        Ok(())
    }
    fn mit_post_load(&mut self, version_id: u32) -> Result<(), String> {
        assert_eq!(version_id, 1);
        self.log.push("mit post_load");
        Ok(())
    }
}

fn nic() -> Nic {
    let mut nic = Nic {
        mit_on: true,
        full_on: false,
        ..Nic::default()
    };
    for (i, r) in nic.mac_reg.iter_mut().enumerate() {
        *r = i as u32;
    }
    nic.mit_irq_level = true;
    nic
}

const WIRE_NIC: &[u8] = &[
    0, 0, 0, 0, // mac_reg[CTRL]
    0, 0, 0, 2, // mac_reg[STATUS]
    0, 0, 0, 8, 0, 0, 0, 9, // mac_reg[RA..RA + 2]
    0, 0, 0, 12, 0, 0, 0, 13, 0, 0, 0, 14, // mac_reg[MTA..MTA + 3]
    0x05, 13, b'n', b'i', b'c', b'/', b'm', b'i', b't', b'_', b's', b't', b'a', b't', b'e', 0, 0,
    0, 1, // subsection nic/mit_state, version 1
    0, 0, 0, 20, // mac_reg[ITR]
    1,  // mit_irq_level
    0,  // QEMU_VM_EOF
];

#[test]
fn views_of_one_field_and_inline_subsections() {
    let mut src = nic();
    assert_eq!(vmstate_core::save_to_vec(&mut src).unwrap(), body(WIRE_NIC));
    assert_eq!(src.log, ["mit pre_save"]);
    let mut dest = Nic::default();
    vmstate_core::load_from_slice(&mut dest, body(WIRE_NIC), 2).unwrap();
    assert_eq!(dest.log, ["mit post_load"]);
    for i in [CTRL, STATUS, RA, RA + 1, MTA, MTA + 1, MTA + 2, ITR] {
        assert_eq!(dest.mac_reg[i], i as u32, "mac_reg[{i}]");
    }
    assert_eq!(
        dest.mac_reg[1], 0,
        "registers outside every view are not sent"
    );
    assert!(dest.mit_irq_level);
    check_truncations(&Nic::default(), WIRE_NIC, 2);

    // The whole register file again, in its own subsection.
    let mut full = nic();
    full.mit_on = false;
    full.full_on = true;
    let bytes = vmstate_core::save_to_vec(&mut full).unwrap();
    let tail = &bytes[28..];
    assert_eq!(&tail[..2], [0x05, 18]);
    assert_eq!(&tail[2..20], b"nic/full_mac_state");
    assert_eq!(&tail[20..24], [0, 0, 0, 1]);
    assert_eq!(tail.len(), 24 + 32 * 4);
    let back: Nic = vmstate_core::load_new(&bytes, 2).unwrap();
    assert_eq!(back.mac_reg, full.mac_reg);

    // Descriptions: QEMU's names (stringify of `mac_reg[CTRL]`, the field
    // name for runs, numbered where repeated), one description per
    // subsection.
    let d = <Nic as VmState>::DESCRIPTION;
    let names: Vec<_> = (0..d.fields.len()).map(|i| d.unique_name(i)).collect();
    assert_eq!(
        names,
        [
            "mac_reg[CTRL]",
            "mac_reg[STATUS]",
            "mac_reg[0]",
            "mac_reg[1]"
        ]
    );
    let subs: Vec<_> = d
        .subsections
        .iter()
        .map(|s| (s.name, s.version_id, s.fields.len()))
        .collect();
    assert_eq!(
        subs,
        [("nic/mit_state", 1, 2), ("nic/full_mac_state", 1, 1)]
    );
    let json = vmstate_core::vmdesc::save_with_vmdesc(&mut nic(), Vec::new()).unwrap();
    assert_eq!(
        json,
        r#""vmsd_name": "nic", "version": 2, "fields": [{"name": "mac_reg[CTRL]", "type": "uint32", "size": 4}, {"name": "mac_reg[STATUS]", "type": "uint32", "size": 4}, {"name": "mac_reg[0]", "array_len": 2, "type": "uint32", "size": 4}, {"name": "mac_reg[1]", "array_len": 3, "type": "uint32", "size": 4}], "subsections": [{"vmsd_name": "nic/mit_state", "version": 1, "fields": [{"name": "mac_reg[ITR]", "type": "uint32", "size": 4}, {"name": "mit_irq_level", "type": "bool", "size": 1}]}]"#
    );
    // Errors name the view's wire field.
    let err = vmstate_core::load_new::<Nic>(&body(WIRE_NIC)[..10], 2).unwrap_err();
    assert_eq!(err.path_string(), "nic.mac_reg[0][0]");
    let err = vmstate_core::load_new::<Nic>(&body(WIRE_NIC)[..50], 2).unwrap_err();
    // (a name with an index of its own is quoted in paths)
    assert_eq!(err.path_string(), r#"nic/mit_state."mac_reg[ITR]""#);
}

/// Byte runs of one buffer: `VMSTATE_BUFFER_START_MIDDLE` (from `start` to
/// the end) and `VMSTATE_PARTIAL_BUFFER` (the first bytes), as views.
#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "bufs", version = 1)]
struct ByteViews {
    #[vmstate(skip)]
    config: [u8; 6],
    #[vmstate(view = config, buffer, start = 4)]
    _tail: (),
    #[vmstate(view = config, buffer, len = 2)]
    _head: (),
    #[vmstate(view = config, start = 2, len = 2)]
    _middle: (),
}

#[test]
fn byte_views() {
    let mut obj = ByteViews {
        config: [1, 2, 3, 4, 5, 6],
        ..ByteViews::default()
    };
    let bytes = vmstate_core::save_to_vec(&mut obj).unwrap();
    assert_eq!(bytes, [5, 6, 1, 2, 3, 4]);
    let back: ByteViews = vmstate_core::load_new(&bytes, 1).unwrap();
    assert_eq!(back, obj);
    use vmstate_core::Layout;
    let layouts: Vec<_> = <ByteViews as VmState>::DESCRIPTION
        .fields
        .iter()
        .map(|f| (f.name, f.layout))
        .collect();
    assert_eq!(
        layouts,
        [
            ("config", Layout::Buffer(2)),
            ("config", Layout::Buffer(2)),
            (
                "config",
                Layout::Array {
                    len: 2,
                    element: &Layout::Scalar(vmstate_core::WireType::Uint8)
                }
            ),
        ]
    );
}

/// A view of a `Vec` is checked when walked: a view past its end is an
/// error, not a panic.
#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "vecview", version = 1)]
struct VecView {
    #[vmstate(skip)]
    regs: Vec<u16>,
    #[vmstate(view = regs, index = 3)]
    _r3: (),
    #[vmstate(view = regs, start = 1, len = 2)]
    _r12: (),
}

#[test]
fn views_of_a_vec_are_checked_when_walked() {
    let mut ok = VecView {
        regs: vec![0, 1, 2, 3],
        ..VecView::default()
    };
    assert_eq!(
        vmstate_core::save_to_vec(&mut ok).unwrap(),
        [0, 3, 0, 1, 0, 2]
    );
    let mut short = VecView {
        regs: vec![0, 1],
        ..VecView::default()
    };
    let err = vmstate_core::save_to_vec(&mut short).unwrap_err();
    assert!(
        err.to_string().contains("outside the 2 element(s)"),
        "{err}"
    );
    assert_eq!(err.path_string(), "vecview.regs[3]");
    let mut dest = VecView::default();
    let err = vmstate_core::load_from_slice(&mut dest, &[0, 3, 0, 1, 0, 2], 1).unwrap_err();
    assert!(
        err.to_string().contains("outside the 0 element(s)"),
        "{err}"
    );
}

// ---------------------------------------------------------------- context

/// What the drives' hooks and predicates know of their controller (QEMU:
/// `drive->fdctrl->...`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Controller {
    check_media_rate: bool,
    version: u8,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "drive", version = 1, context = Controller,
          post_load = Drive::post_load, pre_save = Drive::pre_save)]
struct Drive {
    head: u8,
    /// Present when the controller says so.
    #[vmstate(exists = Drive::has_sect)]
    sect: u8,
    #[vmstate(subsection, needed = Drive::media_rate_needed)]
    media_rate: DriveMediaRate,
    /// The nested struct sees the same context.
    #[vmstate(context)]
    geometry: Geometry,
    #[vmstate(skip)]
    seen: Vec<String>,
}

impl Drive {
    fn has_sect(&self, _version_id: u32, controller: &Controller) -> bool {
        controller.version >= 2
    }
    fn media_rate_needed(&self, controller: &Controller) -> bool {
        controller.check_media_rate
    }
    fn pre_save(&mut self, controller: &Controller) -> Result<(), String> {
        self.seen.push(format!("pre_save v{}", controller.version));
        Ok(())
    }
    fn post_load(&mut self, version_id: u32, controller: &Controller) -> Result<(), String> {
        self.seen
            .push(format!("post_load {version_id} v{}", controller.version));
        Ok(())
    }
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "drive/media_rate", version = 1)]
struct DriveMediaRate {
    media_rate: u8,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "geometry", version = 1, context = Controller)]
struct Geometry {
    #[vmstate(validate = Geometry::fits)]
    _fits: (),
    tracks: u8,
}

impl Geometry {
    fn fits(&self, _version_id: u32, controller: &Controller) -> bool {
        controller.version < 9 || self.tracks > 0
    }
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "ctrl", version = 1)]
struct Ctrl {
    #[vmstate(skip)]
    check_media_rate: bool,
    version: u8,
    #[vmstate(context = Controller { check_media_rate: self.check_media_rate, version: self.version })]
    drives: [Drive; 2],
    /// A box of one, with a context that is another field.
    #[vmstate(context = self.spare_controller)]
    spare: Box<Drive>,
    #[vmstate(skip)]
    spare_controller: Controller,
}

impl Default for Controller {
    fn default() -> Self {
        Controller {
            check_media_rate: false,
            version: 1,
        }
    }
}

#[test]
fn context_reaches_hooks_and_predicates_of_nested_structs() {
    let mut ctrl = Ctrl {
        check_media_rate: true,
        version: 2,
        ..Ctrl::default()
    };
    ctrl.drives[0].head = 1;
    ctrl.drives[0].sect = 2;
    ctrl.drives[1].media_rate.media_rate = 3;
    ctrl.spare.head = 4;
    let bytes = vmstate_core::save_to_vec(&mut ctrl).unwrap();
    let sub: &[u8] = b"\x05\x10drive/media_rate\x00\x00\x00\x01";
    let mut wire = vec![2u8]; // version
    wire.extend([1, 2]); // drives[0]: head, sect (controller version 2)
    wire.push(0); // geometry.tracks
    wire.extend(sub);
    wire.push(0); // media_rate
    wire.extend([0, 0, 0]); // drives[1]: head, sect, tracks
    wire.extend(sub);
    wire.push(3);
    wire.extend([4, 0]); // spare: head, tracks (its controller: version 1, no media rate)
    assert_eq!(bytes, wire);
    assert_eq!(ctrl.drives[0].seen, ["pre_save v2"]);
    assert_eq!(ctrl.spare.seen, ["pre_save v1"]);

    let mut dest = Ctrl {
        check_media_rate: true,
        ..Ctrl::default()
    };
    vmstate_core::load_from_slice(&mut dest, &bytes, 1).unwrap();
    assert_eq!(dest.version, 2);
    assert_eq!((dest.drives[0].head, dest.drives[0].sect), (1, 2));
    assert_eq!(dest.drives[1].media_rate.media_rate, 3);
    // The drives' context is computed when they are walked: after
    // `version` was loaded.
    assert_eq!(dest.drives[0].seen, ["post_load 1 v2"]);
    assert_eq!(dest.spare.head, 4);

    // The description is the structs' own: nothing of the context.
    let d = <Ctrl as VmState>::DESCRIPTION;
    assert_eq!(d.fields[1].name, "drives");
    let vmstate_core::Layout::Array { len: 2, element } = d.fields[1].layout else {
        panic!("{:?}", d.fields[1].layout);
    };
    assert_eq!(
        element.description().unwrap().name,
        "drive",
        "an array of the drive's description"
    );
    let json = vmstate_core::vmdesc::save_with_vmdesc(&mut ctrl, Vec::new()).unwrap();
    assert!(
        json.contains(r#""subsections": [{"vmsd_name": "drive/media_rate""#),
        "{json}"
    );

    // A validate check with the context fails the load.
    let mut strict = Ctrl {
        spare_controller: Controller {
            check_media_rate: false,
            version: 9,
        },
        ..Ctrl::default()
    };
    let err = vmstate_core::load_from_slice(&mut strict, &bytes, 1).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Validation(_)), "{err}");
    assert_eq!(err.path_string(), "ctrl.spare.geometry._fits");
}

// ---------------------------------------------------------------- default

/// `#[vmstate(default)]`: `Default` for arrays of any length (Rust's own
/// stops at 32), boxed ones built in place, and per-field values.
#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "big", version = 1, default)]
struct Big {
    regs: [u32; 0x100],
    #[vmstate(buffer)]
    data: Box<[u8; 0x10000]>,
    grid: [[u16; 40]; 40],
    #[vmstate(default = -1)]
    write_cmd: i32,
    #[vmstate(default = Timer::not_armed())]
    timer: Timer,
    small: [u8; 4],
    nested: [Segment; 33],
    #[vmstate(skip)]
    name: String,
}

#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "seg", version = 1, default)]
struct Segment {
    #[vmstate(default = 0xffff)]
    limit: u32,
}

#[test]
fn default_for_arrays_of_any_length() {
    let big = Big::default();
    assert!(big.regs.iter().all(|&r| r == 0));
    assert_eq!(big.data.len(), 0x10000);
    assert_eq!(big.grid[39][39], 0);
    assert_eq!(big.write_cmd, -1);
    assert_eq!(big.timer, Timer::not_armed());
    assert!(big.nested.iter().all(|s| s.limit == 0xffff));
    assert!(big.name.is_empty());
    let bytes = vmstate_core::save_to_vec(&mut big.clone()).unwrap();
    assert_eq!(
        bytes.len(),
        0x400 + 0x10000 + 40 * 40 * 2 + 4 + 8 + 4 + 33 * 4
    );
    let back: Big = vmstate_core::load_new(&bytes, 1).unwrap();
    assert_eq!(back, big);
}

// ---------------------------------------------------------------- looking runs no hooks

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "counted", version = 1, pre_save = Counted::pre_save,
          post_save = Counted::post_save)]
struct Counted {
    /// A wire field `pre_save` computes (like fdc's `dor_vmstate`).
    reg_vmstate: u8,
    #[vmstate(skip)]
    reg: u8,
    #[vmstate(skip)]
    saves: u32,
    #[vmstate(skip)]
    post_saves: u32,
}

impl Counted {
    fn pre_save(&mut self) -> Result<(), String> {
        self.saves += 1;
        self.reg_vmstate = self.reg | 0x80;
        Ok(())
    }
    fn post_save(&mut self) {
        self.post_saves += 1;
    }
}

/// Item 5 of issue 8: printing, recording and describing a device do not
/// run its save hooks; saving does.
#[test]
fn looking_at_state_runs_no_save_hooks() {
    let mut dev = Counted {
        reg: 1,
        ..Counted::default()
    };
    vmstate_core::save_to_vec(&mut dev).unwrap();
    assert_eq!((dev.saves, dev.post_saves, dev.reg_vmstate), (1, 1, 0x81));
    dev.reg = 2;
    let before = dev.clone();
    let text = vmstate_core::pretty_print(&mut dev).unwrap();
    assert_eq!(
        text, "counted.reg_vmstate = (uint8) 0x81\n",
        "as the struct holds it"
    );
    vmstate_core::tokens::tokens(&mut dev).unwrap();
    vmstate_core::analyzer::to_json_string(&mut dev).unwrap();
    vmstate_core::pretty_print_with(&mut dev, vmstate_core::PathStyle::Trace).unwrap();
    assert_eq!(dev, before, "looking changed nothing");
    // Saving (also with vmdesc) runs them.
    vmstate_core::vmdesc::save_with_vmdesc(&mut dev, Vec::new()).unwrap();
    assert_eq!((dev.saves, dev.post_saves, dev.reg_vmstate), (2, 2, 0x82));
}

// ---------------------------------------------------------------- GByteArray

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "gba", version = 1)]
struct WithByteArray {
    a: u8,
    /// `VMSTATE_GBYTEARRAY`: be32 length, then the bytes.
    blob: vmstate_core::forms::GByteArray,
    b: u8,
}

const WIRE_GBA: &[u8] = &[
    1, // a
    0, 0, 0, 3, b'x', b'y', b'z', // blob
    2,    // b
    0,    // QEMU_VM_EOF
];

#[test]
fn g_byte_array() {
    let mut obj = WithByteArray {
        a: 1,
        blob: vmstate_core::forms::GByteArray(b"xyz".to_vec()),
        b: 2,
    };
    assert_eq!(vmstate_core::save_to_vec(&mut obj).unwrap(), body(WIRE_GBA));
    let back: WithByteArray = vmstate_core::load_new(body(WIRE_GBA), 1).unwrap();
    assert_eq!(back, obj);
    check_truncations(&WithByteArray::default(), WIRE_GBA, 1);
    // A claimed length past the input fails on the missing bytes; a huge
    // one at the memory limit, before anything is allocated.
    let err = vmstate_core::load_new::<WithByteArray>(&[1, 0, 0, 1, 0, 0], 1).unwrap_err();
    assert!(err.is_eof(), "{err}");
    let err =
        vmstate_core::load_new::<WithByteArray>(&[1, 0xff, 0xff, 0xff, 0xff, 0], 1).unwrap_err();
    assert!(err.to_string().contains("section_memory"), "{err}");
    let json = vmstate_core::vmdesc::save_with_vmdesc(&mut obj, Vec::new()).unwrap();
    assert!(
        json.contains(r#"{"name": "blob", "type": "GByteArray", "size": 7}"#),
        "{json}"
    );
}
