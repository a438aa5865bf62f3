//! The plans `docs/conformance.md` reports: each of the OpenID Foundation
//! plan's tests (read in `openid-certification/conformance-suite`), what
//! it checks in our words, and whether a test of ours runs it, why it does
//! not apply to a native client, or which issue brings it.

/// What becomes of a plan test here.
pub(crate) enum Status {
    /// Our test of the same name (the id with `-`/`.` as `_`) runs it.
    Run,
    /// It does not apply to a native code-flow client, for this reason.
    NotApplicable(&'static str),
    /// It waits for the issue that brings the feature.
    Pending(&'static str),
}

pub(crate) struct Row {
    pub(crate) id: &'static str,
    pub(crate) checks: &'static str,
    pub(crate) status: Status,
}

pub(crate) struct Plan {
    pub(crate) title: &'static str,
    /// The plan's name in the foundation's suite, or `None` for ours.
    pub(crate) name: Option<&'static str>,
    pub(crate) about: &'static str,
    pub(crate) rows: &'static [Row],
}

const fn run(id: &'static str, checks: &'static str) -> Row {
    Row {
        id,
        checks,
        status: Status::Run,
    }
}

const fn not_applicable(id: &'static str, checks: &'static str, why: &'static str) -> Row {
    Row {
        id,
        checks,
        status: Status::NotApplicable(why),
    }
}

const fn pending(id: &'static str, checks: &'static str, issue: &'static str) -> Row {
    Row {
        id,
        checks,
        status: Status::Pending(issue),
    }
}

const NO_STATE: &str = "the client sends no `state` to the end-session endpoint, and the plan skips the test then; \
     a native client does not receive the post-logout redirect";
const BACK_CHANNEL: &str = "#25 (the back-channel logout receiver)";

pub(crate) const PLANS: &[Plan] = &[
    Plan {
        title: "Basic RP",
        name: Some("oidcc-client-basic-certification-test-plan"),
        about: "Response type `code`, `client_secret_basic`.",
        rows: &[
            run(
                "oidcc-client-test",
                "the code flow against the real provider, then userinfo",
            ),
            run(
                "oidcc-client-test-invalid-iss",
                "an ID token naming another issuer is refused",
            ),
            run(
                "oidcc-client-test-missing-sub",
                "an ID token without `sub` is refused",
            ),
            run(
                "oidcc-client-test-invalid-aud",
                "an ID token for another client is refused",
            ),
            run(
                "oidcc-client-test-missing-iat",
                "an ID token without `iat` is refused",
            ),
            run(
                "oidcc-client-test-kid-absent-single-jwks",
                "no `kid`, one key in the set: that key verifies the token",
            ),
            run(
                "oidcc-client-test-kid-absent-multiple-jwks",
                "no `kid`, several keys: refused as ambiguous (the plan allows refusing or trying each key)",
            ),
            run(
                "oidcc-client-test-idtoken-sig-rs256",
                "an RS256 ID token is accepted (PKCE S256 and a nonce sent)",
            ),
            run(
                "oidcc-client-test-idtoken-sig-none",
                "an unsigned ID token (`alg: none`) is refused, no userinfo request (the plan allows either)",
            ),
            run(
                "oidcc-client-test-invalid-sig-rs256",
                "an invalid RS256 signature is refused",
            ),
            run(
                "oidcc-client-test-userinfo-invalid-sub",
                "userinfo answering another `sub` than the ID token's is refused",
            ),
            run(
                "oidcc-client-test-nonce-invalid",
                "an ID token with another nonce is refused",
            ),
            run(
                "oidcc-client-test-scope-userinfo-claims",
                "claims asked with the `profile` and `email` scopes arrive from userinfo",
            ),
            run(
                "oidcc-client-test-client-secret-basic",
                "the token request authenticates with HTTP Basic, no secret in the body",
            ),
        ],
    },
    Plan {
        title: "Config RP",
        name: Some("oidcc-client-config-certification-test-plan"),
        about: "Response type `code`.",
        rows: &[
            run(
                "oidcc-client-test-discovery-openid-config",
                "the client reads the provider configuration and uses its endpoints",
            ),
            run(
                "oidcc-client-test-discovery-jwks-uri-keys",
                "the keys come from the `jwks_uri` discovery names (new for every provider)",
            ),
            run(
                "oidcc-client-test-discovery-issuer-mismatch",
                "a configuration naming another issuer is refused before the user is sent anywhere",
            ),
            run(
                "oidcc-client-test-idtoken-sig-none",
                "an unsigned ID token is refused (the Basic plan's test)",
            ),
            run(
                "oidcc-client-test-signing-key-rotation-just-before-signing",
                "the key rotates right before an ID token is signed: one refetch, accepted",
            ),
            run(
                "oidcc-client-test-signing-key-rotation",
                "the key rotates between two logins: one refetch, accepted",
            ),
        ],
    },
    Plan {
        title: "Refresh Token RP",
        name: Some("oidcc-client-refreshtoken-test-plan"),
        about: "Not part of certification. The provider adapter refuses the refreshed ID token; the manager \
                keeps the login's session unchanged and reports a `RefreshFailed` event (class protocol).",
        rows: &[
            run(
                "oidcc-client-test-refresh-token",
                "a refresh, then userinfo with the new access token",
            ),
            run(
                "oidcc-client-test-refresh-token-invalid-issuer",
                "a refreshed ID token naming another issuer is refused",
            ),
            run(
                "oidcc-client-test-refresh-token-invalid-sub",
                "a refreshed ID token naming another subject is refused",
            ),
        ],
    },
    Plan {
        title: "RP-Initiated Logout RP",
        name: Some("oidcc-client-rp-initiated-logout-rp-basic"),
        about: "Response type `code`. The provider's front- or back-channel notification after the logout is \
                the back-channel plan's (below).",
        rows: &[
            run(
                "oidcc-client-test-rp-init-logout",
                "logout ends the session; the end-session URL carries `id_token_hint`, `client_id` and \
                 `post_logout_redirect_uri`",
            ),
            not_applicable(
                "oidcc-client-test-rp-init-logout-other-state",
                "the post-logout redirect comes back with another `state`",
                NO_STATE,
            ),
            not_applicable(
                "oidcc-client-test-rp-init-logout-no-state",
                "the post-logout redirect comes back without `state`",
                NO_STATE,
            ),
        ],
    },
    Plan {
        title: "Back-Channel Logout RP",
        name: Some("oidcc-client-back-channel-logout-rp-basic"),
        about: "Response type `code`.",
        rows: &[
            pending(
                "oidcc-client-test-rp-backchannel-rpinitlogout",
                "a valid logout token ends the session",
                BACK_CHANNEL,
            ),
            pending(
                "oidcc-client-test-rp-backchannel-rpinitlogout-alg-none",
                "an unsigned logout token is refused",
                BACK_CHANNEL,
            ),
            pending(
                "oidcc-client-test-rp-backchannel-rpinitlogout-no-event",
                "a logout token without the logout event is refused",
                BACK_CHANNEL,
            ),
            pending(
                "oidcc-client-test-rp-backchannel-rpinitlogout-with-nonce",
                "a logout token carrying a nonce is refused",
                BACK_CHANNEL,
            ),
            pending(
                "oidcc-client-test-rp-backchannel-rpinitlogout-wrong-alg",
                "a logout token with another algorithm than the ID token's is refused",
                BACK_CHANNEL,
            ),
            pending(
                "oidcc-client-test-rp-backchannel-rpinitlogout-wrong-aud",
                "a logout token for another client is refused",
                BACK_CHANNEL,
            ),
            pending(
                "oidcc-client-test-rp-backchannel-rpinitlogout-wrong-event",
                "a logout token with another event is refused",
                BACK_CHANNEL,
            ),
            pending(
                "oidcc-client-test-rp-backchannel-rpinitlogout-wrong-iss",
                "a logout token naming another issuer is refused",
                BACK_CHANNEL,
            ),
        ],
    },
    Plan {
        title: "FAPI 2.0 Security Profile RP",
        name: Some("fapi2-security-profile-final-client-test-plan"),
        about: "Variant plain FAPI, `private_key_jwt`, DPoP, unsigned pushed requests, plain response mode. \
                The client is configured as a FAPI 2.0 client (`\"dpop\": \"required\"`, \
                `\"pushed_authorization_requests\": true`, a client assertion key, PS256/ES256/EdDSA ID \
                tokens) against the hostile provider as a FAPI 2.0 server (`op/fapi.rs`), which requires \
                pushed requests, checks every client assertion (signature, `iss`, `sub`, `aud` = the issuer, \
                `exp`, `jti`) and DPoP proof (`typ`, key, signature, `htm`, `htu`, `iat`, `jti`, nonce, \
                `ath`, the key the code and tokens are bound to) and asks for nonces. The resource request \
                is the app's, with the manager's DPoP headers.",
        rows: &[
            run(
                "fapi2-security-profile-final-client-test-happy-path",
                "the whole flow: discovery, a pushed request (`private_key_jwt`, PKCE S256) and only `client_id` and `request_uri` in the browser, the token request with a DPoP proof retried once with the server's nonce, a DPoP-bound token the resource server accepts",
            ),
            run(
                "fapi2-security-profile-final-client-test-discovery-issuer-mismatch",
                "a configuration naming another issuer is refused before anything is pushed",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-iss",
                "an ID token of another issuer is refused",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-aud",
                "an ID token for another client is refused",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-secondary-aud",
                "an ID token with an untrusted second audience is refused",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-null-alg",
                "an unsigned ID token (`alg: none`) is refused",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-alternate-alg",
                "an ID token signed RS256 by a published key is refused (PS256, ES256, EdDSA only)",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-expired-exp",
                "an expired ID token is refused",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-missing-exp",
                "an ID token without `exp` is refused",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-missing-aud",
                "an ID token without `aud` is refused",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-missing-iss",
                "an ID token without `iss` is refused",
            ),
            run(
                "fapi2-security-profile-final-client-test-valid-aud-as-array",
                "`aud` as a one-element array is accepted",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-nonce",
                "an ID token with another nonce is refused",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-missing-nonce",
                "an ID token without the nonce sent is refused",
            ),
            run(
                "fapi2-security-profile-final-client-test-invalid-authorization-response-iss",
                "the authorization response names another issuer (RFC 9207): refused before the token request",
            ),
            run(
                "fapi2-security-profile-final-client-test-remove-authorization-response-iss",
                "the authorization response has no `iss` although advertised: refused before the token request",
            ),
            run(
                "fapi2-security-profile-final-client-test-ensure-authorization-response-with-invalid-state-fails",
                "the authorization response carries another `state`: the listener ignores it, the manager finds no pending login",
            ),
            run(
                "fapi2-security-profile-final-client-test-ensure-authorization-response-with-invalid-missing-state-fails",
                "the authorization response has no `state`: the listener ignores it, the manager refuses it",
            ),
            run(
                "fapi2-security-profile-final-client-test-token-endpoint-response-without-expires_in",
                "a token response without `expires_in` is accepted, no lifetime invented",
            ),
            run(
                "fapi2-security-profile-final-client-test-token-type-case-insensitivity",
                "`token_type` `dPoP` is read as DPoP",
            ),
            run(
                "fapi2-security-profile-final-client-test-rs-dpop-auth-scheme-case-insensitivity",
                "the resource server asks for a nonce under the scheme `dPoP`: recorded, the retry accepted",
            ),
            run(
                "fapi2-security-profile-final-client-test-happy-path-no-dpop-nonce",
                "no server asks for a DPoP nonce: the first token request is accepted, no proof carries one",
            ),
            not_applicable(
                "fapi2-security-profile-final-client-test-invalid-openbanking-intent-id",
                "an Open Banking intent id that is not the requested one",
                "the plan runs it for the UK and Australian Open Banking profiles only; the client requests no \
                 `openbanking_intent_id`",
            ),
            run(
                "fapi2-security-profile-final-client-refresh-token-test",
                "a refresh with a DPoP proof by the session's key and `private_key_jwt`: the new token bound \
                 to the same key (the plan runs it for the Brazil and KSA profiles; it runs here too)",
            ),
        ],
    },
    Plan {
        title: "Other OIDCC RP tests",
        name: Some("oidcc-client-test-plan"),
        about: "The RP test modules of the implicit, hybrid, form-post and dynamic plans, for the code flow \
                a native client uses.",
        rows: &[
            run(
                "oidcc-client-test-invalid-athash",
                "an `at_hash` that does not match the access token",
            ),
            run("oidcc-client-test-missing-aud", "an ID token without `aud`"),
            run(
                "oidcc-client-test-invalid-sig-es256",
                "an invalid ES256 signature",
            ),
            run(
                "oidcc-client-test-invalid-sig-hs256",
                "an ID token signed with HS256 keyed by the client secret (HMAC is never allowed)",
            ),
            run(
                "oidcc-client-test-nonce-unless-code-flow",
                "the client sends a nonce on the code flow too and requires it back",
            ),
            run(
                "oidcc-client-test-userinfo-bearer-header",
                "userinfo receives the token in the `Authorization: Bearer` header",
            ),
            run(
                "oidcc-client-test-form-post-error",
                "an error in the authorization response (query mode): refused, no token request",
            ),
            not_applicable(
                "oidcc-client-test-missing-athash",
                "no `at_hash` where the flow requires it",
                "implicit and hybrid flows only; on the code flow `at_hash` is optional",
            ),
            not_applicable(
                "oidcc-client-test-invalid-chash",
                "a `c_hash` that does not match the code",
                "hybrid flow only (no ID token in the authorization response)",
            ),
            not_applicable(
                "oidcc-client-test-missing-chash",
                "no `c_hash` in a hybrid response",
                "hybrid flow only",
            ),
            not_applicable(
                "oidcc-client-test-userinfo-bearer-body",
                "the token in the userinfo request body",
                "the client uses the header, the plans' other alternative",
            ),
            not_applicable(
                "oidcc-client-test-userinfo-signed",
                "a signed userinfo response",
                "the client registers no `userinfo_signed_response_alg`; a JWT answer is refused as malformed",
            ),
            not_applicable(
                "oidcc-client-test-aggregated-claims",
                "aggregated claims",
                "claim sources are not read",
            ),
            not_applicable(
                "oidcc-client-test-distributed-claims",
                "distributed claims",
                "claim sources are not read",
            ),
            not_applicable(
                "oidcc-client-test-request-uri-signed-none",
                "a request object by reference, unsigned",
                "the client sends no request objects",
            ),
            not_applicable(
                "oidcc-client-test-request-uri-signed-rs256",
                "a request object by reference, RS256",
                "the client sends no request objects",
            ),
            not_applicable(
                "oidcc-client-test-3rd-party-init-login",
                "a login started at the client's `initiate_login_uri`",
                "a native app has no login URI a third party can open",
            ),
            not_applicable(
                "oidcc-client-test-discovery-webfinger-acct",
                "issuer discovery by WebFinger from an `acct:` identifier",
                "the issuer is configured (DataCollect's `{type, fields}`), never discovered",
            ),
            not_applicable(
                "oidcc-client-test-discovery-webfinger-url",
                "issuer discovery by WebFinger from a URL",
                "the issuer is configured, never discovered",
            ),
            not_applicable(
                "oidcc-client-test-dynamic-registration",
                "dynamic client registration",
                "clients are registered ahead of time",
            ),
            not_applicable(
                "oidcc-client-test-mtls-endpoint-aliases",
                "the token request goes to the mTLS endpoint alias",
                "needs a TLS provider asking for a client certificate: the rule runs in \
                 `tls::a_client_certificate_uses_the_mtls_endpoint_aliases`",
            ),
        ],
    },
    Plan {
        title: "Further hostile answers",
        name: None,
        about: "Cases of issue #26 beyond the plans' modules above, on the same hostile provider; the plans \
                have no device-grant test.",
        rows: &[
            run("authresult-expired-exp", "an expired ID token"),
            run(
                "authresult-iat-far-past",
                "an ID token issued a week ago (`exp` ahead)",
            ),
            run(
                "authresult-key-not-in-set",
                "a signature by a key not in the set, under a `kid` the set has",
            ),
            run(
                "authresult-unknown-kid",
                "an unknown `kid` after a good login: one refetch, then refused",
            ),
            run(
                "authresult-authorization-response-other-iss",
                "the authorization response names another issuer (RFC 9207): refused before the exchange",
            ),
            run(
                "authresult-authorization-response-no-iss",
                "no `iss` in the response although the provider advertises it (RFC 9207)",
            ),
            run(
                "authresult-device-grant",
                "the device grant (RFC 8628): a pending poll, then approved; the ID token verified",
            ),
            run(
                "authresult-device-grant-invalid-aud",
                "the device grant's ID token is for another client",
            ),
        ],
    },
    Plan {
        title: "JOSE vectors",
        name: None,
        about: "Published vectors through `authresult-jwt`'s key set (`JwkSet::from_json`, then the body of \
                `JwkSet::verify`: their payloads are text, which `UnverifiedJwt::parse` refuses as no JWT).",
        rows: &[
            run(
                "rfc7520-4.1-rsa-v1_5-rs256",
                "RFC 7520 4.1: verifies; a flipped bit and a set publishing the private key are refused",
            ),
            run("rfc7520-4.2-rsa-pss-ps384", "RFC 7520 4.2: the same with PS384"),
            run(
                "rfc7520-4.3-ecdsa-p521-es512",
                "RFC 7520 4.3: ES512 (P-521) is not implemented: the key is skipped, the example refused",
            ),
            run(
                "rfc7520-4.4-hmac-hs256",
                "RFC 7520 4.4: no symmetric key from a key set; the issuer's configured secret verifies it",
            ),
            run(
                "rfc8037-a.4-ed25519-eddsa",
                "RFC 8037 A.4: EdDSA verifies; tampering and private members refused",
            ),
            run(
                "wycheproof-jwk-valid-rsa-signature",
                "Wycheproof tcId 5: a valid RS256 signature",
            ),
            run(
                "wycheproof-jwk-symmetric-and-mixed-sets",
                "tcIds 1-3, 10-18, 25, 26: symmetric keys are never taken from a set (the valid HMAC ones too)",
            ),
            run(
                "wycheproof-jwk-duplicate-kid",
                "tcId 4 and RSA keys under one `kid`: ambiguous, refused",
            ),
            run(
                "wycheproof-jwk-encryption-key",
                "tcIds 6, 21: keys with `use: enc` are not used",
            ),
            run(
                "wycheproof-jwk-roca-rsa-key",
                "tcId 7: an RSA key with the ROCA weakness is refused",
            ),
            run(
                "wycheproof-jwk-weak-rsa-keys",
                "tcIds 8, 9: a 1024-bit modulus, exponent 1",
            ),
            run(
                "wycheproof-jwk-mismatched-alg-curve-and-type",
                "tcIds 19, 20, 23, 24: a key whose `alg`, curve or `kty` does not fit is not used",
            ),
            run("wycheproof-jwk-modified-key", "tcId 22: a modified public key"),
            run(
                "wycheproof-jwk-private-keys-in-a-published-set",
                "every group's private set served as a key set: nothing verifies",
            ),
        ],
    },
];
