//! The x86 CPU's `cpu` section saved and loaded by hand: big-endian writes
//! into a `Vec<u8>` and a bounds-checked cursor, no `Visitor`, no derive.
//! The bytes and the loaded values are those of the derived model
//! ([`X86Cpu`]): `cpu_pre_save()` and `cpu_post_load()` as its hooks do
//! them, every subsection with its `needed` test, and QEMU's subsection
//! loop (any order; a record whose name does not start with the struct's
//! name ends the struct's subsections; an unknown name under the prefix,
//! a version whose low byte is not 1 or a failed hook refuses the state).

use super::HandWritten;
use crate::devices::x86_cpu::*;

/// `QEMU_VM_SUBSECTION`.
const SUBSECTION: u8 = 0x05;

/// Big-endian writes.
struct Out<'a>(&'a mut Vec<u8>);

impl Out<'_> {
    #[inline]
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    #[inline]
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn u64s(&mut self, v: &[u64]) {
        for &x in v {
            self.u64(x);
        }
    }
    fn segment(&mut self, s: &Segment, flags: u32) {
        self.u32(s.selector);
        self.u64(s.base);
        self.u32(s.limit);
        self.u32(flags);
    }
    /// A subsection record's header: marker, name, version 1.
    fn subsection(&mut self, name: &str) {
        self.u8(SUBSECTION);
        self.u8(name.len() as u8);
        self.0.extend_from_slice(name.as_bytes());
        self.u32(1);
    }
}

/// A bounds-checked reader; every read is `None` past the end.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.at.checked_add(N)?;
        let b = self.bytes.get(self.at..end)?;
        self.at = end;
        b.try_into().ok()
    }
    #[inline]
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    #[inline]
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_be_bytes)
    }
    #[inline]
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    #[inline]
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_be_bytes)
    }
    #[inline]
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }
    #[inline]
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }
    fn u64s(&mut self, out: &mut [u64]) -> Option<()> {
        for x in out {
            *x = self.u64()?;
        }
        Some(())
    }
    fn bytes_into(&mut self, out: &mut [u8]) -> Option<()> {
        let end = self.at.checked_add(out.len())?;
        out.copy_from_slice(self.bytes.get(self.at..end)?);
        self.at = end;
        Some(())
    }
    fn segment(&mut self, s: &mut Segment) -> Option<()> {
        s.selector = self.u32()?;
        s.base = self.u64()?;
        s.limit = self.u32()?;
        s.flags = self.u32()?;
        Some(())
    }

    /// QEMU's subsection loop for a struct named `parent`: the next
    /// subsection's name if there is one for this struct (the record's
    /// header is consumed and its version checked), `Ok(None)` where this
    /// struct's subsections end, `Err(())` for a record under the prefix
    /// that must be refused (an unknown name, a version other than 1).
    fn next_subsection(
        &mut self,
        parent: &str,
        known: &[&'static str],
    ) -> Result<Option<&'static str>, ()> {
        let bytes = self.bytes;
        if bytes.get(self.at) != Some(&SUBSECTION) {
            return Ok(None);
        }
        let Some(&len) = bytes.get(self.at + 1) else {
            return Ok(None);
        };
        let len = usize::from(len);
        if len < parent.len() + 1 {
            return Ok(None);
        }
        let Some(name) = bytes.get(self.at + 2..self.at + 2 + len) else {
            return Ok(None);
        };
        if !name.starts_with(parent.as_bytes()) {
            return Ok(None);
        }
        let Some(&name) = known.iter().find(|k| k.as_bytes() == name) else {
            return Err(());
        };
        self.at += 2 + len;
        // QEMU reads the be32 version into a uint8_t: only the low byte
        // counts, and it must be 1 (every CPU subsection's version).
        match self.u32() {
            Some(v) if v & 0xff == 1 => Ok(Some(name)),
            _ => Err(()),
        }
    }
}

