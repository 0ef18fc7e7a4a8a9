//! The KVM paravirtual clock (`hw/i386/kvm/clock.c`: `kvmclock_vmsd` and
//! its subsection `kvmclock/clock_is_reliable`). Sent only by KVM guests.

use vmstate_core::VmState;

/// The clock: section `kvmclock`, version 1.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "kvmclock", version = 1, minimum_version = 1, default,
          pre_load = KvmClock::pre_load)]
// The one private field is the `()` marker of an inline subsection, not a
// non-exhaustive marker.
#[allow(clippy::manual_non_exhaustive)]
pub struct KvmClock {
    /// The guest's clock (ns), read from KVM when the guest stops.
    pub clock: u64,

    #[vmstate(subsection = "kvmclock/clock_is_reliable", version = 1, minimum_version = 1,
              needed = KvmClock::reliable_needed)]
    _reliable: (),
    /// `clock` was read from a host whose `KVM_GET_CLOCK` is reliable.
    pub clock_is_reliable: bool,

    /// The machine type supports the reliable clock
    /// (`x-mach-use-reliable-get-clock`, default on).
    #[vmstate(skip, default = true)]
    pub mach_use_reliable_get_clock: bool,
}

impl KvmClock {
    fn reliable_needed(&self) -> bool {
        self.mach_use_reliable_get_clock
    }
    /// `kvmclock_pre_load()`: assume an unreliable source unless told.
    fn pre_load(&mut self) -> Result<(), String> {
        self.clock_is_reliable = false;
        Ok(())
    }
}
