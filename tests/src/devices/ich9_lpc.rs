//! The Q35 LPC bridge (`hw/isa/lpc_ich9.c`: `vmstate_ich9_lpc`) with its
//! power management (`hw/acpi/ich9.c`: `vmstate_ich9_pm`), APM
//! (`hw/isa/apm.c`), TCO watchdog (`hw/acpi/tco.c`), memory and CPU
//! hotplug (`hw/acpi/memory_hotplug.c`, `hw/acpi/cpu.c`) and PCI hotplug
//! (`hw/acpi/pcihp.c`) state.
//!
//! The hotplug device arrays are `VMSTATE_STRUCT_VARRAY_POINTER_UINT32`
//! of a `dev_count` that is not migrated (both sides know how many slots
//! the machine has): `len = dev_count` on a `skip` field.

use vmstate_core::{Timer, VmState};

use super::piix3::PciDevice;

/// Size of the chipset configuration registers (`ICH9_CC_SIZE`).
pub const ICH9_CC_SIZE: usize = 16 * 1024;
/// Bytes of GPE status and of GPE enable (`ICH9_PMIO_GPE0_LEN / 2`).
pub const GPE_HALF: usize = 16;
/// Buses the ACPI PCI hotplug tracks (`ACPI_PCIHP_MAX_HOTPLUG_BUS`).
pub const ACPI_PCIHP_MAX_HOTPLUG_BUS: usize = 256;

/// The APM ports: nested struct `APM State`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "APM State", version = 1, minimum_version = 1)]
pub struct ApmState {
    /// APM control.
    pub apmc: u8,
    /// APM status.
    pub apms: u8,
}

/// One memory slot: nested struct `memory hotplug device state`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "memory hotplug device state", version = 1, minimum_version = 1)]
pub struct MemStatus {
    /// A DIMM is plugged.
    pub is_enabled: bool,
    /// It is being inserted.
    pub is_inserting: bool,
    /// The guest's last OST event.
    pub ost_event: u32,
    /// The guest's last OST status.
    pub ost_status: u32,
}

/// Memory hotplug: nested struct `memory hotplug state`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "memory hotplug state", version = 1, minimum_version = 1)]
pub struct MemHotplugState {
    /// The selected slot.
    pub selector: u32,
    /// The slots: `dev_count` of them, a count both sides know.
    #[vmstate(len = dev_count)]
    pub devs: Vec<MemStatus>,
    /// Memory slots of the machine (configuration).
    #[vmstate(skip)]
    pub dev_count: u32,
}

/// One CPU slot: nested struct `CPU hotplug device state`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "CPU hotplug device state", version = 1, minimum_version = 1)]
pub struct CpuStatus {
    /// Being inserted.
    pub is_inserting: bool,
    /// Being removed.
    pub is_removing: bool,
    /// The guest's last OST event.
    pub ost_event: u32,
    /// The guest's last OST status.
    pub ost_status: u32,
}

/// CPU hotplug: nested struct `CPU hotplug state`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "CPU hotplug state", version = 1, minimum_version = 1)]
pub struct CpuHotplugState {
    /// The selected CPU.
    pub selector: u32,
    /// The pending command.
    pub command: u8,
    /// The CPUs: `dev_count` (possible CPUs) of them, not migrated.
    #[vmstate(len = dev_count)]
    pub devs: Vec<CpuStatus>,
    /// Possible CPUs of the machine (configuration).
    #[vmstate(skip)]
    pub dev_count: u32,
}

/// The TCO watchdog: nested struct `tco io device status`.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(
    name = "tco io device status",
    version = 1,
    minimum_version = 1,
    default
)]
pub struct TcoIoState {
    /// Timer reload.
    #[vmstate(name = "tco.rld", default = 0x0004)]
    pub rld: u16,
    /// Data in.
    #[vmstate(name = "tco.din")]
    pub din: u8,
    /// Data out.
    #[vmstate(name = "tco.dout")]
    pub dout: u8,
    /// Status 1.
    #[vmstate(name = "tco.sts1")]
    pub sts1: u16,
    /// Status 2.
    #[vmstate(name = "tco.sts2")]
    pub sts2: u16,
    /// Control 1.
    #[vmstate(name = "tco.cnt1")]
    pub cnt1: u16,
    /// Control 2.
    #[vmstate(name = "tco.cnt2")]
    pub cnt2: u16,
    /// Message 1.
    #[vmstate(name = "tco.msg1")]
    pub msg1: u8,
    /// Message 2.
    #[vmstate(name = "tco.msg2")]
    pub msg2: u8,
    /// Watchdog count.
    #[vmstate(name = "tco.wdcnt")]
    pub wdcnt: u8,
    /// Timer initial value.
    #[vmstate(name = "tco.tmr", default = 0x0004)]
    pub tmr: u16,
    /// Software IRQ generation.
    pub sw_irq_gen: u8,
    /// The watchdog timer.
    pub tco_timer: Timer,
    /// When it expires.
    pub expire_time: i64,
    /// Timeouts so far.
    pub timeouts_no: u8,
}

/// PCI hotplug status of one bus: nested struct `acpi_pcihp_pci_status`.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "acpi_pcihp_pci_status", version = 1, minimum_version = 1)]
pub struct AcpiPciHpPciStatus {
    /// Slots being inserted.
    pub up: u32,
    /// Slots being removed.
    pub down: u32,
}

