//! End-to-end tests on real QEMU 10.0.2 streams: parse everything (sections,
//! RAM records, commands, footers, vmdesc), rewrite, compare byte for byte;
//! corrupted copies give QEMU's errors at the right offsets.

use std::collections::HashMap;
use std::path::Path;

use qemufile::ram::{RamConfig, RamItem, RamKind, RamReader, RamWriter};
use qemufile::stream::{
    self, Command, ConfigSubsection, Item, SectionHeader, SectionKind, StreamOptions, StreamReader,
    StreamWriter, Vmdesc,
};
use qemufile::{ErrorKind, QemuRead, QemuWrite, Reader, SliceReader, Writer};
use serde_json::Value;

/// A test stream: this crate's own (`tests/data`), or one of the
/// workspace's shared fixtures (`../tests/fixtures`).
fn data(name: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = dir.join("tests/data").join(name);
    let p = if own.exists() {
        own
    } else {
        dir.join("../tests/fixtures").join(name)
    };
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Body size of a vmsd object in the vmdesc: field sizes plus subsections
/// (`05`, counted name, be32 version, body).
fn vmsd_size(v: &Value) -> u64 {
    if let Some(s) = v.get("size").and_then(Value::as_u64) {
        if v.get("vmsd_name").is_none() {
            return s; // legacy section
        }
    }
    let mut n = 0;
    for f in v["fields"].as_array().into_iter().flatten() {
        let size = f["size"].as_u64().unwrap();
        let count = f.get("array_len").and_then(Value::as_u64).unwrap_or(1);
        n += size * count;
    }
    for s in v
        .get("subsections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s["vmsd_name"].as_str().unwrap();
        n += 1 + 1 + name.len() as u64 + 4 + vmsd_size(s);
    }
    n
}

/// (idstr, instance_id) → body size, from the vmdesc JSON.
fn body_sizes(json: &[u8]) -> HashMap<(String, u32), u64> {
    let v: Value = serde_json::from_slice(json).expect("vmdesc is JSON");
    v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let key = (
                d["name"].as_str().unwrap().to_string(),
                d["instance_id"].as_u64().unwrap() as u32,
            );
            (key, vmsd_size(d))
        })
        .collect()
}

#[derive(Debug, Default)]
struct Summary {
    machine: String,
    target_page_bits: Option<u32>,
    capabilities: Vec<String>,
    sections: Vec<(SectionKind, u32, String, u32, u32)>,
    /// stream offset of each section's type byte, footer, by (kind, idstr)
    offsets: Vec<(String, u64, u64)>,
    blocks: Vec<(String, u64)>,
    pages: u64,
    zero_pages: u64,
    mapped_pages: u64,
    eos: u64,
    commands: Vec<Command>,
    vmdesc_len: Option<usize>,
}

