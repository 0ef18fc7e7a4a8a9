//! The ARM PL031 real-time clock (`hw/rtc/pl031.c`, `vmstate_pl031`).

use vmstate_core::VmState;

/// State of a PL031: section `pl031`, version 1.
///
/// `tick_offset_vmstate` is what QEMU's `pre_save` derives from the tick
/// offset and the clocks; without clocks, the model sends the stored value.
/// When the `pl031/tick-offset` subsection is absent, `post_load` takes the
/// tick offset from `tick_offset_vmstate`, as QEMU does (it also corrects it
/// by the host/guest clock difference, which is not modelled).
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "pl031", version = 1, minimum_version = 1,
          pre_load = Pl031::pre_load, post_load = Pl031::post_load)]
pub struct Pl031 {
    /// The tick offset as of the virtual clock (for old destinations).
    pub tick_offset_vmstate: u32,
    /// Match register.
    pub mr: u32,
    /// Load register.
    pub lr: u32,
    /// Control register.
    pub cr: u32,
    /// Interrupt mask.
    pub im: u32,
    /// Raw interrupt status.
    pub is: u32,
    /// Subsection `pl031/tick-offset`, sent when [`Self::migrate_tick_offset`].
    #[vmstate(subsection, needed = Pl031::tick_offset_needed)]
    pub tick_offset: Pl031TickOffset,
    /// Device property `migrate-tick-offset` (default true).
    #[vmstate(skip)]
    pub migrate_tick_offset: bool,
}

impl Default for Pl031 {
    fn default() -> Self {
        Pl031 {
            tick_offset_vmstate: 0,
            mr: 0,
            lr: 0,
            cr: 0,
            im: 0,
            is: 0,
            tick_offset: Pl031TickOffset::default(),
            migrate_tick_offset: true,
        }
    }
}

impl Pl031 {
    fn tick_offset_needed(&self) -> bool {
        self.migrate_tick_offset
    }

    fn pre_load(&mut self) -> Result<(), String> {
        self.tick_offset.migrated = false;
        Ok(())
    }

    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        if !self.tick_offset.migrated {
            self.tick_offset.tick_offset = self.tick_offset_vmstate;
        }
        Ok(())
    }
}

/// Subsection `pl031/tick-offset`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "pl031/tick-offset", version = 1, minimum_version = 1,
          post_load = Pl031TickOffset::post_load)]
pub struct Pl031TickOffset {
    /// Offset of the RTC from the real-time clock, in seconds.
    pub tick_offset: u32,
    /// Set when this subsection was loaded (`tick_offset_migrated`).
    #[vmstate(skip)]
    pub migrated: bool,
}

impl Pl031TickOffset {
    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        self.migrated = true;
        Ok(())
    }
}
