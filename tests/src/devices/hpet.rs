//! The High Precision Event Timer (`hw/timer/hpet.c`, `vmstate_hpet` and
//! `vmstate_hpet_timer`, QEMU 10.0).

use vmstate_core::{Timer, VmState};

/// The most timers an HPET block has (`HPET_MAX_TIMERS`).
pub const HPET_MAX_TIMERS: usize = 32;
/// The default (and minimum) number of timers (`HPET_MIN_TIMERS`).
pub const HPET_MIN_TIMERS: u8 = 3;
/// `HPET_CFG_ENABLE`: the main counter runs.
pub const HPET_CFG_ENABLE: u64 = 0x001;
/// A timer's configuration after reset: periodic- and 64-bit-capable, IOAPIC
/// input 2 available.
pub const HPET_TIMER_RESET_CONFIG: u64 = (0x4 << 32) | 0x30;

/// One comparator: the nested struct `hpet_timer`, version 1.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "hpet_timer", version = 1, minimum_version = 1)]
pub struct HpetTimer {
    /// Timer number.
    pub tn: u8,
    /// Configuration and capabilities register.
    pub config: u64,
    /// Comparator.
    pub cmp: u64,
    /// FSB interrupt route.
    pub fsb: u64,
    /// Period of a periodic timer, in ticks.
    pub period: u64,
    /// A 32-bit one-shot timer waits for the counter to wrap.
    pub wrap_flag: u8,
    /// The expiry timer.
    pub qemu_timer: Timer,
}

impl HpetTimer {
    /// Timer `tn` after reset.
    pub fn reset(tn: u8) -> Self {
        HpetTimer {
            tn,
            config: HPET_TIMER_RESET_CONFIG,
            cmp: u64::MAX,
            fsb: 0,
            period: 0,
            wrap_flag: 0,
            qemu_timer: Timer::not_armed(),
        }
    }
}

/// State of an HPET block: section `hpet`, version 2 (loads 1 and 2).
///
/// QEMU 10.0 sizes the timer array by the device property `num_timers` (here
/// [`Self::num_timers`], not migrated) after validating that it equals the
/// migrated `num_timers_save`, so the byte just read is the element count.
/// A version-1 stream carries no count: the destination's `num_timers_save`
/// (set by [`Default`] to [`HPET_MIN_TIMERS`]) is what the check compares.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "hpet", version = 2, minimum_version = 1, pre_save = Hpet::pre_save)]
pub struct Hpet {
    /// General configuration register.
    pub config: u64,
    /// General interrupt status register.
    pub isr: u64,
    /// Main counter value (latched when saving a running HPET).
    pub hpet_counter: u64,
    /// Number of timers, as sent (version 2 and newer).
    #[vmstate(since = 2)]
    pub num_timers_save: u8,
    /// `VMSTATE_VALIDATE("num_timers must match", ...)`: nothing on the wire.
    #[vmstate(validate = Hpet::num_timers_match, name = "num_timers must match")]
    pub _num_timers_match: (),
    /// The timers; the first `num_timers_save` are migrated.
    #[vmstate(len = num_timers_save)]
    pub timer: [HpetTimer; HPET_MAX_TIMERS],
    /// Subsection `hpet/rtc_irq_level`, sent when the RTC line is high.
    #[vmstate(subsection)]
    pub rtc_irq_level: HpetRtcIrqLevel,
    /// Subsection `hpet/offset`, sent when the HPET is enabled and
    /// [`Self::hpet_offset_saved`].
    #[vmstate(subsection, needed = Hpet::offset_needed)]
    pub offset: HpetOffset,
    /// Device property `timers`: the number of timers.
    #[vmstate(skip)]
    pub num_timers: u8,
    /// Device property `hpet-offset-saved` (default true).
    #[vmstate(skip)]
    pub hpet_offset_saved: bool,
}

impl Default for Hpet {
    /// An HPET with three timers, after reset.
    fn default() -> Self {
        Hpet {
            config: 0,
            isr: 0,
            hpet_counter: 0,
            num_timers_save: HPET_MIN_TIMERS,
            _num_timers_match: (),
            timer: std::array::from_fn(|i| HpetTimer::reset(i as u8)),
            rtc_irq_level: HpetRtcIrqLevel::default(),
            offset: HpetOffset::default(),
            num_timers: HPET_MIN_TIMERS,
            hpet_offset_saved: true,
        }
    }
}

impl Hpet {
    /// `hpet_enabled()`: the main counter runs.
    pub fn enabled(&self) -> bool {
        self.config & HPET_CFG_ENABLE != 0
    }

    fn pre_save(&mut self) -> Result<(), String> {
        self.num_timers_save = self.num_timers;
        Ok(())
    }

    fn num_timers_match(&self, _version_id: u32) -> bool {
        self.num_timers == self.num_timers_save
    }

    fn offset_needed(&self) -> bool {
        self.enabled() && self.hpet_offset_saved
    }
}

/// Subsection `hpet/rtc_irq_level`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "hpet/rtc_irq_level", version = 1, minimum_version = 1,
          needed = HpetRtcIrqLevel::is_needed)]
pub struct HpetRtcIrqLevel {
    /// Level of the RTC interrupt input.
    pub rtc_irq_level: u8,
}

impl HpetRtcIrqLevel {
    fn is_needed(&self) -> bool {
        self.rtc_irq_level != 0
    }
}

/// Subsection `hpet/offset`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "hpet/offset", version = 1, minimum_version = 1)]
pub struct HpetOffset {
    /// Offset between the main counter and the virtual clock, in ns.
    pub hpet_offset: u64,
}
