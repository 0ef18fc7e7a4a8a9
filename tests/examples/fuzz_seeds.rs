//! Builds the seed corpora of the fuzz targets (`fuzz/`) from the real
//! fixtures, so that no corpus is committed:
//!
//! ```text
//! cargo run -p vmstate-tests --example fuzz_seeds -- fuzz/corpus
//! ```
//!
//! writes `fuzz/corpus/<target>/<hash>` for every target of
//! [`vmstate_tests::fuzz::Target`]:
//!
//! * the whole streams: `tests/fixtures/*.mig`, `vmstate-cli/data/*.mig`,
//!   `vmstate-cli/tests/data/streams/*.mig` and `../shared/streams/*.mig`
//!   when that folder is there;
//! * every device section of those streams alone, as a small stream with
//!   the stream's configuration and a vmdesc of that one device;
//! * the hostile streams of [`vmstate_tests::hostile`];
//! * for `typed_loads`: the bodies of the sections there is a model for,
//!   and each model's default state saved;
//! * for `dump_compat`: pairs of `-dump-vmstate` files (source NUL
//!   destination) from `vmstate-cli/tests/data`;
//! * every kept regression input of `tests/fuzz-regressions/<target>/`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use qemufile::QemuWrite;
use qemufile::stream::{SectionHeader, StreamOptions, StreamWriter};
use serde_json::{Value, json};
use vmstate_core::VmState;
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::stream::{Event, StreamDecoder, StreamSchema};
use vmstate_tests::devices;
use vmstate_tests::fuzz::Target;
use vmstate_tests::hostile;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: fuzz_seeds OUT_DIR")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seeds = Seeds::default();

    let mut streams = Vec::new();
    for dir in [
        "tests/fixtures",
        "vmstate-cli/data",
        "vmstate-cli/tests/data/streams",
        "../shared/streams",
    ] {
        streams.extend(files(&root.join(dir), ".mig"));
    }
    let mut bodies = Vec::new();
    for path in &streams {
        let bytes = fs::read(path)?;
        match sections(&bytes) {
            Ok(found) => {
                for s in found {
                    seeds.streams.insert(s.stream);
                    bodies.push((s.vmsd_name, s.body));
                }
            }
            Err(e) => eprintln!("{}: no sections taken: {e}", path.display()),
        }
        seeds.streams.insert(bytes);
    }
    for section in [
        hostile::zero_size_array(1 << 31),
        hostile::zero_size_array(u64::MAX),
        hostile::nested_zero_size_arrays(1 << 12, 3),
        hostile::many_byte_fields(64),
        hostile::short_byte_array(1 << 32, 16),
    ] {
        seeds.streams.insert(hostile::stream(&[section]));
    }
    seeds.streams.insert(hostile::zero_length_ram_blocks(16));

    let models = model_names();
    for (vmsd_name, body) in bodies {
        if models.contains(&vmsd_name.as_str()) {
            seeds.bodies.insert(body);
        }
    }
    seeds.bodies.extend(default_saves()?);

    let data = root.join("vmstate-cli/tests/data");
    let mut pairs: Vec<(PathBuf, PathBuf)> = files(&data.join("kinds"), ".src.json")
        .into_iter()
        .filter_map(|src| {
            let dest = PathBuf::from(src.to_string_lossy().replace(".src.json", ".dest.json"));
            dest.exists().then_some((src, dest))
        })
        .collect();
    pairs.push((data.join("pc-q35-7.2.json"), data.join("q35-10.0.2.json")));
    pairs.push((data.join("virt-7.2.json"), data.join("virt-7.2.json")));
    for (src, dest) in pairs {
        let mut pair = fs::read(&src)?;
        pair.push(0);
        pair.extend(fs::read(&dest)?);
        seeds.dumps.insert(pair);
    }

    self_describing_seeds(&mut seeds)?;

    for target in Target::ALL {
        let set = match target {
            Target::TypedLoads => &seeds.bodies,
            Target::DumpCompat => &seeds.dumps,
            Target::Ber => &seeds.ber,
            Target::Json => &seeds.json,
            _ => &seeds.streams,
        };
        let dir = out.join(target.name());
        fs::create_dir_all(&dir)?;
        let mut n = 0;
        let regressions = files(&root.join("tests/fuzz-regressions").join(target.name()), "");
        let kept: Vec<Vec<u8>> = regressions
            .iter()
            .filter_map(|p| fs::read(p).ok())
            .collect();
        for seed in set.iter().chain(&kept) {
            fs::write(dir.join(format!("seed-{:016x}", fnv(seed))), seed)?;
            n += 1;
        }
        println!("{}: {n} seeds in {}", target.name(), dir.display());
    }
    Ok(())
}

#[derive(Default)]
struct Seeds {
    streams: BTreeSet<Vec<u8>>,
    bodies: BTreeSet<Vec<u8>>,
    dumps: BTreeSet<Vec<u8>>,
    ber: BTreeSet<Vec<u8>>,
    json: BTreeSet<Vec<u8>>,
}

/// The files of `dir` whose name ends with `suffix`, sorted (none if `dir`
/// does not exist).
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

/// One device section of a stream, taken out.
struct Section {
    /// A stream of that section alone.
    stream: Vec<u8>,
    /// Its vmsd name.
    vmsd_name: String,
    /// Its body.
    body: Vec<u8>,
}

