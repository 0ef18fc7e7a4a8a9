//! The device models against real QEMU 10.0.2 streams (`tests/fixtures/`):
//! every modelled section is found by the scanner, loaded (every byte
//! consumed), checked against values from QEMU's `analyze-migration.py`
//! output (`*.state.json`), and saved back byte-identically.

use std::fmt::Debug;
use std::ops::Range;
use std::sync::LazyLock;

use vmstate_core::{ErrorKind, Timer, VmState};
use vmstate_tests::devices::fw_cfg::FwCfg;
use vmstate_tests::devices::hpet::{HPET_TIMER_RESET_CONFIG, Hpet};
use vmstate_tests::devices::i8254::I8254;
use vmstate_tests::devices::i8259::I8259;
use vmstate_tests::devices::mc146818rtc::Mc146818Rtc;
use vmstate_tests::devices::piix3::{PciIrqLevel, Piix3};
use vmstate_tests::devices::pl011::Pl011;
use vmstate_tests::devices::pl031::Pl031;
use vmstate_tests::devices::pl061::Pl061;
use vmstate_tests::devices::ps2::{Ps2Kbd, Ps2Mouse};
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

    let mut accepted = Vec::new();
    for cut in 0..body.len() {
        let mut dest = T::default();
        match vmstate_core::load_from_slice(&mut dest, &body[..cut], s.version_id) {
            Ok(()) => accepted.push(cut),
            Err(_) => assert_eq!(dest, T::default(), "{idstr}: failed load changed state"),
        }
    }
    assert_eq!(
        accepted, subsection_starts,
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
