//! Signature verification by crypto backend: `ring` against `aws-lc-rs`
//! (its `ring`-compatible API) for RS256, ES256 and EdDSA, in the same run,
//! on the same keys and signatures, called the way the validator calls
//! `ring` (RSA from its `n`/`e`, EC from the SEC1 point, Ed25519 raw).
//!
//! `aws-lc-rs` is also measured with its key parsed once
//! (`ParsedPublicKey`), since its `UnparsedPublicKey` parses the key on
//! every call. Besides criterion's times, it writes `<out>/crypto.json`:
//! the interleaved aws-lc/ring time ratio per algorithm (blocks of each,
//! alternating, so load from other processes hits both alike).
//!
//! Only `ring`, `aws-lc-rs` and criterion are used, so this file also builds
//! alone (see `docs/benchmarks.md`, "Crypto backend").

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::signature as aws;
use criterion::Criterion;
use ring::rand::SystemRandom;
use ring::signature::{self as rs, KeyPair as _};

/// The RSA-2048 key of the jwt crate's tests (ring cannot generate RSA keys).
const RSA_PKCS8: &[u8] = include_bytes!("../../crates/authresult-jwt/tests/it/keys/rsa2048-a.pk8");
/// Distinct messages (and signatures) per algorithm, verified in turn.
const MESSAGES: usize = 32;
/// Rounds of the interleaved ratio measurement, and calls per block.
const ROUNDS: usize = 200;
const BLOCK: usize = 16;