/// Parses `input` as a whole stream and writes it again to `out`, copying
/// device bodies (sizes from `sizes`) and RAM payloads raw.
fn roundtrip<R: QemuRead, W: QemuWrite>(
    input: R,
    out: &mut W,
    sizes: &HashMap<(String, u32), u64>,
    opts: StreamOptions,
) -> qemufile::Result<Summary> {
    let mut s = Summary::default();
    let mut r = StreamReader::open(input, opts.clone())?;
    let mut w = StreamWriter::new(out, opts);
    w.write_header()?;
    if let Some(cfg) = r.configuration() {
        s.machine = String::from_utf8_lossy(cfg.machine()).into_owned();
        s.target_page_bits = cfg.target_page_bits();
        s.capabilities = cfg.capabilities().map(|c| c.to_string()).collect();
        w.write_configuration(cfg)?;
    }
    let ram_cfg = RamConfig::from_configuration(r.configuration(), 4096);
    let mut ram = RamReader::new(ram_cfg.clone());
    let ram_w = RamWriter::new(ram_cfg);
    loop {
        match r.next_item()? {
            Item::Section(h) => {
                let at = r.item_offset();
                s.sections.push((
                    h.kind,
                    h.section_id,
                    h.idstr.to_string(),
                    h.instance_id,
                    h.version_id,
                ));
                w.write_section_header(&h)?;
                if h.idstr == "ram" {
                    assert_eq!(h.version_id, qemufile::ram::SECTION_VERSION);
                    loop {
                        let item = ram.next_item(r.body())?;
                        ram_w.write_item(w.body(), &item)?;
                        match &item {
                            RamItem::Block(b) => {
                                s.blocks.push((b.name.to_string(), b.length));
                                if ram.mapped_region().is_some() {
                                    // The bitmap says which pages are in the file.
                                    let reg = ram.mapped_region().unwrap();
                                    let gap = reg.bitmap_offset - r.body().position();
                                    let mut skip = vec![0u8; gap as usize];
                                    ram.read_payload(r.body(), &mut skip)?;
                                    w.body().put_bytes(&skip)?;
                                    let mut bm = vec![0u8; reg.bitmap_len as usize];
                                    ram.read_payload(r.body(), &mut bm)?;
                                    w.body().put_bytes(&bm)?;
                                    s.mapped_pages +=
                                        bm.iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
                                }
                            }
                            RamItem::Record(rec) => match rec.kind {
                                RamKind::Page => s.pages += 1,
                                RamKind::Zero { fill } => {
                                    assert_eq!(fill, 0);
                                    s.zero_pages += 1
                                }
                                _ => {}
                            },
                        }
                        ram.copy_payload(r.body(), w.body())?;
                        if matches!(&item, RamItem::Record(rec) if rec.kind == RamKind::Eos) {
                            s.eos += 1;
                            break;
                        }
                    }
                } else {
                    let n = sizes[&(h.idstr.to_string(), h.instance_id)];
                    let mut body = vec![0u8; n as usize];
                    r.body().read_into(&mut body)?;
                    w.body().put_bytes(&body)?;
                }
                let footer = r.position();
                r.finish_section()?;
                w.write_section_footer()?;
                s.offsets.push((h.idstr.to_string(), at, footer));
            }
            Item::Command(c) => {
                w.write_command(&c)?;
                s.commands.push(c);
            }
            Item::Eof => {
                w.write_eof()?;
                break;
            }
        }
    }
    match r.read_vmdesc()? {
        Vmdesc::Present(json) => {
            s.vmdesc_len = Some(json.len());
            w.write_vmdesc(&json)?;
        }
        Vmdesc::Absent { found } => assert_eq!(found, None),
    }
    assert!(r.at_end()?);
    Ok(s)
}

