//! [`I8259`] by hand: 16 bytes, then `i8259/ltim` when LTIM is set.

use super::{Cursor, HandWritten, put_subsection, version_ok};
use crate::devices::i8259::I8259;

const NAME: &str = "i8259";
const LTIM: &str = "i8259/ltim";

impl HandWritten for I8259 {
    #[inline]
    fn hand_save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            self.last_irr,
            self.irr,
            self.imr,
            self.isr,
            self.priority_add,
            self.irq_base,
            self.read_reg_select,
            self.poll,
            self.special_mask,
            self.init_state,
            self.auto_eoi,
            self.rotate_on_auto_eoi,
            self.special_fully_nested_mode,
            self.init4,
            self.single_mode,
            self.elcr,
        ]);
        if self.ltim.ltim != 0 {
            put_subsection(out, LTIM, 1);
            out.push(self.ltim.ltim);
        }
    }

    #[inline]
    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let &[
            last_irr,
            irr,
            imr,
            isr,
            priority_add,
            irq_base,
            read_reg_select,
            poll,
            special_mask,
            init_state,
            auto_eoi,
            rotate_on_auto_eoi,
            special_fully_nested_mode,
            init4,
            single_mode,
            elcr,
        ] = r.array::<16>()?;
        let mut s = I8259 {
            last_irr,
            irr,
            imr,
            isr,
            priority_add,
            irq_base,
            read_reg_select,
            poll,
            special_mask,
            init_state,
            auto_eoi,
            rotate_on_auto_eoi,
            special_fully_nested_mode,
            init4,
            single_mode,
            elcr,
            ltim: current.ltim.clone(),
        };
        while let Some((_, version)) = r.subsection(NAME, &[LTIM])? {
            version_ok(version, 1, 1)?;
            s.ltim.ltim = r.u8()?;
        }
        r.finish()?;
        Some(s)
    }
}
