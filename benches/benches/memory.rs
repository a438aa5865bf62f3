//! Memory: bytes held per stored session (the manager's cache, the memory
//! store), per cached key set and per cached validated token; and the
//! allocations of one call on the hot paths.
//!
//! Counted with an instrumenting global allocator (`stats_alloc`): bytes
//! requested and not freed while the measured objects are alive, divided by
//! how many there are. The allocator's own per-block overhead is not
//! included; the number of live blocks is reported next to the bytes.
//! Everything here runs on this one thread (no runtime, the stores and the
//! validator never wait), so no other allocation is counted.

use std::alloc::System;
use std::hint::black_box;
use std::sync::Arc;

use anyhow::bail;
use authresult_bench::results;
use authresult_bench::support::{NullStore, bench_provider, poll_once, realistic_auth};
use authresult_bench::tokens::{self, Alg, RawToken, Signer};
use authresult_core::MemoryStore;
use authresult_core::{AuthManager, AuthProvider, Session, SessionKey, SessionStore, Timestamp};
use authresult_oidc::jwt::JwkSet;
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, Stats, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Sessions (or providers) per measurement.
const SESSIONS: usize = 1_000;
/// Key sets kept per measurement.
const KEY_SETS: usize = 100;
/// Tokens per allocation count.
const CALLS: usize = 512;

fn main() {
    if let Err(e) = run() {
        eprintln!("memory bench failed: {e:#}");
        std::process::exit(1);
    }
}

/// Bytes and blocks still held at the end of a region.
#[derive(Debug, Clone, Copy)]
struct Held {
    bytes: i64,
    blocks: i64,
}

impl Held {
    fn of(stats: Stats) -> Held {
        Held {
            bytes: stats.bytes_allocated as i64 - stats.bytes_deallocated as i64,
            blocks: stats.allocations as i64 - stats.deallocations as i64,
        }
    }

    fn per(self, n: usize) -> Value {
        json!({
            "bytes": (self.bytes as f64 / n as f64).round(),
            "blocks": (self.blocks as f64 / n as f64 * 10.0).round() / 10.0,
        })
    }
}

/// What `f` leaves allocated (its result kept alive until measured).
fn held<T>(f: impl FnOnce() -> T) -> (Held, T) {
    let region = Region::new(GLOBAL);
    let value = f();
    (Held::of(region.change()), value)
}

fn run() -> anyhow::Result<()> {
    let signers = Alg::ALL.map(Signer::generate);
    let mut made = Vec::new();
    for signer in signers {
        made.push(signer?);
    }
    let signers = made;
    let access_token = signers[0].sign(&tokens::access_claims(Alg::Rs256, 0))?;

    let manager = manager_memory(&access_token);
    let store = memory_store(&access_token);
    let key_sets = key_sets(&signers)?;
    let token_cache = token_cache(&signers[2])?;
    let allocations = allocations(&signers, &access_token)?;
    let report = json!({
        "sessions": SESSIONS,
        "manager": manager,
        "memory_store": store,
        "key_sets": key_sets,
        "token_cache": token_cache,
        "allocations": allocations,
    });
    eprintln!(
        "memory: {} B per session held by the manager, {} B per cached key set (RSA + P-256)",
        report["manager"]["per_session"]["bytes"], report["key_sets"]["rs256_es256"]["per_set"]["bytes"]
    );
    results::write("memory", &report)
}

/// The manager's part of a session: a manager over a store that keeps
/// nothing, with `SESSIONS` providers, each given a session. Also what each
/// registered provider costs before any login.
fn manager_memory(access_token: &str) -> Value {
    let provider: Arc<dyn AuthProvider> = Arc::new(bench_provider(std::time::Duration::ZERO));
    let names: Vec<String> = (0..SESSIONS).map(|i| format!("provider-{i:04}")).collect();
    let (empty, base) = held(|| AuthManager::builder("field-app", Arc::new(NullStore)).build());
    drop(base);
    let (with_slots, manager) = held(|| {
        let mut builder = AuthManager::builder("field-app", Arc::new(NullStore));
        for name in &names {
            builder = builder.provider(name.as_str(), provider.clone());
        }
        builder.build()
    });
    let mut sizes = None;
    let (sessions, ()) = held(|| {
        for (i, name) in names.iter().enumerate() {
            let (auth, s) = realistic_auth(access_token, i as u64);
            sizes = Some(s);
            poll_once(manager.import(name, auth)).expect("import");
        }
    });
    let token_bytes = sizes.map_or(0, |s| s.access + s.refresh + s.id);
    let per_slot = Held {
        bytes: with_slots.bytes - empty.bytes,
        blocks: with_slots.blocks - empty.blocks,
    };
    black_box(&manager);
    json!({
        "per_session": sessions.per(SESSIONS),
        "per_provider_slot": per_slot.per(SESSIONS),
        "token_bytes_per_session": token_bytes,
        "sizes": sizes.map(|s| json!({"access": s.access, "refresh": s.refresh, "id": s.id})),
    })
}