fn check_stream(name: &str, bytes: &[u8]) -> Summary {
    let (vmdesc_at, json) = stream::find_vmdesc(bytes).expect("vmdesc trailer");
    let sizes = body_sizes(json);
    // In memory, over a slice.
    let mut out = Vec::new();
    let s = roundtrip(
        SliceReader::new(bytes),
        &mut out,
        &sizes,
        StreamOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(out.len(), bytes.len(), "{name}: rewritten length");
    assert!(out == bytes, "{name}: rewritten stream differs");
    assert_eq!(s.vmdesc_len, Some(json.len()));
    assert_eq!(vmdesc_at + 5 + json.len(), bytes.len());
    // Streaming, over io::Read and io::Write, with a one-byte-at-a-time source.
    let mut w = Writer::new(Vec::new());
    let s2 = roundtrip(
        Reader::new(Trickle(bytes)),
        &mut w,
        &sizes,
        StreamOptions::default(),
    )
    .unwrap();
    assert!(
        w.into_inner().unwrap() == bytes,
        "{name}: streaming rewrite differs"
    );
    assert_eq!(s2.sections, s.sections);
    s
}

/// An `io::Read` that returns at most 1000 bytes per call.
struct Trickle<'a>(&'a [u8]);
impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(1000);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn x86_pc_min_end_to_end() {
    let bytes = data("x86-pc-min.mig");
    let s = check_stream("x86-pc-min", &bytes);
    assert_eq!(s.machine, "pc-i440fx-10.0");
    assert_eq!(s.target_page_bits, None);
    assert!(s.capabilities.is_empty());
    // ram START (id 1), PART, END, then devices FULL; timer is id 0.
    assert_eq!(s.sections[0], (SectionKind::Start, 1, "ram".into(), 0, 4));
    assert_eq!(s.sections[1].0, SectionKind::Part);
    assert_eq!(s.sections[2].0, SectionKind::End);
    assert_eq!(s.sections[2].2, "ram");
    assert_eq!(s.sections[3], (SectionKind::Full, 0, "timer".into(), 0, 2));
    assert!(s.sections[3..].iter().all(|x| x.0 == SectionKind::Full));
    let hpet = s.sections.iter().find(|x| x.2 == "hpet").unwrap();
    assert_eq!((hpet.1, hpet.3, hpet.4), (0x15, 0, 2));
    let i8259: Vec<_> = s
        .sections
        .iter()
        .filter(|x| x.2 == "i8259")
        .map(|x| x.3)
        .collect();
    assert_eq!(i8259, [0, 1]);
    assert!(s.sections.iter().any(|x| x.2 == "0000:00:01.3/piix4_pm"));
    assert_eq!(s.sections.last().unwrap().2, "globalstate");
    assert_eq!(s.commands, [Command::switchover_start()]);
    assert_eq!(s.blocks[0], ("pc.ram".to_string(), 32 << 20));
    assert!(s.blocks.iter().any(|b| b.0 == "/rom@etc/acpi/tables"));
    let total: u64 = s.blocks.iter().map(|b| b.1).sum();
    assert_eq!(total, 0x208_2000);
    // Every page of every block is sent once (paused guest): data or zero.
    assert_eq!(s.pages + s.zero_pages, total / 4096);
    assert!(s.pages > 0 && s.zero_pages > 0);
    assert_eq!(s.eos, 3);
    eprintln!(
        "x86-pc-min: {} sections, {} blocks, {} pages, {} zero pages",
        s.sections.len(),
        s.blocks.len(),
        s.pages,
        s.zero_pages
    );
}

#[test]
fn arm_virt_a57_end_to_end() {
    let bytes = data("arm-virt-a57.mig");
    let s = check_stream("arm-virt-a57", &bytes);
    assert_eq!(s.machine, "virt-10.0");
    assert_eq!(s.target_page_bits, Some(12));
    assert_eq!(s.commands, [Command::switchover_start()]);
    assert_eq!(s.sections[0], (SectionKind::Start, 1, "ram".into(), 0, 4));
    let cpu = s.sections.iter().find(|x| x.2 == "cpu").unwrap();
    assert_eq!(cpu.4, 22);
    assert!(s.blocks.iter().any(|b| b.0 == "virt.flash0"));
    assert!(
        s.blocks
            .iter()
            .any(|b| b.0 == "mach-virt.ram" && b.1 == 32 << 20)
    );
    let total: u64 = s.blocks.iter().map(|b| b.1).sum();
    assert_eq!(s.pages + s.zero_pages, total / 4096);
}

/// The configuration is kept as sent, including its subsection.
#[test]
fn arm_configuration_subsection() {
    let bytes = data("arm-virt-a57.mig");
    let r = StreamReader::open(SliceReader::new(&bytes), StreamOptions::default()).unwrap();
    let cfg = r.configuration().unwrap();
    assert_eq!(
        cfg.subsections,
        [ConfigSubsection::TargetPageBits {
            version: 1,
            bits: 12
        }]
    );
    assert_eq!(cfg.page_size(4096), 4096);
    // the first section starts right after it
    assert_eq!(r.position(), 0x3e);
}

// ---------------------------------------------------------------------------
// Corrupted copies

fn sizes_of(bytes: &[u8]) -> HashMap<(String, u32), u64> {
    body_sizes(stream::find_vmdesc(bytes).unwrap().1)
}

