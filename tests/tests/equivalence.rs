//! The equivalence check on made-up differences: QEMU's side is a model's
//! own `-dump-vmstate` export (without the `wire_type` extension, as QEMU
//! writes it) with one thing changed, so that each kind of difference, its
//! path, its effect and its words are pinned down. The check against real
//! QEMU dumps is in `qemu_equivalence.rs`.

use vmstate_core::VmState;
use vmstate_core::dump::{DumpDescription, DumpField, DumpFile, DumpSection};
use vmstate_core::equivalence::{
    Difference, DifferenceKind, Effect, EquivalenceError, compare, differences_in,
};

#[derive(VmState, Default)]
#[vmstate(name = "regs", version = 1, minimum_version = 1)]
struct Regs {
    x: u8,
    y: u16,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev/s1", version = 1, minimum_version = 1)]
struct Sub1 {
    p: u64,
}

#[derive(VmState, Default)]
#[vmstate(name = "dev/s2", version = 2, minimum_version = 1)]
struct Sub2 {
    q: u32,
}

fn ok(_: &Dev, _: u32) -> bool {
    true
}

#[derive(VmState, Default)]
#[vmstate(name = "dev", version = 2, minimum_version = 1)]
struct Dev {
    a: u32,
    #[vmstate(since = 2)]
    b: u16,
    arr: [u8; 4],
    count: u8,
    #[vmstate(len = count)]
    regs: [Regs; 8],
    inner: Regs,
    #[vmstate(unused = 4)]
    _pad: (),
    #[vmstate(validate = ok)]
    _check: (),
    #[vmstate(name = "cfg")]
    cfg0: u32,
    #[vmstate(name = "cfg")]
    cfg1: u32,
    #[vmstate(subsection)]
    s1: Sub1,
    #[vmstate(subsection)]
    s2: Sub2,
}

/// `T` as QEMU's dump would show it (no `wire_type`).
fn qemu_of<T: VmState>() -> DumpDescription {
    let mut file = DumpFile::from_static("m", [("dev", T::DESCRIPTION)]);
    file.strip_wire_types();
    file.sections.remove(0).description.unwrap()
}

/// The differences of `Dev` against its own export changed by `change`.
fn dev_against(change: impl FnOnce(&mut DumpDescription)) -> Vec<Difference> {
    let mut q = qemu_of::<Dev>();
    change(&mut q);
    compare(Dev::DESCRIPTION, &q)
}

/// Path, kind and effect of each difference.
fn summary(d: &[Difference]) -> Vec<(String, DifferenceKind, Effect)> {
    d.iter()
        .map(|d| (d.path.clone(), d.kind.clone(), d.effect))
        .collect()
}

fn one(d: Vec<Difference>) -> Difference {
    assert_eq!(d.len(), 1, "{d:#?}");
    d.into_iter().next().unwrap()
}

fn fields(d: &mut DumpDescription) -> &mut Vec<DumpField> {
    d.fields.as_mut().unwrap()
}

fn field<'a>(d: &'a mut DumpDescription, name: &str) -> &'a mut DumpField {
    fields(d)
        .iter_mut()
        .find(|f| f.field.as_deref() == Some(name))
        .unwrap()
}

fn nested<'a>(d: &'a mut DumpDescription, name: &str) -> &'a mut DumpDescription {
    field(d, name).description.as_mut().unwrap()
}

fn subsection<'a>(d: &'a mut DumpDescription, name: &str) -> &'a mut DumpDescription {
    d.subsections
        .as_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s.name.as_deref() == Some(name))
        .unwrap()
}

fn dk(path: &str, kind: DifferenceKind, effect: Effect) -> (String, DifferenceKind, Effect) {
    (path.to_owned(), kind, effect)
}

#[test]
fn a_model_matches_its_own_export() {
    assert_eq!(dev_against(|_| {}), []);
    // With the wire types on both sides, they are compared too.
    let mut file = DumpFile::from_static("m", [("dev", Dev::DESCRIPTION)]);
    let q = file.sections.remove(0).description.unwrap();
    assert_eq!(compare(Dev::DESCRIPTION, &q), []);
}

