//! [`Mc146818Rtc`] by hand: CMOS, clock state with two unused runs, the
//! reinjection counter subsection when non-zero.

use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::mc146818rtc::{Mc146818Rtc, RtcIrqReinjectOnAckCount};

const NAME: &str = "mc146818rtc";
const REINJECT: &str = "mc146818rtc/irq_reinject_on_ack_count";

impl HandWritten for Mc146818Rtc {
    fn hand_save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.cmos_data);
        out.push(self.cmos_index);
        out.extend_from_slice(&[0; 28]);
        out.extend_from_slice(&self.periodic_timer.raw().to_be_bytes());
        out.extend_from_slice(&self.next_periodic_time.to_be_bytes());
        out.extend_from_slice(&[0; 24]);
        out.extend_from_slice(&self.irq_coalesced.to_be_bytes());
        out.extend_from_slice(&self.period.to_be_bytes());
        out.extend_from_slice(&self.base_rtc.to_be_bytes());
        out.extend_from_slice(&self.last_update.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.update_timer.raw().to_be_bytes());
        out.extend_from_slice(&self.next_alarm_time.to_be_bytes());
        let count = self.irq_reinject_on_ack_count.irq_reinject_on_ack_count;
        if count != 0 {
            put_subsection(out, REINJECT, 1);
            out.extend_from_slice(&count.to_be_bytes());
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let cmos_data = *r.array::<128>()?;
        let cmos_index = r.u8()?;
        r.skip(28)?;
        let periodic_timer = r.timer()?;
        let next_periodic_time = r.i64()?;
        r.skip(24)?;
        let mut s = Mc146818Rtc {
            cmos_data,
            cmos_index,
            _unused_tm: (),
            periodic_timer,
            next_periodic_time,
            _unused_second: (),
            irq_coalesced: r.be32()?,
            period: r.be32()?,
            base_rtc: r.be64()?,
            last_update: r.be64()?,
            offset: r.i64()?,
            update_timer: r.timer()?,
            next_alarm_time: r.be64()?,
            irq_reinject_on_ack_count: current.irq_reinject_on_ack_count.clone(),
        };
        while let Some((_, version)) = r.subsection(NAME, &[REINJECT])? {
            version_ok(version, 1, 1)?;
            s.irq_reinject_on_ack_count = RtcIrqReinjectOnAckCount {
                irq_reinject_on_ack_count: r.be16()?,
            };
        }
        r.finish()?;
        Some(s)
    }
}
