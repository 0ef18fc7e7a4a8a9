//! `vmstate_core::analyzer`: the JSON of QEMU's `analyze-migration.py -d
//! state`, printed by a visitor over the one walk.
//!
//! * Every stream with a committed analyzer output (`*.state.json` next to
//!   the `*.mig`) prints exactly that output, byte for byte.
//! * Streams the analyzer refuses are refused, with its reason.
//! * Typed `#[derive(VmState)]` models of real devices print exactly the
//!   analyzer's JSON of their sections; a derived value prints the same
//!   as the dynamic state described by the vmdesc written for it.
//! * Hand-written vmdescs cover the analyzer's dict rules the fixtures do
//!   not reach (members of one name apart, a subsection replacing a member),
//!   with expected text from Python's own `json.dumps`.

use std::path::{Path, PathBuf};

use qemufile::SliceReader;
use vmstate_core::analyzer::{self, AnalyzerJson, StateJsonOptions};
use vmstate_core::dynamic::{DescriptionArena, DynamicState};
use vmstate_core::stream::{Event, StreamDecoder, StreamSchema};
use vmstate_core::{Timer, VmState, visit_struct};
use vmstate_tests::devices::fw_cfg::FwCfg;
use vmstate_tests::devices::hpet::Hpet;
use vmstate_tests::devices::i8254::I8254;
use vmstate_tests::devices::i8259::I8259;
use vmstate_tests::devices::mc146818rtc::Mc146818Rtc;
use vmstate_tests::devices::piix3::Piix3;
use vmstate_tests::devices::pl011::Pl011;
use vmstate_tests::devices::pl031::Pl031;
use vmstate_tests::devices::pl061::Pl061;
use vmstate_tests::devices::ps2::{Ps2Kbd, Ps2Mouse};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Streams whose iterative sections (`spapr/htab`,
/// `s390-storage_attributes`) a decoder may not read yet.
const ITERATIVE: &[&str] = &["ppc64-pseries", "s390x-ccw", "s390x-ccw-skeys"];

/// Every stream with the analyzer's `-d state` output, and that output.
fn cases() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for dir in ["tests/fixtures", "vmstate-cli/tests/data/streams"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(workspace().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "mig"))
            .collect();
        entries.sort();
        for mig in entries {
            let state = mig.with_extension("state.json");
            if state.exists() {
                out.push((mig, state));
            }
        }
    }
    // The 9.2 machine type stream (no SWITCHOVER_START): the analyzer prints
    // the same as for x86-pc-min (as vmstate-cli/tests/streams.rs checks).
    let s92 = workspace().join("qemufile/tests/data/x86-pc-9.2.mig");
    if s92.exists() {
        out.push((
            s92,
            workspace().join("tests/fixtures/x86-pc-min.state.json"),
        ));
    }
    assert!(out.len() >= 10, "fixtures missing: {out:?}");
    out
}

fn state_json(bytes: &[u8], options: &StateJsonOptions) -> vmstate_core::Result<Vec<u8>> {
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, bytes)?;
    let mut dec = StreamDecoder::open(SliceReader::new(bytes), schema.as_ref())?;
    let mut out = Vec::new();
    analyzer::write_state_json(&mut dec, &mut out, options)?;
    Ok(out)
}

/// Where two texts first differ, as a line number and both lines.
fn first_difference(expected: &[u8], got: &[u8]) -> String {
    let e = String::from_utf8_lossy(expected);
    let g = String::from_utf8_lossy(got);
    for (n, (a, b)) in e.lines().zip(g.lines()).enumerate() {
        if a != b {
            return format!("line {}: expected {a:?}, got {b:?}", n + 1);
        }
    }
    format!(
        "one is a prefix of the other: {} vs {} lines, {} vs {} bytes",
        e.lines().count(),
        g.lines().count(),
        expected.len(),
        got.len()
    )
}

