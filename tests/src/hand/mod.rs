//! Hand-written save and load of every device model in
//! [`devices`](crate::devices): the baseline the derive is measured against
//! (`tests/benches/pc_devices.rs`, `tests/benches/throughput.rs`) and checked
//! against (`tests/tests/hand_written.rs`).
//!
//! Written as one would write them without the derive: bytes appended with
//! `extend_from_slice(&x.to_be_bytes())`, parsed with a bounds-checked
//! [`Cursor`]; subsection headers (`0x05`, name length, name, be32 version)
//! written and parsed here; the `needed` predicates, `equal`/`le` checks,
//! validations and hooks (`pre_save` values, `pre_load`/`post_load` work)
//! coded out per device. No derive code and no `Visitor` is used.
//!
//! The loads accept exactly what QEMU's loader (and the derive) accepts at the
//! current version: that includes QEMU's subsection rule, applied after every
//! struct, nested ones and array elements included (a `0x05` byte followed by
//! a name that starts with the struct's name is a subsection of it: an
//! unknown one is an error, see [`Cursor::subsection`]).

pub mod apic;
pub mod arm_gic;
pub mod e1000;
pub mod fdc;
pub mod fw_cfg;
pub mod hpet;
pub mod i8254;
pub mod i8259;
pub mod ich9_lpc;
pub mod kvmclock;
pub mod mc146818rtc;
pub mod pckbd;
pub mod piix3;
pub mod pl011;
pub mod pl031;
pub mod pl061;
pub mod ps2;
pub mod serial;
pub mod usb_ptr;
pub mod x86_cpu;

/// Hand-written save and load of a device state, producing and accepting
/// exactly the bytes of `vmstate_core::save` / `vmstate_core::load_from_slice`
/// at the current version.
pub trait HandWritten: Sized {
    /// Appends exactly the bytes `vmstate_core::save` writes for this state (current version).
    fn hand_save(&self, out: &mut Vec<u8>);
    /// Parses a complete state at the current version from `bytes` into a new value; `current` is the
    /// destination (fields absent from the stream, e.g. a subsection not sent, keep current's value).
    /// All-or-nothing, every read bounds-checked, trailing bytes refused, `equal`/`le` checks and
    /// validation as QEMU (and the derive) do them. None on any malformed input.
    fn hand_load(bytes: &[u8], current: &Self) -> Option<Self>;
}

/// `QEMU_VM_SUBSECTION`: the byte that starts a subsection.
pub const SUBSECTION: u8 = 0x05;

/// Appends a subsection header: `0x05`, the name's length, the name, the
/// version as a be32.
#[inline]
pub fn put_subsection(out: &mut Vec<u8>, name: &str, version: u32) {
    out.push(SUBSECTION);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&version.to_be_bytes());
}

/// Appends `words` as be16s.
#[inline]
pub fn put_be16s(out: &mut Vec<u8>, words: &[u16]) {
    for w in words {
        out.extend_from_slice(&w.to_be_bytes());
    }
}

/// Appends `words` as be32s: grows once, converts in place.
#[inline]
pub fn put_be32s(out: &mut Vec<u8>, words: &[u32]) {
    let start = out.len();
    out.resize(start + 4 * words.len(), 0);
    for (dst, w) in out[start..].chunks_exact_mut(4).zip(words) {
        dst.copy_from_slice(&w.to_be_bytes());
    }
}

/// A bounds-checked reader over a byte slice.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a>(pub &'a [u8]);

