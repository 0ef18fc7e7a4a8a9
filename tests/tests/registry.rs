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
    use vmstate_core::stream::{StreamDecoder, StreamSchema, reencode};
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
    // The engine decodes every section with the vmdesc alone (as QEMU's
    // analyze-migration.py does), and encodes the values again.
    let arena = vmstate_core::dynamic::DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &stream).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&stream), Some(&schema)).unwrap();
    let again = reencode(&mut dec, Vec::new(), |_| {}).unwrap();
    assert_eq!(again, stream);
    let layout = vmstate_tests::scan::scan(&stream).unwrap();
    let body = &stream[layout.find("hpet", 0).unwrap().body.clone()];
    assert_eq!(
        body,
        vmstate_core::save_to_vec(&mut Hpet::default()).unwrap()
    );
}

// ------------------------------------------------------ real QEMU streams

use std::collections::BTreeMap;

use qemufile::ram::{RamBlock, RamConfig, RamRecord};
use qemufile::stream::{IdStr, SectionHeader, SectionKind};
use serde_json::Value as Json;
use vmstate_core::VmState;
use vmstate_core::dynamic::{DescriptionArena, DynamicState, Value};
use vmstate_core::registry::{DiscardRam, LoadOptions, RamPayload, RamSink};
use vmstate_core::stream::StreamSchema;
use vmstate_tests::devices::fw_cfg::FwCfg;
use vmstate_tests::devices::i8254::I8254;
use vmstate_tests::devices::mc146818rtc::Mc146818Rtc;
use vmstate_tests::devices::piix3::Piix3;
use vmstate_tests::devices::ps2::{Ps2Kbd, Ps2Mouse};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/").to_owned() + name).unwrap()
}

/// The i8042 controller (`hw/input/pckbd.c`): section `pckbd` holds the
/// `kbd` struct, whose description is also named `pckbd` and carries the
/// `pckbd/extended_state` subsection, as the stream's vmdesc says.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pckbd", version = 3)]
struct PckbdIsa {
    kbd: Kbd,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pckbd", version = 3)]
struct Kbd {
    write_cmd: u8,
    status: u8,
    mode: u8,
    pending_tmp: u8,
    #[vmstate(subsection)]
    extended_state: KbdExtendedState,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "pckbd/extended_state", version = 0)]
struct KbdExtendedState {
    migration_flags: u32,
    obsrc: u32,
    obdata: u8,
    cbdata: u8,
}

/// Every device of `x86-pc-min.mig` there is a model for.
#[derive(Clone, Debug, Default, PartialEq)]
struct X86Devices {
    fw_cfg: FwCfg,
    rtc: Mc146818Rtc,
    piix3: Piix3,
    pic: [I8259; 2],
    hpet: Hpet,
    pit: I8254,
    kbd: Ps2Kbd,
    mouse: Ps2Mouse,
    pckbd: PckbdIsa,
}

impl X86Devices {
    /// A registry of the devices, as the `pc` machine registers them
    /// (`pckbd` only when `with_pckbd`).
    fn registry(&mut self, with_pckbd: bool) -> Registry<'_> {
        let mut reg = Registry::new();
        let id = |n| Registration {
            instance_id: Some(n),
            ..Registration::default()
        };
        reg.register(&mut self.fw_cfg, id(0)).unwrap();
        reg.register(&mut self.rtc, id(0)).unwrap();
        let piix3 = Registration {
            qdev_path: Some("0000:00:01.0".into()),
            ..Registration::default()
        };
        reg.register(&mut self.piix3, piix3).unwrap();
        let [master, slave] = &mut self.pic;
        reg.register(master, id(0)).unwrap();
        reg.register(slave, id(1)).unwrap();
        reg.register(&mut self.hpet, id(0)).unwrap();
        reg.register(&mut self.pit, id(0)).unwrap();
        reg.register(&mut self.kbd, id(0)).unwrap();
        reg.register(&mut self.mouse, id(0)).unwrap();
        if with_pckbd {
            reg.register(&mut self.pckbd, id(0)).unwrap();
        }
        reg
    }
}

/// A RAM sink that records what it is given and checks every payload
/// against the stream bytes at the offset the payload says it is at.
struct RecordingRam<'a> {
    stream: &'a [u8],
    sections: Vec<SectionKind>,
    mem_size: Option<u64>,
    blocks: Vec<(String, u64)>,
    zero_pages: BTreeMap<String, u64>,
    pages: BTreeMap<String, u64>,
    page_bytes: u64,
    nonzero_page_bytes: u64,
    eos: u64,
}

impl<'a> RecordingRam<'a> {
    fn new(stream: &'a [u8]) -> Self {
        RecordingRam {
            stream,
            sections: Vec::new(),
            mem_size: None,
            blocks: Vec::new(),
            zero_pages: BTreeMap::new(),
            pages: BTreeMap::new(),
            page_bytes: 0,
            nonzero_page_bytes: 0,
            eos: 0,
        }
    }
}

