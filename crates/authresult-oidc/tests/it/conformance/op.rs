//! The hostile test provider: one OpenID provider on `wiremock` that serves
//! discovery, its key set, the authorization endpoint (a 302 back to the
//! client's loopback redirect with `code`, `state` and `iss`, or an error),
//! the device authorization endpoint, the token endpoint (code with PKCE,
//! device code, refresh), userinfo and the end-session endpoint, honestly by default and misbehaving exactly as a
//! test's [`Twist`] says. It records what the client sent, so a test can
//! also assert the client's requests (PKCE, Basic authentication, the
//! bearer header, the logout parameters). As a FAPI 2.0 provider
//! ([`Twist::fapi`], `op/fapi.rs`) it also requires pushed authorization
//! requests, `private_key_jwt` and DPoP-bound tokens.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use authresult_oidc::{OidcOptions, OidcProvider};
use authresult_test_support::{JwtAlg, JwtSigner, at_hash, b64};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{KID, now, provider_from, signing_jwk, signing_key};

mod fapi;

/// The client registered at the provider (a confidential native client).
pub const CLIENT_ID: &str = "app";
/// Its secret, which also keys the HS256 ID token of `invalid-sig-hs256`.
pub const CLIENT_SECRET: &str = "app-secret-0123456789abcdef0123456789";
/// The end user.
pub const SUBJECT: &str = "alice";
/// The `kid` of [`second_key`].
pub const KID2: &str = "test-key-2";
/// The `kid` of [`ec_key`].
pub const EC_KID: &str = "test-ec-1";

/// A second RSA-2048 key: the key after a rotation, or one not in the set.
pub fn second_key() -> &'static JwtSigner {
    static KEY: OnceLock<JwtSigner> = OnceLock::new();
    KEY.get_or_init(|| JwtSigner::generate(JwtAlg::Rs256).unwrap())
}

/// A P-256 key for the ES256 tests.
pub fn ec_key() -> &'static JwtSigner {
    static KEY: OnceLock<JwtSigner> = OnceLock::new();
    KEY.get_or_init(|| JwtSigner::generate(JwtAlg::Es256).unwrap())
}

/// How the ID token is signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Signing {
    /// RS256 with the published key, its `kid` in the header.
    #[default]
    Good,
    /// RS256 with the published key, one bit of the signature flipped.
    TamperedRs256,
    /// ES256 with the published EC key, one bit of the signature flipped.
    TamperedEs256,
    /// RS256 with [`second_key`], which the set does not publish, under [`KID`].
    KeyNotInSet,
    /// The first ID token good, every later one RS256 with [`second_key`]
    /// under [`KID2`], a `kid` the set never has.
    UnknownKidAfterFirst,
    /// `alg: none`, no signature.
    AlgNone,
    /// HS256 keyed by the client secret.
    ClientSecretHs256,
    /// RS256 with the published key, no `kid` in the header.
    KidAbsent,
    /// ES256 with the published EC key under [`EC_KID`].
    Es256,
}

/// The key set the provider publishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeySet {
    /// The signing key under [`KID`].
    #[default]
    One,
    /// The signing key without `kid`.
    OneWithoutKid,
    /// The signing key and [`second_key`], both without `kid`.
    TwoWithoutKid,
    /// The signing key and [`ec_key`] under [`EC_KID`].
    RsaAndEc,
}

/// When the provider rotates its signing key to [`second_key`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Rotation {
    /// Never.
    #[default]
    Never,
    /// After the first ID token is issued (and verified): when the next
    /// login begins.
    AfterFirstIdToken,
    /// Right before the second ID token is signed.
    BeforeSecondIdToken,
}

/// What the authorization endpoint answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Callback {
    /// `code`, `state` and `iss`.
    #[default]
    Good,
    /// `error=access_denied`, `state` and `iss`.
    Error,
    /// `code`, `state` and an `iss` naming another issuer (RFC 9207).
    OtherIss,
    /// `code` and `state`, no `iss` although discovery advertises it.
    NoIss,
    /// `code`, `iss` and another `state` than the request's.
    OtherState,
    /// `code` and `iss`, no `state`.
    NoState,
}

