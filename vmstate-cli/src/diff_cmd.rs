//! `vmstate diff A B`: the devices and fields that differ between two
//! streams, by the paths of the pretty-printer (each names one field of one
//! section), with old and new values; RAM pages compared by content. Exit
//! status as `diff(1)`: 0 same, 1 different, 2 trouble.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use qemufile::ram::{RamItem, RamKind};
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::stream::{Event, SectionItem, section_root};
use vmstate_core::{Limit, Limits, PrettyPrinter};

use crate::error::CliError;
use crate::input::Input;
use crate::limits::LimitArgs;
use crate::session;

/// Arguments of `vmstate diff`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiffArgs {
    /// The old stream.
    pub a: PathBuf,
    /// The new stream.
    pub b: PathBuf,
    /// The `--max-*` limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// One value: its path, type name and value, as the pretty-printer shows them.
type Line = (String, String, String);

/// What a stream holds, for comparing.
#[derive(Debug, Default)]
struct Snapshot {
    name: String,
    machine: Option<String>,
    /// By (idstr, instance id): the version and the values.
    sections: Vec<((String, u32), u32, Vec<Line>)>,
    blocks: Vec<(String, u64)>,
    /// By (block, address): a hash of the page (0 for zero pages).
    pages: HashMap<(String, u64), u64>,
}

/// Splits a pretty-printer line `path = (type) value`.
fn split(line: &str) -> Option<Line> {
    let (path, rest) = line.split_once(" = (")?;
    let (ty, value) = rest.split_once(") ")?;
    Some((path.to_owned(), ty.to_owned(), value.to_owned()))
}

/// The memory both snapshots hold, against
/// [`Limits::stream_memory`](vmstate_core::Limits::stream_memory).
#[derive(Debug)]
struct Held {
    limits: Limits,
    bytes: u64,
}

impl Held {
    fn add(&mut self, bytes: usize, name: &str, at: u64) -> Result<(), CliError> {
        self.bytes = self.bytes.saturating_add(bytes as u64);
        self.limits
            .check(Limit::StreamMemory, self.bytes, || {
                "the values and pages of both streams, held for comparing".to_owned()
            })
            .map_err(|e| CliError::Invalid {
                name: name.to_owned(),
                message: format!("at byte offset {at} (0x{at:x}): {e}"),
            })
    }
}

fn line_bytes(line: &Line) -> usize {
    std::mem::size_of::<Line>() + line.0.len() + line.1.len() + line.2.len()
}

fn snapshot(path: &Path, held: &mut Held) -> Result<Snapshot, CliError> {
    let limits = held.limits;
    let mut input = Input::open(Some(path), &limits)?;
    let arena = DescriptionArena::with_limits(limits);
    let schema = session::schema(&arena, &input, None)?;
    let mut dec = session::decoder(&mut input, schema.as_ref(), limits)?;
    let fail = CliError::stream(&input.name);
    let mut snap = Snapshot {
        name: input.name.clone(),
        machine: dec
            .configuration()
            .map(|c| String::from_utf8_lossy(c.machine()).into_owned()),
        ..Snapshot::default()
    };
    let mut block = String::new();
    let mut page = Vec::new();
    while let Some(event) = dec.next_event().map_err(&fail)? {
        match event {
            Event::Section(h) => {
                let root = section_root(&h);
                let mut state = dec.decode_section().map_err(&fail)?;
                let d = state.description();
                let mut p = PrettyPrinter::new(String::new()).with_root(&root);
                vmstate_core::visit_struct_at(&mut state, &mut p, d.name, d.version_id)
                    .map_err(&fail)?;
                let lines: Vec<Line> = p.into_inner().lines().filter_map(split).collect();
                let bytes = lines.iter().map(line_bytes).sum();
                held.add(bytes, &snap.name, dec.item_offset())?;
                snap.sections.push((
                    (h.idstr.to_string_lossy(), h.instance_id),
                    h.version_id,
                    lines,
                ));
            }
            Event::Item(SectionItem::Ram(RamItem::Block(b))) => {
                snap.blocks.push((b.name.to_string_lossy(), b.length));
            }
            Event::Item(SectionItem::Ram(RamItem::Record(r))) => {
                if let Some(b) = &r.block {
                    block = b.to_string_lossy();
                }
                let hash = match r.kind {
                    RamKind::Zero { fill: 0 } => 0,
                    RamKind::Zero { fill } => u64::from(fill) | 1 << 63,
                    RamKind::Page | RamKind::Xbzrle { .. } => {
                        let n = usize::try_from(dec.payload_remaining()).unwrap_or(0);
                        page.resize(n.min(1 << 20), 0);
                        dec.read_payload(&mut page).map_err(&fail)?;
                        let mut h = DefaultHasher::new();
                        page.hash(&mut h);
                        h.finish() | 1
                    }
                    _ => continue,
                };
                let entry = std::mem::size_of::<((String, u64), u64)>() + block.len();
                held.add(entry, &snap.name, dec.item_offset())?;
                snap.pages.insert((block.clone(), r.addr), hash);
            }
            _ => {}
        }
    }
    Ok(snap)
}

