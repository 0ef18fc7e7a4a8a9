//! `vmstate listen` and `vmstate send`: live migration over TCP with a real
//! QEMU (`migrate tcp:HOST:PORT` on a source, `-incoming tcp:HOST:PORT` on
//! a destination). The peer is untrusted: both commands end in bounded time
//! and `listen` in bounded memory and disk, whatever the peer does.
//!
//! `listen` accepts one connection and writes every byte received at once
//! (bounded memory) to a spool file next to the output. While the stream
//! arrives it validates the framing that needs no vmdesc: header,
//! configuration and every RAM record (the library's stream decoder), failing
//! at the first problem like a destination QEMU would. Device sections can
//! only be decoded with the vmdesc, which comes last, so from the first
//! device section on the rest is spooled; when the stream is complete (the
//! peer closed the connection, or stayed silent after a complete vmdesc, as
//! a source waiting for a return path does) the whole spool goes through
//! `vmstate check`, and only a stream that passes becomes the output file: a
//! refused or broken one leaves nothing behind, unless `--keep-partial`
//! keeps it as `OUT.partial`.
//!
//! `send` connects (retrying while the destination is still starting),
//! streams the file in bounded chunks, half-closes the connection and waits
//! for the peer to close it (QEMU closes after loading, or at once when it
//! refuses the stream).
//!
//! Limits, all on the command line:
//!
//! * `--timeout`: the idle limit. No read or write waits longer for the peer
//!   (and `listen` waits that long for a connection, `send` retries its
//!   connection that long).
//! * `--deadline`: the whole transfer ends in this time
//!   ([`DEFAULT_DEADLINE`] seconds), so that a peer that sends or reads one
//!   byte at a time cannot keep either command alive: for `listen` from the
//!   connection on, for `send` from the start (connecting included).
//! * `listen --max-bytes`: the stream's size ([`DEFAULT_MAX_BYTES`]), which
//!   is what the spool file can grow to.
//! * The library's [`Limits`](vmstate_core::Limits) (`--max-*`, as for every
//!   stream command) bound what the stream may make the decoder hold while
//!   it arrives, e.g. RAM block-list entries (a zero-length entry never ends
//!   the list).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::check_cmd;
use crate::error::CliError;
use crate::limits::LimitArgs;
use crate::output::Output;
use qemufile::ram::{RamItem, RamKind};
use vmstate_core::stream::{Event, SectionItem, StreamDecoder, section_root};

/// Default of `--deadline` for `listen` and `send`, in seconds: 10 minutes.
pub const DEFAULT_DEADLINE: &str = "600";
/// Default of `listen --max-bytes`: 64 GiB.
pub const DEFAULT_MAX_BYTES: &str = "64G";

/// Arguments of `vmstate listen`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// Address to listen on, e.g. `127.0.0.1:4444` (port 0: any free port;
    /// the "listening on" line on stderr says which).
    pub addr: String,
    /// Where to write the received stream (a file: it appears only once the
    /// stream checks).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Give up after this many seconds without a connection, or without
    /// data once connected (0: wait forever).
    #[arg(
        long,
        default_value = "300",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub timeout: Seconds,
    /// Give up if the transfer, from the connection to the end of the
    /// stream, takes longer than this many seconds (0 or inf: no limit).
    #[arg(
        long,
        default_value = DEFAULT_DEADLINE,
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub deadline: Seconds,
    /// Refuse a stream larger than this: bytes, or with a K, M, G or T
    /// suffix (powers of 1024, e.g. 64G); 0: no limit.
    #[arg(
        long,
        default_value = DEFAULT_MAX_BYTES,
        value_name = "SIZE",
        allow_negative_numbers = true
    )]
    pub max_bytes: ByteSize,
    /// Forensic receive: when the stream fails (refused, cut, too slow, too
    /// big), keep what was received as OUT.partial instead of removing it.
    #[arg(long)]
    pub keep_partial: bool,
    /// The destination's machine type: refuse another one (as `check --machine`).
    #[arg(long, value_name = "NAME")]
    pub machine: Option<String>,
    /// The `--max-*` limits.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Arguments of `vmstate send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// The migration stream to send.
    pub file: PathBuf,
    /// The destination, e.g. `127.0.0.1:4444` (QEMU started with
    /// `-incoming tcp:127.0.0.1:4444`).
    pub addr: String,
    /// Seconds to keep retrying the connection, to wait for the peer to take
    /// more bytes, and to wait for it to close the connection after the last
    /// byte (0: wait forever).
    #[arg(
        long,
        default_value = "30",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub timeout: Seconds,
    /// Give up if the whole transfer (connecting, sending, waiting for the
    /// peer to close) takes longer than this many seconds (0 or inf: no
    /// limit).
    #[arg(
        long,
        default_value = DEFAULT_DEADLINE,
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub deadline: Seconds,
}

/// A command-line limit that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LimitError(String);

/// A time limit in seconds (`--timeout`, `--deadline`): a number `>= 0`
/// (fractions and exponents allowed); `0`, `inf` or `none` is no limit, and
/// so is anything beyond 30 years. Not-a-number and negative values are
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(Option<Duration>);

/// Limits beyond this (about 31 years) are no limit.
const FOREVER: Duration = Duration::from_secs(1_000_000_000);

impl Seconds {
    /// No limit.
    pub const NONE: Seconds = Seconds(None);

