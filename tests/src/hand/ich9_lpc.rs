//! [`Ich9Lpc`] by hand: the PCI function, APM, power management with its
//! four subsections (memory hotplug, TCO, CPU hotplug, PCI hotplug; the
//! hotplug arrays sized by the machine's slot counts), the 16 KiB chipset
//! configuration, then `ICH9LPC/rst_cnt` and `ICH9LPC/smi_feat`.

use super::piix3::{load_pci_device, save_pci_device};
use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::ich9_lpc::{AcpiPciHpPciStatus, CpuStatus, Ich9Lpc, Ich9Pm, MemStatus};

const NAME: &str = "ICH9LPC";
const SUBSECTIONS: [&str; 2] = ["ICH9LPC/rst_cnt", "ICH9LPC/smi_feat"];
const APM: &str = "APM State";
const PM: &str = "ich9_pm";
const PM_SUBSECTIONS: [&str; 4] = [
    "ich9_pm/memhp",
    "ich9_pm/tco",
    "ich9_pm/cpuhp",
    "ich9_pm/pcihp",
];
const MEM_HOTPLUG: &str = "memory hotplug state";
const MEM_STATUS: &str = "memory hotplug device state";
const CPU_HOTPLUG: &str = "CPU hotplug state";
const CPU_STATUS: &str = "CPU hotplug device state";
const TCO: &str = "tco io device status";
const PCIHP_STATUS: &str = "acpi_pcihp_pci_status";

fn save_pm(pm: &Ich9Pm, out: &mut Vec<u8>) {
    out.extend_from_slice(&pm.pm1_evt_sts.to_be_bytes());
    out.extend_from_slice(&pm.pm1_evt_en.to_be_bytes());
    out.extend_from_slice(&pm.pm1_cnt.to_be_bytes());
    out.extend_from_slice(&pm.tmr_timer.raw().to_be_bytes());
    out.extend_from_slice(&pm.tmr_overflow_time.to_be_bytes());
    out.extend_from_slice(&pm.gpe_sts);
    out.extend_from_slice(&pm.gpe_en);
    out.extend_from_slice(&pm.smi_en.to_be_bytes());
    out.extend_from_slice(&pm.smi_sts.to_be_bytes());
    if pm.memory_hotplug_enabled {
        put_subsection(out, PM_SUBSECTIONS[0], 1);
        let m = &pm.acpi_memory_hotplug;
        out.extend_from_slice(&m.selector.to_be_bytes());
        for d in &m.devs {
            out.extend_from_slice(&[u8::from(d.is_enabled), u8::from(d.is_inserting)]);
            out.extend_from_slice(&d.ost_event.to_be_bytes());
            out.extend_from_slice(&d.ost_status.to_be_bytes());
        }
    }
    if pm.enable_tco {
        put_subsection(out, PM_SUBSECTIONS[1], 1);
        let t = &pm.tco_regs;
        out.extend_from_slice(&t.rld.to_be_bytes());
        out.extend_from_slice(&[t.din, t.dout]);
        for x in [t.sts1, t.sts2, t.cnt1, t.cnt2] {
            out.extend_from_slice(&x.to_be_bytes());
        }
        out.extend_from_slice(&[t.msg1, t.msg2, t.wdcnt]);
        out.extend_from_slice(&t.tmr.to_be_bytes());
        out.push(t.sw_irq_gen);
        out.extend_from_slice(&t.tco_timer.raw().to_be_bytes());
        out.extend_from_slice(&t.expire_time.to_be_bytes());
        out.push(t.timeouts_no);
    }
    if !pm.cpu_hotplug_legacy {
        put_subsection(out, PM_SUBSECTIONS[2], 1);
        let c = &pm.cpuhp_state;
        out.extend_from_slice(&c.selector.to_be_bytes());
        out.push(c.command);
        for d in &c.devs {
            out.extend_from_slice(&[u8::from(d.is_inserting), u8::from(d.is_removing)]);
            out.extend_from_slice(&d.ost_event.to_be_bytes());
            out.extend_from_slice(&d.ost_status.to_be_bytes());
        }
    }
    if pm.use_acpi_pci_hotplug {
        put_subsection(out, PM_SUBSECTIONS[3], 1);
        out.extend_from_slice(&pm.hotplug_select.to_be_bytes());
        for st in &pm.acpi_pcihp_pci_status {
            out.extend_from_slice(&st.up.to_be_bytes());
            out.extend_from_slice(&st.down.to_be_bytes());
        }
        out.extend_from_slice(&pm.acpi_index.to_be_bytes());
    }
}

