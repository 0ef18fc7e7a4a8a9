//! The vmdesc JSON written while saving: QEMU's exact text.

use vmstate_core::VmState;
use vmstate_core::vmdesc::save_with_vmdesc;

#[derive(VmState, Clone, Default)]
#[vmstate(name = "segment", version = 1)]
struct Segment {
    selector: u32,
    base: u64,
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "cpu", version = 3)]
struct Cpu {
    segs: [Segment; 3],
    regs: [u64; 2],
    #[vmstate(exists = Cpu::always)]
    flags: u32,
    #[vmstate(name = "flags", exists = Cpu::always)]
    flags2: u32,
    #[vmstate(subsection)]
    extra: CpuExtra,
}

impl Cpu {
    fn always(&self, _: u32) -> bool {
        true
    }
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "cpu/extra", version = 1)]
struct CpuExtra {
    extra: u8,
}

#[test]
fn struct_arrays_dedup_and_subsections() {
    let mut cpu = Cpu::default();
    let mut bytes = Vec::new();
    let json = save_with_vmdesc(&mut cpu, &mut bytes).unwrap();
    assert_eq!(
        json,
        r#""vmsd_name": "cpu", "version": 3, "fields": [{"name": "segs", "array_len": 3, "type": "struct", "struct": {"vmsd_name": "segment", "version": 1, "fields": [{"name": "selector", "type": "uint32", "size": 4}, {"name": "base", "type": "uint64", "size": 8}]}, "size": 12}, {"name": "regs", "array_len": 2, "type": "uint64", "size": 8}, {"name": "flags[0]", "type": "uint32", "size": 4}, {"name": "flags[1]", "type": "uint32", "size": 4}], "subsections": [{"vmsd_name": "cpu/extra", "version": 1, "fields": [{"name": "extra", "type": "uint8", "size": 1}]}]"#
    );
    assert_eq!(bytes, vmstate_core::save_to_vec(&mut cpu).unwrap());
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "grid", version = 1)]
struct Grid {
    cells: [[u8; 3]; 2],
    #[vmstate(exists = Grid::yes)]
    marks: [u16; 2],
    n: u8,
    #[vmstate(len = n)]
    items: Vec<Segment>,
    #[vmstate(unused = 4)]
    _pad: (),
    #[vmstate(buffer)]
    raw: [u8; 5],
}

impl Grid {
    fn yes(&self, _: u32) -> bool {
        true
    }
}

#[test]
fn two_d_arrays_uncompressible_arrays_varrays() {
    let mut g = Grid {
        n: 0,
        ..Grid::default()
    };
    let json = save_with_vmdesc(&mut g, Vec::new()).unwrap();
    // QEMU writes "index" while more than one element is left: not on the
    // last element of an uncompressed array (as in QEMU 10.0.2's fdc
    // "drives" entries).
    assert_eq!(
        json,
        r#""vmsd_name": "grid", "version": 1, "fields": [{"name": "cells", "array_len": 6, "type": "uint8", "size": 1}, {"name": "marks", "index": 0, "type": "uint16", "size": 2}, {"name": "marks", "type": "uint16", "size": 2}, {"name": "n", "type": "uint8", "size": 1}, {"name": "unused", "type": "unused_buffer", "size": 4}, {"name": "raw", "type": "buffer", "size": 5}]"#
    );
    let mut g = Grid {
        n: 1,
        items: vec![Segment::default()],
        ..Grid::default()
    };
    let json = save_with_vmdesc(&mut g, Vec::new()).unwrap();
    assert!(
        json.contains(r#"{"name": "items", "type": "struct", "struct": {"vmsd_name": "segment""#),
        "{json}"
    );
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "ptrs", version = 1)]
struct Pointers {
    ar: [Option<u32>; 4],
}

