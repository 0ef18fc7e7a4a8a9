//! The pretty-print format: one line per scalar, `path = (wire type) value`.
//!
//! Most tests here pin the QEMUFile-visitor trace style ([`PathStyle::Trace`]):
//! the path from the description name, `(len)(element size)` after an array
//! field and `.[i]` per element, values in lowercase hex. The default style,
//! where every path names one field, is tested at the end.

use std::collections::{BTreeMap, VecDeque};

use vmstate_core::{PathStyle, PrettyPrinter, Timer, VmState, visit_struct};

/// The trace-style dump.
fn pretty_print<T: VmState>(value: &mut T) -> vmstate_core::Result<String> {
    vmstate_core::pretty_print_with(value, PathStyle::Trace)
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[track_caller]
fn assert_has_line(dump: &str, line: &str) {
    assert!(
        dump.lines().any(|l| l == line),
        "missing line {line:?} in:\n{dump}"
    );
}

// ================================================================ QEMU's examples

#[derive(VmState, Clone, Debug)]
#[vmstate(name = "PCIDevice", version = 2)]
struct PciDevice {
    config: [u8; 256],
    irq_state: [u32; 4],
}

#[derive(VmState, Clone, Debug)]
#[vmstate(name = "PIIX3", version = 3, minimum_version = 2)]
struct Piix3 {
    #[vmstate(name = "PCIDevice")]
    dev: PciDevice,
    pci_irq_levels_vmstate: [i32; 4],
}

#[test]
fn piix3_pci_config_and_irq_state() {
    let mut piix3 = Piix3 {
        dev: PciDevice {
            config: [0; 256],
            irq_state: [0; 4],
        },
        pci_irq_levels_vmstate: [0, 1, -1, 0],
    };
    piix3.dev.config[0] = 0x86;
    piix3.dev.config[1] = 0x80;
    let dump = pretty_print(&mut piix3).unwrap();
    assert_has_line(&dump, "PIIX3.PCIDevice.config(256)(1).[255] = (uint8) 0x0");
    assert_has_line(&dump, "PIIX3.PCIDevice.irq_state(4)(4).[0] = (uint32) 0x0");
    assert_has_line(&dump, "PIIX3.PCIDevice.config(256)(1).[0] = (uint8) 0x86");
    assert_has_line(&dump, "PIIX3.PCIDevice.config(256)(1).[1] = (uint8) 0x80");
    assert_has_line(
        &dump,
        "PIIX3.pci_irq_levels_vmstate(4)(4).[2] = (int32) 0xffffffff",
    );
    // One line per scalar, in wire order.
    let l = lines(&dump);
    assert_eq!(l.len(), 256 + 4 + 4);
    assert_eq!(l[0], "PIIX3.PCIDevice.config(256)(1).[0] = (uint8) 0x86");
    assert_eq!(l[255], "PIIX3.PCIDevice.config(256)(1).[255] = (uint8) 0x0");
    assert_eq!(l[256], "PIIX3.PCIDevice.irq_state(4)(4).[0] = (uint32) 0x0");
    assert_eq!(
        l[263],
        "PIIX3.pci_irq_levels_vmstate(4)(4).[3] = (int32) 0x0"
    );
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "i8259", version = 1, minimum_version = 1)]
struct I8259 {
    last_irr: u8,
    irr: u8,
    imr: u8,
    isr: u8,
    #[vmstate(subsection)]
    ltim: I8259Ltim,
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "i8259/ltim", version = 1, needed = I8259Ltim::is_set)]
struct I8259Ltim {
    ltim: u8,
}

impl I8259Ltim {
    fn is_set(&self) -> bool {
        self.ltim != 0
    }
}

