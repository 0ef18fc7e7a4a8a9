//! The 16550A UART (`hw/char/serial.c`: `vmstate_serial` and its seven
//! subsections; `hw/char/serial-isa.c`: `vmstate_isa_serial`) and QEMU's
//! byte FIFO (`util/fifo8.c`: `vmstate_fifo8`).
//!
//! The subsections are inline: QEMU's subsections of `SerialState` run
//! over the same struct, and their `needed` tests read its registers
//! (`serial/thr_ipending` compares `thr_ipending` with `ier` and `iir`).

use vmstate_core::{Timer, VmState};

/// Depth of the receive and transmit FIFOs (`UART_FIFO_LENGTH`).
pub const UART_FIFO_LENGTH: u32 = 16;

/// QEMU's `Fifo8`: a ring of `capacity` bytes. `capacity` is set when the
/// FIFO is created (`fifo8_create`) and is not migrated: the destination
/// reads as many bytes as its own FIFO holds
/// (`VMSTATE_VBUFFER_UINT32(data, Fifo8, 1, NULL, capacity)`).
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "Fifo8", version = 1, minimum_version = 1)]
pub struct Fifo8 {
    /// The ring's bytes.
    #[vmstate(buffer, len = capacity, since = 1)]
    pub data: Vec<u8>,
    /// Index of the oldest byte.
    pub head: u32,
    /// Bytes queued.
    pub num: u32,
    /// The ring's size (configuration).
    #[vmstate(skip)]
    pub capacity: u32,
}

impl Fifo8 {
    /// An empty FIFO of `capacity` bytes (`fifo8_create`).
    pub fn new(capacity: u32) -> Self {
        Fifo8 {
            data: vec![0; capacity as usize],
            head: 0,
            num: 0,
            capacity,
        }
    }

    /// True if no byte is queued (`fifo8_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.num == 0
    }
}

impl Default for Fifo8 {
    fn default() -> Self {
        Fifo8::new(UART_FIFO_LENGTH)
    }
}

/// `UART_IIR_ID`: the interrupt identification bits of IIR.
const UART_IIR_ID: u8 = 0x06;
/// `UART_IIR_THRI`: transmitter holding register empty.
const UART_IIR_THRI: u8 = 0x02;
/// `UART_IER_THRI`: THR-empty interrupt enabled.
const UART_IER_THRI: u8 = 0x02;
/// `UART_LSR_TEMT`: transmitter empty.
const UART_LSR_TEMT: u8 = 0x40;
/// `MAX_XMIT_RETRY`.
const MAX_XMIT_RETRY: u32 = 4;

/// The UART: nested struct `serial`, version 3 (loads 2 and 3).
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "serial", version = 3, minimum_version = 2, default,
          pre_save = SerialState::pre_save, pre_load = SerialState::pre_load,
          post_load = SerialState::post_load)]
pub struct SerialState {
    /// Baud rate divisor (version 2 and newer).
    #[vmstate(since = 2, default = 0x0c)]
    pub divider: u16,
    /// Receive buffer.
    pub rbr: u8,
    /// Interrupt enable.
    pub ier: u8,
    /// Interrupt identification.
    #[vmstate(default = 0x01)]
    pub iir: u8,
    /// Line control.
    pub lcr: u8,
    /// Modem control.
    #[vmstate(default = 0x08)]
    pub mcr: u8,
    /// Line status.
    #[vmstate(default = 0x60)]
    pub lsr: u8,
    /// Modem status.
    #[vmstate(default = 0xb0)]
    pub msr: u8,
    /// Scratch.
    pub scr: u8,
    /// FIFO control as migrated (`pre_save` copies `fcr`), version 3.
    #[vmstate(since = 3)]
    pub fcr_vmstate: u8,
    /// FIFO control.
    #[vmstate(skip)]
    pub fcr: u8,