/// The CPU's subsections, in QEMU's order.
const CPU_SUBSECTIONS: &[&str] = &[
    "cpu/exception_info",
    "cpu/async_pf_msr",
    "cpu/async_pf_int_msr",
    "cpu/async_pv_eoi_msr",
    "cpu/steal_time_msr",
    "cpu/poll_control_msr",
    "cpu/fpop_ip_dp",
    "cpu/msr_tsc_adjust",
    "cpu/msr_tscdeadline",
    "cpu/msr_ia32_misc_enable",
    "cpu/msr_ia32_feature_control",
    "cpu/msr_architectural_pmu",
    "cpu/mpx",
    "cpu/msr_hyperv_hypercall",
    "cpu/msr_hyperv_vapic",
    "cpu/msr_hyperv_time",
    "cpu/msr_hyperv_crash",
    "cpu/msr_hyperv_runtime",
    "cpu/msr_hyperv_synic",
    "cpu/msr_hyperv_stimer",
    "cpu/msr_hyperv_reenlightenment",
    "cpu/avx512",
    "cpu/xss",
    "cpu/umwait",
    "cpu/tsc_khz",
    "cpu/msr_smi_count",
    "cpu/pkru",
    "cpu/pkrs",
    "cpu/spec_ctrl",
    "cpu/amd_tsc_scale_msr",
    "cpu/mcg_ext_ctl",
    "cpu/intel_pt",
    "cpu/virt_ssbd",
    "cpu/svn_npt",
    "cpu/svm_guest",
    "cpu/nested_state",
    "cpu/xen_vcpu",
    "cpu/msr_tsx_ctrl",
    "cpu/intel_sgx",
    "cpu/pdptrs",
    "cpu/msr_xfd",
    "cpu/msr_hwcr",
    "cpu/fred",
    "cpu/intel_amx_xtile",
    "cpu/arch_lbr",
    "cpu/triple_fault",
];

const NESTED: &str = "cpu/kvm_nested_state";
const NESTED_VMX: &str = "cpu/kvm_nested_state/vmx";
const NESTED_SVM: &str = "cpu/kvm_nested_state/svm";
const VMCS12: &str = "cpu/kvm_nested_state/vmx/vmcs12";
const SHADOW_VMCS12: &str = "cpu/kvm_nested_state/vmx/shadow_vmcs12";

fn any(v: &[u64]) -> bool {
    v.iter().any(|&x| x != 0)
}

fn nested_vmx_needed(n: &KvmNestedState) -> bool {
    n.format == KVM_STATE_NESTED_FORMAT_VMX && n.vmx.vmxon_pa != u64::MAX
}

fn nested_svm_needed(n: &KvmNestedState) -> bool {
    n.format == KVM_STATE_NESTED_FORMAT_SVM && n.size > KVM_NESTED_STATE_DATA_OFFSET
}

fn save_nested(n: &KvmNestedState, o: &mut Out<'_>) {
    o.u16(n.flags);
    o.u16(n.format);
    o.u32(n.size);
    if nested_vmx_needed(n) {
        o.subsection(NESTED_VMX);
        o.u64(n.vmx.vmxon_pa);
        o.u64(n.vmx.vmcs12_pa);
        o.u16(n.vmx.smm_flags);
        if n.size > KVM_NESTED_STATE_DATA_OFFSET {
            o.subsection(VMCS12);
            o.0.extend_from_slice(&n.vmx.vmcs12.vmcs12[..]);
        }
        if n.size > KVM_NESTED_STATE_DATA_OFFSET + KVM_STATE_NESTED_VMCS_SIZE as u32 {
            o.subsection(SHADOW_VMCS12);
            o.0.extend_from_slice(&n.vmx.shadow_vmcs12.shadow_vmcs12[..]);
        }
    }
    if nested_svm_needed(n) {
        o.subsection(NESTED_SVM);
        o.u64(n.vmcb_pa);
        o.0.extend_from_slice(&n.vmcb12[..]);
    }
}

fn load_nested(c: &mut Cursor<'_>, n: &mut KvmNestedState) -> Option<()> {
    n.flags = c.u16()?;
    n.format = c.u16()?;
    n.size = c.u32()?;
    while let Some(name) = c.next_subsection(NESTED, &[NESTED_VMX, NESTED_SVM]).ok()? {
        if name == NESTED_VMX {
            n.vmx.vmxon_pa = c.u64()?;
            n.vmx.vmcs12_pa = c.u64()?;
            n.vmx.smm_flags = c.u16()?;
            while let Some(sub) = c
                .next_subsection(NESTED_VMX, &[VMCS12, SHADOW_VMCS12])
                .ok()?
            {
                if sub == VMCS12 {
                    c.bytes_into(&mut n.vmx.vmcs12.vmcs12[..])?;
                } else {
                    c.bytes_into(&mut n.vmx.shadow_vmcs12.shadow_vmcs12[..])?;
                }
            }
        } else {
            n.vmcb_pa = c.u64()?;
            c.bytes_into(&mut n.vmcb12[..])?;
        }
    }
    Some(())
}

