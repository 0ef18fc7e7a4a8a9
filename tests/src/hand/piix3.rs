//! [`Piix3`] by hand, and the PCI function state ([`PciDevice`]) that
//! e1000 and the ICH9 LPC bridge embed too.

use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::piix3::{PciConfig, PciDevice, PciIrqLevel, PciIrqState, Piix3, Piix3Rcr};

const NAME: &str = "PIIX3";
const RCR: &str = "PIIX3/rcr";
const PCI_DEVICE: &str = "PCIDevice";

/// Appends a `PCIDevice` (version 2): `version_id`, the configuration space
/// (256 or 4096 bytes), the four INTx levels.
pub fn save_pci_device(d: &PciDevice, out: &mut Vec<u8>) {
    out.extend_from_slice(&d.version_id.to_be_bytes());
    if d.express {
        out.extend_from_slice(&d.config_express);
    } else {
        out.extend_from_slice(&d.config);
    }
    for level in d.irq_state.0 {
        out.extend_from_slice(&(level as u32).to_be_bytes());
    }
}

/// Parses a `PCIDevice` (version 2) into a new value: `version_id` must be
/// `0..=` the destination's, every INTx level 0 or 1.
pub fn load_pci_device(r: &mut Cursor<'_>, current: &PciDevice) -> Option<PciDevice> {
    let version_id = r.i32()?;
    if !(0..=current.version_id).contains(&version_id) {
        return None;
    }
    let (config, config_express) = if current.express {
        (current.config.clone(), PciConfig(r.bytes(4096)?.to_vec()))
    } else {
        (
            PciConfig(r.bytes(256)?.to_vec()),
            current.config_express.clone(),
        )
    };
    let mut irq_state = [PciIrqLevel::Low; 4];
    for level in &mut irq_state {
        *level = match r.be32()? {
            0 => PciIrqLevel::Low,
            1 => PciIrqLevel::High,
            _ => return None,
        };
    }
    r.no_subsection(PCI_DEVICE)?;
    Some(PciDevice {
        version_id,
        config,
        config_express,
        irq_state: PciIrqState(irq_state),
        express: current.express,
    })
}

impl HandWritten for Piix3 {
    fn hand_save(&self, out: &mut Vec<u8>) {
        save_pci_device(&self.dev, out);
        for l in self.pci_irq_levels_vmstate {
            out.extend_from_slice(&l.to_be_bytes());
        }
        if self.rcr.rcr != 0 {
            put_subsection(out, RCR, 1);
            out.push(self.rcr.rcr);
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let dev = load_pci_device(&mut r, &current.dev)?;
        let mut pci_irq_levels_vmstate = [0; 4];
        r.i32s(&mut pci_irq_levels_vmstate)?;
        let mut rcr = current.rcr.clone();
        while let Some((_, version)) = r.subsection(NAME, &[RCR])? {
            version_ok(version, 1, 1)?;
            rcr = Piix3Rcr { rcr: r.u8()? };
        }
        r.finish()?;
        Some(Piix3 {
            dev,
            pci_irq_levels_vmstate,
            rcr,
        })
    }
}
