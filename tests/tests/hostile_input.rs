//! Hostile input in bounded memory: each class of input that once made a
//! reader allocate without bound is refused by the [`Limits`], with a message
//! that names the limit, and a counting global allocator proves the peak.
//!
//! The allocator counts the whole process, so the tests of this binary run
//! one at a time (each holds `SERIAL` throughout), and each measures only
//! its own work.

use std::sync::Mutex;

use peakmem_alloc::{INSTRUMENTED_SYSTEM, PeakMemAlloc, PeakMemAllocTrait};
use qemufile::SliceReader;
use vmstate_core::dynamic::{DescriptionArena, WalkCost};
use vmstate_core::registry::{DiscardRam, LoadOptions, Registration, Registry, StreamSettings};
use vmstate_core::stream::{Event, StreamDecoder, StreamSchema};
use vmstate_core::{ErrorKind, Limit, Limits, VmState};
use vmstate_tests::hostile;

#[global_allocator]
static GLOBAL: &PeakMemAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

static SERIAL: Mutex<()> = Mutex::new(());

const MIB: usize = 1 << 20;

/// Holds the other tests of this binary off while one measures.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` and returns its result with the peak memory it added; the
/// caller holds [`alone`].
fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    GLOBAL.reset_peak_memory();
    let before = GLOBAL.get_peak_memory();
    let out = f();
    (out, GLOBAL.get_peak_memory().saturating_sub(before))
}

fn limit_of(e: &vmstate_core::Error) -> Option<Limit> {
    match e.kind() {
        ErrorKind::Limit(l) => Some(l.limit),
        _ => None,
    }
}

/// Decodes every device section of `stream` with its own vmdesc, within
/// `limits`; returns the number of sections.
fn decode_all(stream: &[u8], limits: Limits) -> vmstate_core::Result<usize> {
    let arena = DescriptionArena::with_limits(limits);
    let schema = StreamSchema::from_stream(&arena, stream)?;
    let mut dec =
        StreamDecoder::open_with_limits(SliceReader::new(stream), schema.as_ref(), limits)?;
    let mut sections = 0;
    while let Some(event) = dec.next_event()? {
        if let Event::Section(_) = event {
            dec.decode_section()?;
            sections += 1;
        }
    }
    Ok(sections)
}

#[test]
fn zero_size_elements_with_huge_counts_are_refused_before_allocating() {
    let _alone = alone();
    for (what, section) in [
        ("2^31 empty structs", hostile::zero_size_array(1 << 31)),
        ("2^64-1 empty structs", hostile::zero_size_array(u64::MAX)),
        ("2^24 empty structs", hostile::zero_size_array(1 << 24)),
        (
            "2^24 x 2^24 nested",
            hostile::nested_zero_size_arrays(1 << 24, 2),
        ),
        (
            "2^12 x 2^12 x 2^12 nested",
            hostile::nested_zero_size_arrays(1 << 12, 3),
        ),
    ] {
        let stream = hostile::stream(&[section]);
        assert!(stream.len() < 1024, "{what}: {} bytes", stream.len());
        let (result, bytes) = peak(|| decode_all(&stream, Limits::DEFAULT));
        let err = result.expect_err(what);
        assert!(limit_of(&err).is_some(), "{what}: {err}");
        let message = err.to_string();
        assert!(
            message.contains("section hostile") && message.contains("raise it with --max-"),
            "{what}: {message}"
        );
        assert!(bytes < MIB, "{what}: peak {bytes} bytes");
    }
}

