//! `vmstate_core::edit::set_fields_with` with `allow_resize` and count
//! links, on real QEMU 10.0.2 streams: counted arrays grow (new elements
//! zero, settable in the same call) and shrink, counted buffers take values
//! of another length, the section is encoded again and its vmdesc entry is
//! written again as QEMU writes it for the new state, and every other byte
//! of the stream (other sections, RAM, footers, the rest of the vmdesc) is
//! the input's. Without the flag, or past what the count's type and the
//! limits allow, the edit is refused.

use std::ops::Range;

use qemufile::SliceReader;
use vmstate_core::Limits;
use vmstate_core::dynamic::{DescriptionArena, DynamicState, Value, VmdescDocument};
use vmstate_core::edit::{Assignment, Change, CountLink, EditError, EditOptions, set_fields_with};
use vmstate_core::stream::{Event, StreamDecoder, StreamSchema, section_root};
use vmstate_core::vmdesc::save_with_vmdesc;

fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

fn options(links: &[&str]) -> EditOptions {
    EditOptions {
        limits: Limits::DEFAULT,
        allow_resize: true,
        counts: links.iter().map(|l| CountLink::parse(l).unwrap()).collect(),
    }
}

fn edit(
    bytes: &[u8],
    assignments: &[&str],
    options: &EditOptions,
) -> Result<(Vec<u8>, Vec<Change>), EditError> {
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, bytes).unwrap().unwrap();
    let assignments: Vec<Assignment> = assignments
        .iter()
        .map(|a| Assignment::parse(a).unwrap())
        .collect();
    let mut out = Vec::new();
    let changes = set_fields_with(
        SliceReader::new(bytes),
        &schema,
        &assignments,
        &mut out,
        options,
    )?;
    Ok((out, changes))
}

/// Per device section: its root, the byte range of the whole section
/// (header to footer) and its decoded state's pretty dump; the vmdesc
/// (its offset and JSON). Every section is decoded with the stream's own
/// vmdesc, as `vmstate check` does.
struct Decoded {
    sections: Vec<(String, Range<usize>, String)>,
    vmdesc_at: usize,
    vmdesc: Vec<u8>,
}

fn decode(bytes: &[u8]) -> Decoded {
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, bytes).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(bytes), Some(&schema)).unwrap();
    let mut sections = Vec::new();
    while let Some(event) = dec.next_event().unwrap() {
        if let Event::Section(h) = event {
            let start = dec.item_offset() as usize;
            let mut state = dec.decode_section().unwrap();
            let end = dec.position() as usize;
            let text = vmstate_core::dynamic::pretty_print(&mut state).unwrap();
            sections.push((section_root(&h), start..end, text));
        }
    }
    let (at, json) = qemufile::stream::find_vmdesc(bytes).unwrap();
    Decoded {
        sections,
        vmdesc_at: at,
        vmdesc: json.to_vec(),
    }
}

/// The vmdesc text of device `idstr` instance `instance` (the whole entry).
fn entry(json: &[u8], idstr: &str, instance: u32) -> String {
    let doc: serde_json::Value = serde_json::from_slice(json).unwrap();
    let devices = doc["devices"].as_array().unwrap();
    let found = devices
        .iter()
        .filter(|d| d["name"] == idstr && d["instance_id"] == instance)
        .count();
    assert_eq!(found, 1, "{idstr} {instance}");
    // The text itself, as it is in the vmdesc: find it by its opening.
    let text = std::str::from_utf8(json).unwrap();
    let open = format!(
        "{{\"name\": {}, \"instance_id\": {instance}, ",
        serde_json::json!(idstr)
    );
    let start = text.find(&open).unwrap();
    let mut depth = 0;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return text[start..start + i + 1].to_owned();
                }
            }
            _ => {}
        }
    }
    panic!("unterminated entry")
}