/// How a test's provider misbehaves; the default misbehaves in nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Twist {
    /// Edits the claims of the ID token of a code exchange.
    pub login_claims: Option<fn(Value) -> Value>,
    /// Edits the claims of the ID token of a refresh.
    pub refresh_claims: Option<fn(Value) -> Value>,
    /// How ID tokens are signed.
    pub signing: Signing,
    /// The key set served.
    pub keys: KeySet,
    /// When the signing key rotates.
    pub rotation: Rotation,
    /// The authorization response.
    pub callback: Callback,
    /// The `sub` userinfo answers (default: the ID token's).
    pub userinfo_sub: Option<&'static str>,
    /// The issuer discovery reports (default: the provider's own).
    pub discovery_issuer: Option<&'static str>,
    /// A FAPI 2.0 provider: pushed authorization requests required,
    /// `private_key_jwt` client authentication, DPoP-bound tokens (a
    /// server nonce asked for at the token and resource endpoints).
    pub fapi: bool,
    /// (FAPI) No DPoP nonce is asked for anywhere.
    pub no_dpop_nonce: bool,
    /// (FAPI) The scheme of the resource server's `use_dpop_nonce`
    /// challenge (default `DPoP`).
    pub rs_nonce_scheme: Option<&'static str>,
    /// Edits the token endpoint's JSON answer.
    pub token_response: Option<fn(Value) -> Value>,
}

/// What the client sent, and the provider's running state.
#[derive(Debug, Default)]
pub struct Seen {
    /// Authorization requests (full URLs).
    pub authorizations: Vec<Url>,
    /// Token requests: the `Authorization` header and the form.
    pub token_requests: Vec<(Option<String>, BTreeMap<String, String>)>,
    /// Key set fetches.
    pub jwks_fetches: usize,
    /// Userinfo requests: the `Authorization` header and the query.
    pub userinfo_requests: Vec<(Option<String>, Option<String>)>,
    /// End-session requests (full URLs).
    pub end_sessions: Vec<Url>,
    /// Device authorization requests.
    pub device_authorizations: usize,
    /// Per device code: the polls answered so far.
    device_codes: BTreeMap<String, usize>,
    /// ID tokens issued so far.
    pub id_tokens_issued: usize,
    /// True once the signing key is [`second_key`].
    pub rotated: bool,
    /// Per authorization code: the nonce and PKCE challenge it was issued
    /// for, and the DPoP key thumbprint it is bound to.
    codes: BTreeMap<String, IssuedCode>,
    /// Access tokens issued.
    access_tokens: Vec<String>,
    /// (FAPI) Pushed authorization requests: the form each carried.
    pub pushed_requests: Vec<BTreeMap<String, String>>,
    /// (FAPI) Per `request_uri`: the pushed parameters and the DPoP key
    /// thumbprint the code is to be bound to.
    pushed: BTreeMap<String, (BTreeMap<String, String>, Option<String>)>,
    /// (FAPI) The DPoP proof of each token request.
    pub token_proofs: Vec<Option<String>>,
    /// (FAPI) Why each refused token, PAR or resource request was refused.
    pub refusals: Vec<String>,
    /// (FAPI) Per access token (and the refresh token): the DPoP key
    /// thumbprint it is bound to.
    bound: BTreeMap<String, String>,
    /// (FAPI) `jti`s of the DPoP proofs and client assertions seen.
    jtis: std::collections::BTreeSet<String>,
    /// (FAPI) Resource requests answered with their data.
    pub resource_answers: usize,
}

/// What an authorization code was issued for: the nonce, the PKCE
/// challenge and the DPoP key thumbprint it is bound to.
type IssuedCode = (Option<String>, Option<String>, Option<String>);

/// The hostile provider.
pub struct HostileOp {
    pub server: MockServer,
    state: Arc<Shared>,
}

struct Shared {
    issuer: String,
    /// The key set's path, new for every provider (the client must take it
    /// from discovery).
    jwks_path: String,
    twist: Twist,
    seen: Mutex<Seen>,
}

