//! The x86 CPU (`target/i386/machine.c`: `vmstate_x86_cpu`, section `cpu`,
//! and its 45 subsections), as QEMU 10.0.2's `qemu-system-x86_64` writes it
//! (a 64-bit target built with KVM and Xen emulation; TCG and KVM streams).
//!
//! The forms of issue 8 it needs:
//!
//! * **Computed fields.** `cpu_pre_save()` packs the FPU top into
//!   `fpus_vmstate` and the tag word into `fptag_vmstate`;
//!   `cpu_post_load()` unpacks them, recomputes the CPL bits of `hflags`
//!   from SS, repairs real-mode DPLs and infers an injected exception. The
//!   hooks do the same on the Rust fields (`fpus`, `fpstt`, `fptags` are
//!   not migrated).
//! * **A `tmp` struct in a nested struct.** Each x87 register is a
//!   `fpreg` whose one field is `VMSTATE_WITH_TMP` of `fpreg_tmp`
//!   (mantissa, exponent).
//! * **Repeated names.** The vector register file `env.xmm_regs` goes on
//!   the wire four times, each time through another description of its
//!   elements: `xmm_reg` (bits 0..128 of registers 0..16), `ymmh_reg`
//!   (128..256, version 12), and in `cpu/avx512` `zmmh_reg` (256..512) and
//!   `hi16_zmm_reg` (all 512 bits of registers 16..32). A view sends an
//!   element in its own form, so the model keeps the file in those four
//!   parts ([`X86Cpu::zmm`] puts a register together).
//! * **Views.** `env.cr[0]`, `env.cr[2]`, `env.cr[3]`, `env.cr[4]` are
//!   single elements of `cr` (CR1 is not sent); the KVM nested state's
//!   8 KiB data area is sent as `vmcs12`/`shadow_vmcs12` (VMX) or `vmcb12`
//!   (SVM), runs of the same bytes, as in the kernel's union.
//! * **Inline subsections.** All the CPU's subsections are over the CPU
//!   itself, with `needed` tests of its registers and of its
//!   configuration (CPUID feature words, `migrate-smi-count`, `lmce`,
//!   Hyper-V runtime, the accelerator, Xen emulation).
//! * **A struct pointer with subsections and a context.** `cpu/nested_state`
//!   sends `env.nested_state` (`VMSTATE_STRUCT_POINTER`, a `Box`), whose
//!   VMX part has subsections of its own that depend on the nested state's
//!   `size`: the parent passes it down as their context.
//! * **Large arrays** (`#[vmstate(default)]`): 40 MCE bank registers, the
//!   8 KiB AMX tile data, 32 LBR records, the nested state.

use vmstate_core::VmState;
use vmstate_core::forms::TmpState;

/// General purpose registers of the 64-bit target (`CPU_NB_REGS`).
pub const CPU_NB_REGS: usize = 16;
/// Vector registers with AVX-512 (`CPU_NB_REGS` × 2 on x86_64).
pub const ZMM_REGS: usize = 32;
/// Variable MTRRs migrated (`MSR_MTRRcap_VCNT`).
pub const MSR_MTRRCAP_VCNT: usize = 8;
/// MCE banks (`MCE_BANKS_DEF`): four registers each are migrated.
pub const MCE_BANKS_DEF: usize = 10;
/// Fixed-function PMU counters (`MAX_FIXED_COUNTERS`).
pub const MAX_FIXED_COUNTERS: usize = 3;
/// General purpose PMU counters (`MAX_GP_COUNTERS`: `MSR_IA32_PERF_STATUS -
/// MSR_P6_EVNTSEL0` = 0x198 - 0x186).
pub const MAX_GP_COUNTERS: usize = 18;
/// AVX-512 opmask registers (`NB_OPMASK_REGS`).
pub const NB_OPMASK_REGS: usize = 8;
/// Hyper-V crash parameter MSRs (`HV_CRASH_PARAMS`).
pub const HV_CRASH_PARAMS: usize = 5;
/// Hyper-V SynIC interrupt sources (`HV_SINT_COUNT`).
pub const HV_SINT_COUNT: usize = 16;
/// Hyper-V synthetic timers (`HV_STIMER_COUNT`).
pub const HV_STIMER_COUNT: usize = 4;
/// Intel PT address range MSR pairs (`MAX_RTIT_ADDRS`).
pub const MAX_RTIT_ADDRS: usize = 8;
/// Xen virtual IRQs (`XEN_NR_VIRQS`).
pub const XEN_NR_VIRQS: usize = 24;
/// Architectural LBR records (`ARCH_LBR_NR_ENTRIES`).
pub const ARCH_LBR_NR_ENTRIES: usize = 32;
/// Bytes of AMX tile data (`env.xtiledata`).
pub const XTILEDATA_SIZE: usize = 8192;
/// Bytes of a VMCS12 or VMCB12 in the KVM nested state
/// (`KVM_STATE_NESTED_VMX_VMCS_SIZE`, `KVM_STATE_NESTED_SVM_VMCB_SIZE`).
pub const KVM_STATE_NESTED_VMCS_SIZE: usize = 0x1000;
/// Offset of the data area in `struct kvm_nested_state` (flags, format,
/// size and the 120-byte header union).
pub const KVM_NESTED_STATE_DATA_OFFSET: u32 = 128;
/// `KVM_STATE_NESTED_FORMAT_VMX`.
pub const KVM_STATE_NESTED_FORMAT_VMX: u16 = 0;
/// `KVM_STATE_NESTED_FORMAT_SVM`.
pub const KVM_STATE_NESTED_FORMAT_SVM: u16 = 1;
/// `KVM_STATE_NESTED_GUEST_MODE`: the vCPU is running a nested guest.
pub const KVM_STATE_NESTED_GUEST_MODE: u16 = 0x0001;

/// Segment register indices (`R_ES` … `R_GS`).
pub mod seg {
    /// `R_ES`.
    pub const ES: usize = 0;
    /// `R_CS`.
    pub const CS: usize = 1;
    /// `R_SS`.
    pub const SS: usize = 2;
    /// `R_DS`.
    pub const DS: usize = 3;
    /// `R_FS`.
    pub const FS: usize = 4;
    /// `R_GS`.
    pub const GS: usize = 5;
}

/// `DESC_DPL_SHIFT`: the DPL bits of a segment's `flags`.
pub const DESC_DPL_SHIFT: u32 = 13;
/// `DESC_DPL_MASK`.
pub const DESC_DPL_MASK: u32 = 3 << DESC_DPL_SHIFT;
/// `CR0_PE_MASK`: protected mode.
pub const CR0_PE_MASK: u64 = 1;
/// `HF_CPL_MASK`: the current privilege level in `hflags`.
pub const HF_CPL_MASK: u32 = 3;
/// `HF_GUEST_MASK`: SVM intercepts are active (running a nested guest).
pub const HF_GUEST_MASK: u32 = 1 << 21;
/// `HF2_NPT_MASK`: nested paging enabled.
pub const HF2_NPT_MASK: u32 = 1 << 6;
/// `MSR_IA32_MISC_ENABLE_DEFAULT` (fast strings).
pub const MSR_IA32_MISC_ENABLE_DEFAULT: u64 = 1;
/// `HV_REENLIGHTENMENT_ENABLE_BIT`.
pub const HV_REENLIGHTENMENT_ENABLE_BIT: u64 = 1 << 16;
/// `EXCP01_DB`: debug exception.
pub const EXCP01_DB: i32 = 1;
/// `EXCP0E_PAGE`: page fault.
pub const EXCP0E_PAGE: i32 = 14;

/// CPUID feature bits the `needed` tests read.
pub mod cpuid {
    /// `CPUID_SVM_TSCSCALE` (CPUID 0x8000000A EDX bit 4).
    pub const SVM_TSCSCALE: u64 = 1 << 4;
    /// `ARCH_CAP_TSX_CTRL_MSR` (IA32_ARCH_CAPABILITIES bit 7).
    pub const ARCH_CAP_TSX_CTRL_MSR: u64 = 1 << 7;
    /// `CPUID_7_0_ECX_SGX_LC` (bit 30).
    pub const SGX_LC: u64 = 1 << 30;
    /// `CPUID_D_1_EAX_XFD` (bit 4).
    pub const XFD: u64 = 1 << 4;
    /// `CPUID_7_1_EAX_FRED` (bit 17).
    pub const FRED: u64 = 1 << 17;
    /// `CPUID_7_0_EDX_AMX_TILE` (bit 24).
    pub const AMX_TILE: u64 = 1 << 24;
    /// `CPUID_7_0_EDX_ARCH_LBR` (bit 19).
    pub const ARCH_LBR: u64 = 1 << 19;
}

/// The CPUID feature words (`env->features[]`) that decide subsections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    /// `FEAT_SVM` (CPUID 0x8000000A EDX).
    pub svm: u64,
    /// `FEAT_ARCH_CAPABILITIES` (the IA32_ARCH_CAPABILITIES MSR).
    pub arch_capabilities: u64,
    /// `FEAT_7_0_ECX`.
    pub cpuid_7_0_ecx: u64,
    /// `FEAT_7_0_EDX`.
    pub cpuid_7_0_edx: u64,
    /// `FEAT_7_1_EAX`.
    pub cpuid_7_1_eax: u64,
    /// `FEAT_XSAVE` (CPUID 0xD ECX=1 EAX).
    pub xsave: u64,
}