/// The edited stream is the input except for section `root` and its vmdesc
/// entry: every other section is the same bytes and decodes to the same
/// values, RAM and everything before the section is the same bytes, and
/// the vmdesc is the input's with that entry replaced by exactly what the
/// vmdesc visitor writes for the edited section's state.
fn only_section_changed(input: &[u8], output: &[u8], root: &str, idstr: &str, instance: u32) {
    let (a, b) = (decode(input), decode(output));
    assert_eq!(a.sections.len(), b.sections.len());
    let k = a.sections.iter().position(|s| s.0 == root).unwrap();
    let (ra, rb) = (&a.sections[k].1, &b.sections[k].1);
    // Everything before the section (header, RAM, earlier sections).
    assert_eq!(ra.start, rb.start);
    assert!(input[..ra.start] == output[..rb.start]);
    // Everything after it up to the vmdesc.
    assert!(input[ra.end..a.vmdesc_at] == output[rb.end..b.vmdesc_at]);
    for (x, y) in a.sections.iter().zip(&b.sections) {
        assert_eq!(x.0, y.0);
        if x.0 != root {
            assert_eq!(x.2, y.2, "{}", x.0);
        }
    }
    // The vmdesc: the entry of the edited section differs, the rest is the
    // same text.
    let (ea, eb) = (
        entry(&a.vmdesc, idstr, instance),
        entry(&b.vmdesc, idstr, instance),
    );
    let (ta, tb) = (
        std::str::from_utf8(&a.vmdesc).unwrap(),
        std::str::from_utf8(&b.vmdesc).unwrap(),
    );
    assert_eq!(ta.replacen(&ea, &eb, 1), tb);
    // The new entry is what the vmdesc visitor writes for the new state:
    // its body, decoded with the new vmdesc, saved with its vmdesc again.
    let arena = DescriptionArena::new();
    let doc = VmdescDocument::parse(&b.vmdesc).unwrap();
    let schema = StreamSchema::from_document(&arena, &doc).unwrap();
    let d = schema.device(idstr, instance).unwrap().description;
    let body_start = rb.start + header_len(output, rb.start);
    let mut state =
        DynamicState::load(d, SliceReader::new(&output[body_start..]), d.version_id).unwrap();
    let keys = save_with_vmdesc(&mut state, Vec::new()).unwrap();
    assert_eq!(
        eb,
        format!(
            "{{\"name\": {}, \"instance_id\": {instance}, {keys}}}",
            serde_json::json!(idstr)
        )
    );
}

/// Bytes of a FULL section header at `at`: type, be32 id, counted idstr,
/// be32 instance, be32 version.
fn header_len(bytes: &[u8], at: usize) -> usize {
    let idlen = bytes[at + 5] as usize;
    1 + 4 + 1 + idlen + 4 + 4
}

fn field<'a>(state: &'a DynamicState<'_>, name: &str) -> &'a Value<'a> {
    state.field(name).unwrap()
}

/// The decoded state of section `root` of `bytes`, as a closure's argument.
fn with_section(bytes: &[u8], root: &str, f: impl FnOnce(&DynamicState<'_>)) {
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, bytes).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(bytes), Some(&schema)).unwrap();
    while let Some(event) = dec.next_event().unwrap() {
        if let Event::Section(h) = event {
            if section_root(&h) == root {
                let state = dec.decode_section().unwrap();
                return f(&state);
            }
        }
    }
    panic!("no section {root}")
}

const IOMMU: &str = "spapr_iommu[2147483648]";
const NVRAM: &str = "nvram@71000001/spapr_nvram";

#[test]
fn a_counted_array_of_structs_grows_with_zero_elements_that_can_be_set_at_once() {
    let input = fixture("x86-pc-min.mig");
    let (out, changes) = edit(
        &input,
        &[
            "hpet.timer[3].cmp=0x77",
            "hpet.num_timers_save=4",
            "hpet.timer[3].tn=3",
        ],
        &options(&["hpet.num_timers_save=timer"]),
    )
    .unwrap();
    // In the order given; the count was applied first.
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "hpet.timer[3].cmp",
            "hpet.num_timers_save",
            "hpet.timer[3].tn"
        ]
    );
    assert_eq!(
        changes[1].note.as_deref(),
        Some("resizes hpet.timer from 3 to 4 element(s) (new elements are zero)")
    );
    // One hpet_timer is 42 bytes.
    assert_eq!(out.len(), input.len() + 42);
    only_section_changed(&input, &out, "hpet", "hpet", 0);
    with_section(&out, "hpet", |s| {
        assert_eq!(field(s, "num_timers_save"), &Value::U8(4));
        let Value::List(timers) = field(s, "timer") else {
            panic!("timers")
        };
        assert_eq!(timers.len(), 4);
        let Value::Struct(t3) = &timers[3] else {
            panic!("timer 3")
        };
        assert_eq!(t3.field("cmp"), Some(&Value::U64(0x77)));
        assert_eq!(t3.field("tn"), Some(&Value::U8(3)));
        assert_eq!(t3.field("config"), Some(&Value::U64(0)));
        // A new timer is not armed (-1), as a zero QEMUTimer pointer is saved.
        assert_eq!(
            t3.field("qemu_timer"),
            Some(&Value::Timer(vmstate_core::Timer::not_armed()))
        );
    });
    let b = decode(&out);
    let e = entry(&b.vmdesc, "hpet", 0);
    assert!(e.contains("{\"name\": \"timer\", \"array_len\": 4, \"type\": \"struct\""));
}

