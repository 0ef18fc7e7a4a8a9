//! Output files that are never left half-written: the bytes go to a
//! temporary file next to the destination, which replaces the destination
//! only once everything succeeded. A failed run leaves an existing
//! destination as it was, and writing a file onto the input it is made from
//! is refused.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// A destination being written: `-` (standard output, spooled so that
/// nothing is printed unless the run succeeds) or a file.
#[derive(Debug)]
pub struct Output {
    dest: Option<PathBuf>,
    temp: PathBuf,
    file: BufWriter<File>,
    committed: bool,
}

impl Output {
    /// Starts writing `dest`; `input` is the file it is made from (if any),
    /// which it must not be.
    pub fn create(dest: &Path, input: Option<&Path>) -> Result<Output, CliError> {
        let stdout = dest == Path::new("-");
        if let (false, Some(input)) = (stdout, input) {
            if same_file(dest, input) {
                return Err(CliError::Input(format!(
                    "{} is the input: refusing to overwrite the stream being read (write \
                     elsewhere, then rename)",
                    dest.display()
                )));
            }
        }
        let dir = match (stdout, dest.parent()) {
            (false, Some(p)) if !p.as_os_str().is_empty() => p.to_path_buf(),
            (false, _) => PathBuf::from("."),
            (true, _) => std::env::temp_dir(),
        };
        let stem = dest
            .file_name()
            .map_or_else(|| "stdout".into(), |n| n.to_string_lossy().into_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let temp = dir.join(format!(
            ".{stem}.vmstate-{}-{nanos}.tmp",
            std::process::id()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(CliError::file("create", &temp))?;
        Ok(Output {
            dest: (!stdout).then(|| dest.to_path_buf()),
            temp,
            file: BufWriter::with_capacity(1 << 20, file),
            committed: false,
        })
    }

    /// The temporary file the bytes go to until [`commit`](Self::commit).
    pub fn spool_path(&self) -> &Path {
        &self.temp
    }

    /// Where the bytes go meanwhile.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        &mut self.file
    }

    /// Everything succeeded: the destination gets the bytes (standard output
    /// gets a copy).
    pub fn commit(mut self, stdout: &mut dyn Write) -> Result<(), CliError> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        match &self.dest {
            Some(dest) => {
                std::fs::rename(&self.temp, dest).map_err(CliError::file("replace", dest))?;
                self.committed = true;
            }
            None => {
                let mut f = File::open(&self.temp)?;
                io::copy(&mut f, stdout)?;
                stdout.flush()?;
            }
        }
        Ok(())
    }

    /// Something failed, but the bytes written so far are wanted anyway (a
    /// forensic `listen --keep-partial`): they become `path`, and the
    /// destination is left as it was.
    pub fn keep_as(mut self, path: &Path) -> Result<(), CliError> {
        self.file.flush()?;
        std::fs::rename(&self.temp, path).map_err(CliError::file("keep", path))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // Not renamed into place (failed, or copied to stdout): remove it.
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// True if `a` and `b` name the same existing file (symlinks followed).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
