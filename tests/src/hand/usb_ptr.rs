//! [`UsbPtr`] by hand: the USB device (its control transfer checked
//! against the buffer), then the HID pointer and its 16-event queue.

use super::{Cursor, HandWritten};
use crate::devices::usb_ptr::{
    HidKind, HidPointer, HidPointerEvent, QUEUE_LENGTH, USB_DATA_BUF, USB_STATE_NOTATTACHED,
    UsbDevice, UsbPtr,
};

const USB_DEVICE: &str = "USBDevice";
const EVENT: &str = "HIDPointerEventQueue";

fn load_usb_device(r: &mut Cursor<'_>) -> Option<UsbDevice> {
    let mut d = UsbDevice {
        addr: r.u8()?,
        state: r.i32()?,
        remote_wakeup: r.i32()?,
        setup_state: r.i32()?,
        setup_len: r.i32()?,
        setup_index: r.i32()?,
        setup_buf: *r.array::<8>()?,
        attached: false,
    };
    r.no_subsection(USB_DEVICE)?;
    // usb_device_post_load().
    d.attached = d.state != USB_STATE_NOTATTACHED;
    let in_buf = |x: i32| (0..USB_DATA_BUF).contains(&x);
    (in_buf(d.setup_index) && in_buf(d.setup_len)).then_some(d)
}

fn load_hid(r: &mut Cursor<'_>, current: &HidPointer) -> Option<HidPointer> {
    let mut queue = [HidPointerEvent::default(); QUEUE_LENGTH];
    for e in &mut queue {
        *e = HidPointerEvent {
            xdx: r.i32()?,
            ydy: r.i32()?,
            dz: r.i32()?,
            buttons_state: r.i32()?,
        };
        r.no_subsection(EVENT)?;
    }
    let mut h = HidPointer {
        queue,
        head: r.be32()?,
        n: r.be32()?,
        protocol: r.i32()?,
        idle: r.u8()?,
        kind: current.kind,
    };
    // hid_post_load(): a full queue keeps only its last event.
    if h.n as usize == QUEUE_LENGTH {
        let last = (h.head as usize + h.n as usize) & (QUEUE_LENGTH - 1);
        let mut evt = h.queue[last];
        if h.kind == HidKind::Mouse {
            evt.xdx = 0;
            evt.ydy = 0;
        }
        h.queue[0] = evt;
        h.head = 0;
        h.n = 1;
    }
    Some(h)
}

impl HandWritten for UsbPtr {
    fn hand_save(&self, out: &mut Vec<u8>) {
        let d = &self.dev;
        out.push(d.addr);
        for x in [
            d.state,
            d.remote_wakeup,
            d.setup_state,
            d.setup_len,
            d.setup_index,
        ] {
            out.extend_from_slice(&x.to_be_bytes());
        }
        out.extend_from_slice(&d.setup_buf);
        let h = &self.hid;
        for e in &h.queue {
            for x in [e.xdx, e.ydy, e.dz, e.buttons_state] {
                out.extend_from_slice(&x.to_be_bytes());
            }
        }
        out.extend_from_slice(&h.head.to_be_bytes());
        out.extend_from_slice(&h.n.to_be_bytes());
        out.extend_from_slice(&h.protocol.to_be_bytes());
        out.push(h.idle);
    }

    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self> {
        let mut r = Cursor(bytes);
        let dev = load_usb_device(&mut r)?;
        let hid = load_hid(&mut r, &current.hid)?;
        r.finish()?;
        Some(UsbPtr { dev, hid })
    }
}