#[test]
fn zero_size_elements_count_against_the_unpaid_element_budget() {
    let _alone = alone();
    // 2^20 + 1 empty structs: little memory by the default budget's
    // standard, but more elements without input than it allows.
    let stream = hostile::stream(&[hostile::zero_size_array((1 << 20) + 1)]);
    let limits = Limits {
        section_memory: u64::MAX,
        max_allocation: u64::MAX,
        ..Limits::DEFAULT
    };
    let (result, bytes) = peak(|| decode_all(&stream, limits));
    let err = result.expect_err("refused");
    assert_eq!(limit_of(&err), Some(Limit::UnpaidElements), "{err}");
    assert!(bytes < MIB, "peak {bytes} bytes");
    // Just within the budget, it decodes: every element is walked.
    let stream = hostile::stream(&[hostile::zero_size_array(1 << 16)]);
    let (result, _) = peak(|| decode_all(&stream, limits));
    assert_eq!(result.expect("within the budget"), 1);
}

#[test]
fn decoded_state_memory_is_bounded_by_the_section_budget() {
    let _alone = alone();
    // 50,000 one-byte fields, each with its own vmdesc entry (2 MB of
    // stream): the decoded values take memory per field.
    let section = hostile::many_byte_fields(50_000);
    let stream = hostile::stream(&[section]);
    let (result, bytes) = peak(|| decode_all(&stream, Limits::DEFAULT));
    assert_eq!(result.expect("a 2 MB stream decodes"), 1);
    // The descriptions, the vmdesc document and the values together stay
    // within a small multiple of the input (it was 250x with the old tree).
    assert!(
        bytes < 16 * stream.len(),
        "peak {bytes} bytes for {} bytes of stream",
        stream.len()
    );
    // A tighter section budget refuses the same stream up front.
    let limits = Limits {
        section_memory: MIB as u64,
        ..Limits::DEFAULT
    };
    let (result, bytes) = peak(|| decode_all(&stream, limits));
    let err = result.expect_err("refused");
    assert_eq!(limit_of(&err), Some(Limit::SectionMemory), "{err}");
    assert!(bytes < 16 * stream.len(), "peak {bytes}");
}

#[test]
fn a_declared_array_larger_than_the_input_fails_at_the_end_of_the_input() {
    let _alone = alone();
    // 2^22 uint8 elements declared, 100,000 sent: the values are one
    // 4 MiB vector (within the budget), and the load stops at the end of
    // the input.
    let stream = hostile::stream(&[hostile::short_byte_array(1 << 22, 100_000)]);
    let (result, bytes) = peak(|| decode_all(&stream, Limits::DEFAULT));
    let err = result.expect_err("truncated");
    assert!(err.is_eof(), "{err}");
    assert!(bytes < 6 * MIB, "peak {bytes}");
    // An array of 2^24 bools is 2^24 values: beyond the largest allocation.
    let fields =
        serde_json::json!([{ "name": "a", "array_len": 1u64 << 24, "type": "bool", "size": 1 }]);
    let stream = hostile::stream(&[hostile::Section::new("bools", fields, vec![1; 100])]);
    let (result, bytes) = peak(|| decode_all(&stream, Limits::DEFAULT));
    let err = result.expect_err("refused");
    assert_eq!(limit_of(&err), Some(Limit::MaxAllocation), "{err}");
    assert!(bytes < MIB, "peak {bytes}");
}

#[test]
fn walk_cost_is_computed_from_the_description() {
    let _alone = alone();
    let arena = DescriptionArena::with_limits(Limits::UNLIMITED);
    let entry = serde_json::json!({
        "name": "d", "instance_id": 0, "vmsd_name": "d", "version": 1,
        "fields": [
            { "name": "a", "array_len": 10, "type": "uint32", "size": 4 },
            { "name": "b", "type": "buffer", "size": 100 },
            { "name": "e", "array_len": 7, "type": "struct", "size": 0,
              "struct": { "vmsd_name": "empty", "version": 1, "fields": [] } },
        ],
    });
    let description = arena.section(&entry).expect("described");
    let cost = WalkCost::of(description);
    assert_eq!(cost.min_input, 140);
    assert_eq!(cost.unpaid_elements, 7);
    // The 7 structs are a vector of 7 values.
    let values = 7 * std::mem::size_of::<vmstate_core::dynamic::Value<'_>>() as u64;
    assert_eq!(cost.largest_allocation, values.max(100));
}