#[test]
fn i8259_full_dump_with_and_without_its_subsection() {
    let mut pic = I8259 {
        irr: 0x10,
        imr: 0xff,
        ..I8259::default()
    };
    assert_eq!(
        pretty_print(&mut pic).unwrap(),
        "i8259.last_irr = (uint8) 0x0\n\
         i8259.irr = (uint8) 0x10\n\
         i8259.imr = (uint8) 0xff\n\
         i8259.isr = (uint8) 0x0\n"
    );
    pic.ltim.ltim = 1;
    assert_eq!(
        pretty_print(&mut pic).unwrap(),
        "i8259.last_irr = (uint8) 0x0\n\
         i8259.irr = (uint8) 0x10\n\
         i8259.imr = (uint8) 0xff\n\
         i8259.isr = (uint8) 0x0\n\
         i8259.i8259/ltim.ltim = (uint8) 0x1\n"
    );
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "slirp-bootp-client", version = 1)]
struct BootpClient {
    allocated: u16,
    macaddr: [u8; 6],
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "bootp", version = 1)]
struct Bootp {
    bootp_clients: [BootpClient; 16],
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "slirp", version = 4)]
struct Slirp {
    /// Named `bootp` in the dump by its description, whatever the field name.
    boot_protocol: Bootp,
}

#[test]
fn slirp_array_of_structs_with_arrays() {
    let mut slirp = Slirp::default();
    slirp.boot_protocol.bootp_clients[0].macaddr = [1, 2, 3, 4, 5, 6];
    slirp.boot_protocol.bootp_clients[15].allocated = 1;
    let dump = pretty_print(&mut slirp).unwrap();
    assert_has_line(
        &dump,
        "slirp.bootp.bootp_clients(16)(8).[0].macaddr(6)(1).[0] = (uint8) 0x1",
    );
    let first: Vec<&str> = dump.lines().take(8).collect();
    assert_eq!(
        first,
        [
            "slirp.bootp.bootp_clients(16)(8).[0].allocated = (uint16) 0x0",
            "slirp.bootp.bootp_clients(16)(8).[0].macaddr(6)(1).[0] = (uint8) 0x1",
            "slirp.bootp.bootp_clients(16)(8).[0].macaddr(6)(1).[1] = (uint8) 0x2",
            "slirp.bootp.bootp_clients(16)(8).[0].macaddr(6)(1).[2] = (uint8) 0x3",
            "slirp.bootp.bootp_clients(16)(8).[0].macaddr(6)(1).[3] = (uint8) 0x4",
            "slirp.bootp.bootp_clients(16)(8).[0].macaddr(6)(1).[4] = (uint8) 0x5",
            "slirp.bootp.bootp_clients(16)(8).[0].macaddr(6)(1).[5] = (uint8) 0x6",
            "slirp.bootp.bootp_clients(16)(8).[1].allocated = (uint16) 0x0",
        ]
    );
    assert_has_line(
        &dump,
        "slirp.bootp.bootp_clients(16)(8).[15].allocated = (uint16) 0x1",
    );
    assert_eq!(dump.lines().count(), 16 * 7);
}

// ================================================================ a small struct, whole

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "small", version = 1)]
struct Small {
    a: u8,
    b: i16,
    c: [u32; 2],
    d: bool,
    pair: Pair,
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "pair", version = 1)]
struct Pair(u8, i8);

#[test]
fn small_struct_full_dump() {
    let mut s = Small {
        a: 1,
        b: -2,
        c: [0x10, 0xdead_beef],
        d: true,
        pair: Pair(0xab, -128),
    };
    assert_eq!(
        pretty_print(&mut s).unwrap(),
        "small.a = (uint8) 0x1\n\
         small.b = (int16) 0xfffe\n\
         small.c(2)(4).[0] = (uint32) 0x10\n\
         small.c(2)(4).[1] = (uint32) 0xdeadbeef\n\
         small.d = (bool) 0x1\n\
         small.pair.0 = (uint8) 0xab\n\
         small.pair.1 = (int8) 0x80\n"
    );
}

#[test]
fn printer_writes_into_any_fmt_write() {
    let mut s = Pair(1, 2);
    let mut p = PrettyPrinter::with_style(String::from("# header\n"), PathStyle::Trace);
    visit_struct(&mut s, &mut p, "custom").unwrap();
    assert_eq!(
        p.into_inner(),
        "# header\ncustom.0 = (uint8) 0x1\ncustom.1 = (int8) 0x2\n"
    );
}

// ================================================================ types and values

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "signed", version = 1)]
struct Signed {
    a: i8,
    b: i16,
    c: i32,
    d: i64,
    e: i8,
    f: i64,
}

