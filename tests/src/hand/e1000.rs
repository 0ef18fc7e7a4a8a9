//! [`E1000`] by hand: the PCI function, the NIC's scalars, the 64 KiB
//! transmit buffer, EEPROM and PHY, 325 MAC registers; then
//! `e1000/mit_state`, `e1000/full_mac_state` (the whole 128 KiB register
//! file) and `e1000/tx_tso_state`, as the compat flags say.

use super::piix3::{load_pci_device, save_pci_device};
use super::{Cursor, HandWritten, put_be16s, put_be32s, put_subsection, version_ok};
use crate::devices::e1000::{E1000, TxProps, reg};

const NAME: &str = "e1000";
const SUBSECTIONS: [&str; 3] = [
    "e1000/mit_state",
    "e1000/full_mac_state",
    "e1000/tx_tso_state",
];
const MIT_REGS: [usize; 4] = [reg::RDTR, reg::RADV, reg::TADV, reg::ITR];

fn put_props_head(p: &TxProps, out: &mut Vec<u8>) {
    out.extend_from_slice(&[p.ipcss, p.ipcso]);
    out.extend_from_slice(&p.ipcse.to_be_bytes());
    out.extend_from_slice(&[p.tucss, p.tucso]);
    out.extend_from_slice(&p.tucse.to_be_bytes());
    out.extend_from_slice(&p.paylen.to_be_bytes());
    out.push(p.hdr_len);
    out.extend_from_slice(&p.mss.to_be_bytes());
}

fn get_props_head(r: &mut Cursor<'_>) -> Option<TxProps> {
    Some(TxProps {
        ipcss: r.u8()?,
        ipcso: r.u8()?,
        ipcse: r.be16()?,
        tucss: r.u8()?,
        tucso: r.u8()?,
        tucse: r.be16()?,
        paylen: r.be32()?,
        hdr_len: r.u8()?,
        mss: r.be16()?,
        ip: 0,
        tcp: 0,
    })
}

fn mig_props(s: &E1000) -> TxProps {
    TxProps {
        ipcss: s.mig_ipcss,
        ipcso: s.mig_ipcso,
        ipcse: s.mig_ipcse,
        tucss: s.mig_tucss,
        tucso: s.mig_tucso,
        tucse: s.mig_tucse,
        paylen: s.mig_paylen,
        hdr_len: s.mig_hdr_len,
        mss: s.mig_mss,
        ip: s.mig_ip,
        tcp: s.mig_tcp,
    }
}

fn set_mig_props(s: &mut E1000, p: TxProps) {
    (s.mig_ipcss, s.mig_ipcso, s.mig_ipcse) = (p.ipcss, p.ipcso, p.ipcse);
    (s.mig_tucss, s.mig_tucso, s.mig_tucse) = (p.tucss, p.tucso, p.tucse);
    (s.mig_paylen, s.mig_hdr_len, s.mig_mss) = (p.paylen, p.hdr_len, p.mss);
    (s.mig_ip, s.mig_tcp) = (p.ip, p.tcp);
}

fn set_tso_props(s: &mut E1000, p: TxProps) {
    (s.tso_ipcss, s.tso_ipcso, s.tso_ipcse) = (p.ipcss, p.ipcso, p.ipcse);
    (s.tso_tucss, s.tso_tucso, s.tso_tucse) = (p.tucss, p.tucso, p.tucse);
    (s.tso_paylen, s.tso_hdr_len, s.tso_mss) = (p.paylen, p.hdr_len, p.mss);
    (s.tso_ip, s.tso_tcp) = (p.ip, p.tcp);
}

