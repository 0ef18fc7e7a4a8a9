//! The x86 CPU model (`tests/src/devices/x86_cpu.rs`) against every real
//! `cpu` section of the repository's x86 streams (TCG and KVM, `pc` and
//! `q35`, paused and running guests, `-cpu max`): each loads, every byte
//! consumed, saves back byte-identically, refuses every truncation but at
//! a subsection boundary, and writes QEMU's own vmdesc entry byte for
//! byte. The hand-written save and load (`tests/src/hand/x86_cpu.rs`)
//! agree with the derive on all of them, and on states that send every
//! one of the 45 subsections.

use std::path::PathBuf;

use vmstate_core::VmState;
use vmstate_core::vmdesc::save_with_vmdesc;
// The hand-written code names the model `crate::devices::x86_cpu`.
use qemufile::SliceReader;
use vmstate_core::stream::{Event, StreamDecoder};
use vmstate_tests::devices::x86_cpu::*;
use vmstate_tests::scan::{SectionKind, scan};

use vmstate_tests::hand::HandWritten;

/// Bytes of the section's fields before its subsections (version 12).
const MAIN_LEN: usize = 1817;

/// One real `cpu` section.
struct CpuSection {
    file: String,
    section_id: u32,
    instance_id: u32,
    version_id: u32,
    body: Vec<u8>,
    /// QEMU's vmdesc of the stream, if it has one.
    vmdesc: Option<String>,
}

/// Every `cpu` section of every x86 stream in the repository.
fn cpu_sections() -> Vec<CpuSection> {
    let files: Vec<PathBuf> =
        vmstate_tests::real_streams(&["tests/fixtures", "vmstate-cli/tests/data/streams"])
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("x86-"))
            })
            .collect();
    let mut out = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if file == "x86-pc-postcopy.mig" {
            out.push(postcopy_cpu(&file, &bytes));
            continue;
        }
        let stream = scan(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let vmdesc = stream
            .vmdesc_json
            .clone()
            .map(|r| String::from_utf8(bytes[r].to_vec()).unwrap());
        for s in stream.sections.iter().filter(|s| s.idstr == "cpu") {
            assert_eq!(s.kind, SectionKind::Full, "{file}");
            out.push(CpuSection {
                file: file.clone(),
                section_id: s.section_id,
                instance_id: s.instance_id,
                version_id: s.version_id,
                body: bytes[s.body.clone()].to_vec(),
                vmdesc: vmdesc.clone(),
            });
        }
    }
    out
}

/// The `cpu` section of the postcopy stream, which has no vmdesc (and
/// sends its device sections inside a PACKAGED command): the stream
/// engine skips each body by its framing alone (up to the footer), which
/// gives the body's length without any description; the section header
/// says where it starts.
fn postcopy_cpu(file: &str, bytes: &[u8]) -> CpuSection {
    let mut dec = StreamDecoder::open(SliceReader::new(bytes), None).unwrap();
    let mut found = None;
    while let Some(event) = dec.next_event().unwrap() {
        if let Event::Section(h) = event {
            let len = dec.skip_section_raw().unwrap();
            if h.idstr.to_string_lossy() == "cpu" {
                assert!(found.is_none(), "{file}: one CPU");
                found = Some((h.section_id, h.instance_id, h.version_id, len));
            }
        }
    }
    let (section_id, instance_id, version_id, len) = found.expect("a cpu section");
    let mut header = vec![0x04];
    header.extend_from_slice(&section_id.to_be_bytes());
    header.extend_from_slice(b"\x03cpu");
    header.extend_from_slice(&instance_id.to_be_bytes());
    header.extend_from_slice(&version_id.to_be_bytes());
    let at = bytes
        .windows(header.len())
        .position(|w| w == header.as_slice())
        .expect("the cpu section header")
        + header.len();
    let body = bytes[at..at + usize::try_from(len).unwrap()].to_vec();
    let mut footer = vec![0x7e];
    footer.extend_from_slice(&section_id.to_be_bytes());
    assert_eq!(
        &bytes[at + body.len()..at + body.len() + 5],
        footer,
        "{file}: footer"
    );
    CpuSection {
        file: file.to_owned(),
        section_id,
        instance_id,
        version_id,
        body,
        vmdesc: None,
    }
}

