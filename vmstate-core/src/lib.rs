//! Device state that is byte-for-byte QEMU's migration stream.
//!
//! Write `#[derive(VmState)]` on a device's state struct and get save and load
//! that produce and accept exactly what QEMU's `migration/vmstate.c` does,
//! through one [`Visitor`] walk that also feeds a [pretty-printer](PrettyPrinter),
//! a [token recorder](tokens) and the static [schema](Description).
//!
//! ```
//! use vmstate_core::{VmState, Timer};
//!
//! #[derive(VmState, Clone, Default, Debug, PartialEq)]
//! #[vmstate(name = "mydev", version = 2, minimum_version = 1)]
//! struct MyDev {
//!     ctrl: u32,
//!     #[vmstate(since = 2)]
//!     status: u16,
//!     fifo: [u8; 4],
//!     timer: Timer,
//! }
//!
//! let mut dev = MyDev { ctrl: 0x11, status: 7, fifo: [1, 2, 3, 4], timer: Timer::not_armed() };
//! let bytes = vmstate_core::save_to_vec(&mut dev)?;
//! assert_eq!(bytes, [0, 0, 0, 0x11, 0, 7, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
//!
//! let mut copy = MyDev::default();
//! vmstate_core::load_from_slice(&mut copy, &bytes, 2)?;
//! assert_eq!(copy, dev);
//!
//! print!("{}", vmstate_core::pretty_print(&mut dev)?);
//! // mydev.ctrl = (uint32) 0x11
//! // mydev.status = (uint16) 0x7
//! // mydev.fifo[0] = (uint8) 0x1
//! // ...
//! # Ok::<(), vmstate_core::Error>(())
//! ```
//!
//! Loading is transactional: [`load`] and [`load_from_slice`] leave the
//! destination exactly as it was unless everything, hooks included, succeeded.
//!
//! # One walk for typed and run-time state
//!
//! [`visit_struct_at`] is the one walk (QEMU's `vmstate_save_vmsd` and
//! `vmstate_load_vmsd`). It runs over anything that implements [`Walk`]: a
//! `#[derive(VmState)]` value, whose [`Description`] is a `const`, or a
//! [`dynamic::DynamicState`], whose description was built at run time from
//! a stream's vmdesc by a [`dynamic::DescriptionArena`]. Visitors and
//! descriptions carry the lifetime `'d` of the names they hand out
//! (`Visitor<'d>`, `Description<'d>`): `'static` for derived types, the
//! arena's for run-time ones, so derived code pays nothing for it. Every
//! visitor works on both: [`InputVisitor`], [`OutputVisitor`],
//! [`PrettyPrinter`], [`vmdesc::VmdescVisitor`], [`analyzer::AnalyzerJson`],
//! [`tokens::TokenRecorder`], the JSON visitors of [`json_state`] (state with
//! field names and wire types, shown, edited and loaded back), and
//! [`trace::Traced`] around any of them (one `tracing` event per value).
//!
//! [`stream`] reads and writes whole migration streams as events: device
//! sections decoded into dynamic state, loaded into typed models or
//! skipped; RAM and the other iterative sections as records whose data the
//! caller reads, copies or skips. [`registry`] loads and saves whole
//! streams for a VMM's registered devices. [`ram_extract`] writes a
//! stream's RAM blocks into sparse files (`analyze-migration.py -x`).
//! [`json_stream`] converts whole streams to JSON and back byte for byte;
//! [`edit`] changes fields of a stream in place (`vmstate set`).
//!
//! # Attributes
//!
//! Values are Rust expressions and paths, checked by the compiler.
//!
//! On the struct, `#[vmstate(...)]`:
//!
//! | attribute | meaning (QEMU equivalent) |
//! |---|---|
//! | `name = "hpet"` | the description name (`.name`); default: the type's name |
//! | `version = 2` | the version written and the newest loaded (`.version_id`); default 0 |
//! | `minimum_version = 1` | the oldest version loaded (`.minimum_version_id`); default 0 |
//! | `pre_save = path` | `fn(&mut Self) -> Result<(), E>`, `E: Into<Error>` (e.g. `String`) |
//! | `post_save = path` | `fn(&mut Self)` |
//! | `pre_load = path` | `fn(&mut Self) -> Result<(), E>` |
//! | `post_load = path` | `fn(&mut Self, version_id: u32) -> Result<(), E>`; runs after the subsections |
//! | `needed = path` | `fn(&Self) -> bool`: whether this subsection (or section) is sent |
//! | `crate = path` | where `vmstate_core` is, if renamed |
//! | `context = C` | hooks and predicates also get `&C`, passed down by the parent: see [`context`] |
//! | `default` | derive `Default`, arrays of any length included: see [large models](#large-models-default) |
//!
//! On a field, `#[vmstate(...)]`:
//!
//! | attribute | wire form (QEMU equivalent) |
//! |---|---|
//! | *(none)* | the type's own form: integers, `bool`, `f64` (`CPU_Double_U`), [`Timer`], `[T; N]` arrays, nested `VmState` structs (`VMSTATE_STRUCT`), `Box<T>`, `Option<T>` array elements (NULL = `0x30`), `repr` enums |
//! | `name = "PCIDevice"` | the wire name (default: the Rust name); a string literal or a `const` `&str`. Names may repeat, as in QEMU (e1000's three `mac_reg` sub-arrays): fields are found by position, and vmdesc, dumps and errors number the repeats as QEMU's vmdesc does (`mac_reg[0]`, `mac_reg[1]`, ...) |
//! | `since = 2` | present in streams of version 2 and newer (`VMSTATE_*_V`) |
//! | `exists = path` | `fn(&Self, version_id: u32) -> bool` decides presence (`VMSTATE_*_TEST`) |
//! | `skip` | not migrated |
//! | `default = expr` | the field's value in the `Default` of `#[vmstate(default)]` (no wire effect) |
//! | `equal` | `uint8/16/32 equal`, `int64 equal`, `int32 equal`: load fails unless equal |
//! | `le` | `int32 le`: load accepts `0..=current` |
//! | `buffer` | on `[u8; N]` or `Box<[u8; N]>`: one `buffer` of N bytes (`VMSTATE_BUFFER`; boxed: `VMSTATE_BUFFER_POINTER_UNSAFE`) |
//! | `buffer, len = n` | on `Vec<u8>` or `[u8; N]` (or either boxed): `buffer` of `n` bytes (`VMSTATE_VBUFFER`, `VMSTATE_PARTIAL_BUFFER` for a constant); `n` as for `len` |
//! | `len = n` | on `Vec<T>` or `[T; N]` (or either boxed): `n` elements (`VMSTATE_VARRAY_*`); `n` is a field, migrated or not, a constant, or an expression of `self`: see [counts](#counts-len--n-bits--n) |
//! | `bitmap, bits = n` | on `Vec<u64>`: `ceil(n / 64)` be64 words (`VMSTATE_BITMAP`); `n` as for `len` |
//! | `unused = 4` | on `()`: 4 zero bytes, skipped on load (`VMSTATE_UNUSED`); its wire name is `unused`, as in QEMU |
//! | `subsection` | on a `VmState` type whose name starts with the parent's name and is longer (by convention `parent/child`): written after the fields when needed (`.subsections`); see [subsection names](#subsection-names) |
//! | `subsection, needed = path` | also requires `fn(&Self) -> bool` of the parent |
//! | `subsection = "dev/sub"` | on `()`: an [inline subsection](#inline-subsections) made of the fields after it, over this struct (also `version`, `minimum_version`, `needed`, `pre_save`, `post_save`, `pre_load`, `post_load`) |
//! | `view = f` | on `()`: wire fields that are part of field `f` (an array): `index = i` or `index = [i, j, ..]` single elements, `start = s, len = n` a run, nothing the whole field, with `buffer` its bytes: see [views](#views-one-field-several-wire-fields) |
//! | `struct_version = 2` | a nested struct saved and loaded at version 2, not its own (`VMSTATE_VSTRUCT`, vmdesc type `vstruct`); 2 must be in its `minimum_version..=version` |
//! | `qtailq` / `qlist` | on `Vec<T>`/`VecDeque<T>`: `01` element … `00` (`VMSTATE_QTAILQ_V`, `VMSTATE_QLIST_V`); elements load at `since` if given |
//! | `gtree` | on `BTreeMap<K, V>`: be32 count, `01` key value … `00` (`VMSTATE_GTREE_V`; `u64` keys = `DIRECT_KEY`) |
//! | `auto_alloc` | on `[Option<T>; N]`: `0x30`/`0x31` marker before each element |
//! | `tmp = T` | on `()`: `T: TmpState<Self>` computes wire fields (`VMSTATE_WITH_TMP`) |
//! | `validate = path` | on `()`: `fn(&Self, u32) -> bool` checked on load, nothing written (`VMSTATE_VALIDATE`) |
//! | `context = expr` / `context` | on a field whose type takes a context (or an array or box of it): the context it is walked with, computed from `self`, or this struct's own passed on: see [`context`] |
//!
//! A field-less enum with `#[repr(u8)]` (or another integer) and
//! `#[derive(VmState)]` is a field type with the repr's wire form; loading a
//! value that is not a discriminant fails.
//!
//! Every QEMU `VMSTATE_*` macro and its spelling here is listed in
//! [`forms`](forms#every-vmstate-macro).
//!
//! ## Counts (`len = n`, `bits = n`)
//!
//! `n`, the element count of a variable array, the byte count of a
//! variable buffer or the bit count of a bitmap, is one of:
//!
//! * **A migrated field** of the same struct (its Rust name; in a tuple
//!   struct its index, `len = 0`): QEMU reads the count from the
//!   destination's struct, where the field just loaded put it. The derive
//!   checks that it comes before the counted field and is a plain integer
//!   field of type `u8`, `u16`, `u32` or `i32` (`equal` and `le` fields
//!   too), the widths QEMU's `VMSTATE_VARRAY_*`, `VMSTATE_VBUFFER*` and
//!   `VMSTATE_BITMAP` read.
//! * **A `skip` field**: configuration both sides know and QEMU does not
//!   migrate (`VMSTATE_VBUFFER_UINT32(data, Fifo8, 1, NULL, capacity)`,
//!   the fdc's `fifo_size`, the CPU and memory hotplug `dev_count`, AHCI's
//!   `ports`). On save the source's value counts, on load the
//!   destination's own: a destination configured differently reads a
//!   different number of elements, as QEMU's does. It may be declared
//!   anywhere (it is not read from the wire) and have any integer type
//!   (`u64` and `usize` too).
//! * **A constant**, an expression without `self` of type `usize` (`len =
//!   FIFO_SIZE`, `len = 4`, a `const fn` call): the length is fixed, and the
//!   description shows a fixed array (`Layout::Array`, QEMU's `VMS_ARRAY`
//!   with its `num`: `VMSTATE_STRUCT_VARRAY_POINTER_KNOWN`), or for a
//!   `buffer` a buffer of that many bytes (`VMSTATE_PARTIAL_BUFFER`). A
//!   constant larger than a fixed array is a compile error. In a tuple
//!   struct an integer names a field; write a constant as `len = { 4 }`.
//! * **An expression of `self`** (`len = self.capacity as usize`, `len =
//!   self.ports_in_use()`), evaluated whenever the field is walked, of any
//!   integer type: computed from configuration or from fields walked before.
//!
//! A lowercase name that is no field is refused (a typo, most likely). The
//! count is its value when the counted field is reached: on save the value
//! being saved, on load the value just loaded (or, if absent at the loaded
//! version, the destination's current value, as in QEMU). A negative `i32`
//! means no elements (QEMU's loop runs zero times). A fixed array refuses
//! a count larger than itself; a `Vec` holds exactly the count after a load
//! and must hold exactly it to be saved.
//!
//! ## Views: one field, several wire fields
//!
//! QEMU sends parts of one C array as separate fields: sub-arrays
//! (`VMSTATE_UINT32_SUB_ARRAY(mac_reg, E1000State, RA, 32)`), single
//! elements (`VMSTATE_UINT32(mac_reg[RDT], E1000State)`), the same array
//! again in a subsection (`e1000/full_mac_state`), the middle of a buffer
//! (`VMSTATE_BUFFER_START_MIDDLE`). The Rust struct keeps the one array; a
//! `()` field with `view = array` sends a part of it, where it is declared:
//!
//! ```
//! use vmstate_core::VmState;
//!
//! const CTRL: usize = 0;
//! const STATUS: usize = 2;
//! const RA: usize = 8;
//!
//! #[derive(VmState, Clone)]
//! #[vmstate(name = "nic", version = 1, default)]
//! struct Nic {
//!     #[vmstate(skip)]
//!     mac_reg: Box<[u32; 32]>,
//!     #[vmstate(view = mac_reg, index = [CTRL, STATUS])] // "mac_reg[CTRL]", "mac_reg[STATUS]"
//!     _regs: (),
//!     #[vmstate(view = mac_reg, start = RA, len = 2)]     // "mac_reg": 2 registers
//!     _ra: (),
//! }
//!
//! let mut nic = Nic::default();
//! nic.mac_reg[STATUS] = 0x80;
//! nic.mac_reg[RA + 1] = 7;
//! assert_eq!(
//!     vmstate_core::save_to_vec(&mut nic)?,
//!     [0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 7]
//! );
//! # Ok::<(), vmstate_core::Error>(())
//! ```
//!
//! * `index = i` (or a list, `index = [i, j]`): element `i` as a wire field
//!   of its own, named `field[i]` as written (QEMU's stringify of
//!   `mac_reg[RDT]`), or `name = ".."` for a single one.
//! * `start = s, len = n`: elements `s..s + n` as an array field named as
//!   the field (QEMU's sub-array); `start` alone runs to the end of a fixed
//!   array, `len` alone starts at 0.
//! * neither: the whole field again (`view = mac_reg` in a subsection).
//! * with `buffer`: the bytes of a `u8` array as a `buffer` field.
//!
//! The viewed field may be a `skip` field (its only wire form is its views)
//! or migrated itself; it is an array `[T; N]`, a `Vec<T>` or a box of
//! either. Indices and lengths are `usize` constants; for fixed arrays they
//! are checked at compile time, for a `Vec` when walked (an error, not a
//! panic). `since`/`exists` apply as to any field.
//!
//! ## Inline subsections
//!
//! A QEMU subsection describes the *same* struct as its parent: its fields
//! and its `needed` test see the parent's state (`e1000/mit_state` sends
//! `mac_reg[ITR]`; `serial/thr_ipending`'s test reads `ier` and `iir`). A
//! `()` field with `subsection = "dev/sub"` starts such a subsection: every
//! wire field declared after it (up to the next marker) belongs to it, not
//! to the struct's own field list. The marker takes `version`,
//! `minimum_version`, `needed = fn(&Self) -> bool` and the hooks
//! `pre_save`, `post_save`, `pre_load`, `post_load` with the signatures of
//! the struct's own, run on the struct. So the fields of a struct come
//! first, then its inline subsections; typed `subsection` fields may
//! appear anywhere, and all subsections are sent in declaration order. The
//! names follow the [subsection name](#subsection-names) rules. A struct
//! with a [`context`] cannot have inline subsections. (Clippy's
//! `manual_non_exhaustive` takes a struct whose one private field is a
//! `()` marker for a non-exhaustive one: make the marker `pub`, or allow
//! the lint on the struct.)
//!
//! ## Large models (`default`)
//!
//! Rust's `Default` stops at 32-element arrays. `#[vmstate(default)]` on
//! the struct derives `Default` field by field: arrays of any length (and
//! of arrays) element by element, boxes of arrays in place, other fields
//! their `Default`, and a field with `#[vmstate(default = expr)]` that
//! value (reset values: `#[vmstate(default = -1)] write_cmd: i32`). Every
//! type parameter must be `Default`. The derive sees arrays only where
//! they are written: an array behind a type alias uses its `Default`.
//!
//! ## Looking at state
//!
//! Only walks that write a stream run the save hooks: [`save`],
//! [`save_to_vec`], [`vmdesc::save_with_vmdesc`] and the registry run
//! `pre_save` and `post_save` as QEMU does. Printing ([`pretty_print`]),
//! recording tokens ([`tokens::tokens`]), analyzer JSON
//! ([`analyzer::to_json_string`]) and any visitor that keeps
//! [`Visitor::RUNS_SAVE_HOOKS`] at its default do not: looking at a device
//! never changes it, and shows its fields as the struct holds them (a field
//! that `pre_save` computes shows the value the last save computed).
//!
//! ## Speed: packed runs
//!
//! Consecutive fields of a fixed layout (the integers, `bool`, `f64`,
//! [`Timer`] and arrays of them, and `buffer` byte arrays, spelled as such
//! and without `since`, `exists` or a context) form a run that the QEMUFile
//! visitors move as one block ([`Visitor::PACKED_RUNS`]): the derive packs
//! the run into a stack buffer with [`VmStateField::pack`] and writes it
//! with one call, or takes the run's bytes at once and unpacks them. The
//! bytes are exactly those of the field-by-field walk; a load whose input
//! ends inside a run reads it field by field, so the error names the field
//! where the input ends. The [`ber`] visitors take runs too: the run's BER
//! is a fixed template (the fields' identifiers, lengths and names) with the
//! wire bytes in it, written at once, and read at once when the input has
//! the fields in the destination's order and types (field by field, with
//! the schema-evolution rules, otherwise). Every other visitor (printers,
//! JSON, vmdesc, a [tracing wrapper](trace::Traced) while events are
//! wanted) sees every field. A type alias of an integer is walked field by field: write the
//! primitive type where speed matters.
//!
//! ## Subsection names
//!
//! QEMU's loader takes the subsection records that follow a struct's fields
//! as its own only while their names start with the parent's name and are
//! longer than it (`strncmp` over the parent's length); it then looks the
//! name up among the parent's subsections. So the derive checks, on the
//! names the types really have (also when they are constants), that every
//! subsection's name starts with the parent's name and is longer, fits the
//! one length byte of the wire (at most 255 bytes), and differs from its
//! sibling subsections' names (QEMU would load the second into the first).
//! `parent/child` is QEMU's convention, not its rule: `cpu/avx512` and
//! `cpuX` both pass (QEMU's `pckbd_outport` is a subsection of `pckbd`).