/// Every device section of `stream` as a stream of its own (the
/// configuration, that section, EOF and a vmdesc of that device).
fn sections(stream: &[u8]) -> Result<Vec<Section>> {
    let arena = DescriptionArena::new();
    let Some(schema) = StreamSchema::from_stream(&arena, stream)? else {
        return Ok(Vec::new());
    };
    let Some((_, json)) = qemufile::stream::find_vmdesc(stream) else {
        return Ok(Vec::new());
    };
    let vmdesc: Value = serde_json::from_slice(json)?;
    let entries = vmdesc["devices"].as_array().cloned().unwrap_or_default();
    let mut dec = StreamDecoder::open(qemufile::SliceReader::new(stream), Some(&schema))?;
    let configuration = dec.configuration().cloned();
    let mut found = Vec::new();
    while let Some(event) = dec.next_event()? {
        let Event::Section(h) = event else { continue };
        let start = dec.position() as usize;
        dec.decode_section()?;
        let footers = dec.options().send_section_footer;
        let end = dec.position() as usize - if footers { 5 } else { 0 };
        let body = stream[start..end].to_vec();
        let idstr = h.idstr.to_string_lossy();
        let Some(entry) = entries.iter().find(|e| {
            e["name"].as_str() == Some(idstr.as_str())
                && e["instance_id"].as_u64() == Some(u64::from(h.instance_id))
        }) else {
            continue;
        };
        let mut one = json!({ "page_size": vmdesc["page_size"], "devices": [entry] });
        if let Some(c) = vmdesc.get("configuration") {
            one["configuration"] = c.clone();
        }
        let options = StreamOptions {
            send_configuration: configuration.is_some(),
            send_section_footer: footers,
            ..StreamOptions::default()
        };
        let mut w = StreamWriter::new(Vec::new(), options);
        w.write_header()?;
        if let Some(c) = &configuration {
            w.write_configuration(c)?;
        }
        w.write_section_header(&SectionHeader::full(
            h.section_id,
            &idstr,
            h.instance_id,
            h.version_id,
        )?)?;
        w.body().put_bytes(&body)?;
        w.write_section_footer()?;
        w.write_eof()?;
        w.write_vmdesc(one.to_string().as_bytes())?;
        let vmsd_name = entry["vmsd_name"].as_str().unwrap_or(&idstr).to_owned();
        found.push(Section {
            stream: w.into_inner(),
            vmsd_name,
            body,
        });
    }
    Ok(found)
}

fn model_names() -> Vec<&'static str> {
    use devices::*;
    vec![
        fw_cfg::FwCfg::DESCRIPTION.name,
        hpet::Hpet::DESCRIPTION.name,
        i8254::I8254::DESCRIPTION.name,
        i8259::I8259::DESCRIPTION.name,
        mc146818rtc::Mc146818Rtc::DESCRIPTION.name,
        piix3::Piix3::DESCRIPTION.name,
        pl011::Pl011::DESCRIPTION.name,
        pl031::Pl031::DESCRIPTION.name,
        pl061::Pl061::DESCRIPTION.name,
        ps2::Ps2Kbd::DESCRIPTION.name,
        ps2::Ps2Mouse::DESCRIPTION.name,
    ]
}

fn default_saves() -> Result<Vec<Vec<u8>>> {
    use devices::*;
    use vmstate_core::save_to_vec;
    Ok(vec![
        save_to_vec(&mut fw_cfg::FwCfg::default())?,
        save_to_vec(&mut hpet::Hpet::default())?,
        save_to_vec(&mut i8254::I8254::default())?,
        save_to_vec(&mut i8259::I8259::default())?,
        save_to_vec(&mut mc146818rtc::Mc146818Rtc::default())?,
        save_to_vec(&mut piix3::Piix3::default())?,
        save_to_vec(&mut pl011::Pl011::default())?,
        save_to_vec(&mut pl031::Pl031::default())?,
        save_to_vec(&mut pl061::Pl061::default())?,
        save_to_vec(&mut ps2::Ps2Kbd::default())?,
        save_to_vec(&mut ps2::Ps2Mouse::default())?,
    ])
}

/// BER and JSON documents: every model's default state, and every small
/// stream (a section alone, under 64 KiB) converted whole.
fn self_describing_seeds(seeds: &mut Seeds) -> Result<()> {
    use devices::*;
    macro_rules! both {
        ($($t:ty),*) => {$(
            seeds.ber.insert(vmstate_core::ber::save_to_vec(&mut <$t>::default())?);
            seeds.json.insert(vmstate_core::json_state::to_json(&mut <$t>::default())?.into_bytes());
        )*};
    }
    both!(
        fw_cfg::FwCfg,
        hpet::Hpet,
        i8254::I8254,
        i8259::I8259,
        mc146818rtc::Mc146818Rtc,
        piix3::Piix3,
        pl011::Pl011,
        pl031::Pl031,
        pl061::Pl061,
        ps2::Ps2Kbd,
        ps2::Ps2Mouse
    );
    for stream in seeds.streams.iter().filter(|s| s.len() < 64 << 10) {
        let arena = vmstate_core::dynamic::DescriptionArena::new();
        let Ok(Some(schema)) = vmstate_core::stream::StreamSchema::from_stream(&arena, stream)
        else {
            continue;
        };
        let json = qemufile::stream::find_vmdesc(stream).map(|(_, j)| j);
        let limits = vmstate_core::Limits::DEFAULT;
        if let Ok(doc) = vmstate_core::ber::stream::to_ber(
            qemufile::SliceReader::new(stream),
            &schema,
            json,
            Vec::new(),
            limits,
            |_| {},
        ) {
            seeds.ber.insert(doc);
        }
        let mut dec = vmstate_core::stream::StreamDecoder::open(
            qemufile::SliceReader::new(stream),
            Some(&schema),
        )?;
        let mut doc = Vec::new();
        if vmstate_core::json_stream::stream_to_json(&mut dec, json, &mut doc, |_| {}).is_ok() {
            seeds.json.insert(doc);
        }
    }
    Ok(())
}

/// FNV-1a, for seed file names.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
