//! Runs of fixed-layout fields, which the derive moves as one block for the
//! QEMUFile visitors (`Visitor::PACKED_RUNS`): the same bytes as field by
//! field, the same errors naming the field where the input ends, and every
//! field still seen by the visitors that look at fields.

use vmstate_core::qemufile::ram::RamConfig;
use vmstate_core::qemufile::stream::{SectionHeader, StreamOptions};
use vmstate_core::stream::StreamEncoder;
use vmstate_core::{Timer, VmState};

/// Every packable kind in one run, broken by a nested struct, a versioned
/// field and an `equal` field, with a second run after them.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "mixed", version = 2, minimum_version = 1)]
struct Mixed {
    a: u8,
    b: u16,
    c: u32,
    d: u64,
    e: i8,
    f: i16,
    g: i32,
    h: i64,
    flag: bool,
    x: f64,
    t: Timer,
    words: [u32; 3],
    grid: [[u16; 2]; 2],
    #[vmstate(buffer)]
    raw: [u8; 4],
    inner: Inner,
    #[vmstate(since = 2)]
    late: u16,
    #[vmstate(equal)]
    magic: u8,
    y: u8,
    z: u32,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "inner", version = 1)]
struct Inner {
    p: u8,
    q: u8,
}

fn sample() -> Mixed {
    Mixed {
        a: 0x01,
        b: 0x0203,
        c: 0x0405_0607,
        d: 0x0809_0a0b_0c0d_0e0f,
        e: -2,
        f: -3,
        g: -4,
        h: -5,
        flag: true,
        x: 1.5,
        t: Timer::from_raw(-1),
        words: [0x1111_1111, 0x2222_2222, 0x3333_3333],
        grid: [[0xa1a2, 0xa3a4], [0xa5a6, 0xa7a8]],
        raw: *b"RAW!",
        inner: Inner { p: 0x70, q: 0x71 },
        late: 0xbeef,
        magic: 0x5a,
        y: 0x99,
        z: 0xdead_beef,
    }
}

/// The bytes QEMU's field-by-field save writes, spelled out.
fn golden() -> Vec<u8> {
    let mut g = vec![0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07];
    g.extend_from_slice(&0x0809_0a0b_0c0d_0e0fu64.to_be_bytes());
    g.push(0xfe);
    g.extend_from_slice(&(-3i16).to_be_bytes());
    g.extend_from_slice(&(-4i32).to_be_bytes());
    g.extend_from_slice(&(-5i64).to_be_bytes());
    g.push(1);
    g.extend_from_slice(&1.5f64.to_bits().to_be_bytes());
    g.extend_from_slice(&(-1i64).to_be_bytes());
    for w in [0x1111_1111u32, 0x2222_2222, 0x3333_3333] {
        g.extend_from_slice(&w.to_be_bytes());
    }
    for h in [0xa1a2u16, 0xa3a4, 0xa5a6, 0xa7a8] {
        g.extend_from_slice(&h.to_be_bytes());
    }
    g.extend_from_slice(b"RAW!");
    g.extend_from_slice(&[0x70, 0x71]);
    g.extend_from_slice(&0xbeefu16.to_be_bytes());
    g.push(0x5a);
    g.push(0x99);
    g.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    g
}

/// Field names by wire byte, for the expected error paths.
fn field_at(offset: usize) -> &'static str {
    const LAYOUT: &[(&str, usize)] = &[
        ("a", 1),
        ("b", 2),
        ("c", 4),
        ("d", 8),
        ("e", 1),
        ("f", 2),
        ("g", 4),
        ("h", 8),
        ("flag", 1),
        ("x", 8),
        ("t", 8),
        ("words", 12),
        ("grid", 8),
        ("raw", 4),
        ("inner", 2),
        ("late", 2),
        ("magic", 1),
        ("y", 1),
        ("z", 4),
    ];
    let mut end = 0;
    for (name, size) in LAYOUT {
        end += size;
        if offset < end {
            return name;
        }
    }
    "none"
}

#[test]
fn packed_save_writes_the_bytes_of_the_field_by_field_walk() {
    let mut value = sample();
    let bytes = vmstate_core::save_to_vec(&mut value).unwrap();
    assert_eq!(bytes, golden());
    // Saving into a reused buffer appends the same bytes again.
    let mut out = bytes.clone();
    vmstate_core::save(&mut value, &mut out).unwrap();
    assert_eq!(&out[bytes.len()..], &bytes[..]);
}

#[test]
fn packed_load_reads_every_field() {
    let mut dst = Mixed {
        magic: 0x5a,
        ..Mixed::default()
    };
    vmstate_core::load_from_slice(&mut dst, &golden(), 2).unwrap();
    assert_eq!(dst, sample());
    // At version 1 the `since = 2` field is not in the stream.
    let mut v1 = golden();
    let late = v1.len() - 2 - 1 - 1 - 4;
    v1.drain(late..late + 2);
    let mut dst = Mixed {
        magic: 0x5a,
        late: 7,
        ..Mixed::default()
    };
    vmstate_core::load_from_slice(&mut dst, &v1, 1).unwrap();
    assert_eq!(dst.late, 7, "a field absent at version 1 keeps its value");
    assert_eq!(dst.z, 0xdead_beef);
}

