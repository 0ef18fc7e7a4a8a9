//! [`KvmClock`] by hand: the clock, then `kvmclock/clock_is_reliable` when
//! the machine type has it.

use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::kvmclock::KvmClock;

const NAME: &str = "kvmclock";
const RELIABLE: &str = "kvmclock/clock_is_reliable";

impl HandWritten for KvmClock {
    fn hand_save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.clock.to_be_bytes());
        if self.mach_use_reliable_get_clock {
            put_subsection(out, RELIABLE, 1);
            out.push(u8::from(self.clock_is_reliable));
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let mut s = current.clone();
        s.clock = r.be64()?;
        // pre_load: unreliable unless the subsection says otherwise.
        s.clock_is_reliable = false;
        while let Some((_, version)) = r.subsection(NAME, &[RELIABLE])? {
            version_ok(version, 1, 1)?;
            s.clock_is_reliable = r.bool()?;
        }
        r.finish()?;
        Some(s)
    }
}