fn parse_err(bytes: &[u8], sizes: &HashMap<(String, u32), u64>) -> qemufile::Error {
    roundtrip(
        SliceReader::new(bytes),
        &mut Vec::new(),
        sizes,
        StreamOptions::default(),
    )
    .expect_err("corrupted stream must fail")
}

fn good() -> (Vec<u8>, HashMap<(String, u32), u64>, Summary) {
    let bytes = data("x86-pc-min.mig");
    let sizes = sizes_of(&bytes);
    let s = roundtrip(
        SliceReader::new(&bytes),
        &mut Vec::new(),
        &sizes,
        StreamOptions::default(),
    )
    .unwrap();
    (bytes, sizes, s)
}

#[test]
fn bad_magic() {
    let (mut b, sizes, _) = good();
    b[3] = b'X';
    let e = parse_err(&b, &sizes);
    assert!(matches!(
        e.kind(),
        ErrorKind::NotAMigrationStream { found: 0x5145_5658 }
    ));
    assert_eq!(e.offset(), 0);
    assert!(
        e.to_string()
            .contains("Not a migration stream, magic: 51455658 != 5145564d"),
        "{e}"
    );
}

#[test]
fn version_2_and_4() {
    let (mut b, sizes, _) = good();
    b[7] = 2;
    let e = parse_err(&b, &sizes);
    assert!(matches!(e.kind(), ErrorKind::ObsoleteVersion));
    assert_eq!(e.offset(), 4);
    assert!(
        e.to_string()
            .contains("SaveVM v2 format is obsolete and no longer supported")
    );
    b[7] = 4;
    let e = parse_err(&b, &sizes);
    assert!(matches!(e.kind(), ErrorKind::UnsupportedVersion(4)));
    assert!(
        e.to_string()
            .contains("Unsupported migration stream version")
    );
}

#[test]
fn configuration_missing() {
    let (mut b, sizes, _) = good();
    b[8] = 0x01;
    let e = parse_err(&b, &sizes);
    assert!(matches!(
        e.kind(),
        ErrorKind::ConfigurationMissing { found: 1 }
    ));
    assert_eq!(e.offset(), 8);
}

#[test]
fn unknown_configuration_subsection() {
    let mut b = data("arm-virt-a57.mig");
    let sizes = sizes_of(&b);
    let pos = b
        .windows(16)
        .position(|w| w == b"target-page-bits")
        .unwrap();
    b[pos + 15] = b'z';
    let e = parse_err(&b, &sizes);
    assert!(
        matches!(e.kind(), ErrorKind::UnknownSubsection(n) if n == "configuration/target-page-bitz")
    );
    assert_eq!(e.offset(), 0x16);
}

#[test]
fn hpet_footer_id_999() {
    let (mut b, sizes, s) = good();
    let (_, _, footer) = *s.offsets.iter().find(|o| o.0 == "hpet").unwrap();
    let footer = footer as usize;
    assert_eq!(b[footer], stream::SECTION_FOOTER);
    b[footer + 1..footer + 5].copy_from_slice(&999u32.to_be_bytes());
    let e = parse_err(&b, &sizes);
    assert!(matches!(
        e.kind(),
        ErrorKind::MismatchedFooter {
            read: 999,
            expected: 0x15,
            ..
        }
    ));
    assert_eq!(e.offset(), footer as u64);
    assert!(
        e.to_string()
            .contains("Mismatched section id in footer for hpet - read 0x3e7 expected 0x15"),
        "{e}"
    );
    // Missing footer marker.
    b[footer] = 0x7f;
    let e = parse_err(&b, &sizes);
    assert!(matches!(
        e.kind(),
        ErrorKind::MissingFooter { found: 0x7f, .. }
    ));
    assert!(e.to_string().contains("Missing section footer for hpet"));
    assert_eq!(e.offset(), footer as u64);
}