#[test]
fn a_counted_array_shrinks_to_one_and_to_none_as_qemu_describes_them() {
    let input = fixture("x86-pc-min.mig");
    let o = options(&["hpet.num_timers_save=timer"]);
    let (one, _) = edit(&input, &["hpet.num_timers_save=1"], &o).unwrap();
    assert_eq!(one.len() + 2 * 42, input.len() - 16); // and "array_len": 3, gone from the vmdesc
    only_section_changed(&input, &one, "hpet", "hpet", 0);
    // QEMU describes one element like a plain field (no "array_len"), and
    // an array with none not at all.
    let e = entry(&decode(&one).vmdesc, "hpet", 0);
    assert!(
        e.contains("{\"name\": \"timer\", \"type\": \"struct\""),
        "{e}"
    );
    let (none, _) = edit(&input, &["hpet.num_timers_save=0"], &o).unwrap();
    only_section_changed(&input, &none, "hpet", "hpet", 0);
    let e = entry(&decode(&none).vmdesc, "hpet", 0);
    assert!(!e.contains("\"name\": \"timer\""), "{e}");
    with_section(&none, "hpet", |s| {
        assert_eq!(field(s, "num_timers_save"), &Value::U8(0));
        assert!(s.field("timer").is_none());
    });
}

#[test]
fn one_count_resizes_every_array_it_counts() {
    // ARM's cpreg_vmstate_array_len counts the indexes and the values.
    let input = fixture("arm-virt-a57.mig");
    let (out, changes) = edit(
        &input,
        &["cpu.cpreg_vmstate_array_len=272"],
        &options(&["cpu.cpreg_vmstate_array_len=cpreg_vmstate_indexes,cpu.cpreg_vmstate_values"]),
    )
    .unwrap();
    assert_eq!(
        changes[0].note.as_deref(),
        Some(
            "resizes cpu.cpreg_vmstate_indexes from 274 to 272 element(s) (trailing elements \
             dropped), cpu.cpreg_vmstate_values from 274 to 272 element(s) (trailing elements \
             dropped)"
        )
    );
    assert_eq!(out.len(), input.len() - 2 * 2 * 8);
    only_section_changed(&input, &out, "cpu", "cpu", 0);
    with_section(&input, "cpu", |before| {
        with_section(&out, "cpu", |after| {
            for name in ["cpreg_vmstate_indexes", "cpreg_vmstate_values"] {
                let (Value::U64s(a), Value::U64s(b)) = (field(before, name), field(after, name))
                else {
                    panic!("{name}")
                };
                assert_eq!(&a[..272], &b[..]);
            }
        })
    });
}

