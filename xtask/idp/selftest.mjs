// End-to-end self test for server.mjs. Uses only node built-ins (fetch,
// crypto, child_process). Run: node xtask/idp/selftest.mjs
//
// Drives every flow exactly the way the Rust tests are expected to (see
// README.md): manual cookie jar, redirect: 'manual', plain form posts.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const serverPath = path.join(here, 'server.mjs');

let passed = 0;
let failed = 0;

function check(name, cond, detail) {
  if (cond) {
    passed += 1;
    process.stdout.write(`ok   ${name}\n`);
  } else {
    failed += 1;
    process.stdout.write(`FAIL ${name}${detail !== undefined ? ` -- ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}\n`);
  }
  return cond;
}

async function section(name, fn) {
  try {
    await fn();
  } catch (err) {
    failed += 1;
    process.stdout.write(`FAIL ${name}: threw ${err?.stack || err}\n`);
  }
}

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

const children = new Set();

function killAllChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function startServer(args = []) {
  const child = spawn(process.execPath, [serverPath, '--exit-on-stdin-close', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  const stderr = [];
  child.stderr.on('data', (d) => {
    stderr.push(d.toString());
    if (process.env.IDP_SELFTEST_VERBOSE) process.stderr.write(d);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    let buf = '';
    let lines = 0;
    child.stdout.on('data', (d) => {
      buf += d.toString();
      let idx;
      while ((idx = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, idx);
        buf = buf.slice(idx + 1);
        lines += 1;
        if (line.startsWith('IDP_READY ')) {
          resolve({ info: JSON.parse(line.slice('IDP_READY '.length)), line, lines });
        } else {
          reject(new Error(`unexpected stdout line: ${line}`));
        }
      }
    });
    exited.then(({ code }) => reject(new Error(`server exited early (${code}): ${stderr.join('')}`)));
    setTimeout(() => reject(new Error(`server did not become ready in 20s (pid ${child.pid}, stdout so far: ${JSON.stringify(buf)}, stderr: ${stderr.join('')})`)), 20000).unref();
  });
  return { child, ready, exited, stderr };
}

// ---------------------------------------------------------------------------
// HTTP helpers: cookie jar, forms, JWTs
// ---------------------------------------------------------------------------

class CookieJar {
  constructor() {
    this.cookies = new Map(); // `${name};${path}` -> { name, value, path }
  }

  store(setCookies) {
    for (const sc of setCookies) {
      const [pair, ...attrs] = sc.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let cpath = '/';
      let expired = false;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k.toLowerCase();
        if (key === 'path') cpath = v || '/';
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      const id = `${name};${cpath}`;
      if (expired || value === '') this.cookies.delete(id);
      else this.cookies.set(id, { name, value, path: cpath });
    }
  }

  header(url) {
    const p = new URL(url).pathname;
    const matching = [...this.cookies.values()].filter((c) => p === c.path
      || (p.startsWith(c.path) && (c.path.endsWith('/') || p[c.path.length] === '/')));
    return matching.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

async function request(jar, method, url, { form, headers = {}, basic } = {}) {
  const h = { ...headers };
  if (jar) {
    const cookie = jar.header(url);
    if (cookie) h.cookie = cookie;
  }
  let body;
  if (form) {
    body = new URLSearchParams(form).toString();
    h['content-type'] = 'application/x-www-form-urlencoded';
  }
  if (basic) {
    h.authorization = `Basic ${Buffer.from(`${encodeURIComponent(basic[0])}:${encodeURIComponent(basic[1])}`).toString('base64')}`;
  }
  const res = await fetch(url, { method, headers: h, body, redirect: 'manual' });
  if (jar) jar.store(res.headers.getSetCookie());
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not json */ }
  const location = res.headers.get('location');
  return {
    status: res.status,
    text,
    json,
    headers: res.headers,
    location: location ? new URL(location, url).href : undefined,
  };
}

// Follows redirects (GET) until one points outside the IdP (the client's
// redirect uri) or a non-redirect response arrives.
async function followRedirects(jar, res, base) {
  let current = res;
  for (let i = 0; i < 10; i++) {
    if (![302, 303].includes(current.status)) return { res: current };
    if (!current.location.startsWith(`${base}/`)) return { res: current, external: current.location };
    current = await request(jar, 'GET', current.location);
  }
  throw new Error('too many redirects');
}

function formField(html, name) {
  const re = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`);
  return re.exec(html)?.[1];
}

function formAction(html, suffix) {
  const re = /<form method="post" action="([^"]*)">/g;
  let m;
  while ((m = re.exec(html))) {
    if (!suffix || m[1].endsWith(suffix)) return m[1].replaceAll('&amp;', '&');
  }
  return undefined;
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()),
  };
}

