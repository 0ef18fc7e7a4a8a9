//! The static wire schema of a VMState type: what QEMU calls a
//! `VMStateDescription`, as plain data.
//!
//! Every `#[derive(VmState)]` type has one in
//! [`VmState::DESCRIPTION`](crate::VmState::DESCRIPTION); every field type has
//! its [`Layout`] in [`VmStateField::LAYOUT`](crate::VmStateField::LAYOUT).

use crate::WireType;

pub use crate::drift::{LockMode, assert_locked, check_locked, check_locked_with};
pub use crate::equivalence::{assert_matches_qemu, check_matches_qemu, qemu_differences};

/// A VMState description: the name, versions, fields and subsections of one
/// struct, as QEMU's `VMStateDescription`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Description<'a> {
    /// The name (`"hpet"`, `"PCIDevice"`, `"hpet/offset"`).
    pub name: &'a str,
    /// The version this build writes, and the newest it loads (`version_id`).
    pub version_id: u32,
    /// The oldest version this build loads (`minimum_version_id`).
    pub minimum_version_id: u32,
    /// The migrated fields, in wire order.
    pub fields: &'a [FieldDescription<'a>],
    /// The subsections, in the order they are written.
    pub subsections: &'a [&'a Description<'a>],
}

impl<'a> Description<'a> {
    /// Looks up a subsection by its exact name; returns its index.
    pub fn subsection_index(&self, name: &[u8]) -> Option<usize> {
        self.subsections
            .iter()
            .position(|s| s.name.as_bytes() == name)
    }

    /// Looks up a field by its wire name.
    pub fn field(&self, name: &str) -> Option<&'a FieldDescription<'a>> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The name of field `index` made unique as QEMU's vmdesc makes it: a
    /// name that several fields share gets its occurrence number,
    /// `unused[0]`, `unused[1]` (QEMU's `vmsd_desc_field_start`). Fields of a
    /// run-time description already carry the vmdesc's unique names.
    pub fn unique_name(&self, index: usize) -> std::borrow::Cow<'a, str> {
        let field = &self.fields[index];
        let name = field.name;
        if field.vmdesc.is_some() {
            return std::borrow::Cow::Borrowed(name);
        }
        let total = self.fields.iter().filter(|f| f.name == name).count();
        if total > 1 {
            let k = self.fields[..index]
                .iter()
                .filter(|f| f.name == name)
                .count();
            std::borrow::Cow::Owned(format!("{name}[{k}]"))
        } else {
            std::borrow::Cow::Borrowed(name)
        }
    }

    /// True if `version` is in `minimum_version_id..=version_id`.
    pub fn accepts_version(&self, version: u32) -> bool {
        (self.minimum_version_id..=self.version_id).contains(&version)
    }
}

/// One migrated field of a [`Description`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    /// The field's wire name.
    pub name: &'a str,
    /// What the field looks like on the wire.
    pub layout: Layout<'a>,
    /// The field is in streams of this version and newer (QEMU's field `version_id`).
    pub since: u32,
    /// An `exists` predicate decides presence instead of `since` (QEMU's `field_exists`).
    pub has_exists_predicate: bool,
    /// Former wire names (`#[vmstate(alias = "old")]`): formats that find
    /// fields by name ([`ber`](crate::ber)) load a field sent under one of
    /// them into this one. QEMU's wire finds fields by position and ignores
    /// them.
    pub aliases: &'a [&'a str],
    /// For a description built from a stream's vmdesc: the shape of the
    /// vmdesc entry this field came from. `None` for derived descriptions.
    pub vmdesc: Option<VmdescEntry<'a>>,
}

/// The shape of one vmdesc field entry, kept by run-time descriptions so that
/// tools can show the field exactly as QEMU described it.
///
/// QEMU describes an array either as one entry with `"array_len"` (when its
/// elements compress) or as one entry per element with `"index"` (QEMU 10.0
/// leaves `"index"` off the last one); runs of NULL pointers are entries of
/// their own with the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmdescEntry<'a> {
    /// The entry's `"type"` as QEMU wrote it (`nullptr` in QEMU 10.0, which
    /// later releases call `ptr-marker`).
    pub type_name: &'a str,
    /// The entry's `"index"`, if it has one.
    pub index: Option<u64>,
    /// The entry's `"array_len"`, if it has one.
    pub array_len: Option<u64>,
    /// The entry's `"size"`: bytes of one element, as QEMU wrote it.
    pub size: Option<u64>,
    /// The index in the C array of the first element this entry holds: 0,
    /// unless an earlier entry of the same name held elements before it.
    pub first_element: u64,
    /// True when this entry continues the array of the entry before it (same
    /// name, elements numbered on from it).
    pub continues: bool,
}