pub mod analyzer;
pub mod ber;
pub mod compat;
pub mod context;
pub mod drift;
pub mod dump;
pub mod dynamic;
pub mod edit;
pub mod equivalence;
mod error;
mod field;
pub mod forms;
mod input;
pub mod json;
pub mod json_state;
pub mod json_stream;
mod output;
mod pretty;
pub mod ram_extract;
pub mod registry;
pub mod schema;
mod state;
pub mod stream;
mod timer;
pub mod tokens;
pub mod trace;
mod visitor;
pub mod vmdesc;
mod wire;

pub use context::{ContextField, InContext, VmStateIn};
pub use error::{Error, ErrorKind, Name, PathSegment, Result, VersionContext, path_name};
pub use field::VmStateField;
pub use input::InputVisitor;
pub use output::OutputVisitor;
pub use pretty::{PathStyle, PathTracker, PrettyPrinter};
pub use qemufile::{Limit, LimitExceeded, Limits};
pub use schema::{Description, FieldDescription, Layout, VmdescEntry};
pub use state::{VmState, Walk, visit_struct, visit_struct_at};
pub use timer::Timer;
pub use visitor::{IncomingSubsection, Visitor};
pub use wire::WireType;

pub use qemufile;

/// `#[derive(VmState)]`: see the crate documentation and the README for the
/// attributes.
pub use vmstate_derive::VmState;