#[test]
fn unknown_section_type() {
    let (mut b, sizes, s) = good();
    let (_, at, _) = *s.offsets.iter().find(|o| o.0 == "hpet").unwrap();
    assert_eq!(b[at as usize], stream::SECTION_FULL);
    b[at as usize] = 0x09;
    let e = parse_err(&b, &sizes);
    assert!(matches!(e.kind(), ErrorKind::UnknownSectionType(9)));
    assert_eq!(e.offset(), at);
    assert_eq!(
        e.to_string(),
        format!("at byte offset {at}: Unknown section type 9")
    );
}

#[test]
fn unknown_part_section() {
    let (mut b, sizes, s) = good();
    // The ram PART section: change its section id to one never started.
    let (_, at, _) = s.offsets[1];
    assert_eq!(b[at as usize], stream::SECTION_PART);
    b[at as usize + 4] = 0x63;
    let e = parse_err(&b, &sizes);
    assert!(matches!(e.kind(), ErrorKind::UnknownSection(0x63)));
    assert_eq!(e.offset(), at);
}

#[test]
fn bad_commands() {
    let (b, sizes, _) = good();
    let at = b.windows(5).position(|w| w == [8, 0, 0x0b, 0, 0]).unwrap();
    let mut c = b.clone();
    c[at + 2] = 0x63;
    let e = parse_err(&c, &sizes);
    assert!(
        e.to_string().ends_with("MIG_CMD 0x63 unknown (len 0x0)"),
        "{e}"
    );
    assert_eq!(e.offset(), at as u64);
    let mut c = b.clone();
    c[at + 2] = 0;
    let e = parse_err(&c, &sizes);
    assert!(matches!(
        e.kind(),
        ErrorKind::UnknownCommand { cmd: 0, len: 0 }
    ));
    let mut c = b.clone();
    c[at + 4] = 1;
    let e = parse_err(&c, &sizes);
    assert!(
        e.to_string()
            .ends_with("SWITCHOVER_START received with bad length - expecting 0, got 1"),
        "{e}"
    );
}

#[test]
fn truncated() {
    let (b, sizes, s) = good();
    // inside hpet's body
    let (_, at, footer) = *s.offsets.iter().find(|o| o.0 == "hpet").unwrap();
    let cut = &b[..(at as usize + footer as usize) / 2];
    let e = parse_err(cut, &sizes);
    assert!(e.is_eof());
    assert!(e.offset() > at && e.offset() < footer, "{e}");
    // inside a RAM page, inside a header, after the header
    for len in [100_000, 5, 8, 0] {
        let e = parse_err(&b[..len], &sizes);
        assert!(e.is_eof(), "{len}: {e}");
        assert!(e.offset() <= len as u64);
    }
}

#[test]
fn vmdesc_stripped_truncated_and_bounded() {
    let (b, sizes, _) = good();
    let (vat, _) = stream::find_vmdesc(&b).unwrap();
    // stripped: loads, vmdesc absent
    let stripped = &b[..vat];
    let mut out = Vec::new();
    let s = roundtrip(
        SliceReader::new(stripped),
        &mut out,
        &sizes,
        StreamOptions::default(),
    )
    .unwrap();
    assert_eq!(s.vmdesc_len, None);
    assert_eq!(out, stripped);
    // truncated JSON
    let cut = &b[..b.len() - 100];
    let e = parse_err(cut, &sizes);
    assert!(e.is_eof());
    assert_eq!(e.offset(), vat as u64 + 5);
    assert!(
        matches!(e.kind(), ErrorKind::UnexpectedEof { needed, available }
        if *needed == (b.len() - vat - 5) as u64 && *available == (b.len() - vat - 105) as u64)
    );
    // truncated length
    let e = parse_err(&b[..vat + 3], &sizes);
    assert!(e.is_eof());
    assert_eq!(e.offset(), vat as u64 + 1);
    // over the bound
    let mut opts = StreamOptions::default();
    opts.limits.max_vmdesc_len = 1000;
    let e = roundtrip(SliceReader::new(&b), &mut Vec::new(), &sizes, opts).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::Limit(qemufile::LimitExceeded {
            limit: qemufile::Limit::MaxVmdescLen,
            allowed: 1000,
            ..
        })
    ));
    // a huge length on a short input fails at EOF, without allocating 4 GiB
    let mut huge = b[..vat + 1].to_vec();
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xf0, b'{']);
    let mut opts = StreamOptions::default();
    opts.limits.max_vmdesc_len = u32::MAX;
    let e = roundtrip(SliceReader::new(&huge), &mut Vec::new(), &sizes, opts).unwrap_err();
    assert!(e.is_eof());
}