/// Power management: nested struct `ich9_pm`, with four inline
/// subsections chosen by the machine's configuration.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "ich9_pm", version = 1, minimum_version = 1, default)]
pub struct Ich9Pm {
    /// PM1 event status.
    #[vmstate(name = "acpi_regs.pm1.evt.sts")]
    pub pm1_evt_sts: u16,
    /// PM1 event enable.
    #[vmstate(name = "acpi_regs.pm1.evt.en")]
    pub pm1_evt_en: u16,
    /// PM1 control.
    #[vmstate(name = "acpi_regs.pm1.cnt.cnt")]
    pub pm1_cnt: u16,
    /// The PM timer.
    #[vmstate(name = "acpi_regs.tmr.timer")]
    pub tmr_timer: Timer,
    /// When the PM timer overflows.
    #[vmstate(name = "acpi_regs.tmr.overflow_time")]
    pub tmr_overflow_time: i64,
    /// GPE0 status.
    #[vmstate(name = "acpi_regs.gpe.sts")]
    pub gpe_sts: [u8; GPE_HALF],
    /// GPE0 enable.
    #[vmstate(name = "acpi_regs.gpe.en")]
    pub gpe_en: [u8; GPE_HALF],
    /// SMI enable.
    pub smi_en: u32,
    /// SMI status.
    pub smi_sts: u32,

    #[vmstate(subsection = "ich9_pm/memhp", version = 1, minimum_version = 1,
              needed = Ich9Pm::memhp_needed)]
    _memhp: (),
    /// Memory hotplug (`VMSTATE_MEMORY_HOTPLUG`, version 1).
    #[vmstate(since = 1)]
    pub acpi_memory_hotplug: MemHotplugState,

    #[vmstate(subsection = "ich9_pm/tco", version = 1, minimum_version = 1,
              needed = Ich9Pm::tco_needed)]
    _tco: (),
    /// The TCO watchdog.
    #[vmstate(since = 1)]
    pub tco_regs: TcoIoState,

    #[vmstate(subsection = "ich9_pm/cpuhp", version = 1, minimum_version = 1,
              needed = Ich9Pm::cpuhp_needed)]
    _cpuhp: (),
    /// CPU hotplug (the modern interface).
    #[vmstate(since = 1)]
    pub cpuhp_state: CpuHotplugState,

    #[vmstate(subsection = "ich9_pm/pcihp", version = 1, minimum_version = 1,
              needed = Ich9Pm::pcihp_needed)]
    _pcihp: (),
    /// The selected hotplug bus.
    #[vmstate(name = "acpi_pci_hotplug.hotplug_select")]
    pub hotplug_select: u32,
    /// Per-bus hotplug status.
    #[vmstate(name = "acpi_pci_hotplug.acpi_pcihp_pci_status", since = 1)]
    pub acpi_pcihp_pci_status: [AcpiPciHpPciStatus; ACPI_PCIHP_MAX_HOTPLUG_BUS],
    /// The ACPI index being read.
    #[vmstate(name = "acpi_pci_hotplug.acpi_index")]
    pub acpi_index: u32,

    /// Memory hotplug is enabled (a machine with hotpluggable memory).
    #[vmstate(skip, default = true)]
    pub memory_hotplug_enabled: bool,
    /// The `enable_tco` property (default on).
    #[vmstate(skip, default = true)]
    pub enable_tco: bool,
    /// CPU hotplug uses the legacy interface (until the guest switches).
    #[vmstate(skip, default = true)]
    pub cpu_hotplug_legacy: bool,
    /// ACPI PCI hotplug is in use.
    #[vmstate(skip, default = true)]
    pub use_acpi_pci_hotplug: bool,
}

impl Ich9Pm {
    fn memhp_needed(&self) -> bool {
        self.memory_hotplug_enabled
    }
    fn tco_needed(&self) -> bool {
        self.enable_tco
    }
    fn cpuhp_needed(&self) -> bool {
        !self.cpu_hotplug_legacy
    }
    fn pcihp_needed(&self) -> bool {
        self.use_acpi_pci_hotplug
    }
}

/// The LPC bridge: section `ICH9LPC`, version 1.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "ICH9LPC", version = 1, minimum_version = 1, default)]
pub struct Ich9Lpc {
    /// The PCI function.
    #[vmstate(default = PciDevice::conventional())]
    pub d: PciDevice,
    /// The APM ports.
    pub apm: ApmState,
    /// Power management.
    pub pm: Ich9Pm,
    /// Chipset configuration registers (16 KiB).
    pub chip_config: [u8; ICH9_CC_SIZE],
    /// SCI level.
    pub sci_level: u32,

    #[vmstate(subsection = "ICH9LPC/rst_cnt", version = 1, minimum_version = 1,
              needed = Ich9Lpc::rst_cnt_needed)]
    _rst_cnt: (),
    /// Reset control.
    pub rst_cnt: u8,

    #[vmstate(subsection = "ICH9LPC/smi_feat", version = 1, minimum_version = 1,
              needed = Ich9Lpc::smi_feat_needed)]
    _smi_feat: (),
    /// SMI features the guest asked for (little endian).
    pub smi_guest_features_le: [u8; 8],
    /// The features were accepted.
    pub smi_features_ok: u8,
    /// The negotiated features.
    pub smi_negotiated_features: u64,
}

impl Ich9Lpc {
    fn rst_cnt_needed(&self) -> bool {
        self.rst_cnt != 0
    }
    fn smi_feat_needed(&self) -> bool {
        self.smi_guest_features_le != [0; 8] || self.smi_features_ok != 0
    }
}
