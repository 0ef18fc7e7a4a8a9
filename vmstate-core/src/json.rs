//! A JSON writer that formats exactly as QEMU's `qobject/json-writer.c` in
//! compact mode: `{"a": 1, "b": [2, 3]}` (`": "` after keys, `", "` between
//! items, no newlines), which is what QEMU puts in a stream's vmdesc.

use std::fmt::Write;

/// Builds JSON text with QEMU's compact formatting.
#[derive(Debug, Default, Clone)]
pub struct JsonWriter {
    out: String,
    /// One entry per open container: true once it holds an item.
    need_comma: Vec<bool>,
}

impl JsonWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        &self.out
    }

    /// The text written.
    pub fn into_string(self) -> String {
        self.out
    }

    fn item(&mut self, name: Option<&str>) {
        if let Some(need) = self.need_comma.last_mut() {
            if *need {
                self.out.push_str(", ");
            }
            *need = true;
        }
        if let Some(name) = name {
            write_string(&mut self.out, name);
            self.out.push_str(": ");
        }
    }

    /// Opens an object (a member called `name` inside an object; `None` in an
    /// array or at the top).
    pub fn start_object(&mut self, name: Option<&str>) {
        self.item(name);
        self.out.push('{');
        self.need_comma.push(false);
    }

    /// Closes the innermost object.
    pub fn end_object(&mut self) {
        self.need_comma.pop();
        self.out.push('}');
    }

    /// Opens an array.
    pub fn start_array(&mut self, name: Option<&str>) {
        self.item(name);
        self.out.push('[');
        self.need_comma.push(false);
    }

    /// Closes the innermost array.
    pub fn end_array(&mut self) {
        self.need_comma.pop();
        self.out.push(']');
    }

    /// A string member or item.
    pub fn str(&mut self, name: Option<&str>, value: &str) {
        self.item(name);
        write_string(&mut self.out, value);
    }

    /// An integer member or item.
    pub fn int(&mut self, name: Option<&str>, value: i64) {
        self.item(name);
        let _ = write!(self.out, "{value}");
    }

    /// Pre-rendered members (`"a": 1, "b": 2`, as [`save_with_vmdesc`]
    /// returns them) appended to the open object.
    ///
    /// [`save_with_vmdesc`]: crate::vmdesc::save_with_vmdesc
    pub fn raw_members(&mut self, members: &str) {
        if members.is_empty() {
            return;
        }
        if let Some(need) = self.need_comma.last_mut() {
            if *need {
                self.out.push_str(", ");
            }
            *need = true;
        }
        self.out.push_str(members);
    }

    /// A boolean member or item.
    pub fn bool(&mut self, name: Option<&str>, value: bool) {
        self.item(name);
        self.out.push_str(if value { "true" } else { "false" });
    }
}

/// QEMU's string escaping: `\"`, `\\`, `\b\f\n\r\t`, `\uXXXX` below 0x20 and
/// from 0x7f, surrogate pairs above the BMP.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) >= 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_like_qemu() {
        let mut w = JsonWriter::new();
        w.start_object(None);
        w.str(Some("name"), "test-dev");
        w.int(Some("instance_id"), 0);
        w.start_array(Some("fields"));
        w.start_object(None);
        w.str(Some("name"), "x");
        w.int(Some("size"), 4);
        w.end_object();
        w.start_object(None);
        w.end_object();
        w.end_array();
        w.end_object();
        assert_eq!(
            w.as_str(),
            r#"{"name": "test-dev", "instance_id": 0, "fields": [{"name": "x", "size": 4}, {}]}"#
        );
    }

    #[test]
    fn escapes() {
        let mut w = JsonWriter::new();
        w.str(None, "a\"b\\c\n\u{1}é😀");
        assert_eq!(w.as_str(), r#""a\"b\\c\n\u0001\u00E9\uD83D\uDE00""#);
    }
}