/// A segment register's cache: nested struct `segment`, version 1.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "segment", version = 1, minimum_version = 1)]
pub struct Segment {
    /// Selector.
    pub selector: u32,
    /// Base address (`target_ulong`: 64 bits here).
    pub base: u64,
    /// Limit.
    pub limit: u32,
    /// Descriptor flags (type, DPL, present, ...).
    pub flags: u32,
}

impl Segment {
    /// The descriptor privilege level.
    pub fn dpl(&self) -> u32 {
        (self.flags >> DESC_DPL_SHIFT) & 3
    }
}

/// An x87 register: nested struct `fpreg` (version 0), whose only field is
/// the `tmp` struct `fpreg_tmp` (QEMU's `FPReg` is a union of a `floatx80`
/// and an MMX register; both are the 64-bit mantissa and 16-bit
/// sign/exponent here).
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fpreg")]
pub struct FpReg {
    /// The mantissa (the MMX register when MMX is in use).
    #[vmstate(skip)]
    pub mant: u64,
    /// Sign and exponent.
    #[vmstate(skip)]
    pub exp: u16,
    /// `VMSTATE_WITH_TMP(FPReg, x86_FPReg_tmp, vmstate_fpreg_tmp)`.
    #[vmstate(tmp = FpRegTmp, name = "tmp")]
    pub _tmp: (),
}

/// The wire form of an x87 register: `tmp` struct `fpreg_tmp`, version 0
/// (`fpreg_pre_save` splits the `floatx80`, `fpreg_post_load` joins it).
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fpreg_tmp")]
pub struct FpRegTmp {
    /// The mantissa.
    pub tmp_mant: u64,
    /// Sign and exponent.
    pub tmp_exp: u16,
}

impl TmpState<FpReg> for FpRegTmp {
    fn from_parent(parent: &FpReg) -> vmstate_core::Result<Self> {
        Ok(FpRegTmp {
            tmp_mant: parent.mant,
            tmp_exp: parent.exp,
        })
    }

    fn into_parent(self, parent: &mut FpReg) -> vmstate_core::Result<()> {
        parent.mant = self.tmp_mant;
        parent.exp = self.tmp_exp;
        Ok(())
    }
}

/// Bits 0..128 of a vector register: nested struct `xmm_reg`, version 1.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "xmm_reg", version = 1, minimum_version = 1)]
pub struct XmmReg {
    /// Bits 0..64 (`ZMM_Q(0)`).
    #[vmstate(name = "_q_ZMMReg[0]")]
    pub q0: u64,
    /// Bits 64..128 (`ZMM_Q(1)`).
    #[vmstate(name = "_q_ZMMReg[1]")]
    pub q1: u64,
}

/// Bits 128..256 of a vector register: nested struct `ymmh_reg`, version 1.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "ymmh_reg", version = 1, minimum_version = 1)]
pub struct YmmhReg {
    /// Bits 128..192 (`ZMM_Q(2)`).
    #[vmstate(name = "_q_ZMMReg[2]")]
    pub q2: u64,
    /// Bits 192..256 (`ZMM_Q(3)`).
    #[vmstate(name = "_q_ZMMReg[3]")]
    pub q3: u64,
}

/// Bits 256..512 of a vector register: nested struct `zmmh_reg`, version 1.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "zmmh_reg", version = 1, minimum_version = 1)]
pub struct ZmmhReg {
    /// Bits 256..320 (`ZMM_Q(4)`).
    #[vmstate(name = "_q_ZMMReg[4]")]
    pub q4: u64,
    /// Bits 320..384 (`ZMM_Q(5)`).
    #[vmstate(name = "_q_ZMMReg[5]")]
    pub q5: u64,
    /// Bits 384..448 (`ZMM_Q(6)`).
    #[vmstate(name = "_q_ZMMReg[6]")]
    pub q6: u64,
    /// Bits 448..512 (`ZMM_Q(7)`).
    #[vmstate(name = "_q_ZMMReg[7]")]
    pub q7: u64,
}

/// A whole register of 16..32 (AVX-512 only): nested struct
/// `hi16_zmm_reg`, version 1.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "hi16_zmm_reg", version = 1, minimum_version = 1)]
pub struct Hi16ZmmReg {
    /// Bits 0..64 (`ZMM_Q(0)`).
    #[vmstate(name = "_q_ZMMReg[0]")]
    pub q0: u64,
    /// Bits 64..128.
    #[vmstate(name = "_q_ZMMReg[1]")]
    pub q1: u64,
    /// Bits 128..192.
    #[vmstate(name = "_q_ZMMReg[2]")]
    pub q2: u64,
    /// Bits 192..256.
    #[vmstate(name = "_q_ZMMReg[3]")]
    pub q3: u64,
    /// Bits 256..320.
    #[vmstate(name = "_q_ZMMReg[4]")]
    pub q4: u64,
    /// Bits 320..384.
    #[vmstate(name = "_q_ZMMReg[5]")]
    pub q5: u64,
    /// Bits 384..448.
    #[vmstate(name = "_q_ZMMReg[6]")]
    pub q6: u64,
    /// Bits 448..512.
    #[vmstate(name = "_q_ZMMReg[7]")]
    pub q7: u64,
}

/// An MPX bound register: nested struct `bnd_regs`, version 1.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "bnd_regs", version = 1, minimum_version = 1)]
pub struct BndReg {
    /// Lower bound.
    pub lb: u64,
    /// Upper bound.
    pub ub: u64,
}

/// A variable MTRR: nested struct `mtrr_var`, version 1.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "mtrr_var", version = 1, minimum_version = 1)]
pub struct MtrrVar {
    /// `IA32_MTRR_PHYSBASEn`.
    pub base: u64,
    /// `IA32_MTRR_PHYSMASKn`.
    pub mask: u64,
}

/// An architectural LBR record: nested struct `lbr_records_var`, version 1.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "lbr_records_var", version = 1, minimum_version = 1)]
pub struct LbrEntry {
    /// Branch source.
    pub from: u64,
    /// Branch target.
    pub to: u64,
    /// Branch information.
    pub info: u64,
}

/// What the VMX part of the nested state needs of its parent: the size of
/// the state the kernel returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NestedSize {
    /// `kvm_nested_state.size`.
    pub size: u32,
}

/// The VMX part of KVM's nested state: subsection
/// `cpu/kvm_nested_state/vmx`, version 1, with the VMCS12 and shadow VMCS12
/// as subsections of their own.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "cpu/kvm_nested_state/vmx", version = 1, minimum_version = 1,
          context = NestedSize, default)]
pub struct KvmNestedVmx {
    /// Guest physical address of the VMXON region (-1: VMX is off).
    #[vmstate(name = "hdr.vmx.vmxon_pa", default = u64::MAX)]
    pub vmxon_pa: u64,
    /// Guest physical address of the current VMCS12 (-1: none).
    #[vmstate(name = "hdr.vmx.vmcs12_pa", default = u64::MAX)]
    pub vmcs12_pa: u64,
    /// SMM flags of the nested guest.
    #[vmstate(name = "hdr.vmx.smm.flags")]
    pub smm_flags: u16,
    /// Subsection `cpu/kvm_nested_state/vmx/vmcs12`.
    #[vmstate(subsection, needed = KvmNestedVmx::vmcs12_needed)]
    pub vmcs12: Vmcs12,
    /// Subsection `cpu/kvm_nested_state/vmx/shadow_vmcs12`.
    #[vmstate(subsection, needed = KvmNestedVmx::shadow_vmcs12_needed)]
    pub shadow_vmcs12: ShadowVmcs12,
}

impl KvmNestedVmx {
    fn vmcs12_needed(&self, nested: &NestedSize) -> bool {
        nested.size > KVM_NESTED_STATE_DATA_OFFSET
    }
    fn shadow_vmcs12_needed(&self, nested: &NestedSize) -> bool {
        nested.size > KVM_NESTED_STATE_DATA_OFFSET + KVM_STATE_NESTED_VMCS_SIZE as u32
    }
}

/// Subsection `cpu/kvm_nested_state/vmx/vmcs12`, version 1.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(
    name = "cpu/kvm_nested_state/vmx/vmcs12",
    version = 1,
    minimum_version = 1,
    default
)]
pub struct Vmcs12 {
    /// The cached VMCS12 (`data.vmx[0].vmcs12`, a `uint8` array).
    #[vmstate(name = "data.vmx[0].vmcs12")]
    pub vmcs12: Box<[u8; KVM_STATE_NESTED_VMCS_SIZE]>,
}

