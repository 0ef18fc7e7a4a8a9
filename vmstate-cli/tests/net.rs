//! `vmstate send` against hostile peers on loopback (no QEMU needed).

use std::net::TcpListener;

use vmstate_cli::net_cmd::{self, SendArgs};

/// A peer that accepts the connection but never reads: `send` gives up
/// after its timeout without progress, saying how far it got.
#[test]
fn send_gives_up_on_a_peer_that_never_reads() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // More than the socket buffers hold.
    let file = std::env::temp_dir().join(format!("vmstate-net-test-{}.mig", std::process::id()));
    std::fs::write(&file, vec![0x5a; 64 << 20]).unwrap();
    let args = SendArgs {
        file: file.clone(),
        addr: addr.to_string(),
        timeout: 0.5,
    };
    // Accept the connection and hand it back open: nobody ever reads it.
    let held = std::thread::spawn(move || listener.accept().unwrap().0);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = net_cmd::run_send(&args, &mut out, &mut err);
    let err = String::from_utf8_lossy(&err);
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("stopped reading"), "{err}");
    assert!(!err.contains("after 0 of"), "bytes were sent: {err}");
    drop(held.join().unwrap());
    let _ = std::fs::remove_file(&file);
}

/// A stream `listen` refuses leaves no output file (and no spool) behind;
/// one it accepts is there, byte for byte.
#[test]
fn listen_writes_its_output_only_for_a_stream_that_checks() {
    use vmstate_cli::net_cmd::ListenArgs;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let good = root.join("tests/fixtures/x86-pc-min.mig");
    let dir = std::env::temp_dir().join(format!("vmstate-listen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bad = std::fs::read(&good).unwrap();
    bad[0] = b'X';
    let bad_path = dir.join("bad.mig");
    std::fs::write(&bad_path, &bad).unwrap();
    for (input, accepted) in [(bad_path.clone(), false), (good.clone(), true)] {
        // A free loopback port: `send` retries until `listen` is there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let output = dir.join("out.mig");
        let listen = ListenArgs {
            addr: format!("127.0.0.1:{port}"),
            output: output.clone(),
            timeout: 20.0,
            machine: None,
        };
        let receiver = std::thread::spawn(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let status = net_cmd::run_listen(&listen, &mut out, &mut err);
            (status, String::from_utf8_lossy(&err).into_owned())
        });
        let send = SendArgs {
            file: input,
            addr: format!("127.0.0.1:{port}"),
            timeout: 20.0,
        };
        let _ = net_cmd::run_send(&send, &mut Vec::new(), &mut Vec::new());
        let (status, err) = receiver.join().unwrap();
        assert_eq!(status == 0, accepted, "{err}");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "bad.mig")
            .collect();
        if accepted {
            assert_eq!(leftovers, ["out.mig"]);
            assert!(std::fs::read(&output).unwrap() == std::fs::read(&good).unwrap());
            std::fs::remove_file(&output).unwrap();
        } else {
            assert!(leftovers.is_empty(), "left behind: {leftovers:?} ({err})");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
