//! Hostile migration streams, built with the library's own writer: each one
//! is small on the wire but claims something expensive (huge element counts,
//! zero-size elements, thousands of fields, duplicate sections). The hostile
//! input tests and the fuzz corpus use them.

use qemufile::QemuWrite;
use qemufile::stream::{Configuration, SectionHeader, StreamOptions, StreamWriter};
use serde_json::{Value, json};

/// One FULL device section: its idstr, vmdesc entry and body bytes.
#[derive(Debug, Clone)]
pub struct Section {
    /// The section's idstr (and vmsd name).
    pub idstr: String,
    /// Its instance id.
    pub instance_id: u32,
    /// Its version.
    pub version: u32,
    /// The vmdesc `"fields"` array of its entry.
    pub fields: Value,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Section {
    /// A version 1 section of instance 0.
    pub fn new(idstr: &str, fields: Value, body: Vec<u8>) -> Self {
        Section {
            idstr: idstr.to_owned(),
            instance_id: 0,
            version: 1,
            fields,
            body,
        }
    }
}

/// A stream of `sections`, in order, with a vmdesc describing them.
pub fn stream(sections: &[Section]) -> Vec<u8> {
    let devices: Vec<Value> = sections
        .iter()
        .map(|s| {
            json!({
                "name": s.idstr, "instance_id": s.instance_id, "vmsd_name": s.idstr,
                "version": s.version, "fields": s.fields,
            })
        })
        .collect();
    let vmdesc = json!({ "page_size": 4096, "devices": devices }).to_string();
    stream_with_vmdesc(sections, vmdesc.as_bytes())
}

/// A stream of `sections` with `vmdesc` as its trailer, whatever it says.
pub fn stream_with_vmdesc(sections: &[Section], vmdesc: &[u8]) -> Vec<u8> {
    let mut w = StreamWriter::new(Vec::new(), StreamOptions::default());
    let built = (|| -> qemufile::Result<()> {
        w.write_header()?;
        w.write_configuration(&Configuration::new("pc-i440fx-10.0"))?;
        for (i, s) in sections.iter().enumerate() {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            w.write_section_header(&SectionHeader::full(
                id,
                &s.idstr,
                s.instance_id,
                s.version,
            )?)?;
            w.body().put_bytes(&s.body)?;
            w.write_section_footer()?;
        }
        w.write_eof()?;
        w.write_vmdesc(vmdesc)
    })();
    match built {
        Ok(()) => w.into_inner(),
        Err(e) => unreachable!("writing to a Vec cannot fail: {e}"),
    }
}

/// An array of `count` empty structs: no bytes on the wire for any of them.
pub fn zero_size_array(count: u64) -> Section {
    let fields = json!([{
        "name": "nothing", "array_len": count, "type": "struct", "size": 0,
        "struct": { "vmsd_name": "empty", "version": 1, "fields": [] },
    }]);
    Section::new("hostile", fields, Vec::new())
}

/// Arrays of empty structs nested `depth` deep, `count` elements each:
/// `count^depth` elements, none of them on the wire.
pub fn nested_zero_size_arrays(count: u64, depth: usize) -> Section {
    let mut inner = json!({ "vmsd_name": "empty", "version": 1, "fields": [] });
    for level in 0..depth {
        inner = json!({
            "vmsd_name": format!("level{level}"), "version": 1,
            "fields": [{
                "name": "a", "array_len": count, "type": "struct", "size": 0, "struct": inner,
            }],
        });
    }
    Section::new("hostile", inner["fields"].clone(), Vec::new())
}

/// `count` one-byte `uint8` fields, each with its own vmdesc entry.
pub fn many_byte_fields(count: usize) -> Section {
    let fields: Vec<Value> = (0..count)
        .map(|i| json!({ "name": format!("f{i}"), "type": "uint8", "size": 1 }))
        .collect();
    Section::new("bytes", Value::Array(fields), vec![0x5a; count])
}

/// An array of `count` `uint8` elements whose body holds only `sent` bytes.
pub fn short_byte_array(count: u64, sent: usize) -> Section {
    let fields = json!([{ "name": "a", "array_len": count, "type": "uint8", "size": 1 }]);
    Section::new("short", fields, vec![1; sent])
}

/// A stream whose RAM section has a block list of `entries` blocks of
/// length 0 under a total of 4096 bytes: entries of length 0 never count the
/// total down, so only a bound on the entries ends the list.
pub fn zero_length_ram_blocks(entries: usize) -> Vec<u8> {
    use qemufile::ram::{FLAG_MEM_SIZE, RamConfig, RamItem, RamKind, RamRecord, RamWriter};
    use qemufile::stream::IdStr;
    let mut w = StreamWriter::new(Vec::new(), StreamOptions::default());
    let ram = RamWriter::new(RamConfig::new(4096));
    let built = (|| -> qemufile::Result<()> {
        w.write_header()?;
        w.write_configuration(&Configuration::new("pc-i440fx-10.0"))?;
        w.write_section_header(&SectionHeader::start(0, "ram", 0, 4)?)?;
        let size = RamItem::Record(RamRecord {
            addr: 4096,
            flags: FLAG_MEM_SIZE,
            block: None,
            kind: RamKind::MemSize,
        });
        ram.write_item(w.body(), &size)?;
        for i in 0..entries {
            let name = IdStr::new(format!("b{i}")).map_err(|k| qemufile::Error::new(0, k))?;
            let block = qemufile::ram::RamBlock {
                name,
                length: 0,
                page_size: None,
                mr_addr: None,
                mapped_ram: None,
            };
            ram.write_item(w.body(), &RamItem::Block(block))?;
        }
        Ok(())
    })();
    match built {
        Ok(()) => w.into_inner(),
        Err(e) => unreachable!("writing to a Vec cannot fail: {e}"),
    }
}