#[test]
fn every_analyzer_output_is_reproduced_byte_for_byte() {
    let mut failures = Vec::new();
    let mut pending = Vec::new();
    let mut matched = Vec::new();
    for (mig, state) in cases() {
        let name = mig.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&mig).unwrap();
        let expected = std::fs::read(&state).unwrap();
        match state_json(&bytes, &StateJsonOptions::default()) {
            Ok(out) if out == expected => matched.push(name),
            Ok(out) => failures.push(format!(
                "{}: differs from {}: {}",
                mig.display(),
                state.display(),
                first_difference(&expected, &out)
            )),
            Err(e) if ITERATIVE.contains(&name.as_str()) => {
                pending.push(format!("{}: {e}", mig.display()))
            }
            Err(e) => failures.push(format!("{}: {e}", mig.display())),
        }
    }
    for p in &pending {
        eprintln!("PENDING (iterative sections not decoded yet): {p}");
    }
    eprintln!(
        "byte-for-byte equal to analyze-migration.py -d state: {}",
        matched.join(", ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn streams_the_analyzer_refuses_are_refused_unless_lenient() {
    for (file, why) in [
        ("x86-pc-dirty-bitmap.mig", "Unknown QEMU_VM_COMMAND: 3"),
        ("x86-pc-return-path.mig", "Unknown QEMU_VM_COMMAND: 1"),
    ] {
        let bytes = std::fs::read(workspace().join("tests/fixtures").join(file)).unwrap();
        let err = state_json(&bytes, &StateJsonOptions::default()).unwrap_err();
        assert!(err.to_string().contains(why), "{file}: {err}");
        let lenient = StateJsonOptions {
            lenient: true,
            ..StateJsonOptions::default()
        };
        let out = state_json(&bytes, &lenient).unwrap_or_else(|e| panic!("{file}: {e}"));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("{\n    \"ram (1)\": {\n"), "{file}");
        assert!(text.ends_with("\n}\n"), "{file}");
        if file == "x86-pc-dirty-bitmap.mig" {
            // No reader in the analyzer: shown like the ones it reads and shows empty.
            assert!(
                text.contains("\n    \"dirty-bitmap (2)\": \"\",\n"),
                "{file}"
            );
        }
    }
}

/// `-m`: a `"memory"` member after `"section sizes"`, one member per page
/// record (the key: block and offset), the rest unchanged.
#[test]
fn memory_adds_every_page_and_nothing_else() {
    let bytes = std::fs::read(workspace().join("tests/fixtures/x86-pc-min.mig")).unwrap();
    let plain =
        String::from_utf8(state_json(&bytes, &StateJsonOptions::default()).unwrap()).unwrap();
    let options = StateJsonOptions {
        memory: true,
        ..StateJsonOptions::default()
    };
    let with = String::from_utf8(state_json(&bytes, &options).unwrap()).unwrap();
    let at = with
        .find(",\n        \"memory\": {\n")
        .expect("memory member");
    let end = at + with[at..].find("\n        }").unwrap() + "\n        }".len();
    assert_eq!(format!("{}{}", &with[..at], &with[end..]), plain);
    let memory = &with[at..end];
    // 51 pages with data and 8271 zero pages (`vmstate check` counts them).
    let zero = memory.matches("\": \"Filled with 0x00\"").count();
    let pages = memory.matches("\n            \"").count();
    assert_eq!((pages, zero), (51 + 8271, 8271));
    assert!(memory.contains("\n            \"pc.ram (0x0000000000000000)\": "));
    // A data page: 4096 bytes, as hex separated by spaces.
    let data = memory
        .lines()
        .find(|l| !l.contains("Filled with") && l.contains(" (0x"))
        .unwrap();
    let value = data
        .split("\": \"")
        .nth(1)
        .unwrap()
        .trim_end_matches(['"', ',']);
    assert_eq!(value.len(), 4096 * 3 - 1);
}

/// The text of member `key` of an analyzer output (its value at level 1).
fn member<'a>(json: &'a str, key: &str) -> &'a str {
    let head = format!("\n    \"{key}\": ");
    let start = json
        .find(&head)
        .unwrap_or_else(|| panic!("no member {key}"))
        + head.len();
    let rest = &json[start..];
    if rest.starts_with('{') && !rest.starts_with("{}") {
        let end = rest.find("\n    }").expect("end of member") + 6;
        &rest[..end]
    } else {
        let end = rest.find('\n').unwrap_or(rest.len());
        rest[..end].trim_end_matches(',')
    }
}