use qemufile::{QemuRead, QemuWrite, SliceReader};

fn at_root<T: VmState>(e: Error) -> Error {
    e.within(PathSegment::Root(T::DESCRIPTION.name.into()))
}

/// Saves `value` (its fields and needed subsections, at its current version)
/// into `out`: the body of a device section.
pub fn save<T: VmState, W: QemuWrite>(value: &mut T, out: W) -> Result<()> {
    let mut v = OutputVisitor::new(out);
    visit_struct(value, &mut v, T::DESCRIPTION.name).map_err(at_root::<T>)
}

/// Saves `value` into a new byte vector.
pub fn save_to_vec<T: VmState>(value: &mut T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    save(value, &mut out)?;
    Ok(out)
}

/// Puts the destination back if a load does not complete (an error, or a
/// panicking hook): loads run in place on the destination, with a backup.
struct Restore<'a, T> {
    slot: &'a mut T,
    backup: Option<T>,
}

impl<T> Drop for Restore<'_, T> {
    fn drop(&mut self) {
        if let Some(backup) = self.backup.take() {
            *self.slot = backup;
        }
    }
}

/// Loads the state saved at `version_id` from `input` into `value`.
///
/// Transactional: the load runs on `value` itself (so `equal` fields and
/// `exists` predicates see the destination's current state) with a backup
/// copy, and the backup is put back if anything fails, hooks included (also
/// if a hook panics). Bytes after the state are left in `input`, as QEMU
/// leaves them for the section footer. Within the default [`Limits`].
pub fn load<T: VmState + Clone, R: QemuRead>(
    value: &mut T,
    input: R,
    version_id: u32,
) -> Result<()> {
    load_with_limits(value, input, version_id, Limits::DEFAULT)
}

