use super::*;
use crate::Error;
use crate::{ErrorKind, QemuRead, QemuWrite, Result};

/// Longest machine-type name accepted (QEMU's names are ~20 bytes).
const MAX_MACHINE_NAME: u32 = 4096;
/// Most capabilities accepted in `configuration/capabilities`.
const MAX_CAPABILITIES: u32 = 1024;

/// One optional subsection of the configuration section, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSubsection {
    /// `"configuration/target-page-bits"`: be32 `TARGET_PAGE_BITS`, sent by
    /// variable-page-size targets (ARM: 12).
    TargetPageBits {
        /// The subsection version on the wire (1).
        version: u32,
        /// log2 of the target page size.
        bits: u32,
    },
    /// `"configuration/capabilities"`: be32 count, then counted capability
    /// names (`x-ignore-shared`, `mapped-ram`).
    Capabilities {
        /// The subsection version on the wire (1).
        version: u32,
        /// The capability names, in wire order.
        caps: Vec<IdStr>,
    },
    /// `"configuration/uuid"`: the 16-byte VM UUID (with `validate-uuid`).
    Uuid {
        /// The subsection version on the wire (1).
        version: u32,
        /// The UUID bytes.
        uuid: [u8; 16],
    },
}

impl ConfigSubsection {
    /// The subsection's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            ConfigSubsection::TargetPageBits { .. } => "configuration/target-page-bits",
            ConfigSubsection::Capabilities { .. } => "configuration/capabilities",
            ConfigSubsection::Uuid { .. } => "configuration/uuid",
        }
    }

    fn version(&self) -> u32 {
        match self {
            ConfigSubsection::TargetPageBits { version, .. }
            | ConfigSubsection::Capabilities { version, .. }
            | ConfigSubsection::Uuid { version, .. } => *version,
        }
    }
}

/// The configuration section (`vmstate_configuration` in `savevm.c`):
/// `07 | be32 len | machine name | subsections`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    machine: Vec<u8>,
    /// The optional subsections, in wire order (kept for byte-exact rewriting).
    pub subsections: Vec<ConfigSubsection>,
}

impl Configuration {
    /// A configuration naming `machine` (e.g. `"pc-i440fx-10.0"`), without subsections.
    pub fn new(machine: impl Into<Vec<u8>>) -> Self {
        Configuration {
            machine: machine.into(),
            subsections: Vec::new(),
        }
    }

    /// The machine-type name.
    pub fn machine(&self) -> &[u8] {
        &self.machine
    }

    /// `TARGET_PAGE_BITS` from `configuration/target-page-bits`, if sent.
    pub fn target_page_bits(&self) -> Option<u32> {
        self.subsections.iter().find_map(|s| match s {
            ConfigSubsection::TargetPageBits { bits, .. } => Some(*bits),
            _ => None,
        })
    }

    /// The target page size: from `target-page-bits` when sent, else `default`
    /// (4096 for x86 and ARM).
    pub fn page_size(&self, default: u64) -> u64 {
        match self.target_page_bits() {
            Some(bits) if bits < 32 => 1u64 << bits,
            _ => default,
        }
    }

    /// The capabilities listed in `configuration/capabilities`.
    pub fn capabilities(&self) -> impl Iterator<Item = &IdStr> {
        self.subsections.iter().flat_map(|s| match s {
            ConfigSubsection::Capabilities { caps, .. } => caps.as_slice(),
            _ => &[],
        })
    }

