use std::fmt;

use crate::{Error, ErrorKind, MAX_COUNTED_STRING, QemuRead, Result};

/// A name on the wire written as a counted string: a section idstr, a RAM
/// block name or a capability. At most 255 bytes, not necessarily UTF-8.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct IdStr(Vec<u8>);

impl IdStr {
    /// Makes a name from bytes; longer than 255 bytes is refused.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, ErrorKind> {
        let v = bytes.into();
        if v.len() > MAX_COUNTED_STRING {
            return Err(ErrorKind::StringTooLong(v.len()));
        }
        Ok(IdStr(v))
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name as text, invalid UTF-8 replaced.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    /// Reads a length byte and that many bytes. Unlike
    /// [`QemuRead::get_counted_string`], a zero length is accepted (QEMU reads
    /// RAM block names and capabilities this way).
    pub(crate) fn read_allow_empty<R: QemuRead>(r: &mut R) -> Result<Self> {
        let len = usize::from(r.get_u8()?);
        let mut v = vec![0u8; len];
        r.read_into(&mut v)?;
        Ok(IdStr(v))
    }

    /// Reads a counted string (zero length refused, as QEMU does for idstrs).
    pub(crate) fn read<R: QemuRead>(r: &mut R) -> Result<Self> {
        Ok(IdStr(r.get_counted_string()?.as_bytes().to_vec()))
    }
}

impl TryFrom<&str> for IdStr {
    type Error = ErrorKind;
    fn try_from(s: &str) -> Result<Self, ErrorKind> {
        IdStr::new(s.as_bytes())
    }
}

impl TryFrom<&[u8]> for IdStr {
    type Error = ErrorKind;
    fn try_from(s: &[u8]) -> Result<Self, ErrorKind> {
        IdStr::new(s)
    }
}

impl PartialEq<str> for IdStr {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for IdStr {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for IdStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl fmt::Display for IdStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

/// Turns an [`ErrorKind`] into an [`Error`] at `offset`.
pub(crate) fn at(offset: u64) -> impl FnOnce(ErrorKind) -> Error {
    move |k| Error::new(offset, k)
}