/// Loads section `idstr` instance `instance_id` of `file` into a typed
/// model and prints it; returns the typed JSON and the analyzer's.
fn typed_and_analyzer<T: VmState + Clone + Default>(
    file: &str,
    idstr: &str,
    instance_id: u32,
) -> (String, String) {
    let mig = workspace().join(file);
    let bytes = std::fs::read(&mig).unwrap();
    let expected = std::fs::read_to_string(mig.with_extension("state.json")).unwrap();
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    while let Some(ev) = dec.next_event().unwrap() {
        if let Event::Section(h) = ev {
            if h.idstr.as_bytes() == idstr.as_bytes() && h.instance_id == instance_id {
                let mut dev = T::default();
                dec.load_section(&mut dev)
                    .unwrap_or_else(|e| panic!("{idstr}: {e}"));
                let mut v = AnalyzerJson::at_level(1);
                visit_struct(&mut dev, &mut v, T::DESCRIPTION.name).unwrap();
                let typed = String::from_utf8(v.into_output()).unwrap();
                let key = format!("{idstr} ({})", h.section_id);
                return (typed, member(&expected, &key).to_owned());
            }
        }
    }
    panic!("{file}: no section {idstr} instance {instance_id}");
}

#[test]
fn typed_models_print_the_analyzer_json_of_their_sections() {
    let x86 = "tests/fixtures/x86-pc-min.mig";
    let arm = "tests/fixtures/arm-virt-a57.mig";
    for (what, (typed, expected)) in [
        ("i8259 0", typed_and_analyzer::<I8259>(x86, "i8259", 0)),
        ("i8259 1", typed_and_analyzer::<I8259>(x86, "i8259", 1)),
        ("i8254", typed_and_analyzer::<I8254>(x86, "i8254", 0)),
        (
            "mc146818rtc",
            typed_and_analyzer::<Mc146818Rtc>(x86, "mc146818rtc", 0),
        ),
        ("hpet", typed_and_analyzer::<Hpet>(x86, "hpet", 0)),
        ("fw_cfg x86", typed_and_analyzer::<FwCfg>(x86, "fw_cfg", 0)),
        (
            "PIIX3",
            typed_and_analyzer::<Piix3>(x86, "0000:00:01.0/PIIX3", 0),
        ),
        ("ps2kbd", typed_and_analyzer::<Ps2Kbd>(x86, "ps2kbd", 0)),
        (
            "ps2mouse",
            typed_and_analyzer::<Ps2Mouse>(x86, "ps2mouse", 0),
        ),
        ("pl011", typed_and_analyzer::<Pl011>(arm, "pl011", 0)),
        ("pl031", typed_and_analyzer::<Pl031>(arm, "pl031", 0)),
        ("pl061", typed_and_analyzer::<Pl061>(arm, "pl061", 0)),
        ("fw_cfg arm", typed_and_analyzer::<FwCfg>(arm, "fw_cfg", 0)),
    ] {
        assert!(
            typed == expected,
            "{what}: {}",
            first_difference(expected.as_bytes(), typed.as_bytes())
        );
    }
}

/// The description of a one-device vmdesc.
fn described<'a>(arena: &'a DescriptionArena, device: &str) -> StreamSchema<'a> {
    let text = format!(r#"{{"page_size": 4096, "devices": [{device}]}}"#);
    StreamSchema::parse(arena, text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn dynamic_json(device: &str, body: &[u8]) -> String {
    let arena = DescriptionArena::new();
    let schema = described(&arena, device);
    let d = schema.devices()[0].description;
    let mut state = DynamicState::load_from_slice(d, body, d.version_id).unwrap();
    analyzer::to_json_string(&mut state).unwrap()
}

#[test]
fn members_of_one_name_apart_and_subsections_replacing_members() {
    let device = r#"{"name": "dev", "instance_id": 0, "vmsd_name": "dev", "version": 1,
        "fields": [
            {"name": "a", "type": "uint8", "size": 1},
            {"name": "b", "type": "uint16", "size": 2},
            {"name": "a", "type": "uint8", "size": 1},
            {"name": "dev/c", "type": "struct", "size": 1, "struct": {"vmsd_name": "inner",
                "version": 1, "fields": [{"name": "x", "type": "uint8", "size": 1}]}}
        ],
        "subsections": [
            {"vmsd_name": "dev/c", "version": 1,
             "fields": [{"name": "y", "type": "int8", "size": 1}]},
            {"vmsd_name": "dev/sub", "version": 1,
             "fields": [{"name": "z", "array_len": 2, "type": "uint8", "size": 1}]}
        ]}"#;
    let mut body = vec![1, 2, 3, 4, 5];
    body.extend_from_slice(&[5, 5, b'd', b'e', b'v', b'/', b'c', 0, 0, 0, 1, 0xff]);
    body.extend_from_slice(&[5, 7]);
    body.extend_from_slice(b"dev/sub");
    body.extend_from_slice(&[0, 0, 0, 1, 6, 7]);
    // Python: `json.dumps` of the analyzer's OrderedDict.
    let expected = r#"{
    "a": [
        "0x01",
        "0x04"
    ],
    "b": "0x0203",
    "dev/c": {
        "y": "0xff (-1)"
    },
    "dev/sub": {
        "z": [
            "0x06",
            "0x07"
        ]
    }
}"#;
    assert_eq!(dynamic_json(device, &body), expected);
}

