//! The hand-written save and load of every device model
//! (`vmstate_tests::hand`) against the derive, on real states from the
//! fixture streams and on variants that send the subsections the real
//! states do not (and configured destinations that refuse them):
//!
//! * `hand_save` writes the bytes `vmstate_core::save` writes;
//! * `hand_load` gives the value `vmstate_core::load_from_slice` gives, into
//!   the same destination, and both accept or refuse the same inputs: every
//!   truncation (only cuts just before a subsection load, in both), the
//!   bytes with one more byte (refused), each subsection's name made wrong
//!   (refused), an unknown subsection appended (refused), and the bytes
//!   with single bytes corrupted (all positions of small states, a sample
//!   of large ones: both refuse or both load the same value).

#[path = "support/device_samples.rs"]
mod samples;

use samples::{Model, reals};
use vmstate_core::Timer;
use vmstate_tests::devices::apic::Apic;
use vmstate_tests::devices::arm_gic::{ArmGic, GIC_NCPU};
use vmstate_tests::devices::e1000::{E1000, TxProps, reg};
use vmstate_tests::devices::fdc::{IsaFdc, phase};
use vmstate_tests::devices::fw_cfg::FwCfg;
use vmstate_tests::devices::hpet::{HPET_CFG_ENABLE, Hpet};
use vmstate_tests::devices::i8254::I8254;
use vmstate_tests::devices::i8259::I8259;
use vmstate_tests::devices::ich9_lpc::Ich9Lpc;
use vmstate_tests::devices::kvmclock::KvmClock;
use vmstate_tests::devices::mc146818rtc::Mc146818Rtc;
use vmstate_tests::devices::pckbd::IsaKbd;
use vmstate_tests::devices::piix3::{PciIrqLevel, Piix3};
use vmstate_tests::devices::pl011::{ClockMulDiv, Pl011};
use vmstate_tests::devices::pl031::Pl031;
use vmstate_tests::devices::pl061::Pl061;
use vmstate_tests::devices::ps2::{Ps2Kbd, Ps2Mouse};
use vmstate_tests::devices::serial::IsaSerial;
use vmstate_tests::devices::usb_ptr::{HidKind, UsbPtr};
use vmstate_tests::devices::x86_cpu::X86Cpu;

/// Loads `bytes` both ways into a copy of `dest`; asserts that both agree
/// (both refuse, or both load equal values) and returns the value.
fn agree<T: Model>(what: &str, bytes: &[u8], dest: &T) -> Option<T> {
    let version = T::DESCRIPTION.version_id;
    let mut derived = dest.clone();
    let derive = vmstate_core::load_from_slice(&mut derived, bytes, version);
    let hand = T::hand_load(bytes, dest);
    match (derive, hand) {
        (Ok(()), Some(hand)) => {
            assert!(
                hand == derived,
                "{what}: hand_load and the derive load differ"
            );
            Some(hand)
        }
        (Err(_), None) => {
            assert!(
                derived == *dest,
                "{what}: a failed derive load changed the destination"
            );
            None
        }
        (Ok(()), None) => panic!("{what}: the derive loads, hand_load refuses"),
        (Err(e), Some(_)) => panic!("{what}: hand_load loads, the derive refuses: {e}"),
    }
}

/// The positions where single bytes are corrupted: all of a small state;
/// of a large one its first and last 256 bytes, every 1009th byte and the
/// 48 bytes from every subsection header on (found by the parent's name).
fn corrupt_positions<T: Model>(bytes: &[u8]) -> Vec<usize> {
    if bytes.len() <= 2048 {
        return (0..bytes.len()).collect();
    }
    let parent = T::DESCRIPTION.name.as_bytes();
    let mut at: Vec<usize> = (0..256)
        .chain(bytes.len() - 256..bytes.len())
        .chain((0..bytes.len()).step_by(1009))
        .collect();
    for i in 0..bytes.len() - 2 - parent.len() {
        if bytes[i] == 0x05 && bytes[i + 2..].starts_with(parent) {
            at.extend(i..(i + 48).min(bytes.len()));
        }
    }
    at.sort_unstable();
    at.dedup();
    at
}

