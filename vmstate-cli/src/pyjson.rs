//! An order-preserving JSON value, a parser for QEMU's vmdesc and a printer
//! that formats exactly like Python's `json.JSONEncoder(indent=4,
//! separators=(',', ': '))` (with `ensure_ascii`), the encoder of QEMU's
//! `scripts/analyze-migration.py`.
//!
//! Objects keep their members in input order. A key that occurs twice keeps
//! both members in [`Json::Object`]; [`Json::get`] returns the last one, and
//! the printer writes the key once, at its first position, with the last
//! value, as Python's `OrderedDict` does when `json.loads` fills it.

use std::fmt::Write;

/// A JSON value with ordered object members.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, kept as its text (QEMU only writes integers).
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object: members in order, duplicates kept.
    Object(Vec<(String, Json)>),
}

/// A JSON syntax error at a byte offset of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the JSON text.
    pub offset: usize,
    /// What is wrong.
    pub message: &'static str,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {} of the JSON", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// Deepest nesting accepted by [`Json::parse`] (QEMU's vmdesc nests a few
/// levels per struct; this bounds the recursion on hostile input).
pub const MAX_DEPTH: usize = 512;

impl Json {
    /// Parses JSON text (RFC 8259; a UTF-8 byte string).
    pub fn parse(text: &[u8]) -> Result<Json, ParseError> {
        let mut p = Parser { s: text, i: 0 };
        p.ws();
        let v = p.value(0)?;
        p.ws();
        if p.i != text.len() {
            return Err(p.err("trailing characters"));
        }
        Ok(v)
    }

    /// The last member called `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The array items, if this is an array.
    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The value as an unsigned integer, if it is a non-negative integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// Pretty-prints like Python's `json.dumps(v, indent=4, separators=(',', ': '))`.
    pub fn to_python_string(&self) -> String {
        let mut out = String::new();
        self.write_python(&mut out, 0);
        out
    }

    /// Appends the Python-style pretty form at indentation `level`.
    pub fn write_python(&self, out: &mut String, level: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => write_py_string(out, s),
            Json::Array(a) => {
                if a.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, level + 1);
                    v.write_python(out, level + 1);
                }
                newline(out, level);
                out.push(']');
            }
            Json::Object(m) => {
                if m.is_empty() {
                    out.push_str("{}");
                    return;
                }
                out.push('{');
                // Last index of every key; each key printed once, at its first position.
                let mut last: std::collections::HashMap<&str, usize> =
                    std::collections::HashMap::new();
                let unique = m.len() < 2
                    || m.iter()
                        .enumerate()
                        .all(|(i, (k, _))| m[..i].iter().all(|(o, _)| o != k))
                        && m.len() <= 16;
                if !unique {
                    last.reserve(m.len());
                    for (i, (k, _)) in m.iter().enumerate() {
                        last.insert(k, i);
                    }
                }
                let mut first = true;
                for (i, (k, _)) in m.iter().enumerate() {
                    let j = if unique {
                        i
                    } else {
                        let Some(j) = last.remove(k.as_str()) else {
                            continue;
                        };
                        j
                    };
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    newline(out, level + 1);
                    write_py_string(out, k);
                    out.push_str(": ");
                    m[j].1.write_python(out, level + 1);
                }
                newline(out, level);
                out.push('}');
            }
        }
    }
}

fn newline(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("    ");
    }
}

/// Python's `ensure_ascii` string form: `\"`, `\\`, `\n\r\t\b\f`, `\uXXXX`
/// (lowercase hex) for other controls, DEL and non-ASCII, surrogate pairs
/// above the BMP.
pub fn write_py_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Whether `text` is JSON that [`Json::parse`] accepts, checked without
/// building values. Stricter in one corner (`\u` escapes must be four hex
/// digits): a `None` is to be confirmed with [`Json::parse`].
/// Valid: the start and end offsets of every object and array, in order
/// (see `Text`).
pub fn validate(text: &[u8]) -> Option<Vec<(u32, u32)>> {
    u32::try_from(text.len()).ok()?;
    // All of it at once: then every string is (outside strings, only
    // ASCII is valid JSON anyway).
    std::str::from_utf8(text).ok()?;
    let mut v = Validator {
        s: text,
        i: 0,
        ends: Vec::new(),
    };
    v.ws();
    if !v.value(0) {
        return None;
    }
    v.ws();
    (v.i == text.len()).then_some(v.ends)
}