#[test]
fn signed_values_are_twos_complement_at_their_width() {
    let mut s = Signed {
        a: -1,
        b: -256,
        c: i32::MIN,
        d: -2,
        e: 0x7f,
        f: i64::MAX,
    };
    assert_eq!(
        pretty_print(&mut s).unwrap(),
        "signed.a = (int8) 0xff\n\
         signed.b = (int16) 0xff00\n\
         signed.c = (int32) 0x80000000\n\
         signed.d = (int64) 0xfffffffffffffffe\n\
         signed.e = (int8) 0x7f\n\
         signed.f = (int64) 0x7fffffffffffffff\n"
    );
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "eq", version = 1)]
struct Equal {
    #[vmstate(equal)]
    a: u8,
    #[vmstate(equal)]
    b: u16,
    #[vmstate(equal)]
    c: u32,
    #[vmstate(equal)]
    d: u64,
    #[vmstate(equal)]
    e: i32,
    #[vmstate(le)]
    f: i32,
    u: u64,
}

#[test]
fn equal_and_le_type_names() {
    let mut s = Equal {
        a: 1,
        b: 2,
        c: 3,
        d: u64::MAX,
        e: -1,
        f: -16,
        u: 5,
    };
    assert_eq!(
        pretty_print(&mut s).unwrap(),
        "eq.a = (uint8 equal) 0x1\n\
         eq.b = (uint16 equal) 0x2\n\
         eq.c = (uint32 equal) 0x3\n\
         eq.d = (int64 equal) 0xffffffffffffffff\n\
         eq.e = (int32 equal) 0xffffffff\n\
         eq.f = (int32 le) 0xfffffff0\n\
         eq.u = (uint64) 0x5\n"
    );
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "misc", version = 1)]
struct Misc {
    off: Timer,
    on: Timer,
    d: f64,
    neg: f64,
    #[vmstate(buffer)]
    raw: [u8; 4],
    len: u8,
    #[vmstate(buffer, len = len)]
    blob: Vec<u8>,
    #[vmstate(unused = 4)]
    _gone: (),
    nbits: u32,
    #[vmstate(bitmap, bits = nbits)]
    map: Vec<u64>,
    ptrs: [Option<u16>; 2],
    #[vmstate(auto_alloc)]
    auto: [Option<Pair>; 2],
    grid: [[u8; 2]; 2],
}

#[test]
fn timers_doubles_buffers_unused_bitmaps_pointers() {
    let mut s = Misc {
        off: Timer::not_armed(),
        on: Timer::armed_at(1_000_000_000),
        d: 1.0,
        neg: -0.0,
        raw: [0xde, 0xad, 0x0b, 0x0e],
        len: 2,
        blob: vec![0x00, 0x0f],
        _gone: (),
        nbits: 70,
        map: vec![0x8000_0000_0000_0001, 0x20],
        ptrs: [None, Some(0x1234)],
        auto: [Some(Pair(1, -1)), None],
        grid: [[1, 2], [3, 4]],
    };
    assert_eq!(
        pretty_print(&mut s).unwrap(),
        "misc.off = (timer) 0xffffffffffffffff\n\
         misc.on = (timer) 0x3b9aca00\n\
         misc.d = (CPU_Double_U) 0x3ff0000000000000\n\
         misc.neg = (CPU_Double_U) 0x8000000000000000\n\
         misc.raw = (buffer) 0xdead0b0e\n\
         misc.len = (uint8) 0x2\n\
         misc.blob = (buffer) 0x000f\n\
         misc.unused = (unused_buffer) 4 byte(s)\n\
         misc.nbits = (uint32) 0x46\n\
         misc.map(2)(8).[0] = (bitmap) 0x8000000000000001\n\
         misc.map(2)(8).[1] = (bitmap) 0x20\n\
         misc.ptrs(2)(0).[0] = (ptr-marker) 0x30\n\
         misc.ptrs(2)(0).[1] = (uint16) 0x1234\n\
         misc.auto(2)(0).[0] = (ptr-marker) 0x31\n\
         misc.auto(2)(0).[0].0 = (uint8) 0x1\n\
         misc.auto(2)(0).[0].1 = (int8) 0xff\n\
         misc.auto(2)(0).[1] = (ptr-marker) 0x30\n\
         misc.grid(2)(2).[0](2)(1).[0] = (uint8) 0x1\n\
         misc.grid(2)(2).[0](2)(1).[1] = (uint8) 0x2\n\
         misc.grid(2)(2).[1](2)(1).[0] = (uint8) 0x3\n\
         misc.grid(2)(2).[1](2)(1).[1] = (uint8) 0x4\n"
    );
}