    /// True if `name` (e.g. `"mapped-ram"`) is among the capabilities.
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities().any(|c| c == name)
    }

    /// The UUID from `configuration/uuid`, if sent.
    pub fn uuid(&self) -> Option<[u8; 16]> {
        self.subsections.iter().find_map(|s| match s {
            ConfigSubsection::Uuid { uuid, .. } => Some(*uuid),
            _ => None,
        })
    }

    /// Reads the section body after the `0x07` byte.
    pub(crate) fn read<R: QemuRead>(r: &mut R) -> Result<Self> {
        let at_len = r.position();
        let len = r.get_be32()?;
        if len > MAX_MACHINE_NAME {
            return Err(Error::new(
                at_len,
                ErrorKind::TooLarge {
                    what: "machine name",
                    len: len.into(),
                    max: MAX_MACHINE_NAME.into(),
                },
            ));
        }
        let mut machine = vec![0u8; len as usize];
        r.read_into(&mut machine)?;
        let mut subsections = Vec::new();
        loop {
            // QEMU peeks: 0x05, then a name starting with the parent's name.
            if r.peek_u8(0)? != Some(SUBSECTION) {
                break;
            }
            let Some(nlen) = r.peek_u8(1)? else { break };
            let nlen = usize::from(nlen);
            let name = r.peek(2, nlen)?;
            if name.len() < nlen || !name.starts_with(b"configuration") {
                break;
            }
            let name = String::from_utf8_lossy(name).into_owned();
            let start = r.position();
            r.get_u8()?;
            r.skip(1 + nlen as u64)?;
            let version = r.get_be32()?;
            // Only the low byte of the version counts in QEMU's subsection loader.
            if version as u8 != 1 {
                return Err(Error::new(
                    start,
                    ErrorKind::SubsectionVersion {
                        name,
                        version,
                        local: 1,
                    },
                ));
            }
            let sub = match name.as_str() {
                "configuration/target-page-bits" => ConfigSubsection::TargetPageBits {
                    version,
                    bits: r.get_be32()?,
                },
                "configuration/capabilities" => {
                    let at_count = r.position();
                    let count = r.get_be32()?;
                    if count > MAX_CAPABILITIES {
                        return Err(Error::new(
                            at_count,
                            ErrorKind::TooLarge {
                                what: "capability list",
                                len: count.into(),
                                max: MAX_CAPABILITIES.into(),
                            },
                        ));
                    }
                    let mut caps = Vec::new();
                    for _ in 0..count {
                        caps.push(IdStr::read_allow_empty(r)?);
                    }
                    ConfigSubsection::Capabilities { version, caps }
                }
                "configuration/uuid" => ConfigSubsection::Uuid {
                    version,
                    uuid: r.read_array()?,
                },
                _ => return Err(Error::new(start, ErrorKind::UnknownSubsection(name))),
            };
            subsections.push(sub);
        }
        Ok(Configuration {
            machine,
            subsections,
        })
    }

    /// Writes `07` and the section body.
    pub(crate) fn write<W: QemuWrite>(&self, w: &mut W) -> Result<()> {
        let len = u32::try_from(self.machine.len())
            .ok()
            .filter(|&l| l <= MAX_MACHINE_NAME)
            .ok_or_else(|| {
                Error::new(
                    w.position(),
                    ErrorKind::InvalidArgument("machine name too long".into()),
                )
            })?;
        w.put_u8(CONFIGURATION)?;
        w.put_be32(len)?;
        w.put_bytes(&self.machine)?;
        for s in &self.subsections {
            w.put_u8(SUBSECTION)?;
            w.put_counted_string(s.name())?;
            w.put_be32(s.version())?;
            match s {
                ConfigSubsection::TargetPageBits { bits, .. } => w.put_be32(*bits)?,
                ConfigSubsection::Capabilities { caps, .. } => {
                    let n = u32::try_from(caps.len()).map_err(|_| {
                        Error::new(
                            w.position(),
                            ErrorKind::InvalidArgument("too many capabilities".into()),
                        )
                    })?;
                    w.put_be32(n)?;
                    for c in caps {
                        w.put_counted_string(c.as_bytes())?;
                    }
                }
                ConfigSubsection::Uuid { uuid, .. } => w.put_bytes(uuid)?,
            }
        }
        Ok(())
    }
}
