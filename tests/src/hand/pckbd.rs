//! [`IsaKbd`] by hand: the i8042's four bytes, `pckbd_outport` when the
//! output port is not its default, `pckbd/extended_state` (version 0) when
//! the property is on; the hooks of `kbd_pre_save()`/`kbd_post_load()`.

use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::pckbd::{IsaKbd, KbdState};

const NAME: &str = "pckbd";
const OUTPORT: &str = "pckbd_outport";
const EXTENDED: &str = "pckbd/extended_state";

const KBD_STAT_OBF: u8 = 0x01;
const KBD_STAT_MOUSE_OBF: u8 = 0x20;
const KBD_OUT_RESET: u8 = 0x01;
const KBD_OUT_A20: u8 = 0x02;
const KBD_OUT_OBF: u8 = 0x10;
const KBD_OUT_MOUSE_OBF: u8 = 0x20;
const KBD_OUT_ONES: u8 = 0xcc;
const KBD_PENDING_KBD_COMPAT: u8 = 0x01;
const KBD_PENDING_AUX_COMPAT: u8 = 0x02;
const KBD_PENDING_CTRL_KBD: u8 = 0x04;
const KBD_PENDING_CTRL_AUX: u8 = 0x08;
const KBD_PENDING_KBD: u8 = 0x10;
const KBD_PENDING_AUX: u8 = 0x20;
const KBD_OBSRC_KBD: u32 = 0x01;
const KBD_OBSRC_MOUSE: u32 = 0x02;
const KBD_MIGR_TIMER_PENDING: u32 = 0x1;

/// `kbd_outport_default()`.
fn outport_default(status: u8) -> u8 {
    let mut p = KBD_OUT_RESET | KBD_OUT_A20 | KBD_OUT_ONES;
    if status & KBD_STAT_OBF != 0 {
        p |= KBD_OUT_OBF;
    }
    if status & KBD_STAT_MOUSE_OBF != 0 {
        p |= KBD_OUT_MOUSE_OBF;
    }
    p
}

fn save_kbd(s: &KbdState, out: &mut Vec<u8>) {
    // kbd_pre_save(): without the extended state only the old bits.
    let pending = if s.extended_state {
        s.pending
    } else {
        let mut p = 0;
        if s.pending & KBD_PENDING_KBD != 0 {
            p |= KBD_PENDING_KBD_COMPAT;
        }
        if s.pending & KBD_PENDING_AUX != 0 {
            p |= KBD_PENDING_AUX_COMPAT;
        }
        p
    };
    out.extend_from_slice(&[s.write_cmd, s.status, s.mode, pending]);
    if s.outport != outport_default(s.status) {
        put_subsection(out, OUTPORT, 1);
        out.push(s.outport);
    }
    if s.extended_state {
        put_subsection(out, EXTENDED, 0);
        let flags = if s.throttle_timer_pending {
            KBD_MIGR_TIMER_PENDING
        } else {
            0
        };
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&s.obsrc.to_be_bytes());
        out.extend_from_slice(&[s.obdata, s.cbdata]);
    }
}

fn load_kbd(r: &mut Cursor<'_>, current: &KbdState) -> Option<KbdState> {
    let mut s = current.clone();
    let &[write_cmd, status, mode, pending_tmp] = r.array::<4>()?;
    (s.write_cmd, s.status, s.mode, s.pending_tmp) = (write_cmd, status, mode, pending_tmp);
    s.outport_present = false;
    s.extended_state_loaded = false;
    while let Some((index, version)) = r.subsection(NAME, &[OUTPORT, EXTENDED])? {
        if index == 0 {
            version_ok(version, 1, 1)?;
            s.outport = r.u8()?;
            s.outport_present = true;
        } else {
            version_ok(version, 0, 0)?;
            s.migration_flags = r.be32()?;
            s.obsrc = r.be32()?;
            s.obdata = r.u8()?;
            s.cbdata = r.u8()?;
            s.throttle_timer_pending = s.migration_flags & KBD_MIGR_TIMER_PENDING != 0;
            s.extended_state_loaded = true;
        }
    }
    // kbd_post_load().
    if !s.outport_present {
        s.outport = outport_default(s.status);
    }
    s.pending = s.pending_tmp;
    if !s.extended_state_loaded {
        s.obsrc = if s.status & KBD_STAT_OBF != 0 {
            if s.status & KBD_STAT_MOUSE_OBF != 0 {
                KBD_OBSRC_MOUSE
            } else {
                KBD_OBSRC_KBD
            }
        } else {
            0
        };
        if s.pending & KBD_PENDING_KBD_COMPAT != 0 {
            s.pending |= KBD_PENDING_KBD;
        }
        if s.pending & KBD_PENDING_AUX_COMPAT != 0 {
            s.pending |= KBD_PENDING_AUX;
        }
    }
    s.pending &= KBD_PENDING_CTRL_KBD | KBD_PENDING_CTRL_AUX | KBD_PENDING_KBD | KBD_PENDING_AUX;
    Some(s)
}

impl HandWritten for IsaKbd {
    fn hand_save(&self, out: &mut Vec<u8>) {
        save_kbd(&self.kbd, out);
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let kbd = load_kbd(&mut r, &current.kbd)?;
        r.finish()?;
        Some(IsaKbd { kbd })
    }
}
