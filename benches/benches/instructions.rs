//! Instructions per call on the validation hot paths, counted by valgrind's
//! callgrind: a figure that, unlike a time, does not move with what else the
//! machine is doing, so a change to the code shows in it from one run.
//!
//! The bench signs the tokens, then runs itself again under
//! `valgrind --tool=callgrind` once per case; the child reads the tokens and
//! key set from files (so no key is generated under valgrind), makes one
//! call outside the
//! measurement (so one-time work such as lazy initialisation is not
//! counted), then makes [`CALLS`] calls inside `instr_measured_calls`, the
//! only function callgrind collects (with everything it calls). The count
//! per call is the collected total divided by [`CALLS`].
//!
//! The route cases count a whole request through an axum `Router`, in
//! process (`tower::ServiceExt::oneshot`, polled once): the same handler
//! and the same repeated valid RS256 token, without authentication and
//! behind `BearerAuthLayer`. The difference is what the layer adds per
//! request, shown beside a cached validation alone (`repeated`).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use authresult_bench::support::poll_once;
use authresult_bench::tokens::{self, Alg, RawKey, RawToken, Signer};
use authresult_bench::{results, routes};
use authresult_jwt::UnverifiedJwt;
use axum::body::Body;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::RsaPublicKeyComponents;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Set (to a case name) when this binary runs as the measured child.
const CASE_ENV: &str = "AUTHRESULT_INSTRUCTIONS_CASE";
/// The folder of the tokens and key sets, for the child.
const DIR_ENV: &str = "AUTHRESULT_INSTRUCTIONS_DIR";
/// Calls counted per case.
const CALLS: usize = 64;
/// The cases, each per algorithm: what is called.
const CASES: [&str; 4] = ["raw", "parse", "first_seen", "repeated"];
/// The whole-request cases, with RS256 tokens only: the route without
/// authentication, and behind the layer.
const ROUTE_CASES: [&str; 2] = ["route_open", "route_protected"];
/// The algorithm of the route cases.
const ROUTE_ALG: Alg = Alg::Rs256;