/// Bug 2 of issue 8. QEMU 10.0's save loop describes an array of pointers
/// (`VMS_ARRAY_OF_POINTER`) in runs: where the elements change between NULL
/// and non-NULL (`is_prev_null`, false before the first element) a new entry
/// starts whose `max_elems` is the run's length; a NULL is QEMU's fake
/// `nullptr` field (1 byte, always compressible). Elsewhere `max_elems` is
/// what is left of the array. (The real s390 `css` entry below shows the
/// rule on a stream QEMU wrote.)
#[test]
fn pointer_arrays_are_described_in_runs() {
    let mut p = Pointers {
        ar: [None, Some(2), Some(3), None],
    };
    let mut bytes = Vec::new();
    let json = save_with_vmdesc(&mut p, &mut bytes).unwrap();
    assert_eq!(bytes, [0x30, 0, 0, 0, 2, 0, 0, 0, 3, 0x30]);
    assert_eq!(
        json,
        r#""vmsd_name": "ptrs", "version": 1, "fields": [{"name": "ar", "type": "nullptr", "size": 1}, {"name": "ar", "array_len": 2, "type": "uint32", "size": 4}, {"name": "ar", "type": "nullptr", "size": 1}]"#
    );

    // A first run of elements is not a change (`is_prev_null` starts false):
    // QEMU gives it the rest of the array as its length.
    let mut p = Pointers {
        ar: [Some(0), None, Some(2), Some(3)],
    };
    let json = save_with_vmdesc(&mut p, Vec::new()).unwrap();
    assert_eq!(
        json,
        r#""vmsd_name": "ptrs", "version": 1, "fields": [{"name": "ar", "array_len": 4, "type": "uint32", "size": 4}, {"name": "ar", "type": "nullptr", "size": 1}, {"name": "ar", "array_len": 2, "type": "uint32", "size": 4}]"#
    );

    let mut p = Pointers { ar: [None; 4] };
    let json = save_with_vmdesc(&mut p, Vec::new()).unwrap();
    assert_eq!(
        json,
        r#""vmsd_name": "ptrs", "version": 1, "fields": [{"name": "ar", "array_len": 4, "type": "nullptr", "size": 1}]"#
    );
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "node", version = 1)]
struct Node {
    #[vmstate(exists = Node::yes)]
    v: u8,
}

impl Node {
    fn yes(&self, _: u32) -> bool {
        true
    }
}

#[derive(VmState, Clone, Default)]
#[vmstate(name = "nodes", version = 1)]
struct Nodes {
    ar: [Option<Node>; 3],
    one: Option<u16>,
    none: Option<u16>,
}

/// Elements that cannot be compressed get `"index"` while more than one is
/// left, but QEMU's `nullptr` stand-in always compresses and is described
/// at every NULL (the array itself never turns its description off).
#[test]
fn uncompressible_pointer_arrays_and_lone_pointers() {
    let mut n = Nodes {
        ar: [None, None, Some(Node { v: 7 })],
        one: Some(5),
        none: None,
    };
    let mut bytes = Vec::new();
    let json = save_with_vmdesc(&mut n, &mut bytes).unwrap();
    assert_eq!(bytes, [0x30, 0x30, 7, 0, 5, 0x30]);
    assert_eq!(
        json,
        r#""vmsd_name": "nodes", "version": 1, "fields": [{"name": "ar", "array_len": 2, "type": "nullptr", "size": 1}, {"name": "ar", "array_len": 2, "type": "nullptr", "size": 1}, {"name": "ar", "type": "struct", "struct": {"vmsd_name": "node", "version": 1, "fields": [{"name": "v", "type": "uint8", "size": 1}]}, "size": 1}, {"name": "one", "type": "uint16", "size": 2}, {"name": "none", "type": "nullptr", "size": 1}]"#
    );

    let mut n = Nodes {
        ar: [Some(Node { v: 1 }), Some(Node { v: 2 }), None],
        ..Nodes::default()
    };
    let json = save_with_vmdesc(&mut n, Vec::new()).unwrap();
    assert!(
        json.starts_with(
            r#""vmsd_name": "nodes", "version": 1, "fields": [{"name": "ar", "index": 0, "type": "struct", "struct": {"vmsd_name": "node", "version": 1, "fields": [{"name": "v", "type": "uint8", "size": 1}]}, "size": 1}, {"name": "ar", "index": 1, "type": "struct", "struct": {"vmsd_name": "node", "version": 1, "fields": [{"name": "v", "type": "uint8", "size": 1}]}, "size": 1}, {"name": "ar", "type": "nullptr", "size": 1}, "#
        ),
        "{json}"
    );
}

