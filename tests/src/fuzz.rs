//! The bodies of the coverage-guided fuzz targets in `fuzz/` (cargo-fuzz,
//! nightly), here on stable so that the regression test
//! (`tests/tests/fuzz_regressions.rs`) runs every kept input through exactly
//! the code the fuzzer ran.
//!
//! Each [`Target`] reads arbitrary bytes with the default [`Limits`] and
//! returns a [`Violation`] when an oracle fails; a panic, an abort on
//! allocation failure, unbounded memory or time are findings too (the fuzzer
//! runs with `-rss_limit_mb=2048 -timeout=10`). Refusing the input is never a
//! finding: only what the library does with what it accepted is checked.
//!
//! | target | reads | oracle |
//! |---|---|---|
//! | `stream_reader` | `qemufile`'s [`StreamReader`] and the iterative body readers: every item, command payloads, the vmdesc | no panic, bounded |
//! | `reencode` | [`StreamSchema`] from the input's own vmdesc, [`StreamDecoder`] events, every device section decoded | a stream that decodes re-encodes; the output decodes and re-encodes to itself; a *strict* stream (see [`reencode`]) re-encodes byte-identically |
//! | `typed_loads` | `load_from_slice` into every model of [`crate::devices`], at every version it loads | all or nothing; what loaded saves, and the saved bytes load and save to themselves; byte-identical for the models whose save is canonical |
//! | `registry` | [`Registry::load_with`] with the models registered as QEMU's machines register them, [`DiscardRam`], unknown sections kept | all or nothing; what loaded saves, and that stream loads into fresh models and saves to itself |
//! | `dump_compat` | two `-dump-vmstate` files split at the first NUL byte, [`DumpFile::parse`], [`compat::check`] | a parsed file's JSON parses to the same file; `--reverse` is the check with the files swapped |
//! | `listen` | `vmstate listen`'s framing check over a buffer ([`vmstate_cli::net_cmd::check_framing`]), then `vmstate check` on the bytes as a file, as `listen` does | what the framing check refuses, `check` refuses |

use std::fmt;

use qemufile::stream::{
    CONFIGURATION, Item, SECTION_FOOTER, SectionKind, StreamOptions, StreamReader, Vmdesc,
};
use qemufile::{QemuRead, SliceReader};
use vmstate_core::compat;
use vmstate_core::dump::DumpFile;
use vmstate_core::dynamic::{DescriptionArena, DynamicState};
use vmstate_core::registry::{DiscardRam, LoadOptions, Registration, Registry, StreamSettings};
use vmstate_core::stream::{Event, IterativeKind, StreamDecoder, StreamSchema};
use vmstate_core::{
    Description, IncomingSubsection, Limits, Result, Timer, Visitor, VmState, visit_struct_at,
};

use crate::devices::{
    fw_cfg::FwCfg, hpet::Hpet, i8254::I8254, i8259::I8259, mc146818rtc::Mc146818Rtc, piix3::Piix3,
    pl011::Pl011, pl031::Pl031, pl061::Pl061, ps2::Ps2Kbd, ps2::Ps2Mouse,
};

/// A fuzz target (its `fuzz/fuzz_targets/<name>.rs` calls [`Target::run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// [`stream_reader`].
    StreamReader,
    /// [`reencode`].
    Reencode,
    /// [`typed_loads`].
    TypedLoads,
    /// [`registry`].
    Registry,
    /// [`dump_compat`].
    DumpCompat,
    /// [`listen`].
    Listen,
    /// [`ber`].
    Ber,
    /// [`json`].
    Json,
}

impl Target {
    /// Every target, in the order `docs/fuzzing.md` lists them.
    pub const ALL: [Target; 8] = [
        Target::StreamReader,
        Target::Reencode,
        Target::TypedLoads,
        Target::Registry,
        Target::DumpCompat,
        Target::Listen,
        Target::Ber,
        Target::Json,
    ];

    /// The target's name: its fuzz target, corpus and regression folder.
    pub fn name(self) -> &'static str {
        match self {
            Target::StreamReader => "stream_reader",
            Target::Reencode => "reencode",
            Target::TypedLoads => "typed_loads",
            Target::Registry => "registry",
            Target::DumpCompat => "dump_compat",
            Target::Listen => "listen",
            Target::Ber => "ber",
            Target::Json => "json",
        }
    }

    /// Runs the target on one input.
    pub fn run(self, data: &[u8]) -> std::result::Result<(), Violation> {
        match self {
            Target::StreamReader => stream_reader(data),
            Target::Reencode => reencode(data),
            Target::TypedLoads => typed_loads(data),
            Target::Registry => registry(data),
            Target::DumpCompat => dump_compat(data),
            Target::Listen => listen(data),
            Target::Ber => ber(data),
            Target::Json => json(data),
        }
    }
}

