//! The savevm side: whole streams written and read back by a registry of
//! devices, with QEMU's framing, ordering, instance ids and errors.

use qemufile::SliceReader;
use qemufile::stream::{Item, StreamOptions, StreamReader};
use vmstate_core::registry::{Priority, Registration, Registry, StreamSettings};
use vmstate_tests::devices::{hpet::Hpet, i8259::I8259};

fn settings() -> StreamSettings {
    StreamSettings::new("pc-i440fx-10.0")
}

fn pics() -> (I8259, I8259) {
    let master = I8259 {
        irr: 0x10,
        imr: 0xb8,
        ..I8259::default()
    };
    let slave = I8259 {
        irq_base: 0x70,
        ..I8259::default()
    };
    (master, slave)
}

#[test]
fn save_then_load_a_whole_stream() {
    let (mut master, mut slave) = pics();
    let mut hpet = Hpet::default();
    let mut stream = Vec::new();
    {
        let mut reg = Registry::new();
        let m = reg.register(&mut master, Registration::default()).unwrap();
        let s = reg.register(&mut slave, Registration::default()).unwrap();
        let h = reg.register(&mut hpet, Registration::default()).unwrap();
        assert_eq!((m.instance_id, s.instance_id, h.instance_id), (0, 1, 0));
        assert_eq!((m.section_id, s.section_id, h.section_id), (0, 1, 2));
        reg.save(&mut stream, &settings()).unwrap();
    }

    // The framing, read back with the stream container.
    let mut r = StreamReader::open(SliceReader::new(&stream), StreamOptions::default()).unwrap();
    assert_eq!(r.configuration().unwrap().machine(), b"pc-i440fx-10.0");
    let mut seen = Vec::new();
    loop {
        match r.next_item().unwrap() {
            Item::Section(h) => {
                seen.push((
                    h.idstr.to_string_lossy(),
                    h.instance_id,
                    h.section_id,
                    h.version_id,
                ));
                let body_start = r.position();
                let mut scratch = I8259::default();
                if h.idstr.as_bytes() == b"i8259" {
                    vmstate_core::load(&mut scratch, r.body(), 1).unwrap();
                    assert_eq!(r.position() - body_start, 16);
                } else {
                    let mut h2 = Hpet::default();
                    vmstate_core::load(&mut h2, r.body(), 2).unwrap();
                }
                r.finish_section().unwrap();
            }
            Item::Command(_) => {}
            Item::Eof => break,
        }
    }
    assert_eq!(
        seen,
        [
            ("i8259".into(), 0, 0, 1),
            ("i8259".into(), 1, 1, 1),
            ("hpet".into(), 0, 2, 2)
        ]
    );
    let vmdesc = r.read_vmdesc().unwrap();
    let json = std::str::from_utf8(vmdesc.json().unwrap()).unwrap();
    assert!(
        json.starts_with(
            r#"{"configuration": {"vmsd_name": "configuration", "version": 1, "fields": [{"name": "len", "type": "uint32", "size": 4}, {"name": "name", "type": "buffer", "size": 14}]}, "page_size": 4096, "devices": [{"name": "i8259", "instance_id": 0, "vmsd_name": "i8259", "version": 1, "fields": [{"name": "last_irr", "type": "uint8", "size": 1}"#
        ),
        "{json}"
    );

    // Loaded back by a second registry.
    let (mut master2, mut slave2) = (I8259::default(), I8259::default());
    let mut hpet2 = Hpet::default();
    {
        let mut reg = Registry::new();
        reg.register(&mut master2, Registration::default()).unwrap();
        reg.register(&mut slave2, Registration::default()).unwrap();
        reg.register(&mut hpet2, Registration::default()).unwrap();
        reg.load(SliceReader::new(&stream), &settings()).unwrap();
    }
    assert_eq!((master2, slave2, hpet2), (master, slave, hpet));
}