mod real_streams {
    //! Our vmdesc for the real device models equals, to the byte, the device
    //! entries QEMU 10.0.2 wrote into the fixture streams.

    use vmstate_core::VmState;
    use vmstate_core::vmdesc::save_with_vmdesc;
    use vmstate_tests::devices::*;
    use vmstate_tests::scan::scan;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Loads the section into a `T`, saves it with vmdesc, and finds QEMU's
    /// device entry for it in the stream's vmdesc.
    fn check<T: VmState + Clone + Default>(stream: &str, idstr: &str, instance_id: u32) {
        check_dev(stream, idstr, instance_id, T::default());
    }

    /// [`check`] with the destination `dev`; returns our vmdesc keys.
    fn check_dev<T: VmState + Clone>(
        stream: &str,
        idstr: &str,
        instance_id: u32,
        mut dev: T,
    ) -> String {
        let bytes = fixture(stream);
        let s = scan(&bytes).unwrap();
        let section = s.find(idstr, instance_id).unwrap();
        vmstate_core::load_from_slice(&mut dev, &bytes[section.body.clone()], section.version_id)
            .unwrap();
        let mut out = Vec::new();
        let content = save_with_vmdesc(&mut dev, &mut out).unwrap();
        assert_eq!(out, &bytes[section.body.clone()], "{idstr}: bytes");
        let vmdesc = std::str::from_utf8(&bytes[s.vmdesc_json.clone().unwrap()]).unwrap();
        let ours = format!("{{\"name\": \"{idstr}\", \"instance_id\": {instance_id}, {content}}}");
        let theirs_start = vmdesc
            .find(&format!(
                "{{\"name\": \"{idstr}\", \"instance_id\": {instance_id}, "
            ))
            .unwrap();
        let theirs = &vmdesc[theirs_start..(theirs_start + ours.len()).min(vmdesc.len())];
        assert_eq!(ours, theirs, "{idstr}: vmdesc");
        content
    }

