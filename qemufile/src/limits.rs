//! [`Limits`]: how much a reader of untrusted input may allocate and walk.
//!
//! A migration stream, its vmdesc and a `-dump-vmstate` file are untrusted.
//! Their lengths and counts are claims: a 300-byte stream can claim an array
//! of 2^31 empty structs, a 2 GiB buffer or a million sections. Every reader
//! in this project checks such claims against one [`Limits`] value before it
//! allocates or walks, and refuses with [`ErrorKind::Limit`](crate::ErrorKind::Limit),
//! which names the limit and the `vmstate` flag that raises it.
//!
//! The defaults are far above what any QEMU device or machine needs (the
//! largest device sections are tens of KiB; a machine has tens of RAM blocks)
//! and far below what would hurt a 2-core, few-GiB host.

use std::fmt;

/// Bounds on what reading untrusted input may cost. See the module docs.
///
/// Start from the defaults and change what you need:
///
/// ```
/// let limits = qemufile::Limits { section_memory: 1 << 30, ..qemufile::Limits::DEFAULT };
/// assert_eq!(limits.get(qemufile::Limit::SectionMemory), 1 << 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single allocation made for a length or count the input
    /// claims (one buffer, one array's values). Default 256 MiB.
    pub max_allocation: u64,
    /// Memory one section's state may create when it is decoded or loaded,
    /// counted as the memory the values take, not the bytes read.
    /// Default 256 MiB.
    pub section_memory: u64,
    /// Memory all the states held at once may take: a registry load's staged
    /// sections, both sides of a diff. Default 2 GiB.
    pub stream_memory: u64,
    /// Elements one section's walk may visit that take no bytes of input
    /// (empty structs, zero-size buffers): the input does not pay for them,
    /// so their number is bounded here. Default 1 Mi.
    pub unpaid_elements: u64,
    /// Largest vmdesc JSON (QEMU itself has no bound). Default 64 MiB.
    pub max_vmdesc_len: u32,
    /// Most distinct section ids in one stream. Default 65536.
    pub max_sections: usize,
    /// Most entries in one RAM block list. Default 65536.
    pub max_ram_blocks: usize,
}

impl Limits {
    /// The defaults (see each field).
    pub const DEFAULT: Limits = Limits {
        max_allocation: 256 << 20,
        section_memory: 256 << 20,
        stream_memory: 2 << 30,
        unpaid_elements: 1 << 20,
        max_vmdesc_len: 64 << 20,
        max_sections: 65536,
        max_ram_blocks: 65536,
    };

    /// No practical bound (for trusted input only).
    pub const UNLIMITED: Limits = Limits {
        max_allocation: u64::MAX,
        section_memory: u64::MAX,
        stream_memory: u64::MAX,
        unpaid_elements: u64::MAX,
        max_vmdesc_len: u32::MAX,
        max_sections: usize::MAX,
        max_ram_blocks: usize::MAX,
    };

    /// Refuses `requested` of `limit` if it is more than allowed; `what`
    /// says what needed it.
    pub fn check(
        &self,
        limit: Limit,
        requested: u64,
        what: impl FnOnce() -> String,
    ) -> Result<(), LimitExceeded> {
        limit.check(requested, self.get(limit), what)
    }

    /// The value of one limit, as a number.
    pub fn get(&self, limit: Limit) -> u64 {
        match limit {
            Limit::MaxAllocation => self.max_allocation,
            Limit::SectionMemory => self.section_memory,
            Limit::StreamMemory => self.stream_memory,
            Limit::UnpaidElements => self.unpaid_elements,
            Limit::MaxVmdescLen => self.max_vmdesc_len.into(),
            Limit::MaxSections => self.max_sections as u64,
            Limit::MaxRamBlocks => self.max_ram_blocks as u64,
        }
    }