#[test]
fn structs_of_one_name_apart_are_one_list_and_names_are_escaped() {
    let inner = r#"{"vmsd_name": "inner", "version": 1,
        "fields": [{"name": "x", "type": "uint8", "size": 1}]}"#;
    let device = format!(
        r#"{{"name": "dev", "instance_id": 0, "vmsd_name": "dev", "version": 1,
        "fields": [
            {{"name": "s", "index": 0, "type": "struct", "size": 1, "struct": {inner}}},
            {{"name": "t", "type": "uint8", "size": 1}},
            {{"name": "s", "index": 1, "type": "struct", "size": 1, "struct": {inner}}},
            {{"name": "\u00e9t\u00e9", "type": "bool", "size": 1}}
        ]}}"#
    );
    let expected = r#"{
    "s": [
        {
            "x": "0x01"
        },
        {
            "x": "0x02"
        }
    ],
    "t": "0x03",
    "\u00e9t\u00e9": true
}"#;
    assert_eq!(dynamic_json(&device, &[1, 3, 2, 1]), expected);
}

#[test]
fn arrays_pointers_and_bytes_as_the_analyzer_shows_them() {
    let device = r#"{"name": "dev", "instance_id": 0, "vmsd_name": "dev", "version": 1,
        "fields": [
            {"name": "one", "array_len": 1, "type": "uint32", "size": 4},
            {"name": "alone", "index": 3, "type": "uint16", "size": 2},
            {"name": "p", "array_len": 2, "type": "nullptr", "size": 1},
            {"name": "p", "index": 2, "type": "uint8", "size": 1},
            {"name": "p", "type": "nullptr", "size": 1},
            {"name": "eq", "type": "uint8 equal", "size": 1},
            {"name": "eq16", "type": "uint16 equal", "size": 2},
            {"name": "eq32", "type": "uint32 equal", "size": 4},
            {"name": "eq64", "type": "int64 equal", "size": 8},
            {"name": "le", "type": "int32 le", "size": 4},
            {"name": "t", "type": "timer", "size": 8},
            {"name": "odd", "type": "uint32", "size": 3},
            {"name": "neg", "type": "int16", "size": 3},
            {"name": "cfg", "type": "pci config", "size": 3},
            {"name": "vs", "type": "vstruct", "size": 2, "struct": {"vmsd_name": "v",
                "version": 2, "fields": [{"name": "w", "type": "uint16", "size": 2}]}},
            {"name": "q", "type": "qtailq", "size": 1},
            {"name": "empty", "type": "buffer", "size": 0}
        ]}"#;
    let body: Vec<u8> = [
        &[0, 0, 0, 9][..],         // one
        &[0, 7],                   // alone
        &[0x30, 0x30, 0x42, 0x30], // p: nullptr, nullptr, 0x42, nullptr
        &[0x80],                   // eq
        &[0xff, 0xfe],             // eq16
        &[0x80, 0, 0, 0xff],       // eq32
        &[0xff; 8],                // eq64
        &[0xff, 0xff, 0xff, 0xfe], // le
        &[0xff; 8],                // t
        &[1, 2, 3],                // odd
        &[0xff, 0xff, 0xfd],       // neg
        &[0xab, 0xcd, 0xef],       // cfg
        &[0x12, 0x34],             // vs
        &[0],                      // q
    ]
    .concat();
    let expected = r#"{
    "one": "0x00000009",
    "alone": "0x0007",
    "p": [
        "nullptr",
        "nullptr",
        "0x42",
        "nullptr"
    ],
    "eq": "0x80 (-128)",
    "eq16": "0xfffe (-2)",
    "eq32": "0x800000ff",
    "eq64": "0xffffffffffffffff (-1)",
    "le": "0xfffffffe (-2)",
    "t": "ff ff ff ff ff ff ff ff",
    "odd": "0x010203",
    "neg": "0xfffffd (-3)",
    "cfg": "ab cd ef",
    "vs": "12 34",
    "q": "00",
    "empty": ""
}"#;
    assert_eq!(dynamic_json(device, &body), expected);
}