impl HandWritten for X86Cpu {
    fn hand_save(&self, out: &mut Vec<u8>) {
        let o = &mut Out(out);
        // cpu_pre_save(), computed without changing `self`.
        let fpus = (self.fpus & !0x3800) | (u16::from(self.fpstt & 7) << 11);
        let mut fptag = 0u16;
        for (i, &t) in self.fptags.iter().enumerate() {
            fptag |= u16::from(t == 0) << i;
        }
        let fix_dpl = self.cr[0] & CR0_PE_MASK == 0 && (self.segs[1].flags >> 13) & 3 != 0;
        let guest = self.hflags & HF_GUEST_MASK != 0;
        let convert = self.exception_pending != 0 && !guest;
        let (pending, injected) = if convert {
            (0, 1)
        } else {
            (self.exception_pending, self.exception_injected)
        };
        let payload_to =
            |nr: i32| convert && self.exception_has_payload != 0 && self.exception_nr == nr;
        let dr6 = if payload_to(EXCP01_DB) {
            self.exception_payload
        } else {
            self.dr[6]
        };
        let cr2 = if payload_to(EXCP0E_PAGE) {
            self.exception_payload
        } else {
            self.cr[2]
        };

        o.u64s(&self.regs);
        o.u64(self.eip);
        o.u64(self.eflags);
        o.u32(self.hflags);
        o.u16(self.fpuc);
        o.u16(fpus);
        o.u16(fptag);
        o.u16(0);
        for r in &self.fpregs {
            o.u64(r.mant);
            o.u16(r.exp);
        }
        for (i, s) in self.segs.iter().enumerate() {
            // ES, CS, SS, DS, FS, GS: all six lose their DPL in real mode.
            let flags = if fix_dpl && i < 6 {
                s.flags & !DESC_DPL_MASK
            } else {
                s.flags
            };
            o.segment(s, flags);
        }
        for s in [&self.ldt, &self.tr, &self.gdt, &self.idt] {
            o.segment(s, s.flags);
        }
        o.u32(self.sysenter_cs);
        o.u64(self.sysenter_esp);
        o.u64(self.sysenter_eip);
        o.u64(self.cr[0]);
        o.u64(cr2);
        o.u64(self.cr[3]);
        o.u64(self.cr[4]);
        for (i, &d) in self.dr.iter().enumerate() {
            o.u64(if i == 6 { dr6 } else { d });
        }
        o.u32(self.a20_mask as u32);
        o.u32(self.mxcsr);
        for x in &self.xmm_regs {
            o.u64(x.q0);
            o.u64(x.q1);
        }
        o.u64s(&[
            self.efer,
            self.star,
            self.lstar,
            self.cstar,
            self.fmask,
            self.kernelgsbase,
        ]);
        o.u32(self.smbase);
        o.u64(self.pat);
        o.u32(self.hflags2);
        o.u64s(&[self.vm_hsave, self.vm_vmcb, self.tsc_offset, self.intercept]);
        o.u16(self.intercept_cr_read);
        o.u16(self.intercept_cr_write);
        o.u16(self.intercept_dr_read);
        o.u16(self.intercept_dr_write);
        o.u32(self.intercept_exceptions);
        o.u8(self.v_tpr);
        o.u64s(&self.mtrr_fixed);
        o.u64(self.mtrr_deftype);
        for m in &self.mtrr_var {
            o.u64(m.base);
            o.u64(m.mask);
        }
        o.u32(self.interrupt_injected as u32);
        o.u32(self.mp_state);
        o.u64(self.tsc);
        o.u32(self.exception_nr as u32);
        o.u8(self.soft_interrupt);
        o.u8(self.nmi_injected);
        o.u8(self.nmi_pending);
        o.u8(self.has_error_code);
        o.u32(self.sipi_vector);
        o.u64s(&[self.mcg_cap, self.mcg_status, self.mcg_ctl]);
        o.u64s(&self.mce_banks);
        o.u64s(&[
            self.tsc_aux,
            self.system_time_msr,
            self.wall_clock_msr,
            self.xcr0,
            self.xstate_bv,
        ]);
        for y in &self.ymmh_regs {
            o.u64(y.q2);
            o.u64(y.q3);
        }

        // Subsections, in QEMU's order, each when its test says so.
        if pending != 0 && guest {
            o.subsection("cpu/exception_info");
            o.u8(pending);
            o.u8(injected);
            o.u8(self.exception_has_payload);
            o.u64(self.exception_payload);
        }
        let single = |o: &mut Out<'_>, name: &str, v: u64, needed: bool| {
            if needed {
                o.subsection(name);
                o.u64(v);
            }
        };
        single(
            o,
            "cpu/async_pf_msr",
            self.async_pf_en_msr,
            self.async_pf_en_msr != 0,
        );
        single(
            o,
            "cpu/async_pf_int_msr",
            self.async_pf_int_msr,
            self.async_pf_int_msr != 0,
        );
        single(
            o,
            "cpu/async_pv_eoi_msr",
            self.pv_eoi_en_msr,
            self.pv_eoi_en_msr != 0,
        );
        single(
            o,
            "cpu/steal_time_msr",
            self.steal_time_msr,
            self.steal_time_msr != 0,
        );
        single(
            o,
            "cpu/poll_control_msr",
            self.poll_control_msr,
            self.poll_control_msr != 1,
        );
        if self.fpop != 0 || self.fpip != 0 || self.fpdp != 0 {
            o.subsection("cpu/fpop_ip_dp");
            o.u16(self.fpop);
            o.u64(self.fpip);
            o.u64(self.fpdp);
        }
        single(
            o,
            "cpu/msr_tsc_adjust",
            self.tsc_adjust,
            self.tsc_adjust != 0,
        );
        single(
            o,
            "cpu/msr_tscdeadline",
            self.tsc_deadline,
            self.tsc_deadline != 0,
        );
        single(
            o,
            "cpu/msr_ia32_misc_enable",
            self.msr_ia32_misc_enable,
            self.msr_ia32_misc_enable != MSR_IA32_MISC_ENABLE_DEFAULT,
        );
        single(
            o,
            "cpu/msr_ia32_feature_control",
            self.msr_ia32_feature_control,
            self.msr_ia32_feature_control != 0,
        );
        let pmu = [
            self.msr_fixed_ctr_ctrl,
            self.msr_global_ctrl,
            self.msr_global_status,
            self.msr_global_ovf_ctrl,
        ];
        if any(&pmu)
            || any(&self.msr_fixed_counters)
            || any(&self.msr_gp_counters)
            || any(&self.msr_gp_evtsel)
        {
            o.subsection("cpu/msr_architectural_pmu");
            o.u64s(&pmu);
            o.u64s(&self.msr_fixed_counters);
            o.u64s(&self.msr_gp_counters);
            o.u64s(&self.msr_gp_evtsel);
        }
        if self.bnd_regs.iter().any(|b| b.lb != 0 || b.ub != 0)
            || any(&[self.bndcs_cfgu, self.bndcs_sts, self.msr_bndcfgs])
        {
            o.subsection("cpu/mpx");
            for b in &self.bnd_regs {
                o.u64(b.lb);
                o.u64(b.ub);
            }
            o.u64s(&[self.bndcs_cfgu, self.bndcs_sts, self.msr_bndcfgs]);
        }
        if self.msr_hv_hypercall != 0 || self.msr_hv_guest_os_id != 0 {
            o.subsection("cpu/msr_hyperv_hypercall");
            o.u64(self.msr_hv_guest_os_id);
            o.u64(self.msr_hv_hypercall);
        }
        single(
            o,
            "cpu/msr_hyperv_vapic",
            self.msr_hv_vapic,
            self.msr_hv_vapic != 0,
        );
        single(
            o,
            "cpu/msr_hyperv_time",
            self.msr_hv_tsc,
            self.msr_hv_tsc != 0,
        );
        if any(&self.msr_hv_crash_params) {
            o.subsection("cpu/msr_hyperv_crash");
            o.u64s(&self.msr_hv_crash_params);
        }
        single(
            o,
            "cpu/msr_hyperv_runtime",
            self.msr_hv_runtime,
            self.hyperv_runtime && self.msr_hv_runtime != 0,
        );
        let synic = [
            self.msr_hv_synic_control,
            self.msr_hv_synic_evt_page,
            self.msr_hv_synic_msg_page,
        ];
        if any(&synic) || any(&self.msr_hv_synic_sint) {
            o.subsection("cpu/msr_hyperv_synic");
            o.u64s(&synic);
            o.u64s(&self.msr_hv_synic_sint);
        }
        if any(&self.msr_hv_stimer_config) || any(&self.msr_hv_stimer_count) {
            o.subsection("cpu/msr_hyperv_stimer");
            o.u64s(&self.msr_hv_stimer_config);
            o.u64s(&self.msr_hv_stimer_count);
        }
        let reenl = [
            self.msr_hv_reenlightenment_control,
            self.msr_hv_tsc_emulation_control,
            self.msr_hv_tsc_emulation_status,
        ];
        if any(&reenl) {
            o.subsection("cpu/msr_hyperv_reenlightenment");
            o.u64s(&reenl);
        }
        let zmmh = |z: &ZmmhReg| [z.q4, z.q5, z.q6, z.q7];
        let hi16 = |h: &Hi16ZmmReg| [h.q0, h.q1, h.q2, h.q3, h.q4, h.q5, h.q6, h.q7];
        if any(&self.opmask_regs)
            || self.zmmh_regs.iter().any(|z| any(&zmmh(z)))
            || self.hi16_zmm_regs.iter().any(|h| any(&hi16(h)))
        {
            o.subsection("cpu/avx512");
            o.u64s(&self.opmask_regs);
            for z in &self.zmmh_regs {
                o.u64s(&zmmh(z));
            }
            for h in &self.hi16_zmm_regs {
                o.u64s(&hi16(h));
            }
        }
        single(o, "cpu/xss", self.xss, self.xss != 0);
        if self.umwait != 0 {
            o.subsection("cpu/umwait");
            o.u32(self.umwait);
        }
        single(o, "cpu/tsc_khz", self.tsc_khz as u64, self.tsc_khz != 0);
        single(
            o,
            "cpu/msr_smi_count",
            self.msr_smi_count,
            self.migrate_smi_count && self.msr_smi_count != 0,
        );
        if self.pkru != 0 {
            o.subsection("cpu/pkru");
            o.u32(self.pkru);
        }
        if self.pkrs != 0 {
            o.subsection("cpu/pkrs");
            o.u32(self.pkrs);
        }
        single(o, "cpu/spec_ctrl", self.spec_ctrl, self.spec_ctrl != 0);
        single(
            o,
            "cpu/amd_tsc_scale_msr",
            self.amd_tsc_scale_msr,
            self.features.svm & cpuid::SVM_TSCSCALE != 0,
        );
        single(
            o,
            "cpu/mcg_ext_ctl",
            self.mcg_ext_ctl,
            self.enable_lmce && self.mcg_ext_ctl != 0,
        );
        let pt = [
            self.msr_rtit_ctrl,
            self.msr_rtit_status,
            self.msr_rtit_output_base,
            self.msr_rtit_output_mask,
            self.msr_rtit_cr3_match,
        ];
        if any(&pt) || any(&self.msr_rtit_addrs) {
            o.subsection("cpu/intel_pt");
            o.u64s(&pt);
            o.u64s(&self.msr_rtit_addrs);
        }
        single(o, "cpu/virt_ssbd", self.virt_ssbd, self.virt_ssbd != 0);
        if self.hflags2 & HF2_NPT_MASK != 0 {
            o.subsection("cpu/svn_npt");
            o.u64(self.nested_cr3);
            o.u32(self.nested_pg_mode);
        }
        if self.tcg && self.int_ctl != 0 {
            o.subsection("cpu/svm_guest");
            o.u32(self.int_ctl);
        }
        let n = &*self.nested_state;
        if self.has_nested_state && (nested_vmx_needed(n) || nested_svm_needed(n)) {
            o.subsection("cpu/nested_state");
            save_nested(n, o);
        }
        if self.xen_emulate {
            o.subsection("cpu/xen_vcpu");
            o.u64s(&[
                self.xen_vcpu_info_gpa,
                self.xen_vcpu_info_default_gpa,
                self.xen_vcpu_time_info_gpa,
                self.xen_vcpu_runstate_gpa,
            ]);
            o.u8(self.xen_vcpu_callback_vector);
            for &v in &self.xen_virq {
                o.u16(v);
            }
            o.u64(self.xen_singleshot_timer_ns);
            o.u64(self.xen_periodic_timer_period);
        }
        if self.features.arch_capabilities & cpuid::ARCH_CAP_TSX_CTRL_MSR != 0 {
            o.subsection("cpu/msr_tsx_ctrl");
            o.u32(self.tsx_ctrl);
        }
        if self.features.cpuid_7_0_ecx & cpuid::SGX_LC != 0 {
            o.subsection("cpu/intel_sgx");
            o.u64s(&self.msr_ia32_sgxlepubkeyhash);
        }
        if self.pdptrs_valid {
            o.subsection("cpu/pdptrs");
            o.u64s(&self.pdptrs);
        }
        if self.features.xsave & cpuid::XFD != 0 {
            o.subsection("cpu/msr_xfd");
            o.u64(self.msr_xfd);
            o.u64(self.msr_xfd_err);
        }
        single(o, "cpu/msr_hwcr", self.msr_hwcr, self.msr_hwcr != 0);
        if self.features.cpuid_7_1_eax & cpuid::FRED != 0 {
            o.subsection("cpu/fred");
            o.u64s(&[
                self.fred_rsp0,
                self.fred_rsp1,
                self.fred_rsp2,
                self.fred_rsp3,
                self.fred_stklvls,
                self.fred_ssp1,
                self.fred_ssp2,
                self.fred_ssp3,
                self.fred_config,
            ]);
        }
        if self.features.cpuid_7_0_edx & cpuid::AMX_TILE != 0 {
            o.subsection("cpu/intel_amx_xtile");
            o.0.extend_from_slice(&self.xtilecfg);
            o.0.extend_from_slice(&self.xtiledata[..]);
        }
        if self.features.cpuid_7_0_edx & cpuid::ARCH_LBR != 0 {
            o.subsection("cpu/arch_lbr");
            o.u64(self.msr_lbr_ctl);
            o.u64(self.msr_lbr_depth);
            for r in &self.lbr_records {
                o.u64s(&[r.from, r.to, r.info]);
            }
        }
        if self.triple_fault_pending != 0 {
            o.subsection("cpu/triple_fault");
            o.u8(self.triple_fault_pending);
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut s = current.clone();
        let c = &mut Cursor { bytes, at: 0 };
        c.u64s(&mut s.regs)?;
        s.eip = c.u64()?;
        s.eflags = c.u64()?;
        s.hflags = c.u32()?;
        s.fpuc = c.u16()?;
        s.fpus_vmstate = c.u16()?;
        s.fptag_vmstate = c.u16()?;
        s.fpregs_format_vmstate = c.u16()?;
        for r in &mut s.fpregs {
            r.mant = c.u64()?;
            r.exp = c.u16()?;
        }
        for seg in &mut s.segs {
            c.segment(seg)?;
        }
        c.segment(&mut s.ldt)?;
        c.segment(&mut s.tr)?;
        c.segment(&mut s.gdt)?;
        c.segment(&mut s.idt)?;
        s.sysenter_cs = c.u32()?;
        s.sysenter_esp = c.u64()?;
        s.sysenter_eip = c.u64()?;
        for i in [0, 2, 3, 4] {
            s.cr[i] = c.u64()?;
        }
        c.u64s(&mut s.dr)?;
        s.a20_mask = c.i32()?;
        s.mxcsr = c.u32()?;
        for x in &mut s.xmm_regs {
            x.q0 = c.u64()?;
            x.q1 = c.u64()?;
        }
        s.efer = c.u64()?;
        s.star = c.u64()?;
        s.lstar = c.u64()?;
        s.cstar = c.u64()?;
        s.fmask = c.u64()?;
        s.kernelgsbase = c.u64()?;
        s.smbase = c.u32()?;
        s.pat = c.u64()?;
        s.hflags2 = c.u32()?;
        s.vm_hsave = c.u64()?;
        s.vm_vmcb = c.u64()?;
        s.tsc_offset = c.u64()?;
        s.intercept = c.u64()?;
        s.intercept_cr_read = c.u16()?;
        s.intercept_cr_write = c.u16()?;
        s.intercept_dr_read = c.u16()?;
        s.intercept_dr_write = c.u16()?;
        s.intercept_exceptions = c.u32()?;
        s.v_tpr = c.u8()?;
        c.u64s(&mut s.mtrr_fixed)?;
        s.mtrr_deftype = c.u64()?;
        for m in &mut s.mtrr_var {
            m.base = c.u64()?;
            m.mask = c.u64()?;
        }
        s.interrupt_injected = c.i32()?;
        s.mp_state = c.u32()?;
        s.tsc = c.u64()?;
        s.exception_nr = c.i32()?;
        s.soft_interrupt = c.u8()?;
        s.nmi_injected = c.u8()?;
        s.nmi_pending = c.u8()?;
        s.has_error_code = c.u8()?;
        s.sipi_vector = c.u32()?;
        s.mcg_cap = c.u64()?;
        s.mcg_status = c.u64()?;
        s.mcg_ctl = c.u64()?;
        c.u64s(&mut s.mce_banks)?;
        s.tsc_aux = c.u64()?;
        s.system_time_msr = c.u64()?;
        s.wall_clock_msr = c.u64()?;
        s.xcr0 = c.u64()?;
        s.xstate_bv = c.u64()?;
        for y in &mut s.ymmh_regs {
            y.q2 = c.u64()?;
            y.q3 = c.u64()?;
        }

        while let Some(name) = c.next_subsection("cpu", CPU_SUBSECTIONS).ok()? {
            load_subsection(c, &mut s, name)?;
        }
        if c.at != bytes.len() {
            return None;
        }
        post_load(&mut s)?;
        Some(s)
    }
}

