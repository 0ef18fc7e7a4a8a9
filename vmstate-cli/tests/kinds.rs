//! One small hand-written dump pair per finding kind (tests/data/kinds),
//! each with its exact output and exit status. Every expected output was
//! also checked against QEMU's Python script, except the ones marked as
//! extensions.

mod common;

use std::process::Command;

use vmstate_core::compat::{FindingKind, Options};

fn case(name: &str, options: Options) -> (String, u8, Vec<FindingKind>) {
    let src = common::data(&format!("kinds/{name}.src.json"));
    let dest = common::data(&format!("kinds/{name}.dest.json"));
    let r = common::compare(&src, &dest, options);
    let kinds = r.findings.iter().map(|f| f.kind).collect();
    let status = r.exit_status();
    (r.stdout, status, kinds)
}

fn check(name: &str, expected: &str, status: u8, kinds: &[FindingKind]) {
    let (out, st, k) = case(name, Options::default());
    assert_eq!(out, expected, "{name}");
    assert_eq!(st, status, "{name}");
    assert_eq!(k, kinds, "{name}");
}

use FindingKind as K;

#[test]
fn no_findings() {
    for name in [
        "identical",
        "section-renamed",
        "changed-names",
        "substruct",
        "unused",
    ] {
        check(name, "", 0, &[]);
    }
}

#[test]
fn machine_type_is_a_warning() {
    check(
        "machine-type",
        "Warning: checking incompatible machine types: \"pc-q35-10.0\", \"pc-q35-9.2\"\n",
        0,
        &[K::MachineType],
    );
}

#[test]
fn section_missing() {
    check(
        "section-missing",
        "Section \"gone\" does not exist in dest\n",
        1,
        &[K::SectionMissing],
    );
}

#[test]
fn version_errors() {
    check(
        "version-error",
        "Section \"mydev\" version error: 3 > 2\nSection \"mydev\" Description \"mydev\": version error: 3 > 2\n",
        2,
        &[K::VersionError, K::VersionError],
    );
    check(
        "field-version-error",
        "Section \"mydev\" Description \"mydev\": version error: 4 > 3\n",
        1,
        &[K::VersionError],
    );
}

#[test]
fn minimum_version_errors() {
    check(
        "minimum-version-error",
        "Section \"mydev\" Description \"mydev/sub\": minimum version error: 1 < 2\n",
        1,
        &[K::MinimumVersionError],
    );
    // QEMU's quirk: at section level only `Section "mydev" ` is printed, not
    // counted, and it prefixes the next line.
    check(
        "section-minimum-version",
        "Section \"mydev\" Section \"other\" Description \"other\" Field \"a\" size mismatch: 4 , 8\n",
        1,
        &[K::MinimumVersionError, K::SizeMismatch],
    );
    // Extension: --strict prints and counts it.
    let (out, st, _) = case(
        "section-minimum-version",
        Options {
            strict: true,
            ..Options::default()
        },
    );
    assert_eq!(
        out,
        "Section \"mydev\" minimum version error: 1 < 2\nSection \"other\" Description \"other\" Field \"a\" size mismatch: 4 , 8\n"
    );
    assert_eq!(st, 2);
}

#[test]
fn entries_missing() {
    check(
        "entry-missing-description",
        "Section \"mydev\": Entry \"Description\" missing\n",
        1,
        &[K::EntryMissing],
    );
    check(
        "entry-missing-fields",
        "Section \"mydev\" Description \"mydev\": Entry \"Fields\" missing\n",
        1,
        &[K::EntryMissing],
    );
    check(
        "entry-missing-subsections",
        "Section \"mydev\" Description \"mydev\": Entry \"Subsections\" missing\n",
        1,
        &[K::EntryMissing],
    );
}

#[test]
fn field_mismatch_and_fewer_fields() {
    check(
        "field-mismatch",
        "Section \"mydev\", Description \"mydev\": expected field \"status\", got \"state\"; skipping rest\n",
        1,
        &[K::FieldMismatch],
    );
    check(
        "fewer-fields",
        "Section \"mydev\", Description \"mydev\": expected field \"extra\", while dest has no further fields\n",
        1,
        &[K::FewerFields],
    );
}

#[test]
fn unused_size_mismatch() {
    check(
        "unused-size-mismatch",
        "Section \"mydev\", Description \"mydev\": unused size mismatch near \" old2\"\n",
        1,
        &[K::UnusedSizeMismatch],
    );
}