/// The destination CPU, configured as the machine of `file` was.
fn destination(file: &str) -> X86Cpu {
    let mut cpu = X86Cpu::default();
    if file.contains("kvm") {
        cpu.tcg = false;
    }
    if file == "x86-pc-cpu-max.mig" {
        // -cpu max,+arch-capabilities,+tsx-ctrl: IA32_TSX_CTRL is migrated.
        cpu.features.arch_capabilities |= cpuid::ARCH_CAP_TSX_CTRL_MSR;
    }
    cpu
}

/// Where the subsection records of a section start, walked with the
/// payload sizes of the subsections the fixtures hold.
fn subsection_starts(s: &CpuSection) -> Vec<(usize, String)> {
    let b = &s.body;
    let mut at = MAIN_LEN;
    let mut out = Vec::new();
    while at < b.len() {
        assert_eq!(b[at], 0x05, "{}: subsection marker at {at}", s.file);
        let len = usize::from(b[at + 1]);
        let name = String::from_utf8(b[at + 2..at + 2 + len].to_vec()).unwrap();
        assert_eq!(
            &b[at + 2 + len..at + 6 + len],
            [0, 0, 0, 1],
            "{name} version"
        );
        let payload = match name.as_str() {
            "cpu/poll_control_msr"
            | "cpu/msr_ia32_misc_enable"
            | "cpu/tsc_khz"
            | "cpu/msr_smi_count" => 8,
            "cpu/msr_tsx_ctrl" => 4,
            other => panic!("{}: no size for {other}", s.file),
        };
        out.push((at, name));
        at += 6 + len + payload;
    }
    assert_eq!(at, b.len(), "{}", s.file);
    out
}

#[test]
fn every_real_cpu_section_loads_and_saves_back() {
    let sections = cpu_sections();
    let files: Vec<&str> = sections.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "x86-pc-5nics.mig",
            "x86-pc-cpu-max.mig",
            "x86-pc-dirty-bitmap.mig",
            "x86-pc-kvm.mig",
            "x86-pc-min.mig",
            "x86-pc-postcopy.mig",
            "x86-pc-return-path.mig",
            "x86-pc-xbzrle.mig",
            "x86-q35-forms.mig",
            "x86-pc-devices.mig",
            "x86-pc-running.mig",
            "x86-q35-min.mig",
        ]
    );
    let mut seen = std::collections::BTreeSet::new();
    for s in &sections {
        let what = format!("{} (section {})", s.file, s.section_id);
        assert_eq!((s.instance_id, s.version_id), (0, 12), "{what}");
        let starts = subsection_starts(s);
        seen.extend(starts.iter().map(|(_, n)| n.clone()));

        let dest = destination(&s.file);
        let mut dev = dest.clone();
        vmstate_core::load_from_slice(&mut dev, &s.body, 12)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let saved = vmstate_core::save_to_vec(&mut dev.clone()).unwrap();
        assert_eq!(saved, s.body, "{what}: re-save is not byte-identical");
        let mut again = dest.clone();
        vmstate_core::load_from_slice(&mut again, &saved, 12).unwrap();
        assert_eq!(again, dev, "{what}");

        // Every truncation fails, leaving the destination as it was, but
        // exactly at a subsection record (QEMU loads a section whose
        // subsections stop there too).
        let mut accepted = Vec::new();
        for cut in 0..s.body.len() {
            let mut d = dest.clone();
            match vmstate_core::load_from_slice(&mut d, &s.body[..cut], 12) {
                Ok(()) => accepted.push(cut),
                Err(_) => assert!(d == dest, "{what}: a failed load at {cut} changed state"),
            }
        }
        let expected: Vec<usize> = starts.iter().map(|&(at, _)| at).collect();
        assert_eq!(accepted, expected, "{what}: cuts that load");
        // A byte too many is refused.
        let mut long = s.body.clone();
        long.push(0);
        assert!(vmstate_core::load_from_slice(&mut dest.clone(), &long, 12).is_err());
    }
    let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_eq!(
        seen,
        [
            "cpu/msr_ia32_misc_enable",
            "cpu/msr_smi_count",
            "cpu/msr_tsx_ctrl",
            "cpu/poll_control_msr",
            "cpu/tsc_khz"
        ]
    );
}

