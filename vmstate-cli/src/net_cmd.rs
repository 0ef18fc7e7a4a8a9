//! `vmstate listen` and `vmstate send`: live migration over TCP with a real
//! QEMU (`migrate tcp:HOST:PORT` on a source, `-incoming tcp:HOST:PORT` on
//! a destination).
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
//! refused or broken one leaves nothing behind.
//!
//! `send` connects (retrying while the destination is still starting),
//! streams the file in bounded chunks, half-closes the connection and waits
//! for the peer to close it (QEMU closes after loading, or at once when it
//! refuses the stream).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::check_cmd;
use crate::error::CliError;
use crate::output::Output;
use qemufile::ram::{RamItem, RamKind};
use vmstate_core::stream::{Event, SectionItem, StreamDecoder};

/// Arguments of `vmstate listen`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// Address to listen on, e.g. `127.0.0.1:4444`.
    pub addr: String,
    /// Where to write the received stream.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Give up after this many seconds without a connection or without data.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// The destination's machine type: refuse another one (as `check --machine`).
    #[arg(long, value_name = "NAME")]
    pub machine: Option<String>,
}

/// Arguments of `vmstate send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// The migration stream to send.
    pub file: PathBuf,
    /// The destination, e.g. `127.0.0.1:4444` (QEMU started with
    /// `-incoming tcp:127.0.0.1:4444`).
    pub addr: String,
    /// Seconds to keep retrying the connection, and to wait for the peer
    /// to close it after the last byte.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub timeout: f64,
}

/// Receive buffer for the spooling after the framing check.
const BUF_SIZE: usize = 1 << 18;

/// Reads from a socket and writes every byte received to a sink as soon as
/// it arrives; the framing check reads it through a [`qemufile::Reader`].
struct Tee<S: Read, W: Write> {
    src: S,
    sink: W,
    received: u64,
    closed: bool,
}

impl<S: Read, W: Write> Tee<S, W> {
    fn new(src: S, sink: W) -> Self {
        Tee {
            src,
            sink,
            received: 0,
            closed: false,
        }
    }
}

impl<S: Read, W: Write> Read for Tee<S, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(0);
        }
        let n = loop {
            match self.src.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.closed = true;
            return Ok(0);
        }
        self.sink.write_all(&buf[..n])?;
        self.received += n as u64;
        Ok(n)
    }
}

/// A timeout in seconds; non-positive, not a number or beyond what a
/// `Duration` holds is "practically forever" (about 30 years), never a panic.
fn secs(t: f64) -> Duration {
    const FOREVER: Duration = Duration::from_secs(1_000_000_000);
    if t.is_finite() && t > 0.0 {
        Duration::try_from_secs_f64(t).map_or(FOREVER, |d| d.min(FOREVER))
    } else {
        FOREVER
    }
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64().max(1e-9)
}

/// True if the file at `path` ends with a complete vmdesc whose JSON parses.
fn ends_with_vmdesc(path: &Path) -> io::Result<bool> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    for tail in [1u64 << 20, 64 << 20] {
        let tail = tail.min(len);
        f.seek(SeekFrom::Start(len - tail))?;
        let mut buf = vec![0u8; tail as usize];
        f.read_exact(&mut buf)?;
        if let Some((_, json)) = qemufile::stream::find_vmdesc(&buf) {
            return Ok(serde_json::from_slice::<serde_json::Value>(json).is_ok());
        }
        if tail == len {
            break;
        }
    }
    Ok(false)
}

/// What the framing check saw while the stream arrived.
#[derive(Debug, Default)]
struct Stats {
    machine: Option<String>,
    ram_sections: u64,
    pages: u64,
    zero: u64,
    commands: u64,
}

/// How the spooling phase ended.
enum End {
    Closed,
    IdleAfterVmdesc,
}

