//! What a load keeps of the input that the destination does not know, to
//! write it back ([`Unknown`]).

use std::collections::BTreeMap;

use super::HeaderEntry;
use super::tlv::{malformed, read_tlv};
use crate::Result;

/// One step from a root struct to a struct in it, as both directions of a
/// walk see it: field `k` of the struct's description, element `i` of an
/// array, subsection `s` of the struct's description.
pub(crate) type Step = u64;

/// Field `k` of the current struct.
pub(crate) const fn field_step(k: usize) -> Step {
    (k as u64) << 2
}

/// Element `i` of the current array.
pub(crate) const fn element_step(i: usize) -> Step {
    ((i as u64) << 2) | 1
}

/// Subsection `s` of the current struct.
pub(crate) const fn subsection_step(s: usize) -> Step {
    ((s as u64) << 2) | 2
}

/// A field or subsection of the input kept as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptItem {
    /// Where it goes back: 0 before the first field (subsection) the
    /// destination knows, `k + 1` after the destination's field (subsection)
    /// `k`, as it was in the input.
    pub after: u32,
    /// A subsection (else a field).
    pub subsection: bool,
    /// Its whole TLV in [`Unknown::bytes`].
    pub start: usize,
    pub end: usize,
}

/// What is kept of one struct of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptStruct {
    /// The struct's description name (written back only into a struct of
    /// that name).
    pub name: String,
    /// The version the input's struct was written at.
    pub version: u32,
    /// Its fields and subsections the destination does not know, in input
    /// order.
    pub items: Vec<KeptItem>,
}

/// The parts of a BER input that the destination's schema does not know,
/// kept by a load that was asked to keep them
/// ([`load_keeping`](super::load_keeping),
/// [`load_struct_keeping`](super::load_struct_keeping)) and written back by
/// the matching saves ([`save_keeping`](super::save_keeping),
/// [`save_struct_keeping`](super::save_struct_keeping)): fields and
/// subsections a newer (or older) writer added, each as the TLV it was,
/// with the place it had among the fields and subsections the destination
/// knows, in every struct of the tree (nested structs, array elements,
/// subsections), and the version each such struct was written at.
///
/// A type says that it keeps what it does not know by holding one in a
/// field the walk does not visit (`#[vmstate(skip)]`) and implementing
/// [`KeepUnknown`](super::KeepUnknown). Saving it back writes the kept
/// parts where they were, so a document loaded and saved back by a reader
/// that does not know some of its fields is the same document, byte for
/// byte, when that reader changed nothing; the fields it knows carry its
/// values.
///
/// Bounded by the load's [`Limits`](crate::Limits): what is kept counts
/// against [`max_allocation`](crate::Limits::max_allocation) and the memory
/// the load creates ([`section_memory`](crate::Limits::section_memory)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unknown {
    /// By the path from the root struct (see [`Step`]).
    pub(crate) structs: BTreeMap<Vec<Step>, KeptStruct>,
    pub(crate) bytes: Vec<u8>,
    /// The header of the document it came from ([`load_keeping`](super::load_keeping)).
    pub(crate) header: Option<Vec<HeaderEntry>>,
}

impl Unknown {
    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.structs.is_empty() && self.header.is_none()
    }

    /// Number of fields and subsections kept.
    pub fn len(&self) -> usize {
        self.structs.values().map(|s| s.items.len()).sum()
    }

    /// Bytes of input kept.
    pub fn kept_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The names of what is kept: (description, field or subsection name,
    /// is a subsection), in path order.
    pub fn names(&self) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        for s in self.structs.values() {
            for item in &s.items {
                let name = item_name(&self.bytes[item.start..item.end]).unwrap_or_default();
                out.push((s.name.clone(), name, item.subsection));
            }
        }
        out
    }

    /// Forgets everything kept.
    pub fn clear(&mut self) {
        *self = Unknown::default();
    }
}

/// The name of a kept field or subsection TLV (its first element).
fn item_name(tlv: &[u8]) -> Option<String> {
    let t = read_tlv(tlv, 0, tlv.len(), 0).ok()?;
    let name = read_tlv(tlv, t.content, t.end, 0).ok()?;
    Some(String::from_utf8_lossy(&tlv[name.content..name.end]).into_owned())
}

/// Checks that `input[start..end]` is well-formed BER as this format reads
/// it (definite shortest-form lengths, tag numbers up to 30) all the way
/// down, without recursion: what is kept is written back as it is, so it
/// must be what a reader of the format accepts.
pub(crate) fn check_well_formed(input: &[u8], start: usize, end: usize, base: u64) -> Result<()> {
    let mut ends: Vec<usize> = vec![end];
    let mut at = start;
    while let Some(&stop) = ends.last() {
        if at >= stop {
            ends.pop();
            continue;
        }
        let t = read_tlv(input, at, stop, base)?;
        if t.tag & 0x20 != 0 {
            if ends.len() > crate::dynamic::MAX_DEPTH {
                return Err(malformed(
                    base + at as u64,
                    format!(
                        "an unknown field nested deeper than {} levels",
                        crate::dynamic::MAX_DEPTH
                    ),
                ));
            }
            ends.push(t.end);
            at = t.content;
        } else {
            at = t.end;
        }
    }
    Ok(())
}
