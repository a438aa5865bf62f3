// Local OpenID provider for integration tests and the demo.
//
// One node http server on 127.0.0.1 hosting three oidc-provider instances,
// each mounted under its own path prefix:
//
//   plain     http://127.0.0.1:PORT/plain
//   keycloak  http://127.0.0.1:PORT/realms/field   (Keycloak-shaped issuer)
//   auth0     http://127.0.0.1:PORT/auth0/         (Auth0-shaped issuer, trailing slash)
//
// See README.md for flags, accounts and the exact HTTP sequences.
//
// stdout carries exactly one line ("IDP_READY {...}"); everything else goes
// to stderr.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';

// oidc-provider prints notices with console.info (stdout). Keep stdout clean.
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

const { default: Provider, errors } = await import('oidc-provider');

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

function usage(msg) {
  if (msg) process.stderr.write(`server.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node server.mjs [--host IPV4] [--port N] [--access-ttl S] [--refresh-ttl S] '
      + '[--device-ttl S] [--keys PATH] [--tls-cert PATH --tls-key PATH] '
      + '[--client-jwks PATH] [--backchannel-logout-uri URL] [--exit-on-stdin-close]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    host: '127.0.0.1',
    port: 0,
    accessTtl: 300,
    refreshTtl: 86400,
    deviceTtl: 600,
    keys: undefined,
    tlsCert: undefined,
    tlsKey: undefined,
    clientJwks: undefined,
    backchannelLogoutUri: undefined,
    exitOnStdinClose: false,
  };
  const numeric = {
    '--port': 'port',
    '--access-ttl': 'accessTtl',
    '--refresh-ttl': 'refreshTtl',
    '--device-ttl': 'deviceTtl',
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq !== -1) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => {
      if (inline !== undefined) return inline;
      i += 1;
      if (i >= argv.length) usage(`missing value for ${arg}`);
      return argv[i];
    };
    if (arg in numeric) {
      const raw = next();
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) usage(`invalid value for ${arg}: ${raw}`);
      if (arg !== '--port' && n === 0) usage(`${arg} must be > 0`);
      if (arg === '--port' && n > 65535) usage(`invalid port ${raw}`);
      opts[numeric[arg]] = n;
    } else if (arg === '--keys') {
      opts.keys = next();
    } else if (arg === '--host') {
      // An IPv4 address of this machine (a network namespace's veth in the
      // field-network tests); issuers and endpoints are built on it.
      const raw = next();
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(raw)) usage(`invalid --host ${raw}: an IPv4 address`);
      opts.host = raw;
    } else if (arg === '--tls-cert') {
      opts.tlsCert = next();
    } else if (arg === '--tls-key') {
      opts.tlsKey = next();
    } else if (arg === '--client-jwks') {
      opts.clientJwks = next();
    } else if (arg === '--backchannel-logout-uri') {
      opts.backchannelLogoutUri = next();
    } else if (arg === '--exit-on-stdin-close') {
      opts.exitOnStdinClose = true;
    } else if (arg === '--help' || arg === '-h') {
      usage();
    } else {
      usage(`unknown argument ${argv[i]}`);
    }
  }
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    usage('--tls-cert and --tls-key go together');
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

function log(...args) {
  process.stderr.write(`[idp] ${args.join(' ')}\n`);
}

// ---------------------------------------------------------------------------
// Static data: accounts, clients, resource server
// ---------------------------------------------------------------------------

const API_RESOURCE = 'urn:authresult:api';
const API_SCOPES = ['api:read', 'api:write'];
const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'];
const ALL_SCOPES = [...OIDC_SCOPES, ...API_SCOPES];

const ACCOUNTS = {
  alice: {
    sub: 'alice',
    username: 'alice',
    password: 'alice-password',
    name: 'Alice Field',
    email: 'alice@example.org',
    realmRoles: ['enumerator'],
    resourceRoles: { 'native-app': ['collect'] },
    orgId: 'org_alpha',
  },
  bob: {
    sub: 'bob',
    username: 'bob',
    password: 'bob-password',
    name: 'Bob Supervisor',
    email: 'bob@example.org',
    realmRoles: ['supervisor', 'enumerator'],
    resourceRoles: { 'native-app': ['collect', 'review'] },
    orgId: 'org_beta',
  },
};

function accountByUsername(username) {
  return Object.values(ACCOUNTS).find((a) => a.username === username);
}

function keycloakClaims(acct) {
  const resourceAccess = {};
  for (const [clientId, roles] of Object.entries(acct.resourceRoles)) {
    resourceAccess[clientId] = { roles: [...roles] };
  }
  return {
    realm_access: { roles: [...acct.realmRoles] },
    resource_access: resourceAccess,
  };
}

function flavourClaims(flavour, acct) {
  if (flavour === 'keycloak') return keycloakClaims(acct);
  if (flavour === 'auth0') return { org_id: acct.orgId };
  return {};
}

const LOOPBACK_CALLBACK = 'http://127.0.0.1/callback';
const LOOPBACK_LOGGED_OUT = 'http://127.0.0.1/logged-out';

const clientJwks = opts.clientJwks === undefined
  ? undefined
  : JSON.parse(fs.readFileSync(opts.clientJwks, 'utf8'));

function clientList() {
  const nativeApp = {
    client_id: 'native-app',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [LOOPBACK_CALLBACK],
    post_logout_redirect_uris: [LOOPBACK_LOGGED_OUT],
  };
  return [
    nativeApp,
    {
      ...nativeApp,
      client_id: 'native-app-es256',
      id_token_signed_response_alg: 'ES256',
    },
    {
      client_id: 'confidential-app',
      client_secret: 'confidential-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [LOOPBACK_CALLBACK],
      post_logout_redirect_uris: [LOOPBACK_LOGGED_OUT],
    },
    {
      client_id: 'device-app',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
    // With --client-jwks: a confidential client that authenticates with
    // private_key_jwt (RFC 7523), its public keys from that file.
    ...(clientJwks === undefined ? [] : [{
      client_id: 'jwt-app',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: clientJwks,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [LOOPBACK_CALLBACK],
      post_logout_redirect_uris: [LOOPBACK_LOGGED_OUT],
    }]),
    // DPoP (RFC 9449): a public client whose access tokens must be bound
    // (code, device and refresh); the provider asks it for nonces.
    {
      client_id: 'dpop-app',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      redirect_uris: [LOOPBACK_CALLBACK],
      post_logout_redirect_uris: [LOOPBACK_LOGGED_OUT],
      dpop_bound_access_tokens: true,
    },
    // PAR (RFC 9126): a public client whose authorization requests must be
    // pushed; DPoP is optional for it (asked for nonces too when used).
    {
      client_id: 'par-app',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [LOOPBACK_CALLBACK],
      post_logout_redirect_uris: [LOOPBACK_LOGGED_OUT],
      require_pushed_authorization_requests: true,
    },
    // With --backchannel-logout-uri: a native client whose sessions'
    // logouts are posted to that URL (Back-Channel Logout 1.0, with `sid`).
    ...(opts.backchannelLogoutUri === undefined ? [] : [{
      ...nativeApp,
      client_id: 'bcl-app',
      backchannel_logout_uri: opts.backchannelLogoutUri,
      backchannel_logout_session_required: true,
    }]),
    {
      client_id: 'resource-server',
      client_secret: 'resource-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ];
}

// Clients whose DPoP proofs must carry a server nonce (RFC 9449 §8), so the
// client's `use_dpop_nonce` retry is exercised; other clients' proofs don't.
const DPOP_NONCE_CLIENTS = new Set(['dpop-app', 'par-app']);
// The nonces' secret, per run (nonces of an earlier run are refused, as a
// rotation would).
const DPOP_NONCE_SECRET = crypto.randomBytes(32);

// Clients that may introspect / revoke any token of the issuer.
const PRIVILEGED_CLIENTS = new Set(['confidential-app', 'resource-server']);

// ---------------------------------------------------------------------------
// Storage adapter: one namespace per issuer, module-level so it survives
// provider rebuilds (key rotation).
// ---------------------------------------------------------------------------

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'ClientCredentials',
]);
const namespaces = new Map();
// Entries are kept this long after their nominal expiry so the provider can
// still report "expired" rather than "not found".
const EXPIRY_GRACE_MS = 120_000;

function namespace(ns) {
  if (!namespaces.has(ns)) {
    namespaces.set(ns, {
      entries: new Map(), // `${model}:${id}` -> { payload, expiresAt }
      grants: new Map(), // grantId -> Set of entry keys
      userCodes: new Map(), // userCode -> id
      uids: new Map(), // session uid -> id
    });
  }
  return namespaces.get(ns);
}

function sweepExpired() {
  const now = Date.now();
  for (const store of namespaces.values()) {
    for (const [key, entry] of store.entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt + EXPIRY_GRACE_MS < now) {
        store.entries.delete(key);
      }
    }
    for (const [grantId, keys] of store.grants) {
      for (const key of keys) if (!store.entries.has(key)) keys.delete(key);
      if (keys.size === 0) store.grants.delete(grantId);
    }
  }
}
setInterval(sweepExpired, 60_000).unref();

function makeAdapter(ns) {
  const store = namespace(ns);
  return class NamespacedMemoryAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
      store.entries.set(key, { payload: structuredClone(payload), expiresAt });
      if (GRANTABLE.has(this.model) && payload.grantId) {
        if (!store.grants.has(payload.grantId)) store.grants.set(payload.grantId, new Set());
        store.grants.get(payload.grantId).add(key);
      }
      if (payload.userCode) store.userCodes.set(payload.userCode, id);
      if (this.model === 'Session' && payload.uid) store.uids.set(payload.uid, id);
    }

    async find(id) {
      const entry = store.entries.get(this.key(id));
      if (!entry) return undefined;
      if (entry.expiresAt !== undefined && entry.expiresAt + EXPIRY_GRACE_MS < Date.now()) {
        store.entries.delete(this.key(id));
        return undefined;
      }
      return structuredClone(entry.payload);
    }

    async findByUserCode(userCode) {
      const id = store.userCodes.get(userCode);
      return id === undefined ? undefined : this.find(id);
    }

    async findByUid(uid) {
      const id = store.uids.get(uid);
      return id === undefined ? undefined : this.find(id);
    }

    async consume(id) {
      const entry = store.entries.get(this.key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      const key = this.key(id);
      const entry = store.entries.get(key);
      store.entries.delete(key);
      if (entry?.payload.userCode && store.userCodes.get(entry.payload.userCode) === id) {
        store.userCodes.delete(entry.payload.userCode);
      }
      if (entry?.payload.uid && store.uids.get(entry.payload.uid) === id) {
        store.uids.delete(entry.payload.uid);
      }
    }

    async revokeByGrantId(grantId) {
      const keys = store.grants.get(grantId);
      if (!keys) return;
      for (const key of keys) store.entries.delete(key);
      store.grants.delete(grantId);
    }
  };
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

function newKid(prefix) {
  return `${prefix}-${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${crypto.randomBytes(4).toString('hex')}`;
}

// Generate as DER and re-import before exporting to JWK. Exporting the
// KeyObject returned by generateKeyPairSync directly can deadlock on Node 20
// (a GC finalizing the key generation job tries to take the key's mutex while
// export holds it; seen as an intermittent hang at startup).
function generatePrivateJwk(type, options) {
  const { privateKey } = crypto.generateKeyPairSync(type, {
    ...options,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  return crypto.createPrivateKey({ key: privateKey, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
}

function generateKeyPairJwks() {
  const rsa = generatePrivateJwk('rsa', { modulusLength: 2048 });
  const ec = generatePrivateJwk('ec', { namedCurve: 'P-256' });
  return [
    { ...rsa, kid: newKid('rs256'), alg: 'RS256', use: 'sig' },
    { ...ec, kid: newKid('es256'), alg: 'ES256', use: 'sig' },
  ];
}

function writeKeysFile(file, keys) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function loadOrCreateKeys() {
  if (!opts.keys) return generateKeyPairJwks();
  const file = path.resolve(opts.keys);
  if (fs.existsSync(file)) {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    const keys = Array.isArray(parsed) ? parsed : parsed.keys;
    if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${file}: no keys`);
    for (const k of keys) {
      if (!k.kid || !k.d) throw new Error(`${file}: every key needs a kid and private material`);
    }
    log(`loaded ${keys.length} signing keys from ${file}`);
    return keys;
  }
  const keys = generateKeyPairJwks();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeKeysFile(file, keys);
  log(`generated signing keys into ${file}`);
  return keys;
}