#[test]
fn skip_bodies_with_vmdesc_sizes() {
    let (b, sizes, _) = good();
    let mut r = StreamReader::open(SliceReader::new(&b), StreamOptions::default()).unwrap();
    let mut ram = RamReader::new(RamConfig::new(4096));
    let mut n = 0;
    loop {
        let h = match r.next_item().unwrap() {
            Item::Section(h) => h,
            Item::Command(c) => {
                assert_eq!(c.name(), Some("SWITCHOVER_START"));
                continue;
            }
            Item::Eof => break,
        };
        if h.idstr == "ram" {
            while !matches!(
                ram.next_item(r.body()).unwrap(),
                RamItem::Record(rec) if rec.kind == RamKind::Eos
            ) {}
            r.finish_section().unwrap();
        } else {
            r.skip_body(sizes[&(h.idstr.to_string(), h.instance_id)])
                .unwrap();
        }
        n += 1;
    }
    assert!(r.read_vmdesc().unwrap().json().is_some());
    assert!(r.at_end().unwrap());
    assert!(n > 20);
}

#[test]
fn next_item_with_open_section_is_refused() {
    let (b, _, _) = good();
    let mut r = StreamReader::open(SliceReader::new(&b), StreamOptions::default()).unwrap();
    assert!(matches!(r.next_item().unwrap(), Item::Section(_)));
    let e = r.next_item().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidState(_)));
}

// ---------------------------------------------------------------------------
// Streams without footers / configuration (send-section-footer=off,
// send-configuration=off), written and read back.

#[test]
fn without_footers_and_configuration() {
    for (cfg, footer) in [(false, false), (true, false), (false, true)] {
        let opts = StreamOptions {
            send_configuration: cfg,
            send_section_footer: footer,
            ..StreamOptions::default()
        };
        let mut w = StreamWriter::new(Vec::new(), opts.clone());
        w.write_header().unwrap();
        if cfg {
            w.write_configuration(&stream::Configuration::new("pc-i440fx-2.3"))
                .unwrap();
        } else {
            assert!(
                w.write_configuration(&stream::Configuration::new("x"))
                    .is_err()
            );
        }
        let h = SectionHeader::full(7, "hpet", 0, 2).unwrap();
        w.write_section_header(&h).unwrap();
        w.body().put_be32(0x1234_5678).unwrap();
        w.write_section_footer().unwrap();
        let start = SectionHeader::start(1, "ram", 0, 4).unwrap();
        w.write_section_header(&start).unwrap();
        w.body().put_be64(0x10).unwrap();
        w.write_section_footer().unwrap();
        w.write_command(&Command::switchover_start()).unwrap();
        w.write_section_header(&start.continuation(SectionKind::End))
            .unwrap();
        w.body().put_be64(0x10).unwrap();
        w.write_section_footer().unwrap();
        w.write_eof().unwrap();
        let bytes = w.into_inner();
        let expected_len = 8
            + if cfg { 5 + 13 } else { 0 }
            + (1 + 4 + 5 + 8 + 4)
            + (1 + 4 + 4 + 8 + 8)
            + 5
            + (1 + 4 + 8)
            + if footer { 3 * 5 } else { 0 }
            + 1;
        assert_eq!(bytes.len(), expected_len);

        let mut r = StreamReader::open(SliceReader::new(&bytes), opts.clone()).unwrap();
        assert_eq!(r.configuration().is_some(), cfg);
        let Item::Section(s) = r.next_item().unwrap() else {
            panic!()
        };
        assert_eq!(s, h);
        assert_eq!(r.body().get_be32().unwrap(), 0x1234_5678);
        r.finish_section().unwrap();
        let Item::Section(s) = r.next_item().unwrap() else {
            panic!()
        };
        assert_eq!(s, start);
        r.skip_body(8).unwrap();
        assert_eq!(
            r.next_item().unwrap(),
            Item::Command(Command::switchover_start())
        );
        let Item::Section(s) = r.next_item().unwrap() else {
            panic!()
        };
        assert_eq!(s.kind, SectionKind::End);
        assert_eq!(s.idstr, "ram");
        r.skip_body(8).unwrap();
        assert_eq!(r.next_item().unwrap(), Item::Eof);
        assert_eq!(r.read_vmdesc().unwrap(), Vmdesc::Absent { found: None });

        // The real stream read with the wrong footer option fails cleanly.
        if !footer && cfg {
            let (b, sizes, _) = good();
            assert!(roundtrip(SliceReader::new(&b), &mut Vec::new(), &sizes, opts).is_err());
        }
    }
}

