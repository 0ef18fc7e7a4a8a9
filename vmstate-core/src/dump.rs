//! QEMU's `-dump-vmstate` JSON: an owned schema model, parsed from QEMU's
//! dumps and exported from our static [`Description`](crate::Description)s.