/// The index of the first byte at or after `i` that is not JSON whitespace.
fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = s.get(i) {
        i += 1;
    }
    i
}

/// Consumes `lit` at `*i` if it is there.
fn eat_at(s: &[u8], i: &mut usize, lit: &[u8]) -> bool {
    if s.get(*i..).is_some_and(|rest| rest.starts_with(lit)) {
        *i += lit.len();
        true
    } else {
        false
    }
}

struct Validator<'a> {
    s: &'a [u8],
    i: usize,
    ends: Vec<(u32, u32)>,
}

impl Validator<'_> {
    fn ws(&mut self) {
        self.i = skip_ws(self.s, self.i);
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        eat_at(self.s, &mut self.i, lit)
    }

    fn digits(&mut self) -> bool {
        let s = self.i;
        while let Some(b'0'..=b'9') = self.s.get(self.i) {
            self.i += 1;
        }
        self.i > s
    }

    fn value(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        if let Some(b'{' | b'[') = self.s.get(self.i) {
            let k = self.ends.len();
            self.ends.push((self.i as u32, 0));
            let ok = self.scalar_or_container(depth);
            if ok {
                self.ends[k].1 = self.i as u32;
            }
            return ok;
        }
        self.scalar_or_container(depth)
    }

    fn scalar_or_container(&mut self, depth: usize) -> bool {
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                self.ws();
                if self.eat(b"}") {
                    return true;
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') || !self.string() {
                        return false;
                    }
                    self.ws();
                    if !self.eat(b":") {
                        return false;
                    }
                    self.ws();
                    if !self.value(depth + 1) {
                        return false;
                    }
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    return self.eat(b"}");
                }
            }
            Some(b'[') => {
                self.i += 1;
                self.ws();
                if self.eat(b"]") {
                    return true;
                }
                loop {
                    self.ws();
                    if !self.value(depth + 1) {
                        return false;
                    }
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    return self.eat(b"]");
                }
            }
            Some(b'"') => self.string(),
            Some(b't') => self.eat(b"true"),
            Some(b'f') => self.eat(b"false"),
            Some(b'n') => self.eat(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                if self.s[self.i] == b'-' {
                    self.i += 1;
                }
                if !self.digits() {
                    return false;
                }
                if self.s.get(self.i) == Some(&b'.') {
                    self.i += 1;
                    if !self.digits() {
                        return false;
                    }
                }
                if let Some(b'e' | b'E') = self.s.get(self.i) {
                    self.i += 1;
                    if let Some(b'+' | b'-') = self.s.get(self.i) {
                        self.i += 1;
                    }
                    if !self.digits() {
                        return false;
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn string(&mut self) -> bool {
        self.i += 1;
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return false;
            };
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return false;
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let ok = self
                                .s
                                .get(self.i..self.i + 4)
                                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                            if !ok {
                                return false;
                            }
                            self.i += 4;
                        }
                        _ => return false,
                    }
                }
                0..0x20 => return false,
                _ => {}
            }
        }
        true
    }
}

/// Reading JSON text that is known to be valid (see [`is_valid`]) in
/// place: values are byte offsets of the text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text<'a>(pub(crate) &'a [u8], pub(crate) &'a [(u32, u32)]);

impl<'a> Text<'a> {
    fn at(&self, i: usize) -> u8 {
        self.0.get(i).copied().unwrap_or(0)
    }

    /// The end of the object or array at `i`, from the table.
    fn end_of(&self, i: usize) -> Option<usize> {
        let i = u32::try_from(i).ok()?;
        let k = self.1.binary_search_by_key(&i, |e| e.0).ok()?;
        Some(self.1[k].1 as usize)
    }

