//! The firmware configuration device (`hw/nvram/fw_cfg.c`, `vmstate_fw_cfg`),
//! both the x86 I/O-port and the ARM MMIO variant.

use vmstate_core::VmState;
use vmstate_core::forms::TmpState;

/// State of fw_cfg: section `fw_cfg`, version 2 (loads 1 and 2).
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "fw_cfg", version = 2, minimum_version = 1)]
pub struct FwCfg {
    /// The selected item.
    pub cur_entry: u16,
    /// `VMSTATE_UINT16_HACK(cur_offset, ..., is_version_1)`: version-1 streams
    /// carry the offset as a be16, loaded into [`Self::cur_offset`].
    #[vmstate(tmp = CurOffsetV1, exists = FwCfg::is_version_1, name = "cur_offset")]
    pub _cur_offset_v1: (),
    /// Read offset into the selected item (version 2 and newer).
    #[vmstate(since = 2)]
    pub cur_offset: u32,
    /// Subsection `fw_cfg/dma`, sent when DMA is enabled.
    #[vmstate(subsection, needed = FwCfg::dma_needed)]
    pub dma: FwCfgDma,
    /// Subsection `fw_cfg/acpi_mr`, sent when the ACPI blob sizes need restoring.
    #[vmstate(subsection, needed = FwCfg::acpi_mr_needed)]
    pub acpi_mr: FwCfgAcpiMr,
    /// Device property `dma_enabled` (default true).
    #[vmstate(skip)]
    pub dma_enabled: bool,
    /// Device property `acpi-mr-restore` (default true; false for 4.2 and older machines).
    #[vmstate(skip)]
    pub acpi_mr_restore: bool,
    /// `qemu_real_host_page_size()` of the saving host.
    #[vmstate(skip)]
    pub host_page_size: u64,
}

impl Default for FwCfg {
    fn default() -> Self {
        FwCfg {
            cur_entry: 0,
            _cur_offset_v1: (),
            cur_offset: 0,
            dma: FwCfgDma::default(),
            acpi_mr: FwCfgAcpiMr::default(),
            dma_enabled: true,
            acpi_mr_restore: true,
            host_page_size: 4096,
        }
    }
}

impl FwCfg {
    fn is_version_1(&self, version_id: u32) -> bool {
        version_id == 1
    }

    fn dma_needed(&self) -> bool {
        self.dma_enabled
    }

    /// `fw_cfg_acpi_mr_restore()`: restoring is on and some size is not a
    /// multiple of the host page size.
    fn acpi_mr_needed(&self) -> bool {
        let page = self.host_page_size.max(1);
        let m = &self.acpi_mr;
        let aligned = m.table_mr_size % page == 0
            && m.linker_mr_size % page == 0
            && m.rsdp_mr_size % page == 0;
        self.acpi_mr_restore && !aligned
    }
}

/// The wire form of version 1's `cur_offset`: a be16 read into the u32.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fw_cfg/cur_offset_v1")]
pub struct CurOffsetV1 {
    /// The offset, truncated to 16 bits.
    pub cur_offset: u16,
}

impl TmpState<FwCfg> for CurOffsetV1 {
    fn from_parent(parent: &FwCfg) -> vmstate_core::Result<Self> {
        Ok(CurOffsetV1 {
            cur_offset: parent.cur_offset as u16,
        })
    }

    fn into_parent(self, parent: &mut FwCfg) -> vmstate_core::Result<()> {
        parent.cur_offset = u32::from(self.cur_offset);
        Ok(())
    }
}

/// Subsection `fw_cfg/dma`: version 0 (QEMU gives it no version).
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fw_cfg/dma")]
pub struct FwCfgDma {
    /// Guest address of the DMA control structure.
    pub dma_addr: u64,
}

/// Subsection `fw_cfg/acpi_mr`: sizes of the ACPI blobs, restored on load.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "fw_cfg/acpi_mr", version = 1, minimum_version = 1)]
pub struct FwCfgAcpiMr {
    /// Size of `etc/acpi/tables`.
    pub table_mr_size: u64,
    /// Size of `etc/table-loader`.
    pub linker_mr_size: u64,
    /// Size of `etc/acpi/rsdp`.
    pub rsdp_mr_size: u64,
}