#[test]
fn a_bool_is_any_byte_nonzero_for_true_in_a_packed_run_too() {
    let mut bytes = golden();
    let flag = 1 + 2 + 4 + 8 + 1 + 2 + 4 + 8;
    bytes[flag] = 0x80;
    let mut dst = Mixed {
        magic: 0x5a,
        ..Mixed::default()
    };
    vmstate_core::load_from_slice(&mut dst, &bytes, 2).unwrap();
    assert!(dst.flag);
}

#[test]
fn every_truncation_names_the_field_where_the_input_ends() {
    let bytes = golden();
    for cut in 0..bytes.len() {
        let before = Mixed {
            magic: 0x5a,
            ..Mixed::default()
        };
        let mut dst = before.clone();
        let err = vmstate_core::load_from_slice(&mut dst, &bytes[..cut], 2).unwrap_err();
        assert_eq!(dst, before, "cut at {cut}: the destination is unchanged");
        let path = err.path_string();
        let field = format!("mixed.{}", field_at(cut));
        assert!(
            path == field
                || path.starts_with(&format!("{field}["))
                || path.starts_with(&format!("{field}.")),
            "cut at {cut}: {err}"
        );
        // The offset is where the missing field (or element) starts.
        let offset = err.offset().unwrap();
        assert!(offset <= cut as u64, "cut at {cut}: offset {offset}");
    }
}

#[test]
fn a_failing_equal_field_after_a_packed_run_fails_there() {
    let mut dst = Mixed {
        magic: 0x11,
        ..Mixed::default()
    };
    let err = vmstate_core::load_from_slice(&mut dst, &golden(), 2).unwrap_err();
    assert_eq!(err.path_string(), "mixed.magic", "{err}");
    assert_eq!(dst.magic, 0x11);
    assert_eq!(dst.a, 0, "the failed load left the destination as it was");
}

#[test]
fn visitors_that_look_at_fields_still_see_every_field() {
    let mut value = sample();
    let text = vmstate_core::pretty_print(&mut value).unwrap();
    for field in ["a", "b", "c", "d", "flag", "x", "t", "y", "z"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("mixed.{field} = "))),
            "{field} missing from:\n{text}"
        );
    }
    assert!(text.contains("mixed.words[2] = "), "{text}");
}

/// Generic structs: fields that mention a parameter are walked one by one,
/// the others still packed; const-generic arrays and type aliases too.
#[derive(VmState, Clone, Debug, PartialEq)]
#[vmstate(name = "generic", version = 1)]
struct Generic<T: vmstate_core::VmStateField + Clone + Default, const N: usize> {
    a: u8,
    b: u16,
    t: T,
    arr: [u8; N],
    alias: Reg,
    c: u32,
}

type Reg = u32;

#[test]
fn generic_and_aliased_fields_walk_as_before() {
    let mut g = Generic::<u16, 3> {
        a: 1,
        b: 0x0203,
        t: 0x0405,
        arr: [6, 7, 8],
        alias: 0x090a_0b0c,
        c: 0x0d0e_0f10,
    };
    let bytes = vmstate_core::save_to_vec(&mut g).unwrap();
    assert_eq!(
        bytes,
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    );
    let mut back = Generic::<u16, 3> {
        a: 0,
        b: 0,
        t: 0,
        arr: [0; 3],
        alias: 0,
        c: 0,
    };
    vmstate_core::load_from_slice(&mut back, &bytes, 1).unwrap();
    assert_eq!(back, g);
}

/// A device whose `pre_save` computes a field.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "computed", version = 1, pre_save = Computed::compute)]
struct Computed {
    #[vmstate(skip)]
    live: u16,
    saved: u16,
}

impl Computed {
    fn compute(&mut self) -> Result<(), vmstate_core::Error> {
        self.saved = self.live;
        Ok(())
    }
}

#[test]
fn stream_encoder_sections_run_the_save_hooks() {
    let options = StreamOptions::default();
    let mut enc = StreamEncoder::open(Vec::new(), &options, None, RamConfig::new(4096)).unwrap();
    let header = SectionHeader::full(0, "computed", 0, 1).unwrap();
    let mut dev = Computed {
        live: 0x1234,
        saved: 0,
    };
    enc.write_section(&header, &mut dev).unwrap();
    assert_eq!(dev.saved, 0x1234, "pre_save ran");
    let out = enc.into_inner();
    assert!(
        out.windows(2).any(|w| w == [0x12, 0x34]),
        "the computed value is in the section: {out:02x?}"
    );
}