/// Runs `vmstate diff`.
pub fn run(args: &DiffArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut held = Held {
        limits: args.limits.limits(),
        bytes: 0,
    };
    let (a, b) =
        match snapshot(&args.a, &mut held).and_then(|a| Ok((a, snapshot(&args.b, &mut held)?))) {
            Ok(both) => both,
            Err(e) => {
                let _ = writeln!(err, "vmstate diff: {e}");
                return 2;
            }
        };
    let mut o = String::new();
    let n = compare(&a, &b, &mut o);
    match out.write_all(o.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => u8::from(n > 0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => u8::from(n > 0),
        Err(e) => {
            let _ = writeln!(err, "vmstate diff: cannot write output: {e}");
            2
        }
    }
}

fn compare(a: &Snapshot, b: &Snapshot, o: &mut String) -> u64 {
    use std::fmt::Write as _;
    let mut n = 0;
    let _ = writeln!(o, "--- {}\n+++ {}", a.name, b.name);
    if a.machine != b.machine {
        n += 1;
        let _ = writeln!(o, "machine: {:?} -> {:?}", a.machine, b.machine);
    }
    let index = |s: &Snapshot| -> HashMap<(String, u32), usize> {
        s.sections
            .iter()
            .enumerate()
            .map(|(i, (k, _, _))| (k.clone(), i))
            .collect()
    };
    let (amap, bmap) = (index(a), index(b));
    for (key, va, la) in &a.sections {
        let Some(&j) = bmap.get(key) else {
            n += 1;
            let _ = writeln!(
                o,
                "- section {} instance {}: only in {}",
                key.0, key.1, a.name
            );
            continue;
        };
        let (_, vb, lb) = &b.sections[j];
        let mut changes = String::new();
        if va != vb {
            n += 1;
            let _ = writeln!(changes, "  version: {va} -> {vb}");
        }
        let lbm: HashMap<&str, (&str, &str)> = lb
            .iter()
            .map(|(p, t, v)| (p.as_str(), (t.as_str(), v.as_str())))
            .collect();
        let lam: HashMap<&str, ()> = la.iter().map(|(p, _, _)| (p.as_str(), ())).collect();
        for (p, t, v) in la {
            match lbm.get(p.as_str()) {
                Some((tb, vb)) if *tb == t && *vb == v => {}
                Some((tb, vb)) if *tb == t => {
                    n += 1;
                    let _ = writeln!(changes, "  {p} ({t}): {v} -> {vb}");
                }
                Some((tb, vb)) => {
                    n += 1;
                    let _ = writeln!(changes, "  {p}: ({t}) {v} -> ({tb}) {vb}");
                }
                None => {
                    n += 1;
                    let _ = writeln!(changes, "  - {p} = ({t}) {v}");
                }
            }
        }
        for (p, t, v) in lb {
            if !lam.contains_key(p.as_str()) {
                n += 1;
                let _ = writeln!(changes, "  + {p} = ({t}) {v}");
            }
        }
        if !changes.is_empty() {
            let _ = writeln!(o, "section {} instance {}:", key.0, key.1);
            o.push_str(&changes);
        }
    }
    for (key, _, _) in &b.sections {
        if !amap.contains_key(key) {
            n += 1;
            let _ = writeln!(
                o,
                "+ section {} instance {}: only in {}",
                key.0, key.1, b.name
            );
        }
    }
    if a.blocks != b.blocks {
        n += 1;
        let _ = writeln!(o, "ram blocks: {:?} -> {:?}", a.blocks, b.blocks);
    }
    let mut per_block: BTreeMap<&str, u64> = BTreeMap::new();
    for (k, h) in &a.pages {
        if b.pages.get(k).copied().unwrap_or(0) != *h {
            *per_block.entry(&k.0).or_default() += 1;
        }
    }
    for (k, h) in &b.pages {
        if !a.pages.contains_key(k) && *h != 0 {
            *per_block.entry(&k.0).or_default() += 1;
        }
    }
    for (blk, c) in per_block {
        n += 1;
        let _ = writeln!(o, "ram block {blk:?}: {c} page(s) differ");
    }
    if n == 0 {
        let _ = writeln!(o, "no differences");
    } else {
        let _ = writeln!(o, "{n} difference(s)");
    }
    n
}