impl<'a> Cursor<'a> {
    /// The next `N` bytes.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Option<&'a [u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(head)
    }
    /// The next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    /// Skips `n` bytes (a `VMSTATE_UNUSED`).
    #[inline]
    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.bytes(n).map(|_| ())
    }
    /// A byte.
    #[inline]
    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| *b)
    }
    /// A signed byte.
    #[inline]
    pub fn i8(&mut self) -> Option<i8> {
        self.u8().map(|b| b as i8)
    }
    /// A `bool`: any non-zero byte is true (`get_bool`).
    #[inline]
    pub fn bool(&mut self) -> Option<bool> {
        self.u8().map(|b| b != 0)
    }
    /// A be16.
    #[inline]
    pub fn be16(&mut self) -> Option<u16> {
        self.array::<2>().map(|b| u16::from_be_bytes(*b))
    }
    /// A be32.
    #[inline]
    pub fn be32(&mut self) -> Option<u32> {
        self.array::<4>().map(|b| u32::from_be_bytes(*b))
    }
    /// A signed be32.
    #[inline]
    pub fn i32(&mut self) -> Option<i32> {
        self.array::<4>().map(|b| i32::from_be_bytes(*b))
    }
    /// A be64.
    #[inline]
    pub fn be64(&mut self) -> Option<u64> {
        self.array::<8>().map(|b| u64::from_be_bytes(*b))
    }
    /// A signed be64.
    #[inline]
    pub fn i64(&mut self) -> Option<i64> {
        self.array::<8>().map(|b| i64::from_be_bytes(*b))
    }
    /// A timer: its expiry as a signed be64, -1 when not armed.
    #[inline]
    pub fn timer(&mut self) -> Option<vmstate_core::Timer> {
        self.i64().map(vmstate_core::Timer::from_raw)
    }
    /// Fills `dst` with the next bytes.
    #[inline]
    pub fn u8s(&mut self, dst: &mut [u8]) -> Option<()> {
        dst.copy_from_slice(self.bytes(dst.len())?);
        Some(())
    }
    /// Fills `dst` with be16s.
    #[inline]
    pub fn be16s(&mut self, dst: &mut [u16]) -> Option<()> {
        let src = self.bytes(2 * dst.len())?;
        for (w, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
            *w = u16::from_be_bytes([s[0], s[1]]);
        }
        Some(())
    }
    /// Fills `dst` with be32s.
    #[inline]
    pub fn be32s(&mut self, dst: &mut [u32]) -> Option<()> {
        let src = self.bytes(4 * dst.len())?;
        for (w, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
            *w = u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
        }
        Some(())
    }
    /// Fills `dst` with signed be32s.
    #[inline]
    pub fn i32s(&mut self, dst: &mut [i32]) -> Option<()> {
        let src = self.bytes(4 * dst.len())?;
        for (w, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
            *w = i32::from_be_bytes([s[0], s[1], s[2], s[3]]);
        }
        Some(())
    }

    /// Every byte must belong to the state.
    #[inline]
    pub fn finish(self) -> Option<()> {
        self.0.is_empty().then_some(())
    }

    /// QEMU's subsection rule (`vmstate_subsection_load`), run after the
    /// fields of a struct named `parent` whose subsections are `names`:
    ///
    /// * `Some(None)`: what follows is not a subsection of `parent` (not a
    ///   `0x05`, or a name that does not start with `parent`, or is too
    ///   short to be one, or is cut short without starting with `parent`),
    ///   nothing consumed;
    /// * `Some(Some((index, version)))`: subsection `names[index]`, header
    ///   consumed, `version` the be32's low byte (as QEMU keeps it);
    /// * `None`: an unknown subsection of `parent`, or a header cut short.
    ///
    /// The name ends at a NUL byte (QEMU compares C strings).
    #[inline]
    pub fn subsection(&mut self, parent: &str, names: &[&str]) -> Option<Option<(usize, u32)>> {
        let rest = self.0;
        if rest.first() != Some(&SUBSECTION) {
            return Some(None);
        }
        let Some(&len) = rest.get(1) else {
            return Some(None);
        };
        let len = usize::from(len);
        let parent = parent.as_bytes();
        if len < parent.len() + 1 {
            return Some(None);
        }
        let avail = &rest[2..];
        if avail.len() < len {
            return if avail.get(..parent.len()) == Some(parent) {
                None
            } else {
                Some(None)
            };
        }
        let raw = &avail[..len];
        let name = match raw.iter().position(|&b| b == 0) {
            Some(nul) => &raw[..nul],
            None => raw,
        };
        if !name.starts_with(parent) {
            return Some(None);
        }
        let index = names.iter().position(|n| n.as_bytes() == name)?;
        self.0 = &avail[len..];
        let version = self.be32()? & 0xff;
        Some(Some((index, version)))
    }

    /// The end of a struct without subsections: fails where QEMU finds an
    /// (unknown) subsection of `parent`.
    #[inline]
    pub fn no_subsection(&mut self, parent: &str) -> Option<()> {
        if self.0.first() != Some(&SUBSECTION) {
            return Some(());
        }
        match self.subsection(parent, &[])? {
            None => Some(()),
            Some(_) => None,
        }
    }
}

/// A subsection's version is accepted if within `minimum..=version`.
#[inline]
pub fn version_ok(incoming: u32, minimum: u32, version: u32) -> Option<()> {
    (minimum..=version).contains(&incoming).then_some(())
}