/// One subsection's fields (its header already read), with its post_load.
fn load_subsection(c: &mut Cursor<'_>, s: &mut X86Cpu, name: &str) -> Option<()> {
    match name {
        "cpu/exception_info" => {
            s.exception_pending = c.u8()?;
            s.exception_injected = c.u8()?;
            s.exception_has_payload = c.u8()?;
            s.exception_payload = c.u64()?;
        }
        "cpu/async_pf_msr" => s.async_pf_en_msr = c.u64()?,
        "cpu/async_pf_int_msr" => s.async_pf_int_msr = c.u64()?,
        "cpu/async_pv_eoi_msr" => s.pv_eoi_en_msr = c.u64()?,
        "cpu/steal_time_msr" => s.steal_time_msr = c.u64()?,
        "cpu/poll_control_msr" => s.poll_control_msr = c.u64()?,
        "cpu/fpop_ip_dp" => {
            s.fpop = c.u16()?;
            s.fpip = c.u64()?;
            s.fpdp = c.u64()?;
        }
        "cpu/msr_tsc_adjust" => s.tsc_adjust = c.u64()?,
        "cpu/msr_tscdeadline" => s.tsc_deadline = c.u64()?,
        "cpu/msr_ia32_misc_enable" => s.msr_ia32_misc_enable = c.u64()?,
        "cpu/msr_ia32_feature_control" => s.msr_ia32_feature_control = c.u64()?,
        "cpu/msr_architectural_pmu" => {
            s.msr_fixed_ctr_ctrl = c.u64()?;
            s.msr_global_ctrl = c.u64()?;
            s.msr_global_status = c.u64()?;
            s.msr_global_ovf_ctrl = c.u64()?;
            c.u64s(&mut s.msr_fixed_counters)?;
            c.u64s(&mut s.msr_gp_counters)?;
            c.u64s(&mut s.msr_gp_evtsel)?;
        }
        "cpu/mpx" => {
            for b in &mut s.bnd_regs {
                b.lb = c.u64()?;
                b.ub = c.u64()?;
            }
            s.bndcs_cfgu = c.u64()?;
            s.bndcs_sts = c.u64()?;
            s.msr_bndcfgs = c.u64()?;
        }
        "cpu/msr_hyperv_hypercall" => {
            s.msr_hv_guest_os_id = c.u64()?;
            s.msr_hv_hypercall = c.u64()?;
        }
        "cpu/msr_hyperv_vapic" => s.msr_hv_vapic = c.u64()?,
        "cpu/msr_hyperv_time" => s.msr_hv_tsc = c.u64()?,
        "cpu/msr_hyperv_crash" => c.u64s(&mut s.msr_hv_crash_params)?,
        "cpu/msr_hyperv_runtime" => s.msr_hv_runtime = c.u64()?,
        "cpu/msr_hyperv_synic" => {
            s.msr_hv_synic_control = c.u64()?;
            s.msr_hv_synic_evt_page = c.u64()?;
            s.msr_hv_synic_msg_page = c.u64()?;
            c.u64s(&mut s.msr_hv_synic_sint)?;
        }
        "cpu/msr_hyperv_stimer" => {
            c.u64s(&mut s.msr_hv_stimer_config)?;
            c.u64s(&mut s.msr_hv_stimer_count)?;
        }
        "cpu/msr_hyperv_reenlightenment" => {
            s.msr_hv_reenlightenment_control = c.u64()?;
            s.msr_hv_tsc_emulation_control = c.u64()?;
            s.msr_hv_tsc_emulation_status = c.u64()?;
            if s.msr_hv_reenlightenment_control & HV_REENLIGHTENMENT_ENABLE_BIT != 0
                && s.user_tsc_khz == 0
            {
                return None;
            }
        }
        "cpu/avx512" => {
            c.u64s(&mut s.opmask_regs)?;
            for z in &mut s.zmmh_regs {
                z.q4 = c.u64()?;
                z.q5 = c.u64()?;
                z.q6 = c.u64()?;
                z.q7 = c.u64()?;
            }
            for h in &mut s.hi16_zmm_regs {
                let mut q = [0u64; 8];
                c.u64s(&mut q)?;
                *h = Hi16ZmmReg {
                    q0: q[0],
                    q1: q[1],
                    q2: q[2],
                    q3: q[3],
                    q4: q[4],
                    q5: q[5],
                    q6: q[6],
                    q7: q[7],
                };
            }
        }
        "cpu/xss" => s.xss = c.u64()?,
        "cpu/umwait" => s.umwait = c.u32()?,
        "cpu/tsc_khz" => s.tsc_khz = c.i64()?,
        "cpu/msr_smi_count" => s.msr_smi_count = c.u64()?,
        "cpu/pkru" => s.pkru = c.u32()?,
        "cpu/pkrs" => s.pkrs = c.u32()?,
        "cpu/spec_ctrl" => s.spec_ctrl = c.u64()?,
        "cpu/amd_tsc_scale_msr" => s.amd_tsc_scale_msr = c.u64()?,
        "cpu/mcg_ext_ctl" => s.mcg_ext_ctl = c.u64()?,
        "cpu/intel_pt" => {
            s.msr_rtit_ctrl = c.u64()?;
            s.msr_rtit_status = c.u64()?;
            s.msr_rtit_output_base = c.u64()?;
            s.msr_rtit_output_mask = c.u64()?;
            s.msr_rtit_cr3_match = c.u64()?;
            c.u64s(&mut s.msr_rtit_addrs)?;
        }
        "cpu/virt_ssbd" => s.virt_ssbd = c.u64()?,
        "cpu/svn_npt" => {
            s.nested_cr3 = c.u64()?;
            s.nested_pg_mode = c.u32()?;
        }
        "cpu/svm_guest" => s.int_ctl = c.u32()?,
        "cpu/nested_state" => {
            load_nested(c, &mut s.nested_state)?;
            // nested_state_post_load(): the kernel must take it.
            let (max, n) = (s.max_nested_state_len, &s.nested_state);
            if max <= 0
                || n.size < KVM_NESTED_STATE_DATA_OFFSET
                || i64::from(n.size) > i64::from(max)
                || (n.format != KVM_STATE_NESTED_FORMAT_VMX
                    && n.format != KVM_STATE_NESTED_FORMAT_SVM)
            {
                return None;
            }
        }
        "cpu/xen_vcpu" => {
            s.xen_vcpu_info_gpa = c.u64()?;
            s.xen_vcpu_info_default_gpa = c.u64()?;
            s.xen_vcpu_time_info_gpa = c.u64()?;
            s.xen_vcpu_runstate_gpa = c.u64()?;
            s.xen_vcpu_callback_vector = c.u8()?;
            for v in &mut s.xen_virq {
                *v = c.u16()?;
            }
            s.xen_singleshot_timer_ns = c.u64()?;
            s.xen_periodic_timer_period = c.u64()?;
        }
        "cpu/msr_tsx_ctrl" => s.tsx_ctrl = c.u32()?,
        "cpu/intel_sgx" => c.u64s(&mut s.msr_ia32_sgxlepubkeyhash)?,
        "cpu/pdptrs" => {
            c.u64s(&mut s.pdptrs)?;
            s.pdptrs_valid = true;
        }
        "cpu/msr_xfd" => {
            s.msr_xfd = c.u64()?;
            s.msr_xfd_err = c.u64()?;
        }
        "cpu/msr_hwcr" => s.msr_hwcr = c.u64()?,
        "cpu/fred" => {
            s.fred_rsp0 = c.u64()?;
            s.fred_rsp1 = c.u64()?;
            s.fred_rsp2 = c.u64()?;
            s.fred_rsp3 = c.u64()?;
            s.fred_stklvls = c.u64()?;
            s.fred_ssp1 = c.u64()?;
            s.fred_ssp2 = c.u64()?;
            s.fred_ssp3 = c.u64()?;
            s.fred_config = c.u64()?;
        }
        "cpu/intel_amx_xtile" => {
            c.bytes_into(&mut s.xtilecfg)?;
            c.bytes_into(&mut s.xtiledata[..])?;
        }
        "cpu/arch_lbr" => {
            s.msr_lbr_ctl = c.u64()?;
            s.msr_lbr_depth = c.u64()?;
            for r in &mut s.lbr_records {
                r.from = c.u64()?;
                r.to = c.u64()?;
                r.info = c.u64()?;
            }
        }
        "cpu/triple_fault" => s.triple_fault_pending = c.u8()?,
        _ => return None,
    }
    Some(())
}

