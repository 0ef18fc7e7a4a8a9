//! The USB tablet and mouse (`hw/usb/dev-hid.c`: `vmstate_usb_ptr`), the
//! USB device state every USB device migrates (`hw/usb/bus.c`:
//! `vmstate_usb_device`) and the HID pointer (`hw/input/hid.c`:
//! `vmstate_hid_ptr_device`).

use vmstate_core::VmState;

/// Size of a USB device's data buffer (`USBDevice.data_buf`).
pub const USB_DATA_BUF: i32 = 4096;
/// `USB_STATE_NOTATTACHED`.
pub const USB_STATE_NOTATTACHED: i32 = 0;
/// Events a HID pointer queues (`QUEUE_LENGTH`).
pub const QUEUE_LENGTH: usize = 16;

/// The state of any USB device: nested struct `USBDevice`, version 1.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "USBDevice", version = 1, minimum_version = 1,
          post_load = UsbDevice::post_load)]
pub struct UsbDevice {
    /// Device address.
    pub addr: u8,
    /// `USB_STATE_*`.
    pub state: i32,
    /// Remote wakeup enabled.
    pub remote_wakeup: i32,
    /// Control transfer stage.
    pub setup_state: i32,
    /// Control transfer length.
    pub setup_len: i32,
    /// Control transfer position.
    pub setup_index: i32,
    /// The SETUP packet.
    pub setup_buf: [u8; 8],
    /// Attached to a port (derived on load).
    #[vmstate(skip)]
    pub attached: bool,
}

impl UsbDevice {
    /// `usb_device_post_load()`: a control transfer must fit the buffer.
    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        self.attached = self.state != USB_STATE_NOTATTACHED;
        if self.setup_index < 0
            || self.setup_len < 0
            || self.setup_index >= USB_DATA_BUF
            || self.setup_len >= USB_DATA_BUF
        {
            return Err(format!(
                "control transfer {}/{} outside the {USB_DATA_BUF}-byte buffer",
                self.setup_index, self.setup_len
            ));
        }
        Ok(())
    }
}

/// One queued pointer event: nested struct `HIDPointerEventQueue`.
#[derive(VmState, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "HIDPointerEventQueue", version = 1, minimum_version = 1)]
pub struct HidPointerEvent {
    /// X (absolute for a tablet, relative for a mouse).
    pub xdx: i32,
    /// Y.
    pub ydy: i32,
    /// Wheel.
    pub dz: i32,
    /// Buttons.
    pub buttons_state: i32,
}

/// What kind of HID device (`HID_MOUSE`, `HID_TABLET`, `HID_KEYBOARD`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HidKind {
    /// A relative pointer.
    Mouse,
    /// An absolute pointer.
    #[default]
    Tablet,
}

/// A HID pointer: nested struct `HIDPointerDevice`, version 1.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "HIDPointerDevice", version = 1, minimum_version = 1,
          post_load = HidPointer::post_load)]
pub struct HidPointer {
    /// The event queue (`ptr.queue`).
    #[vmstate(name = "ptr.queue")]
    pub queue: [HidPointerEvent; QUEUE_LENGTH],
    /// Oldest queued event.
    pub head: u32,
    /// Events queued.
    pub n: u32,
    /// Boot (0) or report (1) protocol.
    pub protocol: i32,
    /// Idle rate.
    pub idle: u8,
    /// Mouse or tablet (configuration).
    #[vmstate(skip)]
    pub kind: HidKind,
}

impl HidPointer {
    /// `hid_post_load()`: a full queue from an old QEMU keeps only its
    /// last event (a mouse reports no motion for it).
    fn post_load(&mut self, _version_id: u32) -> Result<(), String> {
        if self.n as usize == QUEUE_LENGTH {
            let last = (self.head as usize + self.n as usize) & (QUEUE_LENGTH - 1);
            let mut evt = self.queue[last];
            if self.kind == HidKind::Mouse {
                evt.xdx = 0;
                evt.ydy = 0;
            }
            self.queue[0] = evt;
            self.head = 0;
            self.n = 1;
        }
        Ok(())
    }
}

/// A USB tablet or mouse: section `usb-ptr`, version 1.
#[derive(VmState, Clone, Debug, Default, PartialEq, Eq)]
#[vmstate(name = "usb-ptr", version = 1, minimum_version = 1)]
pub struct UsbPtr {
    /// The USB device.
    pub dev: UsbDevice,
    /// The pointer.
    pub hid: HidPointer,
}