impl HostileOp {
    /// Starts a provider misbehaving as `twist` says.
    pub async fn start(twist: Twist) -> HostileOp {
        let server = MockServer::start().await;
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let jwks_path = format!(
            "/keys/{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        let state = Arc::new(Shared {
            issuer: server.uri(),
            jwks_path: jwks_path.clone(),
            twist,
            seen: Mutex::new(Seen::default()),
        });
        let op = HostileOp { server, state };
        let routes: [(&str, &str, Handler); 8] = [
            ("GET", "/.well-known/openid-configuration", Handler::Discovery),
            ("GET", jwks_path.as_str(), Handler::Jwks),
            ("GET", "/auth", Handler::Authorize),
            ("POST", "/token", Handler::Token),
            ("GET", "/me", Handler::Userinfo),
            ("GET", "/logout", Handler::EndSession),
            ("POST", "/device", Handler::Device),
            ("POST", "/par", Handler::Par),
        ];
        for (verb, route, handler) in routes {
            Mock::given(method(verb))
                .and(path(route))
                .respond_with(Endpoint {
                    state: op.state.clone(),
                    handler,
                })
                .mount(&op.server)
                .await;
        }
        op
    }

    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The confidential client of this provider (loopback redirect, a
    /// post-logout redirect) with `options`.
    pub fn provider(&self, options: OidcOptions) -> OidcProvider {
        provider_from(
            json!({"type": "oidc", "fields": {
                "issuer": self.issuer(),
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "post_logout_redirect_uri": "http://127.0.0.1:53998/logged-out",
            }}),
            options,
        )
    }

    /// Reads what the client sent so far.
    pub fn seen<T>(&self, read: impl FnOnce(&Seen) -> T) -> T {
        read(&self.state.seen.lock().unwrap())
    }
}

#[derive(Debug, Clone, Copy)]
enum Handler {
    Discovery,
    Jwks,
    Authorize,
    Token,
    Userinfo,
    EndSession,
    Device,
    Par,
}

struct Endpoint {
    state: Arc<Shared>,
    handler: Handler,
}

impl Respond for Endpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let shared = &self.state;
        let mut seen = shared.seen.lock().unwrap();
        match self.handler {
            Handler::Discovery => ResponseTemplate::new(200).set_body_json(discovery(shared)),
            Handler::Jwks => {
                seen.jwks_fetches += 1;
                ResponseTemplate::new(200).set_body_json(json!({"keys": published(shared, &seen)}))
            }
            Handler::Authorize => authorize(shared, &mut seen, &request.url),
            Handler::Par => fapi::par(shared, &mut seen, request),
            Handler::Token => token(shared, &mut seen, request),
            Handler::Userinfo => userinfo(shared, &mut seen, request),
            Handler::Device => {
                seen.device_authorizations += 1;
                let code = format!("dc-{}", seen.device_authorizations);
                seen.device_codes.insert(code.clone(), 0);
                ResponseTemplate::new(200).set_body_json(json!({
                    "device_code": code, "user_code": "WDJB-MJHT",
                    "verification_uri": format!("{}/activate", shared.issuer),
                    "expires_in": 120, "interval": 1,
                }))
            }
            Handler::EndSession => {
                seen.end_sessions.push(request.url.clone());
                ResponseTemplate::new(200).set_body_string("logged out")
            }
        }
    }
}

