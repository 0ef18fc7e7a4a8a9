//! The JSON visitors on real QEMU state: every device section of every real
//! stream goes to JSON and back to the same bytes; typed models and dynamic
//! state write the same JSON, and either loads the other's.

use std::path::PathBuf;

use qemufile::SliceReader;
use vmstate_core::dynamic::{self, DescriptionArena, DynamicState};
use vmstate_core::json_state::{self, parse_bounded};
use vmstate_core::stream::{Event, StreamDecoder, StreamSchema, section_root};
use vmstate_core::{Limits, VmState};
use vmstate_tests::devices::hpet::Hpet;
use vmstate_tests::devices::i8254::I8254;
use vmstate_tests::devices::i8259::I8259;
use vmstate_tests::devices::mc146818rtc::Mc146818Rtc;
use vmstate_tests::devices::pl011::Pl011;
use vmstate_tests::devices::ps2::{Ps2Kbd, Ps2Mouse};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every real stream of the workspace (`vmdesc-quirks/` holds one whose
/// vmdesc misdescribes a section: no vmdesc-trusting decoder reads it).
fn streams() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [
        "tests/fixtures",
        "vmstate-cli/tests/data/streams",
        "qemufile/tests/data",
    ] {
        let Ok(entries) = std::fs::read_dir(workspace().join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "mig") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 8, "fixtures missing: {out:?}");
    out
}

#[test]
fn every_section_of_every_stream_goes_to_json_and_back_to_its_bytes() {
    let mut sections = 0;
    for path in streams() {
        let bytes = std::fs::read(&path).unwrap();
        let arena = DescriptionArena::new();
        let Some(schema) = StreamSchema::from_stream(&arena, &bytes).unwrap() else {
            continue;
        };
        let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
        while let Some(ev) = dec.next_event().unwrap() {
            let Event::Section(h) = ev else { continue };
            let name = format!("{}: {}", path.display(), section_root(&h));
            let mut state = dec.decode_section().unwrap();
            let body = dynamic::save_to_vec(&mut state).unwrap();
            let text = json_state::dynamic_to_json(&mut state).unwrap();
            let json = parse_bounded(text.as_bytes(), 1 << 30)
                .unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
            let description = state.description();
            let mut back = json_state::load_dynamic_as(description, &json, "x", Limits::DEFAULT)
                .unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
            assert!(back == state, "{name}: loaded state differs");
            assert!(
                dynamic::save_to_vec(&mut back).unwrap() == body,
                "{name}: bytes differ"
            );
            assert_eq!(
                json_state::dynamic_to_json(&mut back).unwrap(),
                text,
                "{name}"
            );
            sections += 1;
        }
    }
    assert!(sections > 200, "{sections} sections");
}

/// The section `idstr` instance 0 of a fixture, as a typed model and as
/// dynamic state.
fn both<T: VmState + Clone + Default>(
    arena: &DescriptionArena,
    bytes: &[u8],
    idstr: &str,
) -> (T, String) {
    let schema = StreamSchema::from_stream(arena, bytes).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(bytes), Some(&schema)).unwrap();
    let mut typed = None;
    while let Some(ev) = dec.next_event().unwrap() {
        if let Event::Section(h) = ev {
            if h.idstr.as_bytes() == idstr.as_bytes() && h.instance_id == 0 {
                let mut t = T::default();
                dec.load_section(&mut t).unwrap();
                typed = Some(t);
            }
        }
    }
    let mut dec = StreamDecoder::open(SliceReader::new(bytes), Some(&schema)).unwrap();
    let mut dynamic: Option<DynamicState<'_>> = None;
    while let Some(ev) = dec.next_event().unwrap() {
        if let Event::Section(h) = ev {
            if h.idstr.as_bytes() == idstr.as_bytes() && h.instance_id == 0 {
                dynamic = Some(dec.decode_section().unwrap());
            }
        }
    }
    let text = json_state::dynamic_to_json(&mut dynamic.unwrap()).unwrap();
    (typed.unwrap(), text)
}

fn typed_and_dynamic_agree<T: VmState + Clone + Default + PartialEq + std::fmt::Debug>(
    file: &str,
    idstr: &str,
) {
    let bytes = std::fs::read(workspace().join(file)).unwrap();
    let arena = DescriptionArena::new();
    let (mut typed, dynamic_json) = both::<T>(&arena, &bytes, idstr);
    let typed_json = json_state::to_json(&mut typed).unwrap();
    assert_eq!(typed_json, dynamic_json, "{idstr}");
    // The dynamic JSON loads into the typed model, and gives its bytes.
    let mut loaded = T::default();
    json_state::from_json_str(&mut loaded, &dynamic_json).unwrap();
    assert_eq!(loaded, typed, "{idstr}");
    assert_eq!(
        vmstate_core::save_to_vec(&mut loaded).unwrap(),
        vmstate_core::save_to_vec(&mut typed).unwrap()
    );
}

#[test]
fn typed_models_and_dynamic_state_write_the_same_json() {
    typed_and_dynamic_agree::<I8259>("tests/fixtures/x86-pc-min.mig", "i8259");
    typed_and_dynamic_agree::<I8254>("tests/fixtures/x86-pc-min.mig", "i8254");
    typed_and_dynamic_agree::<Mc146818Rtc>("tests/fixtures/x86-pc-min.mig", "mc146818rtc");
    typed_and_dynamic_agree::<Hpet>("tests/fixtures/x86-pc-min.mig", "hpet");
    typed_and_dynamic_agree::<Ps2Kbd>("tests/fixtures/x86-pc-min.mig", "ps2kbd");
    typed_and_dynamic_agree::<Ps2Mouse>("tests/fixtures/x86-pc-min.mig", "ps2mouse");
    typed_and_dynamic_agree::<Pl011>("tests/fixtures/arm-virt-a57.mig", "pl011");
}
