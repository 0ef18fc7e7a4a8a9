//! The Intel 82540EM NIC (`hw/net/e1000.c`: `vmstate_e1000` with the
//! subsections `e1000/mit_state`, `e1000/full_mac_state` and
//! `e1000/tx_tso_state`).
//!
//! QEMU migrates the MAC register file `mac_reg[0x8000]` four ways: 37
//! single registers (`VMSTATE_UINT32(mac_reg[CTRL], E1000State)`), three
//! runs (`VMSTATE_UINT32_SUB_ARRAY(mac_reg, E1000State, RA, 32)`), four
//! registers again in `e1000/mit_state`, and the whole file again in
//! `e1000/full_mac_state`. Here it is one Rust field, `mac_reg`, and every
//! one of those wire fields is a view of it; the subsections are inline,
//! over the device's own state, as in QEMU. `#[vmstate(default)]` builds
//! the 128 KiB register file and the 64 KiB transmit buffer.

use vmstate_core::VmState;

use super::piix3::PciDevice;

/// MAC register indices: the register's byte offset / 4 (QEMU's
/// `defreg(x)`, offsets of the 8254x manual and `e1000_regs.h`).
#[allow(missing_docs)]
pub mod reg {
    pub const CTRL: usize = 0x00000 >> 2;
    pub const STATUS: usize = 0x00008 >> 2;
    pub const EECD: usize = 0x00010 >> 2;
    pub const EERD: usize = 0x00014 >> 2;
    pub const MDIC: usize = 0x00020 >> 2;
    pub const VET: usize = 0x00038 >> 2;
    pub const ICR: usize = 0x000c0 >> 2;
    pub const ITR: usize = 0x000c4 >> 2;
    pub const ICS: usize = 0x000c8 >> 2;
    pub const IMS: usize = 0x000d0 >> 2;
    pub const IMC: usize = 0x000d8 >> 2;
    pub const RCTL: usize = 0x00100 >> 2;
    pub const TCTL: usize = 0x00400 >> 2;
    pub const LEDCTL: usize = 0x00e00 >> 2;
    pub const PBA: usize = 0x01000 >> 2;
    pub const RDBAL: usize = 0x02800 >> 2;
    pub const RDBAH: usize = 0x02804 >> 2;
    pub const RDLEN: usize = 0x02808 >> 2;
    pub const RDH: usize = 0x02810 >> 2;
    pub const RDT: usize = 0x02818 >> 2;
    pub const RDTR: usize = 0x02820 >> 2;
    pub const RADV: usize = 0x0282c >> 2;
    pub const TDBAL: usize = 0x03800 >> 2;
    pub const TDBAH: usize = 0x03804 >> 2;
    pub const TDLEN: usize = 0x03808 >> 2;
    pub const TDH: usize = 0x03810 >> 2;
    pub const TDT: usize = 0x03818 >> 2;
    pub const TXDCTL: usize = 0x03828 >> 2;
    pub const TADV: usize = 0x0382c >> 2;
    pub const MPC: usize = 0x04010 >> 2;
    pub const GPRC: usize = 0x04074 >> 2;
    pub const GPTC: usize = 0x04080 >> 2;
    pub const TORL: usize = 0x040c0 >> 2;
    pub const TORH: usize = 0x040c4 >> 2;
    pub const TOTL: usize = 0x040c8 >> 2;
    pub const TOTH: usize = 0x040cc >> 2;
    pub const TPR: usize = 0x040d0 >> 2;
    pub const TPT: usize = 0x040d4 >> 2;
    pub const MTA: usize = 0x05200 >> 2;
    pub const RA: usize = 0x05400 >> 2;
    pub const VFTA: usize = 0x05600 >> 2;
    pub const WUFC: usize = 0x05808 >> 2;
    pub const MANC: usize = 0x05820 >> 2;
    pub const SWSM: usize = 0x05b50 >> 2;
    /// The registers `vmstate_e1000` sends one by one, in its order.
    pub const SINGLE: [usize; 37] = [
        CTRL, EECD, EERD, GPRC, GPTC, ICR, ICS, IMC, IMS, LEDCTL, MANC, MDIC, MPC, PBA, RCTL,
        RDBAH, RDBAL, RDH, RDLEN, RDT, STATUS, SWSM, TCTL, TDBAH, TDBAL, TDH, TDLEN, TDT, TORH,
        TORL, TOTH, TOTL, TPR, TPT, TXDCTL, WUFC, VET,
    ];
}

