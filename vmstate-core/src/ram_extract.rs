//! Guest RAM extraction: every RAM block of a stream into its own sparse
//! file, as QEMU's `analyze-migration.py -x` does.
//!
//! [`RamExtractor`] writes the blocks of a stream's block list into a
//! directory, one file per block, and [`extract_ram`] feeds it from a
//! [`StreamDecoder`] (it is also a [`RamSink`], for
//! [`Registry::load_with`](crate::registry::Registry::load_with)):
//!
//! * **File contents.** Each file is as long as its block (`set_len`, so
//!   what the stream never sends is a hole and reads as zeros). A data page
//!   is written at its offset in the block; a zero page with fill byte 0 is
//!   left as a hole (or, if the page held data from an earlier record,
//!   zeroed again); a zero page with another fill byte is written (QEMU
//!   only sends 0, and the stream engine refuses the others as QEMU's
//!   loader does; [`RamExtractor::zero_page`] takes any). A data page whose
//!   bytes are all zero is treated as a zero page, so files stay sparse. An
//!   XBZRLE page is decoded against the page's current contents (the
//!   previous version sent), as QEMU's loader does. A page that would run
//!   past the end of its block is cut at the end (files are never longer
//!   than their block).
//! * **mapped-ram.** With the `mapped-ram` capability (with or without
//!   multifd: the file is the same) a block's pages are not records but a
//!   file region: a dirty bitmap and the pages at fixed offsets. They are
//!   read at those offsets from a [`RandomAccess`] source over the same
//!   file ([`RamExtractor::with_source`]), 64 KiB of bitmap and at most
//!   1 MiB of pages at a time, and the pages whose bit is set are written.
//!   Without a source they are read forward through the stream (the
//!   bitmap whole, at most 1/32768 of the block, then the pages, the holes
//!   between them read and dropped).
//! * **Not extractable**, with an error saying so: multifd over sockets (a
//!   `MULTIFD_FLUSH` record without mapped-ram: the pages went over other
//!   channels, not in this stream), RDMA (`HOOK` records), compressed pages
//!   (refused by the RAM reader), page sizes above [`MAX_PAGE_SIZE`].
//!
//! **File names.** Block names come from the stream and are untrusted
//! (`/rom@etc/acpi/tables`, but also `../../etc/passwd`). A block's file
//! name is [`block_file_name`]: the name's bytes with ASCII letters,
//! digits and `. _ - @ +` kept and every other byte, `%` itself, and a
//! leading `.` written as `%XX` (upper-case hex): `pc.ram` stays `pc.ram`,
//! `/rom@etc/acpi/tables` becomes `%2From@etc%2Facpi%2Ftables`, `..`
//! becomes `%2E.`. The mapping is one to one (percent-decoding gives the
//! name back) and never yields a path separator, `.`, `..`, a hidden file or
//! a control character. Two exceptions, which contain a `~` (that ordinary
//! names never do, since `~` is escaped): an empty name, and a name whose
//! escaped form is longer than 200 bytes, become the escaped form's first
//! 180 bytes or fewer, then `~` and the block's index in the block list
//! (`~3`). Files are created with `create_new`: two blocks can never end up
//! in one file, also on a case-insensitive file system (an error says so).
//!
//! **All or nothing.** The files are written into a new temporary directory
//! next to the destination (`.NAME.vmstate-PID-N-M.tmp`), which becomes the
//! destination only in [`RamExtractor::finish`], after every file is
//! synced; dropping the extractor without `finish` (an error, a truncated
//! stream) removes it. The destination must not exist, or be an empty
//! directory.
//!
//! **Bounded memory.** Pages are handled one at a time (mapped-ram pages in
//! runs of at most 1 MiB); no buffer is sized by a length from the stream
//! except a page (at most [`MAX_PAGE_SIZE`]) and a mapped-ram bitmap read
//! without a source (grown as its bytes arrive); one block file is open at a
//! time; the number of blocks is bounded by [`ExtractOptions::max_blocks`].
//!
//! ```no_run
//! use vmstate_core::dynamic::DescriptionArena;
//! use vmstate_core::ram_extract::{ExtractOptions, RamExtractor, extract_ram};
//! use vmstate_core::stream::{StreamDecoder, StreamSchema};
//!
//! let bytes = std::fs::read("x86-pc-min.mig")?;
//! let arena = DescriptionArena::new();
//! let schema = StreamSchema::from_stream(&arena, &bytes)?;
//! let mut dec = StreamDecoder::open(qemufile::SliceReader::new(&bytes), schema.as_ref())?;
//! let mut ex = RamExtractor::create("ram-out".as_ref(), ExtractOptions::default())?
//!     // mapped-ram streams: the pages are read at their file offsets
//!     .with_source(Box::new(std::io::Cursor::new(bytes.clone())));
//! extract_ram(&mut dec, &mut ex, |_| {})?;
//! for block in ex.finish()? {
//!     println!("{} -> {}: {} pages", block.name, block.file_name, block.pages);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use qemufile::QemuRead;
use qemufile::ram::{MappedRamHeader, RamBlock, RamConfig, RamItem, RamKind, RamRecord};
use qemufile::stream::{Command, IdStr, SectionHeader};

use crate::registry::{RamPayload, RamSink};
use crate::stream::{Event, IterativeKind, SectionItem, StreamDecoder};
use crate::{Error, Result};

/// The largest target page size extracted (QEMU's largest is 64 KiB).
pub const MAX_PAGE_SIZE: u64 = 1 << 20;

/// Escaped names longer than this become a prefix and the block's index.
const FILE_NAME_MAX: usize = 200;
/// The prefix kept of such names.
const FILE_NAME_PREFIX: usize = 180;
/// Bytes of a mapped-ram bitmap read at a time.
const BITMAP_CHUNK: u64 = 64 << 10;
/// Bytes of mapped-ram pages read at a time.
const RUN_BYTES: u64 = 1 << 20;
/// Bytes compared at a time when a range must read as zeros.
const ZERO_CHUNK: usize = 64 << 10;

/// Reads at absolute offsets of the stream's file: where a mapped-ram
/// block's bitmap and pages are. Every `Read + Seek` is one (a [`File`]
/// opened a second time, a [`std::io::Cursor`] over the bytes).
pub trait RandomAccess {
    /// Fills `buf` with the bytes at `offset`; fewer bytes there is an error.
    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl<T: Read + Seek + ?Sized> RandomAccess for T {
    fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.seek(SeekFrom::Start(offset))?;
        self.read_exact(buf)
    }
}

/// Limits of an extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtractOptions {
    /// Most RAM blocks accepted (each becomes a file; default 4096).
    pub max_blocks: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions { max_blocks: 4096 }
    }
}

impl ExtractOptions {
    /// The options with [`max_blocks`](Self::max_blocks) set to `n`.
    pub fn with_max_blocks(mut self, n: usize) -> Self {
        self.max_blocks = n;
        self
    }
}