/// Subsection `cpu/kvm_nested_state/vmx/shadow_vmcs12`, version 1.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(
    name = "cpu/kvm_nested_state/vmx/shadow_vmcs12",
    version = 1,
    minimum_version = 1,
    default
)]
pub struct ShadowVmcs12 {
    /// The shadow VMCS12 (`data.vmx[0].shadow_vmcs12`).
    #[vmstate(name = "data.vmx[0].shadow_vmcs12")]
    pub shadow_vmcs12: Box<[u8; KVM_STATE_NESTED_VMCS_SIZE]>,
}

/// KVM's nested virtualization state (`struct kvm_nested_state`): nested
/// struct `cpu/kvm_nested_state`, version 1, sent through the pointer
/// `env.nested_state`.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(
    name = "cpu/kvm_nested_state",
    version = 1,
    minimum_version = 1,
    default
)]
pub struct KvmNestedState {
    /// `KVM_STATE_NESTED_*` flags.
    pub flags: u16,
    /// `KVM_STATE_NESTED_FORMAT_VMX` or `_SVM`.
    pub format: u16,
    /// Bytes of state the kernel returned (header and data).
    pub size: u32,
    /// Subsection `cpu/kvm_nested_state/vmx`.
    #[vmstate(subsection, needed = KvmNestedState::vmx_needed,
              context = NestedSize { size: self.size })]
    pub vmx: KvmNestedVmx,

    /// Subsection `cpu/kvm_nested_state/svm`: the SVM header and VMCB12.
    #[vmstate(subsection = "cpu/kvm_nested_state/svm", version = 1, minimum_version = 1,
              needed = KvmNestedState::svm_needed)]
    pub _svm: (),
    /// Guest physical address of the VMCB12.
    #[vmstate(name = "hdr.svm.vmcb_pa")]
    pub vmcb_pa: u64,
    /// The cached VMCB12 (`data.svm[0].vmcb12`, a `uint8` array).
    #[vmstate(name = "data.svm[0].vmcb12")]
    pub vmcb12: Box<[u8; KVM_STATE_NESTED_VMCS_SIZE]>,
}

impl KvmNestedState {
    /// `vmx_nested_state_needed()`.
    pub fn vmx_needed(&self) -> bool {
        self.format == KVM_STATE_NESTED_FORMAT_VMX && self.vmx.vmxon_pa != u64::MAX
    }
    /// `svm_nested_state_needed()`.
    pub fn svm_needed(&self) -> bool {
        self.format == KVM_STATE_NESTED_FORMAT_SVM && self.size > KVM_NESTED_STATE_DATA_OFFSET
    }
}

/// The CPU: section `cpu`, version 12 (loads 11 and 12), x86_64 target.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "cpu", version = 12, minimum_version = 11, default,
          pre_save = X86Cpu::pre_save, post_load = X86Cpu::post_load)]
pub struct X86Cpu {
    /// General purpose registers RAX … R15.
    #[vmstate(name = "env.regs")]
    pub regs: [u64; CPU_NB_REGS],
    /// Instruction pointer.
    #[vmstate(name = "env.eip")]
    pub eip: u64,
    /// Flags.
    #[vmstate(name = "env.eflags", default = 0x2)]
    pub eflags: u64,
    /// QEMU's hidden flags (`HF_*`); post_load recomputes the CPL from SS.
    #[vmstate(name = "env.hflags")]
    pub hflags: u32,
    /// x87 control word.
    #[vmstate(name = "env.fpuc", default = 0x37f)]
    pub fpuc: u16,
    /// x87 status word with the stack top in bits 11..14 (pre_save).
    #[vmstate(name = "env.fpus_vmstate")]
    pub fpus_vmstate: u16,
    /// x87 tag word, one bit per register, 1 = valid (pre_save).
    #[vmstate(name = "env.fptag_vmstate")]
    pub fptag_vmstate: u16,
    /// Was the register format (0: softfloat); pre_save writes 0, post_load refuses others.
    #[vmstate(name = "env.fpregs_format_vmstate")]
    pub fpregs_format_vmstate: u16,
    /// x87 / MMX registers.
    #[vmstate(name = "env.fpregs")]
    pub fpregs: [FpReg; 8],
    /// ES, CS, SS, DS, FS, GS.
    #[vmstate(name = "env.segs")]
    pub segs: [Segment; 6],
    /// LDTR.
    #[vmstate(name = "env.ldt")]
    pub ldt: Segment,
    /// TR.
    #[vmstate(name = "env.tr")]
    pub tr: Segment,
    /// GDTR.
    #[vmstate(name = "env.gdt")]
    pub gdt: Segment,
    /// IDTR.
    #[vmstate(name = "env.idt")]
    pub idt: Segment,
    /// `IA32_SYSENTER_CS`.
    #[vmstate(name = "env.sysenter_cs")]
    pub sysenter_cs: u32,
    /// `IA32_SYSENTER_ESP`.
    #[vmstate(name = "env.sysenter_esp")]
    pub sysenter_esp: u64,
    /// `IA32_SYSENTER_EIP`.
    #[vmstate(name = "env.sysenter_eip")]
    pub sysenter_eip: u64,
    /// Control registers CR0 … CR4: sent through the view below (CR1 is not sent).
    #[vmstate(skip)]
    pub cr: [u64; 5],
    /// `env.cr[0]`.
    #[vmstate(view = cr, index = 0, name = "env.cr[0]")]
    pub _cr0: (),
    /// `env.cr[2]`.
    #[vmstate(view = cr, index = 2, name = "env.cr[2]")]
    pub _cr2: (),
    /// `env.cr[3]`.
    #[vmstate(view = cr, index = 3, name = "env.cr[3]")]
    pub _cr3: (),
    /// `env.cr[4]`.
    #[vmstate(view = cr, index = 4, name = "env.cr[4]")]
    pub _cr4: (),
    /// Debug registers DR0 … DR7.
    #[vmstate(name = "env.dr")]
    pub dr: [u64; 8],
    /// The A20 gate as an address mask.
    #[vmstate(name = "env.a20_mask", default = -1)]
    pub a20_mask: i32,
    /// MXCSR.
    #[vmstate(name = "env.mxcsr", default = 0x1f80)]
    pub mxcsr: u32,
    /// Bits 0..128 of vector registers 0..16 (the first `env.xmm_regs`).
    #[vmstate(name = "env.xmm_regs")]
    pub xmm_regs: [XmmReg; CPU_NB_REGS],
    /// `IA32_EFER`.
    #[vmstate(name = "env.efer")]
    pub efer: u64,
    /// `IA32_STAR`.
    #[vmstate(name = "env.star")]
    pub star: u64,
    /// `IA32_LSTAR`.
    #[vmstate(name = "env.lstar")]
    pub lstar: u64,
    /// `IA32_CSTAR`.
    #[vmstate(name = "env.cstar")]
    pub cstar: u64,
    /// `IA32_FMASK`.
    #[vmstate(name = "env.fmask")]
    pub fmask: u64,
    /// `IA32_KERNEL_GS_BASE`.
    #[vmstate(name = "env.kernelgsbase")]
    pub kernelgsbase: u64,
    /// SMRAM base.
    #[vmstate(name = "env.smbase", default = 0x30000)]
    pub smbase: u32,
    /// `IA32_PAT`.
    #[vmstate(name = "env.pat", default = 0x0007_0406_0007_0406)]
    pub pat: u64,
    /// More hidden flags (`HF2_*`).
    #[vmstate(name = "env.hflags2")]
    pub hflags2: u32,
    /// SVM host save area.
    #[vmstate(name = "env.vm_hsave")]
    pub vm_hsave: u64,
    /// SVM VMCB address.
    #[vmstate(name = "env.vm_vmcb")]
    pub vm_vmcb: u64,
    /// TSC offset of the nested guest.
    #[vmstate(name = "env.tsc_offset")]
    pub tsc_offset: u64,
    /// SVM intercepts.
    #[vmstate(name = "env.intercept")]
    pub intercept: u64,
    /// SVM CR read intercepts.
    #[vmstate(name = "env.intercept_cr_read")]
    pub intercept_cr_read: u16,
    /// SVM CR write intercepts.
    #[vmstate(name = "env.intercept_cr_write")]
    pub intercept_cr_write: u16,
    /// SVM DR read intercepts.
    #[vmstate(name = "env.intercept_dr_read")]
    pub intercept_dr_read: u16,
    /// SVM DR write intercepts.
    #[vmstate(name = "env.intercept_dr_write")]
    pub intercept_dr_write: u16,
    /// SVM exception intercepts.
    #[vmstate(name = "env.intercept_exceptions")]
    pub intercept_exceptions: u32,
    /// SVM virtual TPR.
    #[vmstate(name = "env.v_tpr")]
    pub v_tpr: u8,
    /// Fixed-range MTRRs.
    #[vmstate(name = "env.mtrr_fixed")]
    pub mtrr_fixed: [u64; 11],
    /// `IA32_MTRR_DEF_TYPE`.
    #[vmstate(name = "env.mtrr_deftype")]
    pub mtrr_deftype: u64,
    /// Variable-range MTRRs (`VMSTATE_MTRR_VARS(.., 8)`: version 8 and newer).
    #[vmstate(name = "env.mtrr_var", since = 8)]
    pub mtrr_var: [MtrrVar; MSR_MTRRCAP_VCNT],
    /// Vector of the interrupt being injected (-1: none).
    #[vmstate(name = "env.interrupt_injected", default = -1)]
    pub interrupt_injected: i32,
    /// KVM multiprocessing state (`KVM_MP_STATE_*`).
    #[vmstate(name = "env.mp_state")]
    pub mp_state: u32,
    /// Time stamp counter.
    #[vmstate(name = "env.tsc")]
    pub tsc: u64,
    /// Exception being delivered (-1: none).
    #[vmstate(name = "env.exception_nr", default = -1)]
    pub exception_nr: i32,
    /// The injected event is a software interrupt.
    #[vmstate(name = "env.soft_interrupt")]
    pub soft_interrupt: u8,
    /// An NMI is being injected.
    #[vmstate(name = "env.nmi_injected")]
    pub nmi_injected: u8,
    /// An NMI is pending.
    #[vmstate(name = "env.nmi_pending")]
    pub nmi_pending: u8,
    /// The exception has an error code.
    #[vmstate(name = "env.has_error_code")]
    pub has_error_code: u8,
    /// Vector of the last SIPI.
    #[vmstate(name = "env.sipi_vector")]
    pub sipi_vector: u32,
    /// `IA32_MCG_CAP`.
    #[vmstate(name = "env.mcg_cap")]
    pub mcg_cap: u64,
    /// `IA32_MCG_STATUS`.
    #[vmstate(name = "env.mcg_status")]
    pub mcg_status: u64,
    /// `IA32_MCG_CTL`.
    #[vmstate(name = "env.mcg_ctl")]
    pub mcg_ctl: u64,
    /// MCE bank registers (CTL, STATUS, ADDR, MISC of each bank).
    #[vmstate(name = "env.mce_banks")]
    pub mce_banks: [u64; MCE_BANKS_DEF * 4],
    /// `IA32_TSC_AUX`.
    #[vmstate(name = "env.tsc_aux")]
    pub tsc_aux: u64,
    /// KVM pvclock system time MSR.
    #[vmstate(name = "env.system_time_msr")]
    pub system_time_msr: u64,
    /// KVM pvclock wall clock MSR.
    #[vmstate(name = "env.wall_clock_msr")]
    pub wall_clock_msr: u64,
    /// XCR0 (version 12).
    #[vmstate(name = "env.xcr0", since = 12, default = 1)]
    pub xcr0: u64,
    /// The XSAVE header's XSTATE_BV (version 12).
    #[vmstate(name = "env.xstate_bv", since = 12)]
    pub xstate_bv: u64,
    /// Bits 128..256 of vector registers 0..16 (the second
    /// `env.xmm_regs`, version 12).
    #[vmstate(name = "env.xmm_regs", since = 12)]
    pub ymmh_regs: [YmmhReg; CPU_NB_REGS],

