//! DPoP on the resource server (RFC 9449): a bound ES256 access token with
//! a fresh ES256 proof on every request, first seen (the token's whole
//! validation) and repeated (the token from the cache, the proof checked in
//! full), beside the same tokens as plain bearer tokens and ring's raw
//! ES256 check of a proof. Bar: a repeated bound token with a fresh proof
//! costs at most one ES256 verify plus 5 µs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use authresult_bench::results;
use authresult_bench::support::poll_once;
use authresult_bench::tokens::{self, AUDIENCE, Alg, ISSUER, RawKey, RawToken, Signer};
use authresult_core::MemoryReplayCache;
use authresult_jwt::{DpopConfig, DpopRequest, IssuerConfig, JwkSet, TokenValidator, jwk_thumbprint};
use authresult_test_support::{JwtAlg, JwtSigner, b64};
use criterion::BatchSize;
use serde_json::{Value, json};

/// Distinct tokens the first-seen benchmarks cycle through.
const TOKENS: usize = 512;
/// The first-seen validator's token cache: every token of a cycle was
/// evicted before it comes back.
const FIRST_SEEN_CACHE: usize = 16;
const URI: &str = "https://api.example.org/sync/push";

fn main() {
    if let Err(e) = run() {
        eprintln!("dpop bench failed: {e:#}");
        std::process::exit(1);
    }
}

/// A validator of the bench issuer; proofs up to 2 s old (so the replay
/// cache holds a few seconds of proofs, however fast they come).
fn validator(jwks: &str, cache: Option<usize>) -> anyhow::Result<TokenValidator> {
    let issuer = IssuerConfig::new(ISSUER)
        .audience(AUDIENCE)
        .algorithms([Alg::Es256.jws()])
        .jwks(JwkSet::from_json(jwks.as_bytes())?);
    let dpop = DpopConfig::new()
        .max_age(Duration::from_secs(2))
        .replay_cache(Arc::new(MemoryReplayCache::new(1_000_000)));
    let mut builder = TokenValidator::builder().issuer(issuer).dpop(dpop);
    if let Some(capacity) = cache {
        builder = builder.cache_capacity(capacity);
    }
    Ok(builder.build()?)
}

struct Client {
    key: JwtSigner,
    header: Value,
}

impl Client {
    /// A fresh proof for a POST to [`URI`] with `token`.
    fn proof(&self, token: &str, n: u64) -> String {
        let claims = json!({
            "jti": format!("bench-{n}-{}", tokens::now_secs()),
            "htm": "POST",
            "htu": URI,
            "iat": tokens::now_secs(),
            "ath": b64(ring::digest::digest(&ring::digest::SHA256, token.as_bytes())),
        });
        self.key.sign_jwt(&self.header, &claims).expect("a proof")
    }
}

fn run() -> anyhow::Result<()> {
    let mut criterion = results::criterion();
    let issuer = Signer::generate(Alg::Es256)?;
    let key = JwtSigner::generate(JwtAlg::Es256)?;
    let public = key.public_jwk();
    let jkt = jwk_thumbprint(&public.to_string())?;
    let client = Client {
        header: json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": public}),
        key,
    };
    let bound: Vec<String> = (0..TOKENS as u64)
        .map(|n| {
            let mut claims = tokens::access_claims(Alg::Es256, n);
            claims["cnf"] = json!({ "jkt": jkt });
            issuer.sign(&claims)
        })
        .collect::<anyhow::Result<_>>()?;
    let bearer = tokens::tokens(&issuer, TOKENS as u64)?;
    let jwks = tokens::jwks_json(&[&issuer]);
    let first_seen = validator(&jwks, Some(FIRST_SEEN_CACHE))?;
    let repeated = validator(&jwks, None)?;

    // Every case accepts what it is measured with.
    let probe = client.proof(&bound[0], u64::MAX);
    poll_once(repeated.validate_dpop(&bound[0], &DpopRequest::new(&probe, "POST", URI)))
        .context("a bound token with its proof")?;
    poll_once(repeated.validate(&bearer[0])).context("a bearer token")?;
    let raw_key: RawKey = match client.key.public_key() {
        Some(authresult_test_support::PublicKey::EcP256(point)) => RawKey::EcP256(point),
        _ => anyhow::bail!("the client key is not P-256"),
    };
    let raw = RawToken::split(&client.proof(&bound[0], u64::MAX - 1))?;
    anyhow::ensure!(raw_key.verify(&raw.signing_input, &raw.signature));

    let mut n = 0u64;
    let mut group = criterion.benchmark_group("dpop");
    group.bench_function("es256_proof_raw", |b| {
        b.iter(|| assert!(raw_key.verify(black_box(&raw.signing_input), black_box(&raw.signature))));
    });
    group.bench_function("es256_bearer_repeated", |b| {
        b.iter(|| poll_once(repeated.validate(black_box(&bearer[0]))).expect("a valid token"));
    });
    group.bench_function("es256_bearer_first_seen", |b| {
        let mut i = 0;
        b.iter(|| {
            let token = &bearer[i];
            i = (i + 1) % TOKENS;
            poll_once(first_seen.validate(black_box(token))).expect("a valid token")
        });
    });
    group.bench_function("es256_bound_repeated", |b| {
        let token = &bound[0];
        b.iter_batched(
            || {
                n += 1;
                client.proof(token, n)
            },
            |proof| {
                poll_once(repeated.validate_dpop(black_box(token), &DpopRequest::new(&proof, "POST", URI)))
                    .expect("a bound token with a fresh proof")
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("es256_bound_first_seen", |b| {
        let mut i = 0;
        b.iter_batched(
            || {
                n += 1;
                i = (i + 1) % TOKENS;
                (i, client.proof(&bound[i], n))
            },
            |(i, proof)| {
                poll_once(
                    first_seen.validate_dpop(black_box(&bound[i]), &DpopRequest::new(&proof, "POST", URI)),
                )
                .expect("a bound token with a fresh proof")
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
    criterion.final_summary();
    Ok(())
}
