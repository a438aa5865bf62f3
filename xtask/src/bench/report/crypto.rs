//! The "Crypto backend" section of `docs/benchmarks.md`: `ring` against
//! `aws-lc-rs` for signature verification (`benches/benches/crypto.rs`).

use std::fmt::Write as _;

use super::format::{opt_time, ratio};
use super::{Alg, Report};

impl Report {
    pub(super) fn render_crypto(&self, md: &mut String) {
        let _ = writeln!(md, "## Crypto backend\n");
        if self.crypto.is_null() {
            let _ = writeln!(md, "Not measured: the crypto bench did not run.\n");
            return;
        }
        let _ = writeln!(
            md,
            "Signature verification alone, same keys and signatures, in one run: `ring` (the \
             default backend of `authresult-jwt`) against `aws-lc-rs` through its `ring`-compatible \
             API (feature `aws-lc-rs`), which parses the key on every call like `ring` does, and \
             with the key parsed once (`ParsedPublicKey`). Medians per call; the ratio is the \
             median of interleaved blocks (aws-lc time / ring time: below 1 is faster), robust \
             to load from other processes.\n"
        );
        let _ = writeln!(
            md,
            "| algorithm | ring | aws-lc-rs | aws-lc-rs, key parsed once | aws-lc / ring | parsed once / ring |\n\
             |---|---|---|---|---|---|"
        );
        for alg in Alg::ALL {
            let id = alg.id();
            let paired = &self.crypto[id];
            let r = |key: &str| {
                paired[key]
                    .as_f64()
                    .map_or_else(|| "not measured".to_owned(), ratio)
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                alg.name(),
                opt_time(self.ns("crypto", &format!("{id}_ring"))),
                opt_time(self.ns("crypto", &format!("{id}_aws_lc"))),
                opt_time(self.ns("crypto", &format!("{id}_aws_lc_parsed"))),
                r("aws_lc_over_ring"),
                r("aws_lc_parsed_over_ring"),
            );
        }
        let _ = writeln!(md);
    }
}