/// The truncations tried: all of a small state, a sample of a large one
/// (its first and last 1 KiB, every 509th cut, 8 cuts around every 0x05).
fn cuts(bytes: &[u8]) -> Vec<usize> {
    if bytes.len() <= 8192 {
        return (0..bytes.len()).collect();
    }
    let mut c: Vec<usize> = (0..1024)
        .chain(bytes.len() - 1024..bytes.len())
        .chain((0..bytes.len()).step_by(509))
        .collect();
    for (i, &b) in bytes.iter().enumerate() {
        if b == 0x05 {
            c.extend(i.saturating_sub(4)..(i + 4).min(bytes.len()));
        }
    }
    c.sort_unstable();
    c.dedup();
    c
}

/// The whole comparison for `value` saved and loaded into `dest`, which
/// must accept it.
fn check<T: Model>(what: &str, value: &T, dest: &T) {
    compare(what, value, dest, true);
}

/// The whole comparison for `value` saved and loaded into `dest`; if
/// `must_load`, the destination must accept the bytes (else it is enough
/// that both sides agree).
fn compare<T: Model>(what: &str, value: &T, dest: &T, must_load: bool) {
    let derive = vmstate_core::save_to_vec(&mut value.clone())
        .unwrap_or_else(|e| panic!("{what}: derive save: {e}"));
    let mut hand = Vec::new();
    value.hand_save(&mut hand);
    if hand != derive {
        let at = hand.iter().zip(&derive).position(|(a, b)| a != b);
        panic!(
            "{what}: hand_save differs from the derive ({} vs {} bytes, first difference at {at:?})",
            hand.len(),
            derive.len()
        );
    }
    let bytes = derive;
    let loads = agree(what, &bytes, dest).is_some();
    assert!(loads || !must_load, "{what}: the saved state does not load");

    // Truncations: both refuse, except just before a subsection.
    for cut in cuts(&bytes) {
        let loaded = agree(&format!("{what}, cut at {cut}"), &bytes[..cut], dest);
        if loaded.is_some() && loads {
            // QEMU accepts a missing subsection; `fdc` also accepts a cut 3
            // bytes into a drive's subsection header whose name cannot be
            // peeked (taken for the next drive's fields, see real_devices.rs).
            assert!(
                bytes[cut] == 0x05 || bytes.get(cut.wrapping_sub(3)) == Some(&0x05),
                "{what}: a cut at {cut} loads"
            );
        }
    }
    // Bytes after the state.
    for extra in [0x00, 0x05, 0xff] {
        let mut long = bytes.clone();
        long.push(extra);
        assert!(
            agree(&format!("{what}, + {extra:#x}"), &long, dest).is_none(),
            "{what}: a trailing byte is accepted"
        );
    }
    // An unknown subsection of the device.
    let mut unknown = bytes.clone();
    vmstate_tests::hand::put_subsection(
        &mut unknown,
        &format!("{}/unknown", T::DESCRIPTION.name),
        1,
    );
    assert!(agree(&format!("{what}, unknown subsection"), &unknown, dest).is_none());
    // Each top-level subsection sent, with its name's last letter changed.
    for sub in T::DESCRIPTION.subsections {
        let mut header = vec![0x05, sub.name.len() as u8];
        header.extend_from_slice(sub.name.as_bytes());
        let Some(at) = bytes.windows(header.len()).position(|w| w == header) else {
            continue;
        };
        let mut wrong = bytes.clone();
        wrong[at + header.len() - 1] ^= 0x20;
        assert!(
            agree(&format!("{what}, {} misnamed", sub.name), &wrong, dest).is_none(),
            "{what}: a misnamed {} is accepted",
            sub.name
        );
    }
    // Single corrupted bytes.
    let mut bad = bytes.clone();
    for at in corrupt_positions::<T>(&bytes) {
        let good = bad[at];
        for b in [good ^ 0x01, good ^ 0x80, 0x05] {
            if b != good {
                bad[at] = b;
                agree(&format!("{what}, byte {at} = {b:#x}"), &bad, dest);
            }
        }
        bad[at] = good;
    }
}

/// `value` into `dest` is refused by both.
fn refused<T: Model>(what: &str, value: &T, dest: &T) {
    let bytes = vmstate_core::save_to_vec(&mut value.clone()).unwrap();
    assert!(agree(what, &bytes, dest).is_none(), "{what}: accepted");
}

