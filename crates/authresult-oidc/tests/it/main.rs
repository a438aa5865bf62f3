//! Integration tests of `authresult-oidc`: every flow end to end against the
//! local OpenID provider (`xtask/idp`, started once for this binary; the
//! tests that stop and restart it start their own) and against glewlwyd (a
//! second, independent provider), and hostile or unusual answers against
//! `wiremock`.

// Tests report failures by panicking.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod backchannel;
mod callback;
mod code_flow;
mod conformance;
mod datacollect;
mod debug_output;
mod device;
mod discovery;
mod dpop;
#[cfg(feature = "tower")]
mod dpop_resource;
mod field_device;
mod field_network;
mod glewlwyd;
mod hostile;
mod id_token;
mod id_token_hostile;
mod logout;
mod origins;
mod presets;
mod profiles;
mod real_browser;
mod refresh;
mod support;
mod sync_server;
mod tls;
mod traces;
