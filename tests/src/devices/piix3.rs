//! The PIIX3 PCI-to-ISA bridge (`hw/isa/piix.c`, `vmstate_piix3`) and the
//! common PCI device state it embeds (`hw/pci/pci.c`, `vmstate_pci_device`).

use vmstate_core::{Error, Layout, Result, Visitor, VmState, VmStateField};

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

/// A PCI configuration space as QEMU migrates it: `N` raw bytes shown as
/// QEMU's `pci config` `VMStateInfo` (`vmstate_info_pci_config`), walked as a
/// `uint8` array. The bytes live in a `Vec` that is empty while the
/// alternative is not in use (a conventional function has no 4 KiB space).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PciConfig<const N: usize>(pub Vec<u8>);

impl<const N: usize> PciConfig<N> {
    /// A zeroed configuration space of `N` bytes.
    pub fn zeroed() -> Self {
        PciConfig(vec![0; N])
    }
}

impl<const N: usize> std::ops::Deref for PciConfig<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<const N: usize> std::ops::DerefMut for PciConfig<N> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl<const N: usize> VmStateField for PciConfig<N> {
    const LAYOUT: Layout<'static> = Layout::Info {
        name: "pci config",
        size: Some(N),
    };

    fn visit<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
        if V::LOADING {
            self.0.resize(N, 0);
        } else if self.0.len() != N {
            return Err(Error::msg(format!(
                "the configuration space holds {} bytes, the wire needs {N}",
                self.0.len()
            )));
        }
        v.enter_array(name, N, 1)?;
        v.visit_u8_slice(name, &mut self.0)?;
        v.leave_array()
    }
}

/// The four INTx pin levels (`vmstate_info_pci_irq_state`: 4 × be32, each 0 or 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PciIrqState(pub [PciIrqLevel; 4]);

impl VmStateField for PciIrqState {
    const LAYOUT: Layout<'static> = Layout::Info {
        name: "pci irq state",
        size: Some(16),
    };

    fn visit<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
        self.0.visit(v, name)
    }
}

/// The state every PCI function migrates: nested struct `PCIDevice`,
/// version 2 (loads 1 and 2), field for field as QEMU's
/// `vmstate_pci_device`: QEMU declares two alternative `config` fields, 256
/// bytes for conventional PCI and 4096 for PCI Express, chosen by
/// `field_exists` tests, so that exactly one is sent.
///
/// Not modelled: QEMU's `pci config` loader also refuses bytes that differ
/// from the local configuration in read-only bits (`cmask & ~wmask &
/// ~w1cmask`); those masks are device-specific and not part of this state.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "PCIDevice", version = 2, minimum_version = 1)]
pub struct PciDevice {
    /// `VMSTATE_INT32_POSITIVE_LE(version_id)`: accepted if `0..=` the local value (2).
    #[vmstate(le)]
    pub version_id: i32,
    /// Configuration space of a conventional function (`pci config`, 256 bytes).
    #[vmstate(exists = PciDevice::is_conventional)]
    pub config: PciConfig<256>,
    /// Configuration space of a PCI Express function (`pci config`, 4096 bytes).
    #[vmstate(name = "config", exists = PciDevice::is_express)]
    pub config_express: PciConfig<4096>,
    /// Levels of the INTA..INTD pins (`pci irq state`, version 2 and newer).
    #[vmstate(since = 2)]
    pub irq_state: PciIrqState,
    /// Whether the function is PCI Express (a property, not migrated).
    #[vmstate(skip)]
    pub express: bool,
}

impl PciDevice {
    /// A conventional PCI function (256-byte configuration space).
    pub fn conventional() -> Self {
        PciDevice {
            version_id: 2,
            config: PciConfig::zeroed(),
            config_express: PciConfig::default(),
            irq_state: PciIrqState::default(),
            express: false,
        }
    }

    /// A PCI Express function (4096-byte configuration space).
    pub fn express() -> Self {
        PciDevice {
            config: PciConfig::default(),
            config_express: PciConfig::zeroed(),
            express: true,
            ..PciDevice::conventional()
        }
    }

    fn is_conventional(&self, _: u32) -> bool {
        !self.express
    }

    fn is_express(&self, _: u32) -> bool {
        self.express
    }
}

impl Default for PciDevice {
    fn default() -> Self {
        PciDevice::conventional()
    }
}

/// State of the PIIX3 function 0: section `PIIX3` (idstr
/// `0000:00:01.0/PIIX3` on `pc`), version 3 (loads 2 and 3).
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "PIIX3", version = 3, minimum_version = 2)]
pub struct Piix3 {
    /// The PCI function (`VMSTATE_PCI_DEVICE`).
    pub dev: PciDevice,
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