/// As [`load`], with the memory the input may make the load create
/// (containers grown by element) bounded by `limits`
/// ([`Limits::section_memory`], [`Limits::max_allocation`]).
pub fn load_with_limits<T: VmState + Clone, R: QemuRead>(
    value: &mut T,
    input: R,
    version_id: u32,
    limits: Limits,
) -> Result<()> {
    let mut guard = Restore {
        backup: Some(value.clone()),
        slot: value,
    };
    let mut v = InputVisitor::with_limits(input, limits);
    visit_struct_at(&mut *guard.slot, &mut v, T::DESCRIPTION.name, version_id)
        .map_err(at_root::<T>)?;
    guard.backup = None;
    Ok(())
}

/// Loads `bytes`, the state saved at `version_id`, into `value`; every byte
/// must belong to the state. Transactional, like [`load`].
///
/// When the type's load cannot fail ([`VmState::LOAD_INFALLIBLE`]: fixed
/// size, no checks, no hooks) and `bytes` has exactly that size at the
/// current version, the backup is skipped: nothing can fail once the length
/// is right.
pub fn load_from_slice<T: VmState + Clone>(
    value: &mut T,
    bytes: &[u8],
    version_id: u32,
) -> Result<()> {
    let infallible = T::LOAD_INFALLIBLE
        && version_id == T::DESCRIPTION.version_id
        && const { T::DESCRIPTION.fixed_size() } == Some(bytes.len());
    let mut reader = SliceReader::new(bytes);
    if infallible {
        let mut v = InputVisitor::new(&mut reader);
        return visit_struct_at(value, &mut v, T::DESCRIPTION.name, version_id)
            .map_err(at_root::<T>);
    }
    let mut guard = Restore {
        backup: Some(value.clone()),
        slot: value,
    };
    let mut v = InputVisitor::new(&mut reader);
    visit_struct_at(&mut *guard.slot, &mut v, T::DESCRIPTION.name, version_id)
        .map_err(at_root::<T>)?;
    check_consumed::<T>(&reader)?;
    guard.backup = None;
    Ok(())
}