function verifyJwt(jwt, jwks) {
  const [h, p, s] = jwt.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) return false;
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  if (header.alg === 'RS256') return crypto.verify('sha256', data, key, sig);
  if (header.alg === 'ES256') return crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  return false;
}

function randomPort() {
  return 20000 + crypto.randomInt(30000);
}

// ---------------------------------------------------------------------------
// Flows
// ---------------------------------------------------------------------------

async function discover(issuer) {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const res = await request(null, 'GET', url);
  if (res.status !== 200) throw new Error(`discovery ${url} -> ${res.status}`);
  return res.json;
}

// Runs authorization code + PKCE up to the token response.
async function authCodeFlow(ctx, {
  clientId = 'native-app',
  secret,
  username = 'alice',
  password,
  scope = 'openid profile email offline_access',
  resource,
  tokenResource,
  extraParams = {},
  jar = new CookieJar(),
  expectLoginPage = true,
}) {
  const { meta, base } = ctx;
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const state = b64url(crypto.randomBytes(12));
  const nonce = b64url(crypto.randomBytes(12));
  const redirectUri = `http://127.0.0.1:${randomPort()}/callback`;
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extraParams,
  });
  if (resource) q.set('resource', resource);
  const authz = await request(jar, 'GET', `${meta.authorization_endpoint}?${q}`);
  if (authz.status !== 303 && authz.status !== 302) {
    throw new Error(`authorization -> ${authz.status} ${authz.text.slice(0, 300)}`);
  }
  const interactionUrl = authz.location;
  const page = await request(jar, 'GET', interactionUrl);
  let after;
  if (expectLoginPage) {
    if (!page.text.includes('data-page="login"')) throw new Error(`expected login page, got ${page.status}: ${page.text.slice(0, 300)}`);
    const action = formAction(page.text, '/login');
    after = await request(jar, 'POST', new URL(action, base).href, {
      form: { username, password: password ?? `${username}-password` },
    });
  } else {
    if (!page.text.includes('data-page="consent"')) throw new Error(`expected consent page, got ${page.status}: ${page.text.slice(0, 300)}`);
    const action = formAction(page.text, '/confirm');
    after = await request(jar, 'POST', new URL(action, base).href, { form: {} });
  }
  const { external } = await followRedirects(jar, after, base);
  if (!external) throw new Error('no redirect back to client');
  const cb = new URL(external);
  const params = Object.fromEntries(cb.searchParams);
  const tokenForm = {
    grant_type: 'authorization_code',
    code: params.code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
  };
  if (tokenResource) tokenForm.resource = tokenResource;
  let basic;
  if (secret) basic = [clientId, secret];
  else tokenForm.client_id = clientId;
  const token = params.code ? await request(null, 'POST', meta.token_endpoint, { form: tokenForm, basic }) : undefined;
  return {
    jar, cb, params, state, nonce, redirectUri, token, interactionUrl,
  };
}

async function refresh(meta, clientId, refreshToken, extra = {}) {
  return request(null, 'POST', meta.token_endpoint, {
    form: {
      grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId, ...extra,
    },
  });
}

async function introspect(meta, token, creds = ['resource-server', 'resource-secret']) {
  return request(null, 'POST', meta.introspection_endpoint, { form: { token }, basic: creds });
}

async function deviceStart(ctx, scope = 'openid profile email offline_access') {
  const res = await request(null, 'POST', ctx.meta.device_authorization_endpoint, {
    form: { client_id: 'device-app', scope },
  });
  if (res.status !== 200) throw new Error(`device authorization -> ${res.status} ${res.text}`);
  return res.json;
}

async function devicePoll(ctx, deviceCode) {
  return request(null, 'POST', ctx.meta.token_endpoint, {
    form: {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: deviceCode,
      client_id: 'device-app',
    },
  });
}

// Steps 1-2 of the verification page: returns the confirm page.
async function deviceEnterCode(ctx, jar, da) {
  const input = await request(jar, 'GET', da.verification_uri);
  if (!input.text.includes('data-page="device-input"')) throw new Error(`device input page: ${input.status} ${input.text.slice(0, 300)}`);
  const xsrf = formField(input.text, 'xsrf');
  const action = formAction(input.text);
  const confirm = await request(jar, 'POST', new URL(action, ctx.base).href, {
    form: { xsrf, user_code: da.user_code },
  });
  if (!confirm.text.includes('data-page="device-confirm"')) throw new Error(`device confirm page: ${confirm.status} ${confirm.text.slice(0, 300)}`);
  return confirm;
}