// ================================================================ subsections

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "hpet", version = 2)]
struct Hpet {
    config: u64,
    num_timers: u8,
    #[vmstate(len = num_timers)]
    timer: Vec<HpetTimer>,
    #[vmstate(subsection)]
    offset: HpetOffset,
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "hpet_timer", version = 1)]
struct HpetTimer {
    tn: u8,
    cmp: u64,
    qemu_timer: Timer,
    #[vmstate(subsection)]
    extra: HpetTimerExtra,
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "hpet_timer/extra", version = 1, needed = HpetTimerExtra::is_needed)]
struct HpetTimerExtra {
    wrap: u32,
}

impl HpetTimerExtra {
    fn is_needed(&self) -> bool {
        self.wrap != 0
    }
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "hpet/offset", version = 1, needed = HpetOffset::is_needed)]
struct HpetOffset {
    hpet_offset: u64,
}

impl HpetOffset {
    fn is_needed(&self) -> bool {
        self.hpet_offset != 0
    }
}

#[test]
fn subsections_are_named_by_their_description() {
    let mut h = Hpet {
        config: 4,
        num_timers: 2,
        timer: vec![
            HpetTimer {
                tn: 0,
                cmp: 5,
                qemu_timer: Timer::not_armed(),
                extra: HpetTimerExtra { wrap: 0 },
            },
            HpetTimer {
                tn: 1,
                cmp: 6,
                qemu_timer: Timer::armed_at(16),
                extra: HpetTimerExtra { wrap: 7 },
            },
        ],
        offset: HpetOffset { hpet_offset: 0x100 },
    };
    // The timer element has a subsection, so it has no fixed size: (0).
    assert_eq!(
        pretty_print(&mut h).unwrap(),
        "hpet.config = (uint64) 0x4\n\
         hpet.num_timers = (uint8) 0x2\n\
         hpet.timer(2)(0).[0].tn = (uint8) 0x0\n\
         hpet.timer(2)(0).[0].cmp = (uint64) 0x5\n\
         hpet.timer(2)(0).[0].qemu_timer = (timer) 0xffffffffffffffff\n\
         hpet.timer(2)(0).[1].tn = (uint8) 0x1\n\
         hpet.timer(2)(0).[1].cmp = (uint64) 0x6\n\
         hpet.timer(2)(0).[1].qemu_timer = (timer) 0x10\n\
         hpet.timer(2)(0).[1].hpet_timer/extra.wrap = (uint32) 0x7\n\
         hpet.hpet/offset.hpet_offset = (uint64) 0x100\n"
    );
    h.offset.hpet_offset = 0;
    let dump = pretty_print(&mut h).unwrap();
    assert!(!dump.contains("hpet/offset"), "{dump}");
}

#[test]
fn readme_hpet_example_line() {
    #[derive(VmState, Clone, Debug, Default)]
    #[vmstate(name = "hpet_timer", version = 1)]
    struct T {
        tn: u8,
        cmp: u64,
        qemu_timer: Timer,
    }
    #[derive(VmState, Clone, Debug, Default)]
    #[vmstate(name = "hpet", version = 2)]
    struct H {
        num_timers: u8,
        #[vmstate(len = num_timers)]
        timer: Vec<T>,
    }
    let mut h = H {
        num_timers: 1,
        timer: vec![T {
            tn: 0,
            cmp: 5,
            qemu_timer: Timer::not_armed(),
        }],
    };
    assert_has_line(
        &pretty_print(&mut h).unwrap(),
        "hpet.timer(1)(17).[0].cmp = (uint64) 0x5",
    );
}

// ================================================================ lists, trees, tmp, versions