#[test]
fn the_d4_reference_stream() {
    // Reference §2.9 D4: one device "test-dev" v1 with x = 42, machine
    // pc-q35-9.2: exactly 396 bytes, vmdesc included.
    #[derive(vmstate_core::VmState, Clone, Default)]
    #[vmstate(name = "test-dev", version = 1)]
    struct TestDev {
        x: u32,
    }
    let mut dev = TestDev { x: 42 };
    let mut stream = Vec::new();
    let mut reg = Registry::new();
    reg.register(&mut dev, Registration::default()).unwrap();
    reg.save(&mut stream, &StreamSettings::new("pc-q35-9.2"))
        .unwrap();
    let json = r#"{"configuration": {"vmsd_name": "configuration", "version": 1, "fields": [{"name": "len", "type": "uint32", "size": 4}, {"name": "name", "type": "buffer", "size": 10}]}, "page_size": 4096, "devices": [{"name": "test-dev", "instance_id": 0, "vmsd_name": "test-dev", "version": 1, "fields": [{"name": "x", "type": "uint32", "size": 4}]}]}"#;
    let mut expected = vec![0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3];
    expected.extend_from_slice(&[0x07, 0, 0, 0, 0x0a]);
    expected.extend_from_slice(b"pc-q35-9.2");
    expected.extend_from_slice(&[0x04, 0, 0, 0, 0, 0x08]);
    expected.extend_from_slice(b"test-dev");
    expected.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x2a, 0x7e, 0, 0, 0, 0, 0x00,
    ]);
    expected.push(0x06);
    expected.extend_from_slice(&(json.len() as u32).to_be_bytes());
    expected.extend_from_slice(json.as_bytes());
    assert_eq!(json.len(), 336);
    assert_eq!(stream.len(), 396);
    assert_eq!(stream, expected);
}

#[test]
fn priority_orders_sections_and_qdev_paths_prefix_idstrs() {
    let (mut a, mut b) = pics();
    let mut hpet = Hpet::default();
    let mut stream = Vec::new();
    let mut reg = Registry::new();
    reg.register(&mut a, Registration::default()).unwrap();
    let r = reg
        .register(
            &mut hpet,
            Registration {
                priority: Priority::Apic,
                ..Registration::default()
            },
        )
        .unwrap();
    assert_eq!(r.section_id, 1);
    let r = reg
        .register(
            &mut b,
            Registration {
                qdev_path: Some("0000:00:01.0".into()),
                ..Registration::default()
            },
        )
        .unwrap();
    assert_eq!((r.idstr.as_str(), r.instance_id), ("0000:00:01.0/i8259", 0));
    reg.save(&mut stream, &settings()).unwrap();
    let mut rd = StreamReader::open(SliceReader::new(&stream), StreamOptions::default()).unwrap();
    let mut order = Vec::new();
    while let Item::Section(h) = rd.next_item().unwrap() {
        order.push(h.idstr.to_string_lossy());
        let n = if h.idstr.as_bytes() == b"hpet" {
            vmstate_core::save_to_vec(&mut Hpet::default())
                .unwrap()
                .len()
        } else {
            16
        };
        rd.skip_body(n as u64).unwrap();
    }
    assert_eq!(order, ["hpet", "i8259", "0000:00:01.0/i8259"]);
}

#[test]
fn duplicate_registration_is_refused() {
    let (mut a, mut b) = pics();
    let mut reg = Registry::new();
    let one = Registration {
        instance_id: Some(0),
        ..Registration::default()
    };
    reg.register(&mut a, one.clone()).unwrap();
    let err = reg.register(&mut b, one).unwrap_err();
    assert!(
        err.to_string()
            .contains("Detected duplicate SaveStateEntry: id=i8259, instance_id=0x0"),
        "{err}"
    );
}

