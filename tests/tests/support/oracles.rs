//! Independent decoders of the BER the visitors write: RustCrypto's `der`
//! crate (strict DER lengths) and OpenSSL's `asn1parse -inform DER`.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

use der::{Decode, Reader, SliceReader, Tagged, asn1::AnyRef};

/// Walks every TLV of `bytes` (a sequence of top-level TLVs) with `der`,
/// into constructed ones; returns how many TLVs there are and the deepest
/// nesting.
pub fn der_walk(bytes: &[u8]) -> Result<(u64, usize), String> {
    fn walk(
        bytes: &[u8],
        depth: usize,
        count: &mut u64,
        deepest: &mut usize,
    ) -> Result<(), String> {
        *deepest = (*deepest).max(depth);
        let mut r = SliceReader::new(bytes).map_err(|e| e.to_string())?;
        while !r.is_finished() {
            let any = AnyRef::decode(&mut r).map_err(|e| format!("depth {depth}: {e}"))?;
            *count += 1;
            if any.tag().is_constructed() {
                walk(any.value(), depth + 1, count, deepest)?;
            }
        }
        Ok(())
    }
    let (mut count, mut deepest) = (0, 0);
    walk(bytes, 0, &mut count, &mut deepest)?;
    Ok((count, deepest))
}

/// `openssl asn1parse -inform DER` over `bytes`: `None` when openssl is not
/// installed, else whether it parsed every byte, with its complaint.
pub fn openssl_parse(bytes: &[u8]) -> Option<Result<u64, String>> {
    let mut child = Command::new("openssl")
        .args(["asn1parse", "-inform", "DER"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().ok()?;
    let _ = writer.join();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success()
        || !out.stderr.is_empty()
        || text.lines().any(|l| l.starts_with("Error"))
    {
        return Some(Err(format!(
            "openssl asn1parse failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            text.lines().last().unwrap_or("")
        )));
    }
    // The top-level objects must follow one another up to the last byte.
    let mut end = 0u64;
    let mut lines = 0u64;
    for line in text.lines() {
        lines += 1;
        let Some((offset, rest)) = line.trim_start().split_once(':') else {
            continue;
        };
        if !rest.starts_with("d=0 ") {
            continue;
        }
        let num = |key: &str| -> Option<u64> {
            let i = rest.find(key)? + key.len();
            rest[i..].trim_start().split(' ').next()?.parse().ok()
        };
        let (Ok(offset), Some(hl), Some(l)) = (offset.parse::<u64>(), num("hl="), num(" l="))
        else {
            return Some(Err(format!("unexpected openssl line: {line}")));
        };
        if offset != end {
            return Some(Err(format!("top-level object at {offset}, expected {end}")));
        }
        end = offset + hl + l;
    }
    if end != bytes.len() as u64 {
        return Some(Err(format!(
            "openssl stopped at byte {end} of {}",
            bytes.len()
        )));
    }
    Some(Ok(lines))
}

/// Both decoders must take `bytes`; openssl is skipped visibly when missing.
pub fn check_independent_decoders(what: &str, bytes: &[u8]) {
    if let Err(e) = der_walk(bytes) {
        panic!("{what}: the der crate refuses the BER: {e}");
    }
    match openssl_parse(bytes) {
        None => eprintln!("SKIP {what}: openssl not installed (apt-get install -y openssl)"),
        Some(Ok(_)) => {}
        Some(Err(e)) => panic!("{what}: {e}"),
    }
}
