//! The i8042 keyboard controller (`hw/input/pckbd.c`: `vmstate_kbd`, its
//! subsections `pckbd_outport` and `pckbd/extended_state`, and
//! `vmstate_kbd_isa` around it).
//!
//! Both subsections are inline: they run over `KBDState` itself, and the
//! extended-state subsection has hooks of its own. `pckbd_outport` is a
//! name QEMU's prefix rule accepts although it has no `/`.

use vmstate_core::VmState;

const KBD_STAT_OBF: u8 = 0x01;
const KBD_STAT_MOUSE_OBF: u8 = 0x20;
const KBD_STAT_CMD: u8 = 0x08;
const KBD_STAT_UNLOCKED: u8 = 0x10;
const KBD_MODE_KBD_INT: u8 = 0x01;
const KBD_MODE_MOUSE_INT: u8 = 0x02;
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

/// The controller: nested struct `pckbd`, version 3.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "pckbd", version = 3, minimum_version = 3, default,
          pre_save = KbdState::pre_save, pre_load = KbdState::pre_load,
          post_load = KbdState::post_load)]
pub struct KbdState {
    /// The command awaiting its data byte.
    pub write_cmd: u8,
    /// Status register.
    #[vmstate(default = KBD_STAT_CMD | KBD_STAT_UNLOCKED)]
    pub status: u8,
    /// Command byte ("mode").
    #[vmstate(default = KBD_MODE_KBD_INT | KBD_MODE_MOUSE_INT)]
    pub mode: u8,
    /// `pending` as migrated (`pre_save` derives it).
    pub pending_tmp: u8,

    #[vmstate(subsection = "pckbd_outport", version = 1, minimum_version = 1,
              needed = KbdState::outport_needed, post_load = KbdState::outport_post_load)]
    _outport: (),
    /// Output port (A20, reset).
    #[vmstate(default = KBD_OUT_RESET | KBD_OUT_A20 | KBD_OUT_ONES)]
    pub outport: u8,

    #[vmstate(subsection = "pckbd/extended_state", needed = KbdState::extended_state_needed,
              pre_save = KbdState::extended_pre_save, post_load = KbdState::extended_post_load)]
    _extended_state: (),
    /// `KBD_MIGR_TIMER_PENDING` when the throttle timer runs.
    pub migration_flags: u32,
    /// Which device the output buffer holds data of.
    pub obsrc: u32,
    /// The output buffer.
    pub obdata: u8,
    /// The last controller command data.
    pub cbdata: u8,

    /// Pending interrupt sources.
    #[vmstate(skip)]
    pub pending: u8,
    /// The `extended-state` property (default on).
    #[vmstate(skip, default = true)]
    pub extended_state: bool,
    /// The keyboard throttle timer is pending (`kbd-throttle` only).
    #[vmstate(skip)]
    pub throttle_timer_pending: bool,
    /// The load brought `pckbd_outport`.
    #[vmstate(skip)]
    pub outport_present: bool,
    /// The load brought `pckbd/extended_state`.
    #[vmstate(skip)]
    pub extended_state_loaded: bool,
}

impl KbdState {
    /// `kbd_outport_default()`.
    fn outport_default(&self) -> u8 {
        KBD_OUT_RESET
            | KBD_OUT_A20
            | KBD_OUT_ONES
            | if self.status & KBD_STAT_OBF != 0 {
                KBD_OUT_OBF
            } else {
                0
            }
            | if self.status & KBD_STAT_MOUSE_OBF != 0 {
                KBD_OUT_MOUSE_OBF
            } else {
                0
            }
    }
    fn outport_needed(&self) -> bool {
        self.outport != self.outport_default()
    }
    fn outport_post_load(&mut self, _version_id: u32) -> Result<(), String> {
        self.outport_present = true;
        Ok(())
    }
    fn extended_state_needed(&self) -> bool {
        self.extended_state
    }
    fn extended_pre_save(&mut self) -> Result<(), String> {
        self.migration_flags = if self.throttle_timer_pending {
            KBD_MIGR_TIMER_PENDING
        } else {
            0
        };
        Ok(())
    }
    fn extended_post_load(&mut self, _version_id: u32) -> Result<(), String> {
        self.throttle_timer_pending = self.migration_flags & KBD_MIGR_TIMER_PENDING != 0;
        self.extended_state_loaded = true;
        Ok(())
    }
    /// `kbd_pre_save()`: without the extended state, only the old pending
    /// bits can be sent.
    fn pre_save(&mut self) -> Result<(), String> {
        self.pending_tmp = if self.extended_state {
            self.pending
        } else {
            let mut p = 0;
            if self.pending & KBD_PENDING_KBD != 0 {
                p |= KBD_PENDING_KBD_COMPAT;
            }
            if self.pending & KBD_PENDING_AUX != 0 {
                p |= KBD_PENDING_AUX_COMPAT;
            }
            p
        };
        Ok(())
    }
    fn pre_load(&mut self) -> Result<(), String> {
        self.outport_present = false;
        self.extended_state_loaded = false;
        Ok(())
    }
    /// `kbd_post_load()`.
    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        if !self.outport_present {
            self.outport = self.outport_default();
        }
        self.pending = self.pending_tmp;
        if !self.extended_state_loaded {
            self.obsrc = if self.status & KBD_STAT_OBF != 0 {
                if self.status & KBD_STAT_MOUSE_OBF != 0 {
                    KBD_OBSRC_MOUSE
                } else {
                    KBD_OBSRC_KBD
                }
            } else {
                0
            };
            if self.pending & KBD_PENDING_KBD_COMPAT != 0 {
                self.pending |= KBD_PENDING_KBD;
            }
            if self.pending & KBD_PENDING_AUX_COMPAT != 0 {
                self.pending |= KBD_PENDING_AUX;
            }
        }
        self.pending &=
            KBD_PENDING_CTRL_KBD | KBD_PENDING_CTRL_AUX | KBD_PENDING_KBD | KBD_PENDING_AUX;
        Ok(())
    }
}

/// The ISA i8042: section `pckbd`, version 3.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "pckbd", version = 3, minimum_version = 3)]
pub struct IsaKbd {
    /// The controller.
    pub kbd: KbdState,
}
