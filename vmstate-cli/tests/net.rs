//! `vmstate listen` and `vmstate send` (the real binary) against hostile
//! peers on loopback, written here (no QEMU needed): peers that stall, drip
//! one byte at a time, drop the connection mid-section, send garbage after a
//! valid prefix or claim huge sizes; listeners that accept and never read or
//! never close. Every test checks the exit status, the message, and that no
//! output or spool file is left behind (unless `--keep-partial`).
//!
//! Ports are never guessed: `listen` binds `127.0.0.1:0` and the test reads
//! the port from its "listening on" line; `send` targets a listener the test
//! bound to `127.0.0.1:0`. Nothing sleeps to synchronise: peers hold their
//! connection until `listen` closes it, or until the test tells them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const VMSTATE: &str = env!("CARGO_BIN_EXE_vmstate");

/// The longest any command here may run before the test calls it hung.
const HUNG: Duration = Duration::from_secs(120);

/// `tests/fixtures/x86-pc-min.mig`: RAM section START at byte 27 (its
/// header ends at 44, the block list at 197), PART from 197, device
/// sections from 284065, vmdesc at the end.
fn fixture() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/x86-pc-min.mig");
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[0x21..0x24], b"ram", "the fixture changed");
    data
}

/// Where the RAM section's START header ends (the MEM_SIZE record is next).
const RAM_BODY: usize = 44;
/// Where the first device section starts.
const DEVICES: usize = 284_065;

/// A scratch directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("vmstate-net-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn out(&self) -> PathBuf {
        self.0.join("out.mig")
    }

    /// The names in the directory, sorted.
    fn files(&self) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(&self.0)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a finished `vmstate` run printed.
struct Done {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Done {
    fn text(&self) -> String {
        format!(
            "status {} after {:.2} s\nstdout: {}\nstderr: {}",
            self.status,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

/// A running `vmstate` whose output is collected by threads.
struct Running {
    child: Option<Child>,
    pid: u32,
    started: Instant,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
    /// Stderr lines read before the collector took over.
    head: String,
}

fn collect(r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(r).read_to_string(&mut s);
        s
    })
}

impl Running {
    /// Waits for the exit (killing the process, by its id, if it hangs).
    fn finish(mut self) -> Done {
        let mut child = self.child.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = match rx.recv_timeout(HUNG) {
            Ok(s) => s.unwrap(),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-9", &self.pid.to_string()])
                    .status();
                panic!("vmstate did not finish within {HUNG:?}: {}", self.head);
            }
        };
        waiter.join().unwrap();
        let elapsed = self.started.elapsed();
        let stdout = self.stdout.join().unwrap();
        let stderr = format!("{}{}", self.head, self.stderr.join().unwrap());
        Done {
            status,
            stdout,
            stderr,
            elapsed,
        }
    }
}

/// Starts `vmstate ARGS` with its output collected.
fn start(args: &[&str]) -> (Running, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(VMSTATE)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let pid = child.id();
    let running = Running {
        child: Some(child),
        pid,
        started: Instant::now(),
        stdout,
        stderr: std::thread::spawn(String::new),
        head: String::new(),
    };
    (running, stderr)
}

/// Runs `vmstate ARGS` to the end.
fn run(args: &[&str]) -> Done {
    let (mut r, stderr) = start(args);
    r.stderr = collect(stderr.into_inner());
    r.finish()
}

/// Starts `vmstate listen 127.0.0.1:0 -o OUT ARGS` and returns it with the
/// address it listens on, read from its "listening on" line.
fn listen(out: &Path, args: &[&str]) -> (Running, SocketAddr) {
    let mut all = vec!["listen", "127.0.0.1:0", "-o", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let (mut r, mut stderr) = start(&all);
    let addr = loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        r.head.push_str(&line);
        assert!(n > 0, "listen exited before listening: {}", r.head);
        if let Some(a) = line.trim().strip_prefix("vmstate listen: listening on ") {
            break a.parse().unwrap();
        }
    };
    r.stderr = collect(stderr.into_inner());
    (r, addr)
}

/// Reads what the other side sends until it closes the connection.
fn hold(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

/// A peer thread: connects to `addr` and runs `f`.
fn peer(addr: SocketAddr, f: impl FnOnce(TcpStream) + Send + 'static) -> JoinHandle<()> {
    let s = TcpStream::connect(addr).unwrap();
    std::thread::spawn(move || f(s))
}

/// Sends `data` at once, then keeps the connection open, silent, until
/// `listen` closes it.
fn sends_then_stalls(data: Vec<u8>) -> impl FnOnce(TcpStream) + Send + 'static {
    move |mut s| {
        if s.write_all(&data).is_ok() {
            hold(s);
        }
    }
}

/// Sends `data` and closes the connection.
fn sends_then_closes(data: Vec<u8>) -> impl FnOnce(TcpStream) + Send + 'static {
    move |mut s| {
        let _ = s.write_all(&data);
    }
}