impl RamSink for RecordingRam<'_> {
    fn section(&mut self, header: &SectionHeader, config: &RamConfig) -> vmstate_core::Result<()> {
        assert_eq!(config.page_size, 4096);
        self.sections.push(header.kind);
        Ok(())
    }
    fn mem_size(&mut self, total: u64) -> vmstate_core::Result<()> {
        self.mem_size = Some(total);
        Ok(())
    }
    fn block(&mut self, block: &RamBlock, region: &mut RamPayload<'_>) -> vmstate_core::Result<()> {
        assert_eq!(region.remaining(), 0, "no mapped-ram here");
        self.blocks
            .push((block.name.to_string_lossy(), block.length));
        Ok(())
    }
    fn zero_page(&mut self, block: &IdStr, offset: u64) -> vmstate_core::Result<()> {
        assert_eq!(offset % 4096, 0);
        *self.zero_pages.entry(block.to_string_lossy()).or_default() += 1;
        Ok(())
    }
    fn page(
        &mut self,
        block: &IdStr,
        offset: u64,
        data: &mut RamPayload<'_>,
    ) -> vmstate_core::Result<()> {
        assert_eq!(offset % 4096, 0);
        assert_eq!(data.remaining(), 4096);
        let at = data.offset() as usize;
        // Read in two pieces, as a sink writing into two host pages would.
        let mut page = vec![0u8; 4096];
        data.read(&mut page[..1000])?;
        data.read(&mut page[1000..])?;
        assert_eq!(data.remaining(), 0);
        assert_eq!(page, self.stream[at..at + 4096], "payload at its offset");
        *self.pages.entry(block.to_string_lossy()).or_default() += 1;
        self.page_bytes += 4096;
        self.nonzero_page_bytes += page.iter().filter(|&&b| b != 0).count() as u64;
        Ok(())
    }
    fn record(&mut self, record: &RamRecord) -> vmstate_core::Result<()> {
        if record.kind == qemufile::ram::RamKind::Eos {
            self.eos += 1;
        }
        Ok(())
    }
}

fn state_json() -> Json {
    serde_json::from_slice(&fixture("x86-pc-min.state.json")).unwrap()
}

/// The analyzer's integer text (`"0x0000000065920080"`, `"0xffffffff (-1)"`).
fn int(j: &Json) -> u64 {
    let s = j.as_str().unwrap();
    let hex = s.split(' ').next().unwrap().strip_prefix("0x").unwrap();
    u64::from_str_radix(hex, 16).unwrap()
}

/// The analyzer's byte-string text (`"86 80 00 70"`).
fn byte_string(j: &Json) -> Option<Vec<u8>> {
    let s = j.as_str()?;
    s.split(' ')
        .map(|b| {
            (b.len() == 2)
                .then(|| u8::from_str_radix(b, 16).ok())
                .flatten()
        })
        .collect()
}

fn scalar(v: &Value<'_>) -> Option<u64> {
    Some(match *v {
        Value::Bool(b) => b.into(),
        Value::I8(x) => x as u8 as u64,
        Value::I16(x) => x as u16 as u64,
        Value::I32(x) => x as u32 as u64,
        Value::I64(x) => x as u64,
        Value::U8(x) => x.into(),
        Value::U16(x) => x.into(),
        Value::U32(x) => x.into(),
        Value::U64(x) => x,
        _ => return None,
    })
}

/// Compares the top-level scalar and buffer members of the analyzer's
/// `state.json` entry with a decoded section; returns how many compared.
fn compare_with_analyzer(entry: &Json, state: &DynamicState<'_>, what: &str) -> usize {
    let Json::Object(members) = entry else {
        panic!("{what}: not an object");
    };
    let mut compared = 0;
    for (name, j) in members {
        if name.contains('[') {
            continue; // repeated names, numbered by the analyzer
        }
        let (Some(text), Some(value)) = (j.as_str(), state.field(name)) else {
            continue;
        };
        if text.starts_with("0x") {
            if let Some(v) = scalar(value) {
                // The analyzer prints signed fields' bits at their width.
                let width = text.split(' ').next().unwrap().len() - 2;
                let mask = if width >= 16 {
                    u64::MAX
                } else {
                    (1 << (4 * width)) - 1
                };
                assert_eq!(v & mask, int(j), "{what}.{name}");
                compared += 1;
            }
        } else if let (Some(bytes), Value::Bytes(b)) = (byte_string(j), value) {
            assert_eq!(&bytes, b, "{what}.{name}");
            compared += 1;
        }
    }
    compared
}