// Derived types: the same visitor, fields named as the vmdesc names them.

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "elem", version = 1)]
struct Elem {
    v: u16,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pinned", version = 3)]
struct Pinned {
    w: u32,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "many/sub", version = 1, needed = ManySub::needed)]
struct ManySub {
    flag: bool,
}

impl ManySub {
    fn needed(&self) -> bool {
        self.flag
    }
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "many", version = 2)]
struct Many {
    b: bool,
    i8v: i8,
    i16v: i16,
    i32v: i32,
    i64v: i64,
    #[vmstate(equal)]
    eq8: u8,
    #[vmstate(equal)]
    eq64: u64,
    #[vmstate(le)]
    le: i32,
    d: f64,
    timer: Timer,
    #[vmstate(buffer)]
    buf: [u8; 3],
    #[vmstate(unused = 2)]
    _gap: (),
    #[vmstate(unused = 1)]
    _gap2: (),
    words: [u32; 3],
    grid: [[u8; 2]; 2],
    single: [u16; 1],
    n: u8,
    #[vmstate(len = n)]
    elems: Vec<Elem>,
    count_zero: u8,
    #[vmstate(len = count_zero)]
    none: Vec<u32>,
    ptrs: [Option<Box<Elem>>; 2],
    #[vmstate(struct_version = 3)]
    pinned: Pinned,
    #[vmstate(qtailq)]
    list: Vec<Elem>,
    bits: u32,
    #[vmstate(bitmap, bits = bits)]
    bitmap: Vec<u64>,
    nested: Elem,
    #[vmstate(subsection)]
    sub: ManySub,
}

fn many() -> Many {
    Many {
        b: true,
        i8v: -1,
        i16v: 2,
        i32v: -3,
        i64v: i64::MIN,
        eq8: 0x90,
        eq64: u64::MAX,
        le: 5,
        d: 1.5,
        timer: Timer::not_armed(),
        buf: [1, 2, 3],
        _gap: (),
        _gap2: (),
        words: [1, 2, 0xdead_beef],
        grid: [[1, 2], [3, 4]],
        single: [7],
        n: 2,
        elems: vec![Elem { v: 1 }, Elem { v: 2 }],
        count_zero: 0,
        none: Vec::new(),
        ptrs: [None, Some(Box::new(Elem { v: 9 }))],
        pinned: Pinned { w: 0x0102_0304 },
        list: vec![Elem { v: 0x0a0b }],
        bits: 70,
        bitmap: vec![1, 2],
        nested: Elem { v: 0xffff },
        sub: ManySub { flag: true },
    }
}

#[test]
fn a_derived_value_prints_as_its_vmdesc_describes_it() {
    let mut value = many();
    let typed = analyzer::to_json_string(&mut value).unwrap();
    let expected = r#"{
    "b": true,
    "i8v": "0xff (-1)",
    "i16v": "0x0002",
    "i32v": "0xfffffffd (-3)",
    "i64v": "0x8000000000000000 (-9223372036854775808)",
    "eq8": "0x90 (-112)",
    "eq64": "0xffffffffffffffff (-1)",
    "le": "0x00000005",
    "d": "3f f8 00 00 00 00 00 00",
    "timer": "ff ff ff ff ff ff ff ff",
    "buf": "01 02 03",
    "unused[0]": "00 00",
    "unused[1]": "00",
    "words": [
        "0x00000001",
        "0x00000002",
        "0xdeadbeef"
    ],
    "grid": [
        "0x01",
        "0x02",
        "0x03",
        "0x04"
    ],
    "single": "0x0007",
    "n": "0x02",
    "elems": [
        {
            "v": "0x0001"
        },
        {
            "v": "0x0002"
        }
    ],
    "count_zero": "0x00",
    "ptrs": [
        "nullptr",
        {
            "v": "0x0009"
        }
    ],
    "pinned": "01 02 03 04",
    "list": "01 0a 0b 00",
    "bits": "0x00000046",
    "bitmap": "00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 02",
    "nested": {
        "v": "0xffff"
    },
    "many/sub": {
        "flag": true
    }
}"#;
    assert_eq!(typed, expected);
}