use reg::*;

/// Size of the MAC register file (`0x8000` registers, 128 KiB).
pub const MAC_REGS: usize = 0x8000;
/// `PHY_STATUS`: the PHY status register's index.
pub const PHY_STATUS: usize = 0x01;
/// `MII_SR_AUTONEG_COMPLETE`.
pub const MII_SR_AUTONEG_COMPLETE: u16 = 0x0020;

/// TX offload properties (`struct e1000x_txd_props`): sent from
/// `mig_props` in the main section and from `tx.tso_props` in
/// `e1000/tx_tso_state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxProps {
    /// IP checksum start.
    pub ipcss: u8,
    /// IP checksum offset.
    pub ipcso: u8,
    /// IP checksum end.
    pub ipcse: u16,
    /// TCP/UDP checksum start.
    pub tucss: u8,
    /// TCP/UDP checksum offset.
    pub tucso: u8,
    /// TCP/UDP checksum end.
    pub tucse: u16,
    /// TSO payload length.
    pub paylen: u32,
    /// TSO header length.
    pub hdr_len: u8,
    /// TSO maximum segment size.
    pub mss: u16,
    /// IPv4 (1) or IPv6 (0).
    pub ip: i8,
    /// TCP (1) or UDP (0).
    pub tcp: i8,
}

/// The NIC: section `e1000`, version 2 (loads 1 and 2).
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "e1000", version = 2, minimum_version = 1, default,
          pre_save = E1000::pre_save, post_load = E1000::post_load)]
