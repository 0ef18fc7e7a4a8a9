//! The device models against real QEMU 10.0.2 streams (`tests/fixtures/`):
//! every modelled section is found by the scanner, loaded (every byte
//! consumed), checked against values from QEMU's `analyze-migration.py`
//! output (`*.state.json`), and saved back byte-identically.

use std::fmt::Debug;
use std::ops::Range;
use std::sync::LazyLock;

use vmstate_core::{ErrorKind, Timer, VmState};
use vmstate_tests::devices::apic::Apic;
use vmstate_tests::devices::arm_gic::{ArmGic, GIC_NCPU};
use vmstate_tests::devices::e1000::{E1000, reg};
use vmstate_tests::devices::fdc::{DriveContext, FDrive, IsaFdc};
use vmstate_tests::devices::fw_cfg::FwCfg;
use vmstate_tests::devices::hpet::{HPET_TIMER_RESET_CONFIG, Hpet};
use vmstate_tests::devices::i8254::I8254;
use vmstate_tests::devices::i8259::I8259;
use vmstate_tests::devices::ich9_lpc::Ich9Lpc;
use vmstate_tests::devices::kvmclock::KvmClock;
use vmstate_tests::devices::mc146818rtc::Mc146818Rtc;
use vmstate_tests::devices::pckbd::IsaKbd;
use vmstate_tests::devices::piix3::{PciIrqLevel, Piix3};
use vmstate_tests::devices::pl011::Pl011;
use vmstate_tests::devices::pl031::Pl031;
use vmstate_tests::devices::pl061::Pl061;
use vmstate_tests::devices::ps2::{Ps2Kbd, Ps2Mouse};
use vmstate_tests::devices::serial::{Fifo8, IsaSerial};
use vmstate_tests::devices::usb_ptr::UsbPtr;
use vmstate_tests::devices::x86_cpu::X86Cpu;
use vmstate_tests::scan::{self, Section, SectionKind, Stream};

struct Fixture {
    bytes: Vec<u8>,
    stream: Stream,
    state_json: String,
}

fn fixture(base: &str) -> Fixture {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/");
    let bytes = std::fs::read(format!("{dir}{base}.mig")).expect("fixture stream");
    let state_json =
        std::fs::read_to_string(format!("{dir}{base}.state.json")).expect("fixture state.json");
    let stream = scan::scan(&bytes).unwrap_or_else(|e| panic!("{base}: {e}"));
    Fixture {
        bytes,
        stream,
        state_json,
    }
}

static X86: LazyLock<Fixture> = LazyLock::new(|| fixture("x86-pc-min"));
static ARM: LazyLock<Fixture> = LazyLock::new(|| fixture("arm-virt-a57"));
/// `-M q35` with e1000, serial, isa-fdc, qemu-xhci + usb-tablet
/// (tests/fixtures/scenarios/forms.txt).
static Q35: LazyLock<Fixture> = LazyLock::new(|| stream_only("x86-q35-forms"));
/// `-M pc` under KVM (the shared scenario `x86-pc-kvm`): has `kvmclock`.
static KVM: LazyLock<Fixture> = LazyLock::new(|| stream_only("x86-pc-kvm"));

/// A fixture stream without an analyzer `state.json`.
fn stream_only(base: &str) -> Fixture {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/");
    let bytes = std::fs::read(format!("{dir}{base}.mig")).expect("fixture stream");
    let stream = scan::scan(&bytes).unwrap_or_else(|e| panic!("{base}: {e}"));
    Fixture {
        bytes,
        stream,
        state_json: String::new(),
    }
}

impl Fixture {
    fn section(&self, idstr: &str, instance_id: u32) -> &Section {
        self.stream
            .find(idstr, instance_id)
            .unwrap_or_else(|| panic!("no section {idstr} instance {instance_id}"))
    }

    fn body(&self, s: &Section) -> &[u8] {
        &self.bytes[s.body.clone()]
    }
}

/// Loads the section into `T::default()`, checks that saving gives the same
/// bytes, that every truncation fails except exactly at the start of a
/// subsection (which QEMU accepts too: a missing subsection is not an error),
/// and that a failed load changes nothing. Returns the loaded device.
fn check_section<T: VmState + Clone + Default + Debug + PartialEq>(
    fx: &Fixture,
    idstr: &str,
    instance_id: u32,
    expected_section_id: u32,
    expected_version: u32,
    subsection_starts: &[usize],
) -> T {
    check_section_cuts(
        fx,
        idstr,
        instance_id,
        expected_section_id,
        expected_version,
        subsection_starts,
        subsection_starts,
    )
}

/// [`check_section`] where the truncations that load are `accepted`: the
/// `subsection_starts`, and cuts QEMU's loader accepts as well for other
/// reasons (see the callers).
///
/// Sections longer than 8 KiB are cut at a deterministic sample (the first
/// and last 2 KiB, every 61st byte, and 8 bytes around every expected
/// cut): each cut is a whole load of a large device.
fn check_section_cuts<T: VmState + Clone + Default + Debug + PartialEq>(
    fx: &Fixture,
    idstr: &str,
    instance_id: u32,
    expected_section_id: u32,
    expected_version: u32,
    accepted_cuts: &[usize],
    subsection_starts: &[usize],
) -> T {
    let s = fx.section(idstr, instance_id);
    assert_eq!(s.kind, SectionKind::Full);
    assert_eq!(
        (s.section_id, s.version_id),
        (expected_section_id, expected_version)
    );
    assert_eq!(
        s.version_id,
        T::DESCRIPTION.version_id,
        "saved at the model's version"
    );
    let body = fx.body(s);

    let mut dev = T::default();
    vmstate_core::load_from_slice(&mut dev, body, s.version_id)
        .unwrap_or_else(|e| panic!("{idstr}: {e}"));
    let saved = vmstate_core::save_to_vec(&mut dev.clone()).unwrap();
    assert_eq!(saved, body, "{idstr}: re-save is not byte-identical");
    let again: T = vmstate_core::load_new(&saved, s.version_id).unwrap();
    assert_eq!(again, dev);

    let cuts: Vec<usize> = if body.len() <= 8192 {
        (0..body.len()).collect()
    } else {
        let mut cuts: Vec<usize> = (0..2048)
            .chain(body.len() - 2048..body.len())
            .chain((0..body.len()).step_by(61))
            .chain(
                accepted_cuts
                    .iter()
                    .flat_map(|&c| c.saturating_sub(8)..c + 8),
            )
            .filter(|&c| c < body.len())
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    };
    let default = T::default();
    let mut accepted = Vec::new();
    for cut in cuts {
        let mut dest = default.clone();
        match vmstate_core::load_from_slice(&mut dest, &body[..cut], s.version_id) {
            Ok(()) => accepted.push(cut),
            Err(_) => assert!(dest == default, "{idstr}: failed load changed state"),
        }
    }
    assert_eq!(
        accepted, accepted_cuts,
        "{idstr}: only cuts just before a subsection may load"
    );
    for &cut in subsection_starts {
        assert_eq!(body[cut], 0x05, "{idstr}: subsection marker at {cut}");
    }
    dev
}