#[test]
fn a_real_x86_stream_loads_into_the_models_with_unknown_sections_kept() {
    let bytes = fixture("x86-pc-min.mig");
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let mut dev = X86Devices::default();
    let mut ram = RecordingRam::new(&bytes);
    let report = {
        let mut reg = dev.registry(true);
        reg.load_with(
            SliceReader::new(&bytes),
            &settings(),
            &mut ram,
            &LoadOptions::keeping_unknown(&schema),
        )
        .unwrap()
    };

    // Every section: 10 into the models, 20 kept, nothing registered missing.
    let loaded: Vec<(String, u32)> = report
        .loaded
        .iter()
        .map(|l| (l.header.idstr.to_string_lossy(), l.header.instance_id))
        .collect();
    assert_eq!(
        loaded,
        [
            ("fw_cfg".to_string(), 0),
            ("mc146818rtc".into(), 0),
            ("0000:00:01.0/PIIX3".into(), 0),
            ("i8259".into(), 0),
            ("i8259".into(), 1),
            ("hpet".into(), 0),
            ("i8254".into(), 0),
            ("ps2kbd".into(), 0),
            ("ps2mouse".into(), 0),
            ("pckbd".into(), 0),
        ]
    );
    assert_eq!(report.loaded[3].offset, 290_652, "i8259 header offset");
    assert_eq!(report.kept.len(), 20);
    assert!(
        report.not_in_stream.is_empty(),
        "{:?}",
        report.not_in_stream
    );
    assert_eq!(
        report.configuration.as_ref().unwrap().machine(),
        b"pc-i440fx-10.0"
    );
    assert_eq!(report.commands.len(), 1);
    assert_eq!(report.commands[0].name(), Some("SWITCHOVER_START"));
    assert_eq!(report.vmdesc.json().map(<[u8]>::len), Some(98_918));

    // RAM: 6 blocks, 51 data pages, 8271 zero pages, in START, PART, END.
    assert_eq!(
        ram.sections,
        [SectionKind::Start, SectionKind::Part, SectionKind::End]
    );
    assert_eq!(ram.eos, 3);
    let json = state_json();
    let sizes = json.get("ram (1)").unwrap().get("section sizes").unwrap();
    let Json::Object(sizes) = sizes else { panic!() };
    let expected: Vec<(String, u64)> = sizes.iter().map(|(k, v)| (k.clone(), int(v))).collect();
    assert_eq!(ram.blocks, expected);
    assert_eq!(ram.mem_size, Some(expected.iter().map(|(_, n)| n).sum()));
    assert_eq!(ram.pages.values().sum::<u64>(), 51);
    assert_eq!(ram.zero_pages.values().sum::<u64>(), 8271);
    assert_eq!(ram.page_bytes, 51 * 4096);
    assert!(ram.nonzero_page_bytes > 0);
    // Every page of a block is sent once, as a zero page or with data.
    for (name, len) in &ram.blocks {
        let sent = ram.pages.get(name).unwrap_or(&0) + ram.zero_pages.get(name).unwrap_or(&0);
        assert_eq!(sent, len / 4096, "{name}");
    }
    assert_eq!(report.ram.blocks, 6);
    assert_eq!(report.ram.pages, 51);
    assert_eq!(report.ram.zero_pages, 8271);
    assert_eq!(report.ram.sections, 3);

    // The models hold what QEMU's analyzer decoded.
    let section = |key: &str| json.get(key).unwrap_or_else(|| panic!("{key}"));
    let hpet = section("hpet (21)");
    assert_eq!(
        u64::from(dev.hpet.num_timers_save),
        int(hpet.get("num_timers_save").unwrap())
    );
    assert_eq!(dev.hpet.num_timers_save, 3);
    let timers = hpet.get("timer").unwrap().as_array().unwrap();
    for (t, j) in dev.hpet.timer.iter().zip(timers) {
        assert_eq!(t.config, int(j.get("config").unwrap()));
        assert_eq!(t.cmp, int(j.get("cmp").unwrap()));
    }
    let rtc = section("mc146818rtc (13)");
    assert_eq!(dev.rtc.base_rtc, int(rtc.get("base_rtc").unwrap()));
    assert_eq!(dev.rtc.base_rtc, 0x6592_0080);
    assert_eq!(
        dev.rtc.cmos_data.to_vec(),
        byte_string(rtc.get("cmos_data").unwrap()).unwrap()
    );
    let pit = section("i8254 (22)")
        .get("channels")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(
        u64::from(dev.pit.channels[0].mode),
        int(pit[0].get("mode").unwrap())
    );
    assert_eq!(
        dev.pit.channels[0].next_transition_time as u64,
        int(pit[0].get("next_transition_time").unwrap())
    );
    let acpi = section("fw_cfg (10)").get("fw_cfg/acpi_mr").unwrap();
    assert_eq!(
        dev.fw_cfg.acpi_mr.table_mr_size,
        int(acpi.get("table_mr_size").unwrap())
    );
    assert_eq!(dev.fw_cfg.acpi_mr.table_mr_size, 0x20000);
    let pci = section("0000:00:01.0/PIIX3 (17)").get("dev").unwrap();
    assert_eq!(
        dev.piix3.dev.config.0,
        byte_string(pci.get("config[0]").unwrap()).unwrap()
    );
    let kbd = section("ps2kbd (25)").get("parent_obj").unwrap();
    assert_eq!(
        dev.kbd.parent_obj.write_cmd as u32 as u64,
        int(kbd.get("write_cmd").unwrap())
    );
    assert_eq!(dev.kbd.parent_obj.write_cmd, -1);
    let pckbd = section("pckbd (27)").get("kbd").unwrap();
    assert_eq!(
        u64::from(dev.pckbd.kbd.status),
        int(pckbd.get("status").unwrap())
    );
    assert_eq!((dev.pckbd.kbd.status, dev.pckbd.kbd.mode), (0x18, 3));
    assert_eq!(dev.pic, [I8259::default(), I8259::default()], "reset PICs");

    // The kept sections are the stream's, decoded with its vmdesc.
    let cpu = report.kept_section("cpu", 0).unwrap();
    assert_eq!(cpu.offset, 284_150);
    assert_eq!(cpu.state.field("env.eip").and_then(scalar), Some(0xfff0));
    let globalstate = &report.kept_section("globalstate", 0).unwrap().state;
    match globalstate.field("runstate") {
        Some(Value::Bytes(b)) => assert!(b.starts_with(b"prelaunch\0")),
        other => panic!("{other:?}"),
    }
    let mut compared = 0;
    for k in &report.kept {
        let key = format!(
            "{} ({})",
            k.header.idstr.to_string_lossy(),
            k.header.section_id
        );
        compared += compare_with_analyzer(section(&key), &k.state, &key);
    }
    assert!(compared > 100, "only {compared} fields compared");
}