#[test]
fn sizes() {
    let d = one(dev_against(|q| field(q, "a").size = Some(2)));
    assert_eq!(
        (d.path.as_str(), &d.kind, d.effect),
        (
            "dev.a",
            &DifferenceKind::Size { qemu: 2, model: 4 },
            Effect::Breaks
        )
    );
    assert_eq!(
        d.message,
        "QEMU's `a` is 2 bytes, the model's 4 bytes (uint32): each side reads a different \
         number of bytes than the other wrote, so this field and every later one is misread, in \
         both directions. QEMU's field is an integer of 16 bits (the dump shows its C type's \
         size): make the model's field u16 or i16"
    );
    assert_eq!(
        d.to_string(),
        format!("dev.a: {} [breaks migration]", d.message)
    );
    // Array elements, unused bytes, repeated names, nested structs.
    let d = dev_against(|q| {
        field(q, "arr").size = Some(2);
        field(q, "unused").size = Some(8);
        fields(q)[8].size = Some(2);
        nested(q, "regs").fields.as_mut().unwrap()[1].size = Some(4);
        nested(q, "inner").fields.as_mut().unwrap()[0].size = Some(2);
    });
    assert_eq!(
        summary(&d),
        [
            dk(
                "dev.arr",
                DifferenceKind::Size { qemu: 2, model: 1 },
                Effect::Breaks
            ),
            dk(
                "dev.regs[].y",
                DifferenceKind::Size { qemu: 4, model: 2 },
                Effect::Breaks
            ),
            dk(
                "dev.inner.x",
                DifferenceKind::Size { qemu: 2, model: 1 },
                Effect::Breaks
            ),
            dk(
                "dev.unused",
                DifferenceKind::Size { qemu: 8, model: 4 },
                Effect::Breaks
            ),
            dk(
                "dev.cfg[1]",
                DifferenceKind::Size { qemu: 2, model: 4 },
                Effect::Breaks
            ),
        ]
    );
    assert!(
        d[0].message
            .starts_with("QEMU's `arr` is 2 bytes per element, the model's 1 byte (uint8)"),
        "{}",
        d[0].message
    );
    // Struct sizes are QEMU's C sizes: not compared.
    assert_eq!(dev_against(|q| field(q, "inner").size = Some(64)), []);
}

#[test]
fn field_versions() {
    // Both sides send `b` in version-2 streams; version-1 streams differ.
    let d = one(dev_against(|q| field(q, "b").version_id = Some(1)));
    assert_eq!(
        (d.path.as_str(), &d.kind, d.effect),
        (
            "dev.b",
            &DifferenceKind::FieldVersion { qemu: 1, model: 2 },
            Effect::OlderStreams
        )
    );
    assert_eq!(
        d.message,
        "QEMU sends `b` from version 1 on, the model from version 2: a stream of version 1 \
         (from an older QEMU release) carries it for one side and not the other, so every later \
         field of such a stream is misread; current streams agree. Use `since = 1`"
    );
    // QEMU would not send it at version 2 at all.
    let d = one(dev_against(|q| field(q, "b").version_id = Some(3)));
    assert_eq!(d.effect, Effect::Breaks);
    assert_eq!(
        d.message,
        "QEMU sends `b` from version 3 on, the model from version 2: a stream of version 2 \
         carries it for one side and not the other, and that includes the current version, so \
         every later field is misread. Use `since = 3`"
    );
    // Nested structs are walked at each side's own version.
    let d = one(dev_against(|q| {
        nested(q, "inner").fields.as_mut().unwrap()[1].version_id = Some(1);
    }));
    assert_eq!(
        (d.path.as_str(), d.effect),
        ("dev.inner.y", Effect::Compatible)
    );
    let d = one(dev_against(|q| {
        nested(q, "inner").fields.as_mut().unwrap()[1].version_id = Some(2);
    }));
    assert_eq!((d.path.as_str(), d.effect), ("dev.inner.y", Effect::Breaks));
    assert!(
        d.message
            .contains("one side sends it and the other does not"),
        "{}",
        d.message
    );
}

#[test]
fn exists_tests() {
    let d = one(dev_against(|q| field(q, "a").field_exists = Some(true)));
    assert_eq!(
        (d.path.as_str(), &d.kind, d.effect),
        (
            "dev.a",
            &DifferenceKind::FieldExists {
                qemu: true,
                model: false
            },
            Effect::Breaks
        )
    );
    assert_eq!(
        d.message,
        "QEMU decides with a test (`field_exists`) whether to send `a`; the model sends it in \
         every stream of version 0 and newer. Whenever QEMU's test is false, the sides disagree \
         on whether its bytes are there and every later field is misread. Give the model the \
         same test: `exists = ...`"
    );
    // The validate field is not in the dump, on either side.
    assert!(
        qemu_of::<Dev>()
            .fields
            .unwrap()
            .iter()
            .all(|f| f.field.as_deref() != Some("_check"))
    );
}