    /// Bug 1 of issue 8: an uncompressible array (`drives`, whose `fdrive`
    /// has subsections) gets `"index"` on every element but the last, as in
    /// the fdc entry QEMU 10.0.2 wrote into x86-pc-min.
    #[test]
    fn fdc_drives_index_not_on_last() {
        let bytes = fixture("x86-pc-min.mig");
        let s = scan(&bytes).unwrap();
        let section = s.find("fdc", 0).unwrap();
        // The model of tests/src/devices/fdc.rs: its drives' media_rate
        // subsection depends on the controller's `check_media_rate`, passed
        // to them as their context.
        let mut dev = fdc::IsaFdc::default();
        vmstate_core::load_from_slice(&mut dev, &bytes[section.body.clone()], section.version_id)
            .unwrap();
        let mut out = Vec::new();
        let content = save_with_vmdesc(&mut dev, &mut out).unwrap();
        assert_eq!(out, &bytes[section.body.clone()], "fdc: bytes");
        assert!(
            content.contains(r#"{"name": "drives", "index": 0, "type": "struct""#),
            "{content}"
        );
        assert!(
            content.contains(r#"{"name": "drives", "type": "struct""#),
            "{content}"
        );
        let vmdesc = std::str::from_utf8(&bytes[s.vmdesc_json.clone().unwrap()]).unwrap();
        let ours = format!("{{\"name\": \"fdc\", \"instance_id\": 0, {content}}}");
        assert!(vmdesc.contains(&ours), "fdc: vmdesc\n{ours}");
    }

    /// The s390 channel subsystem (`hw/s390x/css.c`, `vmstate_css`, QEMU
    /// 10.0): `css` is an array of 256 pointers of which only the default
    /// image 0xfe is allocated.
    mod css {
        use vmstate_core::VmState;

        #[derive(VmState, Clone, Debug, Default)]
        #[vmstate(name = "s390_crw", version = 1, minimum_version = 1)]
        pub struct Crw {
            pub flags: u16,
            pub rsid: u16,
        }

        #[derive(VmState, Clone, Debug, Default)]
        #[vmstate(name = "s390_crw_container", version = 1, minimum_version = 1)]
        pub struct CrwContainer {
            pub crw: Crw,
        }

        #[derive(VmState, Clone, Copy, Debug, Default)]
        #[vmstate(name = "s390_chp_info", version = 1, minimum_version = 1)]
        pub struct ChpInfo {
            pub in_use: u8,
            #[vmstate(name = "type")]
            pub ty: u8,
            pub is_virtual: u8,
        }

        #[derive(VmState, Clone, Debug)]
        #[vmstate(name = "s390_css_img", version = 1, minimum_version = 1)]
        pub struct CssImage {
            pub chpids: [ChpInfo; 256],
        }

        impl Default for CssImage {
            fn default() -> Self {
                CssImage {
                    chpids: [ChpInfo::default(); 256],
                }
            }
        }

        #[derive(VmState, Clone, Debug)]
        #[vmstate(name = "s390_css", version = 1, minimum_version = 1)]
        pub struct ChannelSubSys {
            #[vmstate(qtailq, since = 1)]
            pub pending_crws: Vec<CrwContainer>,
            pub sei_pending: bool,
            pub do_crw_mchk: bool,
            pub crws_lost: bool,
            pub max_cssid: u8,
            pub max_ssid: u8,
            pub chnmon_active: bool,
            pub chnmon_area: u64,
            pub css: [Option<Box<CssImage>>; 256],
            pub default_cssid: u8,
        }

        impl Default for ChannelSubSys {
            /// The channel subsystem of `s390-ccw-virtio`: only the default
            /// image, 0xfe, exists.
            fn default() -> Self {
                ChannelSubSys {
                    pending_crws: Vec::new(),
                    sei_pending: false,
                    do_crw_mchk: true,
                    crws_lost: false,
                    max_cssid: 0,
                    max_ssid: 0,
                    chnmon_active: false,
                    chnmon_area: 0,
                    css: std::array::from_fn(|i| (i == 0xfe).then(Box::default)),
                    default_cssid: 0xfe,
                }
            }
        }
    }

    /// Bug 2 of issue 8 on a stream QEMU 10.0.2 wrote: 254 NULLs (one
    /// compressed `nullptr` entry), the image, one more NULL.
    #[test]
    fn s390_css_pointer_runs() {
        check::<css::ChannelSubSys>("s390x-ccw.mig", "s390_css", 0);
    }

    /// The channel subsystem with a device on cssid 0 (`virtio-rng-ccw,
    /// devno=0.0.0005`): images 0 and 0xfe. QEMU describes the first run
    /// (image 0) with `"array_len": 256`, the whole array: a first run of
    /// non-NULL elements is no change from `is_prev_null` = false.
    #[test]
    fn s390_css_first_run_spans_the_array() {
        // The stream's own vmdesc cannot split this section (its first `css`
        // entry claims 256 images), so the section is found by its header
        // and ended by the model: a FULL section, `s390_css`, instance 0,
        // version 1, then the body, then the footer.
        let bytes = fixture("vmdesc-quirks/s390x-ccw-css0.mig");
        let header = b"\x08s390_css\x00\x00\x00\x00\x00\x00\x00\x01";
        let at = bytes
            .windows(header.len())
            .position(|w| w == header)
            .unwrap();
        assert_eq!(bytes[at - 5], 0x04, "a FULL section");
        let section_id = &bytes[at - 4..at];
        let body_start = at + header.len();
        let mut dev = css::ChannelSubSys::default();
        dev.css[0] = Some(Box::default());
        let mut reader = qemufile::SliceReader::new(&bytes[body_start..]);
        vmstate_core::load(&mut dev, &mut reader, 1).unwrap();
        let rest = reader.remaining();
        assert_eq!(rest[0], 0x7e, "the footer follows the body");
        assert_eq!(&rest[1..5], section_id);
        let body = &bytes[body_start..bytes.len() - rest.len()];

        let mut out = Vec::new();
        let content = save_with_vmdesc(&mut dev, &mut out).unwrap();
        assert_eq!(out, body, "s390_css: bytes");
        assert!(
            content.contains(r#"{"name": "css", "array_len": 256, "type": "struct""#),
            "{content}"
        );
        assert!(
            content.contains(r#"{"name": "css", "array_len": 253, "type": "nullptr", "size": 1}"#),
            "{content}"
        );
        // The vmdesc JSON is at the end of what follows the section.
        let tail = String::from_utf8_lossy(rest);
        let ours = format!("{{\"name\": \"s390_css\", \"instance_id\": 0, {content}}}");
        assert!(tail.contains(&ours), "s390_css: vmdesc\n{ours}");
    }

    /// QEMU's vmdesc entries of a stream, as text, and our entries of `T`.
    fn entries<T: VmState>(stream: &str, dev: &mut T) -> (String, String) {
        let bytes = fixture(stream);
        let s = scan(&bytes).unwrap();
        let vmdesc = std::str::from_utf8(&bytes[s.vmdesc_json.clone().unwrap()])
            .unwrap()
            .to_owned();
        let ours = save_with_vmdesc(dev, Vec::new()).unwrap();
        let start = ours.find("\"fields\": [").unwrap() + "\"fields\": [".len();
        let fields = ours[start..ours.len() - 1].to_owned();
        (vmdesc, fields)
    }

    /// Three sub-arrays of e1000's `mac_reg` (`VMSTATE_UINT32_SUB_ARRAY` of
    /// RA, MTA, VFTA), one wire name repeated.
    #[derive(VmState, Clone)]
    #[vmstate(name = "e1000", version = 2)]
    struct MacRegViews {
        #[vmstate(name = "mac_reg")]
        ra: [u32; 32],
        #[vmstate(name = "mac_reg")]
        mta: [u32; 128],
        #[vmstate(name = "mac_reg")]
        vfta: [u32; 128],
    }

    #[derive(VmState, Clone, Copy, Default)]
    #[vmstate(name = "xmm_reg", version = 1)]
    struct XmmReg {
        #[vmstate(name = "_q_ZMMReg[0]")]
        q0: u64,
        #[vmstate(name = "_q_ZMMReg[1]")]
        q1: u64,
    }

    #[derive(VmState, Clone, Copy, Default)]
    #[vmstate(name = "ymmh_reg", version = 1)]
    struct YmmhReg {
        #[vmstate(name = "_q_ZMMReg[2]")]
        q2: u64,
        #[vmstate(name = "_q_ZMMReg[3]")]
        q3: u64,
    }

    /// The x86 CPU sends `env.xmm_regs` twice: the low halves in version 11
    /// and the YMM high halves in version 12.
    #[derive(VmState, Clone, Default)]
    #[vmstate(name = "cpu", version = 12)]
    struct XmmViews {
        #[vmstate(name = "env.xmm_regs", since = 11)]
        xmm: [XmmReg; 16],
        #[vmstate(name = "env.xmm_regs", since = 12)]
        ymmh: [YmmhReg; 16],
    }

    /// Item 4 of issue 8: repeated wire names are numbered as in the e1000
    /// and cpu entries QEMU 10.0.2 wrote.
    #[test]
    fn repeated_names_numbered_as_qemu() {
        let mut regs = MacRegViews {
            ra: [0; 32],
            mta: [0; 128],
            vfta: [0; 128],
        };
        let (vmdesc, ours) = entries("x86-pc-5nics.mig", &mut regs);
        assert!(
            ours.starts_with(r#"{"name": "mac_reg[0]", "array_len": 32, "type": "uint32""#),
            "{ours}"
        );
        assert!(vmdesc.contains(&ours), "{ours}");

        let mut cpu = XmmViews::default();
        let (vmdesc, ours) = entries("x86-pc-min.mig", &mut cpu);
        let (xmm, ymmh) = ours.split_at(ours.find(r#", {"name": "env.xmm_regs[1]""#).unwrap());
        assert!(
            vmdesc.contains(&format!("{xmm}, {{\"name\": \"env.efer\"")),
            "{xmm}"
        );
        assert!(vmdesc.contains(&ymmh[2..]), "{ymmh}");
    }

    #[test]
    fn x86_devices() {
        check::<i8259::I8259>("x86-pc-min.mig", "i8259", 0);
        check::<i8259::I8259>("x86-pc-min.mig", "i8259", 1);
        check::<i8254::I8254>("x86-pc-min.mig", "i8254", 0);
        check::<mc146818rtc::Mc146818Rtc>("x86-pc-min.mig", "mc146818rtc", 0);
        check::<hpet::Hpet>("x86-pc-min.mig", "hpet", 0);
        check::<fw_cfg::FwCfg>("x86-pc-min.mig", "fw_cfg", 0);
        check::<ps2::Ps2Kbd>("x86-pc-min.mig", "ps2kbd", 0);
        check::<ps2::Ps2Mouse>("x86-pc-min.mig", "ps2mouse", 0);
        check::<x86_cpu::X86Cpu>("x86-pc-min.mig", "cpu", 0);
        check::<x86_cpu::X86Cpu>("x86-q35-forms.mig", "cpu", 0);
        check::<x86_cpu::X86Cpu>("x86-pc-kvm.mig", "cpu", 0);
    }

    #[test]
    fn piix3() {
        check::<piix3::Piix3>("x86-pc-min.mig", "0000:00:01.0/PIIX3", 0);
    }

    /// The models of issue 8: the vmdesc we write equals, to the byte,
    /// QEMU's entry in the stream made for them (views named as QEMU's
    /// stringify names them, inline subsections, counts that are not
    /// migrated, a context).
    #[test]
    fn issue8_devices() {
        let q35 = "x86-q35-forms.mig";
        check::<serial::IsaSerial>(q35, "serial", 0);
        check::<pckbd::IsaKbd>(q35, "pckbd", 0);
        check::<fdc::IsaFdc>(q35, "fdc", 0);
        check::<apic::Apic>(q35, "apic", 0);
        let e1000 = check_dev(q35, "0000:00:01.0/e1000", 0, e1000::E1000::default());
        assert!(e1000.contains(r#"{"name": "mac_reg[RDT]", "type": "uint32", "size": 4}"#));
        assert!(e1000.contains(r#"{"name": "mac_reg[2]", "array_len": 128"#));
        check::<usb_ptr::UsbPtr>(q35, "0000:00:02.0/1/usb-ptr", 0);
        // The memory hotplug slots: `dev_count` 0 (no DIMM slots), no entry.
        check::<ich9_lpc::Ich9Lpc>(q35, "0000:00:1f.0/ICH9LPC", 0);
        check::<kvmclock::KvmClock>("x86-pc-kvm.mig", "kvmclock", 0);
        check::<arm_gic::ArmGic>("arm-virt-a57.mig", "arm_gic", 0);
    }

    #[test]
    fn arm_devices() {
        check::<pl011::Pl011>("arm-virt-a57.mig", "pl011", 0);
        check::<pl031::Pl031>("arm-virt-a57.mig", "pl031", 0);
        check::<pl061::Pl061>("arm-virt-a57.mig", "pl061", 0);
    }
}
