//! The library stream engine on real QEMU streams: every device section is
//! decoded into a `DynamicState` described by the stream's own vmdesc and
//! encoded again by the output visitor; the whole stream comes back byte for
//! byte. Typed models and dynamic state walk alike: the same section printed
//! through a `#[derive(VmState)]` model and through its vmdesc gives the same
//! lines.

use std::path::PathBuf;

use qemufile::SliceReader;
use vmstate_core::dynamic::{DescriptionArena, DynamicState};
use vmstate_core::stream::{Event, StreamDecoder, StreamSchema, reencode, section_root};
use vmstate_core::{PrettyPrinter, VmState, visit_struct};
use vmstate_tests::devices::hpet::Hpet;
use vmstate_tests::devices::i8254::I8254;
use vmstate_tests::devices::i8259::I8259;
use vmstate_tests::devices::mc146818rtc::Mc146818Rtc;
use vmstate_tests::devices::pl011::Pl011;
use vmstate_tests::devices::ps2::{Ps2Kbd, Ps2Mouse};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every real stream the workspace has.
fn streams() -> Vec<PathBuf> {
    let out = vmstate_tests::real_streams(&[
        "tests/fixtures",
        "tests/fixtures/vmdesc-quirks",
        "vmstate-cli/tests/data/streams",
        "qemufile/tests/data",
    ]);
    assert!(out.len() >= 8, "fixtures missing: {out:?}");
    out
}

