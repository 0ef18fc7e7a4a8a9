//! Text for a terminal: names in a stream (device idstrs, machine types,
//! field names from its vmdesc) are untrusted, and a control character in one
//! could clear the screen, set the window title or overwrite a line. Every
//! subcommand's text output and every message goes through [`SafeText`],
//! which shows such characters as escapes (`\x1b`) instead.

use std::io::{self, Write};

/// A writer that passes text through but escapes control characters: the C0
/// controls other than newline and tab, DEL, and the C1 controls (U+0080 to
/// U+009F, which some terminals obey like ESC sequences).
#[derive(Debug)]
pub struct SafeText<W: Write> {
    inner: W,
    /// A 0xC2 byte at the end of the last write: the first half of a C1
    /// control or of another character.
    pending_c2: bool,
}

impl<W: Write> SafeText<W> {
    /// Escapes what is written to `inner`.
    pub fn new(inner: W) -> Self {
        SafeText {
            inner,
            pending_c2: false,
        }
    }
}

impl<W: Write> Write for SafeText<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len());
        for &b in buf {
            if std::mem::take(&mut self.pending_c2) {
                if (0x80..=0x9f).contains(&b) {
                    out.extend_from_slice(format!("\\u{{{b:x}}}").as_bytes());
                    continue;
                }
                out.push(0xc2);
            }
            match b {
                b'\n' | b'\t' => out.push(b),
                0x00..=0x1f | 0x7f => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                0xc2 => self.pending_c2 = true,
                _ => out.push(b),
            }
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.pending_c2) {
            self.inner.write_all(&[0xc2])?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for SafeText<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(bytes: &[u8]) -> Vec<u8> {
        let mut w = SafeText::new(Vec::new());
        // Byte by byte: sequences split across writes are handled too.
        for b in bytes {
            w.write_all(std::slice::from_ref(b)).unwrap();
        }
        w.flush().unwrap();
        std::mem::take(&mut w.inner)
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(safe(b"ok\n\tx"), b"ok\n\tx");
        assert_eq!(safe(b"a\x1b[2Jb\x07\r\x00"), b"a\\x1b[2Jb\\x07\\x0d\\x00");
        assert_eq!(safe("é\u{9b}1m".as_bytes()), "é\\u{9b}1m".as_bytes());
        assert_eq!(safe("\u{a0}x".as_bytes()), "\u{a0}x".as_bytes());
    }
}