/// The analyzer's JSON of a derived value equals that of the dynamic
/// state its own vmdesc describes (what the analyzer would read from a
/// stream carrying it).
fn same_as_through_vmdesc<T: VmState + Clone>(value: &T) {
    let mut bytes = Vec::new();
    let members = vmstate_core::vmdesc::save_with_vmdesc(&mut value.clone(), &mut bytes).unwrap();
    let device = format!(r#"{{"name": "dev", "instance_id": 0, {members}}}"#);
    let through_vmdesc = dynamic_json(&device, &bytes);
    let typed = analyzer::to_json_string(&mut value.clone()).unwrap();
    assert!(
        typed == through_vmdesc,
        "{}: {}\nvmdesc: {device}",
        T::DESCRIPTION.name,
        first_difference(through_vmdesc.as_bytes(), typed.as_bytes())
    );
}

/// The fields of [`Many`] whose vmdesc a run-time description accepts
/// (not `struct_version`: the vmdesc writer gives `vstruct` entries no
/// `"struct"`; not NULL pointers: their entries have no `"vmsd_name"`).
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "portable", version = 2)]
struct Portable {
    b: bool,
    i8v: i8,
    i64v: i64,
    #[vmstate(equal)]
    eq8: u8,
    #[vmstate(equal)]
    eq16: u16,
    #[vmstate(equal)]
    eq64: u64,
    #[vmstate(le)]
    le: i32,
    d: f64,
    timer: Timer,
    #[vmstate(buffer)]
    buf: [u8; 3],
    #[vmstate(unused = 2)]
    _gap: (),
    #[vmstate(unused = 1)]
    _gap2: (),
    words: [u32; 3],
    grid: [[u8; 2]; 2],
    single: [u16; 1],
    n: u8,
    #[vmstate(len = n)]
    elems: Vec<Elem>,
    count_zero: u8,
    #[vmstate(len = count_zero)]
    none: Vec<u32>,
    ptrs: [Option<Box<Elem>>; 2],
    #[vmstate(qtailq)]
    list: Vec<Elem>,
    bits: u32,
    #[vmstate(bitmap, bits = bits)]
    bitmap: Vec<u64>,
    nested: Elem,
    #[vmstate(subsection)]
    sub: PortableSub,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "portable/sub", version = 1, needed = PortableSub::needed)]
struct PortableSub {
    flag: bool,
}

impl PortableSub {
    fn needed(&self) -> bool {
        self.flag
    }
}

fn portable() -> Portable {
    Portable {
        b: true,
        i8v: -1,
        i64v: i64::MIN,
        eq8: 0x90,
        eq16: 0x8001,
        eq64: u64::MAX,
        le: 5,
        d: -0.0,
        timer: Timer::not_armed(),
        buf: [1, 2, 3],
        _gap: (),
        _gap2: (),
        words: [1, 2, 0xdead_beef],
        grid: [[1, 2], [3, 4]],
        single: [7],
        n: 2,
        elems: vec![Elem { v: 1 }, Elem { v: 2 }],
        count_zero: 0,
        none: Vec::new(),
        ptrs: [Some(Box::new(Elem { v: 8 })), Some(Box::new(Elem { v: 9 }))],
        // One element: with two, the vmdesc repeats the element's keys in
        // the field's object (as QEMU's does), which StreamSchema refuses.
        list: vec![Elem { v: 0x0a0b }],
        bits: 70,
        bitmap: vec![1, 2],
        nested: Elem { v: 0xffff },
        sub: PortableSub { flag: true },
    }
}

