//! The ARM PL011 UART (`hw/char/pl011.c`, `vmstate_pl011`) and the clock
//! state it migrates (`hw/core/clock-vmstate.c`, `vmstate_clock`).

use vmstate_core::VmState;

/// Depth of the receive FIFO (`PL011_FIFO_DEPTH`).
pub const PL011_FIFO_DEPTH: usize = 16;
/// `LCR_FEN`: FIFOs enabled.
pub const LCR_FEN: u32 = 1 << 4;

/// State of a PL011: section `pl011`, version 2.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "pl011", version = 2, minimum_version = 2, post_load = Pl011::post_load)]
pub struct Pl011 {
    /// Formerly `readbuff` (a be32, now `VMSTATE_UNUSED`).
    #[vmstate(unused = 4, name = "unused")]
    pub _readbuff: (),
    /// Flag register (UARTFR).
    pub flags: u32,
    /// Line control register (UARTLCR_H).
    pub lcr: u32,
    /// Receive status register (UARTRSR).
    pub rsr: u32,
    /// Control register (UARTCR).
    pub cr: u32,
    /// DMA control register.
    pub dmacr: u32,
    /// Interrupt mask (UARTIMSC).
    pub int_enabled: u32,
    /// Raw interrupt status (UARTRIS).
    pub int_level: u32,
    /// The receive FIFO.
    pub read_fifo: [u32; PL011_FIFO_DEPTH],
    /// IrDA low-power counter.
    pub ilpr: u32,
    /// Integer baud rate divisor.
    pub ibrd: u32,
    /// Fractional baud rate divisor.
    pub fbrd: u32,
    /// Interrupt FIFO level select.
    pub ifl: u32,
    /// Receive FIFO read position.
    pub read_pos: i32,
    /// Characters in the receive FIFO.
    pub read_count: i32,
    /// Receive interrupt trigger level.
    pub read_trigger: i32,
    /// Subsection `pl011/clock`, sent when [`Self::migrate_clk`].
    #[vmstate(subsection, needed = Pl011::clock_needed)]
    pub clock: Pl011Clock,
    /// Device property `migrate-clk` (default true).
    #[vmstate(skip)]
    pub migrate_clk: bool,
}

impl Default for Pl011 {
    /// A PL011 after reset.
    fn default() -> Self {
        Pl011 {
            _readbuff: (),
            flags: 0x90,
            lcr: 0,
            rsr: 0,
            cr: 0x300,
            dmacr: 0,
            int_enabled: 0,
            int_level: 0,
            read_fifo: [0; PL011_FIFO_DEPTH],
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            ifl: 0x12,
            read_pos: 0,
            read_count: 0,
            read_trigger: 1,
            clock: Pl011Clock::default(),
            migrate_clk: true,
        }
    }
}

impl Pl011 {
    fn clock_needed(&self) -> bool {
        self.migrate_clk
    }

    /// `pl011_post_load()`: refuses FIFO positions outside the FIFO, moves a
    /// lone character to slot 0 when the FIFO is disabled, masks the divisors.
    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        let depth = PL011_FIFO_DEPTH as i64;
        let (pos, count) = (i64::from(self.read_pos), i64::from(self.read_count));
        // QEMU compares as unsigned: negative values are out of range too.
        if !(0..depth).contains(&pos) || !(0..=depth).contains(&count) {
            return Err(format!(
                "read_pos {} / read_count {} outside the {PL011_FIFO_DEPTH}-entry FIFO",
                self.read_pos, self.read_count
            ));
        }
        if self.lcr & LCR_FEN == 0 && self.read_count > 0 && self.read_pos > 0 {
            self.read_fifo[0] = self.read_fifo[self.read_pos as usize];
            self.read_pos = 0;
        }
        self.ibrd &= 0xffff;
        self.fbrd &= 0x3f;
        Ok(())
    }
}

/// Subsection `pl011/clock`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "pl011/clock", version = 1, minimum_version = 1)]
pub struct Pl011Clock {
    /// The UART's input clock (`VMSTATE_CLOCK`).
    pub clk: Clock,
}

/// A QEMU clock (`vmstate_clock`): nested struct `clock`, version 0.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "clock", pre_load = Clock::pre_load)]
pub struct Clock {
    /// Period, in 2^-32 ns units (0 = clock off).
    pub period: u64,
    /// Subsection `clock/muldiv`, sent when the ratio is not 1/1.
    #[vmstate(subsection)]
    pub muldiv: ClockMulDiv,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            period: 0,
            muldiv: ClockMulDiv {
                multiplier: 1,
                divider: 1,
            },
        }
    }
}

impl Clock {
    /// `clock_pre_load()`: a stream without `clock/muldiv` means 1/1.
    fn pre_load(&mut self) -> Result<(), String> {
        self.muldiv = ClockMulDiv {
            multiplier: 1,
            divider: 1,
        };
        Ok(())
    }
}

/// Subsection `clock/muldiv`.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "clock/muldiv", version = 1, minimum_version = 1, needed = ClockMulDiv::is_needed)]
pub struct ClockMulDiv {
    /// Multiplier applied to the source clock's period.
    pub multiplier: u32,
    /// Divider applied to the source clock's period.
    pub divider: u32,
}

impl ClockMulDiv {
    fn is_needed(&self) -> bool {
        self.multiplier != 1 || self.divider != 1
    }
}
