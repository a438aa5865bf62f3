//! The "DPoP proofs" section of `docs/benchmarks.md`: proof creation on the
//! client (`benches/benches/dpop_client.rs`).

use std::fmt::Write as _;

use super::Report;
use super::format::opt_time;

impl Report {
    pub(super) fn render_dpop(&self, md: &mut String) {
        let _ = writeln!(md, "## DPoP proofs (client)\n");
        let _ = writeln!(
            md,
            "What a DPoP-bound session adds to each request it makes (RFC 9449): a fresh \
             proof signed with the session's key (`DpopKey::proof`: random `jti`, `htu`, \
             `iat`, a server nonce), with `ath` (SHA-256 of a 1,200-byte access token) for a \
             resource request, and through `DpopSigner` (the manager's `resource_headers`), \
             which also finds the session's stored key again each call (the last key read is \
             kept). Medians per proof.\n"
        );
        let _ = writeln!(
            md,
            "| key | proof | proof with `ath` | `DpopSigner` (stored key + proof with `ath`) |\n\
             |---|---|---|---|"
        );
        for (id, name) in [("es256", "ES256 (default)"), ("eddsa", "EdDSA")] {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} |",
                opt_time(self.ns("dpop_client", &format!("proof_{id}"))),
                opt_time(self.ns("dpop_client", &format!("proof_ath_{id}"))),
                opt_time(self.ns("dpop_client", &format!("signer_{id}"))),
            );
        }
        let _ = writeln!(md);
    }
}
