//! [`IsaSerial`] by hand: the 16550A registers and its seven subsections;
//! `pre_load`/`post_load` as `serial_pre_load()`/`serial_post_load()`.

use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::serial::{Fifo8, IsaSerial, SerialState};

const NAME: &str = "serial";
const FIFO8: &str = "Fifo8";
const SUBSECTIONS: [&str; 7] = [
    "serial/thr_ipending",
    "serial/tsr",
    "serial/recv_fifo",
    "serial/xmit_fifo",
    "serial/fifo_timeout_timer",
    "serial/timeout_ipending",
    "serial/poll",
];

const UART_IIR_ID: u8 = 0x06;
const UART_IIR_THRI: u8 = 0x02;
const UART_IER_THRI: u8 = 0x02;
const UART_LSR_TEMT: u8 = 0x40;
const MAX_XMIT_RETRY: u32 = 4;

fn save_fifo(f: &Fifo8, out: &mut Vec<u8>) {
    out.extend_from_slice(&f.data);
    out.extend_from_slice(&f.head.to_be_bytes());
    out.extend_from_slice(&f.num.to_be_bytes());
}

/// A `Fifo8`: as many bytes as the destination's FIFO holds.
fn load_fifo(r: &mut Cursor<'_>, current: &Fifo8) -> Option<Fifo8> {
    let f = Fifo8 {
        data: r.bytes(current.capacity as usize)?.to_vec(),
        head: r.be32()?,
        num: r.be32()?,
        capacity: current.capacity,
    };
    r.no_subsection(FIFO8)?;
    Some(f)
}

fn save_state(s: &SerialState, out: &mut Vec<u8>) {
    out.extend_from_slice(&s.divider.to_be_bytes());
    // pre_save: fcr_vmstate is fcr.
    out.extend_from_slice(&[
        s.rbr, s.ier, s.iir, s.lcr, s.mcr, s.lsr, s.msr, s.scr, s.fcr,
    ]);
    let thr_expected = (s.iir & UART_IIR_ID) == UART_IIR_THRI;
    if s.ier & UART_IER_THRI != 0 && s.thr_ipending != i32::from(thr_expected) {
        put_subsection(out, SUBSECTIONS[0], 1);
        out.extend_from_slice(&s.thr_ipending.to_be_bytes());
    }
    if s.tsr_retry != 0 {
        put_subsection(out, SUBSECTIONS[1], 1);
        out.extend_from_slice(&s.tsr_retry.to_be_bytes());
        out.extend_from_slice(&[s.thr, s.tsr]);
    }
    if s.recv_fifo.num != 0 {
        put_subsection(out, SUBSECTIONS[2], 1);
        save_fifo(&s.recv_fifo, out);
    }
    if s.xmit_fifo.num != 0 {
        put_subsection(out, SUBSECTIONS[3], 1);
        save_fifo(&s.xmit_fifo, out);
    }
    if s.fifo_timeout_timer.is_armed() {
        put_subsection(out, SUBSECTIONS[4], 1);
        out.extend_from_slice(&s.fifo_timeout_timer.raw().to_be_bytes());
    }
    if s.timeout_ipending != 0 {
        put_subsection(out, SUBSECTIONS[5], 1);
        out.extend_from_slice(&s.timeout_ipending.to_be_bytes());
    }
    if s.poll_msl >= 0 {
        put_subsection(out, SUBSECTIONS[6], 1);
        out.extend_from_slice(&s.poll_msl.to_be_bytes());
        out.extend_from_slice(&s.modem_status_poll.raw().to_be_bytes());
    }
}

fn load_state(r: &mut Cursor<'_>, current: &SerialState) -> Option<SerialState> {
    let mut s = current.clone();
    // serial_pre_load().
    s.thr_ipending = -1;
    s.poll_msl = -1;
    s.divider = r.be16()?;
    let &[rbr, ier, iir, lcr, mcr, lsr, msr, scr, fcr_vmstate] = r.array::<9>()?;
    (s.rbr, s.ier, s.iir, s.lcr, s.mcr, s.lsr, s.msr, s.scr) =
        (rbr, ier, iir, lcr, mcr, lsr, msr, scr);
    s.fcr_vmstate = fcr_vmstate;
    while let Some((index, version)) = r.subsection(NAME, &SUBSECTIONS)? {
        version_ok(version, 1, 1)?;
        match index {
            0 => s.thr_ipending = r.i32()?,
            1 => {
                s.tsr_retry = r.be32()?;
                s.thr = r.u8()?;
                s.tsr = r.u8()?;
            }
            2 => s.recv_fifo = load_fifo(r, &s.recv_fifo)?,
            3 => s.xmit_fifo = load_fifo(r, &s.xmit_fifo)?,
            4 => s.fifo_timeout_timer = r.timer()?,
            5 => s.timeout_ipending = r.i32()?,
            _ => {
                s.poll_msl = r.i32()?;
                s.modem_status_poll = r.timer()?;
            }
        }
    }
    // serial_post_load() (version 3).
    if s.thr_ipending == -1 {
        s.thr_ipending = i32::from((s.iir & UART_IIR_ID) == UART_IIR_THRI);
    }
    if s.tsr_retry > 0 {
        if s.lsr & UART_LSR_TEMT != 0 {
            return None;
        }
        s.tsr_retry = s.tsr_retry.min(MAX_XMIT_RETRY);
    } else if s.lsr & UART_LSR_TEMT == 0 {
        return None;
    }
    s.fcr = s.fcr_vmstate;
    Some(s)
}

impl HandWritten for IsaSerial {
    fn hand_save(&self, out: &mut Vec<u8>) {
        save_state(&self.state, out);
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let state = load_state(&mut r, &current.state)?;
        r.finish()?;
        Some(IsaSerial { state })
    }
}