    /// Subsection `cpu/exception_info`: an exception pending in a nested guest.
    #[vmstate(subsection = "cpu/exception_info", version = 1, minimum_version = 1,
              needed = X86Cpu::exception_info_needed)]
    pub _exception_info: (),
    /// The exception is pending (not yet injected).
    #[vmstate(name = "env.exception_pending")]
    pub exception_pending: u8,
    /// The exception is injected.
    #[vmstate(name = "env.exception_injected")]
    pub exception_injected: u8,
    /// The exception has a payload (CR2 or DR6 value).
    #[vmstate(name = "env.exception_has_payload")]
    pub exception_has_payload: u8,
    /// The payload.
    #[vmstate(name = "env.exception_payload")]
    pub exception_payload: u64,

    /// Subsection `cpu/async_pf_msr`.
    #[vmstate(subsection = "cpu/async_pf_msr", version = 1, minimum_version = 1,
              needed = X86Cpu::async_pf_msr_needed)]
    pub _async_pf_msr: (),
    /// KVM async page fault MSR.
    #[vmstate(name = "env.async_pf_en_msr")]
    pub async_pf_en_msr: u64,

    /// Subsection `cpu/async_pf_int_msr`.
    #[vmstate(subsection = "cpu/async_pf_int_msr", version = 1, minimum_version = 1,
              needed = X86Cpu::async_pf_int_msr_needed)]
    pub _async_pf_int_msr: (),
    /// KVM async page fault interrupt MSR.
    #[vmstate(name = "env.async_pf_int_msr")]
    pub async_pf_int_msr: u64,

    /// Subsection `cpu/async_pv_eoi_msr`.
    #[vmstate(subsection = "cpu/async_pv_eoi_msr", version = 1, minimum_version = 1,
              needed = X86Cpu::pv_eoi_msr_needed)]
    pub _pv_eoi_msr: (),
    /// KVM PV EOI MSR.
    #[vmstate(name = "env.pv_eoi_en_msr")]
    pub pv_eoi_en_msr: u64,

    /// Subsection `cpu/steal_time_msr`.
    #[vmstate(subsection = "cpu/steal_time_msr", version = 1, minimum_version = 1,
              needed = X86Cpu::steal_time_msr_needed)]
    pub _steal_time_msr: (),
    /// KVM steal time MSR.
    #[vmstate(name = "env.steal_time_msr")]
    pub steal_time_msr: u64,

    /// Subsection `cpu/poll_control_msr` (sent unless the MSR has its reset value 1).
    #[vmstate(subsection = "cpu/poll_control_msr", version = 1, minimum_version = 1,
              needed = X86Cpu::poll_control_msr_needed)]
    pub _poll_control_msr: (),
    /// KVM poll control MSR (host-side haltpoll enabled: 1).
    #[vmstate(name = "env.poll_control_msr", default = 1)]
    pub poll_control_msr: u64,

    /// Subsection `cpu/fpop_ip_dp`.
    #[vmstate(subsection = "cpu/fpop_ip_dp", version = 1, minimum_version = 1,
              needed = X86Cpu::fpop_ip_dp_needed)]
    pub _fpop_ip_dp: (),
    /// Last x87 opcode.
    #[vmstate(name = "env.fpop")]
    pub fpop: u16,
    /// Last x87 instruction pointer.
    #[vmstate(name = "env.fpip")]
    pub fpip: u64,
    /// Last x87 data pointer.
    #[vmstate(name = "env.fpdp")]
    pub fpdp: u64,

    /// Subsection `cpu/msr_tsc_adjust`.
    #[vmstate(subsection = "cpu/msr_tsc_adjust", version = 1, minimum_version = 1,
              needed = X86Cpu::tsc_adjust_needed)]
    pub _msr_tsc_adjust: (),
    /// `IA32_TSC_ADJUST`.
    #[vmstate(name = "env.tsc_adjust")]
    pub tsc_adjust: u64,

    /// Subsection `cpu/msr_tscdeadline`.
    #[vmstate(subsection = "cpu/msr_tscdeadline", version = 1, minimum_version = 1,
              needed = X86Cpu::tscdeadline_needed)]
    pub _msr_tscdeadline: (),
    /// `IA32_TSC_DEADLINE`.
    #[vmstate(name = "env.tsc_deadline")]
    pub tsc_deadline: u64,

    /// Subsection `cpu/msr_ia32_misc_enable` (sent unless it has its default).
    #[vmstate(subsection = "cpu/msr_ia32_misc_enable", version = 1, minimum_version = 1,
              needed = X86Cpu::misc_enable_needed)]
    pub _msr_ia32_misc_enable: (),
    /// `IA32_MISC_ENABLE`.
    #[vmstate(name = "env.msr_ia32_misc_enable", default = MSR_IA32_MISC_ENABLE_DEFAULT)]
    pub msr_ia32_misc_enable: u64,

    /// Subsection `cpu/msr_ia32_feature_control`.
    #[vmstate(subsection = "cpu/msr_ia32_feature_control", version = 1, minimum_version = 1,
              needed = X86Cpu::feature_control_needed)]
    pub _msr_ia32_feature_control: (),
    /// `IA32_FEATURE_CONTROL`.
    #[vmstate(name = "env.msr_ia32_feature_control")]
    pub msr_ia32_feature_control: u64,

    /// Subsection `cpu/msr_architectural_pmu`.
    #[vmstate(subsection = "cpu/msr_architectural_pmu", version = 1, minimum_version = 1,
              needed = X86Cpu::pmu_enable_needed)]
    pub _msr_architectural_pmu: (),
    /// `IA32_FIXED_CTR_CTRL`.
    #[vmstate(name = "env.msr_fixed_ctr_ctrl")]
    pub msr_fixed_ctr_ctrl: u64,
    /// `IA32_PERF_GLOBAL_CTRL`.
    #[vmstate(name = "env.msr_global_ctrl")]
    pub msr_global_ctrl: u64,
    /// `IA32_PERF_GLOBAL_STATUS`.
    #[vmstate(name = "env.msr_global_status")]
    pub msr_global_status: u64,
    /// `IA32_PERF_GLOBAL_OVF_CTRL`.
    #[vmstate(name = "env.msr_global_ovf_ctrl")]
    pub msr_global_ovf_ctrl: u64,
    /// Fixed-function counters.
    #[vmstate(name = "env.msr_fixed_counters")]
    pub msr_fixed_counters: [u64; MAX_FIXED_COUNTERS],
    /// General purpose counters.
    #[vmstate(name = "env.msr_gp_counters")]
    pub msr_gp_counters: [u64; MAX_GP_COUNTERS],
    /// Event selectors.
    #[vmstate(name = "env.msr_gp_evtsel")]
    pub msr_gp_evtsel: [u64; MAX_GP_COUNTERS],

    /// Subsection `cpu/mpx`.
    #[vmstate(subsection = "cpu/mpx", version = 1, minimum_version = 1,
              needed = X86Cpu::mpx_needed)]
    pub _mpx: (),
    /// MPX bound registers BND0 … BND3.
    #[vmstate(name = "env.bnd_regs")]
    pub bnd_regs: [BndReg; 4],
    /// `BNDCFGU`.
    #[vmstate(name = "env.bndcs_regs.cfgu")]
    pub bndcs_cfgu: u64,
    /// `BNDSTATUS`.
    #[vmstate(name = "env.bndcs_regs.sts")]
    pub bndcs_sts: u64,
    /// `IA32_BNDCFGS`.
    #[vmstate(name = "env.msr_bndcfgs")]
    pub msr_bndcfgs: u64,

    /// Subsection `cpu/msr_hyperv_hypercall`.
    #[vmstate(subsection = "cpu/msr_hyperv_hypercall", version = 1, minimum_version = 1,
              needed = X86Cpu::hyperv_hypercall_needed)]
    pub _msr_hyperv_hypercall: (),
    /// `HV_X64_MSR_GUEST_OS_ID`.
    #[vmstate(name = "env.msr_hv_guest_os_id")]
    pub msr_hv_guest_os_id: u64,
    /// `HV_X64_MSR_HYPERCALL`.
    #[vmstate(name = "env.msr_hv_hypercall")]
    pub msr_hv_hypercall: u64,

    /// Subsection `cpu/msr_hyperv_vapic`.
    #[vmstate(subsection = "cpu/msr_hyperv_vapic", version = 1, minimum_version = 1,
              needed = X86Cpu::hyperv_vapic_needed)]
    pub _msr_hyperv_vapic: (),
    /// `HV_X64_MSR_APIC_ASSIST_PAGE`.
    #[vmstate(name = "env.msr_hv_vapic")]
    pub msr_hv_vapic: u64,

    /// Subsection `cpu/msr_hyperv_time`.
    #[vmstate(subsection = "cpu/msr_hyperv_time", version = 1, minimum_version = 1,
              needed = X86Cpu::hyperv_time_needed)]
    pub _msr_hyperv_time: (),
    /// `HV_X64_MSR_REFERENCE_TSC`.
    #[vmstate(name = "env.msr_hv_tsc")]
    pub msr_hv_tsc: u64,

    /// Subsection `cpu/msr_hyperv_crash`.
    #[vmstate(subsection = "cpu/msr_hyperv_crash", version = 1, minimum_version = 1,
              needed = X86Cpu::hyperv_crash_needed)]
    pub _msr_hyperv_crash: (),
    /// `HV_X64_MSR_CRASH_P0` … `P4`.
    #[vmstate(name = "env.msr_hv_crash_params")]
    pub msr_hv_crash_params: [u64; HV_CRASH_PARAMS],

    /// Subsection `cpu/msr_hyperv_runtime`.
    #[vmstate(subsection = "cpu/msr_hyperv_runtime", version = 1, minimum_version = 1,
              needed = X86Cpu::hyperv_runtime_needed)]
    pub _msr_hyperv_runtime: (),
    /// `HV_X64_MSR_VP_RUNTIME`.
    #[vmstate(name = "env.msr_hv_runtime")]
    pub msr_hv_runtime: u64,

    /// Subsection `cpu/msr_hyperv_synic` (QEMU's post_load updates the SynIC,
    /// which is not state here).
    #[vmstate(subsection = "cpu/msr_hyperv_synic", version = 1, minimum_version = 1,
              needed = X86Cpu::hyperv_synic_needed)]
    pub _msr_hyperv_synic: (),
    /// `HV_X64_MSR_SCONTROL`.
    #[vmstate(name = "env.msr_hv_synic_control")]
    pub msr_hv_synic_control: u64,
    /// `HV_X64_MSR_SIEFP`.
    #[vmstate(name = "env.msr_hv_synic_evt_page")]
    pub msr_hv_synic_evt_page: u64,
    /// `HV_X64_MSR_SIMP`.
    #[vmstate(name = "env.msr_hv_synic_msg_page")]
    pub msr_hv_synic_msg_page: u64,
    /// `HV_X64_MSR_SINT0` … `SINT15`.
    #[vmstate(name = "env.msr_hv_synic_sint")]
    pub msr_hv_synic_sint: [u64; HV_SINT_COUNT],

    /// Subsection `cpu/msr_hyperv_stimer`.
    #[vmstate(subsection = "cpu/msr_hyperv_stimer", version = 1, minimum_version = 1,
              needed = X86Cpu::hyperv_stimer_needed)]
    pub _msr_hyperv_stimer: (),
    /// Synthetic timer configurations.
    #[vmstate(name = "env.msr_hv_stimer_config")]
    pub msr_hv_stimer_config: [u64; HV_STIMER_COUNT],
    /// Synthetic timer counts.
    #[vmstate(name = "env.msr_hv_stimer_count")]
    pub msr_hv_stimer_count: [u64; HV_STIMER_COUNT],

    /// Subsection `cpu/msr_hyperv_reenlightenment` (post_load: re-enlightenment
    /// needs a fixed TSC frequency on the destination).
    #[vmstate(subsection = "cpu/msr_hyperv_reenlightenment", version = 1,
              minimum_version = 1, needed = X86Cpu::hyperv_reenlightenment_needed,
              post_load = X86Cpu::hyperv_reenlightenment_post_load)]
    pub _msr_hyperv_reenlightenment: (),
    /// `HV_X64_MSR_REENLIGHTENMENT_CONTROL`.
    #[vmstate(name = "env.msr_hv_reenlightenment_control")]
    pub msr_hv_reenlightenment_control: u64,
    /// `HV_X64_MSR_TSC_EMULATION_CONTROL`.
    #[vmstate(name = "env.msr_hv_tsc_emulation_control")]
    pub msr_hv_tsc_emulation_control: u64,
    /// `HV_X64_MSR_TSC_EMULATION_STATUS`.
    #[vmstate(name = "env.msr_hv_tsc_emulation_status")]
    pub msr_hv_tsc_emulation_status: u64,

    /// Subsection `cpu/avx512`: the opmask registers and the rest of the
    /// vector register file (the third and fourth `env.xmm_regs`).
    #[vmstate(subsection = "cpu/avx512", version = 1, minimum_version = 1,
              needed = X86Cpu::avx512_needed)]
    pub _avx512: (),
    /// Opmask registers k0 … k7.
    #[vmstate(name = "env.opmask_regs")]
    pub opmask_regs: [u64; NB_OPMASK_REGS],
    /// Bits 256..512 of vector registers 0..16.
    #[vmstate(name = "env.xmm_regs")]
    pub zmmh_regs: [ZmmhReg; CPU_NB_REGS],
    /// Vector registers 16..32, all 512 bits.
    #[vmstate(name = "env.xmm_regs")]
    pub hi16_zmm_regs: [Hi16ZmmReg; CPU_NB_REGS],

    /// Subsection `cpu/xss`.
    #[vmstate(subsection = "cpu/xss", version = 1, minimum_version = 1,
              needed = X86Cpu::xss_needed)]
    pub _xss: (),
    /// `IA32_XSS`.
    #[vmstate(name = "env.xss")]
    pub xss: u64,

    /// Subsection `cpu/umwait`.
    #[vmstate(subsection = "cpu/umwait", version = 1, minimum_version = 1,
              needed = X86Cpu::umwait_needed)]
    pub _umwait: (),
    /// `IA32_UMWAIT_CONTROL`.
    #[vmstate(name = "env.umwait")]
    pub umwait: u32,

    /// Subsection `cpu/tsc_khz` (KVM: the guest's TSC frequency).
    #[vmstate(subsection = "cpu/tsc_khz", version = 1, minimum_version = 1,
              needed = X86Cpu::tsc_khz_needed)]
    pub _tsc_khz: (),
    /// TSC frequency in kHz (0: not known).
    #[vmstate(name = "env.tsc_khz")]
    pub tsc_khz: i64,

    /// Subsection `cpu/msr_smi_count`.
    #[vmstate(subsection = "cpu/msr_smi_count", version = 1, minimum_version = 1,
              needed = X86Cpu::msr_smi_count_needed)]
    pub _msr_smi_count: (),
    /// `MSR_SMI_COUNT`.
    #[vmstate(name = "env.msr_smi_count")]
    pub msr_smi_count: u64,

    /// Subsection `cpu/pkru`.
    #[vmstate(subsection = "cpu/pkru", version = 1, minimum_version = 1,
              needed = X86Cpu::pkru_needed)]
    pub _pkru: (),
    /// PKRU.
    #[vmstate(name = "env.pkru")]
    pub pkru: u32,

    /// Subsection `cpu/pkrs`.
    #[vmstate(subsection = "cpu/pkrs", version = 1, minimum_version = 1,
              needed = X86Cpu::pkrs_needed)]
    pub _pkrs: (),
    /// `IA32_PKRS`.
    #[vmstate(name = "env.pkrs")]
    pub pkrs: u32,

    /// Subsection `cpu/spec_ctrl`.
    #[vmstate(subsection = "cpu/spec_ctrl", version = 1, minimum_version = 1,
              needed = X86Cpu::spec_ctrl_needed)]
    pub _spec_ctrl: (),
    /// `IA32_SPEC_CTRL`.
    #[vmstate(name = "env.spec_ctrl")]
    pub spec_ctrl: u64,

    /// Subsection `cpu/amd_tsc_scale_msr` (a CPU with SVM TSC scaling).
    #[vmstate(subsection = "cpu/amd_tsc_scale_msr", version = 1, minimum_version = 1,
              needed = X86Cpu::amd_tsc_scale_msr_needed)]
    pub _amd_tsc_scale_msr: (),
    /// `MSR_AMD64_TSC_RATIO`.
    #[vmstate(name = "env.amd_tsc_scale_msr")]
    pub amd_tsc_scale_msr: u64,

    /// Subsection `cpu/mcg_ext_ctl`.
    #[vmstate(subsection = "cpu/mcg_ext_ctl", version = 1, minimum_version = 1,
              needed = X86Cpu::mcg_ext_ctl_needed)]
    pub _mcg_ext_ctl: (),
    /// `IA32_MCG_EXT_CTL`.
    #[vmstate(name = "env.mcg_ext_ctl")]
    pub mcg_ext_ctl: u64,

    /// Subsection `cpu/intel_pt`.
    #[vmstate(subsection = "cpu/intel_pt", version = 1, minimum_version = 1,
              needed = X86Cpu::intel_pt_needed)]
    pub _intel_pt: (),
    /// `IA32_RTIT_CTL`.
    #[vmstate(name = "env.msr_rtit_ctrl")]
    pub msr_rtit_ctrl: u64,
    /// `IA32_RTIT_STATUS`.
    #[vmstate(name = "env.msr_rtit_status")]
    pub msr_rtit_status: u64,
    /// `IA32_RTIT_OUTPUT_BASE`.
    #[vmstate(name = "env.msr_rtit_output_base")]
    pub msr_rtit_output_base: u64,
    /// `IA32_RTIT_OUTPUT_MASK_PTRS`.
    #[vmstate(name = "env.msr_rtit_output_mask")]
    pub msr_rtit_output_mask: u64,
    /// `IA32_RTIT_CR3_MATCH`.
    #[vmstate(name = "env.msr_rtit_cr3_match")]
    pub msr_rtit_cr3_match: u64,
    /// `IA32_RTIT_ADDRn_A/B`.
    #[vmstate(name = "env.msr_rtit_addrs")]
    pub msr_rtit_addrs: [u64; MAX_RTIT_ADDRS],

    /// Subsection `cpu/virt_ssbd`.
    #[vmstate(subsection = "cpu/virt_ssbd", version = 1, minimum_version = 1,
              needed = X86Cpu::virt_ssbd_needed)]
    pub _virt_ssbd: (),
    /// `MSR_VIRT_SPEC_CTRL`.
    #[vmstate(name = "env.virt_ssbd")]
    pub virt_ssbd: u64,

    /// Subsection `cpu/svn_npt` (QEMU's spelling), nested paging of a nested guest.
    #[vmstate(subsection = "cpu/svn_npt", version = 1, minimum_version = 1,
              needed = X86Cpu::svm_npt_needed)]
    pub _svm_npt: (),
    /// The nested guest's CR3.
    #[vmstate(name = "env.nested_cr3")]
    pub nested_cr3: u64,
    /// The nested guest's paging mode.
    #[vmstate(name = "env.nested_pg_mode")]
    pub nested_pg_mode: u32,

    /// Subsection `cpu/svm_guest` (TCG only).
    #[vmstate(subsection = "cpu/svm_guest", version = 1, minimum_version = 1,
              needed = X86Cpu::svm_guest_needed)]
    pub _svm_guest: (),
    /// The VMCB's interrupt control.
    #[vmstate(name = "env.int_ctl")]
    pub int_ctl: u32,

    /// Subsection `cpu/nested_state` (KVM): the kernel's nested
    /// virtualization state, checked on load against what this kernel takes.
    #[vmstate(subsection = "cpu/nested_state", version = 1, minimum_version = 1,
              needed = X86Cpu::nested_state_needed, post_load = X86Cpu::nested_state_post_load)]
    pub _nested_state: (),
    /// `env.nested_state` (a pointer in QEMU, `VMSTATE_STRUCT_POINTER`).
    #[vmstate(name = "env.nested_state")]
    pub nested_state: Box<KvmNestedState>,

    /// Subsection `cpu/xen_vcpu` (Xen emulation under KVM).
    #[vmstate(subsection = "cpu/xen_vcpu", version = 1, minimum_version = 1,
              needed = X86Cpu::xen_vcpu_needed)]
    pub _xen_vcpu: (),
    /// Guest address of the vCPU info.
    #[vmstate(name = "env.xen_vcpu_info_gpa")]
    pub xen_vcpu_info_gpa: u64,
    /// Default guest address of the vCPU info (in the shared info page).
    #[vmstate(name = "env.xen_vcpu_info_default_gpa")]
    pub xen_vcpu_info_default_gpa: u64,
    /// Guest address of the vCPU time info.
    #[vmstate(name = "env.xen_vcpu_time_info_gpa")]
    pub xen_vcpu_time_info_gpa: u64,
    /// Guest address of the runstate area.
    #[vmstate(name = "env.xen_vcpu_runstate_gpa")]
    pub xen_vcpu_runstate_gpa: u64,
    /// Event channel upcall vector.
    #[vmstate(name = "env.xen_vcpu_callback_vector")]
    pub xen_vcpu_callback_vector: u8,
    /// Event channel ports bound to the virtual IRQs.
    #[vmstate(name = "env.xen_virq")]
    pub xen_virq: [u16; XEN_NR_VIRQS],
    /// Expiry of the single-shot timer.
    #[vmstate(name = "env.xen_singleshot_timer_ns")]
    pub xen_singleshot_timer_ns: u64,
    /// Period of the periodic timer.
    #[vmstate(name = "env.xen_periodic_timer_period")]
    pub xen_periodic_timer_period: u64,

    /// Subsection `cpu/msr_tsx_ctrl` (a CPU with `IA32_TSX_CTRL`).
    #[vmstate(subsection = "cpu/msr_tsx_ctrl", version = 1, minimum_version = 1,
              needed = X86Cpu::msr_tsx_ctrl_needed)]
    pub _msr_tsx_ctrl: (),
    /// `IA32_TSX_CTRL`.
    #[vmstate(name = "env.tsx_ctrl")]
    pub tsx_ctrl: u32,

    /// Subsection `cpu/intel_sgx` (a CPU with SGX launch control).
    #[vmstate(subsection = "cpu/intel_sgx", version = 1, minimum_version = 1,
              needed = X86Cpu::intel_sgx_needed)]
    pub _intel_sgx: (),
    /// `IA32_SGXLEPUBKEYHASH0` … `3`.
    #[vmstate(name = "env.msr_ia32_sgxlepubkeyhash")]
    pub msr_ia32_sgxlepubkeyhash: [u64; 4],

    /// Subsection `cpu/pdptrs` (post_load: the PDPTRs are valid).
    #[vmstate(subsection = "cpu/pdptrs", version = 1, minimum_version = 1,
              needed = X86Cpu::pdptrs_needed, post_load = X86Cpu::pdptrs_post_load)]
    pub _pdptrs: (),
    /// The PAE page directory pointers.
    #[vmstate(name = "env.pdptrs")]
    pub pdptrs: [u64; 4],

    /// Subsection `cpu/msr_xfd` (a CPU with XFD).
    #[vmstate(subsection = "cpu/msr_xfd", version = 1, minimum_version = 1,
              needed = X86Cpu::xfd_needed)]
    pub _msr_xfd: (),
    /// `IA32_XFD`.
    #[vmstate(name = "env.msr_xfd")]
    pub msr_xfd: u64,
    /// `IA32_XFD_ERR`.
    #[vmstate(name = "env.msr_xfd_err")]
    pub msr_xfd_err: u64,

    /// Subsection `cpu/msr_hwcr`.
    #[vmstate(subsection = "cpu/msr_hwcr", version = 1, minimum_version = 1,
              needed = X86Cpu::msr_hwcr_needed)]
    pub _msr_hwcr: (),
    /// AMD `MSR_K7_HWCR`.
    #[vmstate(name = "env.msr_hwcr")]
    pub msr_hwcr: u64,

    /// Subsection `cpu/fred` (a CPU with FRED).
    #[vmstate(subsection = "cpu/fred", version = 1, minimum_version = 1,
              needed = X86Cpu::fred_needed)]
    pub _fred: (),
    /// `IA32_FRED_RSP0`.
    #[vmstate(name = "env.fred_rsp0")]
    pub fred_rsp0: u64,
    /// `IA32_FRED_RSP1`.
    #[vmstate(name = "env.fred_rsp1")]
    pub fred_rsp1: u64,
    /// `IA32_FRED_RSP2`.
    #[vmstate(name = "env.fred_rsp2")]
    pub fred_rsp2: u64,
    /// `IA32_FRED_RSP3`.
    #[vmstate(name = "env.fred_rsp3")]
    pub fred_rsp3: u64,
    /// `IA32_FRED_STKLVLS`.
    #[vmstate(name = "env.fred_stklvls")]
    pub fred_stklvls: u64,
    /// `IA32_FRED_SSP1`.
    #[vmstate(name = "env.fred_ssp1")]
    pub fred_ssp1: u64,
    /// `IA32_FRED_SSP2`.
    #[vmstate(name = "env.fred_ssp2")]
    pub fred_ssp2: u64,
    /// `IA32_FRED_SSP3`.
    #[vmstate(name = "env.fred_ssp3")]
    pub fred_ssp3: u64,
    /// `IA32_FRED_CONFIG`.
    #[vmstate(name = "env.fred_config")]
    pub fred_config: u64,

    /// Subsection `cpu/intel_amx_xtile` (a CPU with AMX tiles).
    #[vmstate(subsection = "cpu/intel_amx_xtile", version = 1, minimum_version = 1,
              needed = X86Cpu::amx_xtile_needed)]
    pub _amx_xtile: (),
    /// The tile configuration (`uint8` array).
    #[vmstate(name = "env.xtilecfg")]
    pub xtilecfg: [u8; 64],
    /// The tile data (8 KiB, a `uint8` array).
    #[vmstate(name = "env.xtiledata")]
    pub xtiledata: Box<[u8; XTILEDATA_SIZE]>,

    /// Subsection `cpu/arch_lbr` (a CPU with architectural LBRs).
    #[vmstate(subsection = "cpu/arch_lbr", version = 1, minimum_version = 1,
              needed = X86Cpu::arch_lbr_needed)]
    pub _arch_lbr: (),
    /// `IA32_LBR_CTL`.
    #[vmstate(name = "env.msr_lbr_ctl")]
    pub msr_lbr_ctl: u64,
    /// `IA32_LBR_DEPTH`.
    #[vmstate(name = "env.msr_lbr_depth")]
    pub msr_lbr_depth: u64,
    /// The LBR records (`VMSTATE_LBR_VARS(.., 1)`).
    #[vmstate(name = "env.lbr_records", since = 1)]
    pub lbr_records: [LbrEntry; ARCH_LBR_NR_ENTRIES],

    /// Subsection `cpu/triple_fault`.
    #[vmstate(subsection = "cpu/triple_fault", version = 1, minimum_version = 1,
              needed = X86Cpu::triple_fault_needed)]
    pub _triple_fault: (),
    /// A triple fault is pending (shutdown).
    #[vmstate(name = "env.triple_fault_pending")]
    pub triple_fault_pending: u8,

    /// x87 status word without the stack top (not migrated: `fpus_vmstate`).
    #[vmstate(skip)]
    pub fpus: u16,
    /// x87 stack top (not migrated: bits 11..14 of `fpus_vmstate`).
    #[vmstate(skip)]
    pub fpstt: u8,
    /// x87 tags, 1 = empty (not migrated: `fptag_vmstate`).
    #[vmstate(skip, default = [1; 8])]
    pub fptags: [u8; 8],
    /// The PDPTRs are valid (`pdptrs_valid`).
    #[vmstate(skip)]
    pub pdptrs_valid: bool,
    /// The CPUID feature words (configuration).
    #[vmstate(skip)]
    pub features: CpuFeatures,
    /// The accelerator is TCG (`tcg_enabled()`).
    #[vmstate(skip, default = true)]
    pub tcg: bool,
    /// The `tsc-frequency` property in kHz (0: not set).
    #[vmstate(skip)]
    pub user_tsc_khz: i64,
    /// The `migrate-smi-count` property (on for current machines).
    #[vmstate(skip, default = true)]
    pub migrate_smi_count: bool,
    /// The `lmce` property.
    #[vmstate(skip)]
    pub enable_lmce: bool,
    /// The Hyper-V `hv-runtime` enlightenment is on.
    #[vmstate(skip)]
    pub hyperv_runtime: bool,
    /// Xen emulation is on (`xen_mode == XEN_EMULATE`).
    #[vmstate(skip)]
    pub xen_emulate: bool,
    /// KVM gave the vCPU a nested state (`env->nested_state` is not NULL).
    #[vmstate(skip)]
    pub has_nested_state: bool,
    /// The largest nested state this kernel takes
    /// (`kvm_max_nested_state_length()`; 0: none).
    #[vmstate(skip)]
    pub max_nested_state_len: i32,
}