/// One extracted block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedBlock {
    /// The block's name in the stream.
    pub name: IdStr,
    /// Its file in the destination directory ([`block_file_name`]).
    pub file_name: String,
    /// The block length, and the file's.
    pub length: u64,
    /// Pages with data: PAGE and XBZRLE records, zero pages with a fill
    /// byte other than 0, mapped-ram pages marked in the bitmap. A page
    /// sent twice counts twice.
    pub pages: u64,
    /// Of [`pages`](Self::pages), the XBZRLE pages.
    pub xbzrle_pages: u64,
    /// Zero pages with fill byte 0 (holes in the file).
    pub zero_pages: u64,
    /// The block came with a mapped-ram region.
    pub mapped: bool,
}

/// Why an extraction failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The stream is broken, or holds RAM that cannot be extracted: the
    /// error names the byte offset.
    #[error(transparent)]
    Stream(#[from] Error),
    /// Writing the output failed.
    #[error("cannot {action} {path}: {source}")]
    Output {
        /// What was being done: "create", "write", "rename", ...
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl ExtractError {
    /// Records the stream offset of a stream error, unless it has one.
    pub fn at_offset(self, offset: u64) -> Self {
        match self {
            ExtractError::Stream(e) => ExtractError::Stream(e.at_offset(offset)),
            other => other,
        }
    }
}

impl From<ExtractError> for Error {
    fn from(e: ExtractError) -> Error {
        match e {
            ExtractError::Stream(e) => e,
            other => Error::msg(other),
        }
    }
}

type Res<T> = std::result::Result<T, ExtractError>;

fn output(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ExtractError + use<> {
    let path = path.to_path_buf();
    move |source| ExtractError::Output {
        action,
        path,
        source,
    }
}

fn stream_msg(message: String) -> ExtractError {
    ExtractError::Stream(Error::msg(message))
}

/// The file name of the block named `name`, the `index`-th of the block
/// list (see the [module documentation](self)): safe inside a directory,
/// and different for different names.
pub fn block_file_name(name: &[u8], index: usize) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, &b) in name.iter().enumerate() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'-' | b'@' | b'+')
            || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if !out.is_empty() && out.len() <= FILE_NAME_MAX {
        return out;
    }
    // Cut at an escape boundary: never inside a %XX.
    let mut cut = out.len().min(FILE_NAME_PREFIX);
    let bytes = out.as_bytes();
    for back in 1..=2 {
        if cut >= back && bytes.get(cut - back) == Some(&b'%') {
            cut -= back;
            break;
        }
    }
    out.truncate(cut);
    out.push('~');
    out.push_str(&index.to_string());
    out
}

/// Decodes an XBZRLE page (`encoded`, as in a `RAM_SAVE_FLAG_XBZRLE`
/// record) onto `page`, which holds the previous contents: a sequence of
/// an unchanged run and a changed run (ULEB128 lengths of at most two
/// bytes, the changed run's bytes following it); only the first unchanged
/// run may be empty, a changed run never is. Malformed data is refused as
/// QEMU refuses it ("Failed to load XBZRLE page - decode error!").
pub fn xbzrle_decode(encoded: &[u8], page: &mut [u8]) -> Result<()> {
    let bad = |why: &str| {
        Error::msg(format!(
            "Failed to load XBZRLE page - decode error! ({why})"
        ))
    };
    let (mut i, mut d) = (0usize, 0usize);
    while i < encoded.len() {
        if encoded.len() - i < 2 {
            return Err(bad("truncated run"));
        }
        let (zrun, n) = uleb128_small(&encoded[i..]).ok_or_else(|| bad("bad run length"))?;
        if i > 0 && zrun == 0 {
            return Err(bad("empty unchanged run"));
        }
        i += n;
        d += zrun;
        if d > page.len() {
            return Err(bad("unchanged run past the end of the page"));
        }
        if encoded.len() - i < 2 {
            return Err(bad("truncated run"));
        }
        let (nzrun, n) = uleb128_small(&encoded[i..]).ok_or_else(|| bad("bad run length"))?;
        if nzrun == 0 {
            return Err(bad("empty changed run"));
        }
        i += n;
        let (Some(dst), Some(src)) = (page.get_mut(d..d + nzrun), encoded.get(i..i + nzrun)) else {
            return Err(bad("changed run past the end of the page or the data"));
        };
        dst.copy_from_slice(src);
        d += nzrun;
        i += nzrun;
    }
    Ok(())
}

/// A ULEB128 number of one or two bytes, and its length.
fn uleb128_small(b: &[u8]) -> Option<(usize, usize)> {
    let b0 = *b.first()?;
    if b0 & 0x80 == 0 {
        return Some((usize::from(b0), 1));
    }
    let b1 = *b.get(1)?;
    if b1 & 0x80 != 0 {
        return None;
    }
    Some((usize::from(b0 & 0x7f) | usize::from(b1) << 7, 2))
}

#[derive(Debug)]
struct BlockState {
    info: ExtractedBlock,
    /// Non-zero bytes were written: a zero page must check what is there.
    dirty: bool,
}

/// Writes RAM blocks into sparse files in a temporary directory that
/// becomes the destination in [`finish`](Self::finish) (see the [module
/// documentation](self)).
pub struct RamExtractor {
    dest: PathBuf,
    temp: PathBuf,
    committed: bool,
    options: ExtractOptions,
    page_size: u64,
    mapped_ram: bool,
    blocks: Vec<BlockState>,
    index: HashMap<IdStr, usize>,
    open: Option<(usize, File)>,
    source: Option<Box<dyn RandomAccess>>,
    /// Page-sized scratch (fill pages, XBZRLE) and mapped-ram runs.
    buf: Vec<u8>,
    /// Bytes of a mapped-ram bitmap read at a time from the source.
    bitmap_chunk: u64,
    /// Most bytes of mapped-ram pages read at a time.
    run_bytes: u64,
}

impl std::fmt::Debug for RamExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RamExtractor")
            .field("dest", &self.dest)
            .field("temp", &self.temp)
            .field("page_size", &self.page_size)
            .field("blocks", &self.blocks.len())
            .field("source", &self.source.is_some())
            .finish()
    }
}

impl RamExtractor {
    /// Starts an extraction into the directory `dest`, which must not
    /// exist or be empty: creates the temporary directory next to it.
    /// The page size is 4096 until [`set_config`](Self::set_config).
    pub fn create(dest: &Path, options: ExtractOptions) -> Res<Self> {
        match std::fs::read_dir(dest) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(ExtractError::Output {
                        action: "extract into",
                        path: dest.to_path_buf(),
                        source: io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "the directory is not empty (give a new or empty directory)",
                        ),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                let e = if dest.exists() && !dest.is_dir() {
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "it exists and is not a directory",
                    )
                } else {
                    e
                };
                return Err(output("extract into", dest)(e));
            }
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stem = dest
            .file_name()
            .map_or_else(|| "ram".into(), |n| n.to_string_lossy().into_owned());
        static SERIAL: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let temp = parent.join(format!(
            ".{stem}.vmstate-{}-{nanos}-{}.tmp",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&temp).map_err(output("create", &temp))?;
        Ok(RamExtractor {
            dest: dest.to_path_buf(),
            temp,
            committed: false,
            options,
            page_size: 4096,
            mapped_ram: false,
            blocks: Vec::new(),
            index: HashMap::new(),
            open: None,
            source: None,
            buf: Vec::new(),
            bitmap_chunk: BITMAP_CHUNK,
            run_bytes: RUN_BYTES,
        })
    }