#[test]
fn a_counted_buffer_shrinks_grows_and_takes_a_value_of_another_length() {
    let input = fixture("ppc64-pseries.mig");
    let link = format!("{NVRAM}.size=buf");
    let o = options(&[&link]);
    // Shrink, and set its new last byte.
    let (out, changes) = edit(
        &input,
        &[
            &format!("{NVRAM}.size=0x2000"),
            &format!("{NVRAM}.buf[0x1fff]=0x5a"),
        ],
        &o,
    )
    .unwrap();
    assert_eq!(
        changes[0].note.as_deref(),
        Some(
            "resizes nvram@71000001/spapr_nvram.buf from 65536 to 8192 byte(s) (trailing \
             bytes dropped)"
        )
    );
    assert_eq!(out.len(), input.len() - (65536 - 8192) - 1);
    only_section_changed(&input, &out, NVRAM, NVRAM, 0);
    let e = entry(&decode(&out).vmdesc, NVRAM, 0);
    assert_eq!(
        e,
        "{\"name\": \"nvram@71000001/spapr_nvram\", \"instance_id\": 0, \"vmsd_name\": \
         \"spapr_nvram\", \"version\": 1, \"fields\": [{\"name\": \"size\", \"type\": \
         \"uint32\", \"size\": 4}, {\"name\": \"buf\", \"type\": \"buffer\", \"size\": 8192}]}"
    );
    with_section(&out, NVRAM, |s| {
        let Value::Bytes(b) = field(s, "buf") else {
            panic!("buf")
        };
        assert_eq!(b.len(), 8192);
        assert_eq!(b[8191], 0x5a);
    });
    // Grow: zero bytes appended.
    let (out, _) = edit(&input, &[&format!("{NVRAM}.size=0x10010")], &o).unwrap();
    assert_eq!(out.len(), input.len() + 16);
    only_section_changed(&input, &out, NVRAM, NVRAM, 0);
    // A whole value of another length sets the length field.
    let value = format!("0x{}", "a5".repeat(8200));
    let (out, changes) = edit(&input, &[&format!("{NVRAM}.buf={value}")], &o).unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].path, format!("{NVRAM}.size"));
    assert_eq!(changes[0].new, "0x2008");
    assert!(
        changes[0]
            .note
            .as_deref()
            .unwrap()
            .starts_with("set by the length of the value of nvram@71000001/spapr_nvram.buf; "),
        "{:?}",
        changes[0].note
    );
    only_section_changed(&input, &out, NVRAM, NVRAM, 0);
    with_section(&out, NVRAM, |s| {
        assert_eq!(field(s, "size"), &Value::U32(8200));
        assert_eq!(field(s, "buf"), &Value::Bytes(vec![0xa5; 8200]));
    });
}