/// Loads `bytes`, the state saved at `version_id`, into a `T::default()`;
/// every byte must belong to the state. `equal` fields compare against the
/// default values.
pub fn load_new<T: VmState + Default>(bytes: &[u8], version_id: u32) -> Result<T> {
    let mut value = T::default();
    let mut reader = SliceReader::new(bytes);
    let mut v = InputVisitor::new(&mut reader);
    visit_struct_at(&mut value, &mut v, T::DESCRIPTION.name, version_id).map_err(at_root::<T>)?;
    check_consumed::<T>(&reader)?;
    Ok(value)
}

fn check_consumed<T: VmState>(reader: &SliceReader<'_>) -> Result<()> {
    leftover(reader, T::DESCRIPTION).map_err(at_root::<T>)
}

/// The error for bytes left after a whole load of a slice, if any. Bytes
/// that begin a subsection header of `root` but stop inside it are a
/// truncated subsection (QEMU fails there: its end of file is sticky), not
/// state this description does not know.
#[inline]
pub(crate) fn leftover(reader: &SliceReader<'_>, root: &Description<'_>) -> Result<()> {
    if reader.remaining().is_empty() {
        return Ok(());
    }
    leftover_bytes(reader, root)
}

#[cold]
#[inline(never)]
fn leftover_bytes(reader: &SliceReader<'_>, root: &Description<'_>) -> Result<()> {
    let rest = reader.remaining();
    let at = reader.position();
    if rest[0] == qemufile::stream::SUBSECTION && !root.subsections.is_empty() {
        // 05 | len | name | be32 version, cut short; the name so far must
        // fit QEMU's rule (it starts with the parent's name) to be ours.
        let parent = root.name.as_bytes();
        let (needed, ours) = match rest.get(1) {
            None => (2, true),
            Some(&len) => {
                let name = &rest[2..rest.len().min(2 + usize::from(len))];
                let fits = name.starts_with(parent) || parent.starts_with(name);
                (
                    2 + u64::from(len) + 4,
                    usize::from(len) > parent.len() && fits,
                )
            }
        };
        if ours && (rest.len() as u64) < needed {
            return Err(Error::from(qemufile::Error::new(
                at,
                qemufile::ErrorKind::UnexpectedEof {
                    needed,
                    available: rest.len() as u64,
                },
            )));
        }
    }
    Err(Error::new(ErrorKind::TrailingBytes(rest.len() as u64)).at_offset(at))
}

