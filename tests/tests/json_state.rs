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
    let out = vmstate_tests::real_streams(&[
        "tests/fixtures",
        "vmstate-cli/tests/data/streams",
        "qemufile/tests/data",
    ]);
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

// ---------------------------------------------------------------------------
// Every wire form of a typed model, to JSON and back.

mod forms {
    use std::collections::{BTreeMap, VecDeque};

    use vmstate_core::forms::TmpState;
    use vmstate_core::json_state::{from_json_str, to_json};
    use vmstate_core::{Error, Layout, Result, Timer, Visitor, VmState, VmStateField};

    #[derive(VmState, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
    #[vmstate(name = "key", version = 1)]
    pub struct Key {
        lo: u32,
        hi: u32,
    }

    #[derive(VmState, Clone, Debug, PartialEq, Default)]
    #[vmstate(name = "elem", version = 1)]
    pub struct Elem {
        b: bool,
        x: i8,
    }

    /// A custom VMStateInfo: four be32 levels, 0 or 1.
    #[derive(Clone, Debug, PartialEq, Default)]
    pub struct Levels([u32; 4]);

    impl VmStateField for Levels {
        const LAYOUT: Layout<'static> = Layout::Info {
            name: "irq levels",
            size: Some(16),
        };
        fn visit<'d, V: Visitor<'d>>(&mut self, v: &mut V, name: &'d str) -> Result<()> {
            v.enter_array(name, 4, 4)?;
            v.visit_u32_slice(name, &mut self.0)?;
            v.leave_array()?;
            if V::LOADING && self.0.iter().any(|&l| l > 1) {
                return Err(v.locate(Error::msg("a level is 0 or 1")));
            }
            Ok(())
        }
    }

    #[derive(VmState, Clone, Debug, PartialEq, Default)]
    #[vmstate(name = "all/tmp")]
    pub struct Tmp {
        diff: i64,
    }

    impl TmpState<All> for Tmp {
        fn from_parent(p: &All) -> Result<Self> {
            Ok(Tmp {
                diff: i64::from(p.hidden) - 1,
            })
        }
        fn into_parent(self, p: &mut All) -> Result<()> {
            p.hidden = u32::try_from(self.diff + 1).map_err(|_| "hidden out of range")?;
            Ok(())
        }
    }

    #[derive(VmState, Clone, Debug, PartialEq, Default)]
    #[vmstate(name = "all/sub", version = 2)]
    pub struct Sub {
        s: u16,
    }

    fn sub_needed(a: &All) -> bool {
        a.sub.s != 0
    }

    #[derive(VmState, Clone, Debug, PartialEq, Default)]
    #[vmstate(name = "all", version = 3, minimum_version = 1)]
    pub struct All {
        i16s: [i16; 2],
        grid: [[u8; 2]; 2],
        #[vmstate(equal)]
        magic: u32,
        #[vmstate(le)]
        max: i32,
        d: f64,
        t: Timer,
        #[vmstate(unused = 4)]
        _gone: (),
        #[vmstate(buffer)]
        raw: [u8; 3],
        n: u32,
        #[vmstate(buffer, len = n)]
        blob: Vec<u8>,
        count: u8,
        #[vmstate(len = count)]
        words: Vec<u16>,
        nbits: i32,
        #[vmstate(bitmap, bits = nbits)]
        map: Vec<u64>,
        ptrs: [Option<Elem>; 3],
        #[vmstate(auto_alloc)]
        auto: [Option<Elem>; 3],
        #[vmstate(qtailq)]
        list: Vec<Elem>,
        #[vmstate(qlist)]
        deque: VecDeque<Elem>,
        #[vmstate(gtree)]
        tree: BTreeMap<Key, Elem>,
        #[vmstate(gtree)]
        direct: BTreeMap<u64, Elem>,
        levels: Levels,
        #[vmstate(struct_version = 1)]
        pinned: Key,
        #[vmstate(tmp = Tmp)]
        tmp: (),
        #[vmstate(skip)]
        hidden: u32,
        #[vmstate(since = 3)]
        late: u64,
        #[vmstate(subsection, needed = sub_needed)]
        sub: Sub,
    }

    fn elem(b: bool, x: i8) -> Elem {
        Elem { b, x }
    }

    pub fn sample() -> All {
        All {
            i16s: [-2, 300],
            grid: [[1, 2], [3, 4]],
            magic: 0xcafe,
            max: 5,
            d: -0.0,
            t: Timer::armed_at(123),
            _gone: (),
            raw: [1, 2, 3],
            n: 2,
            blob: vec![0xaa, 0xbb],
            count: 3,
            words: vec![1, 2, 0xffff],
            nbits: 70,
            map: vec![1, 1 << 63],
            ptrs: [Some(elem(true, -1)), None, Some(elem(false, 7))],
            auto: [None, Some(elem(true, 1)), None],
            list: vec![elem(true, 2), elem(false, -3)],
            deque: VecDeque::from([elem(true, 4)]),
            tree: BTreeMap::from([
                (Key { lo: 1, hi: 2 }, elem(true, 5)),
                (Key { lo: 3, hi: 4 }, elem(false, 6)),
            ]),
            direct: BTreeMap::from([(7, elem(true, 8))]),
            levels: Levels([0, 1, 1, 0]),
            pinned: Key { lo: 9, hi: 10 },
            tmp: (),
            hidden: 42,
            late: u64::MAX,
            sub: Sub { s: 0x1234 },
        }
    }

    /// A destination configured like the sample's source: the same `equal`
    /// value, a larger `le` bound, the same NULL slots of `ptrs` (a plain
    /// array of pointers loads only into the slots that are not NULL, as in
    /// QEMU).
    pub fn destination() -> All {
        All {
            magic: 0xcafe,
            max: 10,
            ptrs: [Some(Elem::default()), None, Some(Elem::default())],
            ..All::default()
        }
    }

    #[test]
    fn every_form_goes_to_json_and_back() {
        let mut value = sample();
        let text = to_json(&mut value).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let fields = &parsed["fields"];
        assert_eq!(fields["i16s"]["value"], serde_json::json!([-2, 300]));
        assert_eq!(fields["grid"]["value"], serde_json::json!([[1, 2], [3, 4]]));
        assert_eq!(fields["magic"]["type"], "uint32 equal");
        assert_eq!(fields["d"]["value"], "0x8000000000000000");
        assert_eq!(fields["t"]["value"], 123);
        assert_eq!(fields["unused"]["value"], 4);
        assert_eq!(fields["blob"]["value"], "0xaabb");
        assert_eq!(fields["ptrs"]["value"][1], serde_json::Value::Null);
        assert_eq!(fields["auto"]["value"][0], serde_json::Value::Null);
        assert_eq!(fields["auto"]["value"][1]["fields"]["x"]["value"], 1);
        assert_eq!(fields["list"]["value"].as_array().unwrap().len(), 2);
        assert_eq!(fields["tree"]["value"][0], 2);
        assert_eq!(fields["direct"]["value"][1][0][0], 7);
        assert_eq!(fields["levels"]["value"], serde_json::json!([[0, 1, 1, 0]]));
        assert_eq!(fields["tmp"]["type"], "tmp");
        assert!(fields.get("hidden").is_none());
        assert_eq!(parsed["subsections"]["all/sub"]["version"], 2);
        let mut back = destination();
        from_json_str(&mut back, &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, value);
        assert_eq!(
            vmstate_core::save_to_vec(&mut back).unwrap(),
            vmstate_core::save_to_vec(&mut value).unwrap()
        );
        assert_eq!(to_json(&mut back).unwrap(), text);
    }

    /// A loaded JSON document is checked as a byte stream is: versions,
    /// `equal` and `le` fields, types, lengths, unknown and missing fields,
    /// custom checks; a failed load changes nothing.
    #[test]
    fn json_loads_are_checked_and_transactional() {
        let mut value = sample();
        let text = to_json(&mut value).unwrap();
        let dest = destination();
        let cases: &[(&str, &str, &str)] = &[
            ("\"value\": 51966", "\"value\": 51967", "0xcaff != 0xcafe"),
            (
                "\"max\": {\"type\": \"int32 le\", \"value\": 5}",
                "\"max\": {\"type\": \"int32 le\", \"value\": 11}",
                "11",
            ),
            (
                "\"n\": {\"type\": \"uint32\", \"value\": 2}",
                "\"n\": {\"type\": \"uint16\", \"value\": 2}",
                "of type \"uint16\"",
            ),
            (
                "\"value\": [-2, 300]",
                "\"value\": [-2, 300, 1]",
                "3 element(s)",
            ),
            (
                "\"value\": [-2, 300]",
                "\"value\": [-2, 40000]",
                "40000 does not fit int16",
            ),
            (
                "\"blob\": {\"type\": \"buffer\", \"value\": \"0xaabb\"}",
                "\"blob\": {\"type\": \"buffer\", \"value\": \"0xaa\"}",
                "holds 2 byte(s)",
            ),
            (
                "\"levels\": {\"type\": \"irq levels\", \"value\": [[0, 1, 1, 0]]}",
                "\"levels\": {\"type\": \"irq levels\", \"value\": [[0, 2, 1, 0]]}",
                "a level is 0 or 1",
            ),
            ("\"late\"", "\"later\"", "no field \"late\""),
            (
                "\"vmsd_name\": \"all\", \"version\": 3",
                "\"vmsd_name\": \"all\", \"version\": 4",
                "version 4",
            ),
            ("\"all/sub\"", "\"all/other\"", "all/other"),
        ];
        for (from, to, want) in cases {
            assert!(text.contains(from), "{from}\n{text}");
            let bad = text.replacen(from, to, 1);
            let mut target = dest.clone();
            let err = from_json_str(&mut target, &bad).unwrap_err().to_string();
            assert!(err.contains(want), "{to}: {err}");
            assert_eq!(target, dest, "{to}: a failed load changed the destination");
        }
        // An extra field.
        let bad = text.replacen(
            "\"fields\": {",
            "\"fields\": {\"extra\": {\"type\": \"uint8\", \"value\": 1},",
            1,
        );
        let err = from_json_str(&mut dest.clone(), &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"extra\""), "{err}");
        // Hex strings are numbers too, signed ones as their bits.
        let hexed = text.replacen(
            "\"value\": [-2, 300]",
            "\"value\": [\"0xfffe\", \"0x12c\"]",
            1,
        );
        let mut target = dest.clone();
        from_json_str(&mut target, &hexed).unwrap();
        assert_eq!(target.i16s, [-2, 300]);
    }

    /// An older version: fields added since are not in the JSON, and a
    /// document with them is refused.
    #[test]
    fn versions_decide_the_fields() {
        let mut value = sample();
        let text = to_json(&mut value).unwrap();
        let v2 = text.replacen(
            "\"vmsd_name\": \"all\", \"version\": 3",
            "\"vmsd_name\": \"all\", \"version\": 2",
            1,
        );
        let err = from_json_str(&mut destination(), &v2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"late\""), "{err}");
    }
}

/// Truncated or corrupted JSON never panics and never loads.
#[test]
fn broken_json_is_refused_cleanly() {
    let mut value = forms::sample();
    let text = json_state::to_json(&mut value).unwrap();
    let dest = forms::destination();
    for cut in (0..text.len()).step_by(7) {
        let mut target = dest.clone();
        assert!(json_state::from_json_str(&mut target, &text[..cut]).is_err());
        assert_eq!(target, dest);
    }
    // A document that would take more memory than allowed once parsed.
    let wide = format!("[{}0]", "0,".repeat(100_000));
    let err = parse_bounded(wide.as_bytes(), 1 << 20)
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than"), "{err}");
    // Deep nesting is an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_bounded(deep.as_bytes(), 1 << 30).is_err());
}
