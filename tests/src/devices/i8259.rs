//! The 8259 interrupt controller (`hw/intc/i8259_common.c`, `vmstate_pic_common`).

use vmstate_core::VmState;

/// State of one 8259 PIC: section `i8259`, version 1; x86 `pc` machines have
/// two (instance 0 = master, 1 = slave).
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "i8259", version = 1, minimum_version = 1)]
pub struct I8259 {
    /// Edge detection: the IRR as last seen.
    pub last_irr: u8,
    /// Interrupt request register.
    pub irr: u8,
    /// Interrupt mask register.
    pub imr: u8,
    /// In-service register.
    pub isr: u8,
    /// Rotation base for priorities.
    pub priority_add: u8,
    /// Vector base.
    pub irq_base: u8,
    /// OCW3 read register select.
    pub read_reg_select: u8,
    /// OCW3 poll mode.
    pub poll: u8,
    /// OCW3 special mask mode.
    pub special_mask: u8,
    /// ICW sequence position.
    pub init_state: u8,
    /// ICW4 automatic EOI.
    pub auto_eoi: u8,
    /// Rotate on automatic EOI.
    pub rotate_on_auto_eoi: u8,
    /// ICW4 special fully nested mode.
    pub special_fully_nested_mode: u8,
    /// ICW1 expects an ICW4.
    pub init4: u8,
    /// ICW1 single (no cascade) mode.
    pub single_mode: u8,
    /// Edge/level control register.
    pub elcr: u8,
    /// Level-triggered mode for all inputs (sent only when set).
    #[vmstate(subsection)]
    pub ltim: I8259Ltim,
}

/// Subsection `i8259/ltim`, sent when level-triggered mode is on.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "i8259/ltim", version = 1, minimum_version = 1, needed = I8259Ltim::is_set)]
pub struct I8259Ltim {
    /// ICW1 LTIM bit.
    pub ltim: u8,
}

impl I8259Ltim {
    fn is_set(&self) -> bool {
        self.ltim != 0
    }
}
