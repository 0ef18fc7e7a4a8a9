//! What the encoding of a description's structs and fields always is,
//! computed once: the bytes that open each field (identifier, length when
//! the layout fixes it, the name's UTF8String), the name of the struct,
//! the sizes the description fixes.
//!
//! Both visitors use the same bytes: the output visitor writes a field's
//! head as one copy, the input visitor recognizes the next field of the
//! input, when it is the one expected in that place, by one comparison
//! with them.
//!
//! Plans of the descriptions of `VmState` types (which are `'static` and
//! never freed) are built once per process and shared
//! ([`Plans::shared`]). Plans of run-time descriptions (a
//! [`DescriptionArena`](crate::dynamic::DescriptionArena), freed and
//! reused) live as long as the visitor that built them ([`Plans::local`]):
//! an address is an identity only for as long as the description lives.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{LazyLock, Mutex};

use super::output::{struct_size, value_size};
use super::tlv::{Code, put_len, put_str, tags, tlv_size};

/// Heads up to this many bytes are copied as one block.
const HEAD_BLOCK: usize = 32;
use crate::{Description, Layout};

/// One field of a plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldPlan {
    /// The head's bytes in [`Plan::bytes`].
    head_at: usize,
    head_len: usize,
    /// BER bytes of the field's values, when the layout fixes them: the
    /// head then holds the field's exact length.
    pub value: Option<usize>,
    /// Bytes of the head's length field.
    pub len_bytes: usize,
    /// Bytes of the whole field TLV, when [`value`](Self::value) is known.
    pub total: Option<usize>,
    /// For a scalar field: the wire type of its value, whose identifier
    /// and length end the head (the value's bytes follow).
    pub scalar: Option<Code>,
    /// Value bytes of each element, for an array of a fixed element layout.
    pub element: Option<usize>,
}

impl FieldPlan {
    /// Bytes of the head.
    #[inline]
    pub fn head_len(&self) -> usize {
        self.head_len
    }
}

/// The precomputed encoding of one description.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The fields' heads, then the struct's name as a UTF8String TLV.
    bytes: Box<[u8]>,
    name_at: usize,
    name_end: usize,
    /// Fields in the description's order.
    pub fields: Box<[FieldPlan]>,
    /// The description's own version, and the bytes of the whole struct
    /// TLV at that version when the description fixes them.
    pub own_version: u32,
    pub own_size: Option<usize>,
}

impl Plan {
    /// Builds the plan of `d`.
    pub fn new(d: &Description<'_>) -> Plan {
        let mut bytes = Vec::new();
        let mut fields = Vec::with_capacity(d.fields.len());
        for f in d.fields {
            let value = value_size(&f.layout);
            let element = match f.layout {
                Layout::Array { element, .. } => value_size(element),
                _ => None,
            };
            let start = bytes.len();
            bytes.push(tags::FIELD);
            match value {
                // The exact length: the head is the field's whole header.
                Some(v) => put_len(&mut bytes, tlv_size(f.name.len()) + v),
                // One byte reserved, written when the field closes.
                None => bytes.push(0),
            }
            let len_bytes = bytes.len() - start - 1;
            put_str(&mut bytes, f.name);
            let scalar = match f.layout {
                Layout::Scalar(w) => Code::of_wire(w).inspect(|&code| {
                    bytes.extend_from_slice(&[tags::scalar(code as u8), code.width() as u8]);
                }),
                _ => None,
            };
            fields.push(FieldPlan {
                head_at: start,
                head_len: bytes.len() - start,
                value,
                len_bytes,
                total: value.map(|v| 1 + len_bytes + tlv_size(f.name.len()) + v),
                scalar,
                element,
            });
        }
        let name_at = bytes.len();
        put_str(&mut bytes, d.name);
        let name_end = bytes.len();
        // Room to copy any head as a fixed-size block.
        bytes.resize(bytes.len() + HEAD_BLOCK, 0);
        Plan {
            bytes: bytes.into_boxed_slice(),
            name_at,
            name_end,
            fields: fields.into_boxed_slice(),
            own_version: d.version_id,
            own_size: struct_size(d, d.version_id),
        }
    }

    /// The bytes that open field `f`: its identifier, its length (or one
    /// byte reserved for it, when [`FieldPlan::value`] is `None`), its
    /// name, and for a scalar the identifier and length of its value.
    #[inline]
    pub fn head(&self, f: &FieldPlan) -> &[u8] {
        &self.bytes[f.head_at..f.head_at + f.head_len]
    }

    /// Appends the head of `f` to `out`.
    #[inline]
    pub fn put_head(&self, f: &FieldPlan, out: &mut Vec<u8>) {
        let start = out.len();
        match self.bytes[f.head_at..].first_chunk::<HEAD_BLOCK>() {
            // One fixed-size copy, then the length is set.
            Some(block) if f.head_len <= HEAD_BLOCK => {
                out.extend_from_slice(block);
                out.truncate(start + f.head_len);
            }
            _ => out.extend_from_slice(self.head(f)),
        }
    }

