//! DPoP proof creation on the client (`authresult_jwt::DpopKey`, RFC 9449):
//! what every token request and every resource request of a bound session
//! adds. ES256 (the default key) and EdDSA; with and without `ath` (a
//! resource request hashes its token); and through `DpopSigner`, the
//! manager's port, which finds the session's stored key again (compared in
//! constant time with the last one it read) on each call.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use authresult_core::{ManualClock, ProofRequest, ProofSigner as _, Timestamp};
use authresult_jwt::{DpopKey, DpopSigner, JwsAlgorithm};
use criterion::Criterion;
use url::Url;

/// A realistic access token's length (a Keycloak JWT).
const TOKEN_LEN: usize = 1200;

fn main() {
    let url = Url::parse("https://sync.example.org/api/sync/push?configId=field").unwrap_or_else(|e| {
        eprintln!("dpop bench: {e}");
        std::process::exit(1)
    });
    let token = "a".repeat(TOKEN_LEN);
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(1_700_000_000)));
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .without_plots()
        .configure_from_args();
    let mut group = criterion.benchmark_group("dpop_client");
    for (name, alg) in [("es256", JwsAlgorithm::Es256), ("eddsa", JwsAlgorithm::EdDsa)] {
        let key = match DpopKey::generate(alg) {
            Ok(key) => key.with_clock(clock.clone()),
            Err(e) => {
                eprintln!("dpop bench: {e}");
                std::process::exit(1)
            }
        };
        group.bench_function(format!("proof_{name}"), |b| {
            b.iter(|| black_box(key.proof("POST", black_box(&url), Some("nonce-1"), None)))
        });
        group.bench_function(format!("proof_ath_{name}"), |b| {
            b.iter(|| black_box(key.proof("POST", black_box(&url), Some("nonce-1"), Some(&token))))
        });
        let binding = key.to_binding(true);
        let signer = DpopSigner::new();
        group.bench_function(format!("signer_{name}"), |b| {
            b.iter(|| {
                let request = ProofRequest {
                    method: "POST",
                    url: &url,
                    nonce: Some("nonce-1"),
                    access_token: Some(&token),
                    now: Timestamp::from_secs(1_700_000_000),
                };
                black_box(signer.sign_proof(black_box(&binding), &request))
            })
        });
    }
    group.finish();
    criterion.final_summary();
}