let signingKeys = loadOrCreateKeys();
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

// ---------------------------------------------------------------------------
// HTML helpers (minimal, predictable markup for scraping)
// ---------------------------------------------------------------------------

function esc(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function page(title, pageId, body) {
  return `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>${esc(title)}</title>
</head>
<body data-page="${esc(pageId)}">
<h1>${esc(title)}</h1>
${body}
</body>
</html>
`;
}

function errorParagraph(message) {
  return message ? `<p class="error" id="error">${esc(message)}</p>\n` : '';
}

function loginPage(prefix, uid, { error, username, clientId } = {}) {
  return page('Sign in', 'login', `<p>Client: <span id="client_id">${esc(clientId)}</span></p>
${errorParagraph(error)}<form method="post" action="${esc(`${prefix}/interaction/${uid}/login`)}">
<input type="text" name="username" value="${esc(username)}">
<input type="password" name="password" value="">
<button type="submit">Sign in</button>
</form>
<form method="post" action="${esc(`${prefix}/interaction/${uid}/abort`)}">
<button type="submit">Cancel</button>
</form>`);
}

function consentPage(prefix, uid, { clientId, scope, accountId }) {
  return page('Authorize', 'consent', `<p>Client: <span id="client_id">${esc(clientId)}</span></p>
<p>Account: <span id="account">${esc(accountId)}</span></p>
<p>Scope: <span id="scope">${esc(scope)}</span></p>
<form method="post" action="${esc(`${prefix}/interaction/${uid}/confirm`)}">
<button type="submit">Allow</button>
</form>
<form method="post" action="${esc(`${prefix}/interaction/${uid}/abort`)}">
<button type="submit">Deny</button>
</form>`);
}

function sendHtml(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

function sendJson(res, status, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// ---------------------------------------------------------------------------
// Provider construction
// ---------------------------------------------------------------------------

const ISSUERS = [
  { name: 'plain', prefix: '/plain', issuerPath: '/plain' },
  { name: 'keycloak', prefix: '/realms/field', issuerPath: '/realms/field' },
  { name: 'auth0', prefix: '/auth0', issuerPath: '/auth0/' },
];

function isLoopbackVariant(value, registered) {
  // RFC 8252 section 7.3: any port on a loopback IP redirect URI.
  const a = URL.parse(value);
  const b = URL.parse(registered);
  if (!a || !b) return false;
  if (a.protocol !== 'http:' || b.protocol !== 'http:') return false;
  if (a.hostname !== '127.0.0.1' && a.hostname !== '[::1]') return false;
  if (a.hostname !== b.hostname) return false;
  if (a.username || a.password) return false;
  return a.pathname === b.pathname && a.search === b.search && a.hash === b.hash;
}

function patchLoopbackRedirects(provider) {
  // oidc-provider already allows port variance for native clients; extend the
  // same rule to the web (confidential) client.
  const proto = provider.Client.prototype;
  const origRedirect = proto.redirectUriAllowed;
  const origPostLogout = proto.postLogoutRedirectUriAllowed;
  proto.redirectUriAllowed = function redirectUriAllowed(value) {
    return origRedirect.call(this, value)
      || (this.redirectUris || []).some((r) => isLoopbackVariant(value, r));
  };
  proto.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(value) {
    return origPostLogout.call(this, value)
      || (this.postLogoutRedirectUris || []).some((r) => isLoopbackVariant(value, r));
  };
}

function deviceInputHtml(ctx, err) {
  const action = ctx.oidc.urlFor('code_verification');
  const xsrf = ctx.oidc.session.state?.secret || '';
  let error = '';
  let pageId = 'device-input';
  if (err) {
    if (err.name === 'AbortedError') {
      error = 'the sign-in request was aborted';
      pageId = 'device-aborted';
    } else if (err.name === 'NoCodeError' || err.name === 'NotFoundError') {
      error = 'invalid user code';
    } else if (err.name === 'ExpiredError') {
      error = 'the user code has expired';
    } else if (err.name === 'AlreadyUsedError') {
      error = 'the user code has already been used';
    } else {
      error = `error: ${err.error || err.message || 'unknown'}`;
    }
  }
  return page('Device sign-in', pageId, `${errorParagraph(error)}<form method="post" action="${esc(action)}">
<input type="hidden" name="xsrf" value="${esc(xsrf)}">
<input type="text" name="user_code" value="">
<button type="submit">Continue</button>
</form>`);
}

function buildProvider(iss, base) {
  const issuer = `${base}${iss.issuerPath}`;
  const { prefix, name: flavour } = iss;

  const openidClaims = ['sub'];
  if (flavour === 'keycloak') openidClaims.push('realm_access', 'resource_access');
  if (flavour === 'auth0') openidClaims.push('org_id');

  const longTtl = Math.max(14 * 24 * 3600, opts.refreshTtl);

  const configuration = {
    adapter: makeAdapter(flavour),
    clients: clientList(),
    jwks: { keys: signingKeys.map((k) => ({ ...k })) },
    cookies: {
      keys: cookieKeys,
      names: {
        session: `_session_${flavour}`,
        interaction: `_interaction_${flavour}`,
        resume: `_interaction_resume_${flavour}`,
      },
    },
    claims: {
      openid: openidClaims,
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    scopes: ALL_SCOPES,
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    extraParams: flavour === 'auth0' ? ['organization'] : [],
    clientBasedCORS: () => true,
    // The tests' back-channel logout receiver listens on loopback, which
    // oidc-provider's SSRF protection refuses: only that one URL goes
    // without it.
    fetch: async (url, options) => {
      if (opts.backchannelLogoutUri !== undefined
        && String(url) === new URL(opts.backchannelLogoutUri).href) {
        const { dispatcher, ...rest } = options;
        return globalThis.fetch(url, rest);
      }
      return globalThis.fetch(url, options);
    },
    pkce: {
      required: (ctx, client) => client.clientAuthMethod === 'none',
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => {
          if (PRIVILEGED_CLIENTS.has(client.clientId)) return true;
          return token.clientId === client.clientId;
        },
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => {
          if (PRIVILEGED_CLIENTS.has(client.clientId)) return true;
          return token.clientId === client.clientId;
        },
      },
      userinfo: { enabled: true },
      // DPoP and PAR (both on by default in oidc-provider 9): nonces for
      // the DPoP clients; PAR required only by `par-app`'s own metadata.
      dPoP: {
        enabled: true,
        nonceSecret: DPOP_NONCE_SECRET,
        requireNonce: (ctx) => DPOP_NONCE_CLIENTS.has(ctx.oidc.client?.clientId ?? ctx.oidc.params?.client_id),
      },
      pushedAuthorizationRequests: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          const action = /action="([^"]*)"/.exec(form)?.[1] ?? '';
          const xsrf = /name="xsrf" value="([^"]*)"/.exec(form)?.[1] ?? '';
          ctx.type = 'html';
          ctx.body = page('Sign out', 'logout', `<form method="post" action="${action}">
<input type="hidden" name="xsrf" value="${xsrf}">
<button type="submit" name="logout" value="yes">Sign out</button>
</form>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = page('Signed out', 'logged-out', '<p>You are signed out.</p>');
        },
      },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: async (ctx, form, out, err) => {
          ctx.type = 'html';
          ctx.body = deviceInputHtml(ctx, err);
        },
        userCodeConfirmSource: async (ctx, form, client, deviceInfo, userCode) => {
          const action = ctx.oidc.urlFor('code_verification');
          const xsrf = ctx.oidc.session.state?.secret || '';
          const rawCode = ctx.oidc.params.user_code || userCode;
          ctx.type = 'html';
          ctx.body = page('Confirm device', 'device-confirm', `<p>Client: <span id="client_id">${esc(client.clientId)}</span></p>
<p>Code: <span id="user_code">${esc(userCode)}</span></p>
<form method="post" action="${esc(action)}">
<input type="hidden" name="xsrf" value="${esc(xsrf)}">
<input type="hidden" name="user_code" value="${esc(rawCode)}">
<button type="submit" name="confirm" value="yes">Continue</button>
<button type="submit" name="abort" value="yes">Abort</button>
</form>`);
        },
        successSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = page('Device sign-in complete', 'device-success', '<p>You can return to your device.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, client, oneOf) => {
          if (oneOf) return oneOf.includes(API_RESOURCE) ? API_RESOURCE : oneOf;
          if (ctx.oidc.route === 'token' && ctx.oidc.params.grant_type === 'client_credentials') {
            return API_RESOURCE;
          }
          return undefined;
        },
        useGrantedResource: async () => false,
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          if (resourceIndicator !== API_RESOURCE) {
            throw new errors.InvalidTarget(`unknown resource indicator ${resourceIndicator}`);
          }
          return {
            scope: API_SCOPES.join(' '),
            audience: API_RESOURCE,
            accessTokenTTL: opts.accessTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: async (ctx, token) => {
      if (!token.accountId) return undefined;
      const acct = ACCOUNTS[token.accountId];
      if (!acct) return undefined;
      const extra = flavourClaims(flavour, acct);
      return Object.keys(extra).length ? extra : undefined;
    },
    findAccount: async (ctx, sub) => {
      const acct = ACCOUNTS[sub];
      if (!acct) return undefined;
      return {
        accountId: acct.sub,
        async claims() {
          return {
            sub: acct.sub,
            name: acct.name,
            preferred_username: acct.username,
            email: acct.email,
            email_verified: true,
            ...flavourClaims(flavour, acct),
          };
        },
      };
    },
    // Issue refresh tokens whenever offline_access was granted; rotate on every use.
    issueRefreshToken: async (ctx, client, source) => client.grantTypeAllowed('refresh_token')
      && source.scopes.has('offline_access'),
    rotateRefreshToken: () => true,
    interactions: {
      url: async (ctx, interaction) => `${prefix}/interaction/${interaction.uid}`,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      const rows = Object.entries(out)
        .map(([k, v]) => `<p><span class="key">${esc(k)}</span>: <span id="${esc(k)}">${esc(v)}</span></p>`)
        .join('\n');
      ctx.body = page('Error', 'error', rows);
    },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || opts.accessTtl,
      AuthorizationCode: 60,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || opts.accessTtl,
      DeviceCode: opts.deviceTtl,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: opts.refreshTtl,
      Grant: longTtl,
      Session: longTtl,
    },
  };

  const provider = new Provider(issuer, configuration);
  patchLoopbackRedirects(provider);
  provider.on('server_error', (ctx, err) => log(`${flavour}: server_error: ${err?.stack || err}`));
  provider.on('backchannel.success', (ctx, client) => log(`${flavour}: backchannel logout posted for ${client.clientId}`));
  provider.on('backchannel.error', (ctx, err, client) => log(`${flavour}: backchannel logout for ${client.clientId} failed: ${err?.message || err}`));
  provider.on('end_session.success', () => log(`${flavour}: end_session.success`));
  return { ...iss, issuer, provider, handler: provider.callback() };
}

let instances = [];
let baseUrl;

function buildAll() {
  instances = ISSUERS.map((iss) => buildProvider(iss, baseUrl));
}

// ---------------------------------------------------------------------------
// Interactions (login / consent / abort)
// ---------------------------------------------------------------------------

async function grantEverything(provider, details, accountId) {
  const { params } = details;
  let grant;
  if (details.grantId) {
    grant = await provider.Grant.find(details.grantId);
    if (grant && (grant.accountId !== accountId || grant.clientId !== params.client_id)) {
      grant = undefined;
    }
  }
  grant ||= new provider.Grant({ accountId, clientId: params.client_id });

  const requested = String(params.scope || '').split(' ').filter(Boolean);
  const oidc = requested.filter((s) => ALL_SCOPES.includes(s));
  if (oidc.length) grant.addOIDCScope(oidc.join(' '));

  if (params.claims) {
    try {
      const claims = JSON.parse(params.claims);
      const names = new Set();
      for (const container of ['id_token', 'userinfo']) {
        for (const claim of Object.keys(claims?.[container] || {})) names.add(claim);
      }
      if (names.size) grant.addOIDCClaims([...names]);
    } catch {
      // claims parameter is not enabled; ignore malformed values
    }
  }

  let resources = params.resource;
  if (resources !== undefined && !Array.isArray(resources)) resources = [resources];
  for (const resource of resources || []) {
    const rsScopes = requested.filter((s) => API_SCOPES.includes(s));
    grant.addResourceScope(resource, rsScopes.join(' '));
  }

  return grant.save();
}

async function handleInteraction(inst, req, res, uid, action) {
  const { provider, prefix } = inst;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    sendHtml(res, 400, page('Error', 'error', errorParagraph(`interaction not found: ${err.message}`)));
    return;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, page('Error', 'error', errorParagraph('interaction uid mismatch')));
    return;
  }
  const clientId = details.params.client_id;

  if (action === undefined && req.method === 'GET') {
    if (details.prompt.name === 'login') {
      sendHtml(res, 200, loginPage(prefix, uid, { clientId }));
    } else {
      sendHtml(res, 200, consentPage(prefix, uid, {
        clientId,
        scope: details.params.scope || '',
        accountId: details.session?.accountId,
      }));
    }
    return;
  }

  if (req.method !== 'POST') {
    sendHtml(res, 405, page('Error', 'error', errorParagraph('method not allowed')));
    return;
  }

  const form = await readForm(req);

  if (action === 'login') {
    const username = form.get('username') || '';
    const acct = accountByUsername(username);
    if (!acct || acct.password !== (form.get('password') || '')) {
      sendHtml(res, 401, loginPage(prefix, uid, { error: 'invalid credentials', username, clientId }));
      return;
    }
    const grantId = await grantEverything(provider, details, acct.sub);
    await provider.interactionFinished(req, res, {
      login: { accountId: acct.sub },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
    return;
  }

  if (action === 'confirm') {
    const accountId = details.session?.accountId;
    if (!accountId) {
      sendHtml(res, 400, page('Error', 'error', errorParagraph('no signed-in account; use the login form')));
      return;
    }
    const grantId = await grantEverything(provider, details, accountId);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }

  if (action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }

  sendHtml(res, 404, page('Error', 'error', errorParagraph('unknown interaction action')));
}

// ---------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------

function rotateKeys() {
  const fresh = generateKeyPairJwks();
  // New keys first (used for signing), then the previous generation for verification.
  const previous = signingKeys.slice(0, 2);
  signingKeys = [...fresh, ...previous];
  if (opts.keys) writeKeysFile(path.resolve(opts.keys), signingKeys);
  buildAll();
  log(`rotated signing keys: now ${signingKeys.map((k) => k.kid).join(', ')}`);
  return fresh.map((k) => k.kid);
}

// ---------------------------------------------------------------------------
// HTTP server
// ---------------------------------------------------------------------------

function readyPayload() {
  const issuers = {};
  for (const inst of instances) issuers[inst.name] = inst.issuer;
  return { base: baseUrl, issuers };
}

// Refresh tokens need offline_access to survive; oidc-provider (per OIDC Core)
// drops offline_access from authorization requests unless prompt contains
// "consent". Add it so clients don't need to care; consent is auto-granted.
function addConsentPromptForOfflineAccess(url) {
  const params = url.searchParams;
  const scopes = (params.get('scope') || '').split(' ');
  if (!scopes.includes('offline_access')) return false;
  const prompts = (params.get('prompt') || '').split(' ').filter(Boolean);
  if (prompts.includes('consent') || prompts.includes('none')) return false;
  prompts.push('consent');
  params.set('prompt', prompts.join(' '));
  return true;
}

async function route(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const pathname = url.pathname;

  if (pathname === '/__admin/health') {
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end('ok');
    return;
  }
  if (pathname === '/__admin/rotate-keys') {
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'method_not_allowed' });
      return;
    }
    for await (const _ of req); // drain body
    sendJson(res, 200, { kids: rotateKeys() });
    return;
  }
  if (pathname === '/' || pathname === '/__admin/info') {
    sendJson(res, 200, readyPayload());
    return;
  }

  const inst = instances.find((i) => pathname === i.prefix || pathname.startsWith(`${i.prefix}/`));
  if (!inst) {
    sendJson(res, 404, { error: 'not_found' });
    return;
  }

  const rest = pathname.slice(inst.prefix.length) || '/';
  const m = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?\/?$/.exec(rest);
  if (m) {
    await handleInteraction(inst, req, res, m[1], m[2]);
    return;
  }

  if (rest === '/auth' && req.method === 'GET') {
    addConsentPromptForOfflineAccess(url);
  }

  // Hand over to oidc-provider with the mount prefix stripped. oidc-provider
  // derives the mount path for generated URLs from req.baseUrl.
  req.baseUrl = inst.prefix;
  req.url = `${rest}${url.search}`;
  await inst.handler(req, res);
}

// With --tls-cert/--tls-key the server speaks https (the issuers become
// https://127.0.0.1:PORT/...): tests make a private CA and trust it.
const tls = opts.tlsCert === undefined
  ? undefined
  : { cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey) };
const onRequest = (req, res) => {
  route(req, res).catch((err) => {
    log(`unhandled error for ${req.method} ${req.url}: ${err?.stack || err}`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    else res.destroy();
  });
};
const server = tls === undefined ? http.createServer(onRequest) : https.createServer(tls, onRequest);

function shutdown(reason) {
  log(`shutting down (${reason})`);
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}

process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
if (opts.exitOnStdinClose) {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}

server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  baseUrl = `${tls === undefined ? 'http' : 'https'}://${opts.host}:${port}`;
  buildAll();
  log(`listening on ${baseUrl}`);
  process.stdout.write(`IDP_READY ${JSON.stringify(readyPayload())}\n`);
});
server.on('error', (err) => {
  log(`server error: ${err.message}`);
  process.exit(1);
});