// ---------------------------------------------------------------------------
// Test suites
// ---------------------------------------------------------------------------

async function testIssuer(name, issuer, base) {
  const meta = await discover(issuer);
  const ctx = {
    name, issuer, base, meta,
  };
  const t = (s) => `[${name}] ${s}`;

  // Discovery ------------------------------------------------------------
  check(t('discovery issuer exact'), meta.issuer === issuer, meta.issuer);
  const prefix = issuer.replace(/\/$/, '');
  for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint',
    'device_authorization_endpoint', 'revocation_endpoint', 'introspection_endpoint', 'end_session_endpoint']) {
    check(t(`discovery ${key} under prefix`), typeof meta[key] === 'string' && meta[key].startsWith(`${prefix}/`), meta[key]);
  }
  check(t('discovery iss parameter supported'), meta.authorization_response_iss_parameter_supported === true);
  check(t('discovery only S256'), JSON.stringify(meta.code_challenge_methods_supported) === '["S256"]');
  const jwks = (await request(null, 'GET', meta.jwks_uri)).json;
  check(t('jwks has RS256 + ES256'), jwks.keys.length === 2 && jwks.keys[0].alg === 'RS256' && jwks.keys[1].alg === 'ES256' && !jwks.keys.some((k) => k.d));

  // (a) auth code + PKCE --------------------------------------------------
  await section(t('auth code'), async () => {
    const flow = await authCodeFlow(ctx, {});
    check(t('callback has code'), !!flow.params.code, flow.params);
    check(t('callback state echoed'), flow.params.state === flow.state);
    check(t('callback iss param (RFC 9207)'), flow.params.iss === issuer, flow.params.iss);
    check(t('token exchange 200'), flow.token.status === 200, flow.token.text);
    const tok = flow.token.json;
    check(t('token has refresh_token'), !!tok.refresh_token, tok);
    check(t('token scope has offline_access'), tok.scope?.split(' ').includes('offline_access'), tok.scope);
    check(t('token expires_in = access ttl'), tok.expires_in === 300, tok.expires_in);
    const id = decodeJwt(tok.id_token);
    check(t('id token verifies (RS256)'), id.header.alg === 'RS256' && verifyJwt(tok.id_token, jwks));
    check(t('id token nonce'), id.payload.nonce === flow.nonce);
    check(t('id token iss/aud/sub'), id.payload.iss === issuer && id.payload.aud === 'native-app' && id.payload.sub === 'alice', id.payload);
    check(t('id token profile claims'), id.payload.name === 'Alice Field' && id.payload.email === 'alice@example.org'
      && id.payload.email_verified === true && id.payload.preferred_username === 'alice', id.payload);
    if (name === 'keycloak') {
      check(t('id token realm_access'), JSON.stringify(id.payload.realm_access) === '{"roles":["enumerator"]}', id.payload.realm_access);
      check(t('id token resource_access'), JSON.stringify(id.payload.resource_access) === '{"native-app":{"roles":["collect"]}}', id.payload.resource_access);
    } else {
      check(t('id token has no realm_access'), id.payload.realm_access === undefined);
    }
    if (name === 'auth0') {
      check(t('id token org_id'), id.payload.org_id === 'org_alpha', id.payload.org_id);
    } else {
      check(t('id token has no org_id'), id.payload.org_id === undefined);
    }

    // userinfo
    const ui = await request(null, 'GET', meta.userinfo_endpoint, { headers: { authorization: `Bearer ${tok.access_token}` } });
    check(t('userinfo 200'), ui.status === 200, ui.text);
    check(t('userinfo claims'), ui.json?.sub === 'alice' && ui.json?.email === 'alice@example.org' && ui.json?.name === 'Alice Field', ui.json);

    // refresh (rotation)
    const r1 = await refresh(meta, 'native-app', tok.refresh_token);
    check(t('refresh 200'), r1.status === 200, r1.text);
    check(t('refresh rotated'), r1.json?.refresh_token && r1.json.refresh_token !== tok.refresh_token);
    check(t('refresh new id token'), !!r1.json?.id_token);

    // introspection by resource-server
    const intro = await introspect(meta, r1.json.access_token);
    check(t('introspection active'), intro.json?.active === true && intro.json?.client_id === 'native-app' && intro.json?.sub === 'alice', intro.json);
    if (name === 'keycloak') check(t('introspection realm_access'), !!intro.json?.realm_access, intro.json);
    if (name === 'auth0') check(t('introspection org_id'), intro.json?.org_id === 'org_alpha', intro.json);
    const introRt = await introspect(meta, r1.json.refresh_token);
    check(t('introspection of refresh token'), introRt.json?.active === true, introRt.json);
    const introBad = await introspect(meta, r1.json.access_token, ['resource-server', 'wrong']);
    check(t('introspection wrong secret 401'), introBad.status === 401, introBad.status);

    // refresh again, then reuse of the rotated one
    const r2 = await refresh(meta, 'native-app', r1.json.refresh_token);
    check(t('second refresh 200'), r2.status === 200, r2.text);
    const reuse = await refresh(meta, 'native-app', tok.refresh_token);
    check(t('reuse of rotated refresh token -> invalid_grant'), reuse.status === 400 && reuse.json?.error === 'invalid_grant', reuse.text);

    // revocation (fresh login; reuse detection above revoked that grant)
    const flow2 = await authCodeFlow(ctx, {});
    const tok2 = flow2.token.json;
    const before = await introspect(meta, tok2.access_token);
    check(t('fresh token active'), before.json?.active === true);
    const rev = await request(null, 'POST', meta.revocation_endpoint, {
      form: { token: tok2.access_token, token_type_hint: 'access_token' }, basic: ['confidential-app', 'confidential-secret'],
    });
    check(t('revocation by confidential-app 200'), rev.status === 200, rev.text);
    const after = await introspect(meta, tok2.access_token);
    check(t('revoked token inactive'), after.json?.active === false, after.json);
    const revRt = await request(null, 'POST', meta.revocation_endpoint, { form: { token: tok2.refresh_token, client_id: 'native-app' } });
    check(t('revocation of own refresh token by native-app 200'), revRt.status === 200, revRt.text);
    const rAfter = await refresh(meta, 'native-app', tok2.refresh_token);
    check(t('revoked refresh token -> invalid_grant'), rAfter.json?.error === 'invalid_grant', rAfter.text);

    // second authorization with the same session: consent page only, then logout
    const flow3 = await authCodeFlow(ctx, { jar: flow2.jar, expectLoginPage: false });
    check(t('existing session: consent-only interaction works'), flow3.token?.status === 200, flow3.token?.text);
    const logoutPort = randomPort();
    const eq = new URLSearchParams({
      id_token_hint: flow3.token.json.id_token,
      post_logout_redirect_uri: `http://127.0.0.1:${logoutPort}/logged-out`,
      state: 'bye',
    });
    const lp = await request(flow2.jar, 'GET', `${meta.end_session_endpoint}?${eq}`);
    check(t('end_session page'), lp.status === 200 && lp.text.includes('data-page="logout"'), lp.text.slice(0, 200));
    const lo = await request(flow2.jar, 'POST', new URL(formAction(lp.text), base).href, {
      form: { xsrf: formField(lp.text, 'xsrf'), logout: 'yes' },
    });
    const loDone = await followRedirects(flow2.jar, lo, base);
    check(t('end_session redirects to post_logout_redirect_uri (any loopback port)'),
      loDone.external?.startsWith(`http://127.0.0.1:${logoutPort}/logged-out`) && loDone.external.includes('state=bye'), loDone.external ?? loDone.res.status);
    const flow4 = await authCodeFlow(ctx, { jar: flow2.jar });
    check(t('after logout login is required again'), flow4.token?.status === 200);
  });

  await section(t('auth code misc'), async () => {
    // wrong password
    const jar = new CookieJar();
    const verifier = b64url(crypto.randomBytes(32));
    const q = new URLSearchParams({
      response_type: 'code', client_id: 'native-app', redirect_uri: `http://127.0.0.1:${randomPort()}/callback`,
      scope: 'openid', code_challenge: b64url(crypto.createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
    });
    const a = await request(jar, 'GET', `${meta.authorization_endpoint}?${q}`);
    const lp = await request(jar, 'GET', a.location);
    const bad = await request(jar, 'POST', new URL(formAction(lp.text, '/login'), base).href, { form: { username: 'alice', password: 'nope' } });
    check(t('wrong password -> 401 invalid credentials'), bad.status === 401 && bad.text.includes('invalid credentials'), bad.status);
    // abort
    const ab = await request(jar, 'POST', new URL(formAction(bad.text, '/abort'), base).href, { form: {} });
    const abDone = await followRedirects(jar, ab, base);
    const abParams = abDone.external ? Object.fromEntries(new URL(abDone.external).searchParams) : {};
    check(t('abort -> access_denied at redirect uri'), abParams.error === 'access_denied' && abParams.iss === issuer, abParams);

    // PKCE required for public client
    const noPkce = new URLSearchParams({
      response_type: 'code', client_id: 'native-app', redirect_uri: `http://127.0.0.1:${randomPort()}/callback`, scope: 'openid',
    });
    const np = await request(new CookieJar(), 'GET', `${meta.authorization_endpoint}?${noPkce}`);
    check(t('missing PKCE rejected'), np.status === 303 && np.location.includes('error=invalid_request'), np.location);
    const plain = new URLSearchParams({
      response_type: 'code', client_id: 'native-app', redirect_uri: `http://127.0.0.1:${randomPort()}/callback`, scope: 'openid',
      code_challenge: 'a'.repeat(43), code_challenge_method: 'plain',
    });
    const pp = await request(new CookieJar(), 'GET', `${meta.authorization_endpoint}?${plain}`);
    check(t('plain PKCE rejected'), pp.status === 303 && pp.location.includes('error=invalid_request'), pp.location);

    // unregistered redirect path
    const badRedirect = new URLSearchParams({
      response_type: 'code', client_id: 'native-app', redirect_uri: `http://127.0.0.1:${randomPort()}/other`, scope: 'openid',
      code_challenge: 'a'.repeat(43), code_challenge_method: 'S256',
    });
    const br = await request(new CookieJar(), 'GET', `${meta.authorization_endpoint}?${badRedirect}`);
    check(t('unregistered redirect path rejected (no redirect)'), br.status === 400, br.status);

    // ES256 id tokens
    const es = await authCodeFlow(ctx, { clientId: 'native-app-es256', scope: 'openid' });
    const esId = decodeJwt(es.token.json.id_token);
    check(t('native-app-es256 id token ES256'), esId.header.alg === 'ES256' && verifyJwt(es.token.json.id_token, jwks), esId.header);
    check(t('no offline_access -> no refresh token'), es.token.json.refresh_token === undefined);

    // confidential client with loopback port variance + resource -> JWT access token
    const conf = await authCodeFlow(ctx, {
      clientId: 'confidential-app', secret: 'confidential-secret', username: 'bob',
      scope: 'openid profile offline_access api:read', resource: 'urn:authresult:api', tokenResource: 'urn:authresult:api',
    });
    check(t('confidential-app auth code (any loopback port)'), conf.token?.status === 200, conf.token?.text);
    const at = decodeJwt(conf.token.json.access_token);
    check(t('auth code + resource -> JWT access token'), at.header.typ === 'at+jwt' && at.header.alg === 'RS256'
      && at.payload.aud === 'urn:authresult:api' && at.payload.scope === 'api:read' && at.payload.sub === 'bob'
      && at.payload.iss === issuer && verifyJwt(conf.token.json.access_token, jwks), at);
    if (name === 'keycloak') {
      check(t('JWT access token realm_access/resource_access'), JSON.stringify(at.payload.realm_access?.roles) === '["supervisor","enumerator"]'
        && !!at.payload.resource_access, at.payload);
    }
    if (name === 'auth0') check(t('JWT access token org_id'), at.payload.org_id === 'org_beta', at.payload);
    check(t('confidential-app refresh token issued'), !!conf.token.json.refresh_token);
    const confRefresh = await request(null, 'POST', meta.token_endpoint, {
      form: { grant_type: 'refresh_token', refresh_token: conf.token.json.refresh_token },
      basic: ['confidential-app', 'confidential-secret'],
    });
    check(t('confidential-app refresh rotates'), confRefresh.status === 200 && confRefresh.json.refresh_token !== conf.token.json.refresh_token, confRefresh.text);
    check(t('refresh without resource -> opaque access token'), !confRefresh.json.access_token.includes('.'));
    const confRefresh2 = await request(null, 'POST', meta.token_endpoint, {
      form: { grant_type: 'refresh_token', refresh_token: confRefresh.json.refresh_token, resource: 'urn:authresult:api' },
      basic: ['confidential-app', 'confidential-secret'],
    });
    check(t('refresh with resource -> JWT access token'), confRefresh2.status === 200
      && decodeJwt(confRefresh2.json.access_token).payload.aud === 'urn:authresult:api', confRefresh2.text);
    const jwtIntro = await introspect(meta, confRefresh2.json.access_token);
    check(t('JWT access token not introspectable (unsupported_token_type)'), jwtIntro.json?.error === 'unsupported_token_type', jwtIntro.text);
    const reuse = await request(null, 'POST', meta.token_endpoint, {
      form: { grant_type: 'refresh_token', refresh_token: conf.token.json.refresh_token },
      basic: ['confidential-app', 'confidential-secret'],
    });
    check(t('confidential-app rotated refresh reuse -> invalid_grant'), reuse.json?.error === 'invalid_grant', reuse.text);
  });

  // (b) device flow --------------------------------------------------------
  await section(t('device approve'), async () => {
    const da = await deviceStart(ctx);
    check(t('device authorization response'), da.device_code && da.user_code && da.verification_uri === `${prefix}/device` && da.expires_in === 600, da);
    const pending = await devicePoll(ctx, da.device_code);
    check(t('device poll pending'), pending.json?.error === 'authorization_pending', pending.text);
    const jar = new CookieJar();
    const confirm = await deviceEnterCode(ctx, jar, da);
    const form = {
      xsrf: formField(confirm.text, 'xsrf'),
      user_code: formField(confirm.text, 'user_code'),
      confirm: 'yes',
    };
    const go = await request(jar, 'POST', new URL(formAction(confirm.text), base).href, { form });
    check(t('device confirm redirects to interaction'), go.status === 303 && go.location.startsWith(`${prefix}/interaction/`), `${go.status} ${go.location}`);
    const login = await request(jar, 'GET', go.location);
    check(t('device login page'), login.text.includes('data-page="login"'));
    const posted = await request(jar, 'POST', new URL(formAction(login.text, '/login'), base).href, { form: { username: 'bob', password: 'bob-password' } });
    const done = await followRedirects(jar, posted, base);
    check(t('device success page'), done.res.status === 200 && done.res.text.includes('data-page="device-success"'), done.res.text.slice(0, 300));
    const tok = await devicePoll(ctx, da.device_code);
    check(t('device token 200'), tok.status === 200 && tok.json.access_token && tok.json.id_token, tok.text);
    check(t('device token has refresh token'), !!tok.json?.refresh_token);
    check(t('device id token sub bob'), decodeJwt(tok.json.id_token).payload.sub === 'bob');
    const r = await refresh(meta, 'device-app', tok.json.refresh_token);
    check(t('device refresh rotates'), r.status === 200 && r.json.refresh_token !== tok.json.refresh_token, r.text);
    const again = await devicePoll(ctx, da.device_code);
    check(t('device code single use'), again.json?.error === 'invalid_grant', again.text);
  });

  await section(t('device deny'), async () => {
    const da = await deviceStart(ctx);
    const jar = new CookieJar();
    const confirm = await deviceEnterCode(ctx, jar, da);
    const abort = await request(jar, 'POST', new URL(formAction(confirm.text), base).href, {
      form: { xsrf: formField(confirm.text, 'xsrf'), user_code: formField(confirm.text, 'user_code'), abort: 'yes' },
    });
    check(t('device abort page'), abort.status === 200 && abort.text.includes('data-page="device-aborted"'), abort.text.slice(0, 300));
    const tok = await devicePoll(ctx, da.device_code);
    check(t('device denied -> access_denied'), tok.json?.error === 'access_denied', tok.text);

    // deny from the login page (interaction abort)
    const da2 = await deviceStart(ctx);
    const jar2 = new CookieJar();
    const confirm2 = await deviceEnterCode(ctx, jar2, da2);
    const go = await request(jar2, 'POST', new URL(formAction(confirm2.text), base).href, {
      form: { xsrf: formField(confirm2.text, 'xsrf'), user_code: formField(confirm2.text, 'user_code'), confirm: 'yes' },
    });
    const login = await request(jar2, 'GET', go.location);
    const ab = await request(jar2, 'POST', new URL(formAction(login.text, '/abort'), base).href, { form: {} });
    const done = await followRedirects(jar2, ab, base);
    check(t('device interaction abort page'), done.res.text.includes('data-page="device-aborted"'), done.res.text.slice(0, 300));
    const tok2 = await devicePoll(ctx, da2.device_code);
    check(t('device interaction abort -> access_denied'), tok2.json?.error === 'access_denied', tok2.text);

    // bad code
    const jar3 = new CookieJar();
    const input = await request(jar3, 'GET', da.verification_uri);
    const bad = await request(jar3, 'POST', new URL(formAction(input.text), base).href, { form: { xsrf: formField(input.text, 'xsrf'), user_code: 'BCDF-GHJK' } });
    check(t('device bad user code -> input page with error'), bad.text.includes('invalid user code') && !!formField(bad.text, 'xsrf'), bad.text.slice(0, 300));
  });

  // (c) client credentials ---------------------------------------------------
  await section(t('client credentials'), async () => {
    for (const withResource of [true, false]) {
      const form = { grant_type: 'client_credentials', scope: 'api:read api:write' };
      if (withResource) form.resource = 'urn:authresult:api';
      const res = await request(null, 'POST', meta.token_endpoint, { form, basic: ['confidential-app', 'confidential-secret'] });
      const label = withResource ? 'with resource' : 'default resource';
      check(t(`client_credentials ${label} 200`), res.status === 200, res.text);
      const at = decodeJwt(res.json.access_token);
      check(t(`client_credentials ${label} JWT`), at.header.typ === 'at+jwt' && at.header.alg === 'RS256'
        && at.payload.aud === 'urn:authresult:api' && at.payload.scope === 'api:read api:write'
        && at.payload.client_id === 'confidential-app' && at.payload.sub === 'confidential-app'
        && at.payload.iss === issuer && verifyJwt(res.json.access_token, jwks), at);
      check(t(`client_credentials ${label} exp`), at.payload.exp - at.payload.iat === 300);
    }
    const bad = await request(null, 'POST', meta.token_endpoint, {
      form: { grant_type: 'client_credentials', resource: 'urn:other' }, basic: ['confidential-app', 'confidential-secret'],
    });
    check(t('client_credentials unknown resource -> invalid_target'), bad.json?.error === 'invalid_target', bad.text);
  });

  // (d) flavour-specific -----------------------------------------------------
  if (name === 'auth0') {
    await section(t('organization'), async () => {
      const flow = await authCodeFlow(ctx, { extraParams: { organization: 'org_beta' } });
      check(t('organization param accepted'), flow.token?.status === 200, flow.token?.text);
      check(t('org_id is account org even when organization mismatches'), decodeJwt(flow.token.json.id_token).payload.org_id === 'org_alpha');
      const bob = await authCodeFlow(ctx, { username: 'bob', extraParams: { organization: 'org_beta' } });
      check(t('bob org_id'), decodeJwt(bob.token.json.id_token).payload.org_id === 'org_beta');
    });
  }
  if (name === 'keycloak') {
    await section(t('bob roles'), async () => {
      const flow = await authCodeFlow(ctx, { username: 'bob' });
      const id = decodeJwt(flow.token.json.id_token).payload;
      check(t('bob realm roles'), JSON.stringify(id.realm_access) === '{"roles":["supervisor","enumerator"]}', id.realm_access);
      const ui = await request(null, 'GET', meta.userinfo_endpoint, { headers: { authorization: `Bearer ${flow.token.json.access_token}` } });
      check(t('userinfo realm_access'), !!ui.json?.realm_access, ui.json);
    });
  }
  return ctx;
}

