//! Bad files: each gives a typed error, and a file that is not a healthy
//! store of ours is never treated as empty nor rewritten.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::time::Duration;

use authresult_core::testing;
use authresult_core::{FailureKind, SessionKey, SessionStore as _};
use authresult_store::{SqliteOptions, SqliteStore, StoreError, UnsafeFileProblem};

use crate::common::{Rng, child_command, child_role, ignores_file_permissions, store_error};

/// A store file with `sessions` sessions carrying big profiles, closed.
async fn populated(path: &Path, sessions: u64) {
    let store = SqliteStore::open(path).await.unwrap();
    for n in 0..sessions {
        let mut session = testing::sample_session("t", &format!("p{n}"), n);
        if let Some(profile) = session.auth.profile.as_mut() {
            profile.insert("bio".into(), "x".repeat(1500));
        }
        store.put(&session).await.unwrap();
    }
    store.close().await;
}

async fn open_error(path: &Path) -> StoreError {
    SqliteStore::open(path).await.unwrap_err()
}

/// Mode 0600, as the store creates its files.
fn private(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test]
async fn a_truncated_file_is_corrupt_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    populated(&path, 60).await;
    let full = std::fs::read(&path).unwrap();
    assert!(full.len() > 64 * 1024, "several pages");
    for keep in [full.len() / 2, full.len() - 4096, 4096 + 100, 50] {
        std::fs::write(&path, &full[..keep]).unwrap();
        let error = open_error(&path).await;
        assert!(
            matches!(
                error,
                StoreError::Corrupt { .. } | StoreError::NotADatabase { .. }
            ),
            "truncated to {keep}: {error:?}"
        );
        assert_eq!(error.kind(), FailureKind::Protocol);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            full[..keep],
            "the file is not modified"
        );
    }
}

#[tokio::test]
async fn random_bytes_are_not_a_database_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let bytes = Rng::seeded(7).bytes(64 * 1024);
    std::fs::write(&path, &bytes).unwrap();
    private(&path);
    let error = open_error(&path).await;
    assert!(matches!(error, StoreError::NotADatabase { .. }), "{error:?}");
    assert!(error.to_string().contains("is not a session database"));
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file is not modified");
    assert!(!dir.path().join("sessions.db-wal").exists());
}

#[tokio::test]
async fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    std::fs::create_dir(&path).unwrap();
    let error = open_error(&path).await;
    assert!(matches!(error, StoreError::IsADirectory { .. }), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Configuration);
}

#[tokio::test]
async fn a_file_where_the_folder_should_be_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data"), b"a file").unwrap();
    let error = open_error(&dir.path().join("data/sessions.db")).await;
    assert!(matches!(error, StoreError::CannotOpen { .. }), "{error:?}");
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    populated(&path, 2).await;
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let error = open_error(&path).await;
    assert!(
        matches!(
            error,
            StoreError::NewerSchema {
                found: 99,
                supported: 4
            }
        ),
        "{error:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file is not rewritten");
}

