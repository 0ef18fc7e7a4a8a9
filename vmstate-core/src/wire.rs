//! QEMU's wire types: the `VMStateInfo` names that appear in vmdesc JSON,
//! pretty dumps and error messages.

use std::fmt;

/// A wire type of QEMU's VMState, named exactly as QEMU names its
/// `VMStateInfo` (`migration/vmstate-types.c`, `migration/savevm.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireType {
    /// `bool`: one byte, any nonzero value loads as true.
    Bool,
    /// `int8`.
    Int8,
    /// `int16`: big-endian.
    Int16,
    /// `int32`: big-endian.
    Int32,
    /// `int64`: big-endian.
    Int64,
    /// `uint8`.
    Uint8,
    /// `uint16`: big-endian.
    Uint16,
    /// `uint32`: big-endian.
    Uint32,
    /// `uint64`: big-endian.
    Uint64,
    /// `uint8 equal`: the loaded value must equal the destination's.
    Uint8Equal,
    /// `uint16 equal`.
    Uint16Equal,
    /// `uint32 equal`.
    Uint32Equal,
    /// `int64 equal` (sic): QEMU's name for the 64-bit unsigned equal type.
    Uint64Equal,
    /// `int32 equal`.
    Int32Equal,
    /// `int32 le`: 0 <= loaded <= the destination's current value.
    Int32Le,
    /// `CPU_Double_U`: a double as two big-endian 32-bit halves (= be64 of its bits).
    CpuDouble,
    /// `timer`: be64 expiry time in ns, -1 when not armed.
    Timer,
    /// `buffer`: raw bytes.
    Buffer,
    /// `unused_buffer`: zeros on save, skipped on load.
    UnusedBuffer,
    /// `bitmap`: be64 words, the bit count coming from another field.
    Bitmap,
    /// `struct`: a nested VMState description, no framing.
    Struct,
    /// `vstruct`: a nested description pinned at a given version.
    VStruct,
    /// `tmp`: a computed description run on a temporary.
    Tmp,
    /// `qtailq`: `01` + element per element, then `00`.
    Qtailq,
    /// `qlist`: same wire as qtailq.
    Qlist,
    /// `gtree`: be32 node count, `01` key value per node, then `00`.
    Gtree,
    /// `ptr-marker` (`nullptr` before QEMU 10.2): `0x30` NULL, `0x31` present.
    PtrMarker,
}

impl WireType {
    /// QEMU's name for this type.
    pub const fn name(self) -> &'static str {
        match self {
            WireType::Bool => "bool",
            WireType::Int8 => "int8",
            WireType::Int16 => "int16",
            WireType::Int32 => "int32",
            WireType::Int64 => "int64",
            WireType::Uint8 => "uint8",
            WireType::Uint16 => "uint16",
            WireType::Uint32 => "uint32",
            WireType::Uint64 => "uint64",
            WireType::Uint8Equal => "uint8 equal",
            WireType::Uint16Equal => "uint16 equal",
            WireType::Uint32Equal => "uint32 equal",
            WireType::Uint64Equal => "int64 equal",
            WireType::Int32Equal => "int32 equal",
            WireType::Int32Le => "int32 le",
            WireType::CpuDouble => "CPU_Double_U",
            WireType::Timer => "timer",
            WireType::Buffer => "buffer",
            WireType::UnusedBuffer => "unused_buffer",
            WireType::Bitmap => "bitmap",
            WireType::Struct => "struct",
            WireType::VStruct => "vstruct",
            WireType::Tmp => "tmp",
            WireType::Qtailq => "qtailq",
            WireType::Qlist => "qlist",
            WireType::Gtree => "gtree",
            WireType::PtrMarker => "ptr-marker",
        }
    }

    /// Bytes one value occupies on the wire, for the fixed-size types.
    pub const fn fixed_size(self) -> Option<usize> {
        match self {
            WireType::Bool | WireType::Int8 | WireType::Uint8 | WireType::Uint8Equal => Some(1),
            WireType::PtrMarker => Some(1),
            WireType::Int16 | WireType::Uint16 | WireType::Uint16Equal => Some(2),
            WireType::Int32
            | WireType::Uint32
            | WireType::Uint32Equal
            | WireType::Int32Equal
            | WireType::Int32Le => Some(4),
            WireType::Int64
            | WireType::Uint64
            | WireType::Uint64Equal
            | WireType::CpuDouble
            | WireType::Timer => Some(8),
            _ => None,
        }
    }

    /// Parses one of QEMU's names (`"uint8"`, `"int64 equal"`, `"nullptr"`, ...).
    pub fn from_name(name: &str) -> Option<WireType> {
        Some(match name {
            "bool" => WireType::Bool,
            "int8" => WireType::Int8,
            "int16" => WireType::Int16,
            "int32" => WireType::Int32,
            "int64" => WireType::Int64,
            "uint8" => WireType::Uint8,
            "uint16" => WireType::Uint16,
            "uint32" => WireType::Uint32,
            "uint64" => WireType::Uint64,
            "uint8 equal" => WireType::Uint8Equal,
            "uint16 equal" => WireType::Uint16Equal,
            "uint32 equal" => WireType::Uint32Equal,
            "int64 equal" => WireType::Uint64Equal,
            "int32 equal" => WireType::Int32Equal,
            "int32 le" => WireType::Int32Le,
            "CPU_Double_U" => WireType::CpuDouble,
            "timer" => WireType::Timer,
            "buffer" => WireType::Buffer,
            "unused_buffer" => WireType::UnusedBuffer,
            "bitmap" => WireType::Bitmap,
            "struct" => WireType::Struct,
            "vstruct" => WireType::VStruct,
            "tmp" => WireType::Tmp,
            "qtailq" => WireType::Qtailq,
            "qlist" => WireType::Qlist,
            "gtree" => WireType::Gtree,
            "ptr-marker" | "nullptr" => WireType::PtrMarker,
            _ => return None,
        })
    }
}

impl fmt::Display for WireType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