#[test]
fn a_counted_array_of_integers_grows_in_a_section_with_others_of_its_name() {
    // Two spapr_iommu sections; the second has an empty table (no vmdesc
    // entry for it, so it cannot grow: nothing describes its elements).
    let input = fixture("ppc64-pseries.mig");
    let (out, _) = edit(
        &input,
        &[
            &format!("{IOMMU}.mig_nb_table=4100"),
            &format!("{IOMMU}.mig_table[4099]=0x1234567"),
        ],
        &options(&[&format!("{IOMMU}.mig_nb_table=mig_table")]),
    )
    .unwrap();
    assert_eq!(out.len(), input.len() + 4 * 8);
    only_section_changed(&input, &out, IOMMU, "spapr_iommu", 0x8000_0000);
    with_section(&out, IOMMU, |s| {
        let Value::U64s(t) = field(s, "mig_table") else {
            panic!("table")
        };
        assert_eq!((t.len(), t[4096], t[4099]), (4100, 0, 0x1234567));
    });
    let empty = "spapr_iommu[2147483649]";
    let err = edit(
        &input,
        &[&format!("{empty}.mig_nb_table=2")],
        &options(&[&format!("{empty}.mig_nb_table=mig_table")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "--count: no field `mig_table` follows `mig_nb_table` in `spapr_iommu` (the fields \
             after it: bypass, def_win); an array with no elements in the stream has no vmdesc \
             entry"
        ),
        "{err}"
    );
}

#[test]
fn resizing_is_refused_without_the_flag_and_past_the_counts_limits() {
    let x86 = fixture("x86-pc-min.mig");
    let arm = fixture("arm-virt-a57.mig");
    let ppc = fixture("ppc64-pseries.mig");
    let hpet = ["hpet.num_timers_save=timer"];
    let cpreg = ["cpu.cpreg_vmstate_array_len=cpreg_vmstate_indexes,cpreg_vmstate_values"];
    let iommu = format!("{IOMMU}.mig_nb_table=mig_table");
    let no_flag = EditOptions {
        allow_resize: false,
        ..options(&hpet)
    };
    let cases: Vec<(&[u8], Vec<String>, EditOptions, &str)> = vec![
        (
            &x86,
            vec!["hpet.num_timers_save=4".into()],
            no_flag,
            "hpet.num_timers_save: changing the count from 3 to 4 changes the size of \
             hpet.timer and of the section; give --allow-resize to allow it",
        ),
        (
            &x86,
            vec!["mc146818rtc.cmos_data=0x00".into()],
            EditOptions::default(),
            "the buffer holds 128 byte(s), the value has 1: that changes the section's size; \
             where a migrated field holds the buffer's length (VMSTATE_VBUFFER), \
             --allow-resize --count LEN_FIELD=cmos_data allows it",
        ),
        (
            &x86,
            vec!["mc146818rtc.cmos_data=0x00".into()],
            options(&[]),
            "nothing says which field holds its length: name it, --count LEN_FIELD=cmos_data",
        ),
        (
            &x86,
            vec!["hpet.num_timers_save=256".into()],
            options(&hpet),
            "hpet.num_timers_save: 256 does not fit uint8 (0..=0xff)",
        ),
        (
            &arm,
            vec!["cpu.cpreg_vmstate_array_len=275".into()],
            options(&cpreg),
            "the count is an `int32 le`: a destination loads it only up to its own value, \
             which the source's 274 stands for",
        ),
        (
            &arm,
            vec!["cpu.cpreg_vmstate_array_len=-1".into()],
            options(&cpreg),
            "-1 is negative: it counts the elements of cpu.cpreg_vmstate_indexes and \
             cpu.cpreg_vmstate_values, and a count is not negative",
        ),
        (
            &ppc,
            vec![format!("{IOMMU}.mig_nb_table=0x10000000")],
            options(&[&iommu]),
            "spapr_iommu[2147483648].mig_table with 268435456 element(s) would need 8 GiB",
        ),
        (
            &x86,
            vec!["hpet.num_timers_save=4".into()],
            options(&["hpet.config=timer"]),
            "`config` is 0 in the stream but `timer` has 3 element(s): it does not count `timer`",
        ),
        (
            &x86,
            vec!["hpet.num_timers_save=4".into()],
            options(&["hpet.num_timer=timer"]),
            "--count: no value of section hpet has this path; did you mean hpet.num_timers_save",
        ),
        (
            &x86,
            vec!["hpet.config=4".into()],
            options(&["hpet.timer[0].config=tn"]),
            "--count: the count is inside an element of an array",
        ),
        (
            &x86,
            vec!["hpet.config=4".into()],
            options(&["pl011.cr=x"]),
            "no section of the stream begins the path pl011.cr",
        ),
        (
            &x86,
            vec!["hpet.config=4".into()],
            options(&["mc146818rtc.cmos_index=cmos_data"]),
            "--count names section mc146818rtc, which no assignment changes",
        ),
    ];
    for (input, assignments, o, want) in cases {
        let a: Vec<&str> = assignments.iter().map(String::as_str).collect();
        let err = edit(input, &a, &o).unwrap_err().to_string();
        assert!(err.contains(want), "{a:?}: {err}");
    }
}

#[test]
fn an_integer_that_may_count_what_follows_it_is_set_with_a_warning() {
    let input = fixture("x86-pc-min.mig");
    let (out, changes) =
        edit(&input, &["hpet.num_timers_save=4"], &EditOptions::default()).unwrap();
    assert_eq!(out.len(), input.len());
    assert_eq!(
        changes[0].note.as_deref(),
        Some(
            "warning: its old value 0x3 is the length of timer after it; if it counts timer \
             (VMSTATE_VARRAY/VBUFFER), a destination now reads the section differently: to \
             resize, give --allow-resize --count hpet.num_timers_save=timer"
        )
    );
    // Setting it to its own value, or another integer, warns of nothing.
    let (_, changes) = edit(
        &input,
        &["hpet.num_timers_save=3", "mc146818rtc.cmos_index=5"],
        &EditOptions::default(),
    )
    .unwrap();
    assert!(changes.iter().all(|c| c.note.is_none()), "{changes:?}");
}

#[test]
fn count_links_are_parsed_and_bad_ones_refused() {
    let l = CountLink::parse("cpu.n=cpu.a, b").unwrap();
    assert_eq!(
        (l.count.as_str(), l.targets.clone()),
        ("cpu.n", vec!["a".into(), "b".into()])
    );
    for bad in ["cpu.n", "cpu.n=", "cpu.n=a.b", "cpu.n=a[0]"] {
        assert!(CountLink::parse(bad).is_err(), "{bad}");
    }
}
