//! Opening a migration stream: a file (read through a buffer, page data
//! skipped by seeking), standard input (spooled to a temporary file, since
//! the vmdesc needed to decode the sections is at the end) or the sample
//! stream built into the binary; finding the vmdesc at the end; a progress
//! bar on a terminal.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qemufile::stream::find_vmdesc;
use qemufile::{Error, ErrorKind, QemuRead, SliceReader};

use crate::error::CliError;
use vmstate_core::Limits;

/// The sample stream `vmstate dump` shows without a FILE: QEMU 10.0.2,
/// x86 `pc-i440fx-10.0`, paused, 32 MiB.
pub static SAMPLE_STREAM: &[u8] = include_bytes!("../data/x86-pc-min.mig");

/// Name shown for the sample stream.
pub const SAMPLE_NAME: &str = "<built-in sample x86-pc-min.mig>";

/// Buffer size of [`FileReader`] (at least QEMU's 32 KiB look-ahead).
const BUF_SIZE: usize = 1 << 16;

/// A buffered [`QemuRead`] over a seekable file: large skips seek instead of
/// reading, so page data that nobody looks at is never copied.
#[derive(Debug)]
pub struct FileReader {
    file: File,
    len: u64,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    pos: u64,
}

impl FileReader {
    /// Reads `file` from its current position, which must be 0.
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(FileReader {
            file,
            len,
            buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
            pos: 0,
        })
    }

    /// The file length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    fn io_err(&self, e: io::Error) -> Error {
        Error::new(self.pos, ErrorKind::Io(e))
    }

    fn fill(&mut self, want: usize) -> qemufile::Result<()> {
        if self.buffered() >= want {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < want {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => break,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_err(e)),
            }
        }
        Ok(())
    }

    fn eof(&self, at: u64, needed: u64) -> Error {
        Error::new(
            at,
            ErrorKind::UnexpectedEof {
                needed,
                available: self.len.saturating_sub(at),
            },
        )
    }
}

impl QemuRead for FileReader {
    fn position(&self) -> u64 {
        self.pos
    }

    fn read_into(&mut self, out: &mut [u8]) -> qemufile::Result<()> {
        let at = self.pos;
        let mut done = 0;
        while done < out.len() {
            if self.buffered() == 0 {
                self.fill((out.len() - done).min(BUF_SIZE))?;
                if self.buffered() == 0 {
                    return Err(self.eof(at, out.len() as u64));
                }
            }
            let n = self.buffered().min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
            self.pos += n as u64;
            done += n;
        }
        Ok(())
    }

    fn skip(&mut self, n: u64) -> qemufile::Result<()> {
        let at = self.pos;
        if at.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(self.eof(at, n));
        }
        let b = self.buffered() as u64;
        if n <= b {
            self.start += n as usize;
        } else {
            let ahead = i64::try_from(n - b).map_err(|_| self.eof(at, n))?;
            self.file
                .seek(SeekFrom::Current(ahead))
                .map_err(|e| self.io_err(e))?;
            self.start = 0;
            self.end = 0;
        }
        self.pos += n;
        Ok(())
    }

    fn peek(&mut self, offset: usize, len: usize) -> qemufile::Result<&[u8]> {
        match offset.checked_add(len) {
            Some(e) if e <= qemufile::MAX_PEEK => {}
            _ => {
                return Err(Error::new(
                    self.pos,
                    ErrorKind::PeekTooFar {
                        offset,
                        len,
                        max: qemufile::MAX_PEEK,
                    },
                ));
            }
        }
        self.fill(offset + len)?;
        let avail = &self.buf[self.start..self.end];
        let s = offset.min(avail.len());
        let e = (offset + len).min(avail.len());
        Ok(&avail[s..e])
    }
}

/// Either input: a file or bytes in memory.
#[derive(Debug)]
pub enum AnyReader<'a> {
    /// A file.
    File(FileReader),
    /// Bytes in memory.
    Slice(SliceReader<'a>),
}

