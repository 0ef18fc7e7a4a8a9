//! `vmstate convert --to ber / --to qemu` on real streams, and `vmstate
//! check` and `vmstate dump` reading the BER documents it writes.

mod common;

use std::path::{Path, PathBuf};

use vmstate_cli::check_cmd::{self, CheckArgs};
use vmstate_cli::convert_cmd::{self, ConvertArgs, Format};
use vmstate_cli::dump_cmd::{self, DumpArgs, DumpFormat};
use vmstate_cli::limits::LimitArgs;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

fn convert(file: &Path, to: Format, output: &Path, vmdesc: Option<&Path>) -> (u8, String) {
    let args = ConvertArgs {
        file: file.to_path_buf(),
        to,
        output: output.to_path_buf(),
        vmdesc: vmdesc.map(Path::to_path_buf),
        limits: LimitArgs::default(),
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = convert_cmd::run(&args, &mut out, &mut err);
    (status, String::from_utf8_lossy(&err).into_owned())
}

fn dump(file: &Path) -> (u8, String) {
    let args = DumpArgs {
        file: Some(file.to_path_buf()),
        format: DumpFormat::Text,
        memory: false,
        vmdesc: None,
        limits: LimitArgs::default(),
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = dump_cmd::run(&args, &mut out, &mut err);
    (status, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn convert_to_ber_and_back_is_byte_identical_and_check_and_dump_read_ber() {
    let dir = common::TempDir::new("convert");
    for name in [
        "x86-pc-min.mig",
        "ppc64-pseries.mig",
        "s390x-ccw.mig",
        "x86-pc-dirty-bitmap.mig",
    ] {
        let mig = fixture(name);
        let ber = dir.0.join(format!("{name}.ber"));
        let back = dir.0.join(format!("{name}.back"));
        assert_eq!(
            convert(&mig, Format::Ber, &ber, None),
            (0, String::new()),
            "{name}"
        );
        assert!(
            vmstate_core::ber::is_ber(&std::fs::read(&ber).unwrap()),
            "{name}"
        );
        assert_eq!(
            convert(&ber, Format::Qemu, &back, None),
            (0, String::new()),
            "{name}"
        );
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(&mig).unwrap(),
            "{name}"
        );

        // check and dump read the BER document as the stream it holds.
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = check_cmd::run(&CheckArgs::file(&ber), &mut out, &mut err);
        let text = String::from_utf8_lossy(&out);
        assert_eq!(
            status,
            0,
            "{name}: {text} {}",
            String::from_utf8_lossy(&err)
        );
        assert!(text.contains("BER") && text.contains("OK"), "{text}");
        let (status, from_ber) = dump(&ber);
        assert_eq!(status, 0, "{name}");
        let (_, from_mig) = dump(&mig);
        // The same lines, but for the name of the input.
        let body = |t: &str| t.lines().skip(1).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(body(&from_ber), body(&from_mig), "{name}");
    }
}

#[test]
fn convert_refuses_what_it_cannot_do_and_leaves_no_output() {
    let dir = common::TempDir::new("convert-refuse");
    let out = dir.0.join("out");
    let mig = fixture("x86-pc-min.mig");
    // A QEMU stream converted to QEMU is re-encoded, byte for byte; BER is
    // not converted to BER.
    let (status, err) = convert(&mig, Format::Qemu, &out, None);
    assert_eq!(status, 0, "{err}");
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&mig).unwrap());
    std::fs::remove_file(&out).unwrap();
    let ber = dir.0.join("min.ber");
    assert_eq!(convert(&mig, Format::Ber, &ber, None).0, 0);
    let (status, err) = convert(&ber, Format::Ber, &out, None);
    assert_eq!(status, 1);
    assert!(err.contains("BER document already"), "{err}");
    // A stream without a vmdesc needs one given.
    let postcopy = fixture("x86-pc-postcopy.mig");
    let (status, err) = convert(&postcopy, Format::Ber, &out, None);
    assert_eq!(status, 1);
    assert!(err.contains("--vmdesc"), "{err}");
    assert!(!out.exists());
    let donor = fixture("x86-pc-return-path.mig");
    assert_eq!(convert(&postcopy, Format::Ber, &out, Some(&donor)).0, 0);
    let back = dir.0.join("back");
    assert_eq!(convert(&out, Format::Qemu, &back, None).0, 0);
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&postcopy).unwrap());
    // A truncated BER document fails with the offset, writing nothing.
    let bytes = std::fs::read(&ber).unwrap();
    let cut = dir.0.join("cut.ber");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let none = dir.0.join("none");
    let (status, err) = convert(&cut, Format::Qemu, &none, None);
    assert_eq!(status, 1);
    assert!(err.contains("byte offset"), "{err}");
    assert!(!none.exists());
}