/// The top-level keys of an analyzer `state.json` ("idstr (section_id)"),
/// read from its fixed 4-space layout without a JSON parser.
fn state_json_sections(json: &str) -> Vec<(String, u32)> {
    json.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("    \"")?;
            if rest.starts_with(' ') {
                return None;
            }
            let (key, _) = rest.split_once("\": ")?;
            let (idstr, sid) = key.rsplit_once(" (")?;
            let sid = sid.strip_suffix(')')?.parse().ok()?;
            Some((idstr.to_string(), sid))
        })
        .collect()
}

// ------------------------------------------------------------------ scanner

fn check_tiling(fx: &Fixture) {
    let st = &fx.stream;
    let mut spans: Vec<Range<usize>> = vec![st.header.clone(), st.configuration.clone()];
    for s in &st.sections {
        assert_eq!(s.header.end, s.body.start);
        assert_eq!(s.body.end, s.footer.start);
        assert_eq!(s.footer.len(), 5);
        spans.extend([s.header.clone(), s.body.clone(), s.footer.clone()]);
    }
    spans.extend(st.commands.iter().map(|c| c.range.clone()));
    spans.push(st.eof..st.eof + 1);
    spans.extend(st.vmdesc.clone());
    spans.sort_by_key(|r| (r.start, r.end));
    let mut at = 0;
    for r in &spans {
        assert_eq!(r.start, at, "gap or overlap at {at}: {r:?}");
        at = r.end;
    }
    assert_eq!(at, fx.bytes.len(), "spans must reach the end of the file");
    let json = &fx.bytes[st.vmdesc_json.clone().expect("vmdesc")];
    assert_eq!(json.first(), Some(&b'{'));
    assert_eq!(json.last(), Some(&b'}'));
}

fn check_against_state_json(fx: &Fixture) {
    // Distinct (idstr, section id) of START/FULL sections, in stream order.
    let scanned: Vec<(String, u32)> = fx
        .stream
        .sections
        .iter()
        .filter(|s| matches!(s.kind, SectionKind::Full | SectionKind::Start))
        .map(|s| (s.idstr.clone(), s.section_id))
        .collect();
    let mut scanned_sorted = scanned.clone();
    scanned_sorted.sort();
    let mut analyzer = state_json_sections(&fx.state_json);
    analyzer.sort();
    assert_eq!(scanned_sorted, analyzer);
}

#[test]
fn scanner_x86_finds_every_section_and_tiles_the_file() {
    let fx = &*X86;
    let st = &fx.stream;
    assert_eq!(st.machine, "pc-i440fx-10.0");
    assert_eq!(st.page_size, 4096);
    assert_eq!(fx.bytes.len(), 395_846);
    // 30 FULL device sections + ram START/PART/END.
    assert_eq!(st.sections.len(), 33);
    let kinds: Vec<SectionKind> = st.sections.iter().take(3).map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [SectionKind::Start, SectionKind::Part, SectionKind::End]
    );
    assert!(
        st.sections[..3]
            .iter()
            .all(|s| s.idstr == "ram" && s.section_id == 1)
    );
    // Body lengths from the research notes (cross-checked against vmdesc sizes).
    assert_eq!(st.sections[0].body, 44..192);
    assert_eq!(st.sections[1].body.len(), 283_835);
    assert_eq!(st.sections[2].body.len(), 8);
    assert_eq!(st.commands.len(), 1);
    assert_eq!(st.commands[0].cmd, 0x0b);
    assert_eq!(st.commands[0].range.start, 284_042);
    assert_eq!(st.eof, 296_922);
    assert_eq!(st.vmdesc, Some(296_923..395_846));
    let last = st.sections.last().unwrap();
    assert_eq!((last.idstr.as_str(), last.section_id), ("globalstate", 39));
    check_tiling(fx);
    check_against_state_json(fx);
}

#[test]
fn scanner_arm_finds_every_section_and_tiles_the_file() {
    let fx = &*ARM;
    let st = &fx.stream;
    assert_eq!(st.machine, "virt-10.0");
    assert_eq!(st.page_size, 4096);
    assert_eq!(st.configuration, 8..62);
    assert_eq!(st.sections.len(), 19);
    assert_eq!(st.sections[0].body, 79..243);
    assert_eq!(st.sections[1].body.len(), 393_624);
    assert_eq!(st.eof, 410_699);
    check_tiling(fx);
    check_against_state_json(fx);
}

#[test]
fn scanner_reports_errors_with_offsets_and_never_panics() {
    let bytes = &X86.bytes;
    let err = scan::scan(&bytes[..0]).unwrap_err();
    assert_eq!(err.offset, 0);
    let mut bad = bytes[..64].to_vec();
    bad[0] = b'X';
    let err = scan::scan(&bad).unwrap_err();
    assert!(err.to_string().contains("Not a migration stream"), "{err}");
    assert_eq!(err.offset, 0);

    // Cut just before and after every record boundary, and inside bodies.
    let st = &X86.stream;
    let mut cuts: Vec<usize> = Vec::new();
    for s in &st.sections {
        for p in [s.header.start, s.body.start, s.footer.start, s.footer.end] {
            cuts.extend([p.saturating_sub(1), p, p + 1]);
        }
    }
    // (A stream may end right after its EOF byte: the vmdesc is optional.)
    cuts.extend([8, 9, 20, st.eof, st.eof + 3, bytes.len() - 1]);
    for cut in cuts {
        let cut = cut.min(bytes.len() - 1);
        if cut == st.eof + 1 {
            continue;
        }
        let Err(err) = scan::scan(&bytes[..cut]) else {
            panic!("a stream truncated to {cut} bytes must not scan");
        };
        assert!(
            err.offset <= cut as u64,
            "offset {} beyond cut {cut}",
            err.offset
        );
    }
    // A wrong section type byte is reported at its offset.
    let mut bad = bytes.clone();
    let hpet = X86.section("hpet", 0).header.start;
    bad[hpet] = 0x42;
    let err = scan::scan(&bad).unwrap_err();
    assert!(err.offset <= hpet as u64 + 1, "{err}");
    // Corruption anywhere does not panic.
    for i in (0..bytes.len()).step_by(4099) {
        let mut bad = bytes.clone();
        bad[i] ^= 0xa5;
        let _ = scan::scan(&bad);
    }
    assert_eq!(scan::scan_sections(bytes).unwrap().len(), 33);
}

