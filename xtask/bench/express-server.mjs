// The Node.js side of the load benchmark: an express app whose /api/sync is
// protected by Auth0's express-oauth2-jwt-bearer, verifying the benchmark's
// tokens against the same public keys the Rust server uses.
//
// Usage: node express-server.mjs <jwks.json> <issuer> <audience>
// Serves the key set itself on a second loopback port (the middleware fetches
// it once, on the first request, and keeps it), then prints
// "listening on http://127.0.0.1:<port>" and serves until killed.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import express from 'express';
import { auth } from 'express-oauth2-jwt-bearer';

const [jwksPath, issuer, audience] = process.argv.slice(2);
if (!jwksPath || !issuer || !audience) {
  console.error('usage: node express-server.mjs <jwks.json> <issuer> <audience>');
  process.exit(2);
}
const jwks = readFileSync(jwksPath, 'utf8');

const keyHost = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(jwks);
});
await new Promise((resolve) => keyHost.listen(0, '127.0.0.1', resolve));
const jwksUri = `http://127.0.0.1:${keyHost.address().port}/jwks`;

const app = express();
app.disable('x-powered-by');
app.get('/api/sync', auth({ issuer, audience, jwksUri, tokenSigningAlg: 'RS256' }), (req, res) => {
  const claims = req.auth.payload;
  res.json({
    subject: claims.sub,
    issuer: claims.iss,
    scopes: (claims.scope ?? '').split(' ').filter(Boolean),
    message: 'sync accepted',
  });
});
const server = app.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
