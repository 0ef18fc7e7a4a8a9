//! Whole real QEMU streams to JSON and back, byte for byte: x86 (pc, q35,
//! five NICs, a running guest, 9.2, footer-less, XBZRLE, dirty bitmaps,
//! postcopy and return-path captures), ARM, ppc64 with its hash page table,
//! s390x with storage attributes, riscv64.

use std::path::{Path, PathBuf};

use qemufile::SliceReader;
use vmstate_core::Limits;
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::json_stream::{json_to_stream, stream_to_json};
use vmstate_core::stream::{StreamDecoder, StreamSchema};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn streams() -> Vec<PathBuf> {
    let out = vmstate_tests::real_streams(&[
        "tests/fixtures",
        "vmstate-cli/data",
        "vmstate-cli/tests/data/streams",
        "qemufile/tests/data",
    ]);
    assert!(out.len() >= 12, "fixtures missing: {out:?}");
    out
}

/// The stream's own vmdesc, or (for the postcopy capture, which has none)
/// the one of another stream of the same QEMU and machine.
fn vmdesc_for(path: &Path, bytes: &[u8]) -> Vec<u8> {
    if let Some((_, json)) = qemufile::stream::find_vmdesc(bytes) {
        return json.to_vec();
    }
    assert!(
        path.to_string_lossy().contains("postcopy"),
        "{}",
        path.display()
    );
    let donor = std::fs::read(workspace().join("tests/fixtures/x86-pc-return-path.mig")).unwrap();
    qemufile::stream::find_vmdesc(&donor).unwrap().1.to_vec()
}

fn to_json(path: &Path, bytes: &[u8]) -> Vec<u8> {
    let vmdesc = vmdesc_for(path, bytes);
    let arena = DescriptionArena::new();
    let schema = StreamSchema::parse(&arena, &vmdesc).unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(bytes), Some(&schema)).unwrap();
    stream_to_json(&mut dec, Some(&vmdesc), Vec::new(), |_| {})
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_stream_goes_to_json_and_back_byte_for_byte() {
    for path in streams() {
        let bytes = std::fs::read(&path).unwrap();
        let json = to_json(&path, &bytes);
        let parsed: serde_json::Value = serde_json::from_slice(&json)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        assert_eq!(parsed["vmstate-json"], 1);
        let back = json_to_stream(&json[..], Vec::new(), Limits::DEFAULT, |_| {})
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            back == bytes,
            "{}: {} bytes back, {} in the stream",
            path.display(),
            back.len(),
            bytes.len()
        );
    }
}

/// A document cut short, or corrupted, is refused without a panic; an item
/// longer than the limits allow is refused before it is held in memory.
#[test]
fn broken_and_oversized_documents_are_refused() {
    let path = workspace().join("tests/fixtures/x86-pc-min.mig");
    let bytes = std::fs::read(&path).unwrap();
    let json = to_json(&path, &bytes);
    for cut in (0..json.len()).step_by(json.len() / 29) {
        assert!(
            json_to_stream(&json[..cut], Vec::new(), Limits::DEFAULT, |_| {}).is_err(),
            "a document cut at {cut} was accepted"
        );
    }
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..30 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bad = json.clone();
        let at = (state % bad.len() as u64) as usize;
        bad[at] = b"{}[]\",:0-9ae \\x"[(state >> 40) as usize % 15];
        let _ = json_to_stream(&bad[..], Vec::new(), Limits::DEFAULT, |_| {});
    }
    // One item (a page's data) longer than the section memory limit.
    let mut limits = Limits::DEFAULT;
    limits.set(vmstate_core::Limit::SectionMemory, 1 << 20);
    let text = String::from_utf8(json.clone()).unwrap();
    let big = format!("\"{}\"", "A".repeat(4 << 20));
    let first_page = text.find("\"data\": [\"").unwrap() + "\"data\": [".len();
    let end = first_page + text[first_page..].find('"').unwrap() + 1;
    let end = end + text[end..].find('"').unwrap() + 1;
    let huge = format!("{}{big}{}", &text[..first_page], &text[end..]);
    let err = json_to_stream(huge.as_bytes(), Vec::new(), limits, |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("--max-section-memory"), "{err}");
    // Not a document of ours.
    let err = json_to_stream(&b"{\"items\": []}"[..], Vec::new(), Limits::DEFAULT, |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"vmstate-json\": 1"), "{err}");
}