#[derive(VmState, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
#[vmstate(name = "interval", version = 1)]
struct Interval {
    low: u64,
    high: u64,
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "mapping", version = 1)]
struct Mapping {
    phys_addr: u64,
    flags: u32,
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "coll", version = 2)]
struct Collections {
    #[vmstate(qtailq)]
    q: Vec<Pair>,
    #[vmstate(qlist)]
    l: VecDeque<u16>,
    #[vmstate(gtree)]
    direct: BTreeMap<u64, Mapping>,
    #[vmstate(since = 2)]
    late: u8,
    #[vmstate(skip)]
    _local: u8,
}

#[test]
fn lists_and_direct_key_trees() {
    let mut c = Collections {
        q: vec![Pair(1, 2), Pair(3, 4)],
        l: VecDeque::from([0xbeef]),
        direct: BTreeMap::from([(
            0x10,
            Mapping {
                phys_addr: 0xa000,
                flags: 1,
            },
        )]),
        late: 9,
        _local: 1,
    };
    // List markers are framing, not state: only the elements show.
    assert_eq!(
        pretty_print(&mut c).unwrap(),
        "coll.q(2)(0).[0].0 = (uint8) 0x1\n\
         coll.q(2)(0).[0].1 = (int8) 0x2\n\
         coll.q(2)(0).[1].0 = (uint8) 0x3\n\
         coll.q(2)(0).[1].1 = (int8) 0x4\n\
         coll.l(1)(0).[0] = (uint16) 0xbeef\n\
         coll.direct = (uint32) 0x1\n\
         coll.direct(1)(0).[0] = (uint64) 0x10\n\
         coll.direct(1)(0).[0].phys_addr = (uint64) 0xa000\n\
         coll.direct(1)(0).[0].flags = (uint32) 0x1\n\
         coll.late = (uint8) 0x9\n"
    );
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "domain", version = 1)]
struct Domain {
    #[vmstate(gtree)]
    mappings: BTreeMap<Interval, Mapping>,
}

/// With struct keys, the key's and the value's fields are both inside the
/// node's element `.[i]`, as with direct keys: an element's structs are
/// named by the element, not by their own name.
#[test]
fn struct_key_trees_name_key_and_value_by_the_element() {
    let mut d = Domain {
        mappings: BTreeMap::from([(
            Interval {
                low: 0x1000,
                high: 0x1fff,
            },
            Mapping {
                phys_addr: 0xa000,
                flags: 1,
            },
        )]),
    };
    assert_eq!(
        pretty_print(&mut d).unwrap(),
        "domain.mappings = (uint32) 0x1\n\
         domain.mappings(1)(0).[0].low = (uint64) 0x1000\n\
         domain.mappings(1)(0).[0].high = (uint64) 0x1fff\n\
         domain.mappings(1)(0).[0].phys_addr = (uint64) 0xa000\n\
         domain.mappings(1)(0).[0].flags = (uint32) 0x1\n"
    );
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "nested", version = 3, minimum_version = 1)]
struct NestedV {
    a: u8,
    #[vmstate(since = 3)]
    b: u8,
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "outer", version = 1)]
struct Outer {
    #[vmstate(struct_version = 2)]
    pinned: NestedV,
    current: NestedV,
    #[vmstate(tmp = OuterTmp, name = "computed")]
    _computed: (),
    #[vmstate(skip)]
    hidden: u16,
}

#[derive(VmState, Default)]
#[vmstate(name = "outer/tmp", version = 1)]
struct OuterTmp {
    hidden_plus_one: u32,
}

impl vmstate_core::forms::TmpState<Outer> for OuterTmp {
    fn from_parent(p: &Outer) -> vmstate_core::Result<Self> {
        Ok(OuterTmp {
            hidden_plus_one: u32::from(p.hidden) + 1,
        })
    }
    fn into_parent(self, p: &mut Outer) -> vmstate_core::Result<()> {
        p.hidden = (self.hidden_plus_one - 1) as u16;
        Ok(())
    }
}

