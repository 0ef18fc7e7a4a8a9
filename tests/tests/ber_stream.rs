//! Whole QEMU streams to BER and back: byte-identical for every fixture,
//! and what is written parses with independent ASN.1 decoders.

#[path = "support/oracles.rs"]
mod oracles;

use std::path::PathBuf;

use vmstate_core::Limits;
use vmstate_core::ber::{self, DocumentKind, Header};
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::qemufile::SliceReader;
use vmstate_core::stream::StreamSchema;

fn fixtures() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mig"))
        .collect();
    out.sort();
    out.push(root.join("../vmstate-cli/data/x86-pc-min.mig"));
    out
}

/// The BER document of a stream and the stream converted back from it.
/// Streams without a vmdesc (postcopy) are described by the vmdesc of
/// another stream of the same QEMU and machine.
fn round_trip(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let donor = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/x86-pc-return-path.mig"),
    )
    .unwrap();
    let find = vmstate_core::qemufile::stream::find_vmdesc;
    let json = find(bytes)
        .or_else(|| find(&donor))
        .map(|(_, j)| j)
        .unwrap();
    let arena = DescriptionArena::new();
    let schema = StreamSchema::parse(&arena, json).unwrap();
    let json = Some(json);
    let doc = ber::stream::to_ber(
        SliceReader::new(bytes),
        &schema,
        json,
        Vec::new(),
        Limits::DEFAULT,
        |_| {},
    )
    .unwrap();
    let back = ber::stream::to_qemu(SliceReader::new(&doc), Vec::new(), Limits::DEFAULT).unwrap();
    (doc, back)
}

#[test]
fn every_fixture_converts_to_ber_and_back_byte_for_byte() {
    let list = fixtures();
    assert!(list.len() >= 12, "{list:?}");
    for path in list {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let (doc, back) = round_trip(&bytes);
        assert!(ber::is_ber(&doc), "{name}");
        let (header, _) = Header::parse(&doc).unwrap();
        assert_eq!(header.kind, DocumentKind::Stream);
        assert!(!header.descriptions.is_empty(), "{name}");
        assert!(
            back == bytes,
            "{name}: BER and back differs from the stream"
        );
        // The conversion is canonical: the stream converted back converts
        // to the same document.
        assert!(round_trip(&back).0 == doc, "{name}: not reproducible");
        oracles::check_independent_decoders(&name, &doc);
        eprintln!("{name}: {} bytes -> BER {} bytes", bytes.len(), doc.len());
    }
}

/// A stream whose vmdesc misdescribes a section (QEMU 10.0's first pointer
/// run that claims the whole array, tests/fixtures/vmdesc-quirks) converts
/// too: the decoder splits it by the runs after it, as `vmstate reencode` does.
#[test]
fn a_stream_with_the_pointer_run_quirk_converts_and_comes_back() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/vmdesc-quirks/s390x-ccw-css0.mig");
    let bytes = std::fs::read(path).unwrap();
    let (doc, back) = round_trip(&bytes);
    assert!(ber::is_ber(&doc));
    assert!(back == bytes, "BER and back differs from the stream");
}
