//! Crash test: a child process writes sessions in a loop, printing `ack <n>`
//! after each acknowledged write; the parent SIGKILLs it at random moments,
//! many times, and after each kill checks that every acknowledged session
//! reads back intact and that `PRAGMA integrity_check` is `ok`.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authresult_core::testing;
use authresult_core::{SessionKey, SessionStore as _};
use authresult_store::SqliteOptions;

use crate::common::{Rng, child_command, child_role, test_key};

const ROLE: &str = "crash-writer";
const TENANT: &str = "crash";
/// Writes rotate over this many sessions.
const SLOTS: u64 = 12;
const KILLS: u32 = 50;

fn provider(n: u64) -> String {
    format!("p{}", n % SLOTS)
}

/// Child: writes forever from `AUTHRESULT_STORE_START`, acknowledging each write.
#[tokio::test]
async fn child_writer() {
    if child_role().as_deref() != Some(ROLE) {
        return;
    }
    let db = std::env::var("AUTHRESULT_STORE_DB").unwrap();
    let start: u64 = std::env::var("AUTHRESULT_STORE_START").unwrap().parse().unwrap();
    let store = SqliteOptions::new(db)
        .encryption_key(test_key())
        .open()
        .await
        .unwrap();
    for n in start.. {
        store
            .put(&testing::sample_session(TENANT, &provider(n), n))
            .await
            .unwrap();
        // `println!` goes through a line writer: each ack is flushed whole.
        println!("ack {n}");
    }
}

/// Which write a stored session came from (its tokens carry the number).
fn write_number(token: &str, provider: &str) -> u64 {
    let prefix = format!("access-{TENANT}-{provider}-");
    token.strip_prefix(&prefix).unwrap().parse().unwrap()
}

fn integrity(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn acknowledged_sessions_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/sessions.db");
    let mut rng = Rng::seeded(0x5EED_C0DE);
    // Per slot: the write number that must be stored (the last acknowledged).
    let mut durable: HashMap<String, u64> = HashMap::new();
    let mut total_acks = 0usize;
    let mut kills_mid_run = 0u32;
    let started = Instant::now();
    for round in 0..KILLS {
        let start = u64::from(round) * 1_000_000;
        let mut child = child_command("crash::child_writer", ROLE)
            .env("AUTHRESULT_STORE_DB", &db)
            .env("AUTHRESULT_STORE_START", start.to_string())
            .spawn()
            .unwrap();
        let acks = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let reader = {
            let acks = Arc::clone(&acks);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(n) = line.strip_prefix("ack ") {
                        acks.lock().unwrap().push(n.parse::<u64>().unwrap());
                    }
                }
            })
        };
        // One kill in six lands while the child is starting (opening,
        // maybe creating the file); the others after its first write, at a
        // random point among the following ones.
        if rng.below(6) > 0 {
            let deadline = Instant::now() + Duration::from_secs(20);
            while acks.lock().unwrap().is_empty() && child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "the child writer never wrote");
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(rng.below(150)));
        } else {
            std::thread::sleep(Duration::from_millis(rng.below(30)));
        }
        if child.try_wait().unwrap().is_some() {
            panic!("the child writer stopped by itself (see its output above)");
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        let acks = std::mem::take(&mut *acks.lock().unwrap());
        total_acks += acks.len();
        if !acks.is_empty() {
            kills_mid_run += 1;
        }
        // Acks come in order; the write after the last ack may or may not
        // have been committed when the kill landed.
        let in_flight = acks.last().map_or(start, |n| n + 1);
        for &n in &acks {
            durable.insert(provider(n), n);
        }

        assert_eq!(integrity(&db), "ok", "integrity after kill {round}");
        let store = SqliteOptions::new(&db)
            .encryption_key(test_key())
            .open()
            .await
            .unwrap();
        for slot in 0..SLOTS {
            let p = provider(slot);
            let stored = store.get(&SessionKey::new(TENANT, p.as_str())).await.unwrap();
            let Some(stored) = stored else {
                assert!(
                    !durable.contains_key(&p),
                    "acknowledged session {p} lost after kill {round}"
                );
                continue;
            };
            let n = write_number(stored.auth.access_token.secret(), &p);
            let acknowledged = durable.get(&p).copied();
            assert!(
                Some(n) == acknowledged || (n == in_flight && provider(in_flight) == p),
                "slot {p} holds write {n}, expected acknowledged write {acknowledged:?} \
                 (or in-flight {in_flight}) after kill {round}"
            );
            testing::assert_same_session(&stored, &testing::sample_session(TENANT, &p, n));
            durable.insert(p, n);
        }
        store.check_integrity().await.unwrap();
        store.close().await;
    }
    eprintln!(
        "{KILLS} kills ({kills_mid_run} mid-run), {total_acks} acknowledged writes, {:?}",
        started.elapsed()
    );
    assert!(kills_mid_run >= KILLS / 2, "most kills must land while writing");
    assert!(total_acks > 0);
}