impl HandWritten for E1000 {
    fn hand_save(&self, out: &mut Vec<u8>) {
        save_pci_device(&self.parent_obj, out);
        out.extend_from_slice(&[0; 4]); // was mmio_base
        out.extend_from_slice(&self.rxbuf_size.to_be_bytes());
        out.extend_from_slice(&self.rxbuf_min_shift.to_be_bytes());
        out.extend_from_slice(&self.eecd_val_in.to_be_bytes());
        out.extend_from_slice(&self.eecd_bitnum_in.to_be_bytes());
        out.extend_from_slice(&self.eecd_bitnum_out.to_be_bytes());
        out.extend_from_slice(&self.eecd_reading.to_be_bytes());
        out.extend_from_slice(&self.eecd_old_eecd.to_be_bytes());
        // e1000_pre_save(): with the TSO subsection, the main section
        // carries the non-TSO context's properties.
        let mig = if self.flag_tso {
            self.props
        } else {
            mig_props(self)
        };
        put_props_head(&mig, out);
        out.extend_from_slice(&self.tx_size.to_be_bytes());
        out.extend_from_slice(&self.tx_tso_frames.to_be_bytes());
        out.extend_from_slice(&[self.tx_sum_needed, mig.ip as u8, mig.tcp as u8]);
        out.extend_from_slice(&self.tx_header);
        out.extend_from_slice(&self.tx_data[..]);
        put_be16s(out, &self.eeprom_data);
        put_be16s(out, &self.phy_reg);
        let mac = &self.mac_reg;
        for r in reg::SINGLE {
            out.extend_from_slice(&mac[r].to_be_bytes());
        }
        put_be32s(out, &mac[reg::RA..reg::RA + 32]);
        put_be32s(out, &mac[reg::MTA..reg::MTA + 128]);
        put_be32s(out, &mac[reg::VFTA..reg::VFTA + 128]);
        if self.flag_mit {
            put_subsection(out, SUBSECTIONS[0], 1);
            for r in MIT_REGS {
                out.extend_from_slice(&mac[r].to_be_bytes());
            }
            out.push(u8::from(self.mit_irq_level));
        }
        if self.flag_mac {
            put_subsection(out, SUBSECTIONS[1], 1);
            put_be32s(out, &mac[..]);
        }
        if self.flag_tso {
            put_subsection(out, SUBSECTIONS[2], 1);
            let tso = self.tso_props();
            put_props_head(&tso, out);
            out.extend_from_slice(&[tso.ip as u8, tso.tcp as u8]);
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let parent_obj = load_pci_device(&mut r, &current.parent_obj)?;
        let mut s = current.clone();
        s.parent_obj = parent_obj;
        r.skip(4)?;
        s.rxbuf_size = r.be32()?;
        s.rxbuf_min_shift = r.be32()?;
        s.eecd_val_in = r.be32()?;
        s.eecd_bitnum_in = r.be16()?;
        s.eecd_bitnum_out = r.be16()?;
        s.eecd_reading = r.be16()?;
        s.eecd_old_eecd = r.be32()?;
        let mut mig = get_props_head(&mut r)?;
        s.tx_size = r.be16()?;
        s.tx_tso_frames = r.be16()?;
        s.tx_sum_needed = r.u8()?;
        mig.ip = r.i8()?;
        mig.tcp = r.i8()?;
        set_mig_props(&mut s, mig);
        r.u8s(&mut s.tx_header)?;
        r.u8s(&mut s.tx_data[..])?;
        r.be16s(&mut s.eeprom_data)?;
        r.be16s(&mut s.phy_reg)?;
        for i in reg::SINGLE {
            s.mac_reg[i] = r.be32()?;
        }
        r.be32s(&mut s.mac_reg[reg::RA..reg::RA + 32])?;
        r.be32s(&mut s.mac_reg[reg::MTA..reg::MTA + 128])?;
        r.be32s(&mut s.mac_reg[reg::VFTA..reg::VFTA + 128])?;
        while let Some((index, version)) = r.subsection(NAME, &SUBSECTIONS)? {
            version_ok(version, 1, 1)?;
            match index {
                0 => {
                    for i in MIT_REGS {
                        s.mac_reg[i] = r.be32()?;
                    }
                    s.mit_irq_level = r.bool()?;
                }
                1 => r.be32s(&mut s.mac_reg[..])?,
                _ => {
                    let mut tso = get_props_head(&mut r)?;
                    tso.ip = r.i8()?;
                    tso.tcp = r.i8()?;
                    set_tso_props(&mut s, tso);
                    s.received_tx_tso = true;
                }
            }
        }
        r.finish()?;
        // e1000_post_load().
        if !s.flag_mit {
            for i in [reg::ITR, reg::RDTR, reg::RADV, reg::TADV] {
                s.mac_reg[i] = 0;
            }
            s.mit_irq_level = false;
        }
        s.props = mig_props(&s);
        if !s.received_tx_tso {
            let props = s.props;
            set_tso_props(&mut s, props);
        }
        Some(s)
    }
}
