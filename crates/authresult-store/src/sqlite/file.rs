//! The database file on disk: created private (folder 0700, file 0600), and
//! refused when it or a sidecar (`-wal`, `-shm`, `-journal`) is a symbolic
//! link, not a regular file, another user's, or open to group or others: in a
//! shared folder such a file would hand the tokens to someone else.
//!
//! The checks look at the path without following a link (`lstat`, never an
//! open: see [`check`]), SQLite then opens it with `SQLITE_OPEN_NOFOLLOW`, and
//! [`verify`] checks after SQLite's open (before any token is written) that
//! the path still names the checked file. Left open: someone who may write
//! the folder swapping the file away and back between those two looks;
//! the folder the store creates is 0700.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{StoreError, UnsafeFileProblem};

/// The identity of a checked file (device and inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
}

/// The files SQLite keeps next to the database.
const SIDECARS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Creates the folder (0700) and the file (0600) when missing, then refuses
/// a file (or an existing sidecar) this user does not alone control.
/// Returns the identity of the checked file.
pub(super) fn prepare(path: &Path) -> Result<FileId, StoreError> {
    let id = match check(path)? {
        Some(id) => id,
        None => {
            create(path)?;
            check(path)?.ok_or_else(|| cannot_open(path, io::ErrorKind::NotFound.into()))?
        }
    };
    check_sidecars(path)?;
    Ok(id)
}

/// After SQLite opened `path`: it still names the file [`prepare`] checked,
/// and the sidecars SQLite made meanwhile are safe too.
pub(super) fn verify(path: &Path, id: FileId) -> Result<(), StoreError> {
    if check(path)? != Some(id) {
        return Err(unsafe_file(path, UnsafeFileProblem::Replaced));
    }
    check_sidecars(path)
}

/// `path` with its folders resolved (symbolic links in them followed: a
/// store under macOS's `/tmp`, a linked home or data folder), the file name
/// kept as it is: the file itself and its sidecars are never followed.
pub(super) fn resolve_folders(path: &Path) -> Result<PathBuf, StoreError> {
    let Some(name) = path.file_name() else {
        return Ok(path.to_owned());
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let folder = fs::canonicalize(folder).map_err(|e| cannot_open(path, e))?;
    Ok(folder.join(name))
}

fn check_sidecars(path: &Path) -> Result<(), StoreError> {
    for suffix in SIDECARS {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        check(&PathBuf::from(name))?;
    }
    Ok(())
}

fn unsafe_file(path: &Path, problem: UnsafeFileProblem) -> StoreError {
    StoreError::UnsafeFile {
        path: path.to_owned(),
        problem,
    }
}

fn cannot_open(path: &Path, error: io::Error) -> StoreError {
    StoreError::CannotOpen {
        path: path.to_owned(),
        source: Box::new(error),
    }
}

/// Creates the folder and an empty file, never through a symbolic link
/// (`O_CREAT | O_EXCL`); a file that appeared meanwhile is left to [`check`].
fn create(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut folder = fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder.create(parent).map_err(|e| cannot_open(path, e))?;
    }
    let mut file = fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // O_EXCL never follows a link; O_NOFOLLOW says so again.
        let nofollow = rustix::fs::OFlags::NOFOLLOW.bits();
        file.mode(0o600)
            .custom_flags(i32::try_from(nofollow).unwrap_or_default());
    }
    match file.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(cannot_open(path, e)),
    }
}

/// The identity of the file at `path`, `None` when there is none; an error
/// when it is not a regular file this user alone may access.
///
/// Looks without opening: closing a descriptor of a file SQLite has open in
/// this process would drop SQLite's POSIX locks on it (then another process
/// may reset the `-shm` under our mapping). SQLite's own open refuses a
/// symbolic link, and [`verify`] looks again once it has the file open.
#[cfg(unix)]
fn check(path: &Path) -> Result<Option<FileId>, StoreError> {
    use std::os::unix::fs::MetadataExt as _;

    let seen = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot_open(path, e)),
    };
    judge(path, &seen)?;
    Ok(Some(FileId {
        dev: seen.dev(),
        ino: seen.ino(),
    }))
}

#[cfg(unix)]
fn judge(path: &Path, meta: &fs::Metadata) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt as _;

    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(unsafe_file(path, UnsafeFileProblem::Symlink));
    }
    if kind.is_dir() {
        return Err(StoreError::IsADirectory {
            path: path.to_owned(),
        });
    }
    if !kind.is_file() {
        return Err(unsafe_file(path, UnsafeFileProblem::NotRegularFile));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(unsafe_file(
            path,
            UnsafeFileProblem::NotOwned { owner: meta.uid() },
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(unsafe_file(path, UnsafeFileProblem::OpenToOthers { mode }));
    }
    Ok(())
}

/// Without Unix owners and modes, only the kind of file is checked.
#[cfg(not(unix))]
fn check(path: &Path) -> Result<Option<FileId>, StoreError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(StoreError::IsADirectory {
            path: path.to_owned(),
        }),
        Ok(meta) if meta.file_type().is_symlink() => Err(unsafe_file(path, UnsafeFileProblem::Symlink)),
        Ok(meta) if !meta.is_file() => Err(unsafe_file(path, UnsafeFileProblem::NotRegularFile)),
        Ok(_) => Ok(Some(FileId { dev: 0, ino: 0 })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(cannot_open(path, e)),
    }
}