async function testRotation(info) {
  await section('rotation', async () => {
    const ctxs = {};
    for (const [name, issuer] of Object.entries(info.issuers)) {
      ctxs[name] = { name, issuer, base: info.base, meta: await discover(issuer) };
    }
    // tokens from before rotation
    const before = {};
    for (const [name, ctx] of Object.entries(ctxs)) {
      const flow = await authCodeFlow(ctx, {});
      before[name] = flow.token.json;
    }
    const oldJwks = (await request(null, 'GET', ctxs.plain.meta.jwks_uri)).json;
    const rot = await request(null, 'POST', `${info.base}/__admin/rotate-keys`);
    check('rotate-keys 200 with 2 kids', rot.status === 200 && rot.json?.kids?.length === 2, rot.text);
    const [newRsa, newEc] = rot.json.kids;
    for (const [name, ctx] of Object.entries(ctxs)) {
      const jwks = (await request(null, 'GET', ctx.meta.jwks_uri)).json;
      check(`[${name}] jwks has 4 keys after rotation`, jwks.keys.length === 4, jwks.keys.map((k) => k.kid));
      check(`[${name}] new keys first, old keys second`, jwks.keys[0].kid === newRsa && jwks.keys[1].kid === newEc
        && jwks.keys[2].kid === oldJwks.keys[0].kid && jwks.keys[3].kid === oldJwks.keys[1].kid);
      check(`[${name}] old id token still verifies`, verifyJwt(before[name].id_token, jwks));
      const r = await refresh(ctx.meta, 'native-app', before[name].refresh_token);
      check(`[${name}] refresh token from before rotation works`, r.status === 200, r.text);
      check(`[${name}] refreshed id token uses new RSA kid`, decodeJwt(r.json.id_token).header.kid === newRsa);
      const flow = await authCodeFlow(ctx, {});
      check(`[${name}] new id token uses new RSA kid`, decodeJwt(flow.token.json.id_token).header.kid === newRsa && verifyJwt(flow.token.json.id_token, jwks));
      const es = await authCodeFlow(ctx, { clientId: 'native-app-es256', scope: 'openid' });
      check(`[${name}] new ES256 id token uses new EC kid`, decodeJwt(es.token.json.id_token).header.kid === newEc);
      const cc = await request(null, 'POST', ctx.meta.token_endpoint, {
        form: { grant_type: 'client_credentials' }, basic: ['confidential-app', 'confidential-secret'],
      });
      check(`[${name}] JWT access token uses new RSA kid`, decodeJwt(cc.json.access_token).header.kid === newRsa);
      const meta = await discover(ctx.issuer);
      check(`[${name}] discovery unchanged after rotation`, meta.issuer === ctx.issuer && meta.token_endpoint === ctx.meta.token_endpoint);
    }
  });
}