/// An oracle that failed: what the library did that it must not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

fn violation(message: impl Into<String>) -> std::result::Result<(), Violation> {
    Err(Violation(message.into()))
}

/// The first offset where `a` and `b` differ, for messages.
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

// ---------------------------------------------------------------------------
// stream_reader

/// `qemufile` alone: [`StreamReader`] over the input with the options the
/// stream decoder uses (configuration if byte 8 says so, footers detected)
/// and with QEMU's defaults; iterative bodies through `qemufile`'s RAM,
/// `spapr/htab`, storage-attribute and dirty-bitmap readers; device bodies
/// skipped up to their footer; command payloads decoded; the vmdesc read.
pub fn stream_reader(data: &[u8]) -> std::result::Result<(), Violation> {
    let _ = qemufile::stream::find_vmdesc(data);
    let detected = StreamOptions {
        send_configuration: data.get(8) == Some(&CONFIGURATION),
        detect_section_footer: true,
        ..StreamOptions::default()
    };
    let no_footers = StreamOptions {
        send_section_footer: false,
        ..detected.clone()
    };
    for opts in [detected, StreamOptions::default(), no_footers] {
        let _ = read_items(data, opts);
    }
    Ok(())
}

fn read_items(data: &[u8], opts: StreamOptions) -> qemufile::Result<()> {
    use qemufile::dirty_bitmap::DirtyBitmapReader;
    use qemufile::htab::HtabReader;
    use qemufile::ram::{RamConfig, RamItem, RamKind, RamReader};
    use qemufile::stattrib::{S390Body, StattribReader};

    let limits = opts.limits;
    let footers = opts.send_section_footer || opts.detect_section_footer;
    let mut r = StreamReader::open(SliceReader::new(data), opts)?;
    let mut ram_config = RamConfig::from_configuration(r.configuration(), 4096);
    ram_config.max_block_entries = limits.max_ram_blocks;
    let mut ram = RamReader::new(ram_config);
    let mut htab = HtabReader::new();
    let mut stattrib = StattribReader::new(S390Body::StorageAttributes);
    let mut dirty_bitmap = DirtyBitmapReader::new();
    loop {
        match r.next_item()? {
            Item::Eof => {
                if let Vmdesc::Present(json) = r.read_vmdesc()? {
                    let _ = serde_json::from_slice::<serde::de::IgnoredAny>(&json);
                }
                let _ = r.at_end()?;
                return Ok(());
            }
            Item::Command(c) => {
                let _ = c.payload(r.item_offset() + 5);
            }
            Item::Section(h) => {
                let kind = IterativeKind::of(h.idstr.as_bytes());
                if h.kind == SectionKind::Full || kind == IterativeKind::Unknown {
                    if !footers {
                        return Ok(());
                    }
                    // The body runs up to its footer: find it.
                    let mut footer = [SECTION_FOOTER, 0, 0, 0, 0];
                    footer[1..].copy_from_slice(&h.section_id.to_be_bytes());
                    let from = usize::try_from(r.position()).unwrap_or(usize::MAX);
                    let rest = data.get(from..).unwrap_or(&[]);
                    let Some(len) = rest.windows(5).position(|w| w == footer) else {
                        return Ok(());
                    };
                    r.skip_body(len as u64)?;
                    continue;
                }
                let body = r.body();
                match kind {
                    IterativeKind::Ram => loop {
                        ram.skip_payload(body)?;
                        if let RamItem::Record(rec) = ram.next_item(body)? {
                            if rec.kind == RamKind::Eos {
                                break;
                            }
                        }
                    },
                    IterativeKind::Htab => loop {
                        htab.skip_payload(body)?;
                        htab.next_item(body)?;
                        if htab.body_complete() {
                            htab.skip_payload(body)?;
                            break;
                        }
                    },
                    IterativeKind::StorageAttributes => loop {
                        stattrib.skip_payload(body)?;
                        if stattrib.next_item(body)?.ends_body() {
                            stattrib.skip_payload(body)?;
                            break;
                        }
                    },
                    IterativeKind::DirtyBitmap => loop {
                        dirty_bitmap.skip_payload(body)?;
                        if dirty_bitmap.next_item(body)?.ends_body() {
                            dirty_bitmap.skip_payload(body)?;
                            break;
                        }
                    },
                    IterativeKind::Unknown => {}
                }
                r.finish_section()?;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// reencode

/// What one decode of a stream found.
struct Decoded {
    /// Every byte was read: nothing follows EOF and its vmdesc (`check`
    /// and `reencode` refuse a stream with bytes after its end).
    complete: bool,
    /// Every device body is canonical (see [`reencode`]).
    strict: bool,
}

/// The dynamic decoder and re-encoder. The input's own vmdesc is the schema
/// (as `vmstate dump`/`check`/`reencode` do); every event is read and every
/// device section decoded. If all of that succeeds and no byte is left after
/// EOF and the vmdesc:
///
/// * [`vmstate_core::stream::reencode`] must succeed on the same input;
/// * its output must decode and re-encode to itself (our writer and reader
///   agree, and re-encoding loses nothing it wrote);
/// * if the decode was *strict*, the output must equal the input byte for
///   byte. Strict: every device body holds only canonical encodings, which the loader accepts as QEMU does
///   but the writer cannot reproduce: a `bool` byte other than 0 or 1 (and a
///   list marker likewise), an `unused` field with non-zero bytes, a
///   subsection whose header is not the one the writer writes (a version
///   other than the description's, a name with a NUL and more bytes after
///   it) or that comes out of description order or twice.
///
/// Without a vmdesc, the events are read and device bodies skipped up to
/// their footers (`check`'s framing-only mode).
pub fn reencode(data: &[u8]) -> std::result::Result<(), Violation> {
    let limits = Limits::DEFAULT;
    let arena = DescriptionArena::with_limits(limits);
    let schema = match StreamSchema::from_stream(&arena, data) {
        Ok(Some(s)) => s,
        Ok(None) => {
            let _ = decode_framing_only(data, limits);
            return Ok(());
        }
        Err(_) => return Ok(()),
    };
    let first = match decode_all(data, &schema, limits) {
        Ok(d) if d.complete => d,
        _ => return Ok(()),
    };
    let out = match reencode_with(data, &schema, limits) {
        Ok(out) => out,
        Err(e) => return violation(format!("the stream decodes, but reencode fails: {e}")),
    };
    if first.strict && out != data {
        let at = first_difference(data, &out);
        return violation(format!(
            "a strict stream of {} bytes re-encodes to {} different bytes, first difference at \
             offset {at}",
            data.len(),
            out.len()
        ));
    }
    // The output is ours: it must decode (with its own vmdesc, copied from
    // the input) and re-encode to itself.
    let arena2 = DescriptionArena::with_limits(limits);
    let schema2 = match StreamSchema::from_stream(&arena2, &out) {
        Ok(Some(s)) => s,
        Ok(None) => return violation("the re-encoded stream has no vmdesc"),
        Err(e) => return violation(format!("the re-encoded stream's vmdesc fails: {e}")),
    };
    match decode_all(&out, &schema2, limits) {
        Ok(d) if d.complete => {}
        Ok(_) => return violation("the re-encoded stream has bytes after its end"),
        Err(e) => return violation(format!("the re-encoded stream does not decode: {e}")),
    }
    match reencode_with(&out, &schema2, limits) {
        Ok(again) if again == out => Ok(()),
        Ok(again) => violation(format!(
            "re-encoding the re-encoded stream changes it, first difference at offset {}",
            first_difference(&out, &again)
        )),
        Err(e) => violation(format!("the re-encoded stream does not re-encode: {e}")),
    }
}

fn reencode_with(data: &[u8], schema: &StreamSchema<'_>, limits: Limits) -> Result<Vec<u8>> {
    let mut dec = StreamDecoder::open_with_limits(SliceReader::new(data), Some(schema), limits)?;
    vmstate_core::stream::reencode(&mut dec, Vec::new(), |_| {})
}

fn decode_all(data: &[u8], schema: &StreamSchema<'_>, limits: Limits) -> Result<Decoded> {
    let mut dec = StreamDecoder::open_with_limits(SliceReader::new(data), Some(schema), limits)?;
    let _ = dec.configuration_state()?;
    let mut strict = true;
    while let Some(event) = dec.next_event()? {
        if let Event::Section(_) = event {
            let description = dec.section_description()?.description;
            let start = dec.position();
            dec.decode_section()?;
            let footer = if dec.options().send_section_footer {
                5
            } else {
                0
            };
            let end = dec.position().saturating_sub(footer);
            let body = usize::try_from(start)
                .ok()
                .zip(usize::try_from(end).ok())
                .and_then(|(s, e)| data.get(s..e))
                .unwrap_or(&[]);
            strict &= canonical_body(description, body)?;
        }
    }
    let complete = dec.get_mut().is_empty();
    Ok(Decoded { complete, strict })
}

fn decode_framing_only(data: &[u8], limits: Limits) -> Result<()> {
    let mut dec = StreamDecoder::open_with_limits(SliceReader::new(data), None, limits)?;
    while let Some(event) = dec.next_event()? {
        if let Event::Section(_) = event {
            dec.skip_section_raw()?;
        }
    }
    Ok(())
}

/// True when `body` (a whole device body, already decoded with
/// `description`) holds only encodings the writer reproduces.
fn canonical_body(description: &Description<'_>, body: &[u8]) -> Result<bool> {
    let mut state = DynamicState::new(description)?;
    let mut v = Strict {
        inner: vmstate_core::InputVisitor::new(SliceReader::new(body)),
        body,
        canonical: true,
        last_subsection: Vec::new(),
    };
    visit_struct_at(&mut state, &mut v, description.name, description.version_id)?;
    let consumed = v.inner.get_mut().position();
    Ok(v.canonical && consumed == body.len() as u64)
}

/// The input visitor, noting every encoding the output visitor would not
/// write back the same (see [`reencode`]).
struct Strict<'a> {
    inner: vmstate_core::InputVisitor<SliceReader<'a>>,
    body: &'a [u8],
    canonical: bool,
    /// Per struct being loaded: the index of its last subsection read.
    last_subsection: Vec<Option<usize>>,
}

impl Strict<'_> {
    fn position(&mut self) -> usize {
        usize::try_from(self.inner.get_mut().position()).unwrap_or(usize::MAX)
    }

    /// Notes a non-canonical `len` bytes at the current position unless
    /// `ok` accepts them.
    fn note_unless(&mut self, len: usize, ok: impl Fn(&[u8]) -> bool) {
        let at = self.position();
        let bytes = self.body.get(at..at.saturating_add(len)).unwrap_or(&[]);
        if bytes.len() == len && !ok(bytes) {
            self.canonical = false;
        }
    }
}

macro_rules! delegate {
    ($($name:ident($t:ty)),* $(,)?) => {
        $(fn $name(&mut self, name: &'d str, v: &mut $t) -> Result<()> {
            self.inner.$name(name, v)
        })*
    };
}

impl<'d> Visitor<'d> for Strict<'_> {
    const LOADING: bool = true;

    fn visit_bool(&mut self, name: &'d str, v: &mut bool) -> Result<()> {
        self.note_unless(1, |b| b[0] <= 1);
        self.inner.visit_bool(name, v)
    }

    delegate!(
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_f64(f64),
        visit_timer(Timer),
        visit_u8_equal(u8),
        visit_u16_equal(u16),
        visit_u32_equal(u32),
        visit_u64_equal(u64),
        visit_i32_equal(i32),
        visit_i32_le(i32),
        visit_bitmap_word(u64),
    );

    fn visit_buffer(&mut self, name: &'d str, bytes: &mut [u8]) -> Result<()> {
        self.inner.visit_buffer(name, bytes)
    }

    fn visit_buffer_vec(&mut self, name: &'d str, bytes: &mut Vec<u8>, len: usize) -> Result<()> {
        self.inner.visit_buffer_vec(name, bytes, len)
    }

    fn visit_opaque(
        &mut self,
        name: &'d str,
        type_name: &'d str,
        bytes: &mut Vec<u8>,
        len: usize,
    ) -> Result<()> {
        self.inner.visit_opaque(name, type_name, bytes, len)
    }

    fn visit_unused(&mut self, name: &'d str, len: usize) -> Result<()> {
        self.note_unless(len, |b| b.iter().all(|&x| x == 0));
        self.inner.visit_unused(name, len)
    }

    fn visit_ptr_marker(
        &mut self,
        name: &'d str,
        present: &mut bool,
        valid_allowed: bool,
    ) -> Result<()> {
        self.inner.visit_ptr_marker(name, present, valid_allowed)
    }

    fn visit_list_marker(&mut self, name: &'d str, more: &mut bool) -> Result<()> {
        self.note_unless(1, |b| b[0] <= 1);
        self.inner.visit_list_marker(name, more)
    }

    fn visit_u8_slice(&mut self, name: &'d str, items: &mut [u8]) -> Result<()> {
        self.inner.visit_u8_slice(name, items)
    }

    fn visit_u16_slice(&mut self, name: &'d str, items: &mut [u16]) -> Result<()> {
        self.inner.visit_u16_slice(name, items)
    }

    fn visit_u32_slice(&mut self, name: &'d str, items: &mut [u32]) -> Result<()> {
        self.inner.visit_u32_slice(name, items)
    }

    fn visit_u64_slice(&mut self, name: &'d str, items: &mut [u64]) -> Result<()> {
        self.inner.visit_u64_slice(name, items)
    }

    fn visit_i32_slice(&mut self, name: &'d str, items: &mut [i32]) -> Result<()> {
        self.inner.visit_i32_slice(name, items)
    }

    fn enter_field(&mut self, index: usize) -> Result<()> {
        Visitor::<'d>::enter_field(&mut self.inner, index)
    }

    fn leave_field(&mut self) -> Result<()> {
        Visitor::<'d>::leave_field(&mut self.inner)
    }

    fn enter_struct(
        &mut self,
        name: &'d str,
        description: &'d Description<'d>,
        version_id: u32,
    ) -> Result<()> {
        self.last_subsection.push(None);
        self.inner.enter_struct(name, description, version_id)
    }

    fn leave_struct(&mut self) -> Result<()> {
        self.last_subsection.pop();
        Visitor::<'d>::leave_struct(&mut self.inner)
    }

    fn enter_array(&mut self, name: &'d str, len: usize, element_size: usize) -> Result<()> {
        self.inner.enter_array(name, len, element_size)
    }

    fn leave_array(&mut self) -> Result<()> {
        Visitor::<'d>::leave_array(&mut self.inner)
    }

    fn enter_element(&mut self, index: usize) -> Result<()> {
        Visitor::<'d>::enter_element(&mut self.inner, index)
    }

    fn leave_element(&mut self) -> Result<()> {
        Visitor::<'d>::leave_element(&mut self.inner)
    }

    fn enter_subsection(&mut self, description: &'d Description<'d>) -> Result<()> {
        self.inner.enter_subsection(description)
    }

    fn leave_subsection(&mut self) -> Result<()> {
        Visitor::<'d>::leave_subsection(&mut self.inner)
    }

    fn next_subsection(
        &mut self,
        parent: &'d Description<'d>,
    ) -> Result<Option<IncomingSubsection>> {
        let at = self.position();
        let incoming = self.inner.next_subsection(parent)?;
        if let Some(sub) = &incoming {
            let end = self.position();
            let wanted = parent.subsections.get(sub.index).map(|d| {
                let mut h = vec![qemufile::stream::SUBSECTION, d.name.len() as u8];
                h.extend_from_slice(d.name.as_bytes());
                h.extend_from_slice(&d.version_id.to_be_bytes());
                h
            });
            if wanted.as_deref() != self.body.get(at..end) {
                self.canonical = false;
            }
            if let Some(last) = self.last_subsection.last_mut() {
                if last.is_some_and(|l| l >= sub.index) {
                    self.canonical = false;
                }
                *last = Some(sub.index);
            }
        }
        Ok(incoming)
    }

    fn allocate(&mut self, added: u64, container: u64) -> Result<()> {
        Visitor::<'d>::allocate(&mut self.inner, added, container)
    }

    fn input_position(&self) -> Option<u64> {
        Visitor::<'d>::input_position(&self.inner)
    }

    fn locate(&self, error: vmstate_core::Error) -> vmstate_core::Error {
        Visitor::<'d>::locate(&self.inner, error)
    }
}

// ---------------------------------------------------------------------------
// typed_loads

/// Whether a model's save gives back every body it loads at its current
/// version, byte for byte. Most models do not, and rightly: a subsection
/// whose `needed` is false may still be sent and is loaded, `bool` bytes
/// other than 0 and 1 load as `true`, `unused` bytes are skipped, and
/// `post_load` hooks change state as QEMU's do. See `docs/fuzzing.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Save {
    /// `save(load(x)) == x` for every `x` that loads at the current version.
    Canonical,
    /// Only the saved form is a fixpoint.
    Normalising,
}