// ------------------------------------------------------------------ x86

#[test]
fn i8259_master_and_slave() {
    for (inst, sid) in [(0, 18), (1, 19)] {
        let dev: I8259 = check_section(&X86, "i8259", inst, sid, 1, &[]);
        // state.json "i8259 (18)"/"(19)": every register 0x00.
        assert_eq!(dev, I8259::default());
    }
}

#[test]
fn i8254() {
    let dev: I8254 = check_section(&X86, "i8254", 0, 22, 3, &[]);
    // state.json "i8254 (22)": channels[*].count 0x00010000, mode 0x03,
    // gates 1/1/0, channels[0].next_transition_time 0x0000000001a30c2c (twice).
    assert_eq!(dev.ch0_irq_disabled, 0);
    assert!(
        dev.channels
            .iter()
            .all(|c| c.count == 0x10000 && c.mode == 3)
    );
    let gates: Vec<u8> = dev.channels.iter().map(|c| c.gate).collect();
    assert_eq!(gates, [1, 1, 0]);
    assert_eq!(dev.channels[0].next_transition_time, 0x1a3_0c2c);
    assert_eq!(dev.ch0_next_transition_time, 0x1a3_0c2c);
    assert_eq!(dev.channels[1].next_transition_time, 0);
}

#[test]
fn mc146818rtc() {
    let dev: Mc146818Rtc = check_section(&X86, "mc146818rtc", 0, 13, 3, &[]);
    // state.json "mc146818rtc (13)": cmos_data[0x0a] 0x26, [0x0b] 0x02,
    // [0x0d] 0x80, [0x32] 0x20; periodic_timer ff..ff; base_rtc 0x65920080;
    // update_timer 00 00 00 00 3b 9a ca 00; next_alarm_time 0x00004e94914f0000.
    assert_eq!(
        (
            dev.cmos_data[0x0a],
            dev.cmos_data[0x0b],
            dev.cmos_data[0x0d],
            dev.cmos_data[0x32]
        ),
        (0x26, 0x02, 0x80, 0x20)
    );
    assert_eq!(dev.cmos_index, 0);
    assert_eq!(dev.periodic_timer, Timer::not_armed());
    assert_eq!(dev.base_rtc, 0x6592_0080);
    assert_eq!(dev.update_timer.expire_ns(), Some(1_000_000_000));
    assert_eq!(dev.next_alarm_time, 0x0000_4e94_914f_0000);
    assert_eq!(dev.irq_reinject_on_ack_count.irq_reinject_on_ack_count, 0);

    // The unused bytes are skipped on load whatever they hold, written as zeros.
    let body = X86.body(X86.section("mc146818rtc", 0));
    let mut garbage = body.to_vec();
    garbage[129..157].fill(0xee);
    garbage[173..197].fill(0xee);
    let mut loaded: Mc146818Rtc = vmstate_core::load_new(&garbage, 3).unwrap();
    assert_eq!(vmstate_core::save_to_vec(&mut loaded).unwrap(), body);
    // A version-1 stream stops before the `since = 2` fields.
    let v1: Mc146818Rtc = vmstate_core::load_new(&body[..197], 1).unwrap();
    assert_eq!(v1.base_rtc, 0);
}

#[test]
fn hpet() {
    let dev: Hpet = check_section(&X86, "hpet", 0, 21, 2, &[]);
    // state.json "hpet (21)": config/isr/hpet_counter 0, num_timers_save 0x03,
    // timer[i]: tn i, config 0x0000000400000030, cmp 0xffffffffffffffff,
    // qemu_timer ff..ff.
    assert_eq!((dev.config, dev.isr, dev.hpet_counter), (0, 0, 0));
    assert_eq!(dev.num_timers_save, 3);
    for (i, t) in dev.timer[..3].iter().enumerate() {
        assert_eq!(t.tn as usize, i);
        assert_eq!(t.config, HPET_TIMER_RESET_CONFIG);
        assert_eq!(t.cmp, u64::MAX);
        assert!(!t.qemu_timer.is_armed());
    }

    // VMSTATE_VALIDATE("num_timers must match"): a 4-timer stream is refused
    // by a 3-timer HPET before any timer is read.
    let body = X86.body(X86.section("hpet", 0));
    let mut four = body.to_vec();
    four[24] = 4;
    four.extend_from_slice(&body[25..25 + 42]);
    let mut dest = Hpet::default();
    let err = vmstate_core::load_from_slice(&mut dest, &four, 2).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Validation(_)), "{err}");
    assert_eq!(err.offset(), Some(25));
    // ... and accepted by a 4-timer HPET.
    let mut dest = Hpet {
        num_timers: 4,
        ..Hpet::default()
    };
    vmstate_core::load_from_slice(&mut dest, &four, 2).unwrap();
    assert_eq!(vmstate_core::save_to_vec(&mut dest).unwrap(), four);
    // Enabling the HPET adds the hpet/offset subsection.
    let mut on = dev.clone();
    on.config |= 1;
    on.offset.hpet_offset = 0x1234;
    let bytes = vmstate_core::save_to_vec(&mut on).unwrap();
    assert_eq!(&bytes[bytes.len() - 8 - 4 - 12..][..12], b"\x0bhpet/offset");
    let back: Hpet = vmstate_core::load_new(&bytes, 2).unwrap();
    assert_eq!(back.offset.hpet_offset, 0x1234);
}

