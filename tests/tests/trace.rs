//! Tracing: the events of a save, captured by a `tracing` layer, are the
//! pretty dump line for line, each with the byte offset its value is
//! written at; the stream engine puts them in one span per section.

use std::sync::{Arc, Mutex};

use qemufile::SliceReader;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use vmstate_core::dynamic::DescriptionArena;
use vmstate_core::stream::{self, StreamDecoder, StreamSchema};
use vmstate_core::trace::{FIELD_TARGET, STREAM_TARGET, Traced};
use vmstate_core::{OutputVisitor, VmState, visit_struct};
use vmstate_tests::devices::hpet::Hpet;
use vmstate_tests::devices::mc146818rtc::Mc146818Rtc;

/// One captured field event.
#[derive(Debug, Clone, Default, PartialEq)]
struct Captured {
    path: String,
    wire_type: String,
    value: String,
    offset: Option<u64>,
    /// `idstr` and `direction` of the section span it is in, if any.
    section: Option<(String, String)>,
}

impl Captured {
    fn line(&self) -> String {
        format!("{} = ({}) {}", self.path, self.wire_type, self.value)
    }
}

#[derive(Default)]
struct Fields(Captured, Option<String>, Option<String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "wire_type" => self.0.wire_type = value.to_owned(),
            "direction" => self.2 = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "offset" {
            self.0.offset = Some(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "path" => self.0.path = text,
            "value" => self.0.value = text,
            "idstr" => self.1 = Some(text),
            _ => {}
        }
    }
}

/// The section a span is about: (idstr, direction).
struct SectionOf(String, String);

#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
    spans: Arc<Mutex<Vec<(String, String)>>>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != STREAM_TARGET {
            return;
        }
        let mut f = Fields::default();
        attrs.record(&mut f);
        let section = SectionOf(f.1.unwrap_or_default(), f.2.unwrap_or_default());
        self.spans
            .lock()
            .unwrap()
            .push((section.0.clone(), section.1.clone()));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(section);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != FIELD_TARGET {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let mut c = f.0;
        if let Some(span) = ctx.event_span(event) {
            for s in span.scope() {
                if let Some(SectionOf(idstr, dir)) = s.extensions().get::<SectionOf>() {
                    c.section = Some((idstr.clone(), dir.clone()));
                    break;
                }
            }
        }
        self.events.lock().unwrap().push(c);
    }
}

/// Runs `f` with a subscriber that captures the events and spans.
fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<Captured>, Vec<(String, String)>) {
    let layer = Capture::default();
    let subscriber = tracing_subscriber::registry().with(layer.clone());
    let out = tracing::subscriber::with_default(subscriber, f);
    let events = layer.events.lock().unwrap().clone();
    let spans = layer.spans.lock().unwrap().clone();
    (out, events, spans)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The typed model of section `idstr` of the x86 fixture.
fn load<T: VmState + Clone + Default>(idstr: &str) -> T {
    let bytes = fixture("x86-pc-min.mig");
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    while let Some(ev) = dec.next_event().unwrap() {
        if let stream::Event::Section(h) = ev {
            if h.idstr.as_bytes() == idstr.as_bytes() {
                let mut value = T::default();
                dec.load_section(&mut value).unwrap();
                return value;
            }
        }
    }
    panic!("no section {idstr}");
}

/// The events of a save are the pretty dump, line for line, and each
/// offset is where the value's bytes are.
fn save_traces_like_the_dump<T: VmState + Clone + Default>(idstr: &str) {
    let mut value: T = load(idstr);
    let dump = vmstate_core::pretty_print(&mut value).unwrap();
    let (bytes, events, _) = capture(|| {
        let mut out = Vec::new();
        let mut v = Traced::new(OutputVisitor::new(&mut out));
        assert!(v.is_enabled());
        visit_struct(&mut value, &mut v, T::DESCRIPTION.name).unwrap();
        out
    });
    let lines: Vec<String> = events.iter().map(Captured::line).collect();
    let want: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), want.len(), "{idstr}");
    for (got, want) in lines.iter().zip(&want) {
        assert_eq!(got, want);
    }
    let mut last = None;
    for e in &events {
        let at = e.offset.expect("an output visitor has offsets") as usize;
        assert!(last.is_none_or(|l| l < at), "{idstr}: offsets go forward");
        last = Some(at);
        check_bytes(&bytes, at, e);
    }
}