    /// Sets one limit; values beyond a field's range saturate.
    pub fn set(&mut self, limit: Limit, value: u64) {
        let as_usize = usize::try_from(value).unwrap_or(usize::MAX);
        match limit {
            Limit::MaxAllocation => self.max_allocation = value,
            Limit::SectionMemory => self.section_memory = value,
            Limit::StreamMemory => self.stream_memory = value,
            Limit::UnpaidElements => self.unpaid_elements = value,
            Limit::MaxVmdescLen => self.max_vmdesc_len = u32::try_from(value).unwrap_or(u32::MAX),
            Limit::MaxSections => self.max_sections = as_usize,
            Limit::MaxRamBlocks => self.max_ram_blocks = as_usize,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// One of the [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// [`Limits::max_allocation`].
    MaxAllocation,
    /// [`Limits::section_memory`].
    SectionMemory,
    /// [`Limits::stream_memory`].
    StreamMemory,
    /// [`Limits::unpaid_elements`].
    UnpaidElements,
    /// [`Limits::max_vmdesc_len`].
    MaxVmdescLen,
    /// [`Limits::max_sections`].
    MaxSections,
    /// [`Limits::max_ram_blocks`].
    MaxRamBlocks,
}

impl Limit {
    /// Every limit, in documentation order.
    pub const ALL: [Limit; 7] = [
        Limit::MaxAllocation,
        Limit::SectionMemory,
        Limit::StreamMemory,
        Limit::UnpaidElements,
        Limit::MaxVmdescLen,
        Limit::MaxSections,
        Limit::MaxRamBlocks,
    ];

    /// Refuses `requested` if it is more than `allowed` (this limit's value).
    pub fn check(
        self,
        requested: u64,
        allowed: u64,
        what: impl FnOnce() -> String,
    ) -> Result<(), LimitExceeded> {
        if requested <= allowed {
            return Ok(());
        }
        Err(LimitExceeded {
            limit: self,
            requested,
            allowed,
            what: what(),
        })
    }

    /// The [`Limits`] field's name.
    pub fn field(self) -> &'static str {
        match self {
            Limit::MaxAllocation => "max_allocation",
            Limit::SectionMemory => "section_memory",
            Limit::StreamMemory => "stream_memory",
            Limit::UnpaidElements => "unpaid_elements",
            Limit::MaxVmdescLen => "max_vmdesc_len",
            Limit::MaxSections => "max_sections",
            Limit::MaxRamBlocks => "max_ram_blocks",
        }
    }

    /// The `vmstate` command-line flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Limit::MaxAllocation => "--max-allocation",
            Limit::SectionMemory => "--max-section-memory",
            Limit::StreamMemory => "--max-stream-memory",
            Limit::UnpaidElements => "--max-unpaid-elements",
            Limit::MaxVmdescLen => "--max-vmdesc",
            Limit::MaxSections => "--max-sections",
            Limit::MaxRamBlocks => "--max-ram-blocks",
        }
    }

    /// True when the limit counts bytes (else it counts things).
    pub fn is_bytes(self) -> bool {
        matches!(
            self,
            Limit::MaxAllocation | Limit::SectionMemory | Limit::StreamMemory | Limit::MaxVmdescLen
        )
    }

    /// `n` in this limit's unit, for messages: `64 MiB (67108864 bytes)` or `65537 sections`.
    pub fn amount(self, n: u64) -> String {
        let unit = match self {
            Limit::UnpaidElements => "elements",
            Limit::MaxSections => "sections",
            Limit::MaxRamBlocks => "RAM block entries",
            _ => return bytes(n),
        };
        format!("{n} {unit}")
    }
}

/// `n` bytes, in the largest binary unit that divides it well, with the exact count.
fn bytes(n: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if n >= 1 << shift {
            let whole = n >> shift;
            let tenths = ((n & ((1 << shift) - 1)) * 10) >> shift;
            return match tenths {
                0 => format!("{whole} {unit} ({n} bytes)"),
                t => format!("{whole}.{t} {unit} ({n} bytes)"),
            };
        }
    }
    format!("{n} bytes")
}

/// A claim in the input that would cost more than one of the [`Limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which limit.
    pub limit: Limit,
    /// What the input asked for.
    pub requested: u64,
    /// What the limit allows.
    pub allowed: u64,
    /// What needed it (`"the vmdesc"`, `"the values of section hpet"`).
    pub what: String,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (limit, requested) = (self.limit, self.requested);
        let requested = match requested {
            u64::MAX => "more than can be counted".to_owned(),
            n => limit.amount(n),
        };
        write!(
            f,
            "{} would need {requested}, more than the {} allowed (limit {}; for input you \
             trust, raise it with {})",
            self.what,
            limit.amount(self.allowed),
            limit.field(),
            limit.flag()
        )
    }
}

impl std::error::Error for LimitExceeded {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_how_much_and_how_to_raise_it() {
        let e = Limits::DEFAULT
            .check(Limit::SectionMemory, 3 << 29, || {
                "the values of section hpet".into()
            })
            .err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some(
                "the values of section hpet would need 1.5 GiB (1610612736 bytes), more than \
                 the 256 MiB (268435456 bytes) allowed (limit section_memory; for input you \
                 trust, raise it with --max-section-memory)"
            )
        );
        let e = Limits::DEFAULT.check(Limit::MaxSections, 65537, || "the stream".into());
        assert!(e.is_err_and(|e| {
            e.to_string()
                .contains("65537 sections, more than the 65536")
        }));
    }

    #[test]
    fn set_and_get_agree() {
        let mut l = Limits::DEFAULT;
        for (i, limit) in Limit::ALL.into_iter().enumerate() {
            l.set(limit, 1000 + i as u64);
            assert_eq!(l.get(limit), 1000 + i as u64, "{}", limit.field());
        }
        l.set(Limit::MaxVmdescLen, u64::MAX);
        assert_eq!(l.max_vmdesc_len, u32::MAX);
    }
}
