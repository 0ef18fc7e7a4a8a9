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
        let bytes = fixture(stream);
        let s = scan(&bytes).unwrap();
        let section = s.find(idstr, instance_id).unwrap();
        let mut dev = T::default();
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
    }

    #[test]
    fn piix3() {
        check::<piix3::Piix3>("x86-pc-min.mig", "0000:00:01.0/PIIX3", 0);
    }

    #[test]
    fn arm_devices() {
        check::<pl011::Pl011>("arm-virt-a57.mig", "pl011", 0);
        check::<pl031::Pl031>("arm-virt-a57.mig", "pl031", 0);
        check::<pl061::Pl061>("arm-virt-a57.mig", "pl061", 0);
    }
}