// ------------------------------------------------------------ typed loads

/// One byte on the wire, 8 KiB in memory.
#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "fat-element", version = 1)]
struct FatElement {
    b: u8,
    #[vmstate(skip)]
    cache: [[[u8; 32]; 32]; 8],
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "fat", version = 1)]
struct Fat {
    n: u32,
    #[vmstate(len = n)]
    items: Vec<FatElement>,
}

#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "fat-queue", version = 1)]
struct FatQueue {
    #[vmstate(qtailq)]
    q: Vec<FatElement>,
}

fn fat_body(count: u32, sent: usize) -> Vec<u8> {
    let mut body = count.to_be_bytes().to_vec();
    body.extend(std::iter::repeat_n(7u8, sent));
    body
}

#[test]
fn typed_loads_count_the_memory_they_create_not_the_bytes_they_read() {
    let _alone = alone();
    // 400 KB of input for 3.2 GB of elements.
    let body = fat_body(400_000, 400_000);
    let (result, bytes) = peak(|| {
        let mut fat = Fat::default();
        vmstate_core::load(&mut fat, SliceReader::new(&body), 1).map(|()| fat.items.len())
    });
    let err = result.expect_err("refused");
    assert_eq!(limit_of(&err), Some(Limit::SectionMemory), "{err}");
    assert!(err.to_string().contains("fat.items["), "{err}");
    // The budget is 256 MiB; a growing vector may hold twice its length
    // while it moves.
    let budget = Limits::DEFAULT.section_memory as usize;
    assert!(bytes < 3 * budget + MIB, "peak {bytes} bytes");

    // A u32::MAX count with 100 KB delivered, under a tighter budget.
    let body = fat_body(u32::MAX, 100_000);
    let limits = Limits {
        section_memory: 16 * MIB as u64,
        ..Limits::DEFAULT
    };
    let (result, bytes) = peak(|| {
        let mut fat = Fat::default();
        vmstate_core::load_with_limits(&mut fat, SliceReader::new(&body), 1, limits)
    });
    let err = result.expect_err("refused");
    assert_eq!(limit_of(&err), Some(Limit::SectionMemory), "{err}");
    assert!(bytes < 3 * 16 * MIB + MIB, "peak {bytes} bytes");

    // Within the budget, the same shape loads.
    let body = fat_body(100, 100);
    let mut fat = Fat::default();
    vmstate_core::load_with_limits(&mut fat, SliceReader::new(&body), 1, limits).expect("loads");
    assert_eq!(fat.items.len(), 100);
}

#[test]
fn typed_queues_count_their_elements_memory() {
    let _alone = alone();
    // 100k elements of a qtailq: `01 b` per element.
    let mut body = Vec::new();
    for _ in 0..100_000 {
        body.extend_from_slice(&[1, 7]);
    }
    body.push(0);
    let limits = Limits {
        section_memory: 16 * MIB as u64,
        ..Limits::DEFAULT
    };
    let (result, bytes) = peak(|| {
        let mut q = FatQueue::default();
        vmstate_core::load_with_limits(&mut q, SliceReader::new(&body), 1, limits)
    });
    let err = result.expect_err("refused");
    assert_eq!(limit_of(&err), Some(Limit::SectionMemory), "{err}");
    assert!(err.to_string().contains("fat-queue.q["), "{err}");
    assert!(bytes < 3 * 16 * MIB + MIB, "peak {bytes} bytes");
}

// --------------------------------------------------------------- registry

/// A device with a 512 KiB table that is not migrated (its configuration):
/// four bytes on the wire, 512 KiB per staged copy.
#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "table", version = 1)]
struct Table {
    generation: u32,
    #[vmstate(skip)]
    rows: Vec<u64>,
}

