// A real OpenID provider for Countersign's tests and for trying "Sign in with
// OpenID Connect" locally: the npm package oidc-provider (OpenID Certified),
// on loopback only, with no network beyond it.
//
//   node scripts/oidc/provider.mjs        (scripts/oidc-provider.sh and scripts/oidc-test.sh run it)
//
// Environment:
//   PORT           port on 127.0.0.1 (0 or unset: a free one); the issuer is http://127.0.0.1:PORT
//   ISSUER_HOST    the host name in the issuer: 127.0.0.1 (default) or localhost, which a
//                  browser takes for another site than a Countersign on 127.0.0.1, as a
//                  real provider is (the browser walk uses it: SameSite and cookies as in production)
//   REDIRECT_URIS  comma-separated redirect URIs of the client, added to the default
//                  http://127.0.0.1:8080/auth/oidc/callback (make run's, also used by the Go tests)
//   READY_FILE     when set, the issuer URL is written there once the provider listens
//   ID_TOKEN_TTL   lifetime of ID tokens in seconds (default 120)
//   OIDC_PROVIDER_FROM  a directory whose node_modules holds oidc-provider (default .tools/oidc)
//
// One confidential client (client_secret_basic), authorization code flow
// only, PKCE (S256) required for it. Its id and secret are test fixtures:
//
//   client_id      countersign-local
//   client_secret  countersign-local-secret-0123456789
//
// Accounts (every password is "countersign"):
//
//   ada             ada@example.com, email_verified true, e-mail and name in the ID token
//   grace           grace@example.com, verified, e-mail only from the userinfo endpoint
//                   (as Okta does): the client must ask userinfo
//   eve             eve@example.com, verified, a stranger to Countersign
//   ada-unverified  ada@example.com but email_verified false: must not get ada's account
//   noemail         no e-mail claim at all
//
// The sign-in and consent pages are this file's own (below), not the
// package's development pages, whose stylesheet loads a web font from the
// internet. They are plain HTML forms: #login (login, password, Sign in)
// and #consent (Continue), and nothing else is fetched.
import { createRequire } from 'node:module';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const HOST = '127.0.0.1';

export const CLIENT_ID = 'countersign-local';
export const CLIENT_SECRET = 'countersign-local-secret-0123456789';
export const PASSWORD = 'countersign';
const DEFAULT_REDIRECT = 'http://127.0.0.1:8080/auth/oidc/callback';