pub struct E1000 {
    /// The PCI function.
    #[vmstate(default = PciDevice::conventional())]
    pub parent_obj: PciDevice,
    /// Was the instance id (version 1 only).
    #[vmstate(unused = 4, exists = E1000::is_version_1)]
    _instance_id: (),
    /// Was `mmio_base`.
    #[vmstate(unused = 4)]
    _mmio_base: (),
    /// Receive buffer size.
    pub rxbuf_size: u32,
    /// Receive buffer size as a shift.
    pub rxbuf_min_shift: u32,
    /// EEPROM shift-in value.
    #[vmstate(name = "eecd_state.val_in")]
    pub eecd_val_in: u32,
    /// EEPROM bits shifted in.
    #[vmstate(name = "eecd_state.bitnum_in")]
    pub eecd_bitnum_in: u16,
    /// EEPROM bits shifted out.
    #[vmstate(name = "eecd_state.bitnum_out")]
    pub eecd_bitnum_out: u16,
    /// EEPROM read in progress.
    #[vmstate(name = "eecd_state.reading")]
    pub eecd_reading: u16,
    /// Last EECD written.
    #[vmstate(name = "eecd_state.old_eecd")]
    pub eecd_old_eecd: u32,
    /// `mig_props.ipcss` (`pre_save` fills the `mig_*` fields).
    #[vmstate(name = "mig_props.ipcss")]
    pub mig_ipcss: u8,
    /// `mig_props.ipcso`.
    #[vmstate(name = "mig_props.ipcso")]
    pub mig_ipcso: u8,
    /// `mig_props.ipcse`.
    #[vmstate(name = "mig_props.ipcse")]
    pub mig_ipcse: u16,
    /// `mig_props.tucss`.
    #[vmstate(name = "mig_props.tucss")]
    pub mig_tucss: u8,
    /// `mig_props.tucso`.
    #[vmstate(name = "mig_props.tucso")]
    pub mig_tucso: u8,
    /// `mig_props.tucse`.
    #[vmstate(name = "mig_props.tucse")]
    pub mig_tucse: u16,
    /// `mig_props.paylen`.
    #[vmstate(name = "mig_props.paylen")]
    pub mig_paylen: u32,
    /// `mig_props.hdr_len`.
    #[vmstate(name = "mig_props.hdr_len")]
    pub mig_hdr_len: u8,
    /// `mig_props.mss`.
    #[vmstate(name = "mig_props.mss")]
    pub mig_mss: u16,
    /// Bytes in the transmit buffer.
    #[vmstate(name = "tx.size")]
    pub tx_size: u16,
    /// TSO frames sent of the current packet.
    #[vmstate(name = "tx.tso_frames")]
    pub tx_tso_frames: u16,
    /// Checksums to insert.
    #[vmstate(name = "tx.sum_needed")]
    pub tx_sum_needed: u8,
    /// `mig_props.ip`.
    #[vmstate(name = "mig_props.ip")]
    pub mig_ip: i8,
    /// `mig_props.tcp`.
    #[vmstate(name = "mig_props.tcp")]
    pub mig_tcp: i8,
    /// The packet header being built.
    #[vmstate(buffer, name = "tx.header")]
    pub tx_header: [u8; 256],
    /// The packet being built (64 KiB).
    #[vmstate(buffer, name = "tx.data")]
    pub tx_data: Box<[u8; 0x10000]>,
    /// EEPROM contents.
    pub eeprom_data: [u16; 64],
    /// PHY registers.
    pub phy_reg: [u16; 0x20],
    /// The MAC register file: sent only through the views below.
    #[vmstate(skip)]
    pub mac_reg: Box<[u32; MAC_REGS]>,
    #[vmstate(view = mac_reg, index = [CTRL, EECD, EERD, GPRC, GPTC, ICR, ICS, IMC, IMS,
        LEDCTL, MANC, MDIC, MPC, PBA, RCTL, RDBAH, RDBAL, RDH, RDLEN, RDT, STATUS, SWSM, TCTL,
        TDBAH, TDBAL, TDH, TDLEN, TDT, TORH, TORL, TOTH, TOTL, TPR, TPT, TXDCTL, WUFC, VET])]
    _mac_regs: (),
    #[vmstate(view = mac_reg, start = RA, len = 32)]
    _ra: (),
    #[vmstate(view = mac_reg, start = MTA, len = 128)]
    _mta: (),
    #[vmstate(view = mac_reg, start = VFTA, len = 128)]
    _vfta: (),

    #[vmstate(subsection = "e1000/mit_state", version = 1, minimum_version = 1,
              needed = E1000::mit_needed)]
    _mit_state: (),
    #[vmstate(view = mac_reg, index = [RDTR, RADV, TADV, ITR])]
    _mit_regs: (),
    /// Interrupt mitigation: the IRQ line level.
    pub mit_irq_level: bool,

    #[vmstate(subsection = "e1000/full_mac_state", version = 1, minimum_version = 1,
              needed = E1000::full_mac_needed)]
    _full_mac_state: (),
    #[vmstate(view = mac_reg)]
    _all_mac_regs: (),

    #[vmstate(subsection = "e1000/tx_tso_state", version = 1, minimum_version = 1,
              needed = E1000::tso_needed, post_load = E1000::tso_post_load)]
    _tx_tso_state: (),
    /// `tx.tso_props.ipcss`.
    #[vmstate(name = "tx.tso_props.ipcss")]
    pub tso_ipcss: u8,
    /// `tx.tso_props.ipcso`.
    #[vmstate(name = "tx.tso_props.ipcso")]
    pub tso_ipcso: u8,
    /// `tx.tso_props.ipcse`.
    #[vmstate(name = "tx.tso_props.ipcse")]
    pub tso_ipcse: u16,
    /// `tx.tso_props.tucss`.
    #[vmstate(name = "tx.tso_props.tucss")]
    pub tso_tucss: u8,
    /// `tx.tso_props.tucso`.
    #[vmstate(name = "tx.tso_props.tucso")]
    pub tso_tucso: u8,
    /// `tx.tso_props.tucse`.
    #[vmstate(name = "tx.tso_props.tucse")]
    pub tso_tucse: u16,
    /// `tx.tso_props.paylen`.
    #[vmstate(name = "tx.tso_props.paylen")]
    pub tso_paylen: u32,
    /// `tx.tso_props.hdr_len`.
    #[vmstate(name = "tx.tso_props.hdr_len")]
    pub tso_hdr_len: u8,
    /// `tx.tso_props.mss`.
    #[vmstate(name = "tx.tso_props.mss")]
    pub tso_mss: u16,
    /// `tx.tso_props.ip`.
    #[vmstate(name = "tx.tso_props.ip")]
    pub tso_ip: i8,
    /// `tx.tso_props.tcp`.
    #[vmstate(name = "tx.tso_props.tcp")]
    pub tso_tcp: i8,

    /// The offload properties last set by a non-TSO context descriptor.
    #[vmstate(skip)]
    pub props: TxProps,
    /// The `mitigation` property (default on).
    #[vmstate(skip, default = true)]
    pub flag_mit: bool,
    /// The `extra_mac_registers` property (default on).
    #[vmstate(skip, default = true)]
    pub flag_mac: bool,
    /// The `migrate_tso_props` property (default on).
    #[vmstate(skip, default = true)]
    pub flag_tso: bool,
    /// The last load brought `e1000/tx_tso_state`.
    #[vmstate(skip)]
    pub received_tx_tso: bool,
}

