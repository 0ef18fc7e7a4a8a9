//! [`I8254`] by hand: channel 0's IRQ flag, the three channels, channel 0's
//! next transition time again.

use super::{Cursor, HandWritten};
use crate::devices::i8254::{I8254, PitChannel};

const CHANNEL: &str = "pit channel";

fn save_channel(c: &PitChannel, out: &mut Vec<u8>) {
    out.extend_from_slice(&c.count.to_be_bytes());
    out.extend_from_slice(&c.latched_count.to_be_bytes());
    out.extend_from_slice(&[
        c.count_latched,
        c.status_latched,
        c.status,
        c.read_state,
        c.write_state,
        c.write_latch,
        c.rw_mode,
        c.mode,
        c.bcd,
        c.gate,
    ]);
    out.extend_from_slice(&c.count_load_time.to_be_bytes());
    out.extend_from_slice(&c.next_transition_time.to_be_bytes());
}

fn load_channel(r: &mut Cursor<'_>, current: &PitChannel) -> Option<PitChannel> {
    let count = r.i32()?;
    let latched_count = r.be16()?;
    let &[
        count_latched,
        status_latched,
        status,
        read_state,
        write_state,
        write_latch,
        rw_mode,
        mode,
        bcd,
        gate,
    ] = r.array::<10>()?;
    let c = PitChannel {
        count,
        latched_count,
        count_latched,
        status_latched,
        status,
        read_state,
        write_state,
        write_latch,
        rw_mode,
        mode,
        bcd,
        gate,
        count_load_time: r.i64()?,
        next_transition_time: r.i64()?,
        irq_disabled: current.irq_disabled,
    };
    r.no_subsection(CHANNEL)?;
    Some(c)
}

impl HandWritten for I8254 {
    fn hand_save(&self, out: &mut Vec<u8>) {
        // pre_save: channel 0's two fields are sent from the channel.
        out.extend_from_slice(&self.channels[0].irq_disabled.to_be_bytes());
        for c in &self.channels {
            save_channel(c, out);
        }
        out.extend_from_slice(&self.channels[0].next_transition_time.to_be_bytes());
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let ch0_irq_disabled = r.be32()?;
        let mut channels = [
            load_channel(&mut r, &current.channels[0])?,
            load_channel(&mut r, &current.channels[1])?,
            load_channel(&mut r, &current.channels[2])?,
        ];
        let ch0_next_transition_time = r.i64()?;
        r.finish()?;
        // post_load (version 3): back into channel 0.
        channels[0].irq_disabled = ch0_irq_disabled;
        channels[0].next_transition_time = ch0_next_transition_time;
        Some(I8254 {
            ch0_irq_disabled,
            channels,
            ch0_next_transition_time,
        })
    }
}