    /// A limit of `secs` seconds (0: no limit).
    pub fn from_secs(secs: u64) -> Self {
        Seconds(Some(Duration::from_secs(secs)).filter(|d| !d.is_zero() && *d < FOREVER))
    }

    /// The limit as a `Duration` (at least 1 ms), `None` for no limit.
    pub fn get(self) -> Option<Duration> {
        self.0
    }
}

impl FromStr for Seconds {
    type Err = LimitError;

    fn from_str(s: &str) -> Result<Self, LimitError> {
        let t = s.trim();
        if matches!(t.to_ascii_lowercase().as_str(), "none" | "never") {
            return Ok(Seconds::NONE);
        }
        let v: f64 = t.parse().map_err(|_| {
            LimitError(format!(
                "{s:?} is not a number of seconds (0, inf or none: no limit)"
            ))
        })?;
        if v.is_nan() || v < 0.0 {
            return Err(LimitError(format!(
                "{s:?}: a time limit is a number of seconds >= 0 (0, inf or none: no limit)"
            )));
        }
        if v == 0.0 {
            return Ok(Seconds::NONE);
        }
        Ok(Seconds(match Duration::try_from_secs_f64(v) {
            Ok(d) if d < FOREVER => Some(d.max(Duration::from_millis(1))),
            _ => None,
        }))
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => write!(f, "{}", secs_text(d)),
            None => f.write_str("none"),
        }
    }
}

/// `30 s`, `0.5 s`, `1.234 s`.
fn secs_text(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    format!("{} s", s.trim_end_matches('0').trim_end_matches('.'))
}

/// A size limit (`--max-bytes`): bytes, or a number with a `K`, `M`, `G` or
/// `T` suffix (also `KiB`, ..., powers of 1024); `0`, `inf` or `none` is no
/// limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub Option<u64>);

impl FromStr for ByteSize {
    type Err = LimitError;

    fn from_str(s: &str) -> Result<Self, LimitError> {
        let t = s.trim().to_ascii_lowercase();
        if matches!(t.as_str(), "none" | "inf" | "unlimited") {
            return Ok(ByteSize(None));
        }
        let v = crate::limits::parse_size(&t)
            .map_err(|e| LimitError(format!("{e} (a size, e.g. 64G; 0 or none: no limit)")))?;
        Ok(ByteSize(Some(v).filter(|&v| v > 0)))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(v) = self.0 else {
            return f.write_str("none");
        };
        for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
            if v >= 1 << shift && v % (1 << shift) == 0 {
                return write!(f, "{}{unit} ({v} bytes)", v >> shift);
            }
        }
        write!(f, "{v} bytes")
    }
}

/// What ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    /// No progress for `--timeout`.
    Idle(Duration),
    /// The transfer took `--deadline`.
    Deadline(Duration),
}

/// The time limits of one transfer: an idle limit (since the last
/// progress) and an overall deadline (since the connection).
#[derive(Debug, Clone, Copy)]
struct Clock {
    idle: Option<Duration>,
    deadline: Option<Duration>,
    start: Instant,
    last: Instant,
}

impl Clock {
    fn new(idle: Seconds, deadline: Seconds) -> Self {
        let now = Instant::now();
        Clock {
            idle: idle.get(),
            deadline: deadline.get(),
            start: now,
            last: now,
        }
    }

    /// The peer made progress (sent or took bytes).
    fn progress(&mut self) {
        self.last = Instant::now();
    }

    /// How long the next blocking read or write may wait (`None`: forever,
    /// else at least 1 ms and at most `poll`), or what ran out.
    fn wait(&self, poll: Option<Duration>) -> Result<Option<Duration>, Expired> {
        let now = Instant::now();
        let left = |limit: Option<Duration>, since: Instant| {
            limit.map(|l| {
                l.checked_sub(now.duration_since(since))
                    .filter(|d| !d.is_zero())
            })
        };
        let mut wait = poll;
        let mut shorten = |d: Duration| wait = Some(wait.map_or(d, |w| w.min(d)));
        match (self.deadline, left(self.deadline, self.start)) {
            (Some(d), Some(None)) => return Err(Expired::Deadline(d)),
            (_, Some(Some(l))) => shorten(l),
            _ => {}
        }
        match (self.idle, left(self.idle, self.last)) {
            (Some(i), Some(None)) => return Err(Expired::Idle(i)),
            (_, Some(Some(l))) => shorten(l),
            _ => {}
        }
        Ok(wait.map(|w| w.max(Duration::from_millis(1))))
    }
}

/// A byte source whose blocking reads can be bounded in time.
trait Timed: Read {
    /// Reads wait at most `wait` (`None`: forever).
    fn set_wait(&mut self, wait: Option<Duration>) -> io::Result<()>;
}

impl Timed for &TcpStream {
    fn set_wait(&mut self, wait: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(wait)
    }
}

/// Why a [`Tee`] stopped reading before the peer closed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    /// A time limit ran out.
    Expired(Expired),
    /// The peer sent more than `--max-bytes` (the limit).
    TooBig(u64),
    /// The spool file could not be written.
    Spool(String),
}

/// Reads from a socket and writes every byte received to a sink as soon as
/// it arrives; the framing check reads it through a [`qemufile::Reader`].
/// Every read waits at most what the [`Clock`] allows, and at most
/// `max_bytes` are taken: past a limit, reads fail and `stop` says why.
struct Tee<S: Timed, W: Write> {
    src: S,
    sink: W,
    clock: Clock,
    max_bytes: Option<u64>,
    /// Return `WouldBlock` after this long without data (the spooling phase
    /// looks for the end of the stream then).
    poll: Option<Duration>,
    /// The read timeout set on `src` last.
    wait_set: Option<Option<Duration>>,
    received: u64,
    closed: bool,
    stop: Option<Stop>,
}