/// Typed loads of every model in [`crate::devices`]: `load_from_slice` of
/// the whole input at every version the model loads. A load that fails
/// leaves the value as it was (compared with `PartialEq`). A load that
/// succeeds saves; those bytes load (at the current version) and save again
/// to the same bytes; and for the models whose save is canonical (`pl061`)
/// they are the input.
pub fn typed_loads(data: &[u8]) -> std::result::Result<(), Violation> {
    model::<FwCfg>(data, Save::Normalising)?;
    model::<Hpet>(data, Save::Normalising)?;
    model::<I8254>(data, Save::Normalising)?;
    model::<I8259>(data, Save::Normalising)?;
    model::<Mc146818Rtc>(data, Save::Normalising)?;
    model::<Piix3>(data, Save::Normalising)?;
    model::<Pl011>(data, Save::Normalising)?;
    model::<Pl031>(data, Save::Normalising)?;
    model::<Pl061>(data, Save::Canonical)?;
    model::<Ps2Kbd>(data, Save::Normalising)?;
    model::<Ps2Mouse>(data, Save::Normalising)?;
    Ok(())
}

fn model<T>(data: &[u8], save: Save) -> std::result::Result<(), Violation>
where
    T: VmState + Clone + Default + PartialEq + fmt::Debug,
{
    let d = T::DESCRIPTION;
    let name = d.name;
    let current = d.version_id;
    // A model loads a handful of versions; a description claiming more is
    // walked for its newest ones.
    let oldest = d.minimum_version_id.max(current.saturating_sub(8));
    for version in oldest..=current {
        let mut value = T::default();
        if let Err(e) = vmstate_core::load_from_slice(&mut value, data, version) {
            if value != T::default() {
                return violation(format!(
                    "{name} v{version}: a failed load ({e}) changed the value"
                ));
            }
            continue;
        }
        let saved = match vmstate_core::save_to_vec(&mut value) {
            Ok(b) => b,
            Err(e) => return violation(format!("{name} v{version}: loads, but save fails: {e}")),
        };
        if save == Save::Canonical && version == current && saved != data {
            return violation(format!(
                "{name}: save of the loaded state differs from the input at offset {}",
                first_difference(data, &saved)
            ));
        }
        let mut again = T::default();
        if let Err(e) = vmstate_core::load_from_slice(&mut again, &saved, current) {
            return violation(format!(
                "{name} v{version}: what save wrote does not load: {e}"
            ));
        }
        match vmstate_core::save_to_vec(&mut again) {
            Ok(b) if b == saved => {}
            Ok(b) => {
                return violation(format!(
                    "{name} v{version}: the saved bytes load and save differently, first \
                     difference at offset {}",
                    first_difference(&saved, &b)
                ));
            }
            Err(e) => return violation(format!("{name} v{version}: save fails again: {e}")),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// registry

/// Every model, registered as QEMU's `pc` (i440FX) and `virt` machines
/// register them.
#[derive(Debug, Clone, Default, PartialEq)]
struct Machine {
    fw_cfg: FwCfg,
    rtc: Mc146818Rtc,
    piix3: Piix3,
    pic: [I8259; 2],
    hpet: Hpet,
    pit: I8254,
    kbd: Ps2Kbd,
    mouse: Ps2Mouse,
    pl011: Pl011,
    pl031: Pl031,
    pl061: Pl061,
}

impl Machine {
    fn registry(&mut self) -> Result<Registry<'_>> {
        let mut reg = Registry::new();
        let id = |n| Registration {
            instance_id: Some(n),
            ..Registration::default()
        };
        reg.register(&mut self.fw_cfg, id(0))?;
        reg.register(&mut self.rtc, id(0))?;
        let piix3 = Registration {
            qdev_path: Some("0000:00:01.0".into()),
            ..Registration::default()
        };
        reg.register(&mut self.piix3, piix3)?;
        let [master, slave] = &mut self.pic;
        reg.register(master, id(0))?;
        reg.register(slave, id(1))?;
        reg.register(&mut self.hpet, id(0))?;
        reg.register(&mut self.pit, id(0))?;
        reg.register(&mut self.kbd, id(0))?;
        reg.register(&mut self.mouse, id(0))?;
        reg.register(&mut self.pl011, id(0))?;
        reg.register(&mut self.pl031, id(0))?;
        reg.register(&mut self.pl061, id(0))?;
        Ok(reg)
    }
}

/// The settings a stream says it has: its machine type and page bits, a
/// configuration section or not, footers or not (from its first section).
fn settings_of(data: &[u8]) -> StreamSettings {
    let mut settings = StreamSettings::new("pc-i440fx-10.0");
    let Ok(mut dec) = StreamDecoder::open(SliceReader::new(data), None) else {
        return settings;
    };
    match dec.configuration() {
        Some(c) => {
            settings.machine = String::from_utf8_lossy(c.machine()).into_owned();
            settings.target_page_bits = c.target_page_bits();
        }
        None => settings.send_configuration = false,
    }
    while let Ok(Some(event)) = dec.next_event() {
        if let Event::Section(_) = event {
            settings.send_section_footer = dec.skip_section_raw().is_ok();
            break;
        }
    }
    settings
}

/// [`Registry::load_with`] of the input into every model (`Machine`),
/// RAM discarded, sections of other devices kept (decoded with the input's
/// own vmdesc) when it has one. A failed load leaves every state as it was.
/// A load that succeeds saves a stream; that stream loads into fresh models,
/// which save the same stream again.
pub fn registry(data: &[u8]) -> std::result::Result<(), Violation> {
    let limits = Limits::DEFAULT;
    let arena = DescriptionArena::with_limits(limits);
    let schema = StreamSchema::from_stream(&arena, data).ok().flatten();
    let options = LoadOptions {
        keep_unknown: schema.is_some(),
        schema: schema.as_ref(),
        limits,
    };
    let settings = settings_of(data);
    let mut machine = Machine::default();
    let loaded = match machine.registry() {
        Ok(mut reg) => reg
            .load_with(SliceReader::new(data), &settings, &mut DiscardRam, &options)
            .map(drop),
        Err(e) => return violation(format!("registering the models fails: {e}")),
    };
    if let Err(e) = loaded {
        if machine != Machine::default() {
            return violation(format!("a failed registry load ({e}) changed a state"));
        }
        return Ok(());
    }
    let first = match save_machine(&mut machine, &settings) {
        Ok(b) => b,
        Err(e) => {
            return violation(format!(
                "the stream loads, but the registry's save fails: {e}"
            ));
        }
    };
    let mut fresh = Machine::default();
    let reloaded = match fresh.registry() {
        Ok(mut reg) => reg.load_with(
            SliceReader::new(&first),
            &settings,
            &mut DiscardRam,
            &LoadOptions::default(),
        ),
        Err(e) => return violation(format!("registering the models fails: {e}")),
    };
    if let Err(e) = reloaded {
        return violation(format!("the registry's own stream does not load: {e}"));
    }
    match save_machine(&mut fresh, &settings) {
        Ok(again) if again == first => Ok(()),
        Ok(again) => violation(format!(
            "the registry's own stream loads and saves differently, first difference at \
             offset {}",
            first_difference(&first, &again)
        )),
        Err(e) => violation(format!("the registry's save fails the second time: {e}")),
    }
}

fn save_machine(machine: &mut Machine, settings: &StreamSettings) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    machine.registry()?.save(&mut out, settings)?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// dump_compat

/// Two `-dump-vmstate` files, the input split at its first NUL byte (JSON
/// text has none; invalid UTF-8 is replaced), parsed with
/// [`DumpFile::parse`]; each one that parses is written back with
/// [`DumpFile::to_json`], which must parse to the same file; two that parse
/// are compared by [`compat::check`] both ways, plain and strict, and every
/// report is rendered. `--reverse` must be the check with the files
/// swapped.
pub fn dump_compat(data: &[u8]) -> std::result::Result<(), Violation> {
    let (a, b) = match data.iter().position(|&x| x == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let a = parse_dump(a)?;
    let b = parse_dump(b)?;
    let (Some(a), Some(b)) = (a, b) else {
        return Ok(());
    };
    for strict in [false, true] {
        let plain = compat::Options {
            reverse: false,
            strict,
        };
        let reverse = compat::Options {
            reverse: true,
            strict,
        };
        let forward = compat::check(&a, &b, plain);
        let _ = (
            forward.to_json(),
            forward.explained_text(),
            forward.exit_status(),
        );
        let reversed = compat::check(&a, &b, reverse);
        let swapped = compat::check(&b, &a, plain);
        if reversed != swapped {
            return violation(format!(
                "compat --reverse (strict {strict}) differs from compat with the files swapped"
            ));
        }
    }
    Ok(())
}

fn parse_dump(bytes: &[u8]) -> std::result::Result<Option<DumpFile>, Violation> {
    let text = String::from_utf8_lossy(bytes);
    let Ok(file) = DumpFile::parse(&text) else {
        return Ok(None);
    };
    let json = file.to_json();
    match DumpFile::parse(&json) {
        Ok(again) if again == file => Ok(Some(file)),
        Ok(_) => Err(Violation(
            "a parsed -dump-vmstate file, written back as JSON, parses to another file".into(),
        )),
        Err(e) => Err(Violation(format!(
            "a parsed -dump-vmstate file, written back as JSON, does not parse: {e}"
        ))),
    }
}

// ---------------------------------------------------------------------------
// listen

/// `vmstate listen` on a buffer instead of a socket: its framing check as
/// the stream would arrive ([`vmstate_cli::net_cmd::check_framing`]), then
/// `vmstate check` on the whole stream as a file, which is what `listen`
/// runs once the stream is complete. What the framing check refuses while
/// the stream arrives, the check of the whole stream refuses too.
pub fn listen(data: &[u8]) -> std::result::Result<(), Violation> {
    let framing = vmstate_cli::net_cmd::check_framing(data, Limits::DEFAULT);
    if let Ok((end, _)) = &framing {
        if *end > data.len() as u64 {
            return violation(format!(
                "the framing check stopped at {end}, beyond the {} bytes",
                data.len()
            ));
        }
    }
    let Some(file) = SpoolFile::new(data) else {
        return Ok(());
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = vmstate_cli::check_cmd::check_path(&file.path, &mut out, &mut err);
    match framing {
        Err(e) if status == 0 => violation(format!(
            "listen's framing check refuses the stream ({e}), but check accepts it: {}",
            String::from_utf8_lossy(&out).trim_end()
        )),
        _ => Ok(()),
    }
}

/// The input as a file (where `listen` spools a stream), removed on drop.
struct SpoolFile {
    path: std::path::PathBuf,
}

impl SpoolFile {
    fn new(data: &[u8]) -> Option<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "vmstate-fuzz-listen-{}-{n}.mig",
            std::process::id()
        ));
        std::fs::write(&path, data).ok()?;
        Some(SpoolFile { path })
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------
// ber and json: the self-describing readers

/// The BER readers: a stream document converted back to a QEMU stream
/// (`ber::stream::to_qemu`), and a state document loaded into each device
/// model (`ber::load`). A failed load leaves the model unchanged; what loads
/// saves, and the saved document loads back to the same value.
pub fn ber(data: &[u8]) -> std::result::Result<(), Violation> {
    let _ = vmstate_core::ber::stream::to_qemu(
        qemufile::SliceReader::new(data),
        Vec::new(),
        vmstate_core::Limits::DEFAULT,
    );
    self_describing::<FwCfg>(data, Format::Ber)?;
    self_describing::<Hpet>(data, Format::Ber)?;
    self_describing::<I8254>(data, Format::Ber)?;
    self_describing::<I8259>(data, Format::Ber)?;
    self_describing::<Mc146818Rtc>(data, Format::Ber)?;
    self_describing::<Piix3>(data, Format::Ber)?;
    self_describing::<Pl011>(data, Format::Ber)?;
    self_describing::<Pl031>(data, Format::Ber)?;
    self_describing::<Pl061>(data, Format::Ber)?;
    self_describing::<Ps2Kbd>(data, Format::Ber)?;
    self_describing::<Ps2Mouse>(data, Format::Ber)
}

/// The JSON readers: a stream document written back as a QEMU stream
/// (`json_stream::json_to_stream`), and a state document loaded into each
/// device model (`json_state::from_json_str`), with the oracles of [`ber`].
pub fn json(data: &[u8]) -> std::result::Result<(), Violation> {
    let _ = vmstate_core::json_stream::json_to_stream(
        data,
        Vec::new(),
        vmstate_core::Limits::DEFAULT,
        |_| {},
    );
    if std::str::from_utf8(data).is_err() {
        return Ok(());
    }
    self_describing::<FwCfg>(data, Format::Json)?;
    self_describing::<Hpet>(data, Format::Json)?;
    self_describing::<I8254>(data, Format::Json)?;
    self_describing::<I8259>(data, Format::Json)?;
    self_describing::<Mc146818Rtc>(data, Format::Json)?;
    self_describing::<Piix3>(data, Format::Json)?;
    self_describing::<Pl011>(data, Format::Json)?;
    self_describing::<Pl031>(data, Format::Json)?;
    self_describing::<Pl061>(data, Format::Json)?;
    self_describing::<Ps2Kbd>(data, Format::Json)?;
    self_describing::<Ps2Mouse>(data, Format::Json)
}

/// A self-describing format of state documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Ber,
    Json,
}

impl Format {
    fn load<T: VmState + Clone>(self, value: &mut T, data: &[u8]) -> vmstate_core::Result<()> {
        match self {
            Format::Ber => vmstate_core::ber::load(value, data).map(drop),
            Format::Json => {
                let text = std::str::from_utf8(data)
                    .map_err(|e| vmstate_core::Error::msg(format!("not UTF-8: {e}")))?;
                vmstate_core::json_state::from_json_str(value, text)
            }
        }
    }

    fn save<T: VmState>(self, value: &mut T) -> vmstate_core::Result<Vec<u8>> {
        match self {
            Format::Ber => vmstate_core::ber::save_to_vec(value),
            Format::Json => vmstate_core::json_state::to_json(value).map(String::into_bytes),
        }
    }
}

fn self_describing<T>(data: &[u8], format: Format) -> std::result::Result<(), Violation>
where
    T: VmState + Clone + Default + PartialEq + fmt::Debug,
{
    let name = T::DESCRIPTION.name;
    let mut value = T::default();
    if let Err(e) = format.load(&mut value, data) {
        if value != T::default() {
            return violation(format!(
                "{name} ({format:?}): a failed load ({e}) changed the value"
            ));
        }
        return Ok(());
    }
    let saved = match format.save(&mut value) {
        Ok(b) => b,
        Err(e) => return violation(format!("{name} ({format:?}): loads, but save fails: {e}")),
    };
    let mut again = T::default();
    if let Err(e) = format.load(&mut again, &saved) {
        return violation(format!(
            "{name} ({format:?}): its own save does not load: {e}"
        ));
    }
    match format.save(&mut again) {
        Ok(b) if b == saved => Ok(()),
        Ok(b) => violation(format!(
            "{name} ({format:?}): save is not a fixpoint: differs at byte {}",
            first_difference(&b, &saved)
        )),
        Err(e) => violation(format!("{name} ({format:?}): second save fails: {e}")),
    }
}
