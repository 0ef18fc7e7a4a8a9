//! [`Pl061`] by hand: 21 be32 registers.

use super::{Cursor, HandWritten, put_be32s};
use crate::devices::pl061::Pl061;

impl HandWritten for Pl061 {
    fn hand_save(&self, out: &mut Vec<u8>) {
        put_be32s(
            out,
            &[
                self.locked,
                self.data,
                self.old_out_data,
                self.old_in_data,
                self.dir,
                self.isense,
                self.ibe,
                self.iev,
                self.im,
                self.istate,
                self.afsel,
                self.dr2r,
                self.dr4r,
                self.dr8r,
                self.odr,
                self.pur,
                self.pdr,
                self.slr,
                self.den,
                self.cr,
                self.amsel,
            ],
        );
    }

    fn hand_load(bytes: &[u8], _current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let s = Pl061 {
            locked: r.be32()?,
            data: r.be32()?,
            old_out_data: r.be32()?,
            old_in_data: r.be32()?,
            dir: r.be32()?,
            isense: r.be32()?,
            ibe: r.be32()?,
            iev: r.be32()?,
            im: r.be32()?,
            istate: r.be32()?,
            afsel: r.be32()?,
            dr2r: r.be32()?,
            dr4r: r.be32()?,
            dr8r: r.be32()?,
            odr: r.be32()?,
            pur: r.be32()?,
            pdr: r.be32()?,
            slr: r.be32()?,
            den: r.be32()?,
            cr: r.be32()?,
            amsel: r.be32()?,
        };
        r.finish()?;
        Some(s)
    }
}