    #[vmstate(subsection = "serial/thr_ipending", version = 1, minimum_version = 1,
              needed = SerialState::thr_ipending_needed)]
    _thr_ipending: (),
    /// THR-empty interrupt pending (-1 before a load: not yet known).
    pub thr_ipending: i32,

    #[vmstate(subsection = "serial/tsr", version = 1, minimum_version = 1,
              needed = SerialState::tsr_needed)]
    _tsr: (),
    /// Transmit retries left.
    pub tsr_retry: u32,
    /// Transmit holding register.
    pub thr: u8,
    /// Transmit shift register.
    pub tsr: u8,

    #[vmstate(subsection = "serial/recv_fifo", version = 1, minimum_version = 1,
              needed = SerialState::recv_fifo_needed)]
    _recv_fifo: (),
    /// The receive FIFO (`VMSTATE_STRUCT(recv_fifo, SerialState, 1, ..)`).
    #[vmstate(since = 1)]
    pub recv_fifo: Fifo8,

    #[vmstate(subsection = "serial/xmit_fifo", version = 1, minimum_version = 1,
              needed = SerialState::xmit_fifo_needed)]
    _xmit_fifo: (),
    /// The transmit FIFO.
    #[vmstate(since = 1)]
    pub xmit_fifo: Fifo8,

    #[vmstate(subsection = "serial/fifo_timeout_timer", version = 1, minimum_version = 1,
              needed = SerialState::fifo_timeout_timer_needed)]
    _fifo_timeout_timer: (),
    /// The character timeout timer.
    pub fifo_timeout_timer: Timer,

    #[vmstate(subsection = "serial/timeout_ipending", version = 1, minimum_version = 1,
              needed = SerialState::timeout_ipending_needed)]
    _timeout_ipending: (),
    /// Character timeout interrupt pending.
    pub timeout_ipending: i32,

    #[vmstate(subsection = "serial/poll", version = 1, minimum_version = 1,
              needed = SerialState::poll_needed)]
    _poll: (),
    /// Modem status polling (-1: the backend does not report modem lines).
    #[vmstate(default = -1)]
    pub poll_msl: i32,
    /// The modem status poll timer.
    pub modem_status_poll: Timer,
}

impl SerialState {
    fn thr_ipending_needed(&self) -> bool {
        if self.ier & UART_IER_THRI != 0 {
            let expected = (self.iir & UART_IIR_ID) == UART_IIR_THRI;
            self.thr_ipending != i32::from(expected)
        } else {
            false
        }
    }
    fn tsr_needed(&self) -> bool {
        self.tsr_retry != 0
    }
    fn recv_fifo_needed(&self) -> bool {
        !self.recv_fifo.is_empty()
    }
    fn xmit_fifo_needed(&self) -> bool {
        !self.xmit_fifo.is_empty()
    }
    fn fifo_timeout_timer_needed(&self) -> bool {
        self.fifo_timeout_timer.is_armed()
    }
    fn timeout_ipending_needed(&self) -> bool {
        self.timeout_ipending != 0
    }
    fn poll_needed(&self) -> bool {
        self.poll_msl >= 0
    }

    /// `serial_pre_save()`.
    fn pre_save(&mut self) -> Result<(), String> {
        self.fcr_vmstate = self.fcr;
        Ok(())
    }

    /// `serial_pre_load()`: what an absent subsection leaves.
    fn pre_load(&mut self) -> Result<(), String> {
        self.thr_ipending = -1;
        self.poll_msl = -1;
        Ok(())
    }

    /// `serial_post_load()`, the parts that are state.
    fn post_load(&mut self, version_id: u32) -> Result<(), String> {
        if version_id < 3 {
            self.fcr_vmstate = 0;
        }
        if self.thr_ipending == -1 {
            self.thr_ipending = i32::from((self.iir & UART_IIR_ID) == UART_IIR_THRI);
        }
        if self.tsr_retry > 0 {
            if self.lsr & UART_LSR_TEMT != 0 {
                return Err(format!(
                    "inconsistent state in serial device (tsr empty, tsr_retry={})",
                    self.tsr_retry
                ));
            }
            self.tsr_retry = self.tsr_retry.min(MAX_XMIT_RETRY);
        } else if self.lsr & UART_LSR_TEMT == 0 {
            return Err("inconsistent state in serial device (tsr not empty, tsr_retry=0".into());
        }
        self.fcr = self.fcr_vmstate;
        Ok(())
    }
}

/// The ISA serial port: section `serial`, version 3 (loads 2 and 3).
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "serial", version = 3, minimum_version = 2)]
pub struct IsaSerial {
    /// The UART.
    pub state: SerialState,
}