#[tokio::test]
async fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me');")
        .unwrap();
    drop(conn);
    private(&path);
    let before = std::fs::read(&path).unwrap();
    let error = open_error(&path).await;
    assert!(matches!(error, StoreError::ForeignDatabase { .. }), "{error:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn corrupt_pages_are_reported_not_read_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    populated(&path, 60).await;
    let mut bytes = std::fs::read(&path).unwrap();
    // Scribble over the middle pages, keeping the header page intact.
    let mut rng = Rng::seeded(11);
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle - 8192..middle + 8192] {
        *b = rng.next_u64() as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    let error = open_error(&path).await;
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

const READ_ONLY_ROLE: &str = "read-only-open";

/// Child (run as an unprivileged user when the tests run as root): opening
/// the read-only file must give `ReadOnly`.
#[tokio::test]
async fn child_read_only_open() {
    if child_role().as_deref() != Some(READ_ONLY_ROLE) {
        return;
    }
    let path = std::env::var("AUTHRESULT_STORE_DB").unwrap();
    let error = SqliteStore::open(path).await.unwrap_err();
    assert!(matches!(error, StoreError::ReadOnly { .. }), "{error:?}");
    println!("read-only refused");
}

#[tokio::test]
async fn a_read_only_file_is_refused() {
    use std::os::unix::process::CommandExt as _;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    populated(&path, 2).await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    let before = std::fs::read(&path).unwrap();
    if ignores_file_permissions(dir.path()) {
        // Root writes anything: open as an unprivileged user instead, who
        // owns the file (another user's file is refused before anything else).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let output = child_command("bad_files::child_read_only_open", READ_ONLY_ROLE)
            .env("AUTHRESULT_STORE_DB", &path)
            .uid(65534)
            .gid(65534)
            .output()
            .expect("running the read-only check as user 65534");
        assert!(output.status.success(), "{output:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("read-only refused"));
    } else {
        let error = open_error(&path).await;
        assert!(matches!(error, StoreError::ReadOnly { .. }), "{error:?}");
        assert_eq!(error.kind(), FailureKind::Configuration);
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn a_full_disk_fails_the_write_and_keeps_acknowledged_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteOptions::new(&path)
        .max_size(128 * 1024)
        .open()
        .await
        .unwrap();
    let big = |n: u64| {
        let mut session = testing::sample_session("t", &format!("p{n}"), n);
        if let Some(profile) = session.auth.profile.as_mut() {
            profile.insert("bio".into(), "y".repeat(3000));
        }
        session
    };
    let mut acknowledged = Vec::new();
    let error = loop {
        let n = acknowledged.len() as u64;
        assert!(n < 1000, "the size limit never hit");
        match store.put(&big(n)).await {
            Ok(_) => acknowledged.push(n),
            Err(e) => break e,
        }
    };
    assert!(acknowledged.len() > 5, "some writes fit");
    let cause = store_error(&error);
    assert!(matches!(cause, StoreError::DiskFull { .. }), "{cause:?}");
    assert_eq!(error.kind(), FailureKind::Configuration);
    assert!(error.to_string().contains("session store failure"));
    // Still full: fails again, cleanly.
    assert!(store.put(&big(5000)).await.is_err());
    for &n in &acknowledged {
        let stored = store
            .get(&SessionKey::new("t", format!("p{n}")))
            .await
            .unwrap()
            .unwrap();
        testing::assert_same_session(&stored, &big(n));
    }
    store.check_integrity().await.unwrap();
    store.close().await;

    // Without the limit, the same file takes writes again and lost nothing.
    let store = SqliteStore::open(&path).await.unwrap();
    for &n in &acknowledged {
        let stored = store
            .get(&SessionKey::new("t", format!("p{n}")))
            .await
            .unwrap()
            .unwrap();
        testing::assert_same_session(&stored, &big(n));
    }
    store.put(&big(5000)).await.unwrap();
    store.check_integrity().await.unwrap();
}

#[tokio::test]
async fn a_lock_held_briefly_is_waited_for_and_a_long_one_is_a_transient_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteOptions::new(&path)
        .busy_timeout(Duration::from_millis(300))
        .open()
        .await
        .unwrap();
    let hold = |millis: u64| {
        let path = path.clone();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(millis));
            conn.execute_batch("COMMIT").unwrap();
        });
        locked_rx.recv().unwrap();
        thread
    };
    // Shorter than the busy timeout: the write just waits.
    let holder = hold(100);
    store.put(&testing::sample_session("t", "p", 1)).await.unwrap();
    holder.join().unwrap();
    // Far longer than the busy timeout and its retries: a transient error.
    let holder = hold(3000);
    let error = store
        .put(&testing::sample_session("t", "p", 2))
        .await
        .unwrap_err();
    assert!(
        matches!(store_error(&error), StoreError::Busy { .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    holder.join().unwrap();
    // Reads are never blocked by a writer (WAL).
    let holder = hold(500);
    let stored = store.get(&SessionKey::new("t", "p")).await.unwrap().unwrap();
    assert_eq!(stored.version(), 1);
    holder.join().unwrap();
    store.put(&testing::sample_session("t", "p", 3)).await.unwrap();
}

#[tokio::test]
async fn a_new_file_and_its_folder_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/folder/sessions.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.put(&testing::sample_session("t", "p", 1)).await.unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("nested/folder/sessions.db-wal")), 0o600);
    assert_eq!(mode(&dir.path().join("nested/folder")), 0o700);
    assert_eq!(mode(&dir.path().join("nested")), 0o700);
    store.close().await;
    // Reopening an existing file works and keeps the data.
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(store.get(&SessionKey::new("t", "p")).await.unwrap().is_some());
}

fn unsafe_problem(error: &StoreError, expected: &Path) -> UnsafeFileProblem {
    match error {
        StoreError::UnsafeFile { path, problem } => {
            assert_eq!(path, expected, "{error}");
            assert_eq!(error.kind(), FailureKind::Configuration);
            *problem
        }
        other => panic!("not UnsafeFile: {other:?}"),
    }
}

#[tokio::test]
async fn a_symlink_to_another_file_is_refused_and_the_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("someone-elses.txt");
    std::fs::write(&target, b"not for tokens").unwrap();
    private(&target);
    let path = dir.path().join("sessions.db");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let error = open_error(&path).await;
    assert_eq!(unsafe_problem(&error, &path), UnsafeFileProblem::Symlink);
    assert!(error.to_string().contains("remove the link"), "{error}");
    assert_eq!(std::fs::read(&target).unwrap(), b"not for tokens");

    // A dangling link is not created through either.
    let missing = dir.path().join("would-be-created.db");
    let path = dir.path().join("dangling.db");
    std::os::unix::fs::symlink(&missing, &path).unwrap();
    let error = open_error(&path).await;
    assert_eq!(unsafe_problem(&error, &path), UnsafeFileProblem::Symlink);
    assert!(!missing.exists(), "nothing was created at the link's target");
}