impl Table {
    fn configured() -> Table {
        Table {
            generation: 0,
            rows: vec![0; 64 * 1024],
        }
    }
}

fn raw_stream(sections: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
    let list: Vec<hostile::Section> = sections
        .iter()
        .map(|(idstr, instance, body)| hostile::Section {
            instance_id: *instance,
            ..hostile::Section::new(idstr, serde_json::json!([]), body.clone())
        })
        .collect();
    hostile::stream_with_vmdesc(&list, b"{}")
}

#[test]
fn registry_refuses_duplicate_sections_at_the_second() {
    let _alone = alone();
    // 1,000 sections (24 KB) of one device with a 512 KiB table.
    let sections: Vec<(&str, u32, Vec<u8>)> = (0..1000u32)
        .map(|i| ("table", 0, i.to_be_bytes().to_vec()))
        .collect();
    let stream = raw_stream(&sections);
    let mut table = Table::configured();
    let (result, bytes) = peak(|| {
        let mut registry = Registry::new();
        registry.register(&mut table, Registration::default())?;
        registry.load(
            SliceReader::new(&stream),
            &StreamSettings::new("pc-i440fx-10.0"),
        )
    });
    let err = result.expect_err("refused");
    assert!(
        err.to_string().contains("second section for table"),
        "{err}"
    );
    // The first section's staged copy, the second's header: not 1,000 copies.
    assert!(bytes < 4 * MIB, "peak {bytes} bytes");
}

/// A table the stream fills: the load grows it.
#[derive(VmState, Clone, Debug, PartialEq, Default)]
#[vmstate(name = "rows", version = 1)]
struct Rows {
    n: u32,
    #[vmstate(len = n)]
    rows: Vec<u64>,
}

#[test]
fn registry_holds_staged_sections_within_the_stream_budget() {
    let _alone = alone();
    // Eight devices whose sections fill 512 KiB tables: 4 MiB staged.
    let mut body = (64u32 * 1024).to_be_bytes().to_vec();
    body.resize(4 + 512 * 1024, 0);
    let sections: Vec<(&str, u32, Vec<u8>)> = (0..8).map(|i| ("rows", i, body.clone())).collect();
    let stream = raw_stream(&sections);
    let load = |limits: Limits| {
        let mut tables: Vec<Rows> = vec![Rows::default(); 8];
        let mut registry = Registry::new();
        for t in &mut tables {
            registry.register(t, Registration::default())?;
        }
        let options = LoadOptions {
            limits,
            ..LoadOptions::default()
        };
        registry
            .load_with(
                SliceReader::new(&stream),
                &StreamSettings::new("pc-i440fx-10.0"),
                &mut DiscardRam,
                &options,
            )
            .map(|report| report.loaded.len())
    };
    let tight = Limits {
        stream_memory: 2 * MIB as u64,
        ..Limits::DEFAULT
    };
    let (result, _) = peak(|| load(tight));
    let err = result.expect_err("refused");
    assert_eq!(limit_of(&err), Some(Limit::StreamMemory), "{err}");
    assert_eq!(err.section(), Some(("rows", 3)), "{err}");
    let (result, _) = peak(|| load(Limits::DEFAULT));
    assert_eq!(result.expect("loads"), 8);
}

// -------------------------------------------------------------------- RAM

#[test]
fn zero_length_ram_block_entries_are_bounded() {
    let _alone = alone();
    let stream = hostile::zero_length_ram_blocks(70_000);
    let (result, bytes) = peak(|| {
        let mut dec = StreamDecoder::open(SliceReader::new(&stream), None)?;
        while dec.next_event()?.is_some() {}
        vmstate_core::Result::Ok(())
    });
    let err = result.expect_err("refused");
    assert_eq!(limit_of(&err), Some(Limit::MaxRamBlocks), "{err}");
    assert!(err.to_string().contains("65537 RAM block entries"), "{err}");
    assert!(bytes < 16 * MIB, "peak {bytes} bytes");
}
