//! The hostile provider as a FAPI 2.0 authorization and resource server
//! (`Twist::fapi`): discovery requires pushed authorization requests
//! (RFC 9126) and advertises `private_key_jwt`, DPoP (RFC 9449) and the
//! response's `iss` (RFC 9207); the PAR and token endpoints check the
//! client assertion (RFC 7523: signed by the registered key, `iss` = `sub`
//! = the client, `aud` the issuer, not expired, `jti` never seen); the
//! token endpoint checks the DPoP proof (`typ`, its own key, signature,
//! `htm`, `htu`, `iat`, `jti`, the server nonce) and binds the tokens to
//! its key; the resource endpoint (`/me`) wants `Authorization: DPoP` and
//! a proof by that key carrying `ath`. Every check is written here against
//! the RFCs, not through the library under test.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use authresult_oidc::jwt::{JwsAlgorithm, SigningKey};
use authresult_oidc::{OidcOptions, OidcProvider};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{CLIENT_ID, HostileOp, Seen, Shared, header};
use crate::support::{now, provider_from};

/// The `kid` of the client's assertion key.
pub const CLIENT_KID: &str = "fapi-client-1";
/// The nonce the token endpoint asks DPoP proofs for.
pub(super) const AS_NONCE: &str = "as-nonce-1";
/// The nonce the resource endpoint asks DPoP proofs for.
const RS_NONCE: &str = "rs-nonce-1";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The client's `private_key_jwt` key (P-256), registered at the provider.
pub fn client_key() -> &'static Arc<SigningKey> {
    static KEY: OnceLock<Arc<SigningKey>> = OnceLock::new();
    KEY.get_or_init(|| {
        let der =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        Arc::new(
            SigningKey::from_pkcs8_der(der.as_ref(), JwsAlgorithm::Es256, Some(CLIENT_KID.into())).unwrap(),
        )
    })
}

impl HostileOp {
    /// The client a FAPI 2.0 provider registered: no secret (`private_key_jwt`
    /// with [`client_key`]), DPoP required, authorization requests pushed.
    pub fn fapi_provider(&self, mut options: OidcOptions) -> OidcProvider {
        options.client_assertion_key = Some(Arc::clone(client_key()));
        // FAPI 2.0 §5.4: PS256, ES256 or EdDSA only.
        options.allowed_algorithms = vec![JwsAlgorithm::Ps256, JwsAlgorithm::Es256, JwsAlgorithm::EdDsa];
        provider_from(
            json!({"type": "oidc", "fields": {
                "issuer": self.issuer(),
                "client_id": CLIENT_ID,
                "dpop": "required",
                "pushed_authorization_requests": true,
            }}),
            options,
        )
    }
}

/// What a FAPI 2.0 provider adds to its configuration.
pub(super) fn discovery(base: &str, document: &mut Value) {
    let extra = json!({
        "pushed_authorization_request_endpoint": format!("{base}/par"),
        "require_pushed_authorization_requests": true,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256"],
        "dpop_signing_alg_values_supported": ["ES256", "PS256"],
        "id_token_signing_alg_values_supported": ["ES256", "PS256"],
        "authorization_response_iss_parameter_supported": true,
    });
    for (name, value) in extra.as_object().unwrap() {
        document[name] = value.clone();
    }
}

fn decode_json(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// The header of a compact JWS, unverified.
fn header_of(token: &str) -> Option<Value> {
    decode_json(token.split('.').next()?)
}

/// The claims of an ES256 JWS verified with the P-256 public key `jwk`.
fn verify_es256(token: &str, jwk: &Value) -> Option<Value> {
    let [head, body, signature] = <[&str; 3]>::try_from(token.split('.').collect::<Vec<_>>()).ok()?;
    if decode_json(head)?["alg"] != "ES256" || jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return None;
    }
    let mut point = vec![4u8];
    point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str()?).ok()?);
    point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str()?).ok()?);
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(format!("{head}.{body}").as_bytes(), &signature)
        .ok()?;
    decode_json(body)
}

/// The RFC 7638 thumbprint of a P-256 key.
fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap_or_default(),
        jwk["x"].as_str().unwrap_or_default(),
        jwk["y"].as_str().unwrap_or_default()
    );
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
}

fn fresh_jti(seen: &mut Seen, claims: &Value) -> bool {
    claims["jti"]
        .as_str()
        .is_some_and(|jti| !jti.is_empty() && seen.jtis.insert(jti.to_owned()))
}

