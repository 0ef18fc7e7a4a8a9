//! The 8254 programmable interval timer (`hw/timer/i8254_common.c`,
//! `vmstate_pit_common` and `vmstate_pit_channel`).

use vmstate_core::VmState;

/// One PIT channel: the nested struct `pit channel`, version 2 (each element of
/// [`I8254::channels`]).
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "pit channel", version = 2, minimum_version = 2)]
pub struct PitChannel {
    /// Reload value; `int32` on the wire, as 0 means 0x10000.
    pub count: i32,
    /// The latched count.
    pub latched_count: u16,
    /// Which count bytes are latched (RW_STATE_* or 0).
    pub count_latched: u8,
    /// A status byte is latched.
    pub status_latched: u8,
    /// The latched status byte.
    pub status: u8,
    /// Read byte sequence position.
    pub read_state: u8,
    /// Write byte sequence position.
    pub write_state: u8,
    /// The low byte written in 16-bit mode.
    pub write_latch: u8,
    /// Access mode (latch, LSB, MSB, LSB then MSB).
    pub rw_mode: u8,
    /// Counting mode 0..=5.
    pub mode: u8,
    /// BCD counting.
    pub bcd: u8,
    /// The gate input.
    pub gate: u8,
    /// Virtual-clock time of the last count load, in ns.
    pub count_load_time: i64,
    /// Virtual-clock time of the next output change, in ns.
    pub next_transition_time: i64,
    /// The channel's IRQ output is disabled (HPET legacy mode). Not in this
    /// struct's wire form: channel 0's value is sent by [`I8254`].
    #[vmstate(skip)]
    pub irq_disabled: u32,
}

/// State of the PIT: section `i8254`, version 3 (loads 2 and 3).
///
/// QEMU sends two fields of channel 0 outside the channel array
/// (`channels[0].irq_disabled` first, `channels[0].next_transition_time`
/// last). They are mirrored in [`Self::ch0_irq_disabled`] and
/// [`Self::ch0_next_transition_time`]: `pre_save` copies them from
/// `channels[0]`, `post_load` copies them back, so `channels[0]` is the
/// authoritative state as in QEMU (where both names are the same memory).
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "i8254", version = 3, minimum_version = 2,
          pre_save = I8254::pre_save, post_load = I8254::post_load)]
pub struct I8254 {
    /// Wire copy of `channels[0].irq_disabled` (version 3 and newer).
    #[vmstate(since = 3, name = "channels[0].irq_disabled")]
    pub ch0_irq_disabled: u32,
    /// The three channels.
    #[vmstate(since = 2)]
    pub channels: [PitChannel; 3],
    /// Wire copy of `channels[0].next_transition_time` (formerly the
    /// `irq_timer` expiry; QEMU sends it a second time here).
    #[vmstate(name = "channels[0].next_transition_time")]
    pub ch0_next_transition_time: i64,
}

impl I8254 {
    fn pre_save(&mut self) -> Result<(), String> {
        self.ch0_irq_disabled = self.channels[0].irq_disabled;
        self.ch0_next_transition_time = self.channels[0].next_transition_time;
        Ok(())
    }

    fn post_load(&mut self, version_id: u32) -> Result<(), String> {
        if version_id >= 3 {
            self.channels[0].irq_disabled = self.ch0_irq_disabled;
        } else {
            self.ch0_irq_disabled = self.channels[0].irq_disabled;
        }
        // The later field overwrites the channel's copy, as in QEMU.
        self.channels[0].next_transition_time = self.ch0_next_transition_time;
        Ok(())
    }
}
