//! Showing decoded sections: as the JSON value `analyze-migration.py -d
//! state` prints, and as one text line per scalar in the project's
//! pretty-print format (`i8259.irr = (uint8) 0x10`, arrays
//! `name(len)(size).[i]`; see `vmstate_core::PrettyPrinter`).

use std::collections::HashMap;
use std::fmt::Write;

use crate::decode::{Body, Field, Value};
use crate::pyjson::Json;

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(s: &mut String, b: u8) {
    s.push(char::from(HEX[usize::from(b >> 4)]));
    s.push(char::from(HEX[usize::from(b & 15)]));
}

/// Lowercase hex bytes separated by spaces (the analyzer's buffer form).
pub fn spaced_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        push_hex(&mut s, b);
    }
    s
}

/// Lowercase hex bytes, no separator.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2 + 2);
    for &b in bytes {
        push_hex(&mut s, b);
    }
    s
}

/// The decimal value of a negative two's complement big-endian number.
fn neg_decimal(raw: &[u8]) -> String {
    let mut mag: Vec<u8> = raw.iter().map(|b| !b).collect();
    for b in mag.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    let mut digits = Vec::new();
    while mag.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in mag.iter_mut() {
            let cur = rem * 256 + u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(char::from(b'0' + rem as u8));
    }
    let mut s = String::from("-");
    s.extend(digits.iter().rev());
    s
}

/// The analyzer's integer form: `0x%0{2*size}x`, plus ` (-N)` for negative
/// signed values.
pub fn analyzer_int(raw: &[u8], signed: bool) -> String {
    if raw.is_empty() {
        return "0x0".into();
    }
    let mut s = String::with_capacity(raw.len() * 2 + 2);
    s.push_str("0x");
    for &b in raw {
        push_hex(&mut s, b);
    }
    if signed && raw[0] & 0x80 != 0 {
        let _ = write!(s, " ({})", neg_decimal(raw));
    }
    s
}

/// The JSON value the analyzer shows for one field.
pub fn field_json(f: &Field) -> Json {
    match &f.value {
        Value::Bool(b) => Json::Bool(b.first().is_some_and(|&b| b != 0)),
        Value::Int { raw, signed } => Json::String(analyzer_int(raw, *signed)),
        Value::Null(_) => Json::String("nullptr".into()),
        Value::Capability(s) => Json::String(String::from_utf8_lossy(s).into_owned()),
        Value::Struct(b) => body_json(b),
        Value::Bytes(b) => Json::String(spaced_hex(b)),
        v @ (Value::Embedded(_) | Value::List(_)) => Json::String(spaced_hex(&v.to_bytes())),
    }
}

/// The JSON object the analyzer shows for a body: fields by name (repeated
/// names, i.e. array elements, gathered into a list), then subsections by name.
pub fn body_json(b: &Body) -> Json {
    let mut m: Vec<(String, Json)> = Vec::with_capacity(b.fields.len());
    let mut idx: HashMap<&str, (usize, bool)> = HashMap::new();
    for f in &b.fields {
        let v = field_json(f);
        match idx.get_mut(f.name.as_str()) {
            None => {
                idx.insert(&f.name, (m.len(), false));
                m.push((f.name.clone(), v));
            }
            Some((i, listed)) => {
                let slot = &mut m[*i].1;
                if *listed {
                    if let Json::Array(a) = slot {
                        a.push(v);
                    }
                } else {
                    let old = std::mem::replace(slot, Json::Null);
                    *slot = Json::Array(vec![old, v]);
                    *listed = true;
                }
            }
        }
    }
    for s in &b.subsections {
        let v = body_json(&s.body);
        match idx.get_mut(s.name.as_str()) {
            Some((i, listed)) => {
                m[*i].1 = v;
                *listed = false;
            }
            None => {
                idx.insert(&s.name, (m.len(), false));
                m.push((s.name.clone(), v));
            }
        }
    }
    Json::Object(m)
}

/// The pretty-print value of a field (`0x10`, `0x0011aa`, `8 byte(s)`).
pub fn text_value(f: &Field) -> String {
    fn be(raw: &[u8]) -> Option<u64> {
        (raw.len() <= 8 && !raw.is_empty())
            .then(|| raw.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }
    match &f.value {
        Value::Bool(b) | Value::Null(b) => match be(&b[..b.len().min(1)]) {
            Some(v) => format!("{v:#x}"),
            None => "0x".into(),
        },
        Value::Int { raw, .. } => match be(raw) {
            Some(v) => format!("{v:#x}"),
            None => format!("0x{}", hex(raw)),
        },
        Value::Capability(s) => format!("{:?}", String::from_utf8_lossy(s)),
        Value::Bytes(b) => match f.ty.as_str() {
            "unused_buffer" => format!("{} byte(s)", b.len()),
            "timer" | "float64" | "CPU_Double_U" if b.len() == 8 => {
                format!("{:#x}", be(b).unwrap_or(0))
            }
            _ => format!("0x{}", hex(b)),
        },
        v => format!("0x{}", hex(&v.to_bytes())),
    }
}

/// Calls `line(path, type, value)` for every scalar of `body`, with paths
/// starting at `prefix`.
pub fn text_lines(body: &Body, prefix: &str, line: &mut dyn FnMut(&str, &str, &str)) {
    let mut i = 0;
    let fields = &body.fields;
    while i < fields.len() {
        let f = &fields[i];
        if f.index.is_some() {
            // A run of elements of one array.
            let mut j = i + 1;
            while j < fields.len() && fields[j].name == f.name && fields[j].index.is_some() {
                j += 1;
            }
            let len = j - i;
            for e in &fields[i..j] {
                let p = format!(
                    "{prefix}.{}({len})({}).[{}]",
                    f.name,
                    f.size,
                    e.index.unwrap_or(0)
                );
                value_lines(e, &p, line);
            }
            i = j;
        } else {
            value_lines(f, &format!("{prefix}.{}", f.name), line);
            i += 1;
        }
    }
    for s in &body.subsections {
        text_lines(&s.body, &format!("{prefix}.{}", s.name), line);
    }
}

fn value_lines(f: &Field, path: &str, line: &mut dyn FnMut(&str, &str, &str)) {
    match &f.value {
        Value::Struct(b) | Value::Embedded(b) => text_lines(b, path, line),
        Value::List(items) => {
            for (k, b) in items.iter().enumerate() {
                text_lines(b, &format!("{path}.[{k}]"), line);
            }
        }
        _ => line(path, &f.ty, &text_value(f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(analyzer_int(&[0xff, 0xfe], true), "0xfffe (-2)");
        assert_eq!(analyzer_int(&[0xff, 0xfe], false), "0xfffe");
        assert_eq!(
            analyzer_int(&[0x80, 0, 0, 0, 0, 0, 0, 0], true),
            "0x8000000000000000 (-9223372036854775808)"
        );
        assert_eq!(analyzer_int(&[0x00, 0x10], true), "0x0010");
        assert_eq!(spaced_hex(&[1, 0xab]), "01 ab");
    }
}