// ---------------------------------------------------------------------------
// Streams made by make-streams.sh when QEMU is installed, looked up in
// $QEMUFILE_EXTRA_STREAMS or /tmp/streams (not committed: the mapped-ram file
// is 23 MB apparent, the devices one 1.1 MB). Skipped visibly when absent.

fn extra_stream(name: &str) -> Option<Vec<u8>> {
    let dir = std::env::var("QEMUFILE_EXTRA_STREAMS").unwrap_or_else(|_| "/tmp/streams".into());
    let p = Path::new(&dir).join(name);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(_) => {
            eprintln!(
                "SKIPPED: {} not present (run /work/shared/qemu/make-streams.sh {dir} \
                 x86-pc-mapped-ram x86-pc-9.2 x86-pc-devices)",
                p.display()
            );
            None
        }
    }
}

/// `pc-i440fx-9.2` (copied from make-streams.sh output): no SWITCHOVER_START.
#[test]
fn x86_pc_9_2_no_switchover() {
    let b = data("x86-pc-9.2.mig");
    let s = check_stream("x86-pc-9.2", &b);
    assert_eq!(s.machine, "pc-i440fx-9.2");
    assert!(s.commands.is_empty());
    assert_eq!(b.len(), data("x86-pc-min.mig").len() - 6);
}

#[test]
fn extra_x86_pc_devices() {
    let Some(b) = extra_stream("x86-pc-devices.mig") else {
        return;
    };
    let s = check_stream("x86-pc-devices", &b);
    assert!(s.sections.iter().any(|x| x.2.ends_with("/e1000")));
}

#[test]
fn extra_x86_pc_mapped_ram() {
    let Some(b) = extra_stream("x86-pc-mapped-ram.mig") else {
        return;
    };
    eprintln!("testing x86-pc-mapped-ram.mig ({} bytes)", b.len());
    let s = check_stream("x86-pc-mapped-ram", &b);
    assert_eq!(s.capabilities, ["mapped-ram"]);
    assert_eq!(
        s.pages + s.zero_pages,
        0,
        "mapped-ram sends no page records"
    );
    assert!(s.mapped_pages > 0);
    let total: u64 = s.blocks.iter().map(|b| b.1).sum();
    assert!(s.mapped_pages <= total / 4096);
}

