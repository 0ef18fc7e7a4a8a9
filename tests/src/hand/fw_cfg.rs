//! [`FwCfg`] by hand: the selected item and offset, then `fw_cfg/dma`
//! (version 0) and `fw_cfg/acpi_mr`.

use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::fw_cfg::{FwCfg, FwCfgAcpiMr, FwCfgDma};

const NAME: &str = "fw_cfg";
const DMA: &str = "fw_cfg/dma";
const ACPI_MR: &str = "fw_cfg/acpi_mr";

/// `fw_cfg_acpi_mr_restore()`.
fn acpi_mr_needed(s: &FwCfg) -> bool {
    let page = s.host_page_size.max(1);
    let m = &s.acpi_mr;
    let aligned =
        m.table_mr_size % page == 0 && m.linker_mr_size % page == 0 && m.rsdp_mr_size % page == 0;
    s.acpi_mr_restore && !aligned
}

impl HandWritten for FwCfg {
    fn hand_save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.cur_entry.to_be_bytes());
        out.extend_from_slice(&self.cur_offset.to_be_bytes());
        if self.dma_enabled {
            put_subsection(out, DMA, 0);
            out.extend_from_slice(&self.dma.dma_addr.to_be_bytes());
        }
        if acpi_mr_needed(self) {
            put_subsection(out, ACPI_MR, 1);
            out.extend_from_slice(&self.acpi_mr.table_mr_size.to_be_bytes());
            out.extend_from_slice(&self.acpi_mr.linker_mr_size.to_be_bytes());
            out.extend_from_slice(&self.acpi_mr.rsdp_mr_size.to_be_bytes());
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let mut s = FwCfg {
            cur_entry: r.be16()?,
            _cur_offset_v1: (),
            cur_offset: r.be32()?,
            ..current.clone()
        };
        while let Some((index, version)) = r.subsection(NAME, &[DMA, ACPI_MR])? {
            if index == 0 {
                version_ok(version, 0, 0)?;
                s.dma = FwCfgDma {
                    dma_addr: r.be64()?,
                };
            } else {
                version_ok(version, 1, 1)?;
                s.acpi_mr = FwCfgAcpiMr {
                    table_mr_size: r.be64()?,
                    linker_mr_size: r.be64()?,
                    rsdp_mr_size: r.be64()?,
                };
            }
        }
        r.finish()?;
        Some(s)
    }
}
