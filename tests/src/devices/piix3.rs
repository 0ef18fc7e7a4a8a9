//! The PIIX3 PCI-to-ISA bridge (`hw/isa/piix.c`, `vmstate_piix3`) and the
//! common PCI device state it embeds (`hw/pci/pci.c`, `vmstate_pci_device`).

use vmstate_core::VmState;

/// A PCI interrupt pin level, sent as a be32 that must be 0 or 1
/// (`vmstate_info_pci_irq_state`).
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
pub enum PciIrqLevel {
    /// Deasserted.
    #[default]
    Low = 0,
    /// Asserted.
    High = 1,
}

/// The state every PCI function migrates: nested struct `PCIDevice`,
/// version 2 (loads 1 and 2).
///
/// QEMU declares two alternative `config` fields, 256 bytes for conventional
/// PCI and 4096 bytes for PCI Express, chosen by `field_exists` tests; exactly
/// one is sent. Here the size is the const parameter `N`:
/// [`ConventionalPciDevice`] (256) or [`PciExpressDevice`] (4096).
///
/// Not modelled: QEMU's `pci config` loader also refuses bytes that differ
/// from the local configuration in read-only bits (`cmask & ~wmask &
/// ~w1cmask`); those masks are device-specific and not part of this state.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "PCIDevice", version = 2, minimum_version = 1)]
pub struct PciDevice<const N: usize> {
    /// `VMSTATE_INT32_POSITIVE_LE(version_id)`: accepted if `0..=` the local value (2).
    #[vmstate(le)]
    pub version_id: i32,
    /// Configuration space (`pci config`).
    #[vmstate(buffer)]
    pub config: [u8; N],
    /// Levels of the INTA..INTD pins (`pci irq state`, version 2 and newer).
    #[vmstate(since = 2)]
    pub irq_state: [PciIrqLevel; 4],
}

/// A conventional PCI function (256-byte configuration space).
pub type ConventionalPciDevice = PciDevice<256>;
/// A PCI Express function (4096-byte configuration space).
pub type PciExpressDevice = PciDevice<4096>;

impl<const N: usize> Default for PciDevice<N> {
    fn default() -> Self {
        PciDevice {
            version_id: 2,
            config: [0; N],
            irq_state: [PciIrqLevel::Low; 4],
        }
    }
}

/// State of the PIIX3 function 0: section `PIIX3` (idstr
/// `0000:00:01.0/PIIX3` on `pc`), version 3 (loads 2 and 3).
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "PIIX3", version = 3, minimum_version = 2)]
pub struct Piix3 {
    /// The PCI function (`VMSTATE_PCI_DEVICE`).
    pub dev: ConventionalPciDevice,
    /// Levels of the four PIRQ lines (version 3 and newer).
    #[vmstate(since = 3)]
    pub pci_irq_levels_vmstate: [i32; 4],
    /// Subsection `PIIX3/rcr`, sent when the reset control register is non-zero.
    #[vmstate(subsection)]
    pub rcr: Piix3Rcr,
}

/// Subsection `PIIX3/rcr`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "PIIX3/rcr", version = 1, minimum_version = 1, needed = Piix3Rcr::is_needed)]
pub struct Piix3Rcr {
    /// Reset control register (port 0xcf9).
    pub rcr: u8,
}

impl Piix3Rcr {
    fn is_needed(&self) -> bool {
        self.rcr != 0
    }
}
