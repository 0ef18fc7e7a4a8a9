//! [`Ps2Kbd`] and [`Ps2Mouse`] by hand: the common queue state, the
//! device's fields, the keyboard's three subsections; `post_load` bounds the
//! queue as QEMU's `ps2_common_post_load()` does.

use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::ps2::{
    PS2_BUFFER_SIZE, PS2_QUEUE_HEADROOM, PS2_QUEUE_SIZE, Ps2Common, Ps2Kbd,
    Ps2KbdCommandReplyQueue, Ps2KbdLedState, Ps2KbdNeedHighBit, Ps2Mouse,
};

const COMMON: &str = "PS2 Common State";
const KBD: &str = "ps2kbd";
const LEDSTATE: &str = "ps2kbd/ledstate";
const NEED_HIGH_BIT: &str = "ps2kbd/need_high_bit";
const COMMAND_REPLY_QUEUE: &str = "ps2kbd/command_reply_queue";

fn save_common(c: &Ps2Common, out: &mut Vec<u8>) {
    out.extend_from_slice(&c.write_cmd.to_be_bytes());
    out.extend_from_slice(&c.rptr.to_be_bytes());
    out.extend_from_slice(&c.wptr.to_be_bytes());
    out.extend_from_slice(&c.count.to_be_bytes());
    out.extend_from_slice(&c.data);
}

fn load_common(r: &mut Cursor<'_>) -> Option<Ps2Common> {
    let c = Ps2Common {
        write_cmd: r.i32()?,
        rptr: r.i32()?,
        wptr: r.i32()?,
        count: r.i32()?,
        data: *r.array::<PS2_BUFFER_SIZE>()?,
    };
    r.no_subsection(COMMON)?;
    Some(c)
}

/// `ps2_common_post_load()`: bounds the queued replies (from `cwptr`) and
/// scancodes, recomputes the pointers.
fn common_post_load(c: &mut Ps2Common, cwptr: &mut i32) {
    let mask = PS2_BUFFER_SIZE as i32 - 1;
    let ccount = if *cwptr != -1 {
        (cwptr.wrapping_sub(c.rptr) & mask).min(PS2_QUEUE_HEADROOM)
    } else {
        0
    };
    if c.count < ccount {
        c.count = ccount;
    } else if c.count > ccount + PS2_QUEUE_SIZE {
        c.count = ccount + PS2_QUEUE_SIZE;
    }
    c.rptr &= mask;
    c.wptr = (c.rptr + c.count) & mask;
    *cwptr = if ccount != 0 {
        (c.rptr + ccount) & mask
    } else {
        -1
    };
}

impl HandWritten for Ps2Kbd {
    fn hand_save(&self, out: &mut Vec<u8>) {
        save_common(&self.parent_obj, out);
        out.extend_from_slice(&self.scan_enabled.to_be_bytes());
        out.extend_from_slice(&self.translate.to_be_bytes());
        out.extend_from_slice(&self.scancode_set.to_be_bytes());
        if self.ledstate.ledstate != 0 {
            put_subsection(out, LEDSTATE, 3);
            out.extend_from_slice(&self.ledstate.ledstate.to_be_bytes());
        }
        if self.need_high_bit.need_high_bit {
            put_subsection(out, NEED_HIGH_BIT, 1);
            out.push(1);
        }
        if self.command_reply_queue.cwptr != -1 {
            put_subsection(out, COMMAND_REPLY_QUEUE, 0);
            out.extend_from_slice(&self.command_reply_queue.cwptr.to_be_bytes());
        }
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let mut s = Ps2Kbd {
            parent_obj: load_common(&mut r)?,
            scan_enabled: r.i32()?,
            translate: r.i32()?,
            scancode_set: r.i32()?,
            ledstate: current.ledstate.clone(),
            need_high_bit: current.need_high_bit.clone(),
            command_reply_queue: current.command_reply_queue.clone(),
        };
        while let Some((index, version)) =
            r.subsection(KBD, &[LEDSTATE, NEED_HIGH_BIT, COMMAND_REPLY_QUEUE])?
        {
            match index {
                0 => {
                    version_ok(version, 2, 3)?;
                    s.ledstate = Ps2KbdLedState { ledstate: r.i32()? };
                }
                1 => {
                    version_ok(version, 1, 1)?;
                    s.need_high_bit = Ps2KbdNeedHighBit {
                        need_high_bit: r.bool()?,
                    };
                }
                _ => {
                    version_ok(version, 0, 0)?;
                    s.command_reply_queue = Ps2KbdCommandReplyQueue { cwptr: r.i32()? };
                }
            }
        }
        r.finish()?;
        common_post_load(&mut s.parent_obj, &mut s.command_reply_queue.cwptr);
        Some(s)
    }
}

impl HandWritten for Ps2Mouse {
    fn hand_save(&self, out: &mut Vec<u8>) {
        save_common(&self.parent_obj, out);
        out.extend_from_slice(&[
            self.mouse_status,
            self.mouse_resolution,
            self.mouse_sample_rate,
            self.mouse_wrap,
            self.mouse_type,
            self.mouse_detect_state,
        ]);
        out.extend_from_slice(&self.mouse_dx.to_be_bytes());
        out.extend_from_slice(&self.mouse_dy.to_be_bytes());
        out.extend_from_slice(&self.mouse_dz.to_be_bytes());
        out.push(self.mouse_buttons);
    }

    fn hand_load(bytes: &[u8], _current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let parent_obj = load_common(&mut r)?;
        let &[
            mouse_status,
            mouse_resolution,
            mouse_sample_rate,
            mouse_wrap,
            mouse_type,
            mouse_detect_state,
        ] = r.array::<6>()?;
        let mut s = Ps2Mouse {
            parent_obj,
            mouse_status,
            mouse_resolution,
            mouse_sample_rate,
            mouse_wrap,
            mouse_type,
            mouse_detect_state,
            mouse_dx: r.i32()?,
            mouse_dy: r.i32()?,
            mouse_dz: r.i32()?,
            mouse_buttons: r.u8()?,
        };
        r.finish()?;
        common_post_load(&mut s.parent_obj, &mut -1);
        Some(s)
    }
}
