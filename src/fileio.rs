//! The files kcp writes and reads on the user's disk: the one
//! implementation of an atomic write (so no file is ever left half-written),
//! of the advisory lock file that keeps two kcp processes apart, and of
//! reading a text file (telling a missing file and one that is not text from
//! a failing disk).
//!
//! Callers wrap the `io::Error`s in their own typed errors, which name the
//! file and say what to do. `clippy.toml` disallows the raw calls this
//! module wraps everywhere else.
#![allow(clippy::disallowed_methods)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// What to do when the destination of a write exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Replace,
    /// Leave it alone; the write reports `false`.
    Keep,
}

/// How a file is written.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    pub existing: Existing,
    /// Owner read and write only (0600): files that name hosts, principals
    /// or secrets' locations.
    pub private: bool,
}

impl WriteOptions {
    pub const REPLACE: WriteOptions = WriteOptions {
        existing: Existing::Replace,
        private: false,
    };
    pub const KEEP: WriteOptions = WriteOptions {
        existing: Existing::Keep,
        private: false,
    };
    pub const PRIVATE: WriteOptions = WriteOptions {
        existing: Existing::Replace,
        private: true,
    };
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder,
/// fsync, rename over the old file, fsync of the folder. A crash leaves the
/// old content or the new, never a mix. Returns `false` when the file
/// existed and `options` say to keep it. When `path` is a symlink, the file
/// it points to is written (in its folder) and the link kept.
pub fn write_atomic(path: &Path, bytes: &[u8], options: WriteOptions) -> io::Result<bool> {
    let path = &follow_links(path)?;
    let temp = write_temp(path, bytes, options.private)?;
    match options.existing {
        Existing::Replace => {
            temp.persist(path).map_err(|e| e.error)?;
        }
        Existing::Keep => match temp.persist_noclobber(path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(e.error),
        },
    }
    sync_dir(path)?;
    Ok(true)
}

/// The first half of [`write_atomic`]: `bytes` in a fsynced temp file
/// beside `path` (named `.<file name>.<random>.tmp`), not yet renamed. Split
/// out so a crash between writing and renaming can be simulated.
pub fn write_temp(path: &Path, bytes: &[u8], private: bool) -> io::Result<NamedTempFile> {
    let path = &follow_links(path)?;
    let prefix = temp_prefix(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    if private {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o600));
    }
    let mut temp = builder.tempfile_in(parent_dir(path))?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    Ok(temp)
}

/// Removes temp files a crashed writer of `path` left behind; returns them.
pub fn remove_stale_temp_files(path: &Path) -> Vec<PathBuf> {
    let Ok(path) = follow_links(path) else {
        return Vec::new();
    };
    let path = &path;
    let prefix = temp_prefix(path);
    let Ok(entries) = fs::read_dir(parent_dir(path)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".tmp")
        })
        .filter_map(|entry| fs::remove_file(entry.path()).ok().map(|()| entry.path()))
        .collect()
}

/// Why a text file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file is not UTF-8 text (a binary file, another encoding).
    #[error("it is not UTF-8 text")]
    NotText,
    #[error(transparent)]
    Io(io::Error),
}

/// Reads a text file; `None` when it does not exist.
pub fn read_text(path: &Path) -> Result<Option<String>, ReadError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(ReadError::NotText),
        Err(e) => Err(ReadError::Io(e)),
    }
}

/// How a lock is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Readers: any number at once, none while a writer holds it.
    Shared,
    /// A writer: alone. Its pid is written into the lock file.
    Exclusive,
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it (its pid, when it wrote one).
    #[error("locked by another process")]
    Held { holder: Option<u32> },
    #[error("cannot open the lock file `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// An advisory lock on `.<name>.lock` beside a file (beside the file a
/// symlink points to, so every path to one file takes one lock), held while
/// this value lives; the kernel releases it when the process dies.
#[derive(Debug)]
pub struct LockFile {
    file: File,
}

impl LockFile {
    /// The lock file's path for `path`.
    pub fn path_for(path: &Path) -> PathBuf {
        // A link that cannot be read is locked where it is; writing through
        // it reports the error.
        let path = follow_links(path).unwrap_or_else(|_| path.to_owned());
        parent_dir(&path).join(format!(".{}.lock", file_name(&path)))
    }

