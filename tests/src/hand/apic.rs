//! [`Apic`] by hand: the registers, then `apic_sipi` while a SIPI is awaited.

use super::{Cursor, HandWritten, put_be32s, put_subsection, version_ok};
use crate::devices::apic::Apic;

const NAME: &str = "apic";
const SIPI: &str = "apic_sipi";

impl HandWritten for Apic {
    fn hand_save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.apicbase.to_be_bytes());
        out.extend_from_slice(&[self.id, self.arb_id, self.tpr]);
        out.extend_from_slice(&self.spurious_vec.to_be_bytes());
        out.extend_from_slice(&[self.log_dest, self.dest_mode]);
        put_be32s(out, &self.isr);
        put_be32s(out, &self.tmr);
        put_be32s(out, &self.irr);
        put_be32s(out, &self.lvt);
        out.extend_from_slice(&self.esr.to_be_bytes());
        put_be32s(out, &self.icr);
        out.extend_from_slice(&self.divide_conf.to_be_bytes());
        out.extend_from_slice(&self.count_shift.to_be_bytes());
        out.extend_from_slice(&self.initial_count.to_be_bytes());
        out.extend_from_slice(&self.initial_count_load_time.to_be_bytes());
        out.extend_from_slice(&self.next_time.to_be_bytes());
        out.extend_from_slice(&self.timer_expiry.to_be_bytes());
        if self.wait_for_sipi != 0 {
            put_subsection(out, SIPI, 1);
            out.extend_from_slice(&self.sipi_vector.to_be_bytes());
            out.extend_from_slice(&self.wait_for_sipi.to_be_bytes());
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let mut s = current.clone();
        s.apicbase = r.be32()?;
        s.id = r.u8()?;
        s.arb_id = r.u8()?;
        s.tpr = r.u8()?;
        s.spurious_vec = r.be32()?;
        s.log_dest = r.u8()?;
        s.dest_mode = r.u8()?;
        r.be32s(&mut s.isr)?;
        r.be32s(&mut s.tmr)?;
        r.be32s(&mut s.irr)?;
        r.be32s(&mut s.lvt)?;
        s.esr = r.be32()?;
        r.be32s(&mut s.icr)?;
        s.divide_conf = r.be32()?;
        s.count_shift = r.i32()?;
        s.initial_count = r.be32()?;
        s.initial_count_load_time = r.i64()?;
        s.next_time = r.i64()?;
        s.timer_expiry = r.i64()?;
        // pre_load: no SIPI awaited unless the subsection says so.
        s.wait_for_sipi = 0;
        while let Some((_, version)) = r.subsection(NAME, &[SIPI])? {
            version_ok(version, 1, 1)?;
            s.sipi_vector = r.i32()?;
            s.wait_for_sipi = r.i32()?;
        }
        r.finish()?;
        Some(s)
    }
}