/// A failure of the peer or the connection, in words.
fn net(message: String) -> CliError {
    CliError::Network(message)
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

fn listen(args: &ListenArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, CliError> {
    let timeout = secs(args.timeout);
    let listener = TcpListener::bind(&args.addr)
        .map_err(|e| net(format!("cannot listen on {}: {e}", args.addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::Network(e.to_string()))?;
    // Accept with a deadline: poll a non-blocking listener.
    listener
        .set_nonblocking(true)
        .map_err(|e| CliError::Network(e.to_string()))?;
    let t0 = Instant::now();
    let (sock, peer) = loop {
        match listener.accept() {
            Ok(c) => break c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if t0.elapsed() > timeout {
                    return Err(CliError::Network(format!(
                        "no connection on {local} within {timeout:?}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(CliError::Network(format!("accept on {local}: {e}"))),
        }
    };
    drop(listener);
    sock.set_nonblocking(false)
        .map_err(|e| CliError::Network(e.to_string()))?;
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| CliError::Network(e.to_string()))?;
    let _ = sock.set_nodelay(true);
    // Received into a spool next to OUT, renamed to OUT once the stream
    // checks: a refused or broken stream leaves nothing behind.
    let mut output = Output::create(&args.output, None)?;
    let spool = output.spool_path().to_path_buf();
    let name = args.output.display().to_string();
    let started = Instant::now();
    let tee = qemufile::Reader::new(Tee::new(&sock, output.writer()));

    // Phase 1: framing while the stream arrives (no vmdesc yet: up to the
    // first device section, or EOF).
    let (device_or_eof, mut tee, stats) = {
        let mut dec = match StreamDecoder::open(tee, None) {
            Ok(d) => d,
            Err(e) => {
                let _ = sock.shutdown(Shutdown::Both);
                return Err(CliError::Network(format!(
                    "stream from {peer} (written to {name}): {e}; connection closed"
                )));
            }
        };
        let mut stats = Stats {
            machine: dec
                .configuration()
                .map(|c| String::from_utf8_lossy(c.machine()).into_owned()),
            ..Stats::default()
        };
        let stop = loop {
            match dec.next_event() {
                Ok(Some(Event::Section(_))) => break Ok(dec.item_offset()),
                Ok(Some(Event::Eof(_))) | Ok(None) => break Ok(dec.position()),
                Ok(Some(Event::IterativeHeader(h))) => {
                    if h.idstr.as_bytes() == b"ram" {
                        stats.ram_sections += 1;
                    }
                }
                Ok(Some(Event::Item(SectionItem::Ram(RamItem::Record(r))))) => match r.kind {
                    RamKind::Page => stats.pages += 1,
                    RamKind::Zero { .. } => stats.zero += 1,
                    _ => {}
                },
                Ok(Some(Event::Command(_))) => stats.commands += 1,
                Ok(Some(_)) => {}
                Err(e) => break Err(e),
            }
        };
        let eof = stop.is_ok() && dec.current_section().is_none();
        match stop {
            Ok(offset) => ((offset, eof), dec.into_inner().into_inner(), stats),
            Err(e) => {
                let received = dec.into_inner().into_inner().received;
                let _ = sock.shutdown(Shutdown::Both);
                return Err(CliError::Network(format!(
                    "stream from {peer}: {e}; connection closed after {received} bytes (written \
                     to {name})"
                )));
            }
        }
    };
    let (framing_end, at_eof) = device_or_eof;

    // Phase 2: spool the rest until the peer closes (or stays silent after
    // a complete vmdesc).
    let end = if at_eof && !tee.closed {
        End::IdleAfterVmdesc
    } else {
        let idle = Duration::from_millis(300);
        sock.set_read_timeout(Some(idle.min(timeout)))
            .map_err(|e| CliError::Network(e.to_string()))?;
        let mut last_data = Instant::now();
        let mut scratch = vec![0u8; BUF_SIZE];
        loop {
            match tee.read(&mut scratch) {
                Ok(0) => break End::Closed,
                Ok(_) => last_data = Instant::now(),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    tee.sink
                        .flush()
                        .map_err(|e| net(format!("writing {name}: {e}")))?;
                    if ends_with_vmdesc(&spool).unwrap_or(false) {
                        break End::IdleAfterVmdesc;
                    }
                    if last_data.elapsed() > timeout {
                        return Err(CliError::Network(format!(
                            "no data from {peer} for {timeout:?} after {} bytes (written to \
                             {name}): the stream is incomplete",
                            tee.received
                        )));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break End::Closed,
                Err(e) => return Err(CliError::Network(format!("receiving from {peer}: {e}"))),
            }
        }
    };
    let elapsed = started.elapsed();
    let received = tee.received;
    tee.sink
        .flush()
        .map_err(|e| net(format!("writing {name}: {e}")))?;
    let _ = sock.shutdown(Shutdown::Both);
    drop(sock);

    let _ = writeln!(
        out,
        "received {received} bytes from {peer} on {local} in {:.3} s ({:.0} MiB/s), written to \
         {name}; {}; validated while receiving: header, configuration ({}), {} RAM section(s) \
         with {} data page(s) and {} zero page(s), {} command(s) (first {framing_end} bytes)",
        elapsed.as_secs_f64(),
        mib_s(received, elapsed),
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
    if status == 0 {
        output.commit(&mut io::sink())?;
    } else {
        let _ = writeln!(
            err,
            "vmstate listen: {name} not written: the stream was refused (nothing is left behind)"
        );
    }
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

fn connect(addr: &str, timeout: Duration) -> Result<TcpStream, CliError> {
    let t0 = Instant::now();
    loop {
        let addrs: Vec<_> = addr
            .to_socket_addrs()
            .map_err(|e| net(format!("bad address {addr}: {e}")))?
            .collect();
        let mut last = None;
        for a in &addrs {
            match TcpStream::connect_timeout(a, timeout) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        let e = last.map_or_else(|| "no address".to_owned(), |e| e.to_string());
        if t0.elapsed() > timeout {
            return Err(CliError::Network(format!(
                "cannot connect to {addr} within {timeout:?}: {e}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes all of `buf`, counting in `sent` every byte the socket took (also
/// when it fails part way).
fn write_counted(sock: &mut TcpStream, mut buf: &[u8], sent: &mut u64) -> io::Result<()> {
    while !buf.is_empty() {
        match sock.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                *sent += n as u64;
                buf = &buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn send(args: &SendArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let timeout = secs(args.timeout);
    let name = args.file.display().to_string();
    let mut file = File::open(&args.file).map_err(CliError::file("open", &args.file))?;
    let len = file
        .metadata()
        .map_err(CliError::file("read", &args.file))?
        .len();
    let mut sock = connect(&args.addr, timeout)?;
    let peer = sock
        .peer_addr()
        .map_err(|e| CliError::Network(e.to_string()))?;
    let _ = sock.set_nodelay(true);
    // A peer that accepts but stops reading must not block us forever.
    sock.set_write_timeout(Some(timeout))
        .map_err(|e| CliError::Network(e.to_string()))?;
    let t0 = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut sent = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CliError::Network(format!("reading {name}: {e}"))),
        };
        if let Err(e) = write_counted(&mut sock, &buf[..n], &mut sent) {
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                return Err(CliError::Network(format!(
                    "{peer} stopped reading: no progress for {timeout:?} after {sent} of {len} \
                     bytes"
                )));
            }
            return Err(CliError::Network(format!(
                "{peer} closed the connection after {sent} of {len} bytes ({e}): the \
                 destination refused the stream (see its log)"
            )));
        }
    }
    let written = t0.elapsed();
    let _ = sock.shutdown(Shutdown::Write);
    // Wait for the peer to close (QEMU closes once it has loaded the stream).
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| CliError::Network(e.to_string()))?;
    let mut answer = 0u64;
    let how = loop {
        match sock.read(&mut buf) {
            Ok(0) => break "the peer closed the connection",
            Ok(n) => answer += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                // A QEMU that loaded the stream has read every byte (the
                // vmdesc too) and closes; a reset means it stopped reading.
                return Err(CliError::Network(format!(
                    "all {sent} bytes sent, but {peer} reset the connection: it stopped \
                     reading before the end of the stream, i.e. the destination refused it \
                     (see its log)"
                )));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(CliError::Network(format!(
                    "all {sent} bytes sent to {peer}, but it did not close the connection \
                     within {timeout:?}"
                )));
            }
            Err(e) => return Err(CliError::Network(format!("waiting for {peer}: {e}"))),
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

    #[test]
    fn tee_copies_everything_the_reader_consumes_or_buffers() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut sink = Vec::new();
        {
            let mut t = qemufile::Reader::new(Tee::new(&data[..], &mut sink));
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
    fn timeouts_never_panic() {
        for t in [1e20, f64::MAX, f64::INFINITY, f64::NAN, -1.0, 0.0] {
            assert!(secs(t) >= Duration::from_secs(1_000_000), "{t}");
        }
        assert_eq!(secs(0.25), Duration::from_millis(250));
    }
}
