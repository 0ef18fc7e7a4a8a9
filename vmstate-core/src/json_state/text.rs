//! Values written as text: what `vmstate set PATH=VALUE` takes and what the
//! JSON input accepts in place of a JSON number (`"0x20"`).

/// Parses an unsigned integer of `bits` bits: decimal (`32`) or hex
/// (`0x20`), `_` allowed between digits.
pub(crate) fn parse_unsigned(text: &str, bits: u32, wire: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("{t} does not fit {wire}: it is unsigned"));
    }
    let value = digits(t).ok_or_else(|| not_a_number(t, wire))?;
    let max = max_unsigned(bits);
    if value > u128::from(max) {
        return Err(format!("{t} does not fit {wire} (0..={max:#x})"));
    }
    Ok(value as u64)
}

/// Parses a signed integer of `bits` bits: decimal with an optional sign
/// (`-1`), or hex as the two's complement bits the pretty printer shows
/// (`0xffffffff` for an `int32` -1).
pub(crate) fn parse_signed(text: &str, bits: u32, wire: &str) -> Result<i64, String> {
    let t = text.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let hex = body.starts_with("0x") || body.starts_with("0X");
    let value = digits(body).ok_or_else(|| not_a_number(t, wire))?;
    let min = -(1i128 << (bits - 1));
    let max = (1i128 << (bits - 1)) - 1;
    if hex && !negative {
        // The bits, as shown.
        if value > u128::from(max_unsigned(bits)) {
            return Err(format!(
                "{t} does not fit {wire} ({bits} bits: at most {:#x})",
                max_unsigned(bits)
            ));
        }
        let shift = 64 - bits;
        return Ok(((value as u64) << shift) as i64 >> shift);
    }
    let v = i128::try_from(value).map_err(|_| not_a_number(t, wire))?;
    let v = if negative { -v } else { v };
    if v < min || v > max {
        return Err(format!("{t} does not fit {wire} ({min}..={max})"));
    }
    Ok(v as i64)
}

/// `true`, `false`, `0`, `1` (also `0x0`, `0x1` as dumps show them).
pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "true" | "1" | "0x1" => Ok(true),
        "false" | "0" | "0x0" => Ok(false),
        other => Err(format!(
            "{other} is not a bool: use true, false, 1 or 0 (a bool is one byte, 0 or 1)"
        )),
    }
}

/// A `CPU_Double_U`: the IEEE bits in hex as dumps show them
/// (`0x3ff8000000000000`), or a decimal number (`1.5`).
pub(crate) fn parse_double(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.starts_with("0x") || t.starts_with("0X") {
        return parse_unsigned(t, 64, "CPU_Double_U (its IEEE bits)").map(f64::from_bits);
    }
    t.parse::<f64>().map_err(|_| {
        format!(
            "{t} is not a double: give a number (1.5) or its IEEE bits in hex (0x3ff8000000000000)"
        )
    })
}

/// Hex bytes (`0x0102ff`, the `0x` optional), exactly `len` of them.
pub(crate) fn parse_bytes(text: &str, len: usize, wire: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "a {wire} value is hex bytes (0x0102...), two digits per byte, not {}",
            shorten(t)
        ));
    }
    let n = hex.len() / 2;
    if n != len {
        return Err(format!(
            "the {wire} holds {len} byte(s), the value has {n}: sizes never change (a \
             destination reads the field at the size its own device model gives it)"
        ));
    }
    let mut out = Vec::with_capacity(n);
    for pair in hex.as_bytes().chunks_exact(2) {
        let hi = hex_digit(pair[0]);
        let lo = hex_digit(pair[1]);
        out.push(hi << 4 | lo);
    }
    Ok(out)
}

fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// At most 40 characters of `t`, for messages.
pub(crate) fn shorten(t: &str) -> String {
    match t.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &t[..i]),
        None => t.to_owned(),
    }
}

fn max_unsigned(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fn not_a_number(t: &str, wire: &str) -> String {
    format!(
        "{} is not a number for {wire}: give decimal (32) or hex (0x20)",
        shorten(t)
    )
}

/// Decimal or `0x` hex digits, `_` between them allowed; at most 128 bits.
fn digits(t: &str) -> Option<u128> {
    let (radix, body) = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(rest) => (16, rest),
        None => (10, t),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') {
        return None;
    }
    let mut value: u128 = 0;
    for c in body.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(radix)?;
        value = value
            .checked_mul(u128::from(radix))?
            .checked_add(u128::from(d))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_unsigned("0x20", 8, "uint8"), Ok(0x20));
        assert_eq!(parse_unsigned("255", 8, "uint8"), Ok(255));
        assert!(parse_unsigned("0x100", 8, "uint8").is_err());
        assert!(parse_unsigned("-1", 8, "uint8").is_err());
        assert_eq!(parse_unsigned("0xffff_ffff", 32, "uint32"), Ok(0xffff_ffff));
        assert_eq!(
            parse_unsigned("18446744073709551615", 64, "uint64"),
            Ok(u64::MAX)
        );
        assert!(parse_unsigned("18446744073709551616", 64, "uint64").is_err());
        assert!(parse_unsigned("12x", 64, "uint64").is_err());
        assert!(parse_unsigned("", 64, "uint64").is_err());
        assert_eq!(parse_signed("-1", 32, "int32"), Ok(-1));
        assert_eq!(parse_signed("0xffffffff", 32, "int32"), Ok(-1));
        assert_eq!(parse_signed("0x7f", 8, "int8"), Ok(127));
        assert_eq!(parse_signed("0x80", 8, "int8"), Ok(-128));
        assert!(parse_signed("128", 8, "int8").is_err());
        assert!(parse_signed("-129", 8, "int8").is_err());
        assert!(parse_signed("0x100", 8, "int8").is_err());
        assert_eq!(parse_signed("-0x1", 8, "int8"), Ok(-1));
        assert_eq!(parse_signed("0xffffffffffffffff", 64, "int64"), Ok(-1));
        assert_eq!(
            parse_signed("-9223372036854775808", 64, "int64"),
            Ok(i64::MIN)
        );
    }

    #[test]
    fn bytes_and_others() {
        assert_eq!(parse_bytes("0x01ff", 2, "buffer"), Ok(vec![1, 0xff]));
        assert!(parse_bytes("0x01", 2, "buffer").is_err());
        assert!(parse_bytes("0x0g", 1, "buffer").is_err());
        assert_eq!(parse_bool("1"), Ok(true));
        assert!(parse_bool("2").is_err());
        assert_eq!(parse_double("1.5"), Ok(1.5));
        assert_eq!(
            parse_double("0x3ff8000000000000").map(f64::to_bits),
            Ok(0x3ff8000000000000)
        );
    }
}