fn discovery(shared: &Shared) -> Value {
    let base = &shared.issuer;
    let mut document = json!({
        "issuer": shared.twist.discovery_issuer.unwrap_or(base),
        "authorization_endpoint": format!("{base}/auth"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}{}", shared.jwks_path),
        "userinfo_endpoint": format!("{base}/me"),
        "end_session_endpoint": format!("{base}/logout"),
        "device_authorization_endpoint": format!("{base}/device"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "authorization_response_iss_parameter_supported": true,
    });
    if shared.twist.fapi {
        fapi::discovery(base, &mut document);
    }
    document
}

fn published(shared: &Shared, seen: &Seen) -> Vec<Value> {
    if seen.rotated {
        return vec![second_key().jwk(KID2)];
    }
    let kidless = |key: &JwtSigner| {
        let mut jwk = key.jwk("x");
        jwk.as_object_mut().unwrap().remove("kid");
        jwk
    };
    match shared.twist.keys {
        KeySet::One => vec![signing_jwk()],
        KeySet::OneWithoutKid => vec![kidless(signing_key())],
        KeySet::TwoWithoutKid => vec![kidless(signing_key()), kidless(second_key())],
        KeySet::RsaAndEc => vec![signing_jwk(), ec_key().jwk(EC_KID)],
    }
}

fn query_of(url: &Url) -> BTreeMap<String, String> {
    url.query_pairs().into_owned().collect()
}

fn authorize(shared: &Shared, seen: &mut Seen, url: &Url) -> ResponseTemplate {
    seen.authorizations.push(url.clone());
    if shared.twist.rotation == Rotation::AfterFirstIdToken && seen.id_tokens_issued > 0 {
        seen.rotated = true;
    }
    let mut query = query_of(url);
    let mut jkt = None;
    if shared.twist.fapi {
        match fapi::pushed(seen, &query) {
            Ok((pushed, bound)) => (query, jkt) = (pushed, bound),
            Err(why) => {
                seen.refusals.push(why.to_owned());
                return ResponseTemplate::new(400).set_body_string(why);
            }
        }
    }
    let Some(redirect) = query.get("redirect_uri").and_then(|r| Url::parse(r).ok()) else {
        return ResponseTemplate::new(400).set_body_string("no redirect_uri");
    };
    let code = format!("code-{}", seen.authorizations.len());
    seen.codes.insert(
        code.clone(),
        (
            query.get("nonce").cloned(),
            query.get("code_challenge").cloned(),
            jkt,
        ),
    );
    let mut back = redirect;
    {
        let mut pairs = back.query_pairs_mut();
        match shared.twist.callback {
            Callback::Error => {
                pairs.append_pair("error", "access_denied");
                pairs.append_pair("error_description", "the user said no");
            }
            _ => {
                pairs.append_pair("code", &code);
            }
        }
        match (shared.twist.callback, query.get("state")) {
            (Callback::NoState, _) | (_, None) => {}
            (Callback::OtherState, Some(_)) => {
                pairs.append_pair("state", "state-of-another-login");
            }
            (_, Some(state)) => {
                pairs.append_pair("state", state);
            }
        }
        match shared.twist.callback {
            Callback::OtherIss => {
                pairs.append_pair("iss", "https://attacker.example");
            }
            Callback::NoIss => {}
            _ => {
                pairs.append_pair("iss", &shared.issuer);
            }
        }
    }
    ResponseTemplate::new(302).insert_header("Location", back.as_str())
}

fn oauth_error(error: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({"error": error}))
}