#[test]
fn array_lengths() {
    let d = one(dev_against(|q| field(q, "arr").num = Some(5)));
    assert_eq!(
        (d.path.as_str(), &d.kind),
        (
            "dev.arr",
            &DifferenceKind::Num {
                qemu: Some(5),
                model: Some(4)
            }
        )
    );
    assert_eq!(
        d.message,
        "QEMU sends 5 elements of `arr`, the model 4: QEMU's extra bytes in one stream are read \
         as the other's, so every later field is misread"
    );
    let d = one(dev_against(|q| field(q, "regs").num = Some(8)));
    assert_eq!(
        d.message,
        "QEMU sends `regs` as a fixed array of 8 elements, the model as a variable number of \
         elements counted by `count`: the element counts on the wire differ, so every later \
         field is misread"
    );
    let d = one(dev_against(|q| field(q, "arr").num = None));
    assert_eq!(
        d.kind,
        DifferenceKind::Num {
            qemu: None,
            model: Some(4)
        }
    );
}

#[test]
fn nesting_and_nested_descriptions() {
    let d = one(dev_against(|q| {
        let f = field(q, "inner");
        f.description = None;
        f.size = Some(3);
    }));
    assert_eq!(
        (d.path.as_str(), &d.kind, d.effect),
        (
            "dev.inner",
            &DifferenceKind::Nesting {
                qemu: None,
                model: Some("regs".into())
            },
            Effect::Breaks
        )
    );
    assert_eq!(
        d.message,
        "QEMU sends `inner` as a plain value (3 bytes), the model as a nested `regs` struct: \
         that value cannot be read as the struct's fields, so this field and every later one is \
         misread"
    );
    let d = one(dev_against(|q| {
        field(q, "a").description = Some(qemu_of::<Regs>());
    }));
    assert_eq!(
        d.kind,
        DifferenceKind::Nesting {
            qemu: Some("regs".into()),
            model: None
        }
    );
    // A nested struct's name and version are not on the wire.
    let d = dev_against(|q| {
        let inner = nested(q, "inner");
        inner.name = Some("regs_v2".into());
        inner.version_id = Some(2);
        inner.minimum_version_id = Some(2);
    });
    assert_eq!(
        summary(&d),
        [
            dk(
                "dev.inner",
                DifferenceKind::Name {
                    qemu: "regs_v2".into(),
                    model: "regs".into()
                },
                Effect::Compatible
            ),
            dk(
                "dev.inner",
                DifferenceKind::Version { qemu: 2, model: 1 },
                Effect::Compatible
            ),
            dk(
                "dev.inner",
                DifferenceKind::MinimumVersion { qemu: 2, model: 1 },
                Effect::Compatible
            ),
        ]
    );
    assert_eq!(
        d[1].message,
        "QEMU's nested struct is version 2, the model's 1. A nested struct's version is not in \
         the stream: each side walks it at its own version (or at the one VMSTATE_VSTRUCT pins, \
         which the dump does not show); no field's presence depends on it, so the bytes are the \
         same; the vmdesc records the version"
    );
}

#[derive(VmState, Default)]
#[vmstate(name = "late", version = 1, minimum_version = 1)]
struct Late {
    x: u8,
    #[vmstate(since = 1)]
    y: u8,
}

#[derive(VmState, Default)]
#[vmstate(name = "outer", version = 1, minimum_version = 1)]
struct Outer {
    late: Late,
}

/// A nested struct walked at version 0 by QEMU skips its `since = 1` field.
#[test]
fn nested_versions_that_change_presence() {
    let mut q = qemu_of::<Outer>();
    nested(&mut q, "late").version_id = Some(0);
    nested(&mut q, "late").minimum_version_id = Some(0);
    let d = compare(Outer::DESCRIPTION, &q);
    assert_eq!(
        summary(&d),
        [
            dk(
                "outer.late",
                DifferenceKind::Version { qemu: 0, model: 1 },
                Effect::Breaks
            ),
            dk(
                "outer.late",
                DifferenceKind::MinimumVersion { qemu: 0, model: 1 },
                Effect::Compatible
            ),
        ]
    );
    assert!(
        d[0].message.ends_with(
            "so field `y` is sent by one side and not by the other, and every later field is \
             misread"
        ),
        "{}",
        d[0].message
    );
}

