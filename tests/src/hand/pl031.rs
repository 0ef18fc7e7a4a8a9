//! [`Pl031`] by hand: the registers, then `pl031/tick-offset`; without it
//! the tick offset comes from `tick_offset_vmstate` (`pl031_post_load()`).

use super::{Cursor, HandWritten, put_be32s, put_subsection, version_ok};
use crate::devices::pl031::{Pl031, Pl031TickOffset};

const NAME: &str = "pl031";
const TICK_OFFSET: &str = "pl031/tick-offset";

impl HandWritten for Pl031 {
    fn hand_save(&self, out: &mut Vec<u8>) {
        put_be32s(
            out,
            &[
                self.tick_offset_vmstate,
                self.mr,
                self.lr,
                self.cr,
                self.im,
                self.is,
            ],
        );
        if self.migrate_tick_offset {
            put_subsection(out, TICK_OFFSET, 1);
            out.extend_from_slice(&self.tick_offset.tick_offset.to_be_bytes());
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let mut s = Pl031 {
            tick_offset_vmstate: r.be32()?,
            mr: r.be32()?,
            lr: r.be32()?,
            cr: r.be32()?,
            im: r.be32()?,
            is: r.be32()?,
            // pre_load: not migrated until the subsection comes.
            tick_offset: Pl031TickOffset {
                tick_offset: current.tick_offset.tick_offset,
                migrated: false,
            },
            migrate_tick_offset: current.migrate_tick_offset,
        };
        while let Some((_, version)) = r.subsection(NAME, &[TICK_OFFSET])? {
            version_ok(version, 1, 1)?;
            s.tick_offset = Pl031TickOffset {
                tick_offset: r.be32()?,
                migrated: true,
            };
        }
        r.finish()?;
        if !s.tick_offset.migrated {
            s.tick_offset.tick_offset = s.tick_offset_vmstate;
        }
        Some(s)
    }
}