/// Checks the `private_key_jwt` client authentication of a form sent to
/// `endpoint`; answers why it fails.
fn check_client_assertion(
    shared: &Shared,
    seen: &mut Seen,
    request: &Request,
    form: &BTreeMap<String, String>,
) -> Result<(), &'static str> {
    if header(request, "authorization").is_some() || form.contains_key("client_secret") {
        return Err("a FAPI 2.0 client authenticates with private_key_jwt only");
    }
    if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
        return Err("no jwt-bearer client assertion");
    }
    if form.get("client_id").is_some_and(|id| id != CLIENT_ID) {
        return Err("client_id names another client");
    }
    let registered = Value::Object(client_key().public_jwk());
    let assertion = form
        .get("client_assertion")
        .map(String::as_str)
        .unwrap_or_default();
    if header_of(assertion).is_none_or(|h| h["kid"].as_str().is_some_and(|kid| kid != CLIENT_KID)) {
        return Err("the client assertion names another key");
    }
    let claims = verify_es256(assertion, &registered).ok_or("the client assertion's signature is invalid")?;
    if claims["iss"] != CLIENT_ID || claims["sub"] != CLIENT_ID {
        return Err("the client assertion's iss and sub are not the client");
    }
    // RFC 7523bis and FAPI 2.0 §5.3.2.1: the issuer identifier is the audience.
    let audience_ok = match &claims["aud"] {
        Value::String(aud) => aud == &shared.issuer,
        Value::Array(auds) => auds.iter().any(|aud| aud == shared.issuer.as_str()),
        _ => false,
    };
    if !audience_ok {
        return Err("the client assertion's aud is not the issuer");
    }
    let now = now();
    let exp = claims["exp"].as_u64().unwrap_or(0);
    if exp <= now || exp > now + 600 {
        return Err("the client assertion's exp is past or too far ahead");
    }
    if claims["iat"].as_u64().is_some_and(|iat| iat > now + 10) {
        return Err("the client assertion's iat is in the future");
    }
    if !fresh_jti(seen, &claims) {
        return Err("the client assertion's jti is missing or replayed");
    }
    Ok(())
}

enum ProofRefusal {
    Invalid(&'static str),
    UseNonce,
}

/// Checks a DPoP proof of `htm` `htu` (and of `access_token`, at a
/// resource); answers the thumbprint of its key.
fn check_proof(
    seen: &mut Seen,
    proof: Option<&str>,
    (htm, htu): (&str, &str),
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> Result<String, ProofRefusal> {
    use ProofRefusal::Invalid;
    let proof = proof.ok_or(Invalid("no DPoP proof"))?;
    let head = header_of(proof).ok_or(Invalid("the DPoP proof is not a JWS"))?;
    if head["typ"] != "dpop+jwt" {
        return Err(Invalid("the DPoP proof's typ is not dpop+jwt"));
    }
    let jwk = &head["jwk"];
    if !jwk.is_object() || jwk.get("d").is_some() {
        return Err(Invalid("the DPoP proof carries no public key"));
    }
    let claims = verify_es256(proof, jwk).ok_or(Invalid("the DPoP proof's signature is invalid"))?;
    if claims["htm"] != htm || claims["htu"] != htu {
        return Err(Invalid("the DPoP proof is for another request"));
    }
    let now = now();
    if claims["iat"]
        .as_u64()
        .is_none_or(|iat| iat + 60 < now || iat > now + 10)
    {
        return Err(Invalid("the DPoP proof's iat is not recent"));
    }
    if let Some(token) = access_token {
        let ath = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()));
        if claims["ath"] != ath.as_str() {
            return Err(Invalid("the DPoP proof's ath is not the access token's hash"));
        }
    }
    if let Some(nonce) = nonce
        && claims["nonce"] != nonce
    {
        return Err(ProofRefusal::UseNonce);
    }
    if !fresh_jti(seen, &claims) {
        return Err(Invalid("the DPoP proof's jti is missing or replayed"));
    }
    Ok(thumbprint(jwk))
}

fn refuse(seen: &mut Seen, status: u16, error: &str, why: &str) -> ResponseTemplate {
    seen.refusals.push(why.to_owned());
    ResponseTemplate::new(status).set_body_json(json!({"error": error, "error_description": why}))
}

/// The pushed authorization request endpoint.
pub(super) fn par(shared: &Shared, seen: &mut Seen, request: &Request) -> ResponseTemplate {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
    seen.pushed_requests.push(form.clone());
    if let Err(why) = check_client_assertion(shared, seen, request, &form) {
        return refuse(seen, 401, "invalid_client", why);
    }
    let required = [
        ("response_type", Some("code")),
        ("code_challenge_method", Some("S256")),
        ("code_challenge", None),
        ("redirect_uri", None),
        ("state", None),
        ("nonce", None),
    ];
    for (name, value) in required {
        match (form.get(name), value) {
            (None, _) => return refuse(seen, 400, "invalid_request", "a required parameter is missing"),
            (Some(found), Some(value)) if found != value => {
                return refuse(
                    seen,
                    400,
                    "invalid_request",
                    "response_type or PKCE method not allowed",
                );
            }
            _ => {}
        }
    }
    if form.contains_key("request_uri") {
        return refuse(seen, 400, "invalid_request", "request_uri in a pushed request");
    }
    if !form
        .get("scope")
        .is_some_and(|s| s.split(' ').any(|s| s == "openid"))
    {
        return refuse(seen, 400, "invalid_scope", "no openid scope");
    }
    // The code is bound to the key of a proof sent here, else to `dpop_jkt`.
    let url = format!("{}/par", shared.issuer);
    let jkt = match header(request, "dpop") {
        Some(proof) => match check_proof(seen, Some(&proof), ("POST", &url), None, None) {
            Ok(jkt) => Some(jkt),
            Err(ProofRefusal::Invalid(why)) => return refuse(seen, 400, "invalid_dpop_proof", why),
            Err(ProofRefusal::UseNonce) => unreachable!("no nonce asked for"),
        },
        None => form.get("dpop_jkt").cloned(),
    };
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", seen.pushed_requests.len());
    seen.pushed.insert(request_uri.clone(), (form, jkt));
    ResponseTemplate::new(201).set_body_json(json!({"request_uri": request_uri, "expires_in": 60}))
}