#[tokio::test]
async fn a_pre_created_file_open_to_others_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let error = open_error(&path).await;
    assert_eq!(
        unsafe_problem(&error, &path),
        UnsafeFileProblem::OpenToOthers { mode: 0o666 }
    );
    assert!(error.to_string().contains("chmod 600"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    assert!(!dir.path().join("sessions.db-wal").exists());
    // A store file of ours later opened up to the group is refused too.
    let ours = dir.path().join("ours.db");
    populated(&ours, 1).await;
    std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o640)).unwrap();
    let error = open_error(&ours).await;
    assert_eq!(
        unsafe_problem(&error, &ours),
        UnsafeFileProblem::OpenToOthers { mode: 0o640 }
    );
    // Fixed as the message says, it opens again with its data.
    private(&ours);
    let store = SqliteStore::open(&ours).await.unwrap();
    assert!(store.get(&SessionKey::new("t", "p0")).await.unwrap().is_some());
}

#[tokio::test]
async fn a_file_owned_by_another_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    std::fs::write(&path, b"").unwrap();
    private(&path);
    let me = std::fs::metadata(&path).unwrap().uid();
    let (path, owner) = if me == 0 {
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        (path, 65534)
    } else {
        // Not root: a file root owns (only looked at, refused before any write).
        (std::path::PathBuf::from("/etc/passwd"), 0)
    };
    let before = std::fs::read(&path).unwrap();
    let error = open_error(&path).await;
    assert_eq!(
        unsafe_problem(&error, &path),
        UnsafeFileProblem::NotOwned { owner }
    );
    assert!(error.to_string().contains("remove it"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let error = tokio::time::timeout(Duration::from_secs(30), open_error(&path))
        .await
        .expect("opening a fifo must not block");
    assert_eq!(unsafe_problem(&error, &path), UnsafeFileProblem::NotRegularFile);
}

#[tokio::test]
async fn a_symlinked_wal_file_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    populated(&path, 1).await;
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, b"keep").unwrap();
    private(&target);
    let wal = dir.path().join("sessions.db-wal");
    std::os::unix::fs::symlink(&target, &wal).unwrap();
    let error = open_error(&path).await;
    assert_eq!(unsafe_problem(&error, &wal), UnsafeFileProblem::Symlink);
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    // A `-shm` open to others is refused the same way.
    std::fs::remove_file(&wal).unwrap();
    let shm = dir.path().join("sessions.db-shm");
    std::fs::write(&shm, b"").unwrap();
    std::fs::set_permissions(&shm, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = open_error(&path).await;
    assert_eq!(
        unsafe_problem(&error, &shm),
        UnsafeFileProblem::OpenToOthers { mode: 0o644 }
    );
}

/// Issue 21 item 8 (failed on 1f2d0f5 with SQLite's `unable to open database
/// file`, code 1550): a store under a symlinked folder (macOS's `/tmp`, a
/// linked home or data folder) opens, keeps its data, and its sidecars are
/// still checked; only the file or a sidecar being a link is refused.
#[tokio::test]
async fn a_store_in_a_symlinked_folder_opens_and_its_files_are_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real-data");
    std::fs::create_dir(&real).unwrap();
    let linked = dir.path().join("linked-data");
    std::os::unix::fs::symlink(&real, &linked).unwrap();
    // Two levels: a link to a folder holding a link to a folder.
    let deeper = real.join("deeper");
    std::fs::create_dir(&deeper).unwrap();
    let deeper_link = real.join("via");
    std::os::unix::fs::symlink(&deeper, &deeper_link).unwrap();
    for path in [linked.join("sessions.db"), linked.join("via").join("sessions.db")] {
        let store = SqliteStore::open(&path)
            .await
            .expect("a store under a linked folder opens");
        store.put(&testing::sample_session("t", "p", 1)).await.unwrap();
        store.close().await;
        let store = SqliteStore::open(&path).await.unwrap();
        assert!(store.get(&SessionKey::new("t", "p")).await.unwrap().is_some());
        store.close().await;
    }
    assert!(
        real.join("sessions.db").is_file(),
        "the file is in the real folder"
    );
    // The rule still holds for the file itself, reached through the linked folder.
    let target = real.join("other.txt");
    std::fs::write(&target, b"keep").unwrap();
    private(&target);
    let file_link = linked.join("link.db");
    std::os::unix::fs::symlink(&target, &file_link).unwrap();
    let error = open_error(&file_link).await;
    assert_eq!(unsafe_problem(&error, &file_link), UnsafeFileProblem::Symlink);
    assert!(
        error.to_string().contains("link.db"),
        "the error names the file: {error}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    // And for a sidecar.
    let wal = linked.join("sessions.db-wal");
    let _ = std::fs::remove_file(&wal);
    std::os::unix::fs::symlink(&target, &wal).unwrap();
    let error = open_error(&linked.join("sessions.db")).await;
    assert_eq!(unsafe_problem(&error, &wal), UnsafeFileProblem::Symlink);
}