impl E1000 {
    fn is_version_1(&self, version_id: u32) -> bool {
        version_id == 1
    }
    fn mit_needed(&self) -> bool {
        self.flag_mit
    }
    fn full_mac_needed(&self) -> bool {
        self.flag_mac
    }
    fn tso_needed(&self) -> bool {
        self.flag_tso
    }
    fn tso_post_load(&mut self, _version_id: u32) -> Result<(), String> {
        self.received_tx_tso = true;
        Ok(())
    }

    /// The TSO properties as one value.
    pub fn tso_props(&self) -> TxProps {
        TxProps {
            ipcss: self.tso_ipcss,
            ipcso: self.tso_ipcso,
            ipcse: self.tso_ipcse,
            tucss: self.tso_tucss,
            tucso: self.tso_tucso,
            tucse: self.tso_tucse,
            paylen: self.tso_paylen,
            hdr_len: self.tso_hdr_len,
            mss: self.tso_mss,
            ip: self.tso_ip,
            tcp: self.tso_tcp,
        }
    }

    fn mig_props(&self) -> TxProps {
        TxProps {
            ipcss: self.mig_ipcss,
            ipcso: self.mig_ipcso,
            ipcse: self.mig_ipcse,
            tucss: self.mig_tucss,
            tucso: self.mig_tucso,
            tucse: self.mig_tucse,
            paylen: self.mig_paylen,
            hdr_len: self.mig_hdr_len,
            mss: self.mig_mss,
            ip: self.mig_ip,
            tcp: self.mig_tcp,
        }
    }

    fn set_mig_props(&mut self, p: TxProps) {
        self.mig_ipcss = p.ipcss;
        self.mig_ipcso = p.ipcso;
        self.mig_ipcse = p.ipcse;
        self.mig_tucss = p.tucss;
        self.mig_tucso = p.tucso;
        self.mig_tucse = p.tucse;
        self.mig_paylen = p.paylen;
        self.mig_hdr_len = p.hdr_len;
        self.mig_mss = p.mss;
        self.mig_ip = p.ip;
        self.mig_tcp = p.tcp;
    }

    fn set_tso_props(&mut self, p: TxProps) {
        self.tso_ipcss = p.ipcss;
        self.tso_ipcso = p.ipcso;
        self.tso_ipcse = p.ipcse;
        self.tso_tucss = p.tucss;
        self.tso_tucso = p.tucso;
        self.tso_tucse = p.tucse;
        self.tso_paylen = p.paylen;
        self.tso_hdr_len = p.hdr_len;
        self.tso_mss = p.mss;
        self.tso_ip = p.ip;
        self.tso_tcp = p.tcp;
    }

    /// `e1000_pre_save()`, the part that is state: with the TSO subsection
    /// the main section carries `props` (QEMU also completes a pending
    /// auto-negotiation when the link is down).
    fn pre_save(&mut self) -> Result<(), String> {
        if self.flag_tso {
            let props = self.props;
            self.set_mig_props(props);
        }
        Ok(())
    }

    /// `e1000_post_load()`, the parts that are state.
    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        if !self.flag_mit {
            for r in [ITR, RDTR, RADV, TADV] {
                self.mac_reg[r] = 0;
            }
            self.mit_irq_level = false;
        }
        self.props = self.mig_props();
        if !self.received_tx_tso {
            let props = self.props;
            self.set_tso_props(props);
        }
        Ok(())
    }
}