/// Values of the paused `-M pc` CPU (`vmstate dump`): the reset state.
#[test]
fn reset_state_of_a_paused_pc() {
    let s = cpu_sections()
        .into_iter()
        .find(|s| s.file == "x86-pc-min.mig")
        .unwrap();
    let cpu: X86Cpu = vmstate_core::load_new(&s.body, 12).unwrap();
    assert_eq!(cpu.eip, 0xfff0);
    assert_eq!(cpu.segs[seg::CS].selector, 0xf000);
    assert_eq!(cpu.segs[seg::CS].base, 0xffff_0000);
    assert_eq!(cpu.cr[0], 0x6000_0010);
    assert_eq!(cpu.fpuc, 0x37f);
    assert_eq!(cpu.mxcsr, 0x1f80);
    assert_eq!(cpu.a20_mask, -1);
    assert_eq!(cpu.pat, 0x0007_0406_0007_0406);
    assert_eq!(
        cpu.poll_control_msr, 0,
        "TCG leaves it 0: the subsection is sent"
    );
    // post_load: all eight x87 registers empty, the stack top 0.
    assert_eq!((cpu.fptags, cpu.fpstt), ([1; 8], 0));
    assert_eq!(
        cpu.fptag_vmstate, 0xff,
        "post_load inverts the migrated tags"
    );
    // The EDX reset value of the CPU's signature.
    assert_ne!(cpu.regs[2], 0);
}