    /// Where mapped-ram regions are read: the stream's file, at absolute
    /// offsets (the stream must have been read from the file's start).
    pub fn with_source(mut self, source: Box<dyn RandomAccess>) -> Self {
        self.source = Some(source);
        self
    }

    /// The RAM format in effect ([`StreamDecoder::ram_config`]): page size
    /// (at most [`MAX_PAGE_SIZE`]) and mapped-ram.
    pub fn set_config(&mut self, config: &RamConfig) -> Res<()> {
        if !config.page_size.is_power_of_two() || config.page_size > MAX_PAGE_SIZE {
            return Err(stream_msg(format!(
                "RAM page size {} is not a power of two of at most {MAX_PAGE_SIZE}: not extracted",
                config.page_size
            )));
        }
        self.page_size = config.page_size;
        self.mapped_ram = config.mapped_ram;
        Ok(())
    }

    /// The temporary directory the files are written to until
    /// [`finish`](Self::finish).
    pub fn temp_dir(&self) -> &Path {
        &self.temp
    }

    /// The blocks so far, in block-list order.
    pub fn blocks(&self) -> impl Iterator<Item = &ExtractedBlock> {
        self.blocks.iter().map(|b| &b.info)
    }

    /// A block-list entry: creates its file (as long as the block) and,
    /// for a mapped-ram block, writes the pages of its region. A name
    /// listed again with the same length keeps its file.
    pub fn block(&mut self, block: &RamBlock) -> Res<()> {
        self.block_in(block, None)
    }

    fn block_in(&mut self, block: &RamBlock, fallback: Option<&mut dyn Region>) -> Res<()> {
        let i = match self.index.get(&block.name) {
            Some(&i) if self.blocks[i].info.length == block.length => i,
            Some(_) => {
                return Err(stream_msg(format!(
                    "RAM block \"{}\" is listed again with another length ({:#x})",
                    block.name, block.length
                )));
            }
            None => self.new_block(&block.name, block.length)?,
        };
        if let Some(header) = &block.mapped_ram {
            self.blocks[i].info.mapped = true;
            self.mapped_block(i, header, block.length, fallback)?;
        }
        Ok(())
    }

