//! The x86 local APIC (`hw/intc/apic_common.c`: `vmstate_apic_common` and
//! its subsection `apic_sipi`).

use vmstate_core::VmState;

/// Local vector table entries (`APIC_LVT_NB`).
pub const APIC_LVT_NB: usize = 6;
/// `APIC_LVT_MASKED`: the entry is masked.
pub const APIC_LVT_MASKED: u32 = 1 << 16;

/// The local APIC: section `apic`, version 3.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "apic", version = 3, minimum_version = 3, default,
          pre_load = Apic::pre_load)]
// The one private field is the `()` marker of an inline subsection, not a
// non-exhaustive marker.
#[allow(clippy::manual_non_exhaustive)]
pub struct Apic {
    /// `IA32_APIC_BASE` (a uint32 on the wire in QEMU 10.0).
    #[vmstate(default = 0xfee0_0900)]
    pub apicbase: u32,
    /// APIC id.
    pub id: u8,
    /// Arbitration id.
    pub arb_id: u8,
    /// Task priority.
    pub tpr: u8,
    /// Spurious interrupt vector.
    #[vmstate(default = 0xff)]
    pub spurious_vec: u32,
    /// Logical destination.
    pub log_dest: u8,
    /// Destination format.
    #[vmstate(default = 0xf)]
    pub dest_mode: u8,
    /// In-service register.
    pub isr: [u32; 8],
    /// Trigger mode register.
    pub tmr: [u32; 8],
    /// Interrupt request register.
    pub irr: [u32; 8],
    /// Local vector table.
    #[vmstate(default = [APIC_LVT_MASKED; APIC_LVT_NB])]
    pub lvt: [u32; APIC_LVT_NB],
    /// Error status.
    pub esr: u32,
    /// Interrupt command register.
    pub icr: [u32; 2],
    /// Timer divide configuration.
    pub divide_conf: u32,
    /// Timer divide shift.
    pub count_shift: i32,
    /// Timer initial count.
    pub initial_count: u32,
    /// When the initial count was loaded.
    pub initial_count_load_time: i64,
    /// Next timer event.
    pub next_time: i64,
    /// The timer's expiry (open-coded timer state: -1 when not armed).
    #[vmstate(default = -1)]
    pub timer_expiry: i64,

    #[vmstate(subsection = "apic_sipi", version = 1, minimum_version = 1,
              needed = Apic::sipi_needed)]
    _sipi: (),
    /// Vector of the pending SIPI.
    pub sipi_vector: i32,
    /// Waiting for a SIPI.
    pub wait_for_sipi: i32,
}

impl Apic {
    fn sipi_needed(&self) -> bool {
        self.wait_for_sipi != 0
    }
    /// `apic_pre_load()`: no SIPI is awaited unless the subsection says so.
    fn pre_load(&mut self) -> Result<(), String> {
        self.wait_for_sipi = 0;
        Ok(())
    }
}