#[test]
fn load_errors_name_qemus_problem_and_change_nothing() {
    let (mut master, mut slave) = pics();
    let mut stream = Vec::new();
    {
        let mut reg = Registry::new();
        reg.register(&mut master, Registration::default()).unwrap();
        reg.register(&mut slave, Registration::default()).unwrap();
        reg.save(&mut stream, &settings()).unwrap();
    }
    let load = |bytes: &[u8], machine: &str| {
        let (mut a, mut b) = (I8259::default(), I8259::default());
        let r = {
            let mut reg = Registry::new();
            reg.register(&mut a, Registration::default()).unwrap();
            reg.register(&mut b, Registration::default()).unwrap();
            reg.load(SliceReader::new(bytes), &StreamSettings::new(machine))
        };
        assert_eq!(
            (a, b),
            (I8259::default(), I8259::default()),
            "nothing changes"
        );
        r.unwrap_err().to_string()
    };
    let err = load(&stream, "pc-i440fx-10.1");
    assert!(
        err.contains("Machine type received is 'pc-i440fx-10.0' and local is 'pc-i440fx-10.1'"),
        "{err}"
    );

    // The second section's idstr i8259 -> i825X: unknown section.
    let second = stream.windows(6).rposition(|w| w == b"\x05i8259").unwrap();
    let mut bad = stream.clone();
    bad[second + 5] = b'X';
    let err = load(&bad, "pc-i440fx-10.0");
    assert!(
        err.contains("Unknown savevm section or instance 'i825X' 1"),
        "{err}"
    );

    // Version 2 for a v1 device.
    let mut bad = stream.clone();
    bad[second + 6 + 4 + 3] = 2;
    let err = load(&bad, "pc-i440fx-10.0");
    assert!(
        err.contains("unsupported version 2 for 'i8259' v1"),
        "{err}"
    );

    // Footer id of the second section (id 1) -> 999.
    let mut bad = stream.clone();
    let footer = second + 6 + 8 + 16;
    assert_eq!(bad[footer], 0x7e);
    bad[footer + 3..footer + 5].copy_from_slice(&[0x03, 0xe7]);
    let err = load(&bad, "pc-i440fx-10.0");
    assert!(
        err.contains("Mismatched section id in footer for i8259 - read 0x3e7 expected 0x1"),
        "{err}"
    );

    // Truncated inside the second section.
    let err = load(&stream[..footer - 3], "pc-i440fx-10.0");
    assert!(
        err.contains("error while loading state for instance 0x1 of device 'i8259'"),
        "{err}"
    );
}

#[test]
fn our_streams_decode_with_their_own_vmdesc_like_qemus() {
    use vmstate_cli::decode::{DecodeOptions, Decoder, Schema, reencode};
    let (mut master, mut slave) = pics();
    let mut hpet = Hpet::default();
    let mut stream = Vec::new();
    {
        let mut reg = Registry::new();
        reg.register(&mut master, Registration::default()).unwrap();
        reg.register(&mut slave, Registration::default()).unwrap();
        reg.register(&mut hpet, Registration::default()).unwrap();
        reg.save(&mut stream, &settings()).unwrap();
    }
    // The decoder splits every section by the vmdesc alone (as QEMU's
    // analyze-migration.py does), strictly: sizes, versions, subsections.
    let (_, json) = qemufile::stream::find_vmdesc(&stream).unwrap();
    let schema = Schema::parse(json).unwrap();
    let strict = DecodeOptions { strict: true };
    let mut dec = Decoder::open(SliceReader::new(&stream), Some(schema), strict).unwrap();
    let again = reencode(&mut dec, Vec::new(), |_| {}).unwrap();
    assert_eq!(again, stream);
    let layout = vmstate_tests::scan::scan(&stream).unwrap();
    let body = &stream[layout.find("hpet", 0).unwrap().body.clone()];
    assert_eq!(
        body,
        vmstate_core::save_to_vec(&mut Hpet::default()).unwrap()
    );
}