#[test]
fn without_keep_unknown_a_real_stream_fails_at_the_first_unknown_section() {
    let bytes = fixture("x86-pc-min.mig");
    let mut dev = X86Devices::default();
    let mut ram = RecordingRam::new(&bytes);
    let err = {
        let mut reg = dev.registry(true);
        reg.load_with(
            SliceReader::new(&bytes),
            &settings(),
            &mut ram,
            &LoadOptions::default(),
        )
        .unwrap_err()
    };
    assert!(
        err.to_string().ends_with(
            "Unknown savevm section or instance 'timer' 0. Make sure that your current VM \
             setup matches your saved VM setup, including any hotplugged devices"
        ),
        "{err}"
    );
    // The header of `timer`, not the item before it (the ram END section).
    assert_eq!(err.offset(), Some(284_065));
    assert_eq!(dev, X86Devices::default(), "nothing loaded");
    // The RAM before it went to the sink (it cannot be staged).
    assert_eq!(ram.zero_pages.values().sum::<u64>(), 8271);

    // Plain `load` has nowhere to put RAM: it refuses at the first ram section.
    let err = dev
        .registry(true)
        .load(SliceReader::new(&bytes), &settings())
        .unwrap_err();
    assert_eq!(err.offset(), Some(27), "{err}");
    assert_eq!(err.section(), Some(("ram", 0)));
    assert!(err.to_string().contains("load_with"), "{err}");

    // Keeping needs a schema.
    let opts = LoadOptions {
        keep_unknown: true,
        ..LoadOptions::default()
    };
    let err = dev
        .registry(true)
        .load_with(
            SliceReader::new(&bytes),
            &settings(),
            &mut DiscardRam,
            &opts,
        )
        .unwrap_err();
    assert!(err.to_string().contains("LoadOptions::schema"), "{err}");
}

/// The offset of the header of the section whose idstr is `idstr`.
fn header_offset(stream: &[u8], idstr: &[u8]) -> usize {
    let mut counted = vec![idstr.len() as u8];
    counted.extend_from_slice(idstr);
    let at = stream
        .windows(counted.len())
        .position(|w| w == counted)
        .unwrap();
    assert_eq!(stream[at - 5], 0x04, "a FULL section header");
    at - 5
}

#[test]
fn an_unknown_section_is_reported_at_its_own_header_regression() {
    // Issue: renamed to pckbX, the error named the previous item's offset.
    let mut dev = X86Devices::default();
    let mut stream = Vec::new();
    dev.registry(true).save(&mut stream, &settings()).unwrap();
    let at = header_offset(&stream, b"pckbd");
    let previous = header_offset(&stream, b"ps2mouse");
    assert!(previous < at);
    let mut bad = stream.clone();
    bad[at + 6 + 4] = b'X';
    let mut dest = X86Devices::default();
    let err = dest
        .registry(true)
        .load(SliceReader::new(&bad), &settings())
        .unwrap_err();
    assert_eq!(err.offset(), Some(at as u64), "{err}");
    assert!(
        err.to_string().ends_with(
            "Unknown savevm section or instance 'pckbX' 0. Make sure that your current VM \
             setup matches your saved VM setup, including any hotplugged devices"
        ),
        "{err}"
    );
    assert_eq!(err.section(), None, "the message names the section");
    assert_eq!(dest, X86Devices::default());
    // The unmodified stream loads back.
    let mut again = X86Devices::default();
    let report = again
        .registry(true)
        .load_with(
            SliceReader::new(&stream),
            &settings(),
            &mut DiscardRam,
            &LoadOptions::default(),
        )
        .unwrap();
    assert_eq!(report.loaded.len(), 10);
    assert_eq!(again, dev);

    // The same in the real stream, kept mode: the vmdesc describes no pckbX.
    let bytes = fixture("x86-pc-min.mig");
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let at = header_offset(&bytes, b"pckbd");
    assert_eq!(at, 292_537);
    let mut bad = bytes.clone();
    bad[at + 6 + 4] = b'X';
    let mut dest = X86Devices::default();
    let err = dest
        .registry(false)
        .load_with(
            SliceReader::new(&bad),
            &settings(),
            &mut DiscardRam,
            &LoadOptions::keeping_unknown(&schema),
        )
        .unwrap_err();
    assert_eq!(err.offset(), Some(292_537), "{err}");
    assert!(err.to_string().contains("'pckbX' 0"), "{err}");
    assert_eq!(dest, X86Devices::default());
}

// ------------------------------------- truncation inside a subsection header

/// `d` with its subsection `d/x`: the 22-byte body `00 05 03 64 2f 78 ...`.
#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "d", version = 1)]
struct D {
    a: u8,
    #[vmstate(subsection)]
    x: DX,
}

#[derive(VmState, Clone, Debug, Default, PartialEq)]
#[vmstate(name = "d/x", version = 1, needed = DX::is_needed)]
struct DX {
    v: u64,
    w: u32,
}

impl DX {
    fn is_needed(&self) -> bool {
        self.v != 0
    }
}

fn d_sample() -> D {
    D {
        a: 0,
        x: DX { v: 0x1122, w: 7 },
    }
}

