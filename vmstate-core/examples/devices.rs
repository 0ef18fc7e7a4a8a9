//! The main job in one screen: define a few devices with `#[derive(VmState)]`,
//! save them to QEMU's wire format, print the pretty dump, load them back and
//! show that the loaded state equals the saved one.
//!
//! Run it with `cargo run -p vmstate-core --example devices`.

use vmstate_core::{Timer, VmState};

/// An 8259 interrupt controller, as QEMU's `i8259` description (version 1).
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "i8259", version = 1, minimum_version = 1)]
struct Pic {
    last_irr: u8,
    irr: u8,
    imr: u8,
    isr: u8,
    priority_add: u8,
    irq_base: u8,
    read_reg_select: u8,
    poll: u8,
    special_mask: u8,
    init_state: u8,
    auto_eoi: u8,
    rotate_on_auto_eoi: u8,
    special_fully_nested_mode: u8,
    init4: u8,
    single_mode: u8,
    elcr: u8,
    #[vmstate(subsection)]
    ltim: PicLtim,
}

/// Sent only when level-triggered mode is on, so older QEMUs still load the
/// section when it is off.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "i8259/ltim", version = 1, minimum_version = 1, needed = PicLtim::is_on)]
struct PicLtim {
    ltim: u8,
}

impl PicLtim {
    fn is_on(&self) -> bool {
        self.ltim != 0
    }
}

/// A timer block with a variable number of timers, loosely after QEMU's hpet.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "hpet", version = 2, minimum_version = 1, post_load = Hpet::post_load)]
struct Hpet {
    config: u64,
    isr: u64,
    counter: u64,
    #[vmstate(since = 2)]
    num_timers: u8,
    #[vmstate(len = num_timers)]
    timer: Vec<HpetTimer>,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "hpet_timer", version = 1, minimum_version = 1)]
struct HpetTimer {
    tn: u8,
    config: u64,
    cmp: u64,
    fsb: u64,
    period: u64,
    wrap_flag: u8,
    qemu_timer: Timer,
}

impl Hpet {
    fn post_load(&mut self, _version: u32) -> Result<(), String> {
        if self.num_timers < 3 || self.num_timers > 32 {
            return Err(format!("{} timers is outside 3..=32", self.num_timers));
        }
        Ok(())
    }
}

/// A serial port's line state with an enum register and a FIFO.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "uart", version = 1)]
struct Uart {
    divider: u16,
    lcr: Parity,
    #[vmstate(equal)]
    fifo_size: u8,
    fifo_len: u8,
    #[vmstate(buffer, len = fifo_len)]
    fifo: Vec<u8>,
}

#[derive(VmState, Clone, Copy, Debug, Default, PartialEq)]
#[repr(u8)]
enum Parity {
    #[default]
    None = 0,
    Odd = 1,
    Even = 3,
}

fn round_trip<T: VmState + Clone + Default + PartialEq + std::fmt::Debug>(
    mut device: T,
    destination: T,
) -> Result<(), vmstate_core::Error> {
    let bytes = vmstate_core::save_to_vec(&mut device)?;
    println!(
        "== {} v{}: {} bytes on the wire",
        T::DESCRIPTION.name,
        T::DESCRIPTION.version_id,
        bytes.len()
    );
    print!("{}", vmstate_core::pretty_print(&mut device)?);
    let mut loaded = destination;
    vmstate_core::load_from_slice(&mut loaded, &bytes, T::DESCRIPTION.version_id)?;
    println!(
        "loaded back: {}\n",
        if loaded == device {
            "equal"
        } else {
            "DIFFERENT"
        }
    );
    assert_eq!(loaded, device);
    Ok(())
}

fn main() -> Result<(), vmstate_core::Error> {
    let pic = Pic {
        irr: 0x10,
        imr: 0xb8,
        irq_base: 0x08,
        init_state: 0,
        elcr: 0x0c,
        ltim: PicLtim { ltim: 1 },
        ..Pic::default()
    };
    round_trip(pic, Pic::default())?;

    let timer = |tn: u8| HpetTimer {
        tn,
        config: 0x30,
        cmp: u64::MAX,
        period: 0,
        qemu_timer: if tn == 0 {
            Timer::armed_at(1_000_000)
        } else {
            Timer::not_armed()
        },
        ..HpetTimer::default()
    };
    let hpet = Hpet {
        config: 1,
        counter: 0x1234_5678,
        num_timers: 3,
        timer: (0..3).map(timer).collect(),
        ..Hpet::default()
    };
    round_trip(hpet, Hpet::default())?;

    let uart = Uart {
        divider: 12,
        lcr: Parity::Even,
        fifo_size: 16,
        fifo_len: 3,
        fifo: b"hi\n".to_vec(),
    };
    // `fifo_size` is an `equal` field: the destination must be configured alike.
    let destination = Uart {
        fifo_size: 16,
        ..Uart::default()
    };
    round_trip(uart.clone(), destination)?;

    // What a mismatch looks like: a destination with a 64-byte FIFO.
    let bytes = vmstate_core::save_to_vec(&mut uart.clone())?;
    let mut other = Uart {
        fifo_size: 64,
        ..Uart::default()
    };
    if let Err(e) = vmstate_core::load_from_slice(&mut other, &bytes, 1) {
        println!("loading into a differently configured uart fails, as in QEMU:\n  {e}");
    }
    Ok(())
}
