//! [`Hpet`] by hand: the registers, the timer count (validated against the
//! device's), that many timers, then `hpet/rtc_irq_level` and `hpet/offset`.

use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::hpet::{Hpet, HpetOffset, HpetRtcIrqLevel, HpetTimer};

const NAME: &str = "hpet";
const TIMER: &str = "hpet_timer";
const RTC_IRQ_LEVEL: &str = "hpet/rtc_irq_level";
const OFFSET: &str = "hpet/offset";

fn load_timer(r: &mut Cursor<'_>) -> Option<HpetTimer> {
    let t = HpetTimer {
        tn: r.u8()?,
        config: r.be64()?,
        cmp: r.be64()?,
        fsb: r.be64()?,
        period: r.be64()?,
        wrap_flag: r.u8()?,
        qemu_timer: r.timer()?,
    };
    r.no_subsection(TIMER)?;
    Some(t)
}

impl HandWritten for Hpet {
    fn hand_save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.config.to_be_bytes());
        out.extend_from_slice(&self.isr.to_be_bytes());
        out.extend_from_slice(&self.hpet_counter.to_be_bytes());
        // pre_save: the count sent is the device's.
        out.push(self.num_timers);
        for t in self.timer.iter().take(usize::from(self.num_timers)) {
            out.push(t.tn);
            out.extend_from_slice(&t.config.to_be_bytes());
            out.extend_from_slice(&t.cmp.to_be_bytes());
            out.extend_from_slice(&t.fsb.to_be_bytes());
            out.extend_from_slice(&t.period.to_be_bytes());
            out.push(t.wrap_flag);
            out.extend_from_slice(&t.qemu_timer.raw().to_be_bytes());
        }
        if self.rtc_irq_level.rtc_irq_level != 0 {
            put_subsection(out, RTC_IRQ_LEVEL, 1);
            out.push(self.rtc_irq_level.rtc_irq_level);
        }
        if self.enabled() && self.hpet_offset_saved {
            put_subsection(out, OFFSET, 1);
            out.extend_from_slice(&self.offset.hpet_offset.to_be_bytes());
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        // Timers past the count, and absent subsections, keep current's.
        let mut s = current.clone();
        s.config = r.be64()?;
        s.isr = r.be64()?;
        s.hpet_counter = r.be64()?;
        s.num_timers_save = r.u8()?;
        // "num_timers must match".
        if s.num_timers_save != s.num_timers {
            return None;
        }
        let n = usize::from(s.num_timers_save);
        for t in s.timer.get_mut(..n)? {
            *t = load_timer(&mut r)?;
        }
        while let Some((index, version)) = r.subsection(NAME, &[RTC_IRQ_LEVEL, OFFSET])? {
            version_ok(version, 1, 1)?;
            if index == 0 {
                s.rtc_irq_level = HpetRtcIrqLevel {
                    rtc_irq_level: r.u8()?,
                };
            } else {
                s.offset = HpetOffset {
                    hpet_offset: r.be64()?,
                };
            }
        }
        r.finish()?;
        Some(s)
    }
}