#[test]
fn a_typed_load_ending_inside_a_subsection_header_fails_regression() {
    let body = vmstate_core::save_to_vec(&mut d_sample()).unwrap();
    assert_eq!(body.len(), 22);
    assert_eq!(body[..6], [0x00, 0x05, 0x03, b'd', b'/', b'x']);
    for cut in 0..body.len() {
        let mut dest = D::default();
        let r = vmstate_core::load_from_slice(&mut dest, &body[..cut], 1);
        match cut {
            // The subsection absent: valid.
            1 => assert!(r.is_ok(), "{r:?}"),
            // `05` or `05 03` alone: a whole-slice load has nothing else
            // they could belong to; the input ends inside d's subsection
            // header (not "bytes left over").
            2 | 3 => {
                let e = r.unwrap_err();
                assert!(e.is_eof(), "cut {cut}: {e}");
                assert_eq!(e.offset(), Some(1), "cut {cut}: {e}");
                assert_eq!(dest, D::default(), "cut {cut}");
            }
            _ => {
                let e = r.unwrap_err();
                assert!(e.is_eof(), "cut {cut}: {e}");
                let at = match cut {
                    0 => 0,
                    // The name: `d` is there, so the header is d's.
                    4 | 5 => 3,
                    6..=9 => 6,
                    10..=17 => 10,
                    _ => 18,
                };
                assert_eq!(e.offset(), Some(at), "cut {cut}: {e}");
                assert_eq!(dest, D::default(), "cut {cut}");
            }
        }
    }
    let e = vmstate_core::load_from_slice(&mut D::default(), &body[..5], 1).unwrap_err();
    assert_eq!(e.path_string(), "d");
    assert!(
        matches!(
            e.kind(),
            vmstate_core::ErrorKind::Stream(qemufile::ErrorKind::UnexpectedEof {
                needed: 3,
                available: 2
            })
        ),
        "{e}"
    );
    // Through `load` on a reader, which leaves what follows a body to the
    // caller: a cut inside the name is no longer taken for "nothing follows".
    let mut r = SliceReader::new(&body[..4]);
    let e = vmstate_core::load(&mut D::default(), &mut r, 1).unwrap_err();
    assert!(e.is_eof(), "{e}");
}

#[test]
fn a_stream_ending_inside_a_subsection_header_fails_at_the_missing_byte_regression() {
    // Ours: the registry's stream of `d`, cut right after each header byte.
    let mut d = d_sample();
    let mut stream = Vec::new();
    {
        let mut reg = Registry::new();
        reg.register(&mut d, Registration::default()).unwrap();
        reg.save(&mut stream, &settings()).unwrap();
    }
    let body = header_offset(&stream, b"d") + 1 + 4 + 2 + 4 + 4;
    assert_eq!(stream[body + 1], 0x05);
    for (cut, at) in [(2, 2), (3, 3), (4, 3), (5, 3), (6, 6), (9, 6), (12, 10)] {
        let mut dest = D::default();
        let err = {
            let mut reg = Registry::new();
            reg.register(&mut dest, Registration::default()).unwrap();
            reg.load(SliceReader::new(&stream[..body + cut]), &settings())
                .unwrap_err()
        };
        assert!(err.is_eof(), "cut {cut}: {err}");
        assert_eq!(err.offset(), Some((body + at) as u64), "cut {cut}: {err}");
        assert_eq!(err.section(), Some(("d", 0)), "cut {cut}: {err}");
        assert_eq!(dest, D::default());
    }

    // QEMU's: the real stream cut inside pckbd's `pckbd/extended_state`
    // header (in its nested `kbd` struct), loaded with the uncut stream's
    // vmdesc, every other section kept.
    let bytes = fixture("x86-pc-min.mig");
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let body = header_offset(&bytes, b"pckbd") + 1 + 4 + 6 + 4 + 4;
    assert_eq!(
        bytes[body..body + 7],
        [0x00, 0x18, 0x03, 0x00, 0x05, 0x14, b'p']
    );
    for (cut, at) in [(5, 5), (6, 6), (8, 6), (12, 6), (26, 26)] {
        let mut dev = X86Devices::default();
        let err = dev
            .registry(true)
            .load_with(
                SliceReader::new(&bytes[..body + cut]),
                &settings(),
                &mut DiscardRam,
                &LoadOptions::keeping_unknown(&schema),
            )
            .unwrap_err();
        assert!(err.is_eof(), "cut {cut}: {err}");
        assert_eq!(err.offset(), Some((body + at) as u64), "cut {cut}: {err}");
        assert_eq!(err.section(), Some(("pckbd", 0)), "cut {cut}: {err}");
        assert_eq!(dev, X86Devices::default());
    }
    // The same body alone, typed: a cut before the fifth name byte may be
    // the start of what follows the body; from it on, the header is kbd's.
    let pckbd = &bytes[body..body + 40];
    assert!(vmstate_core::load_from_slice(&mut PckbdIsa::default(), &pckbd[..4], 3).is_ok());
    for cut in [11, 12, 25] {
        let e =
            vmstate_core::load_from_slice(&mut PckbdIsa::default(), &pckbd[..cut], 3).unwrap_err();
        assert!(e.is_eof(), "cut {cut}: {e}");
        assert_eq!(e.offset(), Some(6), "cut {cut}: {e}");
        assert_eq!(e.path_string(), "pckbd.kbd", "cut {cut}: {e}");
    }
}

// ------------------------------------------------------------------ RAM

/// A stream of one `ram` START section with `items`, written by the
/// qemufile writers; `page` fills the data pages.
fn ram_stream(
    config: Configuration,
    write: impl FnOnce(&mut Vec<u8>, &qemufile::ram::RamWriter),
) -> Vec<u8> {
    let mut w = qemufile::stream::StreamWriter::new(Vec::new(), StreamOptions::default());
    w.write_header().unwrap();
    w.write_configuration(&config).unwrap();
    w.write_section_header(&SectionHeader::start(2, "ram", 0, 4).unwrap())
        .unwrap();
    let cfg = qemufile::ram::RamConfig::from_configuration(Some(&config), 4096);
    let rw = qemufile::ram::RamWriter::new(cfg);
    write(w.body(), &rw);
    rw.write_item(w.body(), &RamItem::Record(RamRecord::eos()))
        .unwrap();
    w.write_section_footer().unwrap();
    w.write_eof().unwrap();
    w.into_inner()
}

use qemufile::ram::RamItem;
use qemufile::stream::{ConfigSubsection, Configuration};