    fn new_block(&mut self, name: &IdStr, length: u64) -> Res<usize> {
        if self.blocks.len() >= self.options.max_blocks {
            return Err(stream_msg(format!(
                "more than {} RAM blocks: not extracted (ExtractOptions::max_blocks)",
                self.options.max_blocks
            )));
        }
        let i = self.blocks.len();
        let file_name = block_file_name(name.as_bytes(), i);
        let path = self.temp.join(&file_name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    let other = self
                        .blocks
                        .iter()
                        .find(|b| b.info.file_name.eq_ignore_ascii_case(&file_name))
                        .map_or_else(String::new, |b| format!(" (block \"{}\")", b.info.name));
                    stream_msg(format!(
                        "RAM block \"{name}\": its file {file_name} already exists{other}: \
                         the file system does not tell the names apart (case-insensitive?)"
                    ))
                } else {
                    output("create", &path)(e)
                }
            })?;
        file.set_len(length).map_err(output("size", &path))?;
        self.open = Some((i, file));
        self.blocks.push(BlockState {
            info: ExtractedBlock {
                name: name.clone(),
                file_name,
                length,
                pages: 0,
                xbzrle_pages: 0,
                zero_pages: 0,
                mapped: false,
            },
            dirty: false,
        });
        self.index.insert(name.clone(), i);
        Ok(i)
    }

    fn lookup(&self, block: &IdStr, offset: u64) -> Res<usize> {
        let Some(&i) = self.index.get(block) else {
            return Err(stream_msg(format!(
                "Unknown ramblock \"{block}\": the page names a block that is not in the \
                 stream's block list"
            )));
        };
        let length = self.blocks[i].info.length;
        if offset >= length {
            return Err(stream_msg(format!(
                "Illegal RAM offset {offset:x}: block \"{block}\" is {length:#x} bytes"
            )));
        }
        Ok(i)
    }

    /// A data page of `block` at `offset` (`data` is the page).
    pub fn page(&mut self, block: &IdStr, offset: u64, data: &[u8]) -> Res<()> {
        let i = self.lookup(block, offset)?;
        self.blocks[i].info.pages += 1;
        self.put_span(i, offset, data)
    }

    /// A zero page of `block` at `offset` filled with `fill`: 0 leaves a
    /// hole (or zeroes what an earlier page wrote), another byte is written.
    pub fn zero_page(&mut self, block: &IdStr, offset: u64, fill: u8) -> Res<()> {
        let i = self.lookup(block, offset)?;
        let len = self.page_len(i, offset);
        if fill == 0 {
            self.blocks[i].info.zero_pages += 1;
            return self.zero_range(i, offset, len);
        }
        self.blocks[i].info.pages += 1;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.resize(self.page_size as usize, fill);
        let r = self.put_span(i, offset, &buf);
        self.buf = buf;
        r
    }

    /// An XBZRLE page of `block` at `offset`: `encoded` is decoded onto the
    /// page's current contents ([`xbzrle_decode`]).
    pub fn xbzrle_page(&mut self, block: &IdStr, offset: u64, encoded: &[u8]) -> Res<()> {
        let i = self.lookup(block, offset)?;
        let len = self.page_len(i, offset);
        let mut page = std::mem::take(&mut self.buf);
        page.clear();
        page.resize(self.page_size as usize, 0);
        let r = self
            .read_back(i, offset, &mut page[..len as usize])
            .and_then(|()| Ok(xbzrle_decode(encoded, &mut page)?))
            .and_then(|()| self.put_span(i, offset, &page));
        self.buf = page;
        r?;
        let info = &mut self.blocks[i].info;
        info.pages += 1;
        info.xbzrle_pages += 1;
        Ok(())
    }

    /// The other records: `MULTIFD_FLUSH` without mapped-ram (multifd over
    /// sockets) and `HOOK` (RDMA) say the pages are not in this stream.
    pub fn record(&mut self, record: &RamRecord) -> Res<()> {
        match record.kind {
            RamKind::MultifdFlush if !self.mapped_ram => Err(stream_msg(
                "MULTIFD_FLUSH: the stream was sent with multifd over sockets, its pages went \
                 over other channels that are not in this stream: RAM cannot be extracted"
                    .into(),
            )),
            RamKind::Hook => Err(stream_msg(
                "RAM hook: the stream was sent over RDMA, its pages are not in the stream: RAM \
                 cannot be extracted"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// Everything was read: syncs the files and makes the temporary
    /// directory the destination; returns the blocks.
    pub fn finish(mut self) -> Res<Vec<ExtractedBlock>> {
        self.open = None;
        for b in &self.blocks {
            let path = self.temp.join(&b.info.file_name);
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(output("open", &path))?;
            f.sync_all().map_err(output("sync", &path))?;
        }
        std::fs::rename(&self.temp, &self.dest).map_err(output("rename into", &self.dest))?;
        self.committed = true;
        Ok(self.blocks.drain(..).map(|b| b.info).collect())
    }

    /// Bytes of the page at `offset` inside block `i`.
    fn page_len(&self, i: usize, offset: u64) -> u64 {
        self.page_size
            .min(self.blocks[i].info.length.saturating_sub(offset))
    }

    fn file(&mut self, i: usize) -> Res<&mut File> {
        if self.open.as_ref().map(|(j, _)| *j) != Some(i) {
            self.open = None;
            let path = self.temp.join(&self.blocks[i].info.file_name);
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(output("open", &path))?;
            self.open = Some((i, f));
        }
        match &mut self.open {
            Some((_, f)) => Ok(f),
            None => Err(stream_msg("no block file open".into())),
        }
    }

    fn path(&self, i: usize) -> PathBuf {
        self.temp.join(&self.blocks[i].info.file_name)
    }

    fn write_at(&mut self, i: usize, offset: u64, data: &[u8]) -> Res<()> {
        let f = self.file(i)?;
        let r = f
            .seek(SeekFrom::Start(offset))
            .and_then(|_| f.write_all(data));
        r.map_err(|e| output("write", &self.path(i))(e))?;
        self.blocks[i].dirty = true;
        Ok(())
    }

    fn read_back(&mut self, i: usize, offset: u64, buf: &mut [u8]) -> Res<()> {
        if !self.blocks[i].dirty {
            buf.fill(0);
            return Ok(());
        }
        let f = self.file(i)?;
        let r = f
            .seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(buf));
        r.map_err(|e| output("read back", &self.path(i))(e))
    }

    /// Writes `data` at `offset` of block `i`, cut at the block's end:
    /// page-sized pieces of zeros become holes (or zero what was there),
    /// the rest is written in as few writes as it takes.
    fn put_span(&mut self, i: usize, offset: u64, data: &[u8]) -> Res<()> {
        let room = self.blocks[i].info.length.saturating_sub(offset);
        let data = &data[..data.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        let ps = self.page_size as usize;
        let mut run: Option<usize> = None; // start of non-zero pieces not written yet
        let mut at = 0;
        while at < data.len() {
            let end = (at + ps).min(data.len());
            let zero = data[at..end].iter().all(|&b| b == 0);
            if zero {
                if let Some(s) = run.take() {
                    self.write_at(i, offset + s as u64, &data[s..at])?;
                }
                self.zero_range(i, offset + at as u64, (end - at) as u64)?;
            } else if run.is_none() {
                run = Some(at);
            }
            at = end;
        }
        if let Some(s) = run {
            self.write_at(i, offset + s as u64, &data[s..])?;
        }
        Ok(())
    }

    /// Makes `len` bytes at `offset` of block `i` read as zeros: nothing to
    /// do for a block never written; otherwise what is not zero is zeroed.
    fn zero_range(&mut self, i: usize, offset: u64, len: u64) -> Res<()> {
        if !self.blocks[i].dirty {
            return Ok(());
        }
        let mut back = vec![0u8; ZERO_CHUNK.min(usize::try_from(len).unwrap_or(ZERO_CHUNK))];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(back.len() as u64) as usize;
            let chunk = &mut back[..n];
            self.read_back(i, offset + done, chunk)?;
            if chunk.iter().any(|&b| b != 0) {
                chunk.fill(0);
                self.write_at(i, offset + done, chunk)?;
            }
            done += n as u64;
        }
        Ok(())
    }

    /// Reads the bitmap and the marked pages of a mapped-ram block.
    /// Writes the marked pages of a mapped-ram block, read from the
    /// extractor's source, else from `fallback` (the region in the stream).
    fn mapped_block(
        &mut self,
        i: usize,
        header: &MappedRamHeader,
        length: u64,
        fallback: Option<&mut dyn Region>,
    ) -> Res<()> {
        let ps = self.page_size;
        if header.page_size != ps {
            return Err(stream_msg(format!(
                "mapped-ram block \"{}\": header page size {} differs from the target page \
                 size {ps}",
                self.blocks[i].info.name, header.page_size
            )));
        }
        if let Some(mut source) = self.source.take() {
            let r = self.mapped_pages(i, header, length, &mut Source(source.as_mut()));
            self.source = Some(source);
            return r;
        }
        match fallback {
            Some(region) => self.mapped_pages(i, header, length, region),
            None => Err(stream_msg(format!(
                "mapped-ram block \"{}\": its pages are at file offsets {:#x}..: give the \
                 stream's file as the extractor's source (RamExtractor::with_source)",
                self.blocks[i].info.name, header.pages_offset
            ))),
        }
    }

    fn mapped_pages(
        &mut self,
        i: usize,
        header: &MappedRamHeader,
        length: u64,
        region: &mut dyn Region,
    ) -> Res<()> {
        let ps = self.page_size;
        let pages = length / ps;
        let run_max = (self.run_bytes / ps).max(1);
        let bitmap_len = header.bitmap_len(length);
        // Read forward only, the whole bitmap comes before the pages.
        let step = if region.random() {
            self.bitmap_chunk.max(1)
        } else {
            bitmap_len.max(1)
        };
        let mut chunk = Vec::new();
        let mut run: Option<(u64, u64)> = None; // first page, count
        let mut chunk_start = 0u64;
        while chunk_start < bitmap_len && chunk_start * 8 < pages {
            let n = (bitmap_len - chunk_start).min(step);
            read_growing(
                region,
                &mut chunk,
                header.bitmap_offset.saturating_add(chunk_start),
                n,
            )?;
            for (k, &byte) in chunk.iter().enumerate() {
                let first = (chunk_start + k as u64) * 8;
                if byte == 0 {
                    if let Some((s, c)) = run.take() {
                        self.mapped_run(i, header, s, c, region)?;
                    }
                    continue;
                }
                for bit in 0..8u64 {
                    let p = first + bit;
                    let set = byte & (1 << bit) != 0 && p < pages;
                    match (&mut run, set) {
                        (Some((s, c)), true) if *s + *c == p && *c < run_max => *c += 1,
                        (_, true) => {
                            if let Some((s, c)) = run.take() {
                                self.mapped_run(i, header, s, c, region)?;
                            }
                            run = Some((p, 1));
                        }
                        (_, false) => {
                            if let Some((s, c)) = run.take() {
                                self.mapped_run(i, header, s, c, region)?;
                            }
                        }
                    }
                }
            }
            chunk_start += n;
        }
        if let Some((s, c)) = run {
            self.mapped_run(i, header, s, c, region)?;
        }
        Ok(())
    }

    fn mapped_run(
        &mut self,
        i: usize,
        header: &MappedRamHeader,
        first: u64,
        count: u64,
        region: &mut dyn Region,
    ) -> Res<()> {
        let ps = self.page_size;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.resize((count * ps) as usize, 0);
        let at = header.pages_offset.saturating_add(first * ps);
        let r = region
            .read_at(&mut buf, at)
            .and_then(|()| self.put_span(i, first * ps, &buf));
        self.buf = buf;
        r?;
        self.blocks[i].info.pages += count;
        Ok(())
    }
}

/// Replaces `out` with the `len` bytes at `offset`, growing it as they
/// arrive: a length the input does not hold fails at its end, before it
/// is all allocated.
fn read_growing(region: &mut dyn Region, out: &mut Vec<u8>, offset: u64, len: u64) -> Res<()> {
    const STEP: u64 = 64 << 10;
    out.clear();
    while (out.len() as u64) < len {
        let old = out.len();
        let n = (len - old as u64).min(STEP) as usize;
        out.resize(old + n, 0);
        region.read_at(&mut out[old..], offset.saturating_add(old as u64))?;
    }
    Ok(())
}

/// Where a mapped-ram region is read from.
trait Region {
    /// Reads at any offset; otherwise only at ascending offsets.
    fn random(&self) -> bool;
    /// Fills `buf` with the bytes at file offset `offset`.
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> Res<()>;
}

/// The extractor's source.
struct Source<'a>(&'a mut dyn RandomAccess);

impl Region for Source<'_> {
    fn random(&self) -> bool {
        true
    }

    fn read_at(&mut self, buf: &mut [u8], at: u64) -> Res<()> {
        self.0.read_exact_at(buf, at).map_err(|e| {
            let kind = if e.kind() == io::ErrorKind::UnexpectedEof {
                qemufile::ErrorKind::UnexpectedEof {
                    needed: buf.len() as u64,
                    available: 0,
                }
            } else {
                qemufile::ErrorKind::Io(e)
            };
            ExtractError::Stream(Error::from(qemufile::Error::new(at, kind)))
        })
    }
}