#[test]
fn derived_and_dynamic_state_print_alike() {
    same_as_through_vmdesc(&portable());
    same_as_through_vmdesc(&Portable {
        sub: PortableSub { flag: false },
        n: 1,
        elems: vec![Elem { v: 5 }],
        list: Vec::new(),
        ..portable()
    });
    same_as_through_vmdesc(&Hpet::default());
    same_as_through_vmdesc(&Ps2Kbd::default());
    same_as_through_vmdesc(&Mc146818Rtc::default());
    same_as_through_vmdesc(&I8254::default());
}

#[test]
fn one_visitor_prints_many_values_and_empty_structs() {
    #[derive(VmState, Clone, Debug, Default, PartialEq)]
    #[vmstate(name = "nothing", version = 1)]
    struct Nothing {}
    let mut v = AnalyzerJson::new();
    let mut a = Nothing {};
    visit_struct(&mut a, &mut v, "nothing").unwrap();
    let mut e = Elem { v: 3 };
    visit_struct(&mut e, &mut v, "elem").unwrap();
    assert_eq!(
        String::from_utf8(v.take_output()).unwrap(),
        "{}{\n    \"v\": \"0x0003\"\n}"
    );
    // A stream with no sections at all.
    let mut out = Vec::new();
    let bytes = [0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0];
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), None).unwrap();
    analyzer::write_state_json(&mut dec, &mut out, &StateJsonOptions::default()).unwrap();
    assert_eq!(out, b"{}\n");
}

#[test]
fn broken_streams_print_nothing_and_never_panic() {
    let bytes = std::fs::read(workspace().join("tests/fixtures/x86-pc-min.mig")).unwrap();
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    // Up to the EOF byte: the vmdesc follows it.
    let (vmdesc_at, _) = qemufile::stream::find_vmdesc(&bytes).unwrap();
    let end = vmdesc_at.saturating_sub(5);
    for cut in (0..end).step_by((end / 97).max(1)) {
        let mut out = Vec::new();
        if let Ok(mut dec) = StreamDecoder::open(SliceReader::new(&bytes[..cut]), Some(&schema)) {
            let r = analyzer::write_state_json(&mut dec, &mut out, &StateJsonOptions::default());
            assert!(r.is_err(), "cut at {cut} printed");
            assert!(out.is_empty(), "cut at {cut}: output written");
        }
    }
    // Flipped bytes in the device sections: an error or some output, no panic.
    for at in (284_000..bytes.len().min(300_000)).step_by(37) {
        let mut copy = bytes.clone();
        copy[at] ^= 0xa5;
        let mut dec = match StreamDecoder::open(SliceReader::new(&copy), Some(&schema)) {
            Ok(d) => d,
            Err(_) => continue,
        };
        let _ = analyzer::write_state_json(&mut dec, Vec::new(), &StateJsonOptions::default());
    }
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "t", version = 1)]
struct Clash {
    #[vmstate(name = "t/sub")]
    first: u8,
    #[vmstate(name = "x", exists = Clash::both)]
    second: u16,
    #[vmstate(name = "x", exists = Clash::both)]
    third: u16,
    #[vmstate(subsection)]
    sub: ClashSub,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "t/sub", version = 1, needed = ClashSub::needed)]
struct ClashSub {
    y: u8,
}

impl Clash {
    /// Alternatives that are both sent (QEMU allows it; the vmdesc then
    /// numbers them).
    fn both(&self, _version_id: u32) -> bool {
        true
    }
}

impl ClashSub {
    fn needed(&self) -> bool {
        self.y != 0
    }
}

/// A derived subsection named like a member replaces its value in place;
/// repeated wire names are made unique as the vmdesc makes them.
#[test]
fn derived_members_follow_the_same_dict_rules() {
    let mut value = Clash {
        first: 1,
        second: 2,
        third: 3,
        sub: ClashSub { y: 5 },
    };
    // Python: d = {"t/sub": "0x01", "x[0]": ..., "x[1]": ...}; d["t/sub"] = {...}
    let expected = r#"{
    "t/sub": {
        "y": "0x05"
    },
    "x[0]": "0x0002",
    "x[1]": "0x0003"
}"#;
    assert_eq!(analyzer::to_json_string(&mut value).unwrap(), expected);
    value.sub.y = 0;
    let expected = r#"{
    "t/sub": "0x01",
    "x[0]": "0x0002",
    "x[1]": "0x0003"
}"#;
    assert_eq!(analyzer::to_json_string(&mut value).unwrap(), expected);
    same_as_through_vmdesc(&value);
}