/// The memory store's copy of a session.
fn memory_store(access_token: &str) -> Value {
    let store = MemoryStore::new();
    let now = Timestamp::now();
    let (held_by_store, ()) = held(|| {
        for i in 0..SESSIONS {
            let (auth, _) = realistic_auth(access_token, i as u64);
            let session = Session::new(
                SessionKey::new("field-app", format!("provider-{i:04}")),
                auth,
                now,
            );
            poll_once(store.put(&session)).expect("put");
        }
    });
    black_box(&store);
    json!({ "per_session": held_by_store.per(SESSIONS) })
}

/// A key set as a provider publishes it (one RSA and one P-256 key, like
/// the local provider and Keycloak), and the benchmark's three keys.
fn key_sets(signers: &[Signer]) -> anyhow::Result<Value> {
    let mut out = serde_json::Map::new();
    for (name, chosen) in [("rs256_es256", &signers[..2]), ("rs256_es256_eddsa", signers)] {
        let chosen: Vec<&Signer> = chosen.iter().collect();
        let json = tokens::jwks_json(&chosen);
        let mut sets = Vec::with_capacity(KEY_SETS);
        let (kept, ()) = held(|| {
            for _ in 0..KEY_SETS {
                sets.push(JwkSet::from_json(json.as_bytes()).expect("a key set"));
            }
        });
        if sets.iter().any(|s| s.len() != chosen.len()) {
            bail!("a key set lost keys");
        }
        out.insert(
            name.into(),
            json!({ "keys": chosen.len(), "json_bytes": json.len(), "per_set": kept.per(KEY_SETS) }),
        );
    }
    Ok(Value::Object(out))
}

/// One validated token in the validator's cache: measured, and as the
/// validator counts it against its byte budget.
fn token_cache(signer: &Signer) -> anyhow::Result<Value> {
    let signer_ref = [signer];
    let jwks = tokens::jwks_json(&signer_ref);
    let validator = tokens::validator(&jwks, None)?;
    let all = tokens::tokens(signer, SESSIONS as u64)?;
    let (cached, ()) = held(|| {
        for token in &all {
            poll_once(validator.validate(token)).expect("a valid token");
        }
    });
    if validator.cached_tokens() != SESSIONS {
        bail!(
            "expected {SESSIONS} cached tokens, found {}",
            validator.cached_tokens()
        );
    }
    Ok(json!({
        "alg": signer.alg().name(),
        "token_len": all[0].len(),
        "per_token": cached.per(SESSIONS),
        "budget_per_token": validator.cache_bytes() / SESSIONS,
    }))
}

/// Allocations of one call, averaged over `CALLS` calls after a warm-up.
fn allocations(signers: &[Signer], access_token: &str) -> anyhow::Result<Value> {
    let refs: Vec<&Signer> = signers.iter().collect();
    let jwks = tokens::jwks_json(&refs);
    let first_seen = tokens::validator(&jwks, Some(16))?;
    let repeated = tokens::validator(&jwks, None)?;
    let mut out = serde_json::Map::new();
    for signer in signers {
        let all = tokens::tokens(signer, CALLS as u64)?;
        let raw: Vec<RawToken> = all.iter().map(|t| RawToken::split(t)).collect::<Result<_, _>>()?;
        let key = signer.raw_key()?;
        for token in &all {
            poll_once(first_seen.validate(token))?;
        }
        poll_once(repeated.validate(&all[0]))?;
        let raw_calls = per_call(|| {
            for token in &raw {
                black_box(key.verify(&token.signing_input, &token.signature));
            }
        });
        let first = per_call(|| {
            for token in &all {
                black_box(poll_once(first_seen.validate(token)).expect("valid"));
            }
        });
        let again = per_call(|| {
            for _ in 0..CALLS {
                black_box(poll_once(repeated.validate(&all[0])).expect("valid"));
            }
        });
        out.insert(
            signer.alg().name().into(),
            json!({ "raw": raw_calls, "first_seen": first, "repeated": again }),
        );
    }
    let manager = AuthManager::builder("field-app", Arc::new(MemoryStore::new()))
        .provider("p", Arc::new(bench_provider(std::time::Duration::ZERO)))
        .build();
    let (auth, _) = realistic_auth(access_token, 0);
    poll_once(manager.import("p", auth))?;
    poll_once(manager.access_token("p"))?;
    let access = per_call(|| {
        for _ in 0..CALLS {
            black_box(poll_once(manager.access_token("p")).expect("a token"));
        }
    });
    out.insert("access_token_fresh".into(), access);
    Ok(Value::Object(out))
}

/// Allocations and bytes allocated per call of `CALLS` calls made by `f`.
fn per_call(f: impl FnOnce()) -> Value {
    let region = Region::new(GLOBAL);
    f();
    let stats = region.change();
    json!({
        "allocations": (stats.allocations as f64 / CALLS as f64 * 10.0).round() / 10.0,
        "bytes": (stats.bytes_allocated as f64 / CALLS as f64).round(),
    })
}
