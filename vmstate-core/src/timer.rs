/// A QEMU timer's migrated state: its expiry time in nanoseconds, or not armed.
///
/// On the wire (`timer`) this is a be64 of `timer_expire_time_ns()`, with
/// `-1` (all ones) meaning the timer is not armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer {
    raw: i64,
}

impl Timer {
    /// The wire value of a timer that is not armed.
    pub const NOT_ARMED: i64 = -1;

    /// A timer that is not armed.
    pub const fn not_armed() -> Self {
        Timer {
            raw: Self::NOT_ARMED,
        }
    }

    /// A timer armed to expire at `expire_ns`.
    pub const fn armed_at(expire_ns: i64) -> Self {
        Timer { raw: expire_ns }
    }

    /// The timer from its wire value (`-1` = not armed).
    pub const fn from_raw(raw: i64) -> Self {
        Timer { raw }
    }

    /// The wire value.
    pub const fn raw(self) -> i64 {
        self.raw
    }

    /// When the timer expires, or `None` if it is not armed.
    pub const fn expire_ns(self) -> Option<i64> {
        if self.raw == Self::NOT_ARMED {
            None
        } else {
            Some(self.raw)
        }
    }

    /// True if the timer is armed.
    pub const fn is_armed(self) -> bool {
        self.raw != Self::NOT_ARMED
    }
}

impl Default for Timer {
    /// Not armed.
    fn default() -> Self {
        Timer::not_armed()
    }
}