    /// True when the input at `at` starts with the head of `f`.
    #[inline]
    pub fn head_at(&self, f: &FieldPlan, input: &[u8], at: usize) -> bool {
        let n = f.head_len;
        let ours = &self.bytes[f.head_at..];
        if n <= 16 {
            // One masked comparison of 16 bytes (the plan has room).
            if let (Some(a), Some(b)) = (
                input.get(at..).and_then(|s| s.first_chunk::<16>()),
                ours.first_chunk::<16>(),
            ) {
                let mask = if n == 16 {
                    u128::MAX
                } else {
                    (1u128 << (8 * n)) - 1
                };
                return (u128::from_le_bytes(*a) ^ u128::from_le_bytes(*b)) & mask == 0;
            }
        } else if n <= 32 {
            if let (Some(a), Some(b)) = (
                input.get(at..).and_then(|s| s.first_chunk::<32>()),
                ours.first_chunk::<32>(),
            ) {
                let (a0, a1) = a.split_at(16);
                let (b0, b1) = b.split_at(16);
                let word = |s: &[u8]| s.first_chunk::<16>().map_or(0, |c| u128::from_le_bytes(*c));
                let mask = if n == 32 {
                    u128::MAX
                } else {
                    (1u128 << (8 * (n - 16))) - 1
                };
                return word(a0) == word(b0) && (word(a1) ^ word(b1)) & mask == 0;
            }
        }
        input.get(at..at + n) == Some(self.head(f))
    }

    /// The struct's name as a UTF8String TLV.
    #[inline]
    pub fn name_tlv(&self) -> &[u8] {
        &self.bytes[self.name_at..self.name_end]
    }
}

/// A hasher for addresses (already unique, so a multiply spreads them).
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_right(29);
    }
}

type AddressMap<V> = HashMap<usize, V, BuildHasherDefault<AddressHasher>>;

/// The shared plans of `'static` descriptions: built once, never freed
/// (one per description of the program's types).
static SHARED: LazyLock<Mutex<AddressMap<&'static Plan>>> =
    LazyLock::new(|| Mutex::new(AddressMap::default()));

thread_local! {
    /// This thread's view of [`SHARED`], read without a lock.
    static FRONT: RefCell<AddressMap<&'static Plan>> = RefCell::new(AddressMap::default());
}

/// Which plan: a shared one, or one a visitor built for itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PlanRef {
    Shared(&'static Plan),
    Local(u32),
}

/// Where a visitor gets its plans.
#[derive(Debug)]
pub(crate) struct Plans {
    shared: bool,
    local: Vec<Plan>,
    by_address: AddressMap<u32>,
    /// The last plan looked up (arrays of structs ask for the same one).
    last: Option<(usize, PlanRef)>,
}

impl Plans {
    /// Plans for a walk whose descriptions are all `'static` (the walk of a
    /// `VmState` type): shared by every walk of the process.
    pub fn shared() -> Plans {
        Plans {
            shared: true,
            local: Vec::new(),
            by_address: AddressMap::default(),
            last: None,
        }
    }

    /// Plans for a walk of descriptions that may be freed after it (run-time
    /// descriptions): kept by this visitor only.
    pub fn local() -> Plans {
        Plans {
            shared: false,
            ..Plans::shared()
        }
    }

    /// The plan of `d`.
    #[inline]
    pub fn get(&mut self, d: &Description<'_>) -> PlanRef {
        let address = std::ptr::from_ref(d) as usize;
        if let Some((a, r)) = self.last {
            if a == address {
                return r;
            }
        }
        let r = if self.shared {
            PlanRef::Shared(shared_plan(address, d))
        } else if let Some(&i) = self.by_address.get(&address) {
            PlanRef::Local(i)
        } else {
            let i = self.local.len() as u32;
            self.local.push(Plan::new(d));
            self.by_address.insert(address, i);
            PlanRef::Local(i)
        };
        self.last = Some((address, r));
        r
    }

    /// The plan `r` refers to.
    #[inline]
    pub fn plan(&self, r: PlanRef) -> &Plan {
        match r {
            PlanRef::Shared(p) => p,
            PlanRef::Local(i) => &self.local[i as usize],
        }
    }
}

#[inline]
fn shared_plan(address: usize, d: &Description<'_>) -> &'static Plan {
    let front = FRONT.with(|f| f.borrow().get(&address).copied());
    if let Some(p) = front {
        return p;
    }
    shared_plan_slow(address, d)
}

#[cold]
fn shared_plan_slow(address: usize, d: &Description<'_>) -> &'static Plan {
    let p = {
        let mut shared = match SHARED.lock() {
            Ok(g) => g,
            // A panic elsewhere while holding the lock left the map as it
            // was (inserts are whole): go on with it.
            Err(poisoned) => poisoned.into_inner(),
        };
        *shared
            .entry(address)
            .or_insert_with(|| Box::leak(Box::new(Plan::new(d))))
    };
    FRONT.with(|f| f.borrow_mut().insert(address, p));
    p
}