/// `cpu_post_load()`, the parts that are state.
fn post_load(s: &mut X86Cpu) -> Option<()> {
    if s.tsc_khz != 0 && s.user_tsc_khz != 0 && s.tsc_khz != s.user_tsc_khz {
        return None;
    }
    if s.fpregs_format_vmstate != 0 {
        return None;
    }
    if s.cr[0] & CR0_PE_MASK == 0 && (s.segs[1].flags >> DESC_DPL_SHIFT) & 3 != 0 {
        for seg in &mut s.segs {
            seg.flags &= !DESC_DPL_MASK;
        }
    }
    s.hflags = (s.hflags & !HF_CPL_MASK) | ((s.segs[2].flags >> DESC_DPL_SHIFT) & HF_CPL_MASK);
    if s.hflags & HF_GUEST_MASK != 0
        && (!s.has_nested_state || s.nested_state.flags & KVM_STATE_NESTED_GUEST_MODE == 0)
    {
        return None;
    }
    if s.exception_nr != -1 && s.exception_pending == 0 && s.exception_injected == 0 {
        s.exception_injected = 1;
    }
    s.fpstt = ((s.fpus_vmstate >> 11) & 7) as u8;
    s.fpus = s.fpus_vmstate & !0x3800;
    s.fptag_vmstate ^= 0xff;
    for (i, t) in s.fptags.iter_mut().enumerate() {
        *t = ((s.fptag_vmstate >> i) & 1) as u8;
    }
    Some(())
}