#[test]
fn every_stream_reencodes_identically_through_dynamic_state() {
    let mut failures = Vec::new();
    for path in streams() {
        let bytes = std::fs::read(&path).unwrap();
        let arena = DescriptionArena::new();
        let schema = StreamSchema::from_stream(&arena, &bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Some(schema) = schema else {
            eprintln!("{}: no vmdesc, skipped here", path.display());
            continue;
        };
        let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
        match reencode(&mut dec, Vec::new(), |_| {}) {
            Ok(out) if out == bytes => {}
            Ok(out) => failures.push(format!(
                "{}: re-encoded stream differs ({} vs {} bytes)",
                path.display(),
                out.len(),
                bytes.len()
            )),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The dump of one section through the typed model and through the vmdesc.
fn both_dumps<T: VmState + Clone + Default>(file: &str, idstr: &str) -> (String, String) {
    let bytes = std::fs::read(workspace().join(file)).unwrap();
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    let mut typed: Option<T> = None;
    let mut dynamic: Option<DynamicState<'_>> = None;
    // Two passes over the same section: once typed, once dynamic.
    while let Some(ev) = dec.next_event().unwrap() {
        if let Event::Section(h) = ev {
            if h.idstr.as_bytes() == idstr.as_bytes() && h.instance_id == 0 {
                let mut t = T::default();
                dec.load_section(&mut t).unwrap();
                typed = Some(t);
            }
        }
    }
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    while let Some(ev) = dec.next_event().unwrap() {
        if let Event::Section(h) = ev {
            if h.idstr.as_bytes() == idstr.as_bytes() && h.instance_id == 0 {
                assert_eq!(section_root(&h), idstr);
                dynamic = Some(dec.decode_section().unwrap());
            }
        }
    }
    let mut typed = typed.expect("section");
    let mut dynamic = dynamic.expect("section");
    let mut p = PrettyPrinter::new(String::new());
    visit_struct(&mut typed, &mut p, T::DESCRIPTION.name).unwrap();
    let typed_dump = p.into_inner();
    let dynamic_dump = vmstate_core::dynamic::pretty_print(&mut dynamic).unwrap();
    (typed_dump, dynamic_dump)
}

#[test]
fn typed_and_dynamic_state_print_the_same_lines() {
    for (typed, dynamic) in [
        both_dumps::<I8259>("tests/fixtures/x86-pc-min.mig", "i8259"),
        both_dumps::<I8254>("tests/fixtures/x86-pc-min.mig", "i8254"),
        both_dumps::<Mc146818Rtc>("tests/fixtures/x86-pc-min.mig", "mc146818rtc"),
        both_dumps::<Hpet>("tests/fixtures/x86-pc-min.mig", "hpet"),
        both_dumps::<Ps2Kbd>("tests/fixtures/x86-pc-min.mig", "ps2kbd"),
        both_dumps::<Ps2Mouse>("tests/fixtures/x86-pc-min.mig", "ps2mouse"),
        both_dumps::<Pl011>("tests/fixtures/arm-virt-a57.mig", "pl011"),
    ] {
        assert!(!typed.is_empty());
        assert_eq!(typed, dynamic);
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(workspace().join("tests/fixtures").join(name)).unwrap()
}

/// An iterative section this build does not know is carried at the framing
/// level, up to its footer, and re-encoded identically.
#[test]
fn unknown_iterative_sections_are_carried_through() {
    let mut bytes = fixture("ppc64-pseries.mig");
    let name = b"spapr/htab";
    let mut renamed = 0;
    let mut i = 0;
    while let Some(p) = bytes[i..].windows(name.len()).position(|w| w == name) {
        // Only section headers (length byte before the name), not the vmdesc.
        let at = i + p;
        if bytes[at - 1] == name.len() as u8 && !bytes[..at].ends_with(b"\"") {
            bytes[at + name.len() - 1] = b'X';
            renamed += 1;
        }
        i = at + 1;
    }
    assert!(renamed >= 1, "no spapr/htab section header found");
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    let mut raw = 0u64;
    while let Some(ev) = dec.next_event().unwrap() {
        if let Event::Item(vmstate_core::stream::SectionItem::Raw { len }) = ev {
            raw += len;
        }
    }
    // The START body (the 4-byte table header) and the PART and END bodies
    // (the end markers) are read as raw bytes.
    assert!(raw >= 4, "the renamed section was not read as raw bytes");
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    let copy = reencode(&mut dec, Vec::new(), |_| {}).unwrap();
    assert!(copy == bytes, "the raw section was not carried identically");
}

/// A stream without a vmdesc (postcopy streams have none) decodes with the
/// vmdesc of another stream of the same QEMU and machine, and re-encodes
/// identically; the embedded PACKAGED stream's sections are decoded too.
#[test]
fn streams_without_vmdesc_decode_with_one_from_elsewhere() {
    let bytes = fixture("x86-pc-postcopy.mig");
    let arena = DescriptionArena::new();
    assert!(StreamSchema::from_stream(&arena, &bytes).unwrap().is_none());
    // Without a description, device sections cannot be decoded, and say so.
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), None).unwrap();
    let err = loop {
        match dec.next_event() {
            Ok(Some(Event::Section(_))) => break dec.decode_section().unwrap_err(),
            Ok(Some(_)) => {}
            other => panic!("no device section: {other:?}"),
        }
    };
    assert!(err.to_string().contains("no vmdesc"), "{err}");
    let donor = fixture("x86-pc-return-path.mig");
    let schema = StreamSchema::from_stream(&arena, &donor).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    let out = reencode(&mut dec, Vec::new(), |_| {}).unwrap();
    assert!(out == bytes, "postcopy stream re-encoded differently");
}

/// The vmdesc the library writes for a section decoded with QEMU's vmdesc is
/// QEMU's vmdesc of that section: the description and the writer agree.
#[test]
fn dynamic_state_writes_back_the_vmdesc_it_was_described_by() {
    let mut failures = Vec::new();
    for path in streams() {
        let bytes = std::fs::read(&path).unwrap();
        let arena = DescriptionArena::new();
        let Some(schema) = StreamSchema::from_stream(&arena, &bytes).unwrap() else {
            continue;
        };
        let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
        let (_, vmdesc) = qemufile::stream::find_vmdesc(&bytes).unwrap();
        let vmdesc: serde_json::Value = serde_json::from_slice(vmdesc).unwrap();
        let devices = vmdesc["devices"].as_array().unwrap().clone();
        while let Some(ev) = dec.next_event().unwrap() {
            let Event::Section(h) = ev else { continue };
            let mut state = dec.decode_section().unwrap();
            let keys = vmstate_core::vmdesc::save_with_vmdesc(&mut state, Vec::new()).unwrap();
            let ours: serde_json::Value = serde_json::from_str(&format!("{{{keys}}}")).unwrap();
            let idstr = h.idstr.to_string_lossy();
            let theirs = devices
                .iter()
                .find(|d| d["name"] == idstr.as_str() && d["instance_id"] == h.instance_id)
                .unwrap();
            // Sections saved by a legacy `save_state` handler (s390-skeys)
            // have no VMStateDescription: QEMU describes them as one buffer.
            if theirs.get("vmsd_name").is_none() {
                continue;
            }
            // To the byte: QEMU's compact JSON, keys in QEMU's order.
            let (_, text) = qemufile::stream::find_vmdesc(&bytes).unwrap();
            let text = String::from_utf8_lossy(text);
            let entry = format!(
                "{{\"name\": \"{idstr}\", \"instance_id\": {}, {keys}}}",
                h.instance_id
            );
            if !text.contains(&entry) {
                failures.push(format!(
                    "{}: {idstr}: not byte-identical",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
            for key in ["vmsd_name", "version", "fields", "subsections"] {
                if ours.get(key) != theirs.get(key) {
                    failures.push(format!(
                        "{}: {idstr}: {key}: ours {} theirs {}",
                        path.file_name().unwrap().to_string_lossy(),
                        ours.get(key)
                            .map_or("-".into(), |v| v.to_string())
                            .chars()
                            .take(300)
                            .collect::<String>(),
                        theirs
                            .get(key)
                            .map_or("-".into(), |v| v.to_string())
                            .chars()
                            .take(300)
                            .collect::<String>(),
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatch(es):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// QEMU writes a list's element description into the list's own entry once
/// per element, so keys repeat; as in Python's `json`, the last one counts.
#[test]
fn repeated_vmdesc_keys_keep_the_last_value() {
    let text = br#"{"page_size": 4096, "devices": [{"name": "q", "instance_id": 0, "vmsd_name": "q", "version": 1, "fields": [{"name": "list", "type": "qtailq", "vmsd_name": "elem", "version": 1, "fields": [{"name": "a", "type": "uint8", "size": 1}], "vmsd_name": "elem", "version": 2, "fields": [{"name": "b", "type": "uint16", "size": 2}], "size": 7}], "version": 3}]}"#;
    let arena = DescriptionArena::new();
    let schema = StreamSchema::parse(&arena, text).unwrap();
    let d = schema.device("q", 0).unwrap().description;
    assert_eq!(d.version_id, 3);
    let doc = vmstate_core::dynamic::VmdescDocument::parse(text).unwrap();
    let devices = doc.devices.unwrap();
    let list = &devices[0].fields.as_ref().unwrap()[0];
    assert_eq!(list.version, Some(2));
    assert_eq!(list.fields.as_ref().unwrap()[0].name.as_deref(), Some("b"));
}

/// QEMU 10.0 describes the s390 `css` array (images 0 and 0xfe of 256) as
/// 256 images, 253 NULLs, 1 image, 1 NULL: the first run is read as what is
/// left once the later runs are counted, and every element lands at its index.
#[test]
fn a_first_pointer_run_that_claims_the_whole_array_is_split_by_the_runs_after_it() {
    let bytes = std::fs::read(workspace().join("tests/fixtures/vmdesc-quirks/s390x-ccw-css0.mig"))
        .expect("fixture");
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes)
        .expect("vmdesc")
        .expect("has one");
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).expect("opens");
    let mut css = None;
    while let Some(event) = dec.next_event().expect("event") {
        if let Event::Section(h) = event {
            let mut state = dec.decode_section().expect("decodes");
            if h.idstr.as_bytes() == b"s390_css" {
                let d = state.description();
                let mut p = PrettyPrinter::new(String::new()).with_root("s390_css");
                vmstate_core::visit_struct_at(&mut state, &mut p, d.name, d.version_id)
                    .expect("prints");
                css = Some(p.into_inner());
            }
        }
    }
    let css = css.expect("an s390_css section");
    let images = |i: usize| {
        css.lines()
            .filter(|l| l.starts_with(&format!("s390_css.css[{i}].")))
            .count()
    };
    assert!(images(0) > 100 && images(0) == images(254), "{}", images(0));
    assert!(css.contains("s390_css.css[1] = (ptr-marker) 0x30"), "{css}");
    assert!(
        css.contains("s390_css.css[255] = (ptr-marker) 0x30"),
        "{css}"
    );
}

/// A stream without section footers whose first section is a device
/// section (the registry writes one with `send_section_footer: false`):
/// footers are detected while that section is decoded, and the re-encoded
/// section must not get one (it did, found by the `reencode` fuzz target).
#[test]
fn a_footerless_stream_starting_with_a_device_section_reencodes_identically() {
    use vmstate_core::registry::{Registration, Registry, StreamSettings};
    let (mut master, mut slave) = (I8259::default(), I8259::default());
    master.irr = 0x10;
    let mut reg = Registry::new();
    reg.register(&mut master, Registration::default()).unwrap();
    reg.register(&mut slave, Registration::default()).unwrap();
    let settings = StreamSettings {
        send_section_footer: false,
        ..StreamSettings::new("pc-i440fx-10.0")
    };
    let mut bytes = Vec::new();
    reg.save(&mut bytes, &settings).unwrap();
    drop(reg);
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    let out = reencode(&mut dec, Vec::new(), |_| {}).unwrap();
    assert!(!dec.options().send_section_footer);
    let at = out.iter().zip(&bytes).position(|(a, b)| a != b);
    assert!(
        out == bytes,
        "{} bytes re-encoded to {}, first difference at {at:?}",
        bytes.len(),
        out.len()
    );
}