    /// Takes the lock of `path` without waiting.
    pub fn acquire(path: &Path, mode: LockMode) -> Result<LockFile, LockError> {
        let lock_path = Self::path_for(path);
        let io_err = |source| LockError::Io {
            path: lock_path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err)?;
        let taken = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match taken {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    holder: read_holder(&mut file),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        if mode == LockMode::Exclusive {
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = write!(file, "{}", std::process::id());
        }
        Ok(LockFile { file })
    }
}

impl Drop for LockFile {
    /// Releases the lock now, not when the last copy of its descriptor
    /// closes: a child forked by another thread holds copies until it execs.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

fn read_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The path a chain of symlinks ends at (`path` itself when it is not a
/// link, or does not exist). The last link may dangle: its target is where
/// a new file goes. Folders on the way are not resolved: only the file's
/// own name matters for where its temp files and lock go.
pub fn follow_links(path: &Path) -> io::Result<PathBuf> {
    /// Linux's own limit on links followed in one lookup.
    const MAX_LINKS: usize = 40;
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current)?;
                current = parent_dir(&current).join(target);
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "`{}`: too many levels of symbolic links",
        path.display()
    )))
}

/// The folder a file is in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn temp_prefix(path: &Path) -> String {
    format!(".{}.", file_name(path))
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(parent_dir(path))?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_leaves_an_existing_file_alone_and_replace_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.yaml");
        assert!(write_atomic(&path, b"one", WriteOptions::KEEP).unwrap());
        assert!(!write_atomic(&path, b"two", WriteOptions::KEEP).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert!(write_atomic(&path, b"three", WriteOptions::PRIVATE).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"three");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "no temp file left behind");
    }

    #[test]
    fn a_binary_file_is_not_text_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(read_text(&path).unwrap().is_none());
        fs::write(&path, b"\xff\xfe\x00").unwrap();
        assert!(matches!(read_text(&path), Err(ReadError::NotText)));
    }

    #[test]
    fn an_exclusive_lock_excludes_everyone_and_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let held = LockFile::acquire(&path, LockMode::Exclusive).unwrap();
        for mode in [LockMode::Shared, LockMode::Exclusive] {
            match LockFile::acquire(&path, mode) {
                Err(LockError::Held { holder }) => assert_eq!(holder, Some(std::process::id())),
                other => panic!("{other:?}"),
            }
        }
        drop(held);
        let a = LockFile::acquire(&path, LockMode::Shared).unwrap();
        let _b = LockFile::acquire(&path, LockMode::Shared).unwrap();
        assert!(LockFile::acquire(&path, LockMode::Exclusive).is_err());
        drop(a);
    }

    #[test]
    fn dropping_a_lock_releases_it_even_while_a_copy_of_its_descriptor_lives() {
        // A child process forked by another thread holds a copy of every
        // open descriptor until it execs; an flock lasts while any copy of
        // its descriptor is open. Dropping the lock must release it anyway.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let held = LockFile::acquire(&path, LockMode::Exclusive).unwrap();
        let inherited = held.file.try_clone().unwrap();
        drop(held);
        let again = LockFile::acquire(&path, LockMode::Exclusive);
        assert!(again.is_ok(), "{again:?}");
        drop(inherited);
    }

    #[test]
    fn a_symlink_is_written_through_and_locked_where_its_file_lives() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        let real = dir.path().join("real/state.json");
        fs::write(&real, b"old").unwrap();
        let link = dir.path().join("state.json");
        std::os::unix::fs::symlink("real/state.json", &link).unwrap();
        let chain = dir.path().join("chain.json");
        std::os::unix::fs::symlink(&link, &chain).unwrap();

        assert!(write_atomic(&chain, b"new", WriteOptions::PRIVATE).unwrap());
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            fs::symlink_metadata(&chain)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
        assert!(!write_atomic(&link, b"newer", WriteOptions::KEEP).unwrap());

        assert_eq!(
            LockFile::path_for(&chain),
            dir.path().join("real/.state.json.lock")
        );
        let _held = LockFile::acquire(&link, LockMode::Exclusive).unwrap();
        assert!(LockFile::acquire(&real, LockMode::Shared).is_err());

        // A link to a file not written yet is written through too.
        let dangling = dir.path().join("new.json");
        std::os::unix::fs::symlink("real/new.json", &dangling).unwrap();
        assert!(write_atomic(&dangling, b"first", WriteOptions::KEEP).unwrap());
        assert_eq!(
            fs::read(dir.path().join("real/new.json")).unwrap(),
            b"first"
        );
        assert!(
            fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