#[derive(VmState, Default)]
#[vmstate(name = "grown", version = 2, minimum_version = 1)]
struct Grown {
    x: u8,
    #[vmstate(since = 2)]
    y: u8,
}

#[derive(VmState, Default)]
#[vmstate(name = "pins", version = 1, minimum_version = 1)]
struct Pins {
    #[vmstate(struct_version = 1)]
    grown: Grown,
}

/// A `VMSTATE_VSTRUCT` walks the struct at the version it pins (taken to be
/// QEMU's pin too: the dump does not show it), not at the struct's own.
#[test]
fn pinned_struct_versions() {
    assert_eq!(compare(Pins::DESCRIPTION, &qemu_of::<Pins>()), []);
    let mut q = qemu_of::<Pins>();
    nested(&mut q, "grown").fields.as_mut().unwrap()[1].version_id = Some(1);
    let d = one(compare(Pins::DESCRIPTION, &q));
    assert_eq!(
        (d.path.as_str(), &d.kind, d.effect),
        (
            "pins.grown.y",
            &DifferenceKind::FieldVersion { qemu: 1, model: 2 },
            Effect::Breaks
        )
    );
    assert!(
        d.message.contains("(QEMU's 1, the model's 1)"),
        "{}",
        d.message
    );
}

#[test]
fn wire_types_when_both_dumps_have_them() {
    let mut file = DumpFile::from_static("m", [("dev", Dev::DESCRIPTION)]);
    let mut q = file.sections.remove(0).description.unwrap();
    field(&mut q, "a").wire_type = Some("int32".into());
    let d = one(compare(Dev::DESCRIPTION, &q));
    assert_eq!(
        d.kind,
        DifferenceKind::WireType {
            qemu: "int32".into(),
            model: "uint32".into()
        }
    );
}

#[test]
fn field_alignment() {
    // QEMU has a field the model lacks.
    let d = one(dev_against(|q| {
        fields(q).insert(
            1,
            DumpField {
                field: Some("z".into()),
                version_id: Some(0),
                field_exists: Some(false),
                size: Some(8),
                ..DumpField::default()
            },
        );
    }));
    assert_eq!(
        (d.path.as_str(), &d.kind),
        ("dev.z", &DifferenceKind::MissingField)
    );
    assert_eq!(
        d.message,
        "QEMU sends `z` here (8 bytes); the model has no such field. Loading QEMU's stream, the \
         model reads those bytes as its next field, and QEMU, loading the model's, takes the \
         model's next field for `z`: every later field is misread"
    );
    // The model has a field QEMU lacks.
    let d = one(dev_against(|q| {
        fields(q).remove(2);
    }));
    assert_eq!(
        (d.path.as_str(), &d.kind),
        ("dev.arr", &DifferenceKind::ExtraField)
    );
    assert!(
        d.message
            .starts_with("the model sends `arr` here (4 × 1 byte); QEMU has no such field"),
        "{}",
        d.message
    );
    // Another name at the same place: the bytes are the same.
    let d = one(dev_against(|q| field(q, "b").field = Some("bee".into())));
    assert_eq!(
        (d.path.as_str(), &d.kind, d.effect),
        (
            "dev.bee",
            &DifferenceKind::FieldName {
                qemu: "bee".into(),
                model: "b".into()
            },
            Effect::Compatible
        )
    );
    assert_eq!(
        d.message,
        "QEMU calls field 2 `bee`, the model `b`. The stream has no field names, so the bytes \
         are the same if the rest matches, but vmdesc, analyze-migration and dumps name it \
         differently: `#[vmstate(name = \"bee\")]`"
    );
    // A renamed field is still compared.
    let d = dev_against(|q| {
        let b = field(q, "b");
        b.field = Some("bee".into());
        b.size = Some(4);
    });
    assert_eq!(
        summary(&d)[1],
        dk(
            "dev.bee",
            DifferenceKind::Size { qemu: 4, model: 2 },
            Effect::Breaks
        )
    );
    // A field at another position.
    let d = dev_against(|q| {
        let a = fields(q).remove(0);
        fields(q).insert(3, a);
    });
    assert_eq!(
        summary(&d),
        [dk(
            "dev.a",
            DifferenceKind::FieldOrder { qemu: 3, model: 0 },
            Effect::Breaks
        )]
    );
    assert_eq!(
        d[0].message,
        "QEMU sends `a` as field 4 of `dev`, the model as field 1: the stream has no field names, \
         so each side reads the other's bytes into the wrong fields from here on. Keep QEMU's \
         field order"
    );
    // Several at once: all reported, in QEMU's order.
    let d = dev_against(|q| {
        fields(q).remove(0);
        field(q, "count").field = Some("n".into());
        fields(q).push(DumpField {
            field: Some("tail".into()),
            version_id: Some(0),
            field_exists: Some(false),
            size: Some(1),
            ..DumpField::default()
        });
    });
    assert_eq!(
        summary(&d),
        [
            dk("dev.a", DifferenceKind::ExtraField, Effect::Breaks),
            dk(
                "dev.n",
                DifferenceKind::FieldName {
                    qemu: "n".into(),
                    model: "count".into()
                },
                Effect::Compatible
            ),
            dk("dev.tail", DifferenceKind::MissingField, Effect::Breaks),
        ]
    );
}