/// Mutated copies never panic: every failure is an `Error`.
#[test]
fn mutations_never_panic() {
    let (b, sizes, _) = good();
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..400 {
        let mut c = b.clone();
        for _ in 0..1 + next() % 4 {
            // Mostly headers and small sections; sometimes anywhere.
            let at = if i % 3 == 0 {
                next() as usize % c.len()
            } else {
                next() as usize % 2000
            };
            c[at] = next() as u8;
        }
        if i % 5 == 0 {
            c.truncate(next() as usize % c.len());
        }
        let mut r = match StreamReader::open(SliceReader::new(&c), StreamOptions::default()) {
            Ok(r) => r,
            Err(_) => continue,
        };
        let mut ram = RamReader::new(RamConfig::from_configuration(r.configuration(), 4096));
        let _ = (|| -> qemufile::Result<()> {
            loop {
                match r.next_item()? {
                    Item::Section(h) if h.idstr == "ram" => loop {
                        if let RamItem::Record(rec) = ram.next_item(r.body())? {
                            if rec.kind == RamKind::Eos {
                                r.finish_section()?;
                                break;
                            }
                        }
                    },
                    Item::Section(h) => {
                        let n = sizes.get(&(h.idstr.to_string(), h.instance_id)).copied();
                        r.skip_body(n.unwrap_or(3))?;
                    }
                    Item::Command(_) => {}
                    Item::Eof => {
                        r.read_vmdesc()?;
                        return Ok(());
                    }
                }
            }
        })();
    }
}

/// A stream of unknown origin tells whether it has footers: the first section
/// decides, later ones must agree.
#[test]
fn footers_are_detected_from_the_stream() {
    use qemufile::stream::{Item, SectionHeader, StreamOptions, StreamReader, StreamWriter};
    use qemufile::{QemuWrite, SliceReader};
    for footers in [true, false] {
        let opts = StreamOptions {
            send_section_footer: footers,
            ..StreamOptions::default()
        };
        let mut w = StreamWriter::new(Vec::new(), opts);
        w.write_header().unwrap();
        w.write_configuration(&qemufile::stream::Configuration::new(b"pc".to_vec()))
            .unwrap();
        for (id, name) in [(3u32, "a"), (5, "b")] {
            w.write_section_header(&SectionHeader::full(id, name, 0, 1).unwrap())
                .unwrap();
            w.body().put_be32(0x7e7e_7e7e).unwrap();
            w.write_section_footer().unwrap();
        }
        w.write_eof().unwrap();
        let bytes = w.into_inner();
        let detect = StreamOptions {
            detect_section_footer: true,
            ..StreamOptions::default()
        };
        let mut r = StreamReader::open(SliceReader::new(&bytes), detect).unwrap();
        let mut n = 0;
        while let Item::Section(_) = r.next_item().unwrap() {
            r.skip_body(4).unwrap();
            n += 1;
        }
        assert_eq!(n, 2, "footers {footers}");
        assert_eq!(r.options().send_section_footer, footers);
    }
}

/// QEMU's own footer-less stream (`-global migration.send-section-footer=off`)
/// parses with detection, and section bodies are where the vmdesc says.
#[test]
fn qemus_footerless_stream_is_detected() {
    use qemufile::stream::{Item, StreamOptions, StreamReader};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/x86-pc-nofooter.mig"
    );
    let bytes = std::fs::read(path).unwrap();
    let detect = StreamOptions {
        detect_section_footer: true,
        ..StreamOptions::default()
    };
    let mut r = StreamReader::open(qemufile::SliceReader::new(&bytes), detect).unwrap();
    // The first section is ram: walk its records to the EOS.
    let Item::Section(h) = r.next_item().unwrap() else {
        panic!("ram first")
    };
    assert_eq!(h.idstr.as_bytes(), b"ram");
    let mut ram = qemufile::ram::RamReader::new(qemufile::ram::RamConfig::from_configuration(
        r.configuration(),
        4096,
    ));
    loop {
        if let qemufile::ram::RamItem::Record(rec) = ram.next_item(r.body()).unwrap() {
            if rec.kind == qemufile::ram::RamKind::Eos {
                break;
            }
        }
    }
    r.finish_section().unwrap();
    assert!(!r.options().send_section_footer);
}