fn plain_ram(records: &[RamRecord]) -> Vec<u8> {
    ram_stream(Configuration::new("pc-i440fx-10.0"), |out, rw| {
        rw.write_item(out, &RamItem::Record(RamRecord::mem_size(0x3000)))
            .unwrap();
        rw.write_item(
            out,
            &RamItem::Block(RamBlock::new("pc.ram", 0x2000).unwrap()),
        )
        .unwrap();
        rw.write_item(
            out,
            &RamItem::Block(RamBlock::new("pc.rom", 0x1000).unwrap()),
        )
        .unwrap();
        for r in records {
            rw.write_item(out, &RamItem::Record(r.clone())).unwrap();
            if r.kind == qemufile::ram::RamKind::Page {
                qemufile::QemuWrite::put_bytes(out, &[0xab; 4096]).unwrap();
            }
        }
    })
}

fn block(name: &str) -> Option<IdStr> {
    Some(IdStr::try_from(name).unwrap())
}

#[test]
fn ram_records_are_checked_before_they_reach_the_sink() {
    let load = |records: &[RamRecord]| {
        let bytes = plain_ram(records);
        let mut ram = RecordingRam::new(&bytes);
        let r = Registry::new().load_with(
            SliceReader::new(&bytes),
            &settings(),
            &mut ram,
            &LoadOptions::default(),
        );
        (r.map(|rep| rep.ram), ram.pages, ram.zero_pages)
    };
    // CONTINUE pages go to the block last named.
    let (stats, pages, zeros) = load(&[
        RamRecord::zero(0, block("pc.ram")),
        RamRecord::page(0x1000, None),
        RamRecord::page(0, block("pc.rom")),
    ]);
    let stats = stats.unwrap();
    assert_eq!(
        (stats.total, stats.blocks, stats.pages, stats.zero_pages),
        (0x3000, 2, 2, 1)
    );
    assert_eq!(pages.get("pc.ram"), Some(&1));
    assert_eq!(pages.get("pc.rom"), Some(&1));
    assert_eq!(zeros.get("pc.ram"), Some(&1));

    let err = load(&[RamRecord::page(0, block("pc.bios"))]).0.unwrap_err();
    assert!(
        err.to_string()
            .contains("Unknown ramblock \"pc.bios\", cannot accept migration"),
        "{err}"
    );
    assert_eq!(err.section(), Some(("ram", 0)));
    let err = load(&[RamRecord::zero(0x1000, block("pc.rom"))])
        .0
        .unwrap_err();
    assert!(err.to_string().contains("Illegal RAM offset 1000"), "{err}");
    // The offset of the record at fault: after the header, MEM_SIZE and blocks.
    let records_at = 44 + 8 + (1 + 6 + 8) + (1 + 6 + 8);
    assert_eq!(err.offset(), Some(records_at as u64), "{err}");
    let mut fill = RamRecord::zero(0, block("pc.ram"));
    fill.kind = qemufile::ram::RamKind::Zero { fill: 7 };
    let bytes = plain_ram(&[fill]);
    let err = Registry::new()
        .load_with(
            SliceReader::new(&bytes),
            &settings(),
            &mut DiscardRam,
            &LoadOptions::default(),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("Found a zero page with value 7"),
        "{err}"
    );

    // XBZRLE is the sink's to decode; by default it refuses.
    let bytes = ram_stream(Configuration::new("pc-i440fx-10.0"), |out, rw| {
        rw.write_item(out, &RamItem::Record(RamRecord::mem_size(0x1000)))
            .unwrap();
        rw.write_item(
            out,
            &RamItem::Block(RamBlock::new("pc.ram", 0x1000).unwrap()),
        )
        .unwrap();
        rw.write_item(
            out,
            &RamItem::Record(RamRecord::xbzrle(0, block("pc.ram"), 3)),
        )
        .unwrap();
        qemufile::QemuWrite::put_bytes(out, &[1, 2, 3]).unwrap();
    });
    let mut ram = RecordingRam::new(&bytes);
    let err = Registry::new()
        .load_with(
            SliceReader::new(&bytes),
            &settings(),
            &mut ram,
            &LoadOptions::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("does not decode XBZRLE"), "{err}");
    let report = Registry::new()
        .load_with(
            SliceReader::new(&bytes),
            &settings(),
            &mut DiscardRam,
            &LoadOptions::default(),
        )
        .unwrap();
    assert_eq!(report.ram.xbzrle_pages, 1);
}

/// A sink that reads mapped-ram regions through their bitmaps.
#[derive(Default)]
struct MappedRam {
    memory: Vec<u8>,
}

impl RamSink for MappedRam {
    fn block(&mut self, block: &RamBlock, region: &mut RamPayload<'_>) -> vmstate_core::Result<()> {
        let h = block.mapped_ram.expect("a mapped-ram block");
        self.memory = vec![0; block.length as usize];
        let mut bitmap = vec![0u8; h.bitmap_len(block.length) as usize];
        region.seek_to(h.bitmap_offset)?;
        region.read(&mut bitmap)?;
        for i in 0..block.length / h.page_size {
            if bitmap[(i / 8) as usize] & (1 << (i % 8)) != 0 {
                region.seek_to(h.pages_offset + i * h.page_size)?;
                let at = (i * h.page_size) as usize;
                region.read(&mut self.memory[at..at + h.page_size as usize])?;
            }
        }
        // Seeking back is refused.
        assert!(region.seek_to(h.bitmap_offset).is_err());
        Ok(())
    }
    fn zero_page(&mut self, _: &IdStr, _: u64) -> vmstate_core::Result<()> {
        panic!("no zero pages with mapped-ram")
    }
    fn page(&mut self, _: &IdStr, _: u64, _: &mut RamPayload<'_>) -> vmstate_core::Result<()> {
        panic!("no page records with mapped-ram")
    }
}