/// The region as the payload of a decoder's block item, read forward.
struct DecoderRegion<'a, 's, 'd, R: QemuRead>(&'a mut StreamDecoder<'s, 'd, R>);

impl<R: QemuRead> Region for DecoderRegion<'_, '_, '_, R> {
    fn random(&self) -> bool {
        false
    }

    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> Res<()> {
        let here = self.0.position();
        let Some(mut gap) = offset.checked_sub(here) else {
            return Err(ExtractError::Stream(
                Error::msg(format!(
                    "mapped-ram region: offset {offset:#x} is behind the read position"
                ))
                .at_offset(here),
            ));
        };
        let mut skip = [0u8; 8192];
        while gap > 0 {
            let n = gap.min(skip.len() as u64) as usize;
            self.0.read_payload(&mut skip[..n])?;
            gap -= n as u64;
        }
        Ok(self.0.read_payload(buf)?)
    }
}

/// The region as a [`RamSink`] sees it, read forward.
struct SinkRegion<'a, 'b>(&'a mut RamPayload<'b>);

impl Region for SinkRegion<'_, '_> {
    fn random(&self) -> bool {
        false
    }

    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> Res<()> {
        self.0.seek_to(offset)?;
        Ok(self.0.read(buf)?)
    }
}

impl Drop for RamExtractor {
    fn drop(&mut self) {
        // Not renamed into place (failed or abandoned): leave nothing.
        self.open = None;
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp);
        }
    }
}

/// Extracts the RAM of the stream `decoder` reads, up to its end, into
/// `extractor` (then call [`RamExtractor::finish`]). Device sections are
/// skipped: decoded with the decoder's schema where it describes them
/// (which checks them), else up to their footer. Postcopy streams are
/// refused: their RAM is split around a packaged device state. Calls
/// `progress` with the input position now and then.
pub fn extract_ram<R: QemuRead>(
    decoder: &mut StreamDecoder<'_, '_, R>,
    extractor: &mut RamExtractor,
    mut progress: impl FnMut(u64),
) -> Res<()> {
    let mut scratch = Scratch::default();
    let mut in_ram = false;
    loop {
        let at = decoder.position() + decoder.payload_remaining();
        let Some(event) = decoder.next_event()? else {
            return Ok(());
        };
        match event {
            Event::Section(_) => {
                if decoder.section_description().is_ok() {
                    decoder.skip_section()?;
                } else {
                    decoder.skip_section_raw()?;
                }
            }
            Event::IterativeHeader(h) => {
                in_ram = IterativeKind::of(h.idstr.as_bytes()) == IterativeKind::Ram;
                if in_ram {
                    extractor
                        .set_config(decoder.ram_config())
                        .map_err(|e| e.at_offset(at))?;
                }
            }
            Event::Item(SectionItem::Ram(item)) if in_ram => {
                ram_item(decoder, extractor, &item, &mut scratch)
                    .map_err(|e| in_ram_section(e, at))?;
                progress(decoder.position());
            }
            Event::Item(_) | Event::IterativeEnd | Event::Eof(_) => {}
            Event::Command(c) => refuse_postcopy(&c).map_err(|e| e.at_offset(at))?,
        }
    }
}

fn in_ram_section(e: ExtractError, at: u64) -> ExtractError {
    match e {
        ExtractError::Stream(e) => ExtractError::Stream(e.at_offset(at).in_section("ram", 0)),
        other => other,
    }
}

fn refuse_postcopy(c: &Command) -> Res<()> {
    use qemufile::stream::{MIG_CMD_PACKAGED, MIG_CMD_POSTCOPY_LISTEN, MIG_CMD_POSTCOPY_RUN};
    if matches!(
        c.cmd,
        MIG_CMD_PACKAGED | MIG_CMD_POSTCOPY_LISTEN | MIG_CMD_POSTCOPY_RUN
    ) {
        return Err(stream_msg(format!(
            "command {}: a postcopy stream, whose RAM is not extracted (its last pages \
             follow a packaged device state)",
            c.name().unwrap_or("unknown")
        )));
    }
    Ok(())
}