/// The pretty dump of `value`: one line per scalar, as
/// `i8259.irr = (uint8) 0x10`, each path naming one field
/// ([`PathStyle::Fields`]). Runs no hook and leaves `value` as it is (see
/// [looking at state](crate#looking-at-state)).
pub fn pretty_print<T: VmState>(value: &mut T) -> Result<String> {
    pretty_print_with(value, PathStyle::Fields)
}

/// The pretty dump of `value` in the given path style ([`PathStyle::Trace`]:
/// `PIIX3.PCIDevice.config(256)(1).[255] = (uint8) 0x0`).
pub fn pretty_print_with<T: VmState>(value: &mut T, style: PathStyle) -> Result<String> {
    let mut p = PrettyPrinter::with_style(String::new(), style);
    visit_struct(value, &mut p, T::DESCRIPTION.name).map_err(at_root::<T>)?;
    Ok(p.into_inner())
}

/// What `#[derive(VmState)]` expands to refers to these; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::forms;
    pub use crate::{
        ContextField, Description, Error, FieldDescription, InContext, Layout, PathSegment, Result,
        Visitor, VmState, VmStateField, VmStateIn, WireType, visit_struct, visit_struct_at,
    };
    pub use core::option::Option::{None, Some};
    pub use core::result::Result::{Err, Ok};

    /// Wraps the error of field `index` of `description` with the field's
    /// name, made unique as dumps and vmdescs show it (`unused[1]`).
    #[cold]
    pub fn in_field(e: Error, description: &'static Description<'static>, index: usize) -> Error {
        e.within(PathSegment::Field(description.unique_name(index)))
    }

    /// An invalid enum discriminant.
    #[cold]
    pub fn invalid_discriminant<'d, V: Visitor<'d>>(
        v: &V,
        type_name: &'static str,
        value: i128,
    ) -> Error {
        v.locate(Error::new(crate::ErrorKind::InvalidDiscriminant {
            type_name: type_name.into(),
            value,
        }))
    }
}