#[test]
fn mapped_ram_regions_reach_the_sink_at_their_file_offsets() {
    let mut config = Configuration::new("pc-i440fx-10.0");
    config.subsections.push(ConfigSubsection::Capabilities {
        version: 1,
        caps: vec![IdStr::try_from("mapped-ram").unwrap()],
    });
    let length = 8 * 4096u64;
    let bytes = ram_stream(config, |out, rw| {
        rw.write_item(out, &RamItem::Record(RamRecord::mem_size(length)))
            .unwrap();
        let header_at = qemufile::QemuWrite::position(out) + 1 + 6 + 8;
        let h = qemufile::ram::MappedRamHeader::for_block(header_at, length, 4096);
        let mut b = RamBlock::new("pc.ram", length).unwrap();
        b.mapped_ram = Some(h);
        rw.write_item(out, &RamItem::Block(b)).unwrap();
        // Pages 1 and 6 are dirty, page i filled with i.
        qemufile::ram::write_mapped_region(
            out,
            &h,
            length,
            &[0b0100_0010, 0, 0, 0, 0, 0, 0, 0],
            |i, page| {
                page.fill(i as u8);
                Ok(())
            },
        )
        .unwrap();
    });
    let mut ram = MappedRam::default();
    let report = Registry::new()
        .load_with(
            SliceReader::new(&bytes),
            &settings(),
            &mut ram,
            &LoadOptions::default(),
        )
        .unwrap();
    assert_eq!((report.ram.blocks, report.ram.mapped_regions), (1, 1));
    for i in 0..8 {
        let page = &ram.memory[i * 4096..(i + 1) * 4096];
        let expect = if i == 1 || i == 6 { i as u8 } else { 0 };
        assert!(page.iter().all(|&b| b == expect), "page {i}");
    }
}

#[test]
fn settings_and_commands_are_checked_like_qemu() {
    let (mut master, mut slave) = pics();
    let mut stream = Vec::new();
    {
        let mut reg = Registry::new();
        reg.register(&mut master, Registration::default()).unwrap();
        reg.register(&mut slave, Registration::default()).unwrap();
        reg.save(&mut stream, &settings()).unwrap();
    }
    let load = |bytes: &[u8], s: &StreamSettings| {
        let (mut a, mut b) = (I8259::default(), I8259::default());
        let mut reg = Registry::new();
        reg.register(&mut a, Registration::default()).unwrap();
        reg.register(&mut b, Registration::default()).unwrap();
        reg.load(SliceReader::new(bytes), s)
    };
    load(&stream, &settings()).unwrap();
    let no_footers = StreamSettings {
        send_section_footer: false,
        ..settings()
    };
    let err = load(&stream, &no_footers).unwrap_err();
    assert!(
        err.to_string().contains("Unknown section type 126"),
        "{err}"
    );
    let no_config = StreamSettings {
        send_configuration: false,
        ..settings()
    };
    let err = load(&stream, &no_config).unwrap_err();
    assert_eq!(err.offset(), Some(8), "{err}");
    // A stream without footers, loaded by settings that want them.
    let mut bare = Vec::new();
    {
        let mut reg = Registry::new();
        reg.register(&mut master, Registration::default()).unwrap();
        reg.save(&mut bare, &no_footers).unwrap();
    }
    let (mut a, mut reg) = (I8259::default(), Registry::new());
    reg.register(&mut a, Registration::default()).unwrap();
    let err = reg.load(SliceReader::new(&bare), &settings()).unwrap_err();
    assert!(
        err.to_string().contains("Missing section footer for i8259"),
        "{err}"
    );
    let mut reg = Registry::new();
    reg.register(&mut a, Registration::default()).unwrap();
    reg.load(SliceReader::new(&bare), &no_footers).unwrap();

    // A postcopy command stops the load at the command.
    let with_switchover = StreamSettings {
        switchover_start: true,
        ..settings()
    };
    let mut s = Vec::new();
    {
        let mut reg = Registry::new();
        reg.register(&mut master, Registration::default()).unwrap();
        reg.save(&mut s, &with_switchover).unwrap();
    }
    let cmd = s.iter().position(|&b| b == 0x08).unwrap();
    assert_eq!(s[cmd + 1..cmd + 3], [0, 11]);
    let mut reg = Registry::new();
    let mut a = I8259::default();
    reg.register(&mut a, Registration::default()).unwrap();
    let report = reg
        .load_with(
            SliceReader::new(&s),
            &with_switchover,
            &mut DiscardRam,
            &LoadOptions::default(),
        )
        .unwrap();
    assert_eq!(report.commands.len(), 1);
    let mut run = s.clone();
    run[cmd + 2] = 5; // POSTCOPY_RUN, also without data
    let mut reg = Registry::new();
    reg.register(&mut a, Registration::default()).unwrap();
    let err = reg
        .load(SliceReader::new(&run), &with_switchover)
        .unwrap_err();
    assert_eq!(err.offset(), Some(cmd as u64), "{err}");
    assert!(err.to_string().contains("POSTCOPY_RUN"), "{err}");
}