fn ram_item<R: QemuRead>(
    decoder: &mut StreamDecoder<'_, '_, R>,
    extractor: &mut RamExtractor,
    item: &RamItem,
    scratch: &mut Scratch,
) -> Res<()> {
    let record = match item {
        RamItem::Block(block) if extractor.source.is_none() => {
            return extractor.block_in(block, Some(&mut DecoderRegion(decoder)));
        }
        RamItem::Block(block) => return extractor.block(block),
        RamItem::Record(record) => record,
    };
    if let Some(name) = &record.block {
        scratch.last = Some(name.clone());
    }
    let page_record = matches!(
        record.kind,
        RamKind::Zero { .. } | RamKind::Page | RamKind::Xbzrle { .. }
    );
    if !page_record {
        return extractor.record(record);
    }
    let Some(name) = &scratch.last else {
        return Err(stream_msg("RAM page record without a block".into()));
    };
    if let RamKind::Zero { fill } = record.kind {
        return extractor.zero_page(name, record.addr, fill);
    }
    let n = decoder.payload_remaining();
    if n > MAX_PAGE_SIZE {
        return Err(stream_msg(format!("RAM page of {n} bytes: too large")));
    }
    let data = &mut scratch.page;
    data.clear();
    data.resize(n as usize, 0);
    decoder.read_payload(data)?;
    match record.kind {
        RamKind::Page => extractor.page(name, record.addr, data),
        _ => extractor.xbzrle_page(name, record.addr, data),
    }
}

/// What [`extract_ram`] keeps between RAM items.
#[derive(Default)]
struct Scratch {
    /// The block a CONTINUE record refers to.
    last: Option<IdStr>,
    page: Vec<u8>,
}

/// As a [`RamSink`] (for
/// [`Registry::load_with`](crate::registry::Registry::load_with)): RAM goes
/// to the files while the registry loads the devices. Zero pages reach a
/// sink without their fill byte (the stream engine refuses any but 0); a
/// mapped-ram region is read from the extractor's source if it has one,
/// else forward through the region.
impl RamSink for RamExtractor {
    fn section(&mut self, _header: &SectionHeader, config: &RamConfig) -> Result<()> {
        Ok(self.set_config(config)?)
    }

    fn block(&mut self, block: &RamBlock, region: &mut RamPayload<'_>) -> Result<()> {
        Ok(self.block_in(block, Some(&mut SinkRegion(region)))?)
    }

    fn zero_page(&mut self, block: &IdStr, offset: u64) -> Result<()> {
        Ok(RamExtractor::zero_page(self, block, offset, 0)?)
    }

    fn page(&mut self, block: &IdStr, offset: u64, data: &mut RamPayload<'_>) -> Result<()> {
        let data = read_sink_payload(data)?;
        Ok(RamExtractor::page(self, block, offset, &data)?)
    }

    fn xbzrle_page(&mut self, block: &IdStr, offset: u64, data: &mut RamPayload<'_>) -> Result<()> {
        let data = read_sink_payload(data)?;
        Ok(RamExtractor::xbzrle_page(self, block, offset, &data)?)
    }

    fn record(&mut self, record: &RamRecord) -> Result<()> {
        Ok(RamExtractor::record(self, record)?)
    }
}

