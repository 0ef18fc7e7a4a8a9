//! Byte constants of the migration stream container (`migration/savevm.h`).

/// `QEMU_VM_FILE_MAGIC`: "QEVM".
pub const FILE_MAGIC: u32 = 0x5145_564d;
/// `QEMU_VM_FILE_VERSION_COMPAT`: the obsolete version 2 format, refused.
pub const FILE_VERSION_COMPAT: u32 = 2;
/// `QEMU_VM_FILE_VERSION`: the only stream version QEMU reads.
pub const FILE_VERSION: u32 = 3;
/// `QEMU_VM_EOF`.
pub const EOF: u8 = 0x00;
/// `QEMU_VM_SECTION_START`.
pub const SECTION_START: u8 = 0x01;
/// `QEMU_VM_SECTION_PART`.
pub const SECTION_PART: u8 = 0x02;
/// `QEMU_VM_SECTION_END`.
pub const SECTION_END: u8 = 0x03;
/// `QEMU_VM_SECTION_FULL`.
pub const SECTION_FULL: u8 = 0x04;
/// `QEMU_VM_SUBSECTION`: starts a subsection inside a VMState body.
pub const SUBSECTION: u8 = 0x05;
/// `QEMU_VM_VMDESCRIPTION`: the JSON description after EOF.
pub const VMDESCRIPTION: u8 = 0x06;
/// `QEMU_VM_CONFIGURATION`.
pub const CONFIGURATION: u8 = 0x07;
/// `QEMU_VM_COMMAND`.
pub const COMMAND: u8 = 0x08;
/// `QEMU_VM_SECTION_FOOTER`.
pub const SECTION_FOOTER: u8 = 0x7e;
/// `VMS_MARKER_PTR_NULL` (formerly `VMS_NULLPTR_MARKER`): a NULL element of
/// an array of pointers.
pub const PTR_MARKER_NULL: u8 = 0x30;
/// `VMS_MARKER_PTR_VALID`: a present element of an auto-allocated array of pointers.
pub const PTR_MARKER_VALID: u8 = 0x31;