async function testKeysFileAndLifecycle() {
  await section('keys file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-selftest-'));
    const keysFile = path.join(dir, 'keys.json');
    try {
      const s1 = startServer(['--keys', keysFile, '--access-ttl', '60', '--device-ttl', '120']);
      const { info } = await s1.ready;
      check('keys file created', fs.existsSync(keysFile));
      const stored = JSON.parse(fs.readFileSync(keysFile, 'utf8'));
      check('keys file holds RS256 + ES256 private keys', stored.keys.length === 2 && stored.keys[0].alg === 'RS256'
        && stored.keys[0].kty === 'RSA' && stored.keys[1].alg === 'ES256' && stored.keys[1].crv === 'P-256' && !!stored.keys[0].d && !!stored.keys[1].d);
      const j1 = (await request(null, 'GET', `${info.issuers.plain}/jwks`)).json;
      const cc = await request(null, 'POST', `${info.issuers.plain}/token`, {
        form: { grant_type: 'client_credentials' }, basic: ['confidential-app', 'confidential-secret'],
      });
      check('--access-ttl applies', cc.json?.expires_in === 60, cc.json);
      const da = await request(null, 'POST', `${info.issuers.plain}/device/auth`, { form: { client_id: 'device-app', scope: 'openid' } });
      check('--device-ttl applies', da.json?.expires_in === 120, da.json);
      s1.child.kill('SIGTERM');
      const e1 = await s1.exited;
      check('SIGTERM exits 0', e1.code === 0, e1);

      const s2 = startServer(['--keys', keysFile]);
      const { info: info2 } = await s2.ready;
      const j2 = (await request(null, 'GET', `${info2.issuers.plain}/jwks`)).json;
      check('restart with same keys file -> same kids', JSON.stringify(j1.keys.map((k) => k.kid)) === JSON.stringify(j2.keys.map((k) => k.kid)));
      s2.child.kill('SIGINT');
      const e2 = await s2.exited;
      check('SIGINT exits 0', e2.code === 0, e2);

      const s3 = startServer([]);
      await s3.ready;
      s3.child.stdin.end();
      const e3 = await Promise.race([s3.exited, new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
      check('--exit-on-stdin-close exits 0 when stdin closes', e3?.code === 0, e3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

// ---------------------------------------------------------------------------

async function main() {
  const server = startServer([]);
  let info;
  try {
    const ready = await server.ready;
    info = ready.info;
    check('READY line format', /^IDP_READY \{"base":"http:\/\/127\.0\.0\.1:\d+","issuers":\{"plain":"[^"]+","keycloak":"[^"]+","auth0":"[^"]+\/"\}\}$/.test(ready.line), ready.line);
    const port = new URL(info.base).port;
    check('issuer shapes', info.issuers.plain === `http://127.0.0.1:${port}/plain`
      && info.issuers.keycloak === `http://127.0.0.1:${port}/realms/field`
      && info.issuers.auth0 === `http://127.0.0.1:${port}/auth0/`, info.issuers);
    const health = await request(null, 'GET', `${info.base}/__admin/health`);
    check('health', health.status === 200 && health.text === 'ok');

    for (const [name, issuer] of Object.entries(info.issuers)) {
      await section(`issuer ${name}`, () => testIssuer(name, issuer, info.base));
    }
    await testRotation(info);
  } catch (err) {
    failed += 1;
    process.stdout.write(`FAIL setup: ${err?.stack || err}\n`);
  } finally {
    server.child.stdin.end();
    await Promise.race([server.exited, new Promise((r) => setTimeout(r, 3000))]);
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  }
  const serverErrors = server.stderr.join('').split('\n').filter((l) => /server_error|unhandled error/.test(l));
  check('no server_error logged', serverErrors.length === 0, serverErrors.slice(0, 3).join(' | '));

  await testKeysFileAndLifecycle();

  killAllChildren();
  process.stdout.write(`selftest: ${passed} passed, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

main();