/// The real states into the default destination, `variant` of each into
/// a copy of itself (which must load), into the default and into the real
/// state, the real state into the variant (subsections the variant sends
/// are absent: the destination keeps its values where the model says so).
/// The last three need not load (a variant may configure the device
/// differently, or hold state that `post_load` refuses with other bytes):
/// both sides must agree.
fn with_variant<T: Model>(model: &str, variant: impl Fn(&T) -> T) -> Vec<T> {
    let reals = reals::<T>(model);
    for (i, real) in reals.iter().enumerate() {
        check(&format!("{model}[{i}]"), real, &T::default());
        let v = variant(real);
        assert!(v != *real, "{model}: the variant changes nothing");
        check(&format!("{model}[{i}] variant"), &v, &v);
        compare(
            &format!("{model}[{i}] variant into default"),
            &v,
            &T::default(),
            false,
        );
        compare(&format!("{model}[{i}] variant into real"), &v, real, false);
        compare(&format!("{model}[{i}] into variant"), real, &v, false);
    }
    reals
}

#[test]
fn i8259() {
    with_variant::<I8259>("i8259", |r| {
        let mut v = r.clone();
        v.ltim.ltim = 1;
        v.irr = 0x5a;
        v
    });
}

#[test]
fn i8254() {
    with_variant::<I8254>("i8254", |r| {
        let mut v = r.clone();
        v.channels[0].irq_disabled = 1;
        v.channels[0].next_transition_time = 0x1234_5678;
        v.channels[2].irq_disabled = 7;
        v.channels[1].count = -3;
        v
    });
}

#[test]
fn mc146818rtc() {
    with_variant::<Mc146818Rtc>("mc146818rtc", |r| {
        let mut v = r.clone();
        v.irq_reinject_on_ack_count.irq_reinject_on_ack_count = 3;
        v.periodic_timer = Timer::from_raw(1_000_000);
        v
    });
}

#[test]
fn hpet() {
    let reals = with_variant::<Hpet>("hpet", |r| {
        let mut v = r.clone();
        v.rtc_irq_level.rtc_irq_level = 1;
        v.config ^= HPET_CFG_ENABLE;
        v.offset.hpet_offset = 0xdead_beef;
        v
    });
    for r in &reals {
        let mut v = r.clone();
        v.hpet_offset_saved = false;
        v.config |= HPET_CFG_ENABLE;
        check("hpet without offset", &v, r);
        let mut four = r.clone();
        four.num_timers = 4;
        check("hpet, 4 timers", &four, &four);
        refused("hpet, 4 timers into 3", &four, r);
        refused("hpet, 3 timers into 4", r, &four);
    }
}

#[test]
fn fw_cfg() {
    let reals = with_variant::<FwCfg>("fw_cfg", |r| {
        let mut v = r.clone();
        v.dma_enabled = false;
        v.acpi_mr_restore = false;
        v.cur_offset = 17;
        v
    });
    for r in &reals {
        let mut aligned = r.clone();
        aligned.acpi_mr.table_mr_size = 3 * 4096;
        aligned.acpi_mr.linker_mr_size = 4096;
        aligned.acpi_mr.rsdp_mr_size = 0;
        check("fw_cfg, page-aligned blobs", &aligned, r);
    }
}

#[test]
fn piix3() {
    let reals = with_variant::<Piix3>("piix3", |r| {
        let mut v = r.clone();
        v.rcr.rcr = 4;
        v.dev.irq_state.0[2] = PciIrqLevel::High;
        v.pci_irq_levels_vmstate[1] = 1;
        v
    });
    for r in &reals {
        let mut old = r.clone();
        old.dev.version_id = 1;
        refused(
            "piix3, PCIDevice version_id above the destination's",
            r,
            &old,
        );
    }
}

#[test]
fn ps2kbd() {
    with_variant::<Ps2Kbd>("ps2kbd", |r| {
        let mut v = r.clone();
        v.ledstate.ledstate = 2;
        v.need_high_bit.need_high_bit = true;
        v.parent_obj.rptr = 250;
        v.parent_obj.count = 30;
        v.command_reply_queue.cwptr = 3;
        v
    });
}