#[test]
fn fw_cfg_x86() {
    // Subsections fw_cfg/dma at +6 and fw_cfg/acpi_mr at +30.
    let dev: FwCfg = check_section(&X86, "fw_cfg", 0, 10, 2, &[6, 30]);
    // state.json "fw_cfg (10)": cur_entry 0, cur_offset[1] 0, dma_addr 0,
    // acpi_mr table 0x20000, linker 0x1000, rsdp 0x14.
    assert_eq!((dev.cur_entry, dev.cur_offset), (0, 0));
    assert_eq!(dev.dma.dma_addr, 0);
    let m = &dev.acpi_mr;
    assert_eq!(
        (m.table_mr_size, m.linker_mr_size, m.rsdp_mr_size),
        (0x20000, 0x1000, 0x14)
    );
    // The fw_cfg/dma subsection is version 0 on the wire.
    let body = X86.body(X86.section("fw_cfg", 0));
    assert_eq!(&body[6..22], b"\x05\x0afw_cfg/dma\x00\x00\x00\x00");

    // Version 1 sent cur_offset as a be16 (VMSTATE_UINT16_HACK).
    let v1 = [0x00, 0x19, 0x12, 0x34];
    let loaded: FwCfg = vmstate_core::load_new(&v1, 1).unwrap();
    assert_eq!((loaded.cur_entry, loaded.cur_offset), (0x19, 0x1234));

    // Page-aligned ACPI sizes need no acpi_mr subsection; no DMA, no dma.
    let mut aligned = dev.clone();
    aligned.acpi_mr.rsdp_mr_size = 0x1000;
    aligned.dma_enabled = false;
    assert_eq!(vmstate_core::save_to_vec(&mut aligned).unwrap(), &body[..6]);
}

#[test]
fn piix3() {
    let dev: Piix3 = check_section(&X86, "0000:00:01.0/PIIX3", 0, 17, 3, &[]);
    // state.json "0000:00:01.0/PIIX3 (17)": dev.version_id 0x00000002,
    // config[0] starts "86 80 00 70" (Intel 82371SB), class bytes "01 06"
    // at 0x0a; irq_state and pci_irq_levels_vmstate all zero.
    assert_eq!(dev.dev.version_id, 2);
    assert_eq!(&dev.dev.config[..4], [0x86, 0x80, 0x00, 0x70]);
    assert_eq!(&dev.dev.config[0x0a..0x0c], [0x01, 0x06]);
    assert_eq!(dev.dev.config[0x60..0x64], [0x80; 4]);
    assert_eq!(dev.dev.irq_state.0, [PciIrqLevel::Low; 4]);
    assert_eq!(dev.pci_irq_levels_vmstate, [0; 4]);
    assert_eq!(dev.rcr.rcr, 0);

    let body = X86.body(X86.section("0000:00:01.0/PIIX3", 0));
    // `int32 le`: a PCIDevice version newer than ours (2) is refused.
    let mut newer = body.to_vec();
    newer[..4].copy_from_slice(&3i32.to_be_bytes());
    let mut dest = Piix3::default();
    let err = vmstate_core::load_from_slice(&mut dest, &newer, 3).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::NotLessOrEqual { loaded: 3, max: 2 }),
        "{err}"
    );
    assert_eq!(err.offset(), Some(0));
    assert_eq!(dest, Piix3::default());
    // ... and so is a negative one (`VMSTATE_INT32_POSITIVE_LE`).
    newer[..4].copy_from_slice(&(-1i32).to_be_bytes());
    let err = vmstate_core::load_from_slice(&mut dest, &newer, 3).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::NotLessOrEqual { .. }),
        "{err}"
    );
    // ... older ones are accepted and stored.
    let mut older = body.to_vec();
    older[..4].copy_from_slice(&1i32.to_be_bytes());
    vmstate_core::load_from_slice(&mut dest, &older, 3).unwrap();
    assert_eq!(dest.dev.version_id, 1);
    // `pci irq state` must be 0 or 1.
    let mut bad_irq = body.to_vec();
    bad_irq[263] = 2;
    let err = vmstate_core::load_new::<Piix3>(&bad_irq, 3).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidDiscriminant { value: 2, .. }),
        "{err}"
    );
    // A version-2 stream has no pci_irq_levels_vmstate.
    let v2: Piix3 = vmstate_core::load_new(&body[..276], 2).unwrap();
    assert_eq!(v2.dev, dev.dev);
}

#[test]
fn ps2kbd() {
    let dev: Ps2Kbd = check_section(&X86, "ps2kbd", 0, 25, 3, &[]);
    // state.json "ps2kbd (25)": write_cmd -1, queue empty, scan_enabled 1,
    // translate 0, scancode_set 2.
    assert_eq!(dev.parent_obj.write_cmd, -1);
    assert_eq!(
        (
            dev.parent_obj.rptr,
            dev.parent_obj.wptr,
            dev.parent_obj.count
        ),
        (0, 0, 0)
    );
    assert_eq!(
        (dev.scan_enabled, dev.translate, dev.scancode_set),
        (1, 0, 2)
    );
    assert_eq!(dev, Ps2Kbd::default());

    // The subsections, when their state is set, in QEMU's order.
    let mut busy = dev.clone();
    busy.ledstate.ledstate = 4;
    busy.need_high_bit.need_high_bit = true;
    busy.parent_obj.count = 2;
    busy.parent_obj.wptr = 2;
    busy.command_reply_queue.cwptr = 1;
    let bytes = vmstate_core::save_to_vec(&mut busy).unwrap();
    let tail = &bytes[284..];
    assert_eq!(&tail[..2], b"\x05\x0f");
    assert_eq!(&tail[2..17], b"ps2kbd/ledstate");
    assert_eq!(&tail[17..25], [0, 0, 0, 3, 0, 0, 0, 4]);
    assert_eq!(&tail[25..27], b"\x05\x14");
    assert_eq!(&tail[27..47], b"ps2kbd/need_high_bit");
    assert_eq!(&tail[47..52], [0, 0, 0, 1, 1]);
    assert_eq!(&tail[52..54], b"\x05\x1a");
    assert_eq!(&tail[54..80], b"ps2kbd/command_reply_queue");
    assert_eq!(&tail[80..], [0, 0, 0, 0, 0, 0, 0, 1]);
    let back: Ps2Kbd = vmstate_core::load_new(&bytes, 3).unwrap();
    assert_eq!(back, busy);
    // Version 2 streams have no scancode_set: post_load sets 2.
    let body = X86.body(X86.section("ps2kbd", 0));
    let mut dest = Ps2Kbd {
        scancode_set: 1,
        ..Ps2Kbd::default()
    };
    vmstate_core::load_from_slice(&mut dest, &body[..280], 2).unwrap();
    assert_eq!(dest.scancode_set, 2);
}