fn token(shared: &Shared, seen: &mut Seen, request: &Request) -> ResponseTemplate {
    let authorization = header(request, "authorization");
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
    seen.token_requests.push((authorization.clone(), form.clone()));
    seen.token_proofs.push(header(request, "dpop"));
    let mut jkt = None;
    if shared.twist.fapi {
        match fapi::check_token_request(shared, seen, request, &form) {
            Ok(proven) => jkt = Some(proven),
            Err(refusal) => return *refusal,
        }
    } else {
        let expected = format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        );
        if authorization.as_deref() != Some(expected.as_str()) {
            return ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"}));
        }
    }
    let (nonce, edit) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some((nonce, challenge, bound)) = form.get("code").and_then(|c| seen.codes.remove(c)) else {
                return oauth_error("invalid_grant");
            };
            if bound.is_some() && bound != jkt {
                seen.refusals.push("the code is bound to another DPoP key".into());
                return oauth_error("invalid_grant");
            }
            let verifier = form.get("code_verifier").map(String::as_str).unwrap_or_default();
            let computed =
                URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
            if challenge.as_deref() != Some(computed.as_str()) {
                return oauth_error("invalid_grant");
            }
            (nonce, shared.twist.login_claims)
        }
        // The first poll is pending, the next one approved.
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            let Some(polls) = form.get("device_code").and_then(|c| seen.device_codes.get_mut(c)) else {
                return oauth_error("invalid_grant");
            };
            *polls += 1;
            if *polls == 1 {
                return oauth_error("authorization_pending");
            }
            (None, shared.twist.login_claims)
        }
        Some("refresh_token") if form.get("refresh_token").map(String::as_str) == Some("rt-1") => {
            if shared.twist.fapi && seen.bound.get("rt-1") != jkt.as_ref() {
                seen.refusals
                    .push("the refresh token is bound to another DPoP key".into());
                return oauth_error("invalid_grant");
            }
            (None, shared.twist.refresh_claims)
        }
        _ => return oauth_error("invalid_grant"),
    };
    let access_token = format!("at-{}", seen.access_tokens.len() + 1);
    seen.access_tokens.push(access_token.clone());
    if shared.twist.rotation == Rotation::BeforeSecondIdToken && seen.id_tokens_issued == 1 {
        seen.rotated = true;
    }
    let now = now();
    let mut claims = json!({
        "iss": shared.issuer, "sub": SUBJECT, "aud": CLIENT_ID, "exp": now + 300, "iat": now,
        "at_hash": at_hash(&access_token), "email": "alice@example.org",
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(edit) = edit {
        claims = edit(claims);
    }
    let id_token = sign(shared.twist.signing, seen.rotated, seen.id_tokens_issued, &claims);
    seen.id_tokens_issued += 1;
    let mut answer = json!({
        "access_token": access_token, "token_type": "Bearer", "expires_in": 300,
        "refresh_token": "rt-1", "id_token": id_token, "scope": "openid profile email offline_access",
    });
    if let Some(jkt) = jkt {
        answer["token_type"] = json!("DPoP");
        seen.bound.insert(access_token, jkt.clone());
        seen.bound.insert("rt-1".into(), jkt);
    }
    if let Some(edit) = shared.twist.token_response {
        answer = edit(answer);
    }
    let mut response = ResponseTemplate::new(200).set_body_json(answer);
    if shared.twist.fapi && !shared.twist.no_dpop_nonce {
        response = response.insert_header("DPoP-Nonce", fapi::AS_NONCE);
    }
    response
}

fn flip_a_bit(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature[5] ^= 1;
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The ID token of `claims`, signed as `signing` says (`issued`: the ID
/// tokens issued before this one).
fn sign(signing: Signing, rotated: bool, issued: usize, claims: &Value) -> String {
    let rs256 = |key: &JwtSigner, kid: Option<&str>| {
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        key.sign_jwt(&header, claims).unwrap()
    };
    if rotated {
        return rs256(second_key(), Some(KID2));
    }
    match signing {
        Signing::Good => rs256(signing_key(), Some(KID)),
        Signing::TamperedRs256 => flip_a_bit(&rs256(signing_key(), Some(KID))),
        Signing::TamperedEs256 => {
            let header = json!({"alg": "ES256", "typ": "JWT", "kid": EC_KID});
            flip_a_bit(&ec_key().sign_jwt(&header, claims).unwrap())
        }
        Signing::KeyNotInSet => rs256(second_key(), Some(KID)),
        Signing::UnknownKidAfterFirst if issued == 0 => rs256(signing_key(), Some(KID)),
        Signing::UnknownKidAfterFirst => rs256(second_key(), Some(KID2)),
        Signing::AlgNone => format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"}).to_string()),
            b64(claims.to_string())
        ),
        Signing::ClientSecretHs256 => {
            let key = JwtSigner::hmac(JwtAlg::Hs256, CLIENT_SECRET.as_bytes()).unwrap();
            key.sign_jwt(&json!({"alg": "HS256", "typ": "JWT"}), claims)
                .unwrap()
        }
        Signing::KidAbsent => rs256(signing_key(), None),
        Signing::Es256 => {
            let header = json!({"alg": "ES256", "typ": "JWT", "kid": EC_KID});
            ec_key().sign_jwt(&header, claims).unwrap()
        }
    }
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn userinfo(shared: &Shared, seen: &mut Seen, request: &Request) -> ResponseTemplate {
    let authorization = header(request, "authorization");
    seen.userinfo_requests
        .push((authorization.clone(), request.url.query().map(str::to_owned)));
    if shared.twist.fapi {
        if let Err(refusal) = fapi::check_resource_request(shared, seen, request) {
            return *refusal;
        }
        seen.resource_answers += 1;
        return ResponseTemplate::new(200).set_body_json(json!({
            "sub": SUBJECT, "name": "Alice Field", "email": "alice@example.org",
        }));
    }
    let known = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|token| seen.access_tokens.iter().any(|t| t == token));
    if !known {
        return ResponseTemplate::new(401)
            .insert_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    }
    ResponseTemplate::new(200).set_body_json(json!({
        "sub": shared.twist.userinfo_sub.unwrap_or(SUBJECT),
        "name": "Alice Field",
        "email": "alice@example.org",
        "email_verified": true,
    }))
}