#[test]
fn ps2mouse() {
    with_variant::<Ps2Mouse>("ps2mouse", |r| {
        let mut v = r.clone();
        v.parent_obj.count = 40;
        v.parent_obj.rptr = 300;
        v.mouse_dx = -5;
        v
    });
}

#[test]
fn pl011() {
    let reals = with_variant::<Pl011>("pl011", |r| {
        let mut v = r.clone();
        v.clock.clk.muldiv = ClockMulDiv {
            multiplier: 2,
            divider: 3,
        };
        v.read_pos = 3;
        v.read_count = 1;
        v.read_fifo[3] = 0x41;
        v.ibrd = 0x12345;
        v
    });
    for r in &reals {
        let mut no_clk = r.clone();
        no_clk.migrate_clk = false;
        check("pl011 without clock", &no_clk, r);
        let mut bad = r.clone();
        bad.read_pos = 16;
        refused("pl011, read_pos past the FIFO", &bad, r);
    }
}

#[test]
fn pl031() {
    with_variant::<Pl031>("pl031", |r| {
        let mut v = r.clone();
        v.migrate_tick_offset = false;
        v.tick_offset.tick_offset = 99;
        v.tick_offset_vmstate = 1234;
        v
    });
}

#[test]
fn pl061() {
    with_variant::<Pl061>("pl061", |r| {
        let mut v = r.clone();
        v.data = 0xa5;
        v.amsel = 3;
        v
    });
}

#[test]
fn serial() {
    let reals = with_variant::<IsaSerial>("serial", |r| {
        let mut v = r.clone();
        let s = &mut v.state;
        s.ier = 0x02;
        s.thr_ipending = 0;
        s.iir = 0x02;
        s.tsr_retry = 2;
        s.lsr = 0x20;
        s.recv_fifo.data[3] = b'x';
        s.recv_fifo.head = 3;
        s.recv_fifo.num = 1;
        s.xmit_fifo.num = 2;
        s.fifo_timeout_timer = Timer::from_raw(777);
        s.timeout_ipending = 1;
        s.poll_msl = 1;
        s.modem_status_poll = Timer::from_raw(5);
        s.fcr = 0xc7;
        v
    });
    for r in &reals {
        let mut bad = r.clone();
        bad.state.tsr_retry = 1;
        refused("serial, empty and retrying", &bad, r);
        let mut busy = r.clone();
        busy.state.recv_fifo.num = 1;
        let mut small = r.clone();
        small.state.recv_fifo = vmstate_tests::devices::serial::Fifo8::new(8);
        refused("serial, into a smaller FIFO", &busy, &small);
    }
}

#[test]
fn pckbd() {
    let reals = with_variant::<IsaKbd>("pckbd", |r| {
        let mut v = r.clone();
        v.kbd.outport = 0xcd;
        v.kbd.throttle_timer_pending = true;
        v.kbd.obsrc = 2;
        v
    });
    for r in &reals {
        let mut old = r.clone();
        old.kbd.extended_state = false;
        old.kbd.pending = 0x10 | 0x20 | 0x04;
        check("pckbd without extended state", &old, r);
    }
}

#[test]
fn fdc() {
    let reals = with_variant::<IsaFdc>("fdc", |r| {
        let mut v = r.clone();
        let s = &mut v.state;
        s.check_media_rate = false;
        s.reset_sensei = 2;
        s.result_timer = Timer::from_raw(4242);
        s.phase = phase::EXECUTION;
        s.drives[0].has_blk = true;
        s.drives[0].media_changed.media_changed = 0;
        s.drives[1].perpendicular.perpendicular = 1;
        s.cur_drv = 1;
        v
    });
    for r in &reals {
        let mut one = r.clone();
        one.state.num_floppies = 1;
        refused("fdc, num_floppies not equal", r, &one);
        let mut small = r.clone();
        small.state.fifo_size = 16;
        refused("fdc, smaller FIFO", r, &small);
        let mut huge = r.clone();
        huge.state.fifo_size = 513;
        refused("fdc, FIFO count past the array", r, &huge);
    }
}