#[test]
fn ps2mouse() {
    let dev: Ps2Mouse = check_section(&X86, "ps2mouse", 0, 26, 2, &[]);
    // state.json "ps2mouse (26)": write_cmd -1, everything else 0.
    assert_eq!(dev.parent_obj.write_cmd, -1);
    assert_eq!(dev, Ps2Mouse::default());
    // The int32s sit at odd offsets: dx at 278.
    let mut moved = dev.clone();
    moved.mouse_dx = -2;
    let bytes = vmstate_core::save_to_vec(&mut moved).unwrap();
    assert_eq!(&bytes[278..282], [0xff, 0xff, 0xff, 0xfe]);
}

// ------------------------------------------------------------------ arm

#[test]
fn pl011() {
    // Subsection pl011/clock at +124.
    let dev: Pl011 = check_section(&ARM, "pl011", 0, 8, 2, &[124]);
    // state.json "pl011 (8)": flags 0x90, cr 0x300, ifl 0x12, read_trigger 1,
    // pl011/clock.clk.period 0.
    assert_eq!(
        (dev.flags, dev.cr, dev.ifl, dev.read_trigger),
        (0x90, 0x300, 0x12, 1)
    );
    assert_eq!(dev.clock.clk.period, 0);
    assert_eq!(dev, Pl011::default());

    // post_load refuses a read position outside the FIFO.
    let body = ARM.body(ARM.section("pl011", 0));
    let mut bad = body.to_vec();
    bad[112..116].copy_from_slice(&16i32.to_be_bytes());
    let err = vmstate_core::load_new::<Pl011>(&bad, 2).unwrap_err();
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
    // A clock with a multiplier carries the nested clock/muldiv subsection.
    let mut scaled = dev.clone();
    scaled.clock.clk.muldiv.multiplier = 2;
    let bytes = vmstate_core::save_to_vec(&mut scaled).unwrap();
    assert_eq!(bytes.len(), body.len() + 2 + 12 + 4 + 8);
    assert_eq!(&bytes[body.len() + 2..][..12], b"clock/muldiv");
    let back: Pl011 = vmstate_core::load_new(&bytes, 2).unwrap();
    assert_eq!(back.clock.clk.muldiv.multiplier, 2);
    // Without the subsection, the clock's pre_load resets the ratio to 1/1.
    let mut dest = scaled.clone();
    vmstate_core::load_from_slice(&mut dest, body, 2).unwrap();
    assert_eq!(dest.clock.clk.muldiv.multiplier, 1);
}

#[test]
fn pl031() {
    // Subsection pl031/tick-offset at +24.
    let dev: Pl031 = check_section(&ARM, "pl031", 0, 9, 1, &[24]);
    // state.json "pl031 (9)": tick_offset_vmstate 0x65920080,
    // pl031/tick-offset.tick_offset 0x65920080 (2024-01-01T00:00:00Z).
    assert_eq!(dev.tick_offset_vmstate, 0x6592_0080);
    assert_eq!(dev.tick_offset.tick_offset, 0x6592_0080);
    assert!(dev.tick_offset.migrated);
    // Without the subsection the tick offset comes from tick_offset_vmstate.
    let body = ARM.body(ARM.section("pl031", 0));
    let old: Pl031 = vmstate_core::load_new(&body[..24], 1).unwrap();
    assert_eq!(old.tick_offset.tick_offset, 0x6592_0080);
    assert!(!old.tick_offset.migrated);
}

#[test]
fn pl061() {
    let dev: Pl061 = check_section(&ARM, "pl061", 0, 13, 4, &[]);
    // state.json "pl061 (13)": locked 1, dr2r 0xff, cr 0xff, the rest 0.
    assert_eq!((dev.locked, dev.dr2r, dev.cr), (1, 0xff, 0xff));
    assert_eq!(
        dev,
        Pl061 {
            locked: 1,
            dr2r: 0xff,
            cr: 0xff,
            ..Pl061::default()
        }
    );
    // Version 3 streams are too old for QEMU 10.0's pl061.
    let body = ARM.body(ARM.section("pl061", 0));
    let err = vmstate_core::load_new::<Pl061>(body, 3).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::VersionTooOld { .. }),
        "{err}"
    );
}

#[test]
fn fw_cfg_arm() {
    let dev: FwCfg = check_section(&ARM, "fw_cfg", 0, 15, 2, &[6, 30]);
    // state.json "fw_cfg (15)": acpi_mr linker 0xc00, rsdp 0x24.
    assert_eq!(dev.acpi_mr.table_mr_size, 0x20000);
    assert_eq!(dev.acpi_mr.linker_mr_size, 0xc00);
    assert_eq!(dev.acpi_mr.rsdp_mr_size, 0x24);
}

/// The dump and error lines of the examples, from the real PIIX3
/// section: in the trace style a nested struct is named by its description
/// (`PCIDevice`); error paths and the default dump name the field (`dev`).
#[test]
fn piix3_pretty_lines_and_error_paths_name_the_pci_device() {
    let dev: Piix3 = check_section(&X86, "0000:00:01.0/PIIX3", 0, 17, 3, &[]);
    let dump =
        vmstate_core::pretty_print_with(&mut dev.clone(), vmstate_core::PathStyle::Trace).unwrap();
    for line in [
        "PIIX3.PCIDevice.config(256)(1).[255] = (uint8) 0x0",
        "PIIX3.PCIDevice.irq_state(4)(4).[0] = (uint32) 0x0",
        "PIIX3.PCIDevice.version_id = (int32 le) 0x2",
    ] {
        assert!(
            dump.lines().any(|l| l == line),
            "missing {line:?} in:\n{dump}"
        );
    }
    // Truncated in the last configuration byte.
    let body = vmstate_core::save_to_vec(&mut dev.clone()).unwrap();
    let err = vmstate_core::load_new::<Piix3>(&body[..4 + 255], 3).unwrap_err();
    // PCIDevice has two fields named `config` (PCI and PCIe, one present at
    // a time); QEMU's vmdesc names this one `config[0]`, and so do we.
    assert_eq!(err.path_string(), "PIIX3.dev.config[0][255]");
    let dump = vmstate_core::pretty_print(&mut dev.clone()).unwrap();
    assert!(
        dump.lines()
            .any(|l| l == "PIIX3.dev.config[0][255] = (uint8) 0x0")
    );
    assert_eq!(err.offset(), Some(259));
}