/// One algorithm's public key in every form the backends take, and signatures.
struct Case {
    name: &'static str,
    /// RSA `(n, e)`, or the public key bytes (SEC1 point, Ed25519 raw).
    n_e: Option<(Vec<u8>, Vec<u8>)>,
    public: Vec<u8>,
    ring_alg: &'static dyn rs::VerificationAlgorithm,
    aws_alg: &'static dyn aws::VerificationAlgorithm,
    signed: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Case {
    fn ring(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.n_e {
            Some((n, e)) => rs::RsaPublicKeyComponents { n, e }
                .verify(&rs::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            None => rs::UnparsedPublicKey::new(self.ring_alg, &self.public)
                .verify(message, sig)
                .is_ok(),
        }
    }

    fn aws(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.n_e {
            Some((n, e)) => aws::RsaPublicKeyComponents { n, e }
                .verify(&aws::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            None => aws::UnparsedPublicKey::new(self.aws_alg, &self.public)
                .verify(message, sig)
                .is_ok(),
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("crypto bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let cases = cases()?;
    let mut ratios = Vec::new();
    for case in &cases {
        let parsed = parsed_key(case)?;
        for (message, sig) in &case.signed {
            let ok =
                case.ring(message, sig) && case.aws(message, sig) && parsed.verify_sig(message, sig).is_ok();
            if !ok {
                return Err(format!("{}: a backend refused a valid signature", case.name));
            }
        }
        ratios.push((case.name, paired_ratio(case, &parsed)));
    }

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .without_plots()
        .configure_from_args();
    let mut group = criterion.benchmark_group("crypto");
    for case in &cases {
        let parsed = parsed_key(case)?;
        let mut i = 0;
        group.bench_function(format!("{}_ring", case.name), |b| {
            b.iter(|| {
                let (m, s) = &case.signed[i % MESSAGES];
                i += 1;
                black_box(case.ring(black_box(m), black_box(s)))
            });
        });
        group.bench_function(format!("{}_aws_lc", case.name), |b| {
            b.iter(|| {
                let (m, s) = &case.signed[i % MESSAGES];
                i += 1;
                black_box(case.aws(black_box(m), black_box(s)))
            });
        });
        group.bench_function(format!("{}_aws_lc_parsed", case.name), |b| {
            b.iter(|| {
                let (m, s) = &case.signed[i % MESSAGES];
                i += 1;
                black_box(parsed.verify_sig(black_box(m), black_box(s)).is_ok())
            });
        });
    }
    group.finish();
    criterion.final_summary();

    let mut json = String::from("{");
    for (k, (name, (unparsed, parsed))) in ratios.iter().enumerate() {
        let comma = if k == 0 { "" } else { "," };
        json.push_str(&format!(
            "{comma}\"{name}\":{{\"aws_lc_over_ring\":{unparsed:.3},\"aws_lc_parsed_over_ring\":{parsed:.3}}}"
        ));
        eprintln!("crypto: {name}: aws-lc/ring time ratio {unparsed:.3} (key parsed once: {parsed:.3})");
    }
    json.push('}');
    let out = std::env::var_os("AUTHRESULT_BENCH_OUT").map(std::path::PathBuf::from);
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("crypto.json"), json).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Median over rounds of (aws-lc block time / ring block time), for
/// aws-lc's unparsed and parsed keys.
fn paired_ratio(case: &Case, parsed: &aws::ParsedPublicKey) -> (f64, f64) {
    let time = |f: &dyn Fn(&[u8], &[u8]) -> bool, round: usize| {
        let started = Instant::now();
        for k in 0..BLOCK {
            let (m, s) = &case.signed[(round * BLOCK + k) % MESSAGES];
            black_box(f(black_box(m), black_box(s)));
        }
        started.elapsed().as_secs_f64()
    };
    let mut unparsed = Vec::with_capacity(ROUNDS);
    let mut once = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let ring = time(&|m, s| case.ring(m, s), round);
        let aws = time(&|m, s| case.aws(m, s), round);
        let aws_parsed = time(&|m, s| parsed.verify_sig(m, s).is_ok(), round);
        unparsed.push(aws / ring);
        once.push(aws_parsed / ring);
    }
    (median(&mut unparsed), median(&mut once))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// aws-lc's key parsed once, as a backend facade would keep it.
fn parsed_key(case: &Case) -> Result<aws::ParsedPublicKey, String> {
    let result = aws::ParsedPublicKey::new(case.aws_alg, &case.public);
    result.map_err(|e| format!("{}: aws-lc refused the key: {e}", case.name))
}

fn cases() -> Result<Vec<Case>, String> {
    let rng = SystemRandom::new();
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let messages: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|i| format!("eyJhbGciOiJ4In0.eyJzdWIiOiJ1c2VyLXtpfSIsIm4iOntpfX0.{i}").into_bytes())
        .collect();

    let rsa = rs::RsaKeyPair::from_pkcs8(RSA_PKCS8).map_err(|e| err(&e))?;
    let mut rsa_signed = Vec::new();
    for m in &messages {
        let mut sig = vec![0; rsa.public().modulus_len()];
        rsa.sign(&rs::RSA_PKCS1_SHA256, &rng, m, &mut sig)
            .map_err(|e| err(&e))?;
        rsa_signed.push((m.clone(), sig));
    }
    let rs::RsaPublicKeyComponents { n, e } = rs::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());

    let ec_pkcs8 =
        rs::EcdsaKeyPair::generate_pkcs8(&rs::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|e| err(&e))?;
    let ec = rs::EcdsaKeyPair::from_pkcs8(&rs::ECDSA_P256_SHA256_FIXED_SIGNING, ec_pkcs8.as_ref(), &rng)
        .map_err(|e| err(&e))?;
    let mut ec_signed = Vec::new();
    for m in &messages {
        let sig = ec.sign(&rng, m).map_err(|e| err(&e))?;
        ec_signed.push((m.clone(), sig.as_ref().to_vec()));
    }

    let ed_pkcs8 = rs::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| err(&e))?;
    let ed = rs::Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).map_err(|e| err(&e))?;
    let ed_signed = messages
        .iter()
        .map(|m| (m.clone(), ed.sign(m).as_ref().to_vec()))
        .collect();

    Ok(vec![
        Case {
            name: "rs256",
            n_e: Some((n, e)),
            public: rsa.public().as_ref().to_vec(),
            ring_alg: &rs::RSA_PKCS1_2048_8192_SHA256,
            aws_alg: &aws::RSA_PKCS1_2048_8192_SHA256,
            signed: rsa_signed,
        },
        Case {
            name: "es256",
            n_e: None,
            public: ec.public_key().as_ref().to_vec(),
            ring_alg: &rs::ECDSA_P256_SHA256_FIXED,
            aws_alg: &aws::ECDSA_P256_SHA256_FIXED,
            signed: ec_signed,
        },
        Case {
            name: "eddsa",
            n_e: None,
            public: ed.public_key().as_ref().to_vec(),
            ring_alg: &rs::ED25519,
            aws_alg: &aws::ED25519,
            signed: ed_signed,
        },
    ])
}
