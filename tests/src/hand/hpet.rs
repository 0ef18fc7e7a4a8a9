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
        let config = r.be64()?;
        let isr = r.be64()?;
        let hpet_counter = r.be64()?;
        let num_timers_save = r.u8()?;
        // "num_timers must match".
        if num_timers_save != current.num_timers {
            return None;
        }
        let n = usize::from(num_timers_save);
        if n > current.timer.len() {
            return None;
        }
        let mut timer = current.timer.clone();
        for t in &mut timer[..n] {
            *t = load_timer(&mut r)?;
        }
        let mut rtc_irq_level = current.rtc_irq_level.clone();
        let mut offset = current.offset.clone();
        while let Some((index, version)) = r.subsection(NAME, &[RTC_IRQ_LEVEL, OFFSET])? {
            version_ok(version, 1, 1)?;
            if index == 0 {
                rtc_irq_level = HpetRtcIrqLevel {
                    rtc_irq_level: r.u8()?,
                };
            } else {
                offset = HpetOffset {
                    hpet_offset: r.be64()?,
                };
            }
        }
        r.finish()?;
        Some(Hpet {
            config,
            isr,
            hpet_counter,
            num_timers_save,
            _num_timers_match: (),
            timer,
            rtc_irq_level,
            offset,
            num_timers: current.num_timers,
            hpet_offset_saved: current.hpet_offset_saved,
        })
    }
}