// ------------------------------------------------------------------ issue 8 devices

/// The device models of issue 8 on the stream made for them
/// (`x86-q35-forms`, QEMU 10.0.2 `-M q35`), section by section.
#[test]
fn scanner_q35_forms_stream() {
    let st = &Q35.stream;
    assert_eq!(st.machine, "pc-q35-10.0");
    check_tiling(&Q35);
    assert_eq!(Q35.bytes.len(), 593_327);
}

#[test]
fn serial_16550() {
    let dev: IsaSerial = check_section(&Q35, "serial", 0, 21, 3, &[]);
    // `vmstate dump` of the stream: divider 0xc, iir 0x1, mcr 0x8, lsr 0x60,
    // msr 0xb0, fcr_vmstate 0; no subsection (poll_msl -1 on `-serial null`).
    let s = &dev.state;
    assert_eq!(
        (s.divider, s.iir, s.mcr, s.lsr, s.msr, s.fcr_vmstate),
        (0x0c, 0x01, 0x08, 0x60, 0xb0, 0)
    );
    assert_eq!(dev, IsaSerial::default());
    assert_eq!(s.thr_ipending, 0, "post_load derives it from IIR");

    // A byte in the receive FIFO sends serial/recv_fifo: the Fifo8 with its
    // 16 bytes (the capacity both sides know), head and num.
    let mut busy = dev.clone();
    busy.state.recv_fifo.data[3] = b'x';
    busy.state.recv_fifo.head = 3;
    busy.state.recv_fifo.num = 1;
    let bytes = vmstate_core::save_to_vec(&mut busy).unwrap();
    let body = Q35.body(Q35.section("serial", 0));
    assert_eq!(&bytes[..body.len()], body);
    let sub = &bytes[body.len()..];
    assert_eq!(&sub[..18], b"\x05\x10serial/recv_fifo");
    assert_eq!(&sub[18..22], [0, 0, 0, 1]);
    assert_eq!(sub.len(), 22 + 16 + 4 + 4);
    assert_eq!(sub[22 + 3], b'x');
    let back: IsaSerial = vmstate_core::load_new(&bytes, 3).unwrap();
    assert_eq!(back.state.recv_fifo, busy.state.recv_fifo);
    // A destination whose FIFO is smaller reads fewer bytes and fails on
    // what follows, as QEMU would.
    let mut small = IsaSerial::default();
    small.state.recv_fifo = Fifo8::new(8);
    assert!(vmstate_core::load_from_slice(&mut small, &bytes, 3).is_err());
    // post_load refuses a transmitter that is both empty and retrying.
    let mut bad = dev.clone();
    bad.state.tsr_retry = 1;
    let bytes = vmstate_core::save_to_vec(&mut bad).unwrap();
    let err = vmstate_core::load_new::<IsaSerial>(&bytes, 3).unwrap_err();
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
}

#[test]
fn pckbd_i8042() {
    // pckbd/extended_state at +4 (of the nested `kbd`; nothing follows it).
    let dev: IsaKbd = check_section(&Q35, "pckbd", 0, 24, 3, &[4]);
    // `vmstate dump`: status 0x18, mode 0x3, the extended state all zero;
    // no pckbd_outport (the output port has its default value).
    assert_eq!((dev.kbd.status, dev.kbd.mode), (0x18, 0x03));
    assert!(dev.kbd.extended_state_loaded);
    assert_eq!(dev.kbd.outport, 0xcf);
    // An output port that differs from its default is sent, under a name
    // without a '/' (QEMU's prefix rule).
    let mut a20 = dev.clone();
    a20.kbd.outport = 0xcd;
    let bytes = vmstate_core::save_to_vec(&mut a20).unwrap();
    assert_eq!(&bytes[4..19], b"\x05\x0dpckbd_outport");
    let back: IsaKbd = vmstate_core::load_new(&bytes, 3).unwrap();
    assert_eq!(back.kbd.outport, 0xcd);
    // Without the extended state only the old pending bits are sent.
    let mut old = dev.clone();
    old.kbd.extended_state = false;
    old.kbd.pending = 0x10; // KBD_PENDING_KBD
    let bytes = vmstate_core::save_to_vec(&mut old).unwrap();
    assert_eq!(bytes, [0x00, 0x18, 0x03, 0x01]);
    let back: IsaKbd = vmstate_core::load_new(&bytes, 3).unwrap();
    assert_eq!(back.kbd.pending, 0x10);
}

