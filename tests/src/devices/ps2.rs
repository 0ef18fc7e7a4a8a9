//! PS/2 keyboard and mouse (`hw/input/ps2.c`: `vmstate_ps2_common`,
//! `vmstate_ps2_keyboard`, `vmstate_ps2_mouse`).

use vmstate_core::VmState;

/// Size of the PS/2 output queue (`PS2_BUFFER_SIZE`).
pub const PS2_BUFFER_SIZE: usize = 256;
/// Scancode queue limit required by the PS/2 protocol (`PS2_QUEUE_SIZE`).
pub const PS2_QUEUE_SIZE: i32 = 16;
/// Extra room for keyboard command replies (`PS2_QUEUE_HEADROOM`).
pub const PS2_QUEUE_HEADROOM: i32 = 8;

/// The output queue and command state shared by both devices: nested struct
/// `PS2 Common State`, version 3.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "PS2 Common State", version = 3, minimum_version = 2)]
pub struct Ps2Common {
    /// The command awaiting a parameter byte, or -1.
    pub write_cmd: i32,
    /// Queue read position.
    #[vmstate(name = "queue.rptr")]
    pub rptr: i32,
    /// Queue write position.
    #[vmstate(name = "queue.wptr")]
    pub wptr: i32,
    /// Bytes in the queue.
    #[vmstate(name = "queue.count")]
    pub count: i32,
    /// The queue's ring buffer.
    #[vmstate(buffer, name = "queue.data")]
    pub data: [u8; PS2_BUFFER_SIZE],
}

impl Default for Ps2Common {
    fn default() -> Self {
        Ps2Common {
            write_cmd: -1,
            rptr: 0,
            wptr: 0,
            count: 0,
            data: [0; PS2_BUFFER_SIZE],
        }
    }
}

impl Ps2Common {
    /// `ps2_common_post_load()`: limits the queued command replies (from
    /// `cwptr`, the start of the keyboard's command replies or -1) and the
    /// scancode queue, then recomputes the pointers.
    fn post_load(&mut self, cwptr: &mut i32) {
        let mask = PS2_BUFFER_SIZE as i32 - 1;
        let mut ccount = 0;
        if *cwptr != -1 {
            ccount = (cwptr.wrapping_sub(self.rptr) & mask).min(PS2_QUEUE_HEADROOM);
        }
        if self.count < ccount {
            self.count = ccount;
        } else if self.count > ccount + PS2_QUEUE_SIZE {
            self.count = ccount + PS2_QUEUE_SIZE;
        }
        self.rptr &= mask;
        self.wptr = (self.rptr + self.count) & mask;
        *cwptr = if ccount != 0 {
            (self.rptr + ccount) & mask
        } else {
            -1
        };
    }
}

/// State of the PS/2 keyboard: section `ps2kbd`, version 3 (loads 2 and 3).
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "ps2kbd", version = 3, minimum_version = 2, post_load = Ps2Kbd::post_load)]
pub struct Ps2Kbd {
    /// The common queue state.
    pub parent_obj: Ps2Common,
    /// Scanning enabled.
    pub scan_enabled: i32,
    /// Translation to scancode set 1 by the controller.
    pub translate: i32,
    /// The scancode set (1..=3; version 3 and newer, else 2).
    #[vmstate(since = 3)]
    pub scancode_set: i32,
    /// Subsection `ps2kbd/ledstate`.
    #[vmstate(subsection)]
    pub ledstate: Ps2KbdLedState,
    /// Subsection `ps2kbd/need_high_bit`.
    #[vmstate(subsection)]
    pub need_high_bit: Ps2KbdNeedHighBit,
    /// Subsection `ps2kbd/command_reply_queue`, sent when replies are queued.
    #[vmstate(subsection)]
    pub command_reply_queue: Ps2KbdCommandReplyQueue,
}

impl Default for Ps2Kbd {
    fn default() -> Self {
        Ps2Kbd {
            parent_obj: Ps2Common::default(),
            scan_enabled: 1,
            translate: 0,
            scancode_set: 2,
            ledstate: Ps2KbdLedState::default(),
            need_high_bit: Ps2KbdNeedHighBit::default(),
            command_reply_queue: Ps2KbdCommandReplyQueue { cwptr: -1 },
        }
    }
}

impl Ps2Kbd {
    fn post_load(&mut self, version_id: u32) -> Result<(), String> {
        if version_id == 2 {
            self.scancode_set = 2;
        }
        self.parent_obj
            .post_load(&mut self.command_reply_queue.cwptr);
        Ok(())
    }
}

/// Subsection `ps2kbd/ledstate` (version 3, loads 2 and 3).
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "ps2kbd/ledstate", version = 3, minimum_version = 2,
          needed = Ps2KbdLedState::is_needed)]
pub struct Ps2KbdLedState {
    /// Keyboard LEDs (scroll, num, caps lock bits).
    pub ledstate: i32,
}

impl Ps2KbdLedState {
    fn is_needed(&self) -> bool {
        self.ledstate != 0
    }
}

/// Subsection `ps2kbd/need_high_bit`.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "ps2kbd/need_high_bit", version = 1, minimum_version = 1,
          needed = Ps2KbdNeedHighBit::is_needed)]
pub struct Ps2KbdNeedHighBit {
    /// A set-1 break code needs the high bit (after an 0xe0 prefix).
    pub need_high_bit: bool,
}

impl Ps2KbdNeedHighBit {
    fn is_needed(&self) -> bool {
        self.need_high_bit
    }
}

/// Subsection `ps2kbd/command_reply_queue`: version 0 (QEMU gives it none).
/// It holds the queue's `cwptr`, which only the keyboard uses.
#[derive(VmState, Clone, Debug, PartialEq, Eq)]
#[vmstate(name = "ps2kbd/command_reply_queue", needed = Ps2KbdCommandReplyQueue::is_needed)]
pub struct Ps2KbdCommandReplyQueue {
    /// Start of the command replies in the queue, or -1 if there are none.
    #[vmstate(name = "parent_obj.queue.cwptr")]
    pub cwptr: i32,
}

impl Ps2KbdCommandReplyQueue {
    fn is_needed(&self) -> bool {
        self.cwptr != -1
    }
}

impl Default for Ps2KbdCommandReplyQueue {
    fn default() -> Self {
        Ps2KbdCommandReplyQueue { cwptr: -1 }
    }
}

/// State of the PS/2 mouse: section `ps2mouse`, version 2.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "ps2mouse", version = 2, minimum_version = 2, post_load = Ps2Mouse::post_load)]
pub struct Ps2Mouse {
    /// The common queue state.
    pub parent_obj: Ps2Common,
    /// Status byte (mode, enable, scaling, buttons).
    pub mouse_status: u8,
    /// Resolution code.
    pub mouse_resolution: u8,
    /// Sample rate, per second.
    pub mouse_sample_rate: u8,
    /// Wrap (echo) mode.
    pub mouse_wrap: u8,
    /// Mouse type: 0 PS/2, 3 IntelliMouse, 4 Explorer.
    pub mouse_type: u8,
    /// Progress of the magic sample-rate sequence that switches the type.
    pub mouse_detect_state: u8,
    /// Accumulated X motion.
    pub mouse_dx: i32,
    /// Accumulated Y motion.
    pub mouse_dy: i32,
    /// Accumulated wheel motion.
    pub mouse_dz: i32,
    /// Button state.
    pub mouse_buttons: u8,
}

impl Ps2Mouse {
    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        // The mouse queues no command replies.
        self.parent_obj.post_load(&mut -1);
        Ok(())
    }
}
