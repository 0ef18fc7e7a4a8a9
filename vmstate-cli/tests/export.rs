//! Exporting our static schema as a `-dump-vmstate` file.

use vmstate_core::VmState;
use vmstate_core::compat::{self, Options};
use vmstate_core::dump::{DumpDescription, DumpFile};

#[derive(VmState, Clone, Default, Debug, PartialEq)]
#[vmstate(name = "mydev/extra", version = 1, minimum_version = 1)]
struct Extra {
    x: u64,
}

#[derive(VmState, Clone, Default, Debug, PartialEq)]
#[vmstate(name = "regs", version = 1, minimum_version = 1)]
struct Regs {
    a: u32,
    b: u16,
}

fn ok(_: &MyDev, _: u32) -> bool {
    true
}

#[derive(VmState, Clone, Default, Debug, PartialEq)]
#[vmstate(name = "mydev", version = 2, minimum_version = 1)]
struct MyDev {
    ctrl: u32,
    #[vmstate(since = 2)]
    status: u16,
    fifo: [u8; 4],
    grid: [[u16; 3]; 2],
    regs: Regs,
    banks: [Regs; 2],
    #[vmstate(unused = 4)]
    pad: (),
    #[vmstate(validate = ok)]
    check: (),
    #[vmstate(subsection)]
    extra: Extra,
}

#[test]
fn export_follows_qemu_rules() {
    let d = DumpDescription::from_static(MyDev::DESCRIPTION);
    assert_eq!(d.name.as_deref(), Some("mydev"));
    assert_eq!((d.version_id, d.minimum_version_id), (Some(2), Some(1)));
    let fields = d.fields.as_ref().unwrap();
    let names: Vec<_> = fields.iter().map(|f| f.field.as_deref().unwrap()).collect();
    // VALIDATE is skipped; the subsection is not a field.
    assert_eq!(
        names,
        ["ctrl", "status", "fifo", "grid", "regs", "banks", "unused"]
    );
    let f = |n: &str| {
        fields
            .iter()
            .find(|f| f.field.as_deref() == Some(n))
            .unwrap()
    };
    assert_eq!((f("ctrl").num, f("ctrl").size), (None, Some(4)));
    assert_eq!(f("status").version_id, Some(2));
    assert_eq!((f("fifo").num, f("fifo").size), (Some(4), Some(1)));
    assert_eq!(f("fifo").wire_type.as_deref(), Some("uint8"));
    assert_eq!((f("grid").num, f("grid").size), (Some(6), Some(2)));
    assert_eq!(f("regs").size, Some(6));
    assert_eq!(f("regs").wire_type.as_deref(), Some("struct"));
    let regs = f("regs").description.as_ref().unwrap();
    assert_eq!(regs.name.as_deref(), Some("regs"));
    assert_eq!((f("banks").num, f("banks").size), (Some(2), Some(6)));
    assert!(f("banks").description.is_some());
    assert_eq!(f("unused").size, Some(4));
    let subs = d.subsections.as_ref().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].name.as_deref(), Some("mydev/extra"));
    assert!(regs.subsections.is_none());
}

#[test]
fn exported_file_roundtrips_and_checks_clean() {
    let file = DumpFile::from_static("pc-q35-10.0", [("mydev", MyDev::DESCRIPTION)]);
    let text = file.to_json();
    assert!(text.starts_with("{\n  \"vmschkmachine\": {\n    \"Name\": \"pc-q35-10.0\"\n  },\n  \"mydev\": {\n    \"Name\": \"mydev\",\n    \"version_id\": 2,\n"));
    let parsed = DumpFile::parse(&text).unwrap();
    assert_eq!(parsed, file);
    assert_eq!(parsed.to_json(), text);
    let r = compat::check(
        &file,
        &parsed,
        Options {
            strict: true,
            ..Options::default()
        },
    );
    assert_eq!(r.stdout, "");
    assert_eq!(r.exit_status(), 0);

    // Without the extension, exactly QEMU's keys.
    let mut plain = file.clone();
    plain.strip_wire_types();
    assert!(!plain.to_json().contains("wire_type"));

    // Our newer version against an "older" one with fewer fields.
    let mut old = file.clone();
    let desc = old.sections[0].description.as_mut().unwrap();
    desc.version_id = Some(1);
    desc.fields.as_mut().unwrap().pop();
    let r = compat::check(&file, &old, Options::default());
    assert_eq!(
        r.stdout,
        "Section \"mydev\" Description \"mydev\": version error: 2 > 1\n\
         Section \"mydev\", Description \"mydev\": expected field \"unused\", while dest has no further fields\n"
    );
}