impl QemuRead for AnyReader<'_> {
    fn position(&self) -> u64 {
        match self {
            AnyReader::File(f) => f.position(),
            AnyReader::Slice(s) => s.position(),
        }
    }
    fn read_into(&mut self, buf: &mut [u8]) -> qemufile::Result<()> {
        match self {
            AnyReader::File(f) => f.read_into(buf),
            AnyReader::Slice(s) => s.read_into(buf),
        }
    }
    fn skip(&mut self, n: u64) -> qemufile::Result<()> {
        match self {
            AnyReader::File(f) => f.skip(n),
            AnyReader::Slice(s) => s.skip(n),
        }
    }
    fn peek(&mut self, offset: usize, len: usize) -> qemufile::Result<&[u8]> {
        match self {
            AnyReader::File(f) => f.peek(offset, len),
            AnyReader::Slice(s) => s.peek(offset, len),
        }
    }
}

/// A temporary file removed when dropped.
#[derive(Debug)]
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An opened input stream with its vmdesc.
#[derive(Debug)]
pub struct Input {
    /// Name for messages.
    pub name: String,
    /// Total length in bytes.
    pub len: u64,
    /// The vmdesc JSON and the offset of its `0x06` byte, if the stream ends with one.
    pub vmdesc: Option<(u64, Arc<Vec<u8>>)>,
    reader: Option<AnyReader<'static>>,
    /// The file the stream is read from (standard input's spool file).
    path: Option<PathBuf>,
    /// Standard input spooled to a file, removed with the input.
    _temp: Option<TempFile>,
}

impl Input {
    /// Opens `path`: `None` is the built-in sample, `-` is standard input.
    /// The vmdesc is looked for in the last
    /// [`max_vmdesc_len`](Limits::max_vmdesc_len) + 6 bytes.
    pub fn open(path: Option<&Path>, limits: &Limits) -> Result<Input, CliError> {
        let max_tail = u64::from(limits.max_vmdesc_len) + 6;
        match path {
            None => Ok(Self::from_static(SAMPLE_NAME, SAMPLE_STREAM)),
            Some(p) if p == Path::new("-") => Self::open_stdin(max_tail),
            Some(p) => {
                let f = File::open(p).map_err(CliError::file("open", p))?;
                Self::from_file(p.display().to_string(), f, p.to_path_buf(), None, max_tail)
            }
        }
    }

    /// Opens `path` as [`open`](Self::open) does, and reads a vmstate BER
    /// stream document too (told by its header): the library converts it
    /// back into the QEMU stream it holds ([`vmstate_core::ber::stream::to_qemu`]),
    /// into a temporary file that the command then reads. Offsets in
    /// messages are that stream's.
    pub fn open_any(path: Option<&Path>, limits: &Limits) -> Result<Input, CliError> {
        let mut input = Self::open(path, limits)?;
        let Some(reader) = input.reader.as_mut() else {
            return Ok(input);
        };
        let head = reader.peek(0, 32).map_err(|e| CliError::Stream {
            name: input.name.clone(),
            source: e.into(),
        })?;
        if !vmstate_core::ber::is_ber(head) {
            return Ok(input);
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let spool =
            std::env::temp_dir().join(format!("vmstate-ber-{}-{nanos}.mig", std::process::id()));
        let temp = TempFile(spool.clone());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&spool)
            .map_err(CliError::file("create", &spool))?;
        let reader = input
            .take_reader()
            .ok_or_else(|| CliError::Input(format!("{}: input already used", input.name)))?;
        let w = qemufile::Writer::new(io::BufWriter::new(file));
        let w = vmstate_core::ber::stream::to_qemu(reader, w, *limits)
            .map_err(CliError::stream(&input.name))?;
        let mut file = w
            .into_inner()
            .map_err(|e| CliError::Output(io::Error::other(e.to_string())))?
            .into_inner()
            .map_err(|e| CliError::Output(e.into_error()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(CliError::file("read", &spool))?;
        let max_tail = u64::from(limits.max_vmdesc_len) + 6;
        let name = format!("{} (BER, read as the QEMU stream it holds)", input.name);
        Self::from_file(name, file, spool, Some(temp), max_tail)
    }

    /// An input over bytes in memory.
    pub fn from_static(name: &str, data: &'static [u8]) -> Input {
        let vmdesc = find_vmdesc(data).map(|(at, j)| (at as u64, Arc::new(j.to_vec())));
        Input {
            name: name.to_owned(),
            len: data.len() as u64,
            vmdesc,
            reader: Some(AnyReader::Slice(SliceReader::new(data))),
            path: None,
            _temp: None,
        }
    }

    fn open_stdin(max_tail: u64) -> Result<Input, CliError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path =
            std::env::temp_dir().join(format!("vmstate-stdin-{}-{nanos}.mig", std::process::id()));
        let temp = TempFile(path.clone());
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(CliError::file("create", &path))?;
        io::copy(&mut io::stdin().lock(), &mut f)
            .map_err(CliError::file("spool standard input to", &path))?;
        f.seek(SeekFrom::Start(0))
            .map_err(CliError::file("read", &path))?;
        Self::from_file("<stdin>".into(), f, path, Some(temp), max_tail)
    }

    fn from_file(
        name: String,
        mut f: File,
        path: PathBuf,
        temp: Option<TempFile>,
        max_tail: u64,
    ) -> Result<Input, CliError> {
        let io = |source| CliError::File {
            action: "read",
            path: name.clone(),
            source,
        };
        let len = f.metadata().map_err(io)?.len();
        let vmdesc = read_tail_vmdesc(&mut f, len, max_tail).map_err(io)?;
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        let reader = FileReader::new(f).map_err(io)?;
        Ok(Input {
            name,
            len,
            vmdesc,
            reader: Some(AnyReader::File(reader)),
            path: Some(path),
            _temp: temp,
        })
    }

    /// The file the stream is read from (for standard input, the file it
    /// was spooled to, which lives as long as the input); `None` for the
    /// built-in sample. For reads at file offsets (mapped-ram pages).
    pub fn file_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Takes the reader (once).
    pub fn take_reader(&mut self) -> Option<AnyReader<'static>> {
        self.reader.take()
    }
}