#[test]
fn pinned_versions_tmp_and_skip() {
    let mut o = Outer {
        pinned: NestedV { a: 1, b: 2 },
        current: NestedV { a: 3, b: 4 },
        _computed: (),
        hidden: 0x41,
    };
    assert_eq!(
        pretty_print(&mut o).unwrap(),
        // Nested structs are named by their description, as in QEMU's
        // visitor design (the pinned one is walked at version 2: no `b`).
        "outer.nested.a = (uint8) 0x1\n\
         outer.nested.a = (uint8) 0x3\n\
         outer.nested.b = (uint8) 0x4\n\
         outer.outer/tmp.hidden_plus_one = (uint32) 0x42\n"
    );
}

#[derive(VmState, Clone, Copy, Debug, Default)]
#[repr(u16)]
enum Speed {
    #[default]
    Slow = 1,
    Fast = 0x300,
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "enums", version = 1)]
struct Enums {
    speed: Speed,
    speeds: [Speed; 2],
}

#[test]
fn enums_print_as_their_repr() {
    let mut e = Enums {
        speed: Speed::Fast,
        speeds: [Speed::Slow, Speed::Fast],
    };
    assert_eq!(
        pretty_print(&mut e).unwrap(),
        "enums.speed = (uint16) 0x300\n\
         enums.speeds(2)(2).[0] = (uint16) 0x1\n\
         enums.speeds(2)(2).[1] = (uint16) 0x300\n"
    );
}

/// Two nested structs of one description, as the x86 CPU's `env.tr` and
/// `env.ldt` (both `segment`).
#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "segment", version = 1)]
struct Segment {
    base: u64,
    limit: u32,
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "cpu", version = 1)]
struct Cpu {
    tr: Segment,
    ldt: Segment,
    segs: [Segment; 2],
    #[vmstate(subsection)]
    extra: CpuExtra,
}

#[derive(VmState, Clone, Debug, Default)]
#[vmstate(name = "cpu/extra", version = 1, needed = CpuExtra::needed)]
struct CpuExtra {
    flags: [u8; 2],
}

impl CpuExtra {
    fn needed(&self) -> bool {
        true
    }
}

#[test]
fn default_style_paths_name_exactly_one_field() {
    let mut cpu = Cpu::default();
    cpu.ldt.base = 0x1000;
    let dump = vmstate_core::pretty_print(&mut cpu).unwrap();
    assert_eq!(
        lines(&dump),
        [
            "cpu.tr.base = (uint64) 0x0",
            "cpu.tr.limit = (uint32) 0x0",
            "cpu.ldt.base = (uint64) 0x1000",
            "cpu.ldt.limit = (uint32) 0x0",
            "cpu.segs[0].base = (uint64) 0x0",
            "cpu.segs[0].limit = (uint32) 0x0",
            "cpu.segs[1].base = (uint64) 0x0",
            "cpu.segs[1].limit = (uint32) 0x0",
            "cpu/extra.flags[0] = (uint8) 0x0",
            "cpu/extra.flags[1] = (uint8) 0x0",
        ]
    );
    let mut paths: Vec<&str> = dump
        .lines()
        .map(|l| l.split(" = ").next().unwrap())
        .collect();
    let n = paths.len();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), n, "a path names two fields:\n{dump}");
    // The trace style is the seed's: nested structs by their description.
    let trace = pretty_print(&mut cpu).unwrap();
    assert_has_line(&trace, "cpu.segment.base = (uint64) 0x1000");
}

#[test]
fn error_paths_and_dump_paths_agree() {
    let mut cpu = Cpu::default();
    let bytes = vmstate_core::save_to_vec(&mut cpu).unwrap();
    // Cut inside cpu.ldt.limit (bytes 20..24).
    let err = vmstate_core::load_new::<Cpu>(&bytes[..22], 1).unwrap_err();
    assert_eq!(err.path_string(), "cpu.ldt.limit");
    let dump = vmstate_core::pretty_print(&mut cpu).unwrap();
    assert_has_line(&dump, "cpu.ldt.limit = (uint32) 0x0");
    // Cut inside the subsection's second byte.
    let err = vmstate_core::load_new::<Cpu>(&bytes[..bytes.len() - 1], 1).unwrap_err();
    assert_eq!(err.path_string(), "cpu/extra.flags[1]");
}
