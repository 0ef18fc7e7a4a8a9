//! [`IsaFdc`] by hand: the controller's registers, its FIFO of `fifo_size`
//! bytes (not migrated), the drive count (must equal), both drives with
//! their subsections (`fdrive/media_rate` decided by the controller's
//! `check_media_rate`), then the controller's three subsections.

use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::fdc::{FDrive, FdCtrl, IsaFdc, phase};

const NAME: &str = "fdc";
const DRIVE: &str = "fdrive";
const DRIVE_SUBSECTIONS: [&str; 3] = [
    "fdrive/media_changed",
    "fdrive/media_rate",
    "fdrive/perpendicular",
];
const SUBSECTIONS: [&str; 3] = ["fdc/reset_sensei", "fdc/result_timer", "fdc/phase"];
const FD_DOR_SELMASK: u8 = 0x03;

fn save_drive(d: &FDrive, check_media_rate: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(&[d.head, d.track, d.sect]);
    if d.has_blk && d.media_changed.media_changed != 1 {
        put_subsection(out, DRIVE_SUBSECTIONS[0], 1);
        out.push(d.media_changed.media_changed);
    }
    if check_media_rate {
        put_subsection(out, DRIVE_SUBSECTIONS[1], 1);
        out.push(d.media_rate.media_rate);
    }
    if d.perpendicular.perpendicular != 0 {
        put_subsection(out, DRIVE_SUBSECTIONS[2], 1);
        out.push(d.perpendicular.perpendicular);
    }
}

fn load_drive(r: &mut Cursor<'_>, d: &mut FDrive, check_media_rate: bool) -> Option<()> {
    let &[head, track, sect] = r.array::<3>()?;
    (d.head, d.track, d.sect) = (head, track, sect);
    while let Some((index, version)) = r.subsection(DRIVE, &DRIVE_SUBSECTIONS)? {
        version_ok(version, 1, 1)?;
        let b = r.u8()?;
        match index {
            0 => d.media_changed.media_changed = b,
            1 => d.media_rate.media_rate = b,
            _ => d.perpendicular.perpendicular = b,
        }
    }
    // fdrive_post_load(), as the model records it.
    d.loads.push(check_media_rate);
    Some(())
}

fn fifo_len(s: &FdCtrl) -> usize {
    usize::try_from(s.fifo_size).unwrap_or(0)
}

fn save_ctrl(s: &FdCtrl, out: &mut Vec<u8>) {
    out.extend_from_slice(&[
        s.sra,
        s.srb,
        s.dor | s.cur_drv, // fdc_pre_save()
        s.tdr,
        s.dsr,
        s.msr,
        s.status0,
        s.status1,
        s.status2,
    ]);
    out.extend_from_slice(&s.fifo[..fifo_len(s).min(s.fifo.len())]);
    out.extend_from_slice(&s.data_pos.to_be_bytes());
    out.extend_from_slice(&s.data_len.to_be_bytes());
    out.extend_from_slice(&[
        s.data_state,
        s.data_dir,
        s.eot,
        s.timer0,
        s.timer1,
        s.precomp_trk,
        s.config,
        s.lock,
        s.pwrd,
        s.num_floppies,
    ]);
    for d in &s.drives {
        save_drive(d, s.check_media_rate, out);
    }
    if s.reset_sensei != 0 {
        put_subsection(out, SUBSECTIONS[0], 1);
        out.extend_from_slice(&s.reset_sensei.to_be_bytes());
    }
    if s.result_timer.is_armed() {
        put_subsection(out, SUBSECTIONS[1], 1);
        out.extend_from_slice(&s.result_timer.raw().to_be_bytes());
    }
    if s.reconstruct_phase() != s.phase {
        put_subsection(out, SUBSECTIONS[2], 1);
        out.push(s.phase);
    }
}

fn load_ctrl(r: &mut Cursor<'_>, current: &FdCtrl) -> Option<FdCtrl> {
    let mut s = current.clone();
    // fdc_pre_load().
    s.phase = phase::RECONSTRUCT;
    let &[
        sra,
        srb,
        dor_vmstate,
        tdr,
        dsr,
        msr,
        status0,
        status1,
        status2,
    ] = r.array::<9>()?;
    (s.sra, s.srb, s.dor_vmstate, s.tdr, s.dsr) = (sra, srb, dor_vmstate, tdr, dsr);
    (s.msr, s.status0, s.status1, s.status2) = (msr, status0, status1, status2);
    let n = fifo_len(&s);
    s.fifo.get_mut(..n)?.copy_from_slice(r.bytes(n)?);
    s.data_pos = r.be32()?;
    s.data_len = r.be32()?;
    let &[
        data_state,
        data_dir,
        eot,
        timer0,
        timer1,
        precomp_trk,
        config,
        lock,
        pwrd,
        num_floppies,
    ] = r.array::<10>()?;
    (s.data_state, s.data_dir, s.eot, s.timer0, s.timer1) =
        (data_state, data_dir, eot, timer0, timer1);
    (s.precomp_trk, s.config, s.lock, s.pwrd) = (precomp_trk, config, lock, pwrd);
    if num_floppies != s.num_floppies {
        return None;
    }
    let check_media_rate = s.check_media_rate;
    for d in &mut s.drives {
        load_drive(r, d, check_media_rate)?;
    }
    while let Some((index, version)) = r.subsection(NAME, &SUBSECTIONS)? {
        version_ok(version, 1, 1)?;
        match index {
            0 => s.reset_sensei = r.i32()?,
            1 => s.result_timer = r.timer()?,
            _ => s.phase = r.u8()?,
        }
    }
    // fdc_post_load().
    s.cur_drv = s.dor_vmstate & FD_DOR_SELMASK;
    s.dor = s.dor_vmstate & !FD_DOR_SELMASK;
    if s.phase == phase::RECONSTRUCT {
        s.phase = s.reconstruct_phase();
    }
    Some(s)
}

impl HandWritten for IsaFdc {
    fn hand_save(&self, out: &mut Vec<u8>) {
        save_ctrl(&self.state, out);
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let state = load_ctrl(&mut r, &current.state)?;
        r.finish()?;
        Some(IsaFdc { state })
    }
}