#[test]
fn fdc_with_a_context_for_its_drives() {
    // A cut just before drive 1's fdrive/media_rate loads (a missing
    // subsection is no error). So does one 3 bytes into drive 0's: the
    // 17-byte name cannot be peeked, so QEMU's loader takes the record for
    // not a subsection, and its first 3 bytes for drive 1's fields, as here.
    let dev: IsaFdc = check_section_cuts(&Q35, "fdc", 0, 39, 2, &[545, 569], &[569]);
    // `vmstate dump`: sra 0x40, srb 0xc0, dor_vmstate 0xc, msr 0x80,
    // data_len 1, config 0x60, num_floppies 2, both drives with
    // fdrive/media_rate.
    let s = &dev.state;
    assert_eq!(
        (s.sra, s.srb, s.dor_vmstate, s.msr, s.data_len, s.config),
        (0x40, 0xc0, 0x0c, 0x80, 1, 0x60)
    );
    assert_eq!((s.dor, s.cur_drv), (0x0c, 0));
    assert_eq!(s.phase, s.reconstruct_phase());
    // Each drive's post_load saw the controller's configuration.
    for d in &s.drives {
        assert_eq!(d.loads, [true]);
    }
    // The same fifo of 512 bytes whatever the description says: its count
    // is the controller's `fifo_size`.
    assert_eq!(
        <vmstate_tests::devices::fdc::FdCtrl as VmState>::DESCRIPTION.fields[9].layout,
        vmstate_core::Layout::VarArray {
            count_field: "fifo_size",
            capacity: Some(512),
            element: &vmstate_core::Layout::Scalar(vmstate_core::WireType::Uint8)
        }
    );
    // A controller that does not check the media rate sends no
    // fdrive/media_rate: 2 × 24 bytes fewer, and the drives' subsections
    // are decided by their parent's state.
    let body = Q35.body(Q35.section("fdc", 0));
    let mut no_check = dev.clone();
    no_check.state.check_media_rate = false;
    let bytes = vmstate_core::save_to_vec(&mut no_check).unwrap();
    assert_eq!(bytes.len(), body.len() - 2 * 24);
    let mut dest = IsaFdc::default();
    dest.state.check_media_rate = false;
    vmstate_core::load_from_slice(&mut dest, &bytes, 2).unwrap();
    assert_eq!(dest.state.drives[1].loads, [false]);
    // A drive walked alone gets its context explicitly.
    let mut drive = FDrive::default();
    let cx = DriveContext {
        check_media_rate: true,
    };
    let mut out = Vec::new();
    let mut v = vmstate_core::OutputVisitor::new(&mut out);
    vmstate_core::visit_struct(
        &mut vmstate_core::InContext::new(&mut drive, &cx),
        &mut v,
        "fdrive",
    )
    .unwrap();
    assert_eq!(
        out,
        b"\x00\x00\x00\x05\x11fdrive/media_rate\x00\x00\x00\x01\x00"
    );
    // A destination with a smaller FIFO reads fewer bytes: the stream no
    // longer parses as this section.
    let mut small = IsaFdc::default();
    small.state.fifo_size = 16;
    assert!(vmstate_core::load_from_slice(&mut small, body, 2).is_err());
}

#[test]
fn apic() {
    let dev: Apic = check_section(&Q35, "apic", 0, 6, 3, &[]);
    // `vmstate dump`: apicbase 0xfee00900, spurious_vec 0xff, dest_mode
    // 0xf, lvt[*] 0x10000 (masked), timer_expiry -1.
    assert_eq!(dev, Apic::default());
    let mut sipi = dev.clone();
    sipi.wait_for_sipi = 1;
    sipi.sipi_vector = 0x9f;
    let bytes = vmstate_core::save_to_vec(&mut sipi).unwrap();
    let body = Q35.body(Q35.section("apic", 0));
    assert_eq!(&bytes[body.len()..][..11], b"\x05\x09apic_sipi");
    let back: Apic = vmstate_core::load_new(&bytes, 3).unwrap();
    assert_eq!((back.sipi_vector, back.wait_for_sipi), (0x9f, 1));
    // Without the subsection, pre_load leaves no SIPI awaited.
    let mut dest = sipi.clone();
    vmstate_core::load_from_slice(&mut dest, body, 3).unwrap();
    assert_eq!(dest.wait_for_sipi, 0);
}

#[test]
fn e1000_mac_registers_as_views() {
    // Subsections e1000/mit_state, e1000/full_mac_state and
    // e1000/tx_tso_state follow the fields.
    let body_len = Q35.body(Q35.section("0000:00:01.0/e1000", 0)).len();
    let main = body_len - (2 + 15 + 4 + 17) - (2 + 20 + 4 + 0x8000 * 4) - (2 + 18 + 4 + 17);
    let full = main + 2 + 15 + 4 + 17;
    let tso = full + 2 + 20 + 4 + 0x8000 * 4;
    let dev: E1000 = check_section(&Q35, "0000:00:01.0/e1000", 0, 38, 2, &[main, full, tso]);
    // `vmstate dump`: rxbuf_min_shift 1, eeprom_data[0..3] the MAC
    // address 52:54:00:12:34:01, eeprom_data[11] 0x100e (82540EM).
    assert_eq!(dev.rxbuf_min_shift, 1);
    assert_eq!(&dev.eeprom_data[..3], [0x5452, 0x1200, 0x0134]);
    assert_eq!(dev.eeprom_data[11], 0x100e);
    assert!(dev.received_tx_tso);

    // Every register the main section sends alone equals the same register
    // in the full copy QEMU sends in e1000/full_mac_state: the indices of
    // the views are QEMU's.
    let body = Q35.body(Q35.section("0000:00:01.0/e1000", 0));
    let singles_at = main - (37 + 32 + 128 + 128) * 4;
    let full_regs = &body[full + 2 + 20 + 4..tso];
    let be32 = |b: &[u8], i: usize| u32::from_be_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
    let mut nonzero = 0;
    for (k, &r) in reg::SINGLE.iter().enumerate() {
        let sent = be32(&body[singles_at..], k);
        assert_eq!(sent, be32(full_regs, r), "register {k} at index {r:#x}");
        nonzero += usize::from(sent != 0);
    }
    assert_eq!(nonzero, 6, "nonzero registers compared");
    for (k, r) in [reg::RDTR, reg::RADV, reg::TADV, reg::ITR]
        .into_iter()
        .enumerate()
    {
        assert_eq!(be32(&body[main + 2 + 15 + 4..], k), be32(full_regs, r));
    }
    assert_eq!(dev.mac_reg[reg::STATUS], be32(full_regs, reg::STATUS));
    assert_eq!(dev.mac_reg[reg::RA + 1] >> 31, 1, "RAH0 address valid");

    // Without the compat flags, the subsections go (as older machines).
    let mut old = dev.clone();
    (old.flag_mit, old.flag_mac, old.flag_tso) = (false, false, false);
    let bytes = vmstate_core::save_to_vec(&mut old).unwrap();
    assert_eq!(bytes, &body[..main]);
    let mut dest = E1000::default();
    dest.flag_mit = false;
    vmstate_core::load_from_slice(&mut dest, &bytes, 2).unwrap();
    assert_eq!(dest.mac_reg[reg::ITR], 0, "post_load clears mitigation");
    assert_eq!(dest.tso_props(), dest.props, "no tx_tso_state: duplicated");
}

#[test]
fn usb_tablet() {
    let dev: UsbPtr = check_section(&Q35, "0000:00:02.0/1/usb-ptr", 0, 41, 1, &[]);
    // `vmstate dump`: dev.state 1 (attached), everything else zero.
    assert_eq!(dev.dev.state, 1);
    assert!(dev.dev.attached);
    // USBDevice's post_load refuses a control transfer past its buffer.
    let body = Q35.body(Q35.section("0000:00:02.0/1/usb-ptr", 0));
    let mut bad = body.to_vec();
    bad[13..17].copy_from_slice(&4096i32.to_be_bytes()); // setup_len
    let err = vmstate_core::load_new::<UsbPtr>(&bad, 1).unwrap_err();
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
    assert_eq!(err.path_string(), "usb-ptr.dev");
}