#[test]
fn section_versions_and_name() {
    let d = one(dev_against(|q| q.version_id = Some(1)));
    assert_eq!(
        (d.path.as_str(), &d.kind, d.effect),
        (
            "dev",
            &DifferenceKind::Version { qemu: 1, model: 2 },
            Effect::Breaks
        )
    );
    assert_eq!(
        d.message,
        "QEMU writes this section at version 1 (and loads 1..=1); the model writes version 2 \
         (and loads 1..=2). The version is on the wire, so QEMU refuses the model's streams \
         (version 2 is newer than the 1 it knows), and the model loads QEMU's streams by its \
         rules for version 1. A version is a promise about the wire shared with QEMU: use QEMU's \
         `version = 1`"
    );
    let d = one(dev_against(|q| q.minimum_version_id = Some(2)));
    assert_eq!(
        (&d.kind, d.effect),
        (
            &DifferenceKind::MinimumVersion { qemu: 2, model: 1 },
            Effect::OlderStreams
        )
    );
    assert_eq!(
        d.message,
        "QEMU loads this section at versions 2..=2, the model at 1..=2: the model accepts \
         versions 1..=1, which QEMU no longer loads, so its handling of them cannot be checked \
         against this QEMU. Use QEMU's `minimum_version = 2`"
    );
    let d = one(dev_against(|q| q.minimum_version_id = Some(0)));
    assert!(
        d.message.contains(
            "streams of versions 0..=0, which QEMU still loads (from older QEMU releases), are \
             refused by the model"
        ),
        "{}",
        d.message
    );
    let d = dev_against(|q| {
        q.name = Some("device".into());
        for s in q.subsections.as_mut().unwrap() {
            let name = s.name.take().unwrap();
            s.name = Some(name.replace("dev/", "device/"));
        }
    });
    assert_eq!(
        summary(&d),
        [
            dk(
                "device",
                DifferenceKind::Name {
                    qemu: "device".into(),
                    model: "dev".into()
                },
                Effect::Breaks
            ),
            dk(
                "device/s1",
                DifferenceKind::MissingSubsection,
                Effect::Breaks
            ),
            dk(
                "device/s2",
                DifferenceKind::MissingSubsection,
                Effect::Breaks
            ),
            dk("device/s1", DifferenceKind::ExtraSubsection, Effect::Breaks),
            dk("device/s2", DifferenceKind::ExtraSubsection, Effect::Breaks),
        ]
    );
    assert!(d[0].message.contains("Unknown savevm section or instance"));
}