/// The bytes at `at` hold the value of an integer event.
fn check_bytes(bytes: &[u8], at: usize, e: &Captured) {
    let size = match e.wire_type.as_str() {
        "uint8" | "int8" | "bool" | "uint8 equal" => 1,
        "uint16" | "int16" | "uint16 equal" => 2,
        "uint32" | "int32" | "uint32 equal" | "int32 equal" | "int32 le" => 4,
        "uint64" | "int64" | "int64 equal" | "timer" | "CPU_Double_U" => 8,
        _ => return,
    };
    let mut word = [0u8; 8];
    word[8 - size..].copy_from_slice(&bytes[at..at + size]);
    let value = u64::from_be_bytes(word);
    assert_eq!(format!("{value:#x}"), e.value, "{}", e.path);
}

#[test]
fn a_typed_save_traces_its_pretty_dump_with_offsets() {
    save_traces_like_the_dump::<Mc146818Rtc>("mc146818rtc");
    save_traces_like_the_dump::<Hpet>("hpet");
}

#[test]
fn without_a_subscriber_the_wrapper_does_nothing_but_pass_on() {
    let mut value: Mc146818Rtc = load("mc146818rtc");
    let mut out = Vec::new();
    let mut v = Traced::new(OutputVisitor::new(&mut out));
    assert!(!v.is_enabled());
    visit_struct(&mut value, &mut v, "mc146818rtc").unwrap();
    assert_eq!(out, vmstate_core::save_to_vec(&mut value).unwrap());
}

/// A whole stream re-encoded: every device section is read and written in
/// a span of its own, its values' events in it; the written events are
/// the dump of the section, at the offsets of the output stream.
#[test]
fn the_stream_engine_traces_every_section_in_a_span() {
    let bytes = fixture("x86-pc-min.mig");
    let arena = DescriptionArena::new();
    let schema = StreamSchema::from_stream(&arena, &bytes).unwrap().unwrap();
    let (out, events, spans) = capture(|| {
        let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
        stream::reencode(&mut dec, Vec::new(), |_| {}).unwrap()
    });
    assert!(out == bytes);
    assert!(spans.iter().any(|(i, d)| i == "ram" && d == "read"));
    assert!(spans.iter().any(|(i, d)| i == "ram" && d == "write"));
    // The dump of every section, from the decoder, in stream order.
    let mut dump = String::new();
    let mut dec = StreamDecoder::open(SliceReader::new(&bytes), Some(&schema)).unwrap();
    while let Some(ev) = dec.next_event().unwrap() {
        if let stream::Event::Section(h) = ev {
            let mut state = dec.decode_section().unwrap();
            let root = stream::section_root(&h);
            let mut p = vmstate_core::PrettyPrinter::new(String::new()).with_root(&root);
            let d = state.description();
            vmstate_core::visit_struct_at(&mut state, &mut p, d.name, d.version_id).unwrap();
            dump.push_str(&p.into_inner());
        }
    }
    for direction in ["read", "write"] {
        let mine: Vec<&Captured> = events
            .iter()
            .filter(|e| e.section.as_ref().is_some_and(|(_, d)| d == direction))
            .collect();
        let want: Vec<&str> = dump.lines().collect();
        assert_eq!(mine.len(), want.len(), "{direction}");
        for (e, want) in mine.iter().zip(&want) {
            let mut line = e.line();
            if direction == "read" && line != *want {
                // A dynamic state loads `equal` and `le` fields as plain
                // integers: there is no destination to compare with.
                let plain = want
                    .replace("(int64 equal)", "(uint64)")
                    .replace(" equal)", ")")
                    .replace("(int32 le)", "(int32)");
                if line == plain {
                    line = (*want).to_owned();
                }
            }
            assert_eq!(line, *want, "{direction}");
        }
        for e in &mine {
            let (idstr, _) = e.section.as_ref().unwrap();
            assert!(e.path.starts_with(idstr.as_str()), "{} in {idstr}", e.path);
            // Offsets are those of the stream: read and written alike.
            check_bytes(&bytes, e.offset.unwrap() as usize, e);
        }
    }
    assert_eq!(
        events.iter().filter(|e| e.section.is_none()).count(),
        0,
        "every event is in a section span"
    );
}
