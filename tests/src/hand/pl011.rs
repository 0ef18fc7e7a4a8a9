//! [`Pl011`] by hand: the registers and FIFO, then `pl011/clock` (a clock
//! with its own `clock/muldiv`); `post_load` checks the FIFO positions.

use super::{Cursor, HandWritten, put_be32s, put_subsection, version_ok};
use crate::devices::pl011::{Clock, ClockMulDiv, LCR_FEN, PL011_FIFO_DEPTH, Pl011, Pl011Clock};

const NAME: &str = "pl011";
const CLOCK_SUB: &str = "pl011/clock";
const CLOCK: &str = "clock";
const MULDIV: &str = "clock/muldiv";

fn save_clock(c: &Clock, out: &mut Vec<u8>) {
    out.extend_from_slice(&c.period.to_be_bytes());
    let m = &c.muldiv;
    if m.multiplier != 1 || m.divider != 1 {
        put_subsection(out, MULDIV, 1);
        out.extend_from_slice(&m.multiplier.to_be_bytes());
        out.extend_from_slice(&m.divider.to_be_bytes());
    }
}

/// A `clock` (version 0): `clock_pre_load()` makes an absent `clock/muldiv` 1/1.
fn load_clock(r: &mut Cursor<'_>) -> Option<Clock> {
    let mut c = Clock {
        period: r.be64()?,
        muldiv: ClockMulDiv {
            multiplier: 1,
            divider: 1,
        },
    };
    while let Some((_, version)) = r.subsection(CLOCK, &[MULDIV])? {
        version_ok(version, 1, 1)?;
        c.muldiv = ClockMulDiv {
            multiplier: r.be32()?,
            divider: r.be32()?,
        };
    }
    Some(c)
}

impl HandWritten for Pl011 {
    fn hand_save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0; 4]);
        put_be32s(
            out,
            &[
                self.flags,
                self.lcr,
                self.rsr,
                self.cr,
                self.dmacr,
                self.int_enabled,
                self.int_level,
            ],
        );
        put_be32s(out, &self.read_fifo);
        put_be32s(out, &[self.ilpr, self.ibrd, self.fbrd, self.ifl]);
        out.extend_from_slice(&self.read_pos.to_be_bytes());
        out.extend_from_slice(&self.read_count.to_be_bytes());
        out.extend_from_slice(&self.read_trigger.to_be_bytes());
        if self.migrate_clk {
            put_subsection(out, CLOCK_SUB, 1);
            save_clock(&self.clock.clk, out);
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        r.skip(4)?;
        let mut s = Pl011 {
            _readbuff: (),
            flags: r.be32()?,
            lcr: r.be32()?,
            rsr: r.be32()?,
            cr: r.be32()?,
            dmacr: r.be32()?,
            int_enabled: r.be32()?,
            int_level: r.be32()?,
            read_fifo: [0; PL011_FIFO_DEPTH],
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            ifl: 0,
            read_pos: 0,
            read_count: 0,
            read_trigger: 0,
            clock: current.clock.clone(),
            migrate_clk: current.migrate_clk,
        };
        r.be32s(&mut s.read_fifo)?;
        s.ilpr = r.be32()?;
        s.ibrd = r.be32()?;
        s.fbrd = r.be32()?;
        s.ifl = r.be32()?;
        s.read_pos = r.i32()?;
        s.read_count = r.i32()?;
        s.read_trigger = r.i32()?;
        while let Some((_, version)) = r.subsection(NAME, &[CLOCK_SUB])? {
            version_ok(version, 1, 1)?;
            s.clock = Pl011Clock {
                clk: load_clock(&mut r)?,
            };
        }
        r.finish()?;
        // pl011_post_load(): FIFO positions inside the FIFO (as unsigned).
        let depth = PL011_FIFO_DEPTH as u32;
        if s.read_pos as u32 >= depth || s.read_count as u32 > depth {
            return None;
        }
        if s.lcr & LCR_FEN == 0 && s.read_count > 0 && s.read_pos > 0 {
            s.read_fifo[0] = s.read_fifo[s.read_pos as usize];
            s.read_pos = 0;
        }
        s.ibrd &= 0xffff;
        s.fbrd &= 0x3f;
        Some(s)
    }
}