/// The vmdesc we write while saving equals QEMU's entry in
/// the stream, byte for byte (`env.xmm_regs` numbered as QEMU numbers
/// repeated names, `env.cr[N]` single elements, the `fpreg_tmp` tmp).
#[test]
fn vmdesc_is_qemus() {
    let mut checked = 0;
    for s in cpu_sections() {
        let Some(vmdesc) = &s.vmdesc else {
            continue;
        };
        let mut dev = destination(&s.file);
        vmstate_core::load_from_slice(&mut dev, &s.body, 12).unwrap();
        let mut out = Vec::new();
        let content = save_with_vmdesc(&mut dev, &mut out).unwrap();
        assert_eq!(out, s.body, "{}: bytes", s.file);
        let ours = format!("{{\"name\": \"cpu\", \"instance_id\": 0, {content}}}");
        let start = vmdesc
            .find("{\"name\": \"cpu\", \"instance_id\": 0, ")
            .unwrap();
        let theirs = &vmdesc[start..(start + ours.len()).min(vmdesc.len())];
        assert_eq!(ours, theirs, "{}: vmdesc", s.file);
        assert!(content.contains(r#"{"name": "env.xmm_regs[1]", "array_len": 16, "type": "struct", "struct": {"vmsd_name": "ymmh_reg""#));
        assert!(content.contains(r#"{"name": "env.cr[4]", "type": "uint64", "size": 8}"#));
        checked += 1;
    }
    // The postcopy stream has no vmdesc.
    assert_eq!(checked, 11);
}

/// QEMU 10.0.2's `-dump-vmstate` has no `cpu` section: the x86 CPU's
/// description is the CPU class's `legacy_vmsd`, registered per CPU at
/// realize, and the dump lists only device classes' `dc->vmsd`. The model
/// is checked against the vmdesc of real streams instead (above), which
/// describes every field QEMU sent.
#[test]
fn qemu_dump_has_no_cpu_description() {
    for dump in ["dump-vmstate-x86-pc-10.0.2.json", "q35-10.0.2.json"] {
        let path = vmstate_tests::workspace()
            .join("vmstate-cli/tests/data")
            .join(dump);
        let text = std::fs::read_to_string(&path).unwrap();
        let dump = vmstate_core::dump::DumpFile::parse(&text).unwrap();
        assert!(dump.section("cpu").is_none(), "{}", path.display());
        assert!(!text.contains("\"env.xmm_regs\""));
        assert!(!text.contains("cpu/poll_control_msr"));
    }
}

// ---------------------------------------------------------------------------
// Hooks

#[test]
fn hooks_pack_the_fpu_and_fix_the_cpl() {
    let s = cpu_sections()
        .into_iter()
        .find(|s| s.file == "x86-pc-min.mig")
        .unwrap();
    let mut cpu: X86Cpu = vmstate_core::load_new(&s.body, 12).unwrap();
    cpu.fpstt = 5;
    cpu.fptags = [1, 0, 1, 1, 1, 1, 0, 1];
    cpu.fpus = 0x0041;
    let bytes = vmstate_core::save_to_vec(&mut cpu.clone()).unwrap();
    let at = 128 + 8 + 8 + 4 + 2;
    assert_eq!(&bytes[at..at + 4], [0x28, 0x41, 0x00, 0x42]);
    let back: X86Cpu = vmstate_core::load_new(&bytes, 12).unwrap();
    assert_eq!((back.fpstt, back.fptags, back.fpus), (5, cpu.fptags, 0x41));

    // The CPL bits of hflags come from SS's DPL, whatever was sent.
    let mut cpu = back.clone();
    cpu.cr[0] |= CR0_PE_MASK;
    cpu.segs[seg::SS].flags |= 3 << DESC_DPL_SHIFT;
    cpu.hflags &= !HF_CPL_MASK;
    let bytes = vmstate_core::save_to_vec(&mut cpu.clone()).unwrap();
    let back: X86Cpu = vmstate_core::load_new(&bytes, 12).unwrap();
    assert_eq!(back.hflags & HF_CPL_MASK, 3);

    // In real mode a CS DPL is cleared from every segment on save.
    let mut cpu = back.clone();
    cpu.cr[0] &= !CR0_PE_MASK;
    cpu.segs[seg::CS].flags |= 3 << DESC_DPL_SHIFT;
    vmstate_core::save_to_vec(&mut cpu).unwrap();
    assert!(cpu.segs.iter().all(|s| s.dpl() == 0));

    // An old non-softfloat state and a TSC frequency other than the
    // destination's are refused.
    let mut old = s.body.clone();
    old[128 + 8 + 8 + 4 + 6 + 1] = 1;
    assert!(vmstate_core::load_new::<X86Cpu>(&old, 12).is_err());
    let kvm = cpu_sections()
        .into_iter()
        .find(|s| s.file == "x86-pc-kvm.mig")
        .unwrap();
    let mut dest = destination(&kvm.file);
    vmstate_core::load_from_slice(&mut dest.clone(), &kvm.body, 12).unwrap();
    dest.user_tsc_khz = 1;
    let err = vmstate_core::load_from_slice(&mut dest, &kvm.body, 12).unwrap_err();
    assert!(
        err.to_string()
            .contains("Mismatch between user-specified TSC frequency"),
        "{err}"
    );
}

/// A pending exception outside a nested guest goes as injected, its
/// payload delivered; inside one, `cpu/exception_info` carries it.
#[test]
fn pending_exceptions() {
    let pending = X86Cpu {
        exception_nr: EXCP0E_PAGE,
        exception_pending: 1,
        exception_has_payload: 1,
        exception_payload: 0xdead_b000,
        ..X86Cpu::default()
    };
    let mut cpu = pending.clone();
    let bytes = vmstate_core::save_to_vec(&mut cpu).unwrap();
    assert_eq!((cpu.exception_pending, cpu.exception_injected), (0, 1));
    assert_eq!(cpu.cr[2], 0xdead_b000);
    assert_eq!(bytes.len(), MAIN_LEN, "no subsection");

    // Inside a nested guest it stays pending, in cpu/exception_info.
    let mut cpu = X86Cpu {
        hflags: HF_GUEST_MASK,
        ..pending
    };
    let bytes = vmstate_core::save_to_vec(&mut cpu).unwrap();
    assert_eq!(
        &bytes[MAIN_LEN..],
        b"\x05\x12cpu/exception_info\0\0\0\x01\x01\x00\x01\0\0\0\0\xde\xad\xb0\x00"
    );
    // A destination without a nested state refuses a CPU in guest mode.
    let e = vmstate_core::load_new::<X86Cpu>(&bytes, 12).unwrap_err();
    assert!(e.to_string().contains("guest-mode inconsistent"), "{e}");
    assert!(X86Cpu::hand_load(&bytes, &X86Cpu::default()).is_none());
}

// ---------------------------------------------------------------------------
// Every subsection

/// A CPU that sends every subsection (with the nested state of `format`).
fn everything(format: u16) -> X86Cpu {
    let mut c = X86Cpu::default();
    let mut k = 0u64;
    let mut next = || {
        k += 1;
        0x0101_0101_0101_0101u64.wrapping_mul(k) ^ (k << 56)
    };
    for r in &mut c.regs {
        *r = next();
    }
    for i in 0..ZMM_REGS {
        let q = [
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
        ];
        c.set_zmm(i, q);
    }
    c.fpstt = 3;
    c.fptags = [0, 1, 0, 1, 1, 1, 1, 0];
    for r in &mut c.fpregs {
        r.mant = next();
        r.exp = next() as u16;
    }
    c.cr = [0x8000_0011, 0, next(), next(), 0x20];
    c.segs[seg::SS].flags = 0x00c0_9300;
    c.hflags = HF_GUEST_MASK;
    c.hflags2 = HF2_NPT_MASK;
    c.exception_nr = EXCP01_DB;
    c.exception_pending = 1;
    c.exception_has_payload = 1;
    c.exception_payload = next();
    c.async_pf_en_msr = next();
    c.async_pf_int_msr = next();
    c.pv_eoi_en_msr = next();
    c.steal_time_msr = next();
    c.poll_control_msr = 0;
    c.fpop = 0x1234;
    c.fpip = next();
    c.fpdp = next();
    c.tsc_adjust = next();
    c.tsc_deadline = next();
    c.msr_ia32_misc_enable = 0x0085_0089;
    c.msr_ia32_feature_control = 5;
    c.msr_gp_evtsel[17] = next();
    c.msr_fixed_counters[2] = next();
    c.bnd_regs[3].ub = next();
    c.msr_bndcfgs = 1;
    c.msr_hv_guest_os_id = next();
    c.msr_hv_vapic = next();
    c.msr_hv_tsc = next();
    c.msr_hv_crash_params[4] = next();
    c.hyperv_runtime = true;
    c.msr_hv_runtime = next();
    c.msr_hv_synic_sint[15] = next();
    c.msr_hv_stimer_count[3] = next();
    c.msr_hv_reenlightenment_control = HV_REENLIGHTENMENT_ENABLE_BIT;
    c.opmask_regs[7] = next();
    c.xss = next();
    c.umwait = 0x186a0;
    c.tsc_khz = 2_000_000;
    c.user_tsc_khz = 2_000_000;
    c.msr_smi_count = 3;
    c.pkru = 0x5555_5554;
    c.pkrs = 4;
    c.spec_ctrl = 1;
    c.features = CpuFeatures {
        svm: cpuid::SVM_TSCSCALE,
        arch_capabilities: cpuid::ARCH_CAP_TSX_CTRL_MSR,
        cpuid_7_0_ecx: cpuid::SGX_LC,
        cpuid_7_0_edx: cpuid::AMX_TILE | cpuid::ARCH_LBR,
        cpuid_7_1_eax: cpuid::FRED,
        xsave: cpuid::XFD,
    };
    c.amd_tsc_scale_msr = 1 << 32;
    c.enable_lmce = true;
    c.mcg_ext_ctl = 1;
    c.msr_rtit_addrs[7] = next();
    c.virt_ssbd = 1;
    c.nested_cr3 = next();
    c.nested_pg_mode = 7;
    c.int_ctl = 0x0100_0000;
    c.has_nested_state = true;
    c.max_nested_state_len = 0x3080;
    let n = &mut *c.nested_state;
    n.flags = KVM_STATE_NESTED_GUEST_MODE;
    n.format = format;
    n.size = KVM_NESTED_STATE_DATA_OFFSET + 2 * KVM_STATE_NESTED_VMCS_SIZE as u32;
    n.vmx.vmxon_pa = 0x1000;
    n.vmx.vmcs12_pa = 0x2000;
    n.vmx.smm_flags = 2;
    n.vmx.vmcs12.vmcs12[7] = 0x77;
    n.vmx.shadow_vmcs12.shadow_vmcs12[4095] = 0x88;
    n.vmcb_pa = 0x3000;
    n.vmcb12[1] = 0x99;
    c.xen_emulate = true;
    c.xen_virq[23] = 0x17;
    c.xen_vcpu_callback_vector = 0xf3;
    c.tsx_ctrl = 3;
    c.msr_ia32_sgxlepubkeyhash[3] = next();
    c.pdptrs_valid = true;
    c.pdptrs[0] = next();
    c.msr_xfd = 1 << 18;
    c.msr_hwcr = 1 << 24;
    c.fred_config = next();
    c.xtilecfg[63] = 1;
    c.xtiledata[8191] = 2;
    c.msr_lbr_depth = 32;
    c.lbr_records[31].info = next();
    c.triple_fault_pending = 1;
    c
}

/// The names of the subsection records of a `cpu` body.
fn subsection_names(body: &[u8]) -> Vec<String> {
    // A record header: 0x05, a length, a name under "cpu/" (the states
    // built here hold no such bytes elsewhere).
    let mut out = Vec::new();
    let mut at = MAIN_LEN;
    while let Some(i) = body[at..]
        .windows(6)
        .position(|w| w[0] == 0x05 && w[2..6] == *b"cpu/")
    {
        let start = at + i;
        let len = usize::from(body[start + 1]);
        out.push(String::from_utf8(body[start + 2..start + 2 + len].to_vec()).unwrap());
        at = start + 2 + len;
    }
    out
}

#[test]
fn every_subsection_saves_and_loads_as_qemu_orders_them() {
    for format in [KVM_STATE_NESTED_FORMAT_VMX, KVM_STATE_NESTED_FORMAT_SVM] {
        let cpu = everything(format);
        let bytes = vmstate_core::save_to_vec(&mut cpu.clone()).unwrap();
        let names = subsection_names(&bytes);
        let nested: &[&str] = if format == KVM_STATE_NESTED_FORMAT_VMX {
            &[
                "cpu/kvm_nested_state/vmx",
                "cpu/kvm_nested_state/vmx/vmcs12",
                "cpu/kvm_nested_state/vmx/shadow_vmcs12",
            ]
        } else {
            &["cpu/kvm_nested_state/svm"]
        };
        let mut expected: Vec<&str> = Vec::new();
        for name in X86Cpu::DESCRIPTION.subsections.iter().map(|s| s.name) {
            expected.push(name);
            if name == "cpu/nested_state" {
                expected.extend(nested);
            }
        }
        assert_eq!(names, expected, "format {format}");
        assert_eq!(X86Cpu::DESCRIPTION.subsections.len(), 46);

        let dest = X86Cpu {
            features: cpu.features,
            has_nested_state: true,
            max_nested_state_len: 0x3080,
            user_tsc_khz: cpu.user_tsc_khz,
            hyperv_runtime: true,
            enable_lmce: true,
            xen_emulate: true,
            ..X86Cpu::default()
        };
        let mut back = dest.clone();
        vmstate_core::load_from_slice(&mut back, &bytes, 12).unwrap();
        assert_eq!(vmstate_core::save_to_vec(&mut back.clone()).unwrap(), bytes);
        for i in 0..ZMM_REGS {
            assert_eq!(back.zmm(i), cpu.zmm(i), "zmm{i}");
        }
        if format == KVM_STATE_NESTED_FORMAT_VMX {
            assert_eq!(back.nested_state.vmx.vmcs12.vmcs12[7], 0x77);
            assert_eq!(
                back.nested_state.vmx.shadow_vmcs12.shadow_vmcs12[4095],
                0x88
            );
            assert_eq!(back.nested_state.vmcb12[1], 0, "not sent");
        } else {
            assert_eq!(back.nested_state.vmcb12[1], 0x99);
            assert_eq!(back.nested_state.vmx.vmcs12.vmcs12[7], 0, "not sent");
        }

        // The hand-written code writes the same bytes and loads the same value.
        let mut hand = Vec::new();
        cpu.hand_save(&mut hand);
        assert_eq!(hand, bytes, "format {format}: hand_save");
        assert_eq!(X86Cpu::hand_load(&bytes, &dest).as_ref(), Some(&back));

        // Every truncation of this long state: both refuse, or both load
        // the same (at a subsection record).
        let mut loads = 0;
        for cut in (0..bytes.len())
            .step_by(7)
            .chain(bytes.len() - 64..bytes.len())
        {
            let mut d = dest.clone();
            let derived = vmstate_core::load_from_slice(&mut d, &bytes[..cut], 12)
                .ok()
                .map(|()| d);
            let hand = X86Cpu::hand_load(&bytes[..cut], &dest);
            assert_eq!(hand, derived, "format {format}: cut at {cut}");
            loads += usize::from(hand.is_some());
        }
        assert!(loads > 0);

        // The destination's configuration decides: no nested state in this
        // kernel, or re-enlightenment without a fixed TSC frequency.
        let mut no_nested = dest.clone();
        no_nested.max_nested_state_len = 0;
        assert!(vmstate_core::load_from_slice(&mut no_nested.clone(), &bytes, 12).is_err());
        assert!(X86Cpu::hand_load(&bytes, &no_nested).is_none());
        let mut no_tsc = dest.clone();
        no_tsc.user_tsc_khz = 0;
        let e = vmstate_core::load_from_slice(&mut no_tsc.clone(), &bytes, 12).unwrap_err();
        assert!(e.to_string().contains("re-enlightenment"), "{e}");
        assert!(X86Cpu::hand_load(&bytes, &no_tsc).is_none());
    }
}

#[test]
fn hand_written_agrees_with_the_derive_on_every_real_section() {
    for s in cpu_sections() {
        let dest = destination(&s.file);
        let mut dev = dest.clone();
        vmstate_core::load_from_slice(&mut dev, &s.body, 12).unwrap();
        let hand = X86Cpu::hand_load(&s.body, &dest);
        assert_eq!(hand.as_ref(), Some(&dev), "{}: hand_load", s.file);
        let mut out = vec![0xaa];
        dev.hand_save(&mut out);
        assert_eq!(
            &out[1..],
            s.body,
            "{}: hand_save appends the section",
            s.file
        );
        for cut in 0..s.body.len() {
            let mut d = dest.clone();
            let derived = vmstate_core::load_from_slice(&mut d, &s.body[..cut], 12)
                .ok()
                .map(|()| d);
            assert_eq!(
                X86Cpu::hand_load(&s.body[..cut], &dest),
                derived,
                "{}: cut {cut}",
                s.file
            );
        }
        let mut long = s.body.clone();
        long.push(0x05);
        assert!(X86Cpu::hand_load(&long, &dest).is_none());
        // A subsection the CPU does not have is refused by both.
        let mut unknown = s.body.clone();
        unknown.extend_from_slice(b"\x05\x08cpu/nope\x00\x00\x00\x01");
        assert!(X86Cpu::hand_load(&unknown, &dest).is_none());
        assert!(vmstate_core::load_from_slice(&mut dest.clone(), &unknown, 12).is_err());
        // A subsection at a version newer than 1 is refused by both.
        if let Some(&(at, ref name)) = subsection_starts(&s).first() {
            let mut newer = s.body.clone();
            newer[at + 2 + name.len() + 3] = 2;
            assert!(X86Cpu::hand_load(&newer, &dest).is_none());
            assert!(vmstate_core::load_from_slice(&mut dest.clone(), &newer, 12).is_err());
        }
    }
}

#[test]
fn the_model_walks_with_every_visitor() {
    let mut cpu = everything(KVM_STATE_NESTED_FORMAT_VMX);
    let text = vmstate_core::pretty_print(&mut cpu).unwrap();
    assert!(text.contains("cpu.env.cr[3] = (uint64) "), "{text}");
    assert!(
        text.contains("cpu.env.fpregs[7].tmp.tmp_exp = (uint16) "),
        "{text}"
    );
}