fn main() {
    if let Ok(case) = std::env::var(CASE_ENV) {
        if let Err(e) = child(&case) {
            eprintln!("instructions, case {case}: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let result = match run() {
        Ok(value) => value,
        Err(e) => {
            eprintln!("instructions: not measured: {e:#}");
            json!({"measured": false, "reason": format!("{e:#}")})
        }
    };
    if let Err(e) = results::write("instructions", &result) {
        eprintln!("instructions: cannot write the results: {e:#}");
        std::process::exit(1);
    }
}

fn valgrind_version() -> anyhow::Result<String> {
    let out = Command::new("valgrind")
        .arg("--version")
        .output()
        .context("valgrind is not installed (`cargo xtask bench` installs Debian's valgrind)")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn run() -> anyhow::Result<Value> {
    let version = valgrind_version()?;
    let dir = results::out_dir().join("callgrind");
    std::fs::create_dir_all(&dir)?;
    let mut algs = serde_json::Map::new();
    for alg in Alg::ALL {
        let signer = Signer::generate(alg)?;
        // One more token than counted: the first is the uncounted call.
        let all = tokens::tokens(&signer, CALLS as u64 + 1)?;
        std::fs::write(dir.join(format!("{}.tokens", alg.name())), all.join("\n"))?;
        std::fs::write(
            dir.join(format!("{}.jwks", alg.name())),
            tokens::jwks_json(&[&signer]),
        )?;
        let mut cases = serde_json::Map::new();
        for case in CASES {
            let name = format!("{case}-{}", alg.name());
            eprintln!("instructions: {name} under callgrind");
            let per_call = measure(&dir, &name)?;
            cases.insert(case.into(), json!(per_call));
        }
        algs.insert(alg.name().into(), Value::Object(cases));
    }
    let mut route = serde_json::Map::new();
    for case in ROUTE_CASES {
        let name = format!("{case}-{}", ROUTE_ALG.name());
        eprintln!("instructions: {name} under callgrind");
        let per_call = measure(&dir, &name)?;
        route.insert(case.trim_start_matches("route_").into(), json!(per_call));
    }
    route.insert("alg".into(), json!(ROUTE_ALG.name()));
    Ok(json!({
        "measured": true,
        "valgrind": version,
        "calls": CALLS,
        "algs": algs,
        "route": route,
    }))
}

/// Runs the case `name` under callgrind; instructions per call.
fn measure(dir: &Path, name: &str) -> anyhow::Result<f64> {
    let out_file = dir.join(format!("{name}.out"));
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=*instr_measured_calls*")
        .arg(std::env::current_exe()?)
        .env(CASE_ENV, name)
        .env(DIR_ENV, dir)
        .output()
        .context("cannot run valgrind")?;
    if !out.status.success() {
        bail!(
            "the {name} case failed under valgrind: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&out_file)?;
    let total = text
        .lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .context("callgrind wrote no total")?;
    if total == 0 {
        bail!("callgrind counted nothing in the {name} case (was the function inlined?)");
    }
    Ok(total as f64 / CALLS as f64)
}

/// The measured child: prepare, call once, then [`CALLS`] counted calls.
fn child(name: &str) -> anyhow::Result<()> {
    let (case, alg_name) = name.split_once('-').context("a case is <case>-<alg>")?;
    let alg = Alg::ALL
        .into_iter()
        .find(|a| a.name() == alg_name)
        .context("unknown algorithm")?;
    let dir = std::path::PathBuf::from(std::env::var_os(DIR_ENV).context("no folder")?);
    let jwks = std::fs::read_to_string(dir.join(format!("{}.jwks", alg.name())))?;
    let all: Vec<String> = std::fs::read_to_string(dir.join(format!("{}.tokens", alg.name())))?
        .lines()
        .map(str::to_owned)
        .collect();
    if all.len() != CALLS + 1 {
        bail!("expected {} tokens, found {}", CALLS + 1, all.len());
    }
    match case {
        "raw" => {
            let key = raw_key(&jwks)?;
            let raw: Vec<RawToken> = all.iter().map(|t| RawToken::split(t)).collect::<Result<_, _>>()?;
            let call = |t: &RawToken| assert!(key.verify(&t.signing_input, &t.signature));
            call(&raw[0]);
            instr_measured_calls(&raw[1..], call);
        }
        "parse" => {
            let call = |t: &String| {
                black_box(UnverifiedJwt::parse(t).expect("parses"));
            };
            call(&all[0]);
            instr_measured_calls(&all[1..], call);
        }
        "first_seen" => {
            // A cache of 16 entries: each counted token is new to it.
            let validator = tokens::validator(&jwks, Some(16))?;
            let call = |t: &String| {
                black_box(poll_once(validator.validate(t)).expect("valid"));
            };
            call(&all[0]);
            instr_measured_calls(&all[1..], call);
        }
        "repeated" => {
            let validator = tokens::validator(&jwks, None)?;
            let call = |t: &String| {
                black_box(poll_once(validator.validate(t)).expect("valid"));
            };
            call(&all[0]);
            let same = vec![all[0].clone(); CALLS];
            instr_measured_calls(&same, call);
        }
        "route_open" | "route_protected" => {
            let router = if case == "route_open" {
                routes::open_router()
            } else {
                routes::protected_router(tokens::validator(&jwks, None)?)
            };
            // As `axum::serve` prepares a router for each connection: every
            // route made ready once, not again for every request.
            let router = router.with_state::<()>(());
            let authorization = HeaderValue::try_from(format!("Bearer {}", all[0]))?;
            let call = |authorization: &HeaderValue| {
                let request = Request::get(routes::PATH)
                    .header(AUTHORIZATION, authorization.clone())
                    .body(Body::empty())
                    .expect("a request");
                let response = poll_once(router.clone().oneshot(request)).expect("an answer");
                assert_eq!(response.status(), StatusCode::OK);
                black_box(response);
            };
            call(&authorization);
            let same = vec![authorization.clone(); CALLS];
            instr_measured_calls(&same, call);
        }
        other => bail!("unknown case {other}"),
    }
    Ok(())
}

/// The public key of a one-key set, as ring takes it.
fn raw_key(jwks: &str) -> anyhow::Result<RawKey> {
    let set: Value = serde_json::from_str(jwks)?;
    let jwk = &set["keys"][0];
    let field = |name: &str| -> anyhow::Result<Vec<u8>> {
        let text = jwk[name].as_str().with_context(|| format!("no {name}"))?;
        Ok(URL_SAFE_NO_PAD.decode(text)?)
    };
    Ok(match jwk["kty"].as_str() {
        Some("RSA") => RawKey::Rsa(RsaPublicKeyComponents {
            n: field("n")?,
            e: field("e")?,
        }),
        Some("EC") => {
            let mut point = vec![4];
            point.extend(field("x")?);
            point.extend(field("y")?);
            RawKey::EcP256(point)
        }
        Some("OKP") => RawKey::Ed25519(field("x")?),
        other => bail!("unexpected key type {other:?}"),
    })
}

/// The only function callgrind collects: `call` on each of `items`.
#[inline(never)]
fn instr_measured_calls<T>(items: &[T], call: impl Fn(&T)) {
    for item in items {
        call(black_box(item));
    }
}