#[test]
fn every_real_stream_with_ram_loads_into_a_discarding_registry() {
    // With every section kept, each fixture with a vmdesc loads: RAM and the
    // other iterative sections (htab, storage attributes, dirty bitmaps)
    // dropped by the sink.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/");
    let (mut loaded, mut with_iterative) = (Vec::new(), Vec::new());
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "mig") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let arena = DescriptionArena::new();
        let Ok(Some(schema)) = StreamSchema::from_stream(&arena, &bytes) else {
            continue;
        };
        let machine = {
            let dec =
                vmstate_core::stream::StreamDecoder::open(SliceReader::new(&bytes), None).unwrap();
            String::from_utf8_lossy(dec.configuration().unwrap().machine()).into_owned()
        };
        let mut s = StreamSettings::new(&machine);
        s.target_page_bits =
            vmstate_core::stream::StreamDecoder::open(SliceReader::new(&bytes), None)
                .unwrap()
                .configuration()
                .and_then(Configuration::target_page_bits);
        let r = Registry::new().load_with(
            SliceReader::new(&bytes),
            &s,
            &mut DiscardRam,
            &LoadOptions::keeping_unknown(&schema),
        );
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let report = r.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!report.kept.is_empty());
        assert!(report.ram.pages + report.ram.zero_pages > 0, "{name}");
        if report.iterative_sections > 0 {
            with_iterative.push(name.clone());
        }
        loaded.push(name);
    }
    loaded.sort();
    with_iterative.sort();
    assert_eq!(
        loaded,
        [
            "arm-virt-a57.mig",
            "ppc64-pseries.mig",
            "riscv64-virt.mig",
            "s390x-ccw-skeys.mig",
            "s390x-ccw.mig",
            "x86-pc-5nics.mig",
            "x86-pc-cpu-max.mig",
            "x86-pc-dirty-bitmap.mig",
            "x86-pc-kvm.mig",
            "x86-pc-min.mig",
            "x86-pc-return-path.mig",
            "x86-pc-xbzrle.mig",
            "x86-q35-forms.mig"
        ]
    );
    assert_eq!(
        with_iterative,
        [
            "ppc64-pseries.mig",
            "s390x-ccw-skeys.mig",
            "s390x-ccw.mig",
            "x86-pc-dirty-bitmap.mig"
        ]
    );
}

#[test]
fn a_ram_only_sink_refuses_other_iterative_sections_by_name() {
    /// Takes RAM, and nothing else.
    struct RamOnly;
    impl RamSink for RamOnly {
        fn block(&mut self, _: &RamBlock, _: &mut RamPayload<'_>) -> vmstate_core::Result<()> {
            Ok(())
        }
        fn zero_page(&mut self, _: &IdStr, _: u64) -> vmstate_core::Result<()> {
            Ok(())
        }
        fn page(&mut self, _: &IdStr, _: u64, _: &mut RamPayload<'_>) -> vmstate_core::Result<()> {
            Ok(())
        }
    }
    let bytes = fixture("ppc64-pseries.mig");
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let mut s = StreamSettings::new("pseries-10.0");
    s.target_page_bits = vmstate_core::stream::StreamDecoder::open(SliceReader::new(&bytes), None)
        .unwrap()
        .configuration()
        .and_then(Configuration::target_page_bits);
    let err = Registry::new()
        .load_with(
            SliceReader::new(&bytes),
            &s,
            &mut RamOnly,
            &LoadOptions::keeping_unknown(&schema),
        )
        .unwrap_err();
    assert_eq!(err.section(), Some(("spapr/htab", 0)), "{err}");
    assert!(
        err.to_string()
            .contains("implement RamSink::iterative_item"),
        "{err}"
    );
}

#[test]
fn a_postcopy_stream_is_refused_at_its_first_postcopy_command() {
    // OPEN_RETURN_PATH, PING and POSTCOPY_ADVISE pass; the RAM goes to the
    // sink; POSTCOPY_RAM_DISCARD stops the load.
    let bytes = fixture("x86-pc-postcopy.mig");
    let mut ram = RecordingRam::new(&bytes);
    let err = Registry::new()
        .load_with(
            SliceReader::new(&bytes),
            &settings(),
            &mut ram,
            &LoadOptions::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("POSTCOPY_RAM_DISCARD"), "{err}");
    let at = err.offset().unwrap() as usize;
    assert_eq!(bytes[at..at + 3], [0x08, 0x00, 0x06], "{err}");
    assert_eq!(ram.pages.values().sum::<u64>(), 32);
    assert_eq!(ram.zero_pages.values().sum::<u64>(), 224 + 3640);
}

#[test]
fn a_truncated_vmdesc_does_not_fail_the_load_as_in_qemu() {
    let (mut master, mut slave) = pics();
    let mut stream = Vec::new();
    {
        let mut reg = Registry::new();
        reg.register(&mut master, Registration::default()).unwrap();
        reg.register(&mut slave, Registration::default()).unwrap();
        reg.save(&mut stream, &settings()).unwrap();
    }
    let (eof, _) = qemufile::stream::find_vmdesc(&stream).unwrap();
    let cut = &stream[..eof + 10];
    let (mut a, mut b) = (I8259::default(), I8259::default());
    let report = {
        let mut reg = Registry::new();
        reg.register(&mut a, Registration::default()).unwrap();
        reg.register(&mut b, Registration::default()).unwrap();
        reg.load_with(
            SliceReader::new(cut),
            &settings(),
            &mut DiscardRam,
            &LoadOptions::default(),
        )
        .unwrap()
    };
    assert_eq!((a, b), (master, slave));
    assert!(report.vmdesc.json().is_none());
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    // Cut before EOF, the stream is truncated.
    let (mut a, mut reg) = (I8259::default(), Registry::new());
    reg.register(&mut a, Registration::default()).unwrap();
    let mut b = I8259::default();
    reg.register(&mut b, Registration::default()).unwrap();
    let err = reg
        .load(SliceReader::new(&stream[..eof - 1]), &settings())
        .unwrap_err();
    assert!(err.is_eof(), "{err}");
}