/// The parameters an authorization request points to: only `client_id`
/// and a pushed `request_uri` (used once) are accepted.
pub(super) type Pushed = (BTreeMap<String, String>, Option<String>);

pub(super) fn pushed(seen: &mut Seen, query: &BTreeMap<String, String>) -> Result<Pushed, &'static str> {
    if query.keys().any(|k| k != "client_id" && k != "request_uri") {
        return Err("an authorization request with PAR carries only client_id and request_uri");
    }
    if query.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return Err("client_id names another client");
    }
    query
        .get("request_uri")
        .and_then(|uri| seen.pushed.remove(uri))
        .ok_or("the authorization request was not pushed")
}

/// Checks a token request's client assertion and DPoP proof; answers the
/// proof key's thumbprint, or the refusal.
pub(super) fn check_token_request(
    shared: &Shared,
    seen: &mut Seen,
    request: &Request,
    form: &BTreeMap<String, String>,
) -> Result<String, Box<ResponseTemplate>> {
    if let Err(why) = check_client_assertion(shared, seen, request, form) {
        return Err(Box::new(refuse(seen, 401, "invalid_client", why)));
    }
    let url = format!("{}/token", shared.issuer);
    let nonce = (!shared.twist.no_dpop_nonce).then_some(AS_NONCE);
    let proof = header(request, "dpop");
    match check_proof(seen, proof.as_deref(), ("POST", &url), nonce, None) {
        Ok(jkt) => Ok(jkt),
        Err(ProofRefusal::Invalid(why)) => Err(Box::new(refuse(seen, 400, "invalid_dpop_proof", why))),
        Err(ProofRefusal::UseNonce) => {
            seen.refusals.push("use_dpop_nonce".into());
            Err(Box::new(
                ResponseTemplate::new(400)
                    .insert_header("DPoP-Nonce", AS_NONCE)
                    .set_body_json(json!({"error": "use_dpop_nonce", "error_description": "send the nonce"})),
            ))
        }
    }
}

/// Checks a resource request: `Authorization: DPoP` with a bound access
/// token and a proof by its key.
pub(super) fn check_resource_request(
    shared: &Shared,
    seen: &mut Seen,
    request: &Request,
) -> Result<(), Box<ResponseTemplate>> {
    let unauthorized = |seen: &mut Seen, why: &str| {
        seen.refusals.push(why.to_owned());
        ResponseTemplate::new(401).insert_header("WWW-Authenticate", "DPoP error=\"invalid_token\"")
    };
    let authorization = header(request, "authorization").unwrap_or_default();
    let Some((scheme, token)) = authorization.split_once(' ') else {
        return Err(Box::new(unauthorized(seen, "no access token")));
    };
    if !scheme.eq_ignore_ascii_case("dpop") {
        return Err(Box::new(unauthorized(
            seen,
            "a DPoP-bound token sent with another scheme",
        )));
    }
    let Some(bound) = seen.bound.get(token).cloned() else {
        return Err(Box::new(unauthorized(seen, "an unknown access token")));
    };
    let url = format!("{}/me", shared.issuer);
    let nonce = (!shared.twist.no_dpop_nonce).then_some(RS_NONCE);
    let proof = header(request, "dpop");
    let refusal = match check_proof(seen, proof.as_deref(), ("GET", &url), nonce, Some(token)) {
        Ok(jkt) if jkt == bound => return Ok(()),
        Ok(_) => unauthorized(seen, "the DPoP proof is by another key than the token's"),
        Err(ProofRefusal::Invalid(why)) => unauthorized(seen, why),
        Err(ProofRefusal::UseNonce) => {
            seen.refusals.push("use_dpop_nonce".into());
            let scheme = shared.twist.rs_nonce_scheme.unwrap_or("DPoP");
            ResponseTemplate::new(401)
                .insert_header(
                    "WWW-Authenticate",
                    format!("{scheme} error=\"use_dpop_nonce\"").as_str(),
                )
                .insert_header("DPoP-Nonce", RS_NONCE)
        }
    };
    Err(Box::new(refusal))
}