#[test]
fn size_mismatch() {
    check(
        "size-mismatch",
        "Section \"mydev\" Description \"mydev\" Field \"ctrl\" size mismatch: 4 , 8\n",
        1,
        &[K::SizeMismatch],
    );
}

#[test]
fn nested_descriptions() {
    check(
        "description-missing",
        "Section \"mydev\", Description \"mydev\", Field \"regs\": missing description\n",
        1,
        &[K::DescriptionMissing],
    );
    check(
        "description-renamed",
        "Section \"mydev\": Description \"regs\" missing, got \"regs2\" instead; skipping\n",
        1,
        &[K::DescriptionRenamed],
    );
    check(
        "subsection-missing",
        "Section \"mydev\", Description \"mydev\": Subsection \"mydev/s2\" not found\n",
        1,
        &[K::SubsectionMissing],
    );
}

#[test]
fn malformed_dump_is_reported_not_fatal() {
    // Extension: QEMU's script dies with a KeyError here.
    check(
        "malformed",
        "Section \"mydev\": malformed dump: dest has no \"version_id\"\n\
         Section \"mydev\": Entry \"version_id\" missing\n\
         Section \"mydev\" Description \"mydev\": Entry \"minimum_version_id\" missing\n\
         Section \"mydev\", Description \"mydev\": malformed dump: dest field \"a\" has no \"size\"\n",
        4,
        &[
            K::MalformedDump,
            K::EntryMissing,
            K::EntryMissing,
            K::MalformedDump,
        ],
    );
}

#[test]
fn wire_type_only_when_strict() {
    check("wire-type", "", 0, &[]);
    let (out, st, kinds) = case(
        "wire-type",
        Options {
            strict: true,
            ..Options::default()
        },
    );
    assert_eq!(
        out,
        "Section \"mydev\" Description \"mydev\" Field \"a\" wire type mismatch: uint32 , uint32 equal\n"
    );
    assert_eq!(st, 1);
    assert_eq!(kinds, [K::WireTypeMismatch]);
}

#[test]
fn every_kind_is_explained() {
    for k in FindingKind::ALL {
        assert!(k.explanation().len() > 80, "{k:?}");
        assert!(!k.id().is_empty());
    }
}

fn vmstate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vmstate"))
}

#[test]
fn binary_exit_status_and_formats() {
    let src = common::data("kinds/version-error.src.json");
    let dest = common::data("kinds/version-error.dest.json");
    let out = vmstate()
        .arg("compat")
        .arg(&src)
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Section \"mydev\" version error: 3 > 2\nSection \"mydev\" Description \"mydev\": version error: 3 > 2\n"
    );

    let out = vmstate()
        .args(["compat", "--format", "json"])
        .arg(&src)
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["problems"], 2);
    assert_eq!(v["exit_status"], 2);
    let f = &v["findings"][1];
    assert_eq!(f["kind"], "version-error");
    assert_eq!(f["section"], "mydev");
    assert_eq!(f["description"], "mydev");
    assert_eq!(f["field"], serde_json::Value::Null);
    assert_eq!(
        f["message"],
        "Section \"mydev\" Description \"mydev\": version error: 3 > 2"
    );
    assert!(f["explanation"].as_str().unwrap().contains("version"));

    // --reverse swaps the roles: nothing is too new any more.
    let out = vmstate()
        .args(["compat", "--reverse"])
        .arg(&src)
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));

    let out = vmstate()
        .args(["compat", "--explain"])
        .arg(&src)
        .arg(&dest)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[version-error, problem]\n    "), "{text}");
    assert!(text.ends_with("2 problem(s); exit status 2\n"), "{text}");
}

#[test]
fn binary_bad_input_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("vmstate-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        "{\"x\": {\"Description\": {\"Fields\": [{\"size\": true}]}}}",
    )
    .unwrap();
    let good = common::data("kinds/identical.src.json");
    let out = vmstate()
        .arg("compat")
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "section \"x\" > Description > Fields[0] > size: expected an integer, got a boolean"
        ),
        "{err}"
    );
    let out = vmstate()
        .arg("compat")
        .arg(&good)
        .arg(dir.join("missing.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let _ = std::fs::remove_dir_all(&dir);
}