// oidc-provider is ESM; ESM ignores NODE_PATH, so it is found with
// createRequire from the directory npm installed it into.
async function loadProvider() {
  const places = [process.env.OIDC_PROVIDER_FROM, path.join(root, '.tools', 'oidc'), here].filter(Boolean);
  for (const dir of places) {
    try {
      const file = createRequire(path.join(dir, 'package.json')).resolve('oidc-provider');
      return (await import(pathToFileURL(file).href)).default;
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  console.error(`oidc-provider not found in ${places.join(' or ')}; scripts/oidc-provider.sh start installs it into .tools/oidc`);
  process.exit(1);
}

// The accounts. idToken: whether the e-mail and name go into the ID token
// (with conformIdTokenClaims off, claims() is asked once per use).
const accounts = {
  ada: { email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace', idToken: true },
  grace: { email: 'grace@example.com', email_verified: true, name: 'Grace Hopper', idToken: false },
  eve: { email: 'eve@example.com', email_verified: true, name: 'Eve Stranger', idToken: true },
  'ada-unverified': { email: 'ada@example.com', email_verified: false, name: 'Not Ada', idToken: true },
  noemail: { name: 'No Mail', idToken: true },
};

async function findAccount(_ctx, id) {
  const a = accounts[id];
  if (!a) return undefined;
  return {
    accountId: id,
    async claims(use) {
      const c = { sub: id };
      if (use === 'userinfo' || a.idToken) {
        if (a.email !== undefined) {
          c.email = a.email;
          c.email_verified = a.email_verified;
        }
        c.name = a.name;
      }
      return c;
    },
  };
}

const escape = (s) => String(s).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function page(res, status, title, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  // no form-action: it would also hold the redirect back to the client after the consent form
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)} · Test OpenID provider</title></head>
<body style="font-family: sans-serif; max-width: 30em; margin: 2em auto">
<h1>${escape(title)}</h1>
<p id="provider">Test OpenID provider (oidc-provider) at ${escape(res.issuer)}</p>
${body}
</body></html>`);
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      data += d;
      if (data.length > 16384) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
}

function loginForm(uid, clientId, error, login) {
  return `${error ? `<p id="error" style="color: #a00">${escape(error)}</p>` : ''}
<p>Sign in to continue to <b>${escape(clientId)}</b>.</p>
<form id="login" method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
<p><label>Login <input id="username" name="login" required value="${escape(login || '')}"></label></p>
<p><label>Password <input id="password" name="password" type="password" required></label></p>
<p><button id="sign-in" type="submit">Sign in</button></p>
</form>
<p><a id="abort" href="/interaction/${escape(uid)}/abort">Cancel</a></p>`;
}

// interactions serves /interaction/{uid}[/login|/confirm|/abort]: the
// provider sends the browser there when it needs a sign-in or a consent.
async function interactions(provider, req, res, url) {
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    page(res, 400, 'Unknown interaction', '<p>This sign-in is not the one in progress.</p>');
    return;
  }
  const { prompt, params } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      page(res, 200, 'Sign in', loginForm(uid, params.client_id, '', params.login_hint));
    } else if (prompt.name === 'consent') {
      const scopes = (details.prompt.details.missingOIDCScope || []).filter((s) => s !== 'openid');
      page(res, 200, 'Authorize', `<p><b>${escape(params.client_id)}</b> asks for: ${escape(scopes.join(', ') || 'your identity')}</p>
<form id="consent" method="post" action="/interaction/${escape(uid)}/confirm"><button id="continue" type="submit">Continue</button></form>`);
    } else {
      page(res, 501, 'Not implemented', `<p>prompt ${escape(prompt.name)}</p>`);
    }
    return;
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const login = form.get('login') || '';
    if (!accounts[login] || form.get('password') !== PASSWORD) {
      page(res, 200, 'Sign in', loginForm(uid, params.client_id, 'Unknown login or wrong password.', login));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }
  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    await readForm(req);
    const { grantId, session } = details;
    const grant = grantId ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
    }
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    return;
  }
  if (req.method === 'GET' && action === 'abort') {
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user cancelled the sign-in' }, { mergeWithLastSubmission: false });
    return;
  }
  page(res, 400, 'Not possible', `<p>${escape(req.method)} ${escape(action || '')} does not fit the prompt ${escape(prompt.name)}.</p>`);
}

const Provider = await loadProvider();
const port = Number(process.env.PORT || 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, not ${process.env.PORT}`);
  process.exit(2);
}
const redirectURIs = [DEFAULT_REDIRECT, ...(process.env.REDIRECT_URIS || '').split(',').map((s) => s.trim()).filter(Boolean)];
const idTokenTTL = Number(process.env.ID_TOKEN_TTL || 120);
const issuerHost = process.env.ISSUER_HOST || HOST;
if (issuerHost !== HOST && issuerHost !== 'localhost') {
  console.error(`ISSUER_HOST must be ${HOST} or localhost, not ${issuerHost}`);
  process.exit(2);
}

const server = http.createServer();
server.listen(port, HOST, () => {
  const issuer = `http://${issuerHost}:${server.address().port}`;
  // A signing key made for this run: nothing outside this process knows it.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `test-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [...new Set(redirectURIs)],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    // PKCE (S256, the only method oidc-provider 9 offers) for every client,
    // also the confidential one (the package requires it only for public ones).
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // Scope claims go into the ID token too (as Google, Entra ID and Keycloak
    // do); account "grace" leaves them to userinfo (findAccount above).
    conformIdTokenClaims: false,
    findAccount,
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      IdToken: idTokenTTL,
      AccessToken: 600,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html><head><meta charset="utf-8"><title>Error · Test OpenID provider</title></head><body>
<h1>Error</h1><pre id="error">${escape(JSON.stringify(out, null, 2))}</pre></body></html>`;
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  for (const ev of ['authorization.error', 'grant.error', 'userinfo.error']) {
    provider.on(ev, (_ctx, err) => console.log(ev, err.error || err.name, err.error_description || err.message));
  }
  const callback = provider.callback();
  server.on('request', (req, res) => {
    res.issuer = issuer;
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/interaction/')) {
      interactions(provider, req, res, url).catch((err) => {
        console.error('interaction failed:', err);
        if (!res.headersSent) page(res, 400, 'Sign-in failed', `<p id="error">${escape(err.message)}</p>`);
        else res.end();
      });
      return;
    }
    callback(req, res);
  });
  if (process.env.READY_FILE) writeFileSync(process.env.READY_FILE, `${issuer}\n`);
  console.log(`oidc-provider ${issuer} ready; client ${CLIENT_ID}; redirect URIs ${[...new Set(redirectURIs)].join(' ')}; ID tokens live ${idTokenTTL}s`);
});
server.on('error', (err) => {
  console.error(`cannot listen on ${HOST}:${port}: ${err.message}`);
  process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
  process.on(sig, () => setTimeout(() => process.exit(0), 2000).unref());
}
