//! The ARM PL061 GPIO controller (`hw/gpio/pl061.c`, `vmstate_pl061`).

use vmstate_core::VmState;

/// State of a PL061: section `pl061`, version 4 (loads only 4).
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "pl061", version = 4, minimum_version = 4)]
pub struct Pl061 {
    /// Register lock (Luminary variant).
    pub locked: u32,
    /// GPIODATA.
    pub data: u32,
    /// Output levels last driven.
    pub old_out_data: u32,
    /// Input levels last seen.
    pub old_in_data: u32,
    /// Direction register.
    pub dir: u32,
    /// Interrupt sense.
    pub isense: u32,
    /// Interrupt both edges.
    pub ibe: u32,
    /// Interrupt event.
    pub iev: u32,
    /// Interrupt mask.
    pub im: u32,
    /// Raw interrupt status.
    pub istate: u32,
    /// Alternate function select.
    pub afsel: u32,
    /// 2 mA drive select.
    pub dr2r: u32,
    /// 4 mA drive select.
    pub dr4r: u32,
    /// 8 mA drive select.
    pub dr8r: u32,
    /// Open drain select.
    pub odr: u32,
    /// Pull-up select.
    pub pur: u32,
    /// Pull-down select.
    pub pdr: u32,
    /// Slew rate control.
    pub slr: u32,
    /// Digital enable.
    pub den: u32,
    /// Commit register.
    pub cr: u32,
    /// Analog mode select (version 2 and newer).
    #[vmstate(since = 2)]
    pub amsel: u32,
}