impl X86Cpu {
    /// Vector register `i` (0..32), all 512 bits as eight quadwords.
    pub fn zmm(&self, i: usize) -> [u64; 8] {
        if i < CPU_NB_REGS {
            let (x, y, z) = (self.xmm_regs[i], self.ymmh_regs[i], self.zmmh_regs[i]);
            [x.q0, x.q1, y.q2, y.q3, z.q4, z.q5, z.q6, z.q7]
        } else {
            let h = self.hi16_zmm_regs[i - CPU_NB_REGS];
            [h.q0, h.q1, h.q2, h.q3, h.q4, h.q5, h.q6, h.q7]
        }
    }

    /// Sets vector register `i` (0..32).
    pub fn set_zmm(&mut self, i: usize, q: [u64; 8]) {
        if i < CPU_NB_REGS {
            self.xmm_regs[i] = XmmReg { q0: q[0], q1: q[1] };
            self.ymmh_regs[i] = YmmhReg { q2: q[2], q3: q[3] };
            self.zmmh_regs[i] = ZmmhReg {
                q4: q[4],
                q5: q[5],
                q6: q[6],
                q7: q[7],
            };
        } else {
            self.hi16_zmm_regs[i - CPU_NB_REGS] = Hi16ZmmReg {
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

    /// `fpus_vmstate` as `cpu_pre_save()` computes it.
    pub fn fpus_for_save(&self) -> u16 {
        (self.fpus & !0x3800) | (u16::from(self.fpstt & 7) << 11)
    }

    /// `fptag_vmstate` as `cpu_pre_save()` computes it (bit set: not empty).
    pub fn fptag_for_save(&self) -> u16 {
        (0..8).fold(0, |t, i| t | (u16::from(self.fptags[i] == 0) << i))
    }

    /// True if a real-mode CPU has a nonzero CS DPL, which both hooks
    /// clear in all data and code segments (older KVM set it wrongly).
    pub fn real_mode_dpl_to_fix(&self) -> bool {
        self.cr[0] & CR0_PE_MASK == 0 && self.segs[seg::CS].dpl() != 0
    }

    fn clear_real_mode_dpl(&mut self) {
        if self.real_mode_dpl_to_fix() {
            for s in [seg::CS, seg::DS, seg::ES, seg::FS, seg::GS, seg::SS] {
                self.segs[s].flags &= !DESC_DPL_MASK;
            }
        }
    }

    /// `cpu_pre_save()`, the parts that are state.
    fn pre_save(&mut self) -> Result<(), String> {
        self.fpus_vmstate = self.fpus_for_save();
        self.fptag_vmstate = self.fptag_for_save();
        self.fpregs_format_vmstate = 0;
        self.clear_real_mode_dpl();
        // A pending exception outside a nested guest is sent as injected,
        // its payload already delivered.
        if self.exception_pending != 0 && self.hflags & HF_GUEST_MASK == 0 {
            self.exception_pending = 0;
            self.exception_injected = 1;
            if self.exception_has_payload != 0 {
                if self.exception_nr == EXCP01_DB {
                    self.dr[6] = self.exception_payload;
                } else if self.exception_nr == EXCP0E_PAGE {
                    self.cr[2] = self.exception_payload;
                }
            }
        }
        Ok(())
    }

    /// `cpu_post_load()`, the parts that are state (TCG's breakpoint and
    /// TLB updates are not).
    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        if self.tsc_khz != 0 && self.user_tsc_khz != 0 && self.tsc_khz != self.user_tsc_khz {
            return Err(format!(
                "Mismatch between user-specified TSC frequency and migrated TSC frequency \
                 ({} kHz here, {} kHz migrated)",
                self.user_tsc_khz, self.tsc_khz
            ));
        }
        if self.fpregs_format_vmstate != 0 {
            return Err(format!(
                "Unsupported old non-softfloat CPU state (fpregs_format_vmstate {})",
                self.fpregs_format_vmstate
            ));
        }
        self.clear_real_mode_dpl();
        self.hflags &= !HF_CPL_MASK;
        self.hflags |= self.segs[seg::SS].dpl() & HF_CPL_MASK;
        if self.hflags & HF_GUEST_MASK != 0
            && (!self.has_nested_state
                || self.nested_state.flags & KVM_STATE_NESTED_GUEST_MODE == 0)
        {
            return Err(
                "vCPU set in guest-mode inconsistent with migrated kernel nested state".into(),
            );
        }
        if self.exception_nr != -1 && self.exception_pending == 0 && self.exception_injected == 0 {
            self.exception_injected = 1;
        }
        self.fpstt = ((self.fpus_vmstate >> 11) & 7) as u8;
        self.fpus = self.fpus_vmstate & !0x3800;
        self.fptag_vmstate ^= 0xff;
        for i in 0..8 {
            self.fptags[i] = ((self.fptag_vmstate >> i) & 1) as u8;
        }
        Ok(())
    }

    fn exception_info_needed(&self) -> bool {
        self.exception_pending != 0 && self.hflags & HF_GUEST_MASK != 0
    }
    fn async_pf_msr_needed(&self) -> bool {
        self.async_pf_en_msr != 0
    }
    fn async_pf_int_msr_needed(&self) -> bool {
        self.async_pf_int_msr != 0
    }
    fn pv_eoi_msr_needed(&self) -> bool {
        self.pv_eoi_en_msr != 0
    }
    fn steal_time_msr_needed(&self) -> bool {
        self.steal_time_msr != 0
    }
    fn poll_control_msr_needed(&self) -> bool {
        self.poll_control_msr != 1
    }
    fn fpop_ip_dp_needed(&self) -> bool {
        self.fpop != 0 || self.fpip != 0 || self.fpdp != 0
    }
    fn tsc_adjust_needed(&self) -> bool {
        self.tsc_adjust != 0
    }
    fn tscdeadline_needed(&self) -> bool {
        self.tsc_deadline != 0
    }
    fn misc_enable_needed(&self) -> bool {
        self.msr_ia32_misc_enable != MSR_IA32_MISC_ENABLE_DEFAULT
    }
    fn feature_control_needed(&self) -> bool {
        self.msr_ia32_feature_control != 0
    }
    fn pmu_enable_needed(&self) -> bool {
        self.msr_fixed_ctr_ctrl != 0
            || self.msr_global_ctrl != 0
            || self.msr_global_status != 0
            || self.msr_global_ovf_ctrl != 0
            || self.msr_fixed_counters.iter().any(|&c| c != 0)
            || self
                .msr_gp_counters
                .iter()
                .zip(&self.msr_gp_evtsel)
                .any(|(&c, &e)| c != 0 || e != 0)
    }
    fn mpx_needed(&self) -> bool {
        self.bnd_regs.iter().any(|b| b.lb != 0 || b.ub != 0)
            || self.bndcs_cfgu != 0
            || self.bndcs_sts != 0
            || self.msr_bndcfgs != 0
    }
    fn hyperv_hypercall_needed(&self) -> bool {
        self.msr_hv_hypercall != 0 || self.msr_hv_guest_os_id != 0
    }
    fn hyperv_vapic_needed(&self) -> bool {
        self.msr_hv_vapic != 0
    }
    fn hyperv_time_needed(&self) -> bool {
        self.msr_hv_tsc != 0
    }
    fn hyperv_crash_needed(&self) -> bool {
        self.msr_hv_crash_params.iter().any(|&p| p != 0)
    }
    fn hyperv_runtime_needed(&self) -> bool {
        self.hyperv_runtime && self.msr_hv_runtime != 0
    }
    fn hyperv_synic_needed(&self) -> bool {
        self.msr_hv_synic_control != 0
            || self.msr_hv_synic_evt_page != 0
            || self.msr_hv_synic_msg_page != 0
            || self.msr_hv_synic_sint.iter().any(|&s| s != 0)
    }
    fn hyperv_stimer_needed(&self) -> bool {
        self.msr_hv_stimer_config
            .iter()
            .zip(&self.msr_hv_stimer_count)
            .any(|(&c, &n)| c != 0 || n != 0)
    }
    fn hyperv_reenlightenment_needed(&self) -> bool {
        self.msr_hv_reenlightenment_control != 0
            || self.msr_hv_tsc_emulation_control != 0
            || self.msr_hv_tsc_emulation_status != 0
    }
    /// `hyperv_reenlightenment_post_load()`.
    fn hyperv_reenlightenment_post_load(&mut self, _version_id: u32) -> Result<(), String> {
        if self.msr_hv_reenlightenment_control & HV_REENLIGHTENMENT_ENABLE_BIT != 0
            && self.user_tsc_khz == 0
        {
            return Err(
                "Guest enabled re-enlightenment notifications, 'tsc-frequency=' has to be \
                 specified"
                    .into(),
            );
        }
        Ok(())
    }
    fn avx512_needed(&self) -> bool {
        self.opmask_regs.iter().any(|&k| k != 0)
            || self
                .zmmh_regs
                .iter()
                .any(|z| z.q4 != 0 || z.q5 != 0 || z.q6 != 0 || z.q7 != 0)
            || (CPU_NB_REGS..ZMM_REGS).any(|i| self.zmm(i) != [0; 8])
    }
    fn xss_needed(&self) -> bool {
        self.xss != 0
    }
    fn umwait_needed(&self) -> bool {
        self.umwait != 0
    }
    fn tsc_khz_needed(&self) -> bool {
        self.tsc_khz != 0
    }
    fn msr_smi_count_needed(&self) -> bool {
        self.migrate_smi_count && self.msr_smi_count != 0
    }
    fn pkru_needed(&self) -> bool {
        self.pkru != 0
    }
    fn pkrs_needed(&self) -> bool {
        self.pkrs != 0
    }
    fn spec_ctrl_needed(&self) -> bool {
        self.spec_ctrl != 0
    }
    fn amd_tsc_scale_msr_needed(&self) -> bool {
        self.features.svm & cpuid::SVM_TSCSCALE != 0
    }
    fn mcg_ext_ctl_needed(&self) -> bool {
        self.enable_lmce && self.mcg_ext_ctl != 0
    }
    fn intel_pt_needed(&self) -> bool {
        self.msr_rtit_ctrl != 0
            || self.msr_rtit_status != 0
            || self.msr_rtit_output_base != 0
            || self.msr_rtit_output_mask != 0
            || self.msr_rtit_cr3_match != 0
            || self.msr_rtit_addrs.iter().any(|&a| a != 0)
    }
    fn virt_ssbd_needed(&self) -> bool {
        self.virt_ssbd != 0
    }
    fn svm_npt_needed(&self) -> bool {
        self.hflags2 & HF2_NPT_MASK != 0
    }
    fn svm_guest_needed(&self) -> bool {
        self.tcg && self.int_ctl != 0
    }
    fn nested_state_needed(&self) -> bool {
        self.has_nested_state && (self.nested_state.vmx_needed() || self.nested_state.svm_needed())
    }
    /// `nested_state_post_load()`: the kernel must take the state.
    fn nested_state_post_load(&mut self, _version_id: u32) -> Result<(), String> {
        let max = self.max_nested_state_len;
        if max <= 0 {
            return Err("Received nested state when kernel cannot restore it".into());
        }
        let size = self.nested_state.size;
        if size < KVM_NESTED_STATE_DATA_OFFSET {
            return Err(format!(
                "Received nested state size less than min: len={size}, min={KVM_NESTED_STATE_DATA_OFFSET}"
            ));
        }
        if i64::from(size) > i64::from(max) {
            return Err(format!(
                "Received unsupported nested state size: nested_state->size={size}, max={max}"
            ));
        }
        let format = self.nested_state.format;
        if format != KVM_STATE_NESTED_FORMAT_VMX && format != KVM_STATE_NESTED_FORMAT_SVM {
            return Err(format!("Received invalid nested state format: {format}"));
        }
        Ok(())
    }
    fn xen_vcpu_needed(&self) -> bool {
        self.xen_emulate
    }
    fn msr_tsx_ctrl_needed(&self) -> bool {
        self.features.arch_capabilities & cpuid::ARCH_CAP_TSX_CTRL_MSR != 0
    }
    fn intel_sgx_needed(&self) -> bool {
        self.features.cpuid_7_0_ecx & cpuid::SGX_LC != 0
    }
    fn pdptrs_needed(&self) -> bool {
        self.pdptrs_valid
    }
    /// `pdptrs_post_load()`.
    fn pdptrs_post_load(&mut self, _version_id: u32) -> Result<(), String> {
        self.pdptrs_valid = true;
        Ok(())
    }
    fn xfd_needed(&self) -> bool {
        self.features.xsave & cpuid::XFD != 0
    }
    fn msr_hwcr_needed(&self) -> bool {
        self.msr_hwcr != 0
    }
    fn fred_needed(&self) -> bool {
        self.features.cpuid_7_1_eax & cpuid::FRED != 0
    }
    fn amx_xtile_needed(&self) -> bool {
        self.features.cpuid_7_0_edx & cpuid::AMX_TILE != 0
    }
    fn arch_lbr_needed(&self) -> bool {
        self.features.cpuid_7_0_edx & cpuid::ARCH_LBR != 0
    }
    fn triple_fault_needed(&self) -> bool {
        self.triple_fault_pending != 0
    }
}
