//! The ARM GICv2 interrupt controller (`hw/intc/arm_gic_common.c`:
//! `vmstate_gic`, its per-IRQ `vmstate_gic_irq_state` and the subsection
//! `arm_gic_virt_state`).
//!
//! The CPU interface arrays hold the physical CPUs' state in their first
//! `GIC_NCPU` entries and the virtual CPUs' in the next `GIC_NCPU`: the
//! main section sends `[0, GIC_NCPU)` and the virtualization subsection
//! `[GIC_NCPU, 2 * GIC_NCPU)` (`VMSTATE_UINT32_SUB_ARRAY(cpu_ctlr,
//! GICState, GIC_NCPU, GIC_NCPU)`): views of one array each.

use vmstate_core::VmState;

/// Most CPUs a GIC serves (`GIC_NCPU`).
pub const GIC_NCPU: usize = 8;
/// CPU interfaces with the virtual ones (`GIC_NCPU_VCPU`).
pub const GIC_NCPU_VCPU: usize = 2 * GIC_NCPU;
/// Most interrupts (`GIC_MAXIRQ`).
pub const GIC_MAXIRQ: usize = 1020;
/// Interrupts private to a CPU, SGIs and PPIs (`GIC_INTERNAL`).
pub const GIC_INTERNAL: usize = 32;
/// Software-generated interrupts (`GIC_NR_SGIS`).
pub const GIC_NR_SGIS: usize = 16;
/// Active priority registers per CPU (`GIC_NR_APRS`).
pub const GIC_NR_APRS: usize = 4;
/// List registers (`GIC_MAX_LR`).
pub const GIC_MAX_LR: usize = 64;

/// The state of one interrupt: nested struct `arm_gic_irq_state`.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "arm_gic_irq_state", version = 1, minimum_version = 1)]
pub struct GicIrqState {
    /// CPUs it is enabled for (bit mask).
    pub enabled: u8,
    /// CPUs it is pending for.
    pub pending: u8,
    /// CPUs it is active on.
    pub active: u8,
    /// Line level per CPU.
    pub level: u8,
    /// 1-N model (true) or N-N.
    pub model: bool,
    /// Edge triggered.
    pub edge_trigger: bool,
    /// Group 1 per CPU.
    pub group: u8,
}

/// The distributor and CPU interfaces: section `arm_gic`, version 12.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "arm_gic", version = 12, minimum_version = 12, default)]
pub struct ArmGic {
    /// Distributor control.
    pub ctlr: u32,
    /// CPU interface control, physical then virtual CPUs.
    #[vmstate(skip)]
    pub cpu_ctlr: [u32; GIC_NCPU_VCPU],
    #[vmstate(view = cpu_ctlr, start = 0, len = GIC_NCPU)]
    _cpu_ctlr: (),
    /// Per-interrupt state (`VMSTATE_STRUCT_ARRAY(.., GIC_MAXIRQ, 1, ..)`).
    #[vmstate(since = 1)]
    pub irq_state: [GicIrqState; GIC_MAXIRQ],
    /// Target CPUs of each interrupt.
    pub irq_target: [u8; GIC_MAXIRQ],
    /// Priorities of the private interrupts, per CPU (a 2-D array).
    pub priority1: [[u8; GIC_NCPU]; GIC_INTERNAL],
    /// Priorities of the shared interrupts.
    pub priority2: [u8; GIC_MAXIRQ - GIC_INTERNAL],
    /// Pending SGIs by source CPU, per target CPU.
    pub sgi_pending: [[u8; GIC_NCPU]; GIC_NR_SGIS],
    /// Priority mask, physical then virtual CPUs.
    #[vmstate(skip)]
    pub priority_mask: [u16; GIC_NCPU_VCPU],
    #[vmstate(view = priority_mask, start = 0, len = GIC_NCPU)]
    _priority_mask: (),
    /// Running priority.
    #[vmstate(skip)]
    pub running_priority: [u16; GIC_NCPU_VCPU],
    #[vmstate(view = running_priority, start = 0, len = GIC_NCPU)]
    _running_priority: (),
    /// Highest pending interrupt.
    #[vmstate(skip)]
    pub current_pending: [u16; GIC_NCPU_VCPU],
    #[vmstate(view = current_pending, start = 0, len = GIC_NCPU)]
    _current_pending: (),
    /// Binary point.
    #[vmstate(skip)]
    pub bpr: [u8; GIC_NCPU_VCPU],
    #[vmstate(view = bpr, start = 0, len = GIC_NCPU)]
    _bpr: (),
    /// Aliased binary point.
    #[vmstate(skip)]
    pub abpr: [u8; GIC_NCPU_VCPU],
    #[vmstate(view = abpr, start = 0, len = GIC_NCPU)]
    _abpr: (),
    /// Active priorities.
    pub apr: [[u32; GIC_NCPU]; GIC_NR_APRS],
    /// Non-secure active priorities.
    pub nsapr: [[u32; GIC_NCPU]; GIC_NR_APRS],

    #[vmstate(subsection = "arm_gic_virt_state", version = 1, minimum_version = 1,
              needed = ArmGic::virt_state_needed)]
    _virt_state: (),
    /// Hypervisor control.
    pub h_hcr: [u32; GIC_NCPU],
    /// Maintenance interrupt status.
    pub h_misr: [u32; GIC_NCPU],
    /// List registers.
    pub h_lr: [[u32; GIC_NCPU]; GIC_MAX_LR],
    /// Active priorities of the virtual interface.
    pub h_apr: [u32; GIC_NCPU],
    #[vmstate(view = cpu_ctlr, start = GIC_NCPU, len = GIC_NCPU)]
    _vcpu_ctlr: (),
    #[vmstate(view = priority_mask, start = GIC_NCPU, len = GIC_NCPU)]
    _vpriority_mask: (),
    #[vmstate(view = running_priority, start = GIC_NCPU, len = GIC_NCPU)]
    _vrunning_priority: (),
    #[vmstate(view = current_pending, start = GIC_NCPU, len = GIC_NCPU)]
    _vcurrent_pending: (),
    #[vmstate(view = bpr, start = GIC_NCPU, len = GIC_NCPU)]
    _vbpr: (),
    #[vmstate(view = abpr, start = GIC_NCPU, len = GIC_NCPU)]
    _vabpr: (),

    /// The `has-virtualization-extensions` property.
    #[vmstate(skip)]
    pub virt_extn: bool,
}

impl ArmGic {
    fn virt_state_needed(&self) -> bool {
        self.virt_extn
    }
}