#[test]
fn ich9_lpc_with_ich9_pm() {
    // Subsections of ich9_pm (memhp at +2, tco, pcihp) are inside `pm`,
    // followed by chip_config: a cut there does not load.
    let dev: Ich9Lpc = check_section(&Q35, "0000:00:1f.0/ICH9LPC", 0, 14, 1, &[]);
    // `vmstate dump`: pm1.evt.sts 0x1, tco.cnt2 0x8, tco.tmr 0x4,
    // sw_irq_gen 0x3, tco expire_time -1; no cpuhp (legacy CPU hotplug).
    assert_eq!(dev.pm.pm1_evt_sts, 1);
    assert_eq!(
        (
            dev.pm.tco_regs.cnt2,
            dev.pm.tco_regs.tmr,
            dev.pm.tco_regs.sw_irq_gen
        ),
        (8, 4, 3)
    );
    assert_eq!(dev.pm.tco_regs.expire_time, -1);
    assert_eq!(dev.d.version_id, 2);
    // A machine with CPU hotplug slots sends `dev_count` CPU entries, a
    // count that is not on the wire.
    let mut modern = dev.clone();
    modern.pm.cpu_hotplug_legacy = false;
    modern.pm.cpuhp_state.dev_count = 2;
    modern.pm.cpuhp_state.devs = vec![Default::default(); 2];
    modern.pm.cpuhp_state.devs[1].ost_event = 7;
    let bytes = vmstate_core::save_to_vec(&mut modern).unwrap();
    let body = Q35.body(Q35.section("0000:00:1f.0/ICH9LPC", 0));
    assert_eq!(bytes.len(), body.len() + 2 + 13 + 4 + 4 + 1 + 2 * 10);
    let mut dest = Ich9Lpc::default();
    dest.pm.cpu_hotplug_legacy = false;
    dest.pm.cpuhp_state.dev_count = 2;
    vmstate_core::load_from_slice(&mut dest, &bytes, 1).unwrap();
    assert_eq!(dest.pm.cpuhp_state.devs[1].ost_event, 7);
}

/// The x86 CPU of `-M pc`, `-M q35` (TCG) and `-M pc` under KVM: the
/// fields (1817 bytes), then `cpu/poll_control_msr` (TCG) or
/// `cpu/tsc_khz` (KVM). Every x86 stream's `cpu` section, the hand-written
/// code and the vmdesc are checked in `tests/x86_cpu.rs`.
#[test]
fn x86_cpu() {
    let tcg: X86Cpu = check_section(&X86, "cpu", 0, 4, 12, &[1817]);
    assert_eq!((tcg.eip, tcg.poll_control_msr, tcg.tsc_khz), (0xfff0, 0, 0));
    let q35: X86Cpu = check_section(&Q35, "cpu", 0, 4, 12, &[1817]);
    assert_eq!(q35.segs, tcg.segs);
    let kvm: X86Cpu = check_section(&KVM, "cpu", 0, 4, 12, &[1817]);
    assert_eq!(kvm.poll_control_msr, 1, "KVM's reset value: not sent");
    assert_ne!(kvm.tsc_khz, 0);
}

#[test]
fn kvmclock() {
    // kvmclock/clock_is_reliable at +8.
    let dev: KvmClock = check_section(&KVM, "kvmclock", 0, 7, 1, &[8]);
    // `vmstate dump`: clock 0x6e4b67b, clock_is_reliable 1.
    assert_eq!(dev.clock, 0x6e4_b67b);
    assert!(dev.clock_is_reliable);
    // From an older source without the subsection, pre_load leaves the
    // clock unreliable.
    let body = KVM.body(KVM.section("kvmclock", 0));
    let mut dest = dev.clone();
    vmstate_core::load_from_slice(&mut dest, &body[..8], 1).unwrap();
    assert!(!dest.clock_is_reliable);
}

#[test]
fn arm_gic_v2() {
    let dev: ArmGic = check_section(&ARM, "arm_gic", 0, 7, 12, &[]);
    // `vmstate dump`: irq_state[0..16] (the SGIs) enabled 0xff and edge
    // triggered, irq_target 1 (one CPU), running_priority[0] 0x100,
    // current_pending[0] 0x3ff (none), abpr[0] 1.
    assert_eq!(dev.irq_state[0].enabled, 0xff);
    assert!(dev.irq_state[15].edge_trigger && !dev.irq_state[16].edge_trigger);
    assert!(dev.irq_target.iter().all(|&t| t == 1));
    assert_eq!(dev.running_priority[0], 0x100);
    assert_eq!(dev.current_pending[0], 0x3ff);
    assert_eq!((dev.bpr[0], dev.abpr[0]), (0, 1));
    // The virtual CPU halves are not sent without the extensions.
    assert_eq!(dev.running_priority[GIC_NCPU], 0);
    // With them, arm_gic_virt_state sends the second halves.
    let mut virt = dev.clone();
    virt.virt_extn = true;
    virt.cpu_ctlr[GIC_NCPU] = 0xabcd;
    virt.bpr[GIC_NCPU + 7] = 0x42;
    let bytes = vmstate_core::save_to_vec(&mut virt).unwrap();
    let body = ARM.body(ARM.section("arm_gic", 0));
    let sub = &bytes[body.len()..];
    assert_eq!(&sub[..20], b"\x05\x12arm_gic_virt_state");
    let vcpu_ctlr = 24 + (8 + 8 + 512 + 8) * 4;
    assert_eq!(&sub[vcpu_ctlr..vcpu_ctlr + 4], 0xabcdu32.to_be_bytes());
    assert_eq!(sub.len(), vcpu_ctlr + 8 * 4 + 3 * 8 * 2 + 2 * 8);
    assert_eq!(sub[sub.len() - 9], 0x42);
    let mut back = ArmGic::default();
    back.virt_extn = true;
    vmstate_core::load_from_slice(&mut back, &bytes, 12).unwrap();
    assert_eq!(back, virt);
}