fn read_tail_vmdesc(
    f: &mut File,
    len: u64,
    max_tail: u64,
) -> io::Result<Option<(u64, Arc<Vec<u8>>)>> {
    // Most vmdescs are well under 1 MiB; try small tails first. The match
    // nearest the end wins, whatever the tail, as long as the tail holds it.
    let mut buf = Vec::new();
    for tail in [128u64 << 10, 1 << 20, 16 << 20, max_tail] {
        let tail = tail.min(len).min(max_tail);
        let start = len - tail;
        f.seek(SeekFrom::Start(start))?;
        buf.clear();
        buf.reserve_exact(tail as usize);
        Read::by_ref(f).take(tail).read_to_end(&mut buf)?;
        if buf.len() as u64 != tail {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while being read",
            ));
        }
        if let Some((at, json)) = find_vmdesc(&buf) {
            let (at, json_len) = (at, json.len());
            // Keep the JSON only, in place.
            buf.drain(..buf.len() - json_len);
            return Ok(Some((start + at as u64, Arc::new(buf))));
        }
        if tail == len {
            break;
        }
    }
    Ok(None)
}

/// A progress bar on stderr, drawn only when stderr is a terminal and the
/// work is long (`total` of at least 64 MiB).
#[derive(Debug)]
pub struct Progress {
    total: u64,
    enabled: bool,
    last: Instant,
    drawn: bool,
}

impl Progress {
    /// A bar for `total` bytes.
    pub fn new(total: u64) -> Self {
        Progress {
            total,
            enabled: total >= 64 << 20 && io::stderr().is_terminal(),
            last: Instant::now(),
            drawn: false,
        }
    }

    /// Reports that `pos` bytes are done (redraws at most 10 times a second).
    pub fn update(&mut self, pos: u64) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        let frac = if self.total == 0 {
            1.0
        } else {
            (pos as f64 / self.total as f64).min(1.0)
        };
        let width = 40;
        let filled = (frac * width as f64) as usize;
        let mut e = io::stderr().lock();
        let _ = write!(
            e,
            "\r[{}{}] {:5.1}% {} / {} MiB",
            "#".repeat(filled),
            "-".repeat(width - filled),
            frac * 100.0,
            pos >> 20,
            self.total >> 20
        );
        let _ = e.flush();
        self.drawn = true;
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if self.drawn {
            let mut e = io::stderr().lock();
            let _ = write!(e, "\r{}\r", " ".repeat(72));
            let _ = e.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