    /// The offset of the next non-space byte from `i`.
    pub(crate) fn ws(&self, i: usize) -> usize {
        skip_ws(self.0, i)
    }

    fn skip_string(&self, mut i: usize) -> usize {
        i += 1;
        while i < self.0.len() {
            match self.0[i] {
                b'"' => return i + 1,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        i
    }

    /// The offset just after the value at `i`.
    pub(crate) fn skip_value(&self, i: usize) -> usize {
        match self.at(i) {
            b'"' => self.skip_string(i),
            b'{' | b'[' => {
                if let Some(end) = self.end_of(i) {
                    return end;
                }
                let mut depth = 0usize;
                let mut j = i;
                while j < self.0.len() {
                    match self.0[j] {
                        b'"' => {
                            j = self.skip_string(j);
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return j + 1;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                j
            }
            b't' | b'n' => i + 4,
            b'f' => i + 5,
            _ => {
                let mut j = i;
                while let b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' = self.at(j) {
                    j += 1;
                }
                j
            }
        }
    }

    /// The string at `i` (the offset of its quote), decoded.
    fn string_at(&self, i: usize) -> (std::borrow::Cow<'a, str>, usize) {
        let end = self.skip_string(i);
        let raw = self.0.get(i + 1..end.saturating_sub(1)).unwrap_or(&[]);
        if !raw.contains(&b'\\') {
            if let Ok(t) = std::str::from_utf8(raw) {
                return (std::borrow::Cow::Borrowed(t), end);
            }
        }
        let mut p = Parser { s: self.0, i };
        let t = p.string().unwrap_or_default();
        (std::borrow::Cow::Owned(t), end)
    }

    /// Calls `f(key, value offset)` for each member of the object at `i`
    /// (none if it is not an object), in order; the key is UTF-8.
    pub(crate) fn members(&self, i: usize, mut f: impl FnMut(&[u8], usize)) {
        if self.at(i) != b'{' {
            return;
        }
        let mut j = self.ws(i + 1);
        while self.at(j) == b'"' {
            let end = self.skip_string(j);
            let raw = self.0.get(j + 1..end.saturating_sub(1)).unwrap_or(&[]);
            let v = self.ws(self.ws(end) + 1);
            if raw.contains(&b'\\') {
                let k = self.string_at(j).0;
                f(k.as_bytes(), v);
            } else {
                f(raw, v);
            }
            j = self.ws(self.skip_value(v));
            if self.at(j) != b',' {
                return;
            }
            j = self.ws(j + 1);
        }
    }

    /// The offset of the last member called `key` of the object at `i`.
    pub(crate) fn get(&self, i: usize, key: &str) -> Option<usize> {
        let mut out = None;
        self.members(i, |k, v| {
            if k == key.as_bytes() {
                out = Some(v);
            }
        });
        out
    }

    /// The items of the array at `i`, if it is one.
    pub(crate) fn items(&self, i: usize) -> Option<Vec<usize>> {
        if self.at(i) != b'[' {
            return None;
        }
        let mut out = Vec::new();
        let mut j = self.ws(i + 1);
        if self.at(j) == b']' {
            return Some(out);
        }
        loop {
            out.push(j);
            j = self.ws(self.skip_value(j));
            if self.at(j) != b',' {
                return Some(out);
            }
            j = self.ws(j + 1);
        }
    }

    /// The string at `i`, if it is one ([`Json::as_str`]).
    pub(crate) fn as_str(&self, i: usize) -> Option<std::borrow::Cow<'a, str>> {
        (self.at(i) == b'"').then(|| self.string_at(i).0)
    }

    /// The number at `i` as an unsigned integer ([`Json::as_u64`]).
    pub(crate) fn as_u64(&self, i: usize) -> Option<u64> {
        if !matches!(self.at(i), b'-' | b'0'..=b'9') {
            return None;
        }
        let end = self.skip_value(i);
        std::str::from_utf8(&self.0[i..end]).ok()?.parse().ok()
    }

    /// The value at `i`, parsed.
    pub(crate) fn parse_at(&self, i: usize) -> Option<Json> {
        Json::parse(&self.0[i..self.skip_value(i)]).ok()
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, message: &'static str) -> ParseError {
        ParseError {
            offset: self.i,
            message,
        }
    }

    fn ws(&mut self) {
        self.i = skip_ws(self.s, self.i);
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        eat_at(self.s, &mut self.i, lit)
    }

    fn value(&mut self, depth: usize) -> Result<Json, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err("JSON nested too deeply"));
        }
        match self.s.get(self.i) {
            None => Err(self.err("unexpected end of JSON")),
            Some(b'{') => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.eat(b"}") {
                    return Ok(Json::Object(m));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.err("expected a string key"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return Err(self.err("expected ':'"));
                    }
                    self.ws();
                    let v = self.value(depth + 1)?;
                    m.push((k, v));
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"}") {
                        return Ok(Json::Object(m));
                    }
                    return Err(self.err("expected ',' or '}'"));
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(Json::Array(a));
                }
                loop {
                    self.ws();
                    a.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"]") {
                        return Ok(Json::Array(a));
                    }
                    return Err(self.err("expected ',' or ']'"));
                }
            }
            Some(b'"') => self.string().map(Json::String),
            Some(b't') if self.eat(b"true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Json::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn number(&mut self) -> Result<Json, ParseError> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let s = p.i;
            while let Some(b'0'..=b'9') = p.s.get(p.i) {
                p.i += 1;
            }
            p.i > s
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        if !digits(self) {
            return Err(self.err("bad number"));
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(self.err("bad number"));
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.err("bad number"));
            }
        }
        // Only ASCII was consumed.
        Ok(Json::Number(
            String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
        ))
    }

    fn hex4(&mut self) -> Result<u16, ParseError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u16::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1; // opening quote
        // The common case: no escape before the closing quote.
        let start = self.i;
        let mut j = start;
        while let Some(&b) = self.s.get(j) {
            match b {
                b'"' => {
                    self.i = j + 1;
                    return match std::str::from_utf8(&self.s[start..j]) {
                        Ok(t) => Ok(t.to_owned()),
                        Err(_) => Err(self.err("invalid UTF-8 in string")),
                    };
                }
                b'\\' | 0..0x20 => break,
                _ => j += 1,
            }
        }
        self.i = j;
        self.string_rest(self.s[start..j].to_vec())
    }

    /// The rest of a string from `self.i`, after its first bytes `out`.
    fn string_rest(&mut self, mut out: Vec<u8>) -> Result<String, ParseError> {
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xd800..0xdc00).contains(&hi)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    0x10000
                                        + ((u32::from(hi) - 0xd800) << 10)
                                        + (u32::from(lo) - 0xdc00)
                                } else {
                                    self.i = save;
                                    0xfffd
                                }
                            } else {
                                u32::from(hi)
                            };
                            char::from_u32(cp).unwrap_or('\u{fffd}')
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..0x20 => return Err(self.err("control character in string")),
                _ => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("invalid UTF-8 in string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_format() {
        let v = Json::parse(br#"{"a": [1, {"b": "\u00e9x"}], "c": {}, "d": [], "a": 2}"#).unwrap();
        assert_eq!(
            v.to_python_string(),
            "{\n    \"a\": 2,\n    \"c\": {},\n    \"d\": []\n}"
        );
        assert_eq!(v.get("a"), Some(&Json::Number("2".into())));
        let s = Json::String("é\u{7f}😀\"".into()).to_python_string();
        assert_eq!(s, r#""\u00e9\u007f\ud83d\ude00\"""#);
    }

    #[test]
    fn errors() {
        for bad in [
            &b"{"[..],
            b"[1,]",
            b"\"\x01\"",
            b"{\"a\" 1}",
            b"1 2",
            b"-",
            b"",
        ] {
            assert!(Json::parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 2);
        assert!(Json::parse(deep.as_bytes()).is_err());
    }
}