impl<S: Timed, W: Write> Tee<S, W> {
    fn new(src: S, sink: W, clock: Clock, max_bytes: Option<u64>) -> Self {
        Tee {
            src,
            sink,
            clock,
            max_bytes,
            poll: None,
            wait_set: None,
            received: 0,
            closed: false,
            stop: None,
        }
    }

    fn stopped(&mut self, why: Stop) -> io::Error {
        self.stop = Some(why);
        io::Error::other("the transfer was stopped")
    }
}

impl<S: Timed, W: Write> Read for Tee<S, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.closed || buf.is_empty() {
            return Ok(0);
        }
        if self.stop.is_some() {
            return Err(io::Error::other("the transfer was stopped"));
        }
        // One byte beyond the cap is enough to tell it is exceeded.
        let want = match self.max_bytes {
            Some(max) => {
                let left = max.saturating_sub(self.received).saturating_add(1);
                buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))
            }
            None => buf.len(),
        };
        loop {
            let wait = match self.clock.wait(self.poll) {
                Ok(w) => w,
                Err(x) => return Err(self.stopped(Stop::Expired(x))),
            };
            if self.wait_set != Some(wait) {
                self.src.set_wait(wait)?;
                self.wait_set = Some(wait);
            }
            match self.src.read(&mut buf[..want]) {
                Ok(0) => {
                    self.closed = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.clock.progress();
                    let keep = match self.max_bytes {
                        Some(max) => n.min(usize::try_from(max - self.received).unwrap_or(n)),
                        None => n,
                    };
                    if let Err(e) = self.sink.write_all(&buf[..keep]) {
                        return Err(self.stopped(Stop::Spool(e.to_string())));
                    }
                    self.received += keep as u64;
                    if keep < n {
                        let max = self.max_bytes.unwrap_or(0);
                        return Err(self.stopped(Stop::TooBig(max)));
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The peer is gone: the stream ends here.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    self.closed = true;
                    return Ok(0);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if let Err(x) = self.clock.wait(None) {
                        return Err(self.stopped(Stop::Expired(x)));
                    }
                    if self.poll.is_some() {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64().max(1e-9)
}

/// Largest vmdesc `listen` looks for at the end of the spool (as
/// [`qemufile::stream::StreamOptions::max_vmdesc_len`]).
const MAX_VMDESC: u64 = 64 << 20;

/// True if the file at `path` ends with a complete vmdesc (`00 06 | be32 len
/// | len bytes`, the candidate nearest the end, at most [`MAX_VMDESC`]) whose
/// JSON parses. The file is scanned backwards in 1 MiB chunks and the JSON
/// parsed as it is read, without building it: memory stays bounded whatever
/// the peer sent.
fn ends_with_vmdesc(path: &Path) -> io::Result<bool> {
    const CHUNK: u64 = 1 << 20;
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    // `q`: the candidate's 00 byte; the JSON starts at q + 6.
    let lowest = len.saturating_sub(MAX_VMDESC + 6);
    let mut buf = vec![0u8; CHUNK as usize + 6];
    let mut end = len.saturating_sub(5);
    while end > lowest {
        let start = end.saturating_sub(CHUNK).max(lowest);
        let take = (len.min(end + 6) - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..take])?;
        for i in (0..(end - start) as usize).rev() {
            let q = start + i as u64;
            if q + 6 > len
                || buf[i] != qemufile::stream::EOF
                || buf[i + 1] != qemufile::stream::VMDESCRIPTION
            {
                continue;
            }
            let n = u32::from_be_bytes([buf[i + 2], buf[i + 3], buf[i + 4], buf[i + 5]]);
            if q + 6 + u64::from(n) == len {
                f.seek(SeekFrom::Start(q + 6))?;
                let json = BufReader::new(Read::by_ref(&mut f).take(n.into()));
                return Ok(serde_json::from_reader::<_, serde::de::IgnoredAny>(json).is_ok());
            }
        }
        end = start;
    }
    Ok(false)
}

/// What the framing check saw while the stream arrived.
#[derive(Debug, Default)]
struct Stats {
    machine: Option<String>,
    ram_sections: u64,
    ram_blocks: u64,
    pages: u64,
    zero: u64,
    commands: u64,
}

/// How the spooling phase ended.
enum End {
    Closed,
    IdleAfterVmdesc,
}

/// Where in the stream `listen` was when something happened.
#[derive(Debug, Clone)]
enum Place {
    /// Before the first section.
    Header,
    /// Between items, framing checked.
    Between,
    /// In a section (its root name, the offset of its header).
    Section(String, u64),
    /// Spooling the device sections, which start at this offset.
    Devices(u64),
}

impl Place {
    fn of<R: qemufile::QemuRead>(dec: &StreamDecoder<'_, '_, R>) -> Place {
        match dec.current_section() {
            Some((h, at)) => Place::Section(section_root(h), *at),
            None => Place::Between,
        }
    }

    /// With the byte offset the stream stopped at: `while in section 'ram'
    /// (byte offset N; the section starts at S)`. Without (the error names
    /// its own offset): ` in section 'ram' (which starts at byte offset S)`,
    /// with a leading space, or nothing between sections.
    fn describe(&self, at: Option<u64>) -> String {
        match (self, at) {
            (Place::Header, Some(at)) => {
                format!("while in the stream header and configuration (byte offset {at})")
            }
            (Place::Header, None) => " in the stream header and configuration".into(),
            (Place::Between, Some(at)) => format!("between sections (byte offset {at})"),
            (Place::Between, None) => String::new(),
            (Place::Section(name, start), Some(at)) => {
                format!(
                    "while in section '{name}' (byte offset {at}; the section starts at {start})"
                )
            }
            (Place::Section(name, start), None) => {
                format!(" in section '{name}' (which starts at byte offset {start})")
            }
            (Place::Devices(start), Some(at)) => format!(
                "while in the device sections (byte offset {at}; they start at {start} and are \
                 checked once the stream is complete)"
            ),
            (Place::Devices(start), None) => {
                format!(" in the device sections (which start at byte offset {start})")
            }
        }
    }
}

/// A failure of the peer or the connection, in words.
fn net(message: String) -> CliError {
    CliError::Network(message)
}

/// The message for a transfer `listen` stopped.
fn stop_message(stop: &Stop, peer: SocketAddr, received: u64, place: &Place) -> CliError {
    let place = place.describe(Some(received));
    net(match stop {
        Stop::Expired(Expired::Idle(t)) => format!(
            "peer {peer} sent nothing for {} {place}: the stream is incomplete after {received} \
             bytes (--timeout sets how long to wait for data)",
            secs_text(*t)
        ),
        Stop::Expired(Expired::Deadline(d)) => format!(
            "the transfer from {peer} took longer than --deadline {}: {received} bytes received, \
             stopped {place}; raise --deadline (0: no limit) for a longer transfer",
            secs_text(*d)
        ),
        Stop::TooBig(max) => format!(
            "peer {peer} sent more than --max-bytes {} {place}: refusing the rest; raise \
             --max-bytes (0: no limit) for a larger stream",
            ByteSize(Some(*max))
        ),
        Stop::Spool(e) => {
            format!("cannot write the received stream to disk after {received} bytes {place}: {e}")
        }
    })
}

/// `OUT.partial`: where `--keep-partial` keeps a failed stream.
fn partial_path(output: &Path) -> PathBuf {
    let mut p = output.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

/// Refuses, before anything is received, an output `listen` cannot or must
/// not replace: standard output (the report goes there), a directory or
/// another non-regular file (a device, a FIFO: renaming onto it would
/// replace it), and with `--keep-partial` an existing `OUT.partial` (kept
/// from an earlier receive: it is not clobbered), in particular one that is
/// OUT itself (same device and inode).
fn check_destination(output: &Path, partial: Option<&Path>) -> Result<(), CliError> {
    if output == Path::new("-") {
        return Err(CliError::Input(
            "listen writes the stream to a file (-o FILE), not to standard output, where its \
             report goes"
                .into(),
        ));
    }
    let name = output.display();
    if let Ok(m) = std::fs::symlink_metadata(output) {
        if m.is_dir() {
            return Err(CliError::Input(format!(
                "{name} is a directory: give the path of the file to write"
            )));
        }
        if !m.is_file() && !m.file_type().is_symlink() {
            return Err(CliError::Input(format!(
                "{name} is not a regular file (a device, FIFO or socket): listen writes a new \
                 file and renames it to {name}, which would replace it"
            )));
        }
    }
    let Some(partial) = partial else {
        return Ok(());
    };
    let pname = partial.display();
    if std::fs::symlink_metadata(partial).is_ok() {
        let same = match (std::fs::metadata(output), std::fs::metadata(partial)) {
            (Ok(a), Ok(b)) => same_inode(&a, &b),
            _ => false,
        };
        return Err(CliError::Input(if same {
            format!(
                "{pname} is the same file as {name} (same device and inode): --keep-partial \
                 would put a failed stream there; remove or rename it first"
            )
        } else {
            format!(
                "{pname} exists (kept from an earlier receive?): --keep-partial does not replace \
                 it; move it away first"
            )
        }));
    }
    Ok(())
}

#[cfg(unix)]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// Runs `vmstate listen`.
pub fn run_listen(args: &ListenArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match listen(args, out, err) {
        Ok(status) => status,
        Err(m) => {
            let _ = writeln!(err, "vmstate listen: {m}");
            1
        }
    }
}

/// Accepts one connection within `timeout`.
fn accept(
    listener: &TcpListener,
    local: SocketAddr,
    timeout: Seconds,
) -> Result<(TcpStream, SocketAddr), CliError> {
    // Accept with a deadline: poll a non-blocking listener.
    listener
        .set_nonblocking(true)
        .map_err(|e| net(format!("listening on {local}: {e}")))?;
    let t0 = Instant::now();
    loop {
        match listener.accept() {
            Ok((sock, peer)) => {
                sock.set_nonblocking(false)
                    .map_err(|e| net(format!("connection from {peer}: {e}")))?;
                return Ok((sock, peer));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if timeout.get().is_some_and(|t| t0.elapsed() > t) {
                    return Err(net(format!(
                        "no connection on {local} within --timeout {timeout}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(net(format!("accept on {local}: {e}"))),
        }
    }
}

fn listen(args: &ListenArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, CliError> {
    let partial = args.keep_partial.then(|| partial_path(&args.output));
    check_destination(&args.output, partial.as_deref())?;
    // Received into a spool next to OUT, renamed to OUT once the stream
    // checks: a refused or broken stream leaves nothing behind.
    let mut output = Output::create(&args.output, None)?;
    let listener = TcpListener::bind(&args.addr)
        .map_err(|e| net(format!("cannot listen on {}: {e}", args.addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| net(format!("listening on {}: {e}", args.addr)))?;
    let _ = writeln!(err, "vmstate listen: listening on {local}");
    let _ = err.flush();
    let (sock, peer) = accept(&listener, local, args.timeout)?;
    drop(listener);
    let _ = sock.set_nodelay(true);
    let mut received = 0;
    let result = receive(
        args,
        &sock,
        (peer, local),
        &mut output,
        &mut received,
        out,
        err,
    );
    let _ = sock.shutdown(Shutdown::Both);
    drop(sock);
    let name = args.output.display();
    let (status, why) = match result {
        Ok(0) => {
            output.commit(&mut io::sink())?;
            return Ok(0);
        }
        Ok(status) => (status, ": the stream was refused"),
        Err(e) => {
            let _ = writeln!(err, "vmstate listen: {e}");
            (1, "")
        }
    };
    match partial {
        Some(p) => match output.keep_as(&p) {
            Ok(()) => writeln!(
                err,
                "vmstate listen: {name} not written{why}; the {received} bytes received are kept \
                 in {} (--keep-partial)",
                p.display()
            ),
            Err(e) => writeln!(
                err,
                "vmstate listen: {name} not written{why}, and the {received} bytes received \
                 could not be kept: {e}"
            ),
        },
        None => {
            drop(output);
            writeln!(
                err,
                "vmstate listen: {name} not written{why}; nothing is left behind (--keep-partial \
                 keeps what was received)"
            )
        }
    }
    .map_err(CliError::Output)?;
    Ok(status)
}

/// Why the framing check refused the stream.
enum Refused {
    /// The library's error (it names the byte offset).
    Stream(vmstate_core::Error),
}

/// The framing check while the stream arrives: header, configuration and
/// the iterative sections up to the first device section (or EOF). Returns
/// the offset where it stopped, whether that is the end of the stream, and
/// what it saw; or where it failed and why.
fn framing<R: Read>(
    input: R,
    limits: vmstate_core::Limits,
) -> Result<(u64, bool, Stats), (Place, Refused)> {
    let mut dec = StreamDecoder::open_with_limits(qemufile::Reader::new(input), None, limits)
        .map_err(|e| (Place::Header, Refused::Stream(e)))?;
    let mut stats = Stats {
        machine: dec
            .configuration()
            .map(|c| String::from_utf8_lossy(c.machine()).into_owned()),
        ..Stats::default()
    };
    loop {
        let end = match dec.next_event() {
            Ok(Some(Event::Section(_))) => dec.item_offset(),
            Ok(Some(Event::Eof(_)) | None) => dec.position(),
            Ok(Some(Event::IterativeHeader(h))) => {
                if h.idstr.as_bytes() == b"ram" {
                    stats.ram_sections += 1;
                }
                continue;
            }
            Ok(Some(Event::Item(SectionItem::Ram(RamItem::Block(_))))) => {
                stats.ram_blocks += 1;
                continue;
            }
            Ok(Some(Event::Item(SectionItem::Ram(RamItem::Record(r))))) => {
                match r.kind {
                    RamKind::Page => stats.pages += 1,
                    RamKind::Zero { .. } => stats.zero += 1,
                    _ => {}
                }
                continue;
            }
            Ok(Some(Event::Command(_))) => {
                stats.commands += 1;
                continue;
            }
            Ok(Some(_)) => continue,
            Err(e) => return Err((Place::of(&dec), Refused::Stream(e))),
        };
        let at_eof = dec.current_section().is_none();
        return Ok((end, at_eof, stats));
    }
}

/// The framing check `listen` runs while a stream arrives (header,
/// configuration, RAM and the other iterative sections, up to the first
/// device section or EOF), over any reader instead of a socket: for tests
/// and fuzzing. Returns the offset where it stopped and whether that is the
/// end of the stream, or the library's error. (`listen` then checks the
/// whole stream as [`check_cmd`] does.)
pub fn check_framing<R: Read>(
    input: R,
    limits: vmstate_core::Limits,
) -> Result<(u64, bool), vmstate_core::Error> {
    match framing(input, limits) {
        Ok((end, at_eof, _)) => Ok((end, at_eof)),
        Err((_, Refused::Stream(e))) => Err(e),
    }
}

/// Receives the stream into `output` (phases 1 and 2) and checks it
/// (phase 3): the exit status of the check, or why the transfer failed.
/// `received` counts the bytes written to the spool, also on failure.
fn receive(
    args: &ListenArgs,
    sock: &TcpStream,
    (peer, local): (SocketAddr, SocketAddr),
    output: &mut Output,
    received: &mut u64,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    let spool = output.spool_path().to_path_buf();
    let name = args.output.display().to_string();
    let started = Instant::now();
    let clock = Clock::new(args.timeout, args.deadline);
    let mut tee = Tee::new(sock, output.writer(), clock, args.max_bytes.0);

    // Phase 1: framing while the stream arrives (no vmdesc yet: up to the
    // first device section, or EOF).
    let framed = framing(&mut tee, args.limits.limits());
    *received = tee.received;
    let (framing_end, at_eof, stats) = match framed {
        Ok(f) => f,
        Err((place, e)) => {
            let _ = sock.shutdown(Shutdown::Both);
            if let Some(stop) = &tee.stop {
                return Err(stop_message(stop, peer, tee.received, &place));
            }
            let at = tee.received;
            let place = place.describe(None);
            return Err(net(match e {
                Refused::Stream(e) if tee.closed && e.is_eof() => format!(
                    "peer {peer} closed the connection after {at} bytes{place}: the stream is \
                     incomplete ({e})"
                ),
                Refused::Stream(e) => format!(
                    "stream from {peer} refused{place}: {e}; connection closed after {at} bytes"
                ),
            }));
        }
    };

    // Phase 2: spool the rest until the peer closes (or stays silent after
    // a complete vmdesc).
    let end = if at_eof && !tee.closed {
        End::IdleAfterVmdesc
    } else {
        tee.poll = Some(Duration::from_millis(300));
        let mut scratch = vec![0u8; 1 << 18];
        let mut looked_at = None;
        loop {
            match tee.read(&mut scratch) {
                Ok(0) => break End::Closed,
                Ok(_) => {}
                Err(e) => {
                    *received = tee.received;
                    if let Some(stop) = &tee.stop {
                        let place = Place::Devices(framing_end);
                        return Err(stop_message(stop, peer, tee.received, &place));
                    }
                    if e.kind() != io::ErrorKind::WouldBlock {
                        return Err(net(format!(
                            "receiving from {peer} after {} bytes: {e}",
                            tee.received
                        )));
                    }
                    // Silence: a source waiting for its return path after
                    // the vmdesc, or a stall (the clock tells).
                    if looked_at != Some(tee.received) {
                        looked_at = Some(tee.received);
                        tee.sink
                            .flush()
                            .map_err(|e| net(format!("writing {name}: {e}")))?;
                        if ends_with_vmdesc(&spool).unwrap_or(false) {
                            break End::IdleAfterVmdesc;
                        }
                    }
                }
            }
        }
    };
    let elapsed = started.elapsed();
    *received = tee.received;
    tee.sink
        .flush()
        .map_err(|e| net(format!("writing {name}: {e}")))?;
    drop(tee);
    let _ = sock.shutdown(Shutdown::Both);

    let _ = writeln!(
        out,
        "received {} bytes from {peer} on {local} in {:.3} s ({:.0} MiB/s), written to {name}; \
         {}; validated while receiving: header, configuration ({}), {} RAM section(s) with {} \
         data page(s) and {} zero page(s), {} command(s) (first {framing_end} bytes)",
        *received,
        elapsed.as_secs_f64(),
        mib_s(*received, elapsed),
        match end {
            End::Closed => "the peer closed the connection",
            End::IdleAfterVmdesc => "complete vmdesc received, connection closed by us",
        },
        stats.machine.as_deref().unwrap_or("none"),
        stats.ram_sections,
        stats.pages,
        stats.zero,
        stats.commands,
    );
    // Phase 3: the whole stream against its vmdesc.
    let (mut cout, mut cerr) = (Vec::new(), Vec::new());
    let check = check_cmd::CheckArgs {
        machine: args.machine.clone(),
        limits: args.limits.clone(),
        ..check_cmd::CheckArgs::file(&spool)
    };
    let status = check_cmd::run(&check, &mut cout, &mut cerr);
    let spooled = spool.display().to_string();
    let named = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace(&spooled, &name)
            .replace("vmstate check:", "vmstate listen:")
    };
    let _ = out.write_all(named(&cout).as_bytes());
    let _ = err.write_all(named(&cerr).as_bytes());
    Ok(status)
}

/// Runs `vmstate send`.
pub fn run_send(args: &SendArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match send(args, out) {
        Ok(()) => 0,
        Err(m) => {
            let _ = writeln!(err, "vmstate send: {m}");
            1
        }
    }
}

/// Connects to `addr`, retrying for `timeout` while nobody listens yet,
/// and never beyond `clock`'s deadline.
fn connect(addr: &str, timeout: Seconds, clock: &Clock) -> Result<TcpStream, CliError> {
    let t0 = Instant::now();
    let limit = match (timeout.get(), clock.deadline) {
        (Some(t), Some(d)) => Some(t.min(d)),
        (t, d) => t.or(d),
    };
    let flag = match (timeout.get(), clock.deadline) {
        (Some(t), Some(d)) if d < t => format!("--deadline {}", secs_text(d)),
        (None, Some(d)) => format!("--deadline {}", secs_text(d)),
        _ => format!("--timeout {timeout}"),
    };
    loop {
        let addrs: Vec<_> = addr
            .to_socket_addrs()
            .map_err(|e| net(format!("bad address {addr}: {e}")))?
            .collect();
        let mut last = None;
        for a in &addrs {
            let attempt = match limit {
                Some(t) => TcpStream::connect_timeout(
                    a,
                    t.saturating_sub(t0.elapsed()).max(Duration::from_millis(1)),
                ),
                None => TcpStream::connect(a),
            };
            match attempt {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        let e = last.map_or_else(|| "no address".to_owned(), |e| e.to_string());
        if limit.is_some_and(|t| t0.elapsed() > t) {
            return Err(net(format!("cannot connect to {addr} within {flag}: {e}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Why a write to the peer did not complete.
enum WriteFail {
    Expired(Expired),
    Io(io::Error),
}

/// Writes all of `buf`, counting in `sent` every byte the connection took
/// (also when it fails part way); every write waits at most what `clock`
/// allows.
fn write_counted(
    sock: &mut TcpStream,
    mut buf: &[u8],
    sent: &mut u64,
    clock: &mut Clock,
    wait_set: &mut Option<Option<Duration>>,
) -> Result<(), WriteFail> {
    while !buf.is_empty() {
        let wait = clock.wait(None).map_err(WriteFail::Expired)?;
        if *wait_set != Some(wait) {
            sock.set_write_timeout(wait).map_err(WriteFail::Io)?;
            *wait_set = Some(wait);
        }
        match sock.write(buf) {
            Ok(0) => return Err(WriteFail::Io(io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                *sent += n as u64;
                buf = &buf[n..];
                clock.progress();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The clock tells whether a limit ran out.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(WriteFail::Io(e)),
        }
    }
    Ok(())
}

/// True for the errors of a connection the peer closed or reset.
fn peer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::WriteZero
    )
}

fn send(args: &SendArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let name = args.file.display().to_string();
    let mut file = File::open(&args.file).map_err(CliError::file("open", &args.file))?;
    let len = file
        .metadata()
        .map_err(CliError::file("read", &args.file))?
        .len();
    // A peer that accepts but stops reading (or reads a byte at a time)
    // must not keep us forever: every write waits at most --timeout, and
    // the whole run (connecting included) at most --deadline.
    let mut clock = Clock::new(args.timeout, args.deadline);
    let mut sock = connect(&args.addr, args.timeout, &clock)?;
    let peer = sock
        .peer_addr()
        .map_err(|e| net(format!("connected to {}: {e}", args.addr)))?;
    let _ = sock.set_nodelay(true);
    clock.progress();
    let mut wait_set = None;
    let t0 = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut sent = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CliError::file("read", &args.file)(e)),
        };
        match write_counted(&mut sock, &buf[..n], &mut sent, &mut clock, &mut wait_set) {
            Ok(()) => {}
            Err(WriteFail::Expired(Expired::Idle(t))) => {
                return Err(net(format!(
                    "{peer} stopped reading: no progress for {} after {sent} of {len} bytes \
                     sent ({name}); --timeout sets how long to wait",
                    secs_text(t)
                )));
            }
            Err(WriteFail::Expired(Expired::Deadline(d))) => {
                return Err(net(format!(
                    "sending {name} to {peer} took longer than --deadline {}: {sent} of {len} \
                     bytes sent; raise --deadline (0: no limit) for a longer transfer",
                    secs_text(d)
                )));
            }
            Err(WriteFail::Io(e)) if peer_gone(&e) => {
                return Err(net(format!(
                    "{peer} closed the connection after {sent} of {len} bytes sent: the \
                     destination refused the stream (see its log)"
                )));
            }
            Err(WriteFail::Io(e)) => {
                return Err(net(format!(
                    "sending to {peer} failed after {sent} of {len} bytes: {e}"
                )));
            }
        }
    }
    let written = t0.elapsed();
    let _ = sock.shutdown(Shutdown::Write);
    // Wait for the peer to close (QEMU closes once it has loaded the stream):
    // --timeout after the last byte, within the --deadline.
    clock.progress();
    let mut answer = 0u64;
    let mut wait_set = None;
    let how = loop {
        let wait = match clock.wait(None) {
            Ok(w) => w,
            Err(Expired::Idle(t)) => {
                return Err(net(format!(
                    "all {sent} bytes sent to {peer}, but it did not close the connection \
                     within --timeout {}",
                    secs_text(t)
                )));
            }
            Err(Expired::Deadline(d)) => {
                return Err(net(format!(
                    "all {sent} bytes sent to {peer}, but it did not close the connection \
                     before --deadline {} ran out (raise --deadline, 0: no limit)",
                    secs_text(d)
                )));
            }
        };
        if wait_set != Some(wait) {
            sock.set_read_timeout(wait)
                .map_err(|e| net(format!("waiting for {peer}: {e}")))?;
            wait_set = Some(wait);
        }
        match sock.read(&mut buf) {
            Ok(0) => break "the peer closed the connection",
            Ok(n) => {
                answer += n as u64;
                clock.progress();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                // A QEMU that loaded the stream has read every byte (the
                // vmdesc too) and closes; a reset means it stopped reading.
                return Err(net(format!(
                    "all {sent} bytes sent, but {peer} reset the connection: it stopped \
                     reading before the end of the stream, i.e. the destination refused it \
                     (see its log)"
                )));
            }
            // The clock tells whether a limit ran out.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(net(format!("waiting for {peer} to close: {e}"))),
        }
    };
    let total = t0.elapsed();
    let _ = writeln!(
        out,
        "{name}: {sent} bytes sent to {peer} in {:.3} s ({:.0} MiB/s); {how} after {:.3} s{}",
        written.as_secs_f64(),
        mib_s(sent, written),
        total.as_secs_f64(),
        if answer > 0 {
            format!(" ({answer} bytes received from it)")
        } else {
            String::new()
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use qemufile::QemuRead;

    impl Timed for &[u8] {
        fn set_wait(&mut self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    fn unlimited() -> Clock {
        Clock::new(Seconds::NONE, Seconds::NONE)
    }

    #[test]
    fn tee_copies_everything_the_reader_consumes_or_buffers() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut sink = Vec::new();
        {
            let tee = Tee::new(&data[..], &mut sink, unlimited(), None);
            let mut t = qemufile::Reader::new(tee);
            let mut b = [0u8; 3];
            t.read_into(&mut b).unwrap();
            assert_eq!(b, [0, 1, 2]);
            assert_eq!(t.peek(2, 2).unwrap(), &[5, 6]);
            t.skip(270_000).unwrap();
            assert_eq!(t.position(), 270_003);
            assert_eq!(t.get_u8().unwrap(), (270_003 % 251) as u8);
            let e = t.skip(1 << 20).unwrap_err();
            assert!(e.is_eof());
        }
        assert_eq!(sink, data);
    }

    #[test]
    fn tee_stops_at_the_size_cap_and_keeps_exactly_the_cap() {
        let data = vec![7u8; 10_000];
        let mut sink = Vec::new();
        let mut tee = Tee::new(&data[..], &mut sink, unlimited(), Some(4096));
        let mut buf = vec![0u8; 3000];
        assert_eq!(tee.read(&mut buf).unwrap(), 3000);
        assert!(tee.read(&mut buf).is_err());
        assert_eq!(tee.stop, Some(Stop::TooBig(4096)));
        assert_eq!(tee.received, 4096);
        // Stopped for good.
        assert!(tee.read(&mut buf).is_err());
        drop(tee);
        assert_eq!(sink.len(), 4096);
        // A stream of exactly the cap is fine.
        let mut sink = Vec::new();
        let mut tee = Tee::new(&data[..4096], &mut sink, unlimited(), Some(4096));
        let mut all = Vec::new();
        tee.read_to_end(&mut all).unwrap();
        assert_eq!((all.len(), tee.stop.is_none()), (4096, true));
    }

    #[test]
    fn a_vmdesc_at_the_end_is_found_in_bounded_chunks() {
        let dir = std::env::temp_dir().join(format!("vmstate-vmdesc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.mig");
        let ends = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            ends_with_vmdesc(&path).unwrap()
        };
        let trailer = |json: &[u8]| {
            let mut v = b"QEVM\0\0\0\x03\x00\x06".to_vec();
            v.extend_from_slice(&(json.len() as u32).to_be_bytes());
            v.extend_from_slice(json);
            v
        };
        assert!(ends(&trailer(b"{\"page_size\": 4096}")));
        assert!(!ends(&trailer(b"{\"page_size\": 40")));
        let mut longer = trailer(b"{}");
        longer.push(b' ');
        assert!(!ends(&longer));
        assert!(!ends(b""));
        assert!(!ends(b"\x00\x06\0\0\0"));
        // Larger than one chunk, the header straddling chunks: still found.
        for pad in [0usize, 1, 3, 5, 6, 7] {
            let mut json = vec![b' '; (1 << 20) - 4 + pad];
            json.extend_from_slice(b"[1]");
            assert!(ends(&trailer(&json)), "{pad}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn time_limits_parse_without_panics() {
        let s = |t: &str| t.parse::<Seconds>();
        for none in [
            "0", "0.0", "inf", "INF", "infinity", "none", "1e20", "1e300",
        ] {
            assert_eq!(s(none).unwrap(), Seconds::NONE, "{none}");
        }
        for bad in ["nan", "NaN", "-1", "-0.5", "-inf", "", "x", "1s"] {
            let e = s(bad).unwrap_err().to_string();
            assert!(e.contains("seconds"), "{bad}: {e}");
        }
        assert_eq!(s("0.25").unwrap().get(), Some(Duration::from_millis(250)));
        assert_eq!(s("1e-9").unwrap().get(), Some(Duration::from_millis(1)));
        assert_eq!(s("30").unwrap().to_string(), "30 s");
        assert_eq!(s("0.5").unwrap().to_string(), "0.5 s");
        assert_eq!(Seconds::from_secs(0), Seconds::NONE);
        assert_eq!(s(DEFAULT_DEADLINE).unwrap(), Seconds::from_secs(600));
    }

    #[test]
    fn sizes_parse_without_panics() {
        let b = |t: &str| t.parse::<ByteSize>().map(|s| s.0);
        assert_eq!(b("64G").unwrap(), Some(64 << 30));
        assert_eq!(b(DEFAULT_MAX_BYTES).unwrap(), Some(64 << 30));
        assert_eq!(b("64GiB").unwrap(), Some(64 << 30));
        assert_eq!(b("100k").unwrap(), Some(100 << 10));
        assert_eq!(b("1234").unwrap(), Some(1234));
        assert_eq!(b("0").unwrap(), None);
        assert_eq!(b("none").unwrap(), None);
        assert_eq!(b("1.5G").unwrap(), Some(3 << 29));
        for bad in ["", "-1", "12Q", "99999999999T", "18446744073709551616"] {
            assert!(b(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ByteSize(Some(64 << 30)).to_string(),
            "64G (68719476736 bytes)"
        );
        assert_eq!(ByteSize(Some(1000)).to_string(), "1000 bytes");
    }

    #[test]
    fn clock_reports_the_deadline_before_the_idle_limit() {
        let c = Clock::new(Seconds::from_secs(30), "0.001".parse::<Seconds>().unwrap());
        let mut waited = c.wait(None);
        while waited.is_ok() {
            waited = c.wait(None);
        }
        assert_eq!(waited, Err(Expired::Deadline(Duration::from_millis(1))));
        let c = Clock::new(Seconds::from_secs(30), Seconds::from_secs(10));
        let w = c.wait(Some(Duration::from_millis(300))).unwrap();
        assert_eq!(w, Some(Duration::from_millis(300)));
        assert_eq!(unlimited().wait(None), Ok(None));
    }
}
