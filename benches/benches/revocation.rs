//! The cost the revocation list (back-channel logouts) adds to a repeated
//! token's validation: the same cached RS256 token through a validator
//! without a list and through one whose list holds 100,000 logged-out users
//! (none of them the token's), no logout arriving meanwhile (one atomic load
//! per hit), and right after each logout (the hit checks the list again:
//! two hash lookups). Bar: under 50 ns added with 100,000 entries.

use std::hint::black_box;
use std::sync::Arc;

use authresult_bench::results;
use authresult_bench::support::poll_once;
use authresult_bench::tokens::{self, AUDIENCE, Alg, ISSUER, Signer};
use authresult_core::{LogoutList, MemoryStore, Timestamp};
use authresult_oidc::jwt::{IssuerConfig, JwkSet, RevocationList, TokenValidator};
use serde_json::json;

/// Logged-out users in the list.
const ENTRIES: usize = 100_000;

fn main() {
    if let Err(e) = run() {
        eprintln!("revocation bench failed: {e:#}");
        std::process::exit(1);
    }
}

fn validator(jwks: &str, list: Option<RevocationList>) -> anyhow::Result<TokenValidator> {
    let issuer = IssuerConfig::new(ISSUER)
        .audience(AUDIENCE)
        .algorithms(Alg::ALL.map(Alg::jws))
        .jwks(JwkSet::from_json(jwks.as_bytes())?);
    let mut builder = TokenValidator::builder().issuer(issuer);
    if let Some(list) = list {
        builder = builder.revocations(list);
    }
    Ok(builder.build()?)
}

fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let signer = Signer::generate(Alg::Rs256)?;
    let token = tokens::tokens(&signer, 1)?.remove(0);
    let jwks = tokens::jwks_json(&[&signer]);
    let (list, store) = runtime.block_on(async {
        let store = Arc::new(MemoryStore::new());
        let port: Arc<dyn LogoutList> = store.clone();
        let list = RevocationList::builder(port).start().await?;
        let now = Timestamp::now();
        for i in 0..ENTRIES {
            list.record(ISSUER, None, Some(format!("user-{i}")), now).await?;
        }
        anyhow::Ok((list, store))
    })?;
    anyhow::ensure!(list.len() == ENTRIES, "the list holds {} entries", list.len());
    let plain = validator(&jwks, None)?;
    let listed = validator(&jwks, Some(list.clone()))?;
    poll_once(plain.validate(&token))?;
    poll_once(listed.validate(&token))?;

    let mut criterion = results::criterion();
    let mut group = criterion.benchmark_group("revocation");
    group.bench_function("repeated_without_list", |b| {
        b.iter(|| poll_once(plain.validate(black_box(&token))).expect("a valid token"));
    });
    group.bench_function("repeated_with_100k_entries", |b| {
        b.iter(|| poll_once(listed.validate(black_box(&token))).expect("a valid token"));
    });
    // Each iteration first applies one more logout (of another user), so
    // every hit checks the list again.
    let mut n = 0u64;
    group.bench_function("repeated_after_a_logout", |b| {
        b.iter(|| {
            n += 1;
            runtime
                .block_on(list.record(ISSUER, None, Some(format!("late-{n}")), Timestamp::now()))
                .expect("recorded");
            poll_once(listed.validate(black_box(&token))).expect("a valid token")
        });
    });
    group.finish();
    drop(store);
    results::write("revocation", &json!({"entries": ENTRIES}))?;
    criterion.final_summary();
    Ok(())
}