/// What a field looks like on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout<'a> {
    /// One value of a fixed-size wire type (`uint32`, `timer`, `int32 equal`, ...).
    Scalar(WireType),
    /// A fixed number of raw bytes (`buffer`).
    Buffer(usize),
    /// Raw bytes whose length is the value of an earlier field (`VMSTATE_VBUFFER`).
    VarBuffer {
        /// The field holding the length in bytes.
        len_field: &'a str,
    },
    /// Bytes that are written as zeros and skipped on load (`VMSTATE_UNUSED`).
    Unused(usize),
    /// A bitmap whose bit count is the value of an earlier field.
    Bitmap {
        /// The field holding the number of bits.
        bits_field: &'a str,
    },
    /// A nested description, no framing on the wire.
    Struct {
        /// The nested description.
        description: &'a Description<'a>,
        /// Loaded at this version instead of its own (QEMU's `VMS_VSTRUCT`).
        pinned_version: Option<u32>,
    },
    /// A fixed-length array: `len` elements back to back, no count on the wire.
    Array {
        /// Number of elements.
        len: usize,
        /// Each element.
        element: &'a Layout<'a>,
    },
    /// An array whose element count is the value of an earlier field.
    VarArray {
        /// The field holding the count.
        count_field: &'a str,
        /// The most elements the Rust container holds, if fixed.
        capacity: Option<usize>,
        /// Each element.
        element: &'a Layout<'a>,
    },
    /// An element of an array of pointers: may be NULL (`0x30` on the wire).
    Pointer {
        /// Every element is preceded by a `0x30`/`0x31` marker.
        auto_alloc: bool,
        /// The pointee.
        element: &'a Layout<'a>,
    },
    /// A `qtailq` or `qlist`: `01` + element per element, `00` at the end.
    List {
        /// [`WireType::Qtailq`] or [`WireType::Qlist`].
        wire: WireType,
        /// Each element (a struct in QEMU).
        element: &'a Layout<'a>,
    },
    /// A `gtree`: be32 count, then `01` key value per node, `00` at the end.
    Tree {
        /// The key (a direct `uint64` key, or a struct).
        key: &'a Layout<'a>,
        /// The value (a struct in QEMU).
        value: &'a Layout<'a>,
    },
    /// Computed wire fields run through a temporary (`VMSTATE_WITH_TMP`).
    Tmp(&'a Description<'a>),
    /// A load-time check that writes nothing (`VMSTATE_VALIDATE`).
    Validate,
    /// A device-specific `VMStateInfo` of QEMU's (`"pci config"`, `"virtio"`,
    /// ...): a type with its own `VmStateField` impl, shown under QEMU's name.
    /// Its walk makes value calls only (no structural ones): see
    /// [`VmStateField`](crate::VmStateField#custom-field-types-layoutinfo).
    Info {
        /// QEMU's `VMStateInfo` name.
        name: &'a str,
        /// Bytes on the wire, if fixed.
        size: Option<usize>,
    },
}

impl<'a> Layout<'a> {
    /// The QEMU wire type name shown for this field (the element's type for arrays).
    pub const fn wire_type(&self) -> WireType {
        match self {
            Layout::Scalar(w) => *w,
            Layout::Buffer(_) | Layout::VarBuffer { .. } => WireType::Buffer,
            Layout::Unused(_) => WireType::UnusedBuffer,
            Layout::Bitmap { .. } => WireType::Bitmap,
            Layout::Struct {
                pinned_version: None,
                ..
            } => WireType::Struct,
            Layout::Struct { .. } => WireType::VStruct,
            Layout::Array { element, .. }
            | Layout::VarArray { element, .. }
            | Layout::Pointer { element, .. } => element.wire_type(),
            Layout::List { wire, .. } => *wire,
            Layout::Tree { .. } => WireType::Gtree,
            Layout::Tmp(_) => WireType::Tmp,
            Layout::Validate => WireType::Bool,
            Layout::Info { .. } => WireType::Buffer,
        }
    }

    /// The type name QEMU shows for this field in a vmdesc: the wire type's
    /// name, or a device-specific `VMStateInfo` name (elements for arrays).
    pub const fn type_name(&self) -> &'a str {
        match self {
            Layout::Info { name, .. } => name,
            Layout::Array { element, .. }
            | Layout::VarArray { element, .. }
            | Layout::Pointer { element, .. } => element.type_name(),
            other => other.wire_type().name(),
        }
    }

    /// Bytes this field always occupies on the wire, if that is fixed
    /// (structs with subsections, lists and variable arrays are not).
    pub const fn fixed_size(&self) -> Option<usize> {
        match self {
            Layout::Scalar(w) => w.fixed_size(),
            Layout::Buffer(n) | Layout::Unused(n) => Some(*n),
            Layout::Info { size, .. } => *size,
            Layout::Validate => Some(0),
            Layout::Struct { description, .. } | Layout::Tmp(description) => {
                description.fixed_size()
            }
            Layout::Array { len, element } => match element.fixed_size() {
                Some(n) => n.checked_mul(*len),
                None => None,
            },
            _ => None,
        }
    }

    /// The nested description, for struct-like layouts (through arrays).
    pub const fn description(&self) -> Option<&'a Description<'a>> {
        match self {
            Layout::Struct { description, .. } | Layout::Tmp(description) => Some(description),
            Layout::Tree { value: element, .. }
            | Layout::List { element, .. }
            | Layout::Array { element, .. }
            | Layout::VarArray { element, .. }
            | Layout::Pointer { element, .. } => element.description(),
            _ => None,
        }
    }
}

impl<'a> Description<'a> {
    /// Bytes a value of this description always occupies, if fixed: every
    /// field fixed-size, always present, and no subsections.
    pub const fn fixed_size(&self) -> Option<usize> {
        if !self.subsections.is_empty() {
            return None;
        }
        let mut total = 0usize;
        let mut i = 0;
        while i < self.fields.len() {
            let f = &self.fields[i];
            if f.since > self.minimum_version_id || f.has_exists_predicate {
                return None;
            }
            match f.layout.fixed_size() {
                Some(n) => total += n,
                None => return None,
            }
            i += 1;
        }
        Some(total)
    }
}
