//! The MC146818 real-time clock and CMOS RAM (`hw/rtc/mc146818rtc.c`,
//! `vmstate_rtc`).

use vmstate_core::{Timer, VmState};

/// State of the RTC: section `mc146818rtc`, version 3 (loads 1 to 3).
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "mc146818rtc", version = 3, minimum_version = 1)]
pub struct Mc146818Rtc {
    /// The 128 bytes of CMOS RAM, clock registers included.
    #[vmstate(buffer)]
    pub cmos_data: [u8; 128],
    /// The CMOS index register (port 0x70).
    pub cmos_index: u8,
    /// Formerly `current_tm` (7 × int32).
    #[vmstate(unused = 28, name = "unused")]
    pub _unused_tm: (),
    /// The periodic interrupt timer.
    pub periodic_timer: Timer,
    /// When the next periodic interrupt is due, in ns.
    pub next_periodic_time: i64,
    /// Formerly the second timer and `next_second_time` (3 × int64).
    #[vmstate(unused = 24, name = "unused")]
    pub _unused_second: (),
    /// Periodic interrupts still to be reinjected (lost tick policy slew).
    #[vmstate(since = 2)]
    pub irq_coalesced: u32,
    /// The periodic interrupt period, in 32 kHz ticks.
    #[vmstate(since = 2)]
    pub period: u32,
    /// The guest time base, in seconds since the epoch.
    #[vmstate(since = 3)]
    pub base_rtc: u64,
    /// The host time of the last update, in ns.
    #[vmstate(since = 3)]
    pub last_update: u64,
    /// Sub-second offset, in ns.
    #[vmstate(since = 3)]
    pub offset: i64,
    /// The update-ended/alarm timer.
    #[vmstate(since = 3)]
    pub update_timer: Timer,
    /// When the next alarm is due, in ns.
    #[vmstate(since = 3)]
    pub next_alarm_time: u64,
    /// Subsection `mc146818rtc/irq_reinject_on_ack_count`, sent when non-zero.
    #[vmstate(subsection)]
    pub irq_reinject_on_ack_count: RtcIrqReinjectOnAckCount,
}

impl Default for Mc146818Rtc {
    fn default() -> Self {
        Mc146818Rtc {
            cmos_data: [0; 128],
            cmos_index: 0,
            _unused_tm: (),
            periodic_timer: Timer::not_armed(),
            next_periodic_time: 0,
            _unused_second: (),
            irq_coalesced: 0,
            period: 0,
            base_rtc: 0,
            last_update: 0,
            offset: 0,
            update_timer: Timer::not_armed(),
            next_alarm_time: 0,
            irq_reinject_on_ack_count: RtcIrqReinjectOnAckCount::default(),
        }
    }
}

/// Subsection `mc146818rtc/irq_reinject_on_ack_count`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "mc146818rtc/irq_reinject_on_ack_count", version = 1, minimum_version = 1,
          needed = RtcIrqReinjectOnAckCount::is_needed)]
pub struct RtcIrqReinjectOnAckCount {
    /// Reinjections since the guest last acknowledged an interrupt.
    pub irq_reinject_on_ack_count: u16,
}

impl RtcIrqReinjectOnAckCount {
    fn is_needed(&self) -> bool {
        self.irq_reinject_on_ack_count != 0
    }
}
