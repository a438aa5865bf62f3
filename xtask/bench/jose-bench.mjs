// Verifies the benchmark's tokens with jose, the usual choice on a Node.js sync
// server, and prints the median time per verification as JSON.
//
// Usage: node jose-bench.mjs <cases.json>
// cases.json (written by benches/benches/validation.rs):
//   {"issuer": "...", "audience": "...", "cases": [{"name": "RS256",
//    "alg": "RS256", "jwk": {public JWK}, "tokens": ["...", ...]}]}
//   (a single "token" works too). The tokens are verified in turn, the way
//   the Rust side's first-seen benchmark goes through them; jose keeps no
//   cache, so a repeated token costs the same.
// Output: {"RS256": {"median_ns": 12345, "samples": 31, "iters_per_sample": 200},
//          ..., "_meta": {"node": "v20...", "jose": "6.2.18"}}
import { readFileSync } from 'node:fs';
import { importJWK, jwtVerify } from 'jose';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const SAMPLES = 31;
const TARGET_SAMPLE_NS = 20_000_000n; // about 20 ms a sample

async function timeIt(fn, iters) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) await fn();
  return Number(process.hrtime.bigint() - start) / iters;
}

const out = {};
for (const c of input.cases) {
  const key = await importJWK(c.jwk, c.alg);
  const tokens = c.tokens ?? [c.token];
  const options = { issuer: input.issuer, audience: input.audience, algorithms: [c.alg] };
  let next = 0;
  const verify = async () => {
    const token = tokens[next];
    next = (next + 1) % tokens.length;
    const { payload } = await jwtVerify(token, key, options);
    if (payload.sub === undefined) throw new Error('no sub');
  };
  // Warm up the JIT, then size a sample to about 20 ms.
  for (let i = 0; i < Math.max(200, tokens.length); i++) await verify();
  const probe = await timeIt(verify, 50);
  const iters = Math.max(10, Number(TARGET_SAMPLE_NS / BigInt(Math.max(1, Math.round(probe)))));
  const samples = [];
  for (let s = 0; s < SAMPLES; s++) samples.push(await timeIt(verify, iters));
  samples.sort((a, b) => a - b);
  out[c.name] = { median_ns: Math.round(samples[SAMPLES >> 1]), samples: SAMPLES, iters_per_sample: iters };
}
const jose = JSON.parse(readFileSync(new URL('./node_modules/jose/package.json', import.meta.url), 'utf8'));
out._meta = { node: process.version, jose: jose.version };
console.log(JSON.stringify(out));