fn load_pm(r: &mut Cursor<'_>, pm: &mut Ich9Pm) -> Option<()> {
    pm.pm1_evt_sts = r.be16()?;
    pm.pm1_evt_en = r.be16()?;
    pm.pm1_cnt = r.be16()?;
    pm.tmr_timer = r.timer()?;
    pm.tmr_overflow_time = r.i64()?;
    r.u8s(&mut pm.gpe_sts)?;
    r.u8s(&mut pm.gpe_en)?;
    pm.smi_en = r.be32()?;
    pm.smi_sts = r.be32()?;
    while let Some((index, version)) = r.subsection(PM, &PM_SUBSECTIONS)? {
        version_ok(version, 1, 1)?;
        match index {
            0 => {
                let m = &mut pm.acpi_memory_hotplug;
                m.selector = r.be32()?;
                let n = m.dev_count as usize;
                let mut devs = Vec::with_capacity(n);
                for _ in 0..n {
                    devs.push(MemStatus {
                        is_enabled: r.bool()?,
                        is_inserting: r.bool()?,
                        ost_event: r.be32()?,
                        ost_status: r.be32()?,
                    });
                    r.no_subsection(MEM_STATUS)?;
                }
                m.devs = devs;
                r.no_subsection(MEM_HOTPLUG)?;
            }
            1 => {
                let t = &mut pm.tco_regs;
                t.rld = r.be16()?;
                t.din = r.u8()?;
                t.dout = r.u8()?;
                t.sts1 = r.be16()?;
                t.sts2 = r.be16()?;
                t.cnt1 = r.be16()?;
                t.cnt2 = r.be16()?;
                t.msg1 = r.u8()?;
                t.msg2 = r.u8()?;
                t.wdcnt = r.u8()?;
                t.tmr = r.be16()?;
                t.sw_irq_gen = r.u8()?;
                t.tco_timer = r.timer()?;
                t.expire_time = r.i64()?;
                t.timeouts_no = r.u8()?;
                r.no_subsection(TCO)?;
            }
            2 => {
                let c = &mut pm.cpuhp_state;
                c.selector = r.be32()?;
                c.command = r.u8()?;
                let n = c.dev_count as usize;
                let mut devs = Vec::with_capacity(n);
                for _ in 0..n {
                    devs.push(CpuStatus {
                        is_inserting: r.bool()?,
                        is_removing: r.bool()?,
                        ost_event: r.be32()?,
                        ost_status: r.be32()?,
                    });
                    r.no_subsection(CPU_STATUS)?;
                }
                c.devs = devs;
                r.no_subsection(CPU_HOTPLUG)?;
            }
            _ => {
                pm.hotplug_select = r.be32()?;
                for st in &mut pm.acpi_pcihp_pci_status {
                    *st = AcpiPciHpPciStatus {
                        up: r.be32()?,
                        down: r.be32()?,
                    };
                    r.no_subsection(PCIHP_STATUS)?;
                }
                pm.acpi_index = r.be32()?;
            }
        }
    }
    Some(())
}

impl HandWritten for Ich9Lpc {
    fn hand_save(&self, out: &mut Vec<u8>) {
        save_pci_device(&self.d, out);
        out.extend_from_slice(&[self.apm.apmc, self.apm.apms]);
        save_pm(&self.pm, out);
        out.extend_from_slice(&self.chip_config);
        out.extend_from_slice(&self.sci_level.to_be_bytes());
        if self.rst_cnt != 0 {
            put_subsection(out, SUBSECTIONS[0], 1);
            out.push(self.rst_cnt);
        }
        if self.smi_guest_features_le != [0; 8] || self.smi_features_ok != 0 {
            put_subsection(out, SUBSECTIONS[1], 1);
            out.extend_from_slice(&self.smi_guest_features_le);
            out.push(self.smi_features_ok);
            out.extend_from_slice(&self.smi_negotiated_features.to_be_bytes());
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let mut s = current.clone();
        s.d = load_pci_device(&mut r, &current.d)?;
        s.apm.apmc = r.u8()?;
        s.apm.apms = r.u8()?;
        r.no_subsection(APM)?;
        load_pm(&mut r, &mut s.pm)?;
        r.u8s(&mut s.chip_config)?;
        s.sci_level = r.be32()?;
        while let Some((index, version)) = r.subsection(NAME, &SUBSECTIONS)? {
            version_ok(version, 1, 1)?;
            if index == 0 {
                s.rst_cnt = r.u8()?;
            } else {
                r.u8s(&mut s.smi_guest_features_le)?;
                s.smi_features_ok = r.u8()?;
                s.smi_negotiated_features = r.be64()?;
            }
        }
        r.finish()?;
        Some(s)
    }
}
