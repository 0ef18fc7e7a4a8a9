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
