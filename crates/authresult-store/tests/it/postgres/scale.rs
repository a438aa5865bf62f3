//! A million sessions: a lookup uses the primary key and costs the same.

use std::time::{Duration, Instant};

use authresult_core::SessionStore;
use authresult_store::{PostgresStore, testing};

use super::{SERVER, Schemas};

// ---------------------------------------------------------------------------
// 6. A million sessions

fn plan_root(plan_json: &str) -> serde_json::Value {
    let plan: serde_json::Value = serde_json::from_str(plan_json).unwrap();
    plan[0]["Plan"].clone()
}

async fn time_lookups(store: &PostgresStore, count: u64, lookups: u64) -> Duration {
    let started = Instant::now();
    for i in 0..lookups {
        let key = testing::seeded_key((i * 7919) % count);
        assert!(store.get(&key).await.unwrap().is_some(), "{key}");
    }
    started.elapsed() / u32::try_from(lookups).unwrap()
}

#[tokio::test]
async fn a_lookup_among_a_million_sessions_uses_the_primary_key() {
    let _server = SERVER.read().await;
    let schemas = Schemas::new();
    let small = schemas.options("k").connect().await.unwrap();
    let large = schemas.options("m").connect().await.unwrap();

    testing::seed_postgres(&small, 1_000).await.unwrap();
    let started = Instant::now();
    testing::seed_postgres(&large, 1_000_000).await.unwrap();
    eprintln!("seeded a million sessions in {:?}", started.elapsed());

    let key = testing::seeded_key(777_777);
    let root = plan_root(&testing::explain_postgres_get(&large, &key).await.unwrap());
    let node = root["Node Type"].as_str().unwrap_or_default();
    assert!(
        node == "Index Scan" || node == "Index Only Scan",
        "a lookup among a million sessions is an index scan, not {root}"
    );
    assert_eq!(root["Index Name"], "sessions_pkey", "{root}");
    assert!(
        root["Plan Rows"].as_f64().unwrap_or(f64::MAX) <= 1.0,
        "one row expected: {root}"
    );

    let stored = large.get(&key).await.unwrap().unwrap();
    assert_eq!(stored.key, key);
    assert_eq!(stored.auth.access_token.secret(), "seed-access-token");
    assert!(
        large
            .get(&testing::seeded_key(1_000_000))
            .await
            .unwrap()
            .is_none()
    );

    // Informational (timing belongs to the benchmark): mean lookup time.
    let per_small = time_lookups(&small, 1_000, 200).await;
    let per_large = time_lookups(&large, 1_000_000, 200).await;
    eprintln!("mean get: {per_small:?} with 1k sessions, {per_large:?} with 1M sessions");
}