fn read_sink_payload(data: &mut RamPayload<'_>) -> Result<Vec<u8>> {
    let n = data.remaining();
    if n > MAX_PAGE_SIZE {
        return Err(
            Error::msg(format!("RAM page of {n} bytes: too large")).at_offset(data.offset())
        );
    }
    let mut buf = vec![0u8; n as usize];
    data.read(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{LoadOptions, Registry, StreamSettings};
    use qemufile::stream::{ConfigSubsection, Configuration, SectionKind, StreamWriter};
    use qemufile::{QemuWrite, SliceReader};

    /// A fresh path under the system temporary directory, removed (with
    /// whatever is there) when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!(
                "vmstate-ram-extract-{tag}-{}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }

        fn dest(&self) -> PathBuf {
            self.0.join("out")
        }

        /// Entries of the scratch directory other than `out`.
        fn leftovers(&self) -> Vec<String> {
            std::fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != "out")
                .collect()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn id(s: &[u8]) -> IdStr {
        IdStr::new(s).unwrap()
    }

    fn percent_decode(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn file_names_are_safe_and_one_to_one() {
        let cases: &[(&[u8], &str)] = &[
            (b"pc.ram", "pc.ram"),
            (b"/rom@etc/acpi/tables", "%2From@etc%2Facpi%2Ftables"),
            (b"..", "%2E."),
            (b".", "%2E"),
            (b".hidden", "%2Ehidden"),
            (b"a/../../b", "a%2F..%2F..%2Fb"),
            (b"%2F", "%252F"),
            (b"\x1b[2J", "%1B%5B2J"),
            (b"a b\\c:d", "a%20b%5Cc%3Ad"),
            (b"~1", "%7E1"),
            (b"\xff\x00", "%FF%00"),
            (b"", "~7"),
        ];
        for (name, want) in cases {
            assert_eq!(block_file_name(name, 7), *want, "{name:?}");
        }
        // Long names: a prefix cut outside an escape, then ~index.
        let long = [b'/'; 255];
        let f = block_file_name(&long, 3);
        assert!(f.ends_with("~3") && f.len() <= FILE_NAME_PREFIX + 2, "{f}");
        assert!(f.trim_end_matches("~3").len() % 3 == 0, "{f}");
        let mut long2 = [b'x'; 255];
        assert_eq!(block_file_name(&long2, 0), format!("{}~0", "x".repeat(180)));
        long2[254] = b'y';
        assert_eq!(block_file_name(&long2, 1), format!("{}~1", "x".repeat(180)));

        // Many names, pseudo-random bytes, and near-collisions.
        let mut names: Vec<Vec<u8>> = vec![
            b"a/b".to_vec(),
            b"a%2Fb".to_vec(),
            b"a_b".to_vec(),
            b"a%b".to_vec(),
            b"A/B".to_vec(),
            vec![],
            vec![b'.'; 3],
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 70) as usize;
            let name = (0..len)
                .map(|k| {
                    let v = x.rotate_left(k as u32 * 5) as u8;
                    // Mostly the bytes that matter.
                    match v % 4 {
                        0 => b"/.%~"[usize::from(v >> 2) % 4],
                        _ => v,
                    }
                })
                .collect();
            names.push(name);
        }
        names.sort();
        names.dedup();
        let mut seen = std::collections::HashSet::new();
        for (i, name) in names.iter().enumerate() {
            let f = block_file_name(name, i);
            assert!(seen.insert(f.clone()), "{name:?} -> {f} twice");
            assert!(!f.is_empty() && f != "." && f != ".." && !f.starts_with('.'));
            assert!(f.len() <= FILE_NAME_MAX, "{f}");
            assert!(
                f.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'\\')
            );
            if !f.contains('~') {
                assert_eq!(percent_decode(&f), *name, "{f}");
            }
        }
    }

    #[test]
    fn xbzrle_decodes_as_qemu() {
        // A real page from QEMU 10.0.2: byte 0x46c (the BIOS tick count)
        // changed to 0x28.
        let mut page = vec![0u8; 4096];
        page[0x46c] = 0x27;
        page[0x46d] = 0x11;
        xbzrle_decode(&[0xec, 0x08, 0x01, 0x28], &mut page).unwrap();
        assert_eq!((page[0x46c], page[0x46d]), (0x28, 0x11));
        // A first run of 0, two changed runs, the rest unchanged.
        let mut page = vec![7u8; 16];
        xbzrle_decode(&[0, 2, 1, 2, 3, 1, 9], &mut page).unwrap();
        assert_eq!(page[..6], [1, 2, 7, 7, 7, 9]);
        assert!(page[6..].iter().all(|&b| b == 7));
        xbzrle_decode(&[], &mut page).unwrap();
        // Malformed, as QEMU's decoder refuses it.
        for bad in [
            &[5][..],                  // one byte left for a run
            &[0, 1, 1, 0, 1, 1],       // an empty unchanged run after the first
            &[1, 0, 0],                // an empty changed run
            &[20, 1, 1],               // past the end of the page
            &[0, 4, 1, 2],             // changed bytes missing
            &[0x80, 0x80, 0x01, 1, 1], // a three-byte length
        ] {
            let mut page = vec![0u8; 16];
            let e = xbzrle_decode(bad, &mut page).unwrap_err();
            assert!(e.to_string().contains("decode error"), "{bad:?}: {e}");
        }
    }

    fn block(name: &str, length: u64) -> RamBlock {
        RamBlock::new(name, length).unwrap()
    }

    #[test]
    fn pages_zero_pages_and_fill_land_at_their_offsets() {
        let s = Scratch::new("pages");
        let mut ex = RamExtractor::create(&s.dest(), ExtractOptions::default()).unwrap();
        ex.block(&block("pc.ram", 0x10000)).unwrap();
        ex.block(&block("/rom@etc/acpi/rsdp", 0x1800)).unwrap();
        let ram = id(b"pc.ram");
        ex.page(&ram, 0x2000, &[0xaa; 4096]).unwrap();
        ex.page(&ram, 0x3000, &[0xbb; 4096]).unwrap();
        // A zero page over a data page zeroes it; a fill byte is written.
        ex.zero_page(&ram, 0x3000, 0).unwrap();
        ex.zero_page(&ram, 0x5000, 0x5a).unwrap();
        ex.zero_page(&ram, 0x8000, 0).unwrap();
        // XBZRLE over the page at 0x2000.
        ex.xbzrle_page(&ram, 0x2000, &[0x10, 0x02, 1, 2]).unwrap();
        // A page past the block's end is cut at the end.
        let rsdp = id(b"/rom@etc/acpi/rsdp");
        ex.page(&rsdp, 0x1000, &[0xcc; 4096]).unwrap();
        let tmp = ex.temp_dir().to_path_buf();
        assert!(tmp.is_dir() && !s.dest().exists());
        let blocks = ex.finish().unwrap();
        assert!(!tmp.exists());
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            (
                blocks[0].pages,
                blocks[0].zero_pages,
                blocks[0].xbzrle_pages
            ),
            (4, 2, 1)
        );
        assert_eq!(blocks[1].file_name, "%2From@etc%2Facpi%2Frsdp");
        let ram = std::fs::read(s.dest().join("pc.ram")).unwrap();
        let mut want = vec![0u8; 0x10000];
        want[0x2000..0x3000].fill(0xaa);
        want[0x2010..0x2012].copy_from_slice(&[1, 2]);
        want[0x5000..0x6000].fill(0x5a);
        assert!(ram == want);
        let rsdp = std::fs::read(s.dest().join("%2From@etc%2Facpi%2Frsdp")).unwrap();
        assert_eq!(rsdp.len(), 0x1800);
        assert!(
            rsdp[..0x1000].iter().all(|&b| b == 0) && rsdp[0x1000..].iter().all(|&b| b == 0xcc)
        );
        assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    }

    #[cfg(unix)]
    #[test]
    fn zero_pages_are_holes() {
        use std::os::unix::fs::MetadataExt;
        let s = Scratch::new("holes");
        let mut ex = RamExtractor::create(&s.dest(), ExtractOptions::default()).unwrap();
        ex.block(&block("pc.ram", 64 << 20)).unwrap();
        let ram = id(b"pc.ram");
        for p in 0..(64u64 << 20) / 4096 {
            match p {
                100 => ex.page(&ram, p * 4096, &[1; 4096]).unwrap(),
                // All-zero data pages are holes too.
                200 => ex.page(&ram, p * 4096, &[0; 4096]).unwrap(),
                _ => ex.zero_page(&ram, p * 4096, 0).unwrap(),
            }
        }
        ex.finish().unwrap();
        let m = std::fs::metadata(s.dest().join("pc.ram")).unwrap();
        assert_eq!(m.len(), 64 << 20);
        // One page of data: at most a few file system blocks.
        assert!(
            m.blocks() * 512 <= 64 << 10,
            "{} bytes allocated",
            m.blocks() * 512
        );
    }

    #[test]
    fn bad_pages_and_blocks_are_refused() {
        let s = Scratch::new("bad");
        let o = ExtractOptions::default().with_max_blocks(2);
        let mut ex = RamExtractor::create(&s.dest(), o).unwrap();
        ex.block(&block("a", 0x2000)).unwrap();
        ex.block(&block("a", 0x2000)).unwrap(); // listed again: the same file
        let e = ex.block(&block("a", 0x3000)).unwrap_err();
        assert!(e.to_string().contains("listed again"), "{e}");
        let e = ex.page(&id(b"b"), 0, &[0; 4096]).unwrap_err();
        assert!(e.to_string().contains("Unknown ramblock \"b\""), "{e}");
        let e = ex.zero_page(&id(b"a"), 0x2000, 0).unwrap_err();
        assert!(e.to_string().contains("Illegal RAM offset 2000"), "{e}");
        let e = ex.xbzrle_page(&id(b"a"), 0, &[9]).unwrap_err();
        assert!(e.to_string().contains("decode error"), "{e}");
        ex.block(&block("b", 0x1000)).unwrap();
        let e = ex.block(&block("c", 0x1000)).unwrap_err();
        assert!(e.to_string().contains("more than 2 RAM blocks"), "{e}");
        let mut flush = RamRecord::multifd_flush();
        let e = ex.record(&flush).unwrap_err();
        assert!(e.to_string().contains("multifd"), "{e}");
        flush = RamRecord::hook();
        assert!(ex.record(&flush).is_err());
        ex.record(&RamRecord::eos()).unwrap();
        let mut big = RamConfig::new(4096);
        big.page_size = 2 << 20;
        assert!(ex.set_config(&big).is_err());
        // Abandoned: nothing is left.
        drop(ex);
        assert!(!s.dest().exists());
        assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    }

    #[test]
    fn the_destination_must_be_new_or_empty() {
        let s = Scratch::new("dest");
        std::fs::create_dir(s.dest()).unwrap();
        let mut ex = RamExtractor::create(&s.dest(), ExtractOptions::default()).unwrap();
        ex.block(&block("pc.ram", 0x1000)).unwrap();
        ex.finish().unwrap();
        assert!(s.dest().join("pc.ram").is_file());
        let e = RamExtractor::create(&s.dest(), ExtractOptions::default()).unwrap_err();
        assert!(e.to_string().contains("not empty"), "{e}");
        let file = s.0.join("file");
        std::fs::write(&file, b"x").unwrap();
        let e = RamExtractor::create(&file, ExtractOptions::default()).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        assert!(matches!(e, ExtractError::Output { .. }));
    }

    /// A stream with one `ram` section (START with the block list, END),
    /// its body written by `write`.
    fn ram_stream(config: &Configuration, write: impl FnOnce(&mut Vec<u8>, &RamWriter)) -> Vec<u8> {
        let mut w = StreamWriter::new(Vec::new(), qemufile::stream::StreamOptions::default());
        w.write_header().unwrap();
        w.write_configuration(config).unwrap();
        let start = SectionHeader::start(2, "ram", 0, 4).unwrap();
        w.write_section_header(&start).unwrap();
        let rw = RamWriter::new(RamConfig::from_configuration(Some(config), 4096));
        write(w.body(), &rw);
        rw.write_item(w.body(), &RamItem::Record(RamRecord::eos()))
            .unwrap();
        w.write_section_footer().unwrap();
        w.write_section_header(&start.continuation(SectionKind::End))
            .unwrap();
        rw.write_item(w.body(), &RamItem::Record(RamRecord::eos()))
            .unwrap();
        w.write_section_footer().unwrap();
        w.write_eof().unwrap();
        w.into_inner()
    }

    use qemufile::ram::RamWriter;

    /// A mapped-ram stream: block `a` of 40 pages (pages 0, 3..=12, 20 and
    /// 39 set; page 5 all zero), block `b` of 3 pages (page 1 set). Page `i`
    /// of `a` is filled with `i + 1`, except page 5.
    fn mapped_stream() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut config = Configuration::new("pc-i440fx-10.0");
        config.subsections.push(ConfigSubsection::Capabilities {
            version: 1,
            caps: vec![id(b"mapped-ram")],
        });
        let (len_a, len_b) = (40 * 4096u64, 3 * 4096u64);
        let set_a: Vec<u64> = [0, 20, 39].into_iter().chain(3..=12).collect();
        let mut want_a = vec![0u8; len_a as usize];
        for &p in &set_a {
            if p != 5 {
                want_a[(p * 4096) as usize..((p + 1) * 4096) as usize].fill(p as u8 + 1);
            }
        }
        let mut want_b = vec![0u8; len_b as usize];
        want_b[4096..8192].fill(0xb1);
        let bytes = ram_stream(&config, |out, rw| {
            rw.write_item(out, &RamItem::Record(RamRecord::mem_size(len_a + len_b)))
                .unwrap();
            for (name, len, set) in [("a", len_a, set_a.clone()), ("b", len_b, vec![1])] {
                let at = out.position() + 1 + name.len() as u64 + 8;
                let h = MappedRamHeader::for_block(at, len, 4096);
                let mut b = RamBlock::new(name, len).unwrap();
                b.mapped_ram = Some(h);
                rw.write_item(out, &RamItem::Block(b)).unwrap();
                let mut bitmap = vec![0u8; h.bitmap_len(len) as usize];
                for &p in &set {
                    bitmap[(p / 8) as usize] |= 1 << (p % 8);
                }
                // Bits past the block's pages are ignored.
                *bitmap.last_mut().unwrap() |= 0x80;
                qemufile::ram::write_mapped_region(out, &h, len, &bitmap, |i, page| {
                    let fill = match (name, i) {
                        ("b", _) => 0xb1,
                        (_, 5) => 0,
                        _ => i as u8 + 1,
                    };
                    page.fill(fill);
                    Ok(())
                })
                .unwrap();
            }
        });
        (bytes, want_a, want_b)
    }

    fn check_mapped(dest: &Path, blocks: &[ExtractedBlock], want_a: &[u8], want_b: &[u8]) {
        assert_eq!(blocks.len(), 2);
        assert!(blocks.iter().all(|b| b.mapped));
        assert_eq!((blocks[0].pages, blocks[1].pages), (13, 1));
        assert!(std::fs::read(dest.join("a")).unwrap() == want_a);
        assert!(std::fs::read(dest.join("b")).unwrap() == want_b);
    }

    #[test]
    fn mapped_ram_pages_are_read_at_their_file_offsets() {
        let (bytes, want_a, want_b) = mapped_stream();
        // From a source, with small bitmap chunks and runs, and without
        // (forward through the decoder).
        for (source, chunk, run) in [
            (true, 1, 3 * 4096),
            (true, 64 << 10, 1 << 20),
            (false, 1, 4096),
        ] {
            let s = Scratch::new("mapped");
            let mut ex = RamExtractor::create(&s.dest(), ExtractOptions::default()).unwrap();
            ex.bitmap_chunk = chunk;
            ex.run_bytes = run;
            if source {
                ex = ex.with_source(Box::new(io::Cursor::new(bytes.clone())));
            }
            let mut dec = StreamDecoder::open(SliceReader::new(&bytes), None).unwrap();
            let mut positions = 0;
            extract_ram(&mut dec, &mut ex, |_| positions += 1).unwrap();
            assert!(positions > 0);
            let blocks = ex.finish().unwrap();
            check_mapped(&s.dest(), &blocks, &want_a, &want_b);
        }
        // As the RAM sink of a registry load: forward through the region.
        let s = Scratch::new("mapped-sink");
        let mut ex = RamExtractor::create(&s.dest(), ExtractOptions::default()).unwrap();
        Registry::new()
            .load_with(
                SliceReader::new(&bytes),
                &StreamSettings::new("pc-i440fx-10.0"),
                &mut ex,
                &LoadOptions::default(),
            )
            .unwrap();
        let blocks = ex.finish().unwrap();
        check_mapped(&s.dest(), &blocks, &want_a, &want_b);
    }

    #[test]
    fn a_truncated_mapped_ram_stream_leaves_nothing() {
        let (bytes, _, _) = mapped_stream();
        for cut in [bytes.len() / 2, bytes.len() - 40, bytes.len() - 1] {
            let short = &bytes[..cut];
            for source in [false, true] {
                let s = Scratch::new("mapped-cut");
                let mut ex = RamExtractor::create(&s.dest(), ExtractOptions::default()).unwrap();
                if source {
                    ex = ex.with_source(Box::new(io::Cursor::new(short.to_vec())));
                }
                let mut dec = StreamDecoder::open(SliceReader::new(short), None).unwrap();
                let e = extract_ram(&mut dec, &mut ex, |_| {}).unwrap_err();
                assert!(matches!(e, ExtractError::Stream(_)), "{e}");
                drop(ex);
                assert!(!s.dest().exists());
                assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
            }
        }
    }
}
