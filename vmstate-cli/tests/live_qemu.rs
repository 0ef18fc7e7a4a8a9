//! Interoperability with a real QEMU (>= 10.0): fresh streams re-encode
//! byte-identically and load back; `vmstate listen` receives a live
//! migration (`migrate tcp:`) identical to the committed fixture; `vmstate
//! send` feeds a QEMU started with `-incoming tcp:`.
//!
//! Skipped (with a visible `SKIPPED:` line) without qemu-system-x86_64 >=
//! 10.0 or `../../shared/qemu`. Every QEMU started here is killed by PID
//! when its guard drops, also when an assertion fails.

mod common;
use common::{TempDir, shared_qemu};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const VMSTATE: &str = env!("CARGO_BIN_EXE_vmstate");

/// The common QEMU options of every scenario (shared/qemu/common.sh).
const COMMON: &[&str] = &[
    "-nodefaults",
    "-display",
    "none",
    "-monitor",
    "none",
    "-rtc",
    "base=2024-01-01T00:00:00,clock=vm",
];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/x86-pc-min.mig")
}

/// A child process killed (by PID) and reaped when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the x86-pc-min QEMU (paused) with QMP on `sock`, plus `extra`.
fn start_pc_min(sock: &Path, log: &Path, extra: &[&str]) -> Guard {
    let child = Command::new("qemu-system-x86_64")
        .args(["-M", "pc", "-accel", "tcg", "-m", "32"])
        .args(COMMON)
        .arg("-S")
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", sock.display()))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start qemu-system-x86_64");
    Guard(child)
}

fn qmp(shared: &Path, pid: u32, sock: &Path, args: &[&str]) -> Output {
    Command::new("python3")
        .arg(shared.join("qmp.py"))
        .args(["--pid", &pid.to_string()])
        .arg(sock)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn vmstate(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(VMSTATE).args(args).output().unwrap()
}

#[test]
fn fresh_streams_reencode_identically_and_load_back() {
    let Some(shared) = shared_qemu() else {
        return;
    };
    let dir = TempDir::new("live-streams");
    let t0 = Instant::now();
    let scenarios = [
        "x86-pc-min",
        "x86-q35-min",
        "arm-virt-a57",
        "x86-pc-devices",
        "x86-pc-9.2",
        "x86-pc-mapped-ram",
    ];
    let o = Command::new(shared.join("make-streams.sh"))
        .arg(&dir.0)
        .args(scenarios)
        .output()
        .unwrap();
    assert!(o.status.success(), "make-streams.sh: {}", text(&o));
    println!(
        "make-streams.sh: {:.1} s\n{}",
        t0.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&o.stdout)
    );
    let mut loads = Vec::new();
    for s in scenarios {
        let mig = dir.0.join(format!("{s}.mig"));
        let re = dir.0.join(format!("{s}.re.mig"));
        let o = vmstate(&["check".as_ref(), mig.as_os_str()]);
        assert!(o.status.success(), "check {s}: {}", text(&o));
        let o = vmstate(&[
            "reencode".as_ref(),
            mig.as_os_str(),
            "-o".as_ref(),
            re.as_os_str(),
        ]);
        assert!(o.status.success(), "reencode {s}: {}", text(&o));
        let (a, b) = (std::fs::read(&mig).unwrap(), std::fs::read(&re).unwrap());
        assert!(
            a == b,
            "{s}: re-encoded stream differs ({} vs {} bytes)",
            a.len(),
            b.len()
        );
        let o = vmstate(&["check".as_ref(), re.as_os_str()]);
        assert!(o.status.success(), "check {s} re-encoded: {}", text(&o));
        // Load the re-encoded stream (mapped-ram: the file is sparse; the
        // copy is written densely but loads the same).
        let child = Command::new(shared.join("load-stream.sh"))
            .args(["--timeout", "60", s])
            .arg(&re)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        loads.push((s, Guard(child)));
        if loads.len() == 2 {
            finish_loads(&mut loads);
        }
    }
    finish_loads(&mut loads);
    println!("total {:.1} s", t0.elapsed().as_secs_f64());
}

fn finish_loads(loads: &mut Vec<(&str, Guard)>) {
    for (s, mut g) in loads.drain(..) {
        let status = g.0.wait().unwrap();
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read;
        if let Some(mut o) = g.0.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = g.0.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert!(status.success(), "load-stream.sh {s}: {out}{err}");
        assert!(out.contains("\"completed\""), "{s}: {out}");
        println!("load {s}: {}", out.trim());
    }
}