/// Sends chunks made by `next` until `listen` stops taking them.
fn floods(
    mut next: impl FnMut(u64) -> Vec<u8> + Send + 'static,
) -> impl FnOnce(TcpStream) + Send + 'static {
    move |mut s| {
        let mut i = 0;
        while s.write_all(&next(i)).is_ok() {
            i += 1;
        }
    }
}

/// The integer just before `marker` in `text` ("after 1234 of" → 1234).
fn number_before(text: &str, marker: &str) -> u64 {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {text}"));
    let digits: String = text[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number before {marker:?} in {text}"))
}

/// Asserts a refused `listen`: exit 1, every message in `expect`, no file
/// left in the directory (no output, no spool).
fn assert_refused(done: &Done, dir: &Dir, expect: &[&str]) {
    let t = done.text();
    println!("{t}");
    assert_eq!(done.status.code(), Some(1), "{t}");
    for e in expect {
        assert!(done.stderr.contains(e), "expected {e:?} in\n{t}");
    }
    assert!(
        done.stderr.contains("out.mig not written")
            && done.stderr.contains("nothing is left behind"),
        "{t}"
    );
    assert!(!done.stderr.contains("os error 11"), "{t}");
    assert!(!done.stderr.contains("WouldBlock"), "{t}");
    assert_eq!(dir.files(), Vec::<String>::new(), "left behind: {t}");
}

#[test]
fn listen_gives_up_on_a_peer_that_connects_and_stalls() {
    let dir = Dir::new("stall");
    // Silent from the start.
    let (l, addr) = listen(&dir.out(), &["--timeout", "0.5", "--deadline", "60"]);
    let p = peer(addr, sends_then_stalls(Vec::new()));
    let done = l.finish();
    p.join().unwrap();
    assert_refused(
        &done,
        &dir,
        &["sent nothing for 0.5 s while in the stream header and configuration (byte offset 0)"],
    );
    // Silent in the middle of the RAM section.
    let (l, addr) = listen(&dir.out(), &["--timeout", "1", "--deadline", "60"]);
    let p = peer(addr, sends_then_stalls(fixture()[..100_000].to_vec()));
    let done = l.finish();
    p.join().unwrap();
    assert_refused(
        &done,
        &dir,
        &[
            "sent nothing for 1 s while in section 'ram' (byte offset 100000; the section starts \
             at 197)",
            "incomplete after 100000 bytes",
            "--timeout",
        ],
    );
    // Silent in the device sections (spooled, no vmdesc yet).
    let (l, addr) = listen(&dir.out(), &["--timeout", "1", "--deadline", "60"]);
    let p = peer(
        addr,
        sends_then_stalls(fixture()[..DEVICES + 1000].to_vec()),
    );
    let done = l.finish();
    p.join().unwrap();
    assert_refused(
        &done,
        &dir,
        &[&format!(
            "sent nothing for 1 s while in the device sections (byte offset {}; they start at \
             {DEVICES}",
            DEVICES + 1000
        )],
    );
}

#[test]
fn listen_overall_deadline_ends_a_peer_that_drips_one_byte_at_a_time() {
    let dir = Dir::new("drip");
    // No idle limit, and a byte comes every 20 ms anyway: only the
    // deadline can end it.
    let (l, addr) = listen(&dir.out(), &["--timeout", "0", "--deadline", "1"]);
    let (stop, stopped) = mpsc::channel::<()>();
    let data = fixture();
    let p = peer(addr, move |mut s| {
        s.set_nodelay(true).unwrap();
        for b in &data {
            // The pace of the drip (and the test's word to stop).
            match stopped.recv_timeout(Duration::from_millis(20)) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            if s.write_all(std::slice::from_ref(b)).is_err() {
                return;
            }
        }
    });
    let done = l.finish();
    let _ = stop.send(());
    p.join().unwrap();
    assert_refused(
        &done,
        &dir,
        &[
            "took longer than --deadline 1 s: ",
            " bytes received, stopped ",
            "raise --deadline",
        ],
    );
    assert!(
        number_before(&done.stderr, " bytes received") < 1000,
        "{}",
        done.text()
    );
    assert!(done.elapsed >= Duration::from_secs(1), "{}", done.text());
    assert!(done.elapsed < Duration::from_secs(30), "{}", done.text());
}

#[test]
fn listen_refuses_a_connection_dropped_mid_section() {
    let dir = Dir::new("drop");
    let cut = fixture()[..100_000].to_vec();
    let (l, addr) = listen(&dir.out(), &[]);
    let p = peer(addr, sends_then_closes(cut.clone()));
    let done = l.finish();
    p.join().unwrap();
    assert_refused(
        &done,
        &dir,
        &[
            "closed the connection after 100000 bytes in section 'ram' (which starts at byte \
             offset 197): the stream is incomplete",
            "unexpected end of stream",
        ],
    );
    // Forensic receive: what arrived is kept, under a name that says so.
    let (l, addr) = listen(&dir.out(), &["--keep-partial"]);
    let p = peer(addr, sends_then_closes(cut.clone()));
    let done = l.finish();
    p.join().unwrap();
    let t = done.text();
    assert_eq!(done.status.code(), Some(1), "{t}");
    assert!(
        done.stderr.contains(&format!(
            "out.mig not written; the 100000 bytes received are kept in {}.partial \
             (--keep-partial)",
            dir.out().display()
        )),
        "{t}"
    );
    assert_eq!(dir.files(), ["out.mig.partial"], "{t}");
    assert!(std::fs::read(dir.0.join("out.mig.partial")).unwrap() == cut);
    // An earlier partial is not clobbered.
    let done = run(&[
        "listen",
        "127.0.0.1:0",
        "--keep-partial",
        "-o",
        dir.out().to_str().unwrap(),
    ]);
    assert_eq!(done.status.code(), Some(1), "{}", done.text());
    assert!(
        done.stderr.contains("out.mig.partial exists"),
        "{}",
        done.text()
    );
    assert!(!done.stderr.contains("listening on"), "{}", done.text());
    assert_eq!(dir.files(), ["out.mig.partial"]);
    std::fs::remove_file(dir.0.join("out.mig.partial")).unwrap();

    // Cut in the device sections: spooled, then refused by the check.
    let (l, addr) = listen(&dir.out(), &[]);
    let p = peer(
        addr,
        sends_then_closes(fixture()[..DEVICES + 5000].to_vec()),
    );
    let done = l.finish();
    p.join().unwrap();
    assert_refused(
        &done,
        &dir,
        &["out.mig not written: the stream was refused; nothing is left behind"],
    );
}

#[test]
fn listen_refuses_garbage_after_a_valid_prefix_at_once() {
    let dir = Dir::new("garbage");
    // The RAM PART header (197..202) is valid; its first record is not.
    let mut data = fixture()[..202].to_vec();
    data.extend_from_slice(&[0xff; 64]);
    // The peer stays connected: the refusal must not wait for it.
    let (l, addr) = listen(&dir.out(), &["--timeout", "60"]);
    let p = peer(addr, sends_then_stalls(data.clone()));
    let done = l.finish();
    p.join().unwrap();
    assert_refused(
        &done,
        &dir,
        &[
            "refused in section 'ram' (which starts at byte offset 197): ",
            "at byte offset 202 (0xca)",
            "connection closed after ",
        ],
    );
    assert!(done.elapsed < Duration::from_secs(30), "{}", done.text());
    // Kept for forensics on request, byte for byte.
    let (l, addr) = listen(&dir.out(), &["--timeout", "60", "--keep-partial"]);
    let p = peer(addr, sends_then_stalls(data.clone()));
    let done = l.finish();
    p.join().unwrap();
    assert_eq!(done.status.code(), Some(1), "{}", done.text());
    assert!(done.stderr.contains("kept in"), "{}", done.text());
    assert!(std::fs::read(dir.0.join("out.mig.partial")).unwrap() == data);
}

/// RAM section START header, then a MEM_SIZE record claiming `total`.
fn ram_start(total: u64) -> Vec<u8> {
    let mut v = fixture()[..RAM_BODY].to_vec();
    v.extend_from_slice(&(total | 0x04).to_be_bytes());
    v
}

#[test]
fn listen_bounds_what_a_peer_claims() {
    let dir = Dir::new("claims");
    // A vmdesc of 4 GiB: refused from its length, nothing allocated.
    let mut data = fixture()[..27].to_vec();
    data.extend_from_slice(&[0x00, 0x06, 0xff, 0xff, 0xff, 0xff]);
    data.extend_from_slice(&[b'{'; 1000]);
    let (l, addr) = listen(&dir.out(), &[]);
    let p = peer(addr, sends_then_stalls(data));
    let done = l.finish();
    p.join().unwrap();
    assert_refused(
        &done,
        &dir,
        &[
            "refused: at byte offset 29 (0x1d): the vmdesc (the JSON description after the end \
             of the stream) would need 3.9 GiB (4294967295 bytes), more than the 64 MiB \
             (67108864 bytes) allowed (limit max_vmdesc_len; for input you trust, raise it with \
             --max-vmdesc)",
        ],
    );

    // A RAM block of 1 PiB, then pages for ever: the size cap ends it.
    let (l, addr) = listen(&dir.out(), &["--max-bytes", "1M", "--keep-partial"]);
    let p = peer(
        addr,
        floods(|i| {
            let mut v = Vec::new();
            if i == 0 {
                v = ram_start(1 << 50);
                v.push(6);
                v.extend_from_slice(b"pc.ram");
                v.extend_from_slice(&(1u64 << 50).to_be_bytes());
            }
            // A PAGE record naming the block, then CONTINUE ones.
            let flags: u64 = if i == 0 { 0x08 } else { 0x28 };
            v.extend_from_slice(&((i << 12) | flags).to_be_bytes());
            if i == 0 {
                v.push(6);
                v.extend_from_slice(b"pc.ram");
            }
            v.extend_from_slice(&[0x5a; 4096]);
            v
        }),
    );
    let done = l.finish();
    p.join().unwrap();
    let t = done.text();
    assert_eq!(done.status.code(), Some(1), "{t}");
    assert!(
        done.stderr.contains(
            "sent more than --max-bytes 1M (1048576 bytes) while in section 'ram' (byte offset \
             1048576; the section starts at 27): refusing the rest; raise --max-bytes"
        ),
        "{t}"
    );
    assert!(
        done.stderr
            .contains("the 1048576 bytes received are kept in"),
        "{t}"
    );
    assert_eq!(dir.files(), ["out.mig.partial"], "{t}");
    assert_eq!(
        std::fs::metadata(dir.0.join("out.mig.partial"))
            .unwrap()
            .len(),
        1 << 20
    );
    std::fs::remove_file(dir.0.join("out.mig.partial")).unwrap();

    // Zero-length RAM blocks with new names for ever: the list never ends
    // and each name would be kept; refused after the cap (lowered here).
    let (l, addr) = listen(&dir.out(), &["--max-ram-blocks", "5000"]);
    let p = peer(
        addr,
        floods(|i| {
            let mut v = if i == 0 {
                ram_start(1 << 40)
            } else {
                Vec::new()
            };
            for j in 0..1000 {
                let name = format!("b{}", i * 1000 + j);
                v.push(name.len() as u8);
                v.extend_from_slice(name.as_bytes());
                v.extend_from_slice(&0u64.to_be_bytes());
            }
            v
        }),
    );
    let done = l.finish();
    p.join().unwrap();
    assert_refused(
        &done,
        &dir,
        &[
            "refused in section 'ram' (which starts at byte offset 27): ",
            "the RAM block list would need 5001 RAM block entries, more than the 5000 RAM block \
             entries allowed (limit max_ram_blocks; for input you trust, raise it with \
             --max-ram-blocks)",
        ],
    );
}

#[test]
fn listen_writes_its_output_only_for_a_stream_that_checks() {
    let dir = Dir::new("send-listen");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/x86-pc-min.mig");
    let mut bad = fixture();
    bad[0] = b'X';
    let inputs = std::env::temp_dir().join(format!("vmstate-net-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&inputs).unwrap();
    let bad_path = inputs.join("bad.mig");
    std::fs::write(&bad_path, &bad).unwrap();
    for (input, accepted, extra) in [
        (&bad_path, false, &[][..]),
        (&good, true, &[][..]),
        (
            &good,
            true,
            &["--keep-partial", "--timeout", "1e20", "--deadline", "inf"][..],
        ),
    ] {
        let (l, addr) = listen(&dir.out(), extra);
        let send = run(&["send", input.to_str().unwrap(), &addr.to_string()]);
        let done = l.finish();
        let t = format!("listen: {}\nsend: {}", done.text(), send.text());
        if accepted {
            assert!(done.status.success(), "{t}");
            assert!(send.status.success(), "{t}");
            assert!(done.stdout.contains("received 395846 bytes"), "{t}");
            assert!(done.stdout.contains(": OK: 395846 bytes"), "{t}");
            assert!(send.stdout.contains("395846 bytes sent"), "{t}");
            assert_eq!(dir.files(), ["out.mig"], "{t}");
            assert!(std::fs::read(dir.out()).unwrap() == fixture());
            std::fs::remove_file(dir.out()).unwrap();
        } else {
            assert_refused(
                &done,
                &dir,
                &["refused in the stream header and configuration: at byte offset 0"],
            );
            assert!(
                !send.status.success() || send.stdout.contains("bytes sent"),
                "{t}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&inputs);
}

/// A source that waits for a return path after the vmdesc (stays silent,
/// connection open): the complete stream is recognised and checked.
#[test]
fn listen_ends_a_complete_stream_from_a_peer_that_stays_connected() {
    let dir = Dir::new("silent-source");
    let (l, addr) = listen(&dir.out(), &["--timeout", "60", "--deadline", "60"]);
    let p = peer(addr, sends_then_stalls(fixture()));
    let done = l.finish();
    p.join().unwrap();
    let t = done.text();
    assert!(done.status.success(), "{t}");
    assert!(
        done.stdout
            .contains("complete vmdesc received, connection closed by us"),
        "{t}"
    );
    assert!(done.stdout.contains(": OK: 395846 bytes"), "{t}");
    assert_eq!(dir.files(), ["out.mig"], "{t}");
    assert!(std::fs::read(dir.out()).unwrap() == fixture());
}

#[test]
fn listen_refuses_outputs_it_must_not_replace_before_listening() {
    let dir = Dir::new("outputs");
    let sub = dir.0.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let out = dir.out();
    std::fs::write(&out, b"an earlier stream").unwrap();
    std::fs::hard_link(&out, dir.0.join("out.mig.partial")).unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["-o", "-"], "not to standard output"),
        (&["-o", sub.to_str().unwrap()], "is a directory"),
        (&["-o", "/dev/null"], "is not a regular file"),
        (
            &["-o", out.to_str().unwrap(), "--keep-partial"],
            "out.mig.partial is the same file as",
        ),
    ];
    for (args, expect) in cases {
        let mut all = vec!["listen", "127.0.0.1:0", "--timeout", "1e20"];
        all.extend_from_slice(args);
        let done = run(&all);
        let t = done.text();
        assert_eq!(done.status.code(), Some(1), "{t}");
        assert!(done.stderr.contains(expect), "{t}");
        assert!(!done.stderr.contains("listening on"), "{t}");
    }
    assert_eq!(std::fs::read(&out).unwrap(), b"an earlier stream");
    assert_eq!(dir.files(), ["out.mig", "out.mig.partial", "sub"]);
}

#[test]
fn limits_that_are_not_numbers_are_refused_by_the_parser() {
    for (flag, value) in [
        ("--deadline", "nan"),
        ("--deadline", "-1"),
        ("--timeout", "NaN"),
        ("--timeout", "-0.5"),
        ("--max-bytes", "1.5X"),
        ("--max-bytes", "-1"),
    ] {
        let done = run(&["listen", "127.0.0.1:0", "-o", "-", flag, value]);
        let t = done.text();
        assert_eq!(done.status.code(), Some(2), "{t}");
        assert!(done.stderr.contains(flag), "{t}");
        assert!(!done.stderr.contains("panicked"), "{t}");
    }
    let done = run(&["send", "x.mig", "127.0.0.1:1", "--deadline", "nan"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.text());
}

/// A file larger than the loopback socket buffers (sparse: no disk used).
fn big_file(dir: &Dir) -> PathBuf {
    let file = dir.0.join("big.mig");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    file
}

/// A listener that accepts one connection and never reads it; the
/// connection is dropped when the test says so.
fn never_reads() -> (SocketAddr, mpsc::Sender<()>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let held = std::thread::spawn(move || {
        let conn = listener.accept().unwrap().0;
        let _ = rx.recv();
        drop(conn);
    });
    (addr, tx, held)
}

/// A peer that accepts the connection but never reads: `send` gives up
/// after `--timeout` without progress, counting the bytes it did send.
#[test]
fn send_gives_up_on_a_peer_that_never_reads() {
    let dir = Dir::new("send-stuck");
    let file = big_file(&dir);
    let (addr, release, held) = never_reads();
    let done = run(&[
        "send",
        file.to_str().unwrap(),
        &addr.to_string(),
        "--timeout",
        "0.5",
    ]);
    let _ = release.send(());
    held.join().unwrap();
    let t = done.text();
    assert_eq!(done.status.code(), Some(1), "{t}");
    assert!(
        done.stderr
            .contains("stopped reading: no progress for 0.5 s after "),
        "{t}"
    );
    assert!(
        done.stderr
            .contains(&format!(" of {} bytes sent", 64 << 20)),
        "{t}"
    );
    assert!(
        number_before(&done.stderr, " of ") > 0,
        "bytes were sent: {t}"
    );
    assert!(!done.stderr.contains("os error 11"), "{t}");
}

/// The same peer without an idle limit: the overall deadline ends it.
#[test]
fn send_overall_deadline_ends_a_stuck_transfer() {
    let dir = Dir::new("send-deadline");
    let file = big_file(&dir);
    let (addr, release, held) = never_reads();
    let done = run(&[
        "send",
        file.to_str().unwrap(),
        &addr.to_string(),
        "--timeout",
        "0",
        "--deadline",
        "1",
    ]);
    let _ = release.send(());
    held.join().unwrap();
    let t = done.text();
    assert_eq!(done.status.code(), Some(1), "{t}");
    assert!(
        done.stderr.contains("took longer than --deadline 1 s: "),
        "{t}"
    );
    assert!(
        done.stderr
            .contains(&format!(" of {} bytes sent", 64 << 20)),
        "{t}"
    );
    assert!(
        number_before(&done.stderr, " of ") > 0,
        "bytes were sent: {t}"
    );
    assert!(done.elapsed < Duration::from_secs(60), "{t}");
}

/// A peer that reads everything but never closes the connection.
#[test]
fn send_gives_up_on_a_peer_that_never_closes() {
    let dir = Dir::new("send-open");
    let file = dir.0.join("small.mig");
    std::fs::write(&file, fixture()).unwrap();
    for (limits, expect) in [
        (
            ["--timeout", "0.5", "--deadline", "60"],
            "did not close the connection within --timeout 0.5 s",
        ),
        (
            ["--timeout", "60", "--deadline", "1"],
            "did not close the connection before --deadline 1 s ran out",
        ),
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let mut conn = listener.accept().unwrap().0;
            let mut all = Vec::new();
            conn.read_to_end(&mut all).unwrap();
            let _ = rx.recv();
            all.len()
        });
        let mut args = vec!["send", file.to_str().unwrap()];
        let a = addr.to_string();
        args.push(&a);
        args.extend_from_slice(&limits);
        let done = run(&args);
        let _ = tx.send(());
        assert_eq!(peer.join().unwrap(), 395_846);
        let t = done.text();
        assert_eq!(done.status.code(), Some(1), "{t}");
        assert!(done.stderr.contains("all 395846 bytes sent to"), "{t}");
        assert!(done.stderr.contains(expect), "{t}");
    }
}