#[test]
fn subsections() {
    let d = one(dev_against(|q| {
        q.subsections.as_mut().unwrap().remove(0);
    }));
    assert_eq!(
        (d.path.as_str(), &d.kind),
        ("dev/s1", &DifferenceKind::ExtraSubsection)
    );
    assert_eq!(
        d.message,
        "the model has subsection `dev/s1` (version 1), which QEMU does not know: whenever the \
         model sends it, QEMU fails the load (\"VM subsection ... does not exist\")"
    );
    let d = one(dev_against(|q| {
        let mut extra = qemu_of::<Sub1>();
        extra.name = Some("dev/s3".into());
        q.subsections.as_mut().unwrap().push(extra);
    }));
    assert_eq!(
        (d.path.as_str(), &d.kind),
        ("dev/s3", &DifferenceKind::MissingSubsection)
    );
    assert_eq!(
        d.message,
        "QEMU has subsection `dev/s3` (version 1), which it sends whenever its needed() test is \
         true (the dump does not say when); the model does not know it, so it cannot load a QEMU \
         stream that carries it"
    );
    let d = one(dev_against(|q| q.subsections.as_mut().unwrap().reverse()));
    assert_eq!(
        (d.path.as_str(), &d.kind, d.effect),
        (
            "dev",
            &DifferenceKind::SubsectionOrder {
                qemu: vec!["dev/s2".into(), "dev/s1".into()],
                model: vec!["dev/s1".into(), "dev/s2".into()]
            },
            Effect::Compatible
        )
    );
    // A subsection's version is on the wire; its fields are compared.
    let d = dev_against(|q| {
        let s2 = subsection(q, "dev/s2");
        s2.version_id = Some(3);
        fields(s2)[0].size = Some(8);
    });
    assert_eq!(
        summary(&d),
        [
            dk(
                "dev/s2",
                DifferenceKind::Version { qemu: 3, model: 2 },
                Effect::Breaks
            ),
            dk(
                "dev/s2.q",
                DifferenceKind::Size { qemu: 8, model: 4 },
                Effect::Breaks
            ),
        ]
    );
    assert!(
        d[0].message
            .starts_with("QEMU writes this subsection at version 3 (and loads 1..=3)"),
        "{}",
        d[0].message
    );
    assert!(
        d[0].message
            .contains("the model refuses QEMU's streams (version 3 is newer than its 2)"),
        "{}",
        d[0].message
    );
}

fn section(qom: &str, description: DumpDescription) -> DumpSection {
    DumpSection {
        qom_name: qom.into(),
        name: Some(qom.into()),
        version_id: description.version_id,
        minimum_version_id: description.minimum_version_id,
        description: Some(description),
        extra: Vec::new(),
    }
}

#[test]
fn finding_sections() {
    let mut file = DumpFile::new("m");
    file.sections.push(section("isa-dev", qemu_of::<Dev>()));
    file.sections.push(section("kvm-dev", qemu_of::<Dev>()));
    assert_eq!(
        differences_in(&file, "isa-dev", Dev::DESCRIPTION).unwrap(),
        []
    );
    // By description name, when all sections of that name agree.
    assert_eq!(differences_in(&file, "dev", Dev::DESCRIPTION).unwrap(), []);
    let mut other = qemu_of::<Dev>();
    other.version_id = Some(3);
    file.sections.push(section("xen-dev", other));
    let e = differences_in(&file, "dev", Dev::DESCRIPTION).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the QEMU dump: the sections whose description is named `dev` differ (isa-dev, \
         kvm-dev, xen-dev); name the QOM type to compare with"
    );
    assert_eq!(
        differences_in(&file, "xen-dev", Dev::DESCRIPTION).unwrap()[0].kind,
        DifferenceKind::Version { qemu: 3, model: 2 }
    );
    let e = differences_in(&file, "DE", Dev::DESCRIPTION).unwrap_err();
    match &e {
        EquivalenceError::NoSection { similar, .. } => {
            assert_eq!(similar, &["isa-dev", "kvm-dev", "xen-dev"]);
        }
        other => panic!("{other:?}"),
    }
    file.sections.push(DumpSection {
        qom_name: "bare".into(),
        ..DumpSection::default()
    });
    let e = differences_in(&file, "bare", Dev::DESCRIPTION).unwrap_err();
    assert!(matches!(e, EquivalenceError::NoDescription { .. }), "{e}");
}

#[test]
fn effects_in_words() {
    assert_eq!(Effect::Breaks.to_string(), "breaks migration");
    assert_eq!(Effect::OlderStreams.to_string(), "older streams only");
    assert_eq!(Effect::Compatible.to_string(), "wire-compatible");
    assert_eq!(Effect::Unknown.to_string(), "the dump cannot tell");
}