#[test]
fn listen_receives_a_live_migration() {
    let Some(shared) = shared_qemu() else {
        return;
    };
    let dir = TempDir::new("live-listen");
    let (sock, log, out) = (
        dir.0.join("src.sock"),
        dir.0.join("src.log"),
        dir.0.join("received.mig"),
    );
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let listener = Guard(
        Command::new(VMSTATE)
            .args(["listen", &addr, "--timeout", "60", "-o"])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let qemu = start_pc_min(&sock, &log, &[]);
    let pid = qemu.0.id();
    // The listener may need a moment to bind: retry the migration briefly.
    let mut tries = 0;
    let o = loop {
        let o = qmp(
            &shared,
            pid,
            &sock,
            &["migrate", &format!("tcp:{addr}"), "--timeout", "60"],
        );
        tries += 1;
        if o.status.success() || tries == 20 {
            break o;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(o.status.success(), "migrate: {}", text(&o));
    // Wait for the listener's exit (the guard still kills it on a panic).
    let mut listener = listener;
    let t0 = Instant::now();
    while listener.0.try_wait().unwrap().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "listen did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let lout = {
        use std::io::Read;
        let (mut so, mut se) = (Vec::new(), Vec::new());
        listener
            .0
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut so)
            .unwrap();
        listener
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_end(&mut se)
            .unwrap();
        Output {
            status: listener.0.wait().unwrap(),
            stdout: so,
            stderr: se,
        }
    };
    println!("{}", text(&lout));
    assert!(lout.status.success(), "listen: {}", text(&lout));
    let so = String::from_utf8_lossy(&lout.stdout);
    assert!(so.contains("received 395846 bytes"), "{so}");
    assert!(so.contains(": OK: 395846 bytes"), "{so}");
    let o = vmstate(&["check".as_ref(), out.as_os_str()]);
    assert!(o.status.success(), "check: {}", text(&o));
    // Paused TCG streams are deterministic: the same bytes as the fixture.
    let (a, b) = (
        std::fs::read(&out).unwrap(),
        std::fs::read(fixture()).unwrap(),
    );
    assert!(a == b, "received stream differs from the fixture");
    let _ = qmp(&shared, pid, &sock, &["quit"]);
    drop(qemu);
}

#[test]
fn send_feeds_an_incoming_qemu() {
    let Some(shared) = shared_qemu() else {
        return;
    };
    let dir = TempDir::new("live-send");
    let (sock, log) = (dir.0.join("dst.sock"), dir.0.join("dst.log"));
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let qemu = start_pc_min(&sock, &log, &["-incoming", &format!("tcp:{addr}")]);
    let pid = qemu.0.id();
    let o = Command::new(VMSTATE)
        .args(["send"])
        .arg(fixture())
        .args([&addr, "--timeout", "30"])
        .output()
        .unwrap();
    println!("{}", text(&o));
    assert!(o.status.success(), "send: {}", text(&o));
    let o = qmp(&shared, pid, &sock, &["wait", "--timeout", "30"]);
    let t = text(&o);
    assert!(
        o.status.success(),
        "wait: {t}\nqemu log: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(t.contains("\"status\": \"completed\""), "{t}");
    assert!(t.contains("\"status\": \"prelaunch\""), "{t}");
    let o = qmp(&shared, pid, &sock, &["status"]);
    println!("{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("prelaunch"));
    let _ = qmp(&shared, pid, &sock, &["quit"]);
    drop(qemu);
}

#[test]
fn send_reports_a_refused_stream() {
    let Some(shared) = shared_qemu() else {
        return;
    };
    let dir = TempDir::new("live-send-bad");
    let (sock, log, bad) = (
        dir.0.join("dst.sock"),
        dir.0.join("dst.log"),
        dir.0.join("bad.mig"),
    );
    let mut d = std::fs::read(fixture()).unwrap();
    d[..4].copy_from_slice(b"QEVX");
    std::fs::write(&bad, &d).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut qemu = start_pc_min(&sock, &log, &["-incoming", &format!("tcp:{addr}")]);
    let o = Command::new(VMSTATE)
        .arg("send")
        .arg(&bad)
        .args([&addr, "--timeout", "30"])
        .output()
        .unwrap();
    println!("{}", text(&o));
    assert!(
        !o.status.success(),
        "send of a refused stream: {}",
        text(&o)
    );
    // QEMU exits with status 1 after a failed incoming migration.
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = qemu.0.try_wait().unwrap() {
            break Some(s);
        }
        if t0.elapsed() > Duration::from_secs(10) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let qlog = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{qlog}");
    assert!(qlog.contains("Not a migration stream"), "{qlog}");
    let _ = shared;
}