#[test]
fn apic() {
    with_variant::<Apic>("apic", |r| {
        let mut v = r.clone();
        v.wait_for_sipi = 1;
        v.sipi_vector = 0x9f;
        v.irr[7] = 0x8000_0000;
        v
    });
}

#[test]
fn kvmclock() {
    with_variant::<KvmClock>("kvmclock", |r| {
        let mut v = r.clone();
        v.mach_use_reliable_get_clock = false;
        v.clock = 5;
        v
    });
}

#[test]
fn arm_gic() {
    with_variant::<ArmGic>("arm_gic", |r| {
        let mut v = r.clone();
        v.virt_extn = true;
        v.cpu_ctlr[GIC_NCPU] = 0xabcd;
        v.bpr[GIC_NCPU + 7] = 0x42;
        v.h_lr[63][7] = 0x1234_5678;
        v.irq_state[1019].model = true;
        v.priority1[31][7] = 0xf0;
        v
    });
}

#[test]
fn usb_ptr() {
    let reals = with_variant::<UsbPtr>("usb_ptr", |r| {
        let mut v = r.clone();
        v.hid.kind = HidKind::Mouse;
        v.hid.n = 16;
        v.hid.head = 5;
        v.hid.queue[5].xdx = 9;
        v.hid.queue[5].dz = -1;
        v
    });
    for r in &reals {
        let mut bad = r.clone();
        bad.dev.setup_len = 4096;
        refused("usb_ptr, control transfer past the buffer", &bad, r);
    }
}

#[test]
fn e1000() {
    let reals = with_variant::<E1000>("e1000", |r| {
        let mut v = r.clone();
        (v.flag_mit, v.flag_mac, v.flag_tso) = (false, false, false);
        v.mac_reg[reg::ITR] = 0x55;
        v.mac_reg[0x7fff] = 0x66;
        v.mig_mss = 1460;
        v
    });
    for r in &reals {
        let mut tso = r.clone();
        tso.props = TxProps {
            ipcss: 14,
            mss: 1448,
            ip: 1,
            tcp: 1,
            ..TxProps::default()
        };
        tso.tso_paylen = 9000;
        tso.mac_reg[reg::RADV] = 8;
        check("e1000 with TSO props", &tso, r);
        let mut no_mit = r.clone();
        no_mit.flag_mit = false;
        check("e1000 into a destination without mitigation", r, &no_mit);
    }
}

#[test]
fn ich9_lpc() {
    with_variant::<Ich9Lpc>("ich9_lpc", |r| {
        let mut v = r.clone();
        v.pm.cpu_hotplug_legacy = false;
        v.pm.cpuhp_state.dev_count = 2;
        v.pm.cpuhp_state.devs = vec![Default::default(); 2];
        v.pm.cpuhp_state.devs[1].ost_event = 7;
        v.pm.acpi_memory_hotplug.dev_count = 2;
        v.pm.acpi_memory_hotplug.devs = vec![Default::default(); 2];
        v.pm.acpi_memory_hotplug.devs[0].is_enabled = true;
        v.rst_cnt = 4;
        v.smi_features_ok = 1;
        v.smi_negotiated_features = 3;
        v
    });
}

#[test]
fn x86_cpu() {
    with_variant::<X86Cpu>("x86_cpu", |r| {
        let mut v = r.clone();
        // Two KVM MSR subsections the TCG fixture does not send.
        v.async_pf_en_msr = 0x1234_5001;
        v.pv_eoi_en_msr = 0x5678_0001;
        v.regs[0] ^= 0x55;
        v
    });
}

/// Every model of `tests/src/devices` has a test above.
#[test]
fn every_model_is_covered() {
    let mut files: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/devices"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f != "mod.rs")
            .collect();
    files.sort();
    let source = include_str!("hand_written.rs");
    for f in files {
        let stem = f.trim_end_matches(".rs");
        let hand = format!("{}/src/hand/{f}", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&hand).exists(), "no {hand}");
        let covered = if stem == "ps2" {
            source.contains("fn ps2kbd()") && source.contains("fn ps2mouse()")
        } else {
            source.contains(&format!("fn {stem}()"))
        };
        assert!(covered, "no test of {stem}");
    }
}
