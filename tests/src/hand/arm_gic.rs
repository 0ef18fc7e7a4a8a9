//! [`ArmGic`] by hand: the distributor, 1020 per-IRQ structs, the CPU
//! interfaces' first halves; `arm_gic_virt_state` sends the hypervisor
//! interface and the second halves.

use super::{Cursor, HandWritten, put_be16s, put_be32s, put_subsection, version_ok};
use crate::devices::arm_gic::{ArmGic, GIC_NCPU, GicIrqState};

const NAME: &str = "arm_gic";
const IRQ_STATE: &str = "arm_gic_irq_state";
const VIRT: &str = "arm_gic_virt_state";

/// The CPU interface arrays' halves: `[0, GIC_NCPU)` in the main section,
/// `[GIC_NCPU, 2 * GIC_NCPU)` in the subsection.
fn save_cpu_halves(s: &ArmGic, half: std::ops::Range<usize>, out: &mut Vec<u8>) {
    put_be32s(out, &s.cpu_ctlr[half.clone()]);
    put_be16s(out, &s.priority_mask[half.clone()]);
    put_be16s(out, &s.running_priority[half.clone()]);
    put_be16s(out, &s.current_pending[half.clone()]);
    out.extend_from_slice(&s.bpr[half.clone()]);
    out.extend_from_slice(&s.abpr[half]);
}

fn load_cpu_halves(r: &mut Cursor<'_>, s: &mut ArmGic, half: std::ops::Range<usize>) -> Option<()> {
    r.be32s(&mut s.cpu_ctlr[half.clone()])?;
    r.be16s(&mut s.priority_mask[half.clone()])?;
    r.be16s(&mut s.running_priority[half.clone()])?;
    r.be16s(&mut s.current_pending[half.clone()])?;
    r.u8s(&mut s.bpr[half.clone()])?;
    r.u8s(&mut s.abpr[half])
}

impl HandWritten for ArmGic {
    fn hand_save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ctlr.to_be_bytes());
        put_be32s(out, &self.cpu_ctlr[..GIC_NCPU]);
        for q in &self.irq_state {
            out.extend_from_slice(&[
                q.enabled,
                q.pending,
                q.active,
                q.level,
                u8::from(q.model),
                u8::from(q.edge_trigger),
                q.group,
            ]);
        }
        out.extend_from_slice(&self.irq_target);
        out.extend_from_slice(self.priority1.as_flattened());
        out.extend_from_slice(&self.priority2);
        out.extend_from_slice(self.sgi_pending.as_flattened());
        put_be16s(out, &self.priority_mask[..GIC_NCPU]);
        put_be16s(out, &self.running_priority[..GIC_NCPU]);
        put_be16s(out, &self.current_pending[..GIC_NCPU]);
        out.extend_from_slice(&self.bpr[..GIC_NCPU]);
        out.extend_from_slice(&self.abpr[..GIC_NCPU]);
        put_be32s(out, self.apr.as_flattened());
        put_be32s(out, self.nsapr.as_flattened());
        if self.virt_extn {
            put_subsection(out, VIRT, 1);
            put_be32s(out, &self.h_hcr);
            put_be32s(out, &self.h_misr);
            put_be32s(out, self.h_lr.as_flattened());
            put_be32s(out, &self.h_apr);
            save_cpu_halves(self, GIC_NCPU..2 * GIC_NCPU, out);
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let mut s = current.clone();
        s.ctlr = r.be32()?;
        r.be32s(&mut s.cpu_ctlr[..GIC_NCPU])?;
        for q in &mut s.irq_state {
            let &[enabled, pending, active, level, model, edge_trigger, group] = r.array::<7>()?;
            *q = GicIrqState {
                enabled,
                pending,
                active,
                level,
                model: model != 0,
                edge_trigger: edge_trigger != 0,
                group,
            };
            r.no_subsection(IRQ_STATE)?;
        }
        r.u8s(&mut s.irq_target)?;
        r.u8s(s.priority1.as_flattened_mut())?;
        r.u8s(&mut s.priority2)?;
        r.u8s(s.sgi_pending.as_flattened_mut())?;
        r.be16s(&mut s.priority_mask[..GIC_NCPU])?;
        r.be16s(&mut s.running_priority[..GIC_NCPU])?;
        r.be16s(&mut s.current_pending[..GIC_NCPU])?;
        r.u8s(&mut s.bpr[..GIC_NCPU])?;
        r.u8s(&mut s.abpr[..GIC_NCPU])?;
        r.be32s(s.apr.as_flattened_mut())?;
        r.be32s(s.nsapr.as_flattened_mut())?;
        while let Some((_, version)) = r.subsection(NAME, &[VIRT])? {
            version_ok(version, 1, 1)?;
            r.be32s(&mut s.h_hcr)?;
            r.be32s(&mut s.h_misr)?;
            r.be32s(s.h_lr.as_flattened_mut())?;
            r.be32s(&mut s.h_apr)?;
            load_cpu_halves(&mut r, &mut s, GIC_NCPU..2 * GIC_NCPU)?;
        }
        r.finish()?;
        Some(s)
    }
}
