// The OpenFeature JavaScript server SDK (@openfeature/server-sdk) with the
// OFREP provider (@openfeature/ofrep-provider) against a running Countersign:
// every check asks the SDK for its resolution details (value, variant,
// reason, errorCode) and, where the server has an answer, compares them with
// the raw OFREP response for the same flag and context, so what the SDK
// reports is what the server said. Run by scripts/ofrep-compat.sh, which
// starts and seeds the local runtime; by hand, against a seeded instance:
//
//   BASE=http://127.0.0.1:8080 SDK_KEY=... node scripts/ofrep/compat.mjs
//
// Prints one line a check, NOTE lines for what the server does that the SDK
// does not take as the protocol means it (they do not fail the run), and
// closes with "N passed, N failed"; exits non-zero on any failure.
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const BASE = (process.env.BASE || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SDK_KEY = process.env.SDK_KEY || '';
const WRONG_KEY = process.env.WRONG_SDK_KEY || 'cs_wrong-0123456789abcdef0123456789abcdef';

function die(message) {
  console.error(`ofrep-compat: ${message}`);
  process.exit(2);
}
if (!SDK_KEY) die('SDK_KEY is not set (an SDK key of shop/production)');

// versionOf finds the version of package name from a file inside it (its
// package.json is not always exported).
function versionOf(file, name) {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      const meta = JSON.parse(readFileSync(pj, 'utf8'));
      if (meta.name === name) return meta.version;
    }
  }
  return 'unknown';
}

// The packages live in .tools/ofrep (installed by scripts/ofrep-compat.sh);
// an `npm install` inside scripts/ofrep works too. ESM ignores NODE_PATH,
// hence createRequire.
function load(name) {
  const places = [process.env.OFREP_MODULES_FROM, path.join(root, '.tools', 'ofrep'), here].filter(Boolean);
  for (const dir of places) {
    try {
      const req = createRequire(path.join(dir, 'package.json'));
      const mod = req(name);
      return { mod, version: versionOf(req.resolve(name), name) };
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  die(`${name} not found in ${places.join(' or ')}; run scripts/ofrep-compat.sh, which installs it into .tools/ofrep`);
}

const sdk = load('@openfeature/server-sdk');
const ofrep = load('@openfeature/ofrep-provider');
const ofrepCore = load('@openfeature/ofrep-core');
const { OpenFeature } = sdk.mod;
const { OFREPProvider } = ofrep.mod;
console.log(`@openfeature/server-sdk ${sdk.version}, @openfeature/ofrep-provider ${ofrep.version}, @openfeature/ofrep-core ${ofrepCore.version}; node ${process.version}`);
console.log(`server ${BASE}`);

// The SDK logs every evaluation error; keep them for the failure messages
// instead of interleaving stack traces with the checks.
const sdkLog = [];
OpenFeature.setLogger({
  error: (...a) => sdkLog.push(a.map(String).join(' ')),
  warn: (...a) => sdkLog.push(a.map(String).join(' ')),
  info: () => {},
  debug: () => {},
});

// The reasons the OFREP spec (/work/shared/ofrep/openapi.yaml) lists for a
// successful evaluation.
const SPEC_REASONS = ['STATIC', 'TARGETING_MATCH', 'SPLIT', 'DISABLED', 'UNKNOWN'];

async function raw(flag, context, key = SDK_KEY) {
  const res = await fetch(`${BASE}/ofrep/v1/evaluate/flags/${encodeURIComponent(flag)}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ context }),
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

let passed = 0;
let failed = 0;
const notes = [];
const offSpecReasons = new Map(); // reason → flags it was served for
const show = (v) => (v === undefined ? 'undefined' : JSON.stringify(v));
const summary = (d) =>
  `value=${show(d.value)} variant=${show(d.variant)} reason=${show(d.reason)}` +
  (d.errorCode ? ` errorCode=${d.errorCode}` : '');

// check runs one evaluation through the SDK. want: value, variant, reason,
// errorCode (undefined: must be absent; a function: a predicate). server:
// the raw response must have this status, and for a 200 its value (when
// present), variant and reason must be what the SDK reports.
async function check(name, { client, method, flag, def, context, want, server }) {
  const problems = [];
  let details;
  let answer;
  const logFrom = sdkLog.length;
  try {
    details = await client[method](flag, def, context);
  } catch (err) {
    problems.push(`${method} threw: ${err && err.stack ? err.stack : err}`);
  }
  try {
    if (server) answer = await raw(flag, context, server.key);
  } catch (err) {
    problems.push(`the raw OFREP request failed: ${err}`);
  }
  if (details) {
    for (const field of ['value', 'variant', 'reason', 'errorCode']) {
      if (!(field in want)) continue;
      const w = want[field];
      const got = details[field];
      const ok = typeof w === 'function' ? w(got) : isDeepStrictEqual(got, w);
      if (!ok) problems.push(`${field}: SDK gave ${show(got)}, want ${typeof w === 'function' ? w.toString() : show(w)}`);
    }
  }
  if (answer) {
    if (answer.status !== server.status) {
      problems.push(`server answered ${answer.status} ${show(answer.body)}, want ${server.status}`);
    } else if (answer.status === 200 && details) {
      const b = answer.body;
      if ('value' in b && !isDeepStrictEqual(details.value, b.value))
        problems.push(`value: SDK gave ${show(details.value)}, server said ${show(b.value)}`);
      if (!details.errorCode) {
        if (details.variant !== b.variant) problems.push(`variant: SDK gave ${show(details.variant)}, server said ${show(b.variant)}`);
        if (details.reason !== b.reason) problems.push(`reason: SDK gave ${show(details.reason)}, server said ${show(b.reason)}`);
      }
      if (b.reason && !SPEC_REASONS.includes(b.reason)) {
        if (!offSpecReasons.has(b.reason)) offSpecReasons.set(b.reason, []);
        offSpecReasons.get(b.reason).push(flag);
      }
    } else if (answer.status !== 200 && details && want.errorCode === undefined) {
      problems.push(`server answered ${answer.status} but the SDK reported no error`);
    }
  }
  const serverText = answer ? ` | server ${answer.status} ${show(answer.body)}` : '';
  if (problems.length) {
    failed++;
    console.log(`FAIL ${name}`);
    if (details) console.log(`       SDK: ${summary(details)}${details.errorMessage ? ` errorMessage=${show(details.errorMessage)}` : ''}`);
    if (answer) console.log(`       server: ${answer.status} ${show(answer.body)}`);
    for (const p of problems) console.log(`       - ${p}`);
    for (const l of sdkLog.slice(logFrom)) console.log(`       sdk log: ${l.split('\n')[0]}`);
  } else {
    passed++;
    console.log(`ok   ${name}: ${summary(details)}${serverText}`);
  }
  return { details, answer };
}

const started = Date.now();
await OpenFeature.setProviderAndWait(
  new OFREPProvider({ baseUrl: BASE, headers: { Authorization: `Bearer ${SDK_KEY}` } }),
);
await OpenFeature.setProviderAndWait(
  'wrong-key',
  new OFREPProvider({ baseUrl: BASE, headers: { Authorization: `Bearer ${WRONG_KEY}` } }),
);
const client = OpenFeature.getClient('countersign-compat');
const wrong = OpenFeature.getClient('wrong-key');
const ok200 = { status: 200 };
const DE = { targetingKey: 'user-de-1', country: 'DE' };
const FR = { targetingKey: 'user-fr-1', country: 'FR' };
const sameAsServer = (allowed) => (r) => allowed.includes(r);

// boolean: a rule (country is DE → on) and a default rule (100 % control)
await check('boolean: targeting match (country DE → on)', {
  client, method: 'getBooleanDetails', flag: 'new-checkout', def: false, context: DE,
  want: { value: true, variant: 'on', reason: 'TARGETING_MATCH', errorCode: undefined }, server: ok200,
});
await check('boolean: default rule (country FR → control)', {
  client, method: 'getBooleanDetails', flag: 'new-checkout', def: true, context: FR,
  want: { value: false, variant: 'control', reason: sameAsServer(['DEFAULT', 'STATIC']), errorCode: undefined }, server: ok200,
});

// string
await check('string: targeting match (country DE → blue)', {
  client, method: 'getStringDetails', flag: 'banner-color', def: 'none', context: DE,
  want: { value: 'blue', variant: 'blue', reason: 'TARGETING_MATCH', errorCode: undefined }, server: ok200,
});
await check('string: default rule (country FR → green)', {
  client, method: 'getStringDetails', flag: 'banner-color', def: 'none', context: FR,
  want: { value: 'green', variant: 'green', reason: sameAsServer(['DEFAULT', 'STATIC']), errorCode: undefined }, server: ok200,
});

// number: integral and fractional
await check('number: targeting match (country DE → 1)', {
  client, method: 'getNumberDetails', flag: 'discount', def: -1, context: DE,
  want: { value: 1, variant: 'one', reason: 'TARGETING_MATCH', errorCode: undefined }, server: ok200,
});
await check('number: default rule (country FR → 2.5)', {
  client, method: 'getNumberDetails', flag: 'discount', def: -1, context: FR,
  want: { value: 2.5, variant: 'two-and-a-half', reason: sameAsServer(['DEFAULT', 'STATIC']), errorCode: undefined }, server: ok200,
});

// object
await check('object: targeting match (country DE → {"a":1})', {
  client, method: 'getObjectDetails', flag: 'layout', def: { fallback: true }, context: DE,
  want: { value: { a: 1 }, variant: 'a', reason: 'TARGETING_MATCH', errorCode: undefined }, server: ok200,
});
await check('object: default rule (country FR → {"b":[1,2]})', {
  client, method: 'getObjectDetails', flag: 'layout', def: { fallback: true }, context: FR,
  want: { value: { b: [1, 2] }, variant: 'b', reason: sameAsServer(['DEFAULT', 'STATIC']), errorCode: undefined }, server: ok200,
});

// a flag whose only rule is the default at 100 % to one variant: STATIC
await check('string: static flag (no rules, 100 % to one variant)', {
  client, method: 'getStringDetails', flag: 'api-version', def: 'none', context: FR,
  want: { value: 'v2', variant: 'v2', reason: sameAsServer(['STATIC', 'DEFAULT']), errorCode: undefined }, server: ok200,
});

// a 50/50 split: SPLIT with a targeting key, TARGETING_KEY_MISSING without
await check('boolean: split with a targeting key', {
  client, method: 'getBooleanDetails', flag: 'beta', def: false, context: FR,
  want: { value: (v) => typeof v === 'boolean', variant: (v) => v === 'on' || v === 'control', reason: 'SPLIT', errorCode: undefined },
  server: ok200,
});
await check('boolean: split without a targeting key (TARGETING_KEY_MISSING, code default)', {
  client, method: 'getBooleanDetails', flag: 'beta', def: true, context: { country: 'FR' },
  want: { value: true, reason: 'ERROR', errorCode: 'TARGETING_KEY_MISSING' }, server: { status: 400 },
});

// disabled, its off variant a real variant: that variant's value, DISABLED
await check('string: disabled flag serves its off variant (legacy → "solr")', {
  client, method: 'getStringDetails', flag: 'search-engine', def: 'none', context: DE,
  want: { value: 'solr', variant: 'legacy', reason: 'DISABLED', errorCode: undefined }, server: ok200,
});

// enabled, default rollout 0, off variant "off": no value, the code default
const fallback = await check('boolean: fallback flag (rollout 0, off variant "off") gives the code default', {
  client, method: 'getBooleanDetails', flag: 'dark-mode', def: true, context: FR,
  want: { value: true }, server: ok200,
});
const fallbackStr = await check('string: fallback flag gives the code default', {
  client, method: 'getStringDetails', flag: 'dark-mode', def: 'code-default', context: FR,
  want: { value: 'code-default' }, server: ok200,
});
for (const r of [fallback, fallbackStr]) {
  const d = r.details;
  const b = r.answer && r.answer.status === 200 ? r.answer.body : null;
  if (d && d.errorCode && b && !('value' in b)) {
    notes.push(
      `fallback flag: the server answers 200 ${show(b)} (no "value": the spec's codeDefaultFlag); ` +
        `the SDK returned the code default only through an error: reason=${show(d.reason)} errorCode=${d.errorCode} errorMessage=${show(d.errorMessage)}`,
    );
  }
}

// no such flag
await check('flag not found: FLAG_NOT_FOUND and the code default', {
  client, method: 'getStringDetails', flag: 'no-such-flag', def: 'code-default', context: DE,
  want: { value: 'code-default', reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' }, server: { status: 404 },
});

// a wrong SDK key: an error and the code default
const wrongKey = await check('wrong SDK key: an error and the code default', {
  client: wrong, method: 'getBooleanDetails', flag: 'new-checkout', def: false, context: DE,
  want: { value: false, reason: 'ERROR', errorCode: (c) => typeof c === 'string' && c.length > 0 },
  server: { status: 401, key: WRONG_KEY },
});
if (wrongKey.details && wrongKey.details.errorCode === 'GENERAL' && wrongKey.answer && wrongKey.answer.status === 401)
  notes.push(
    `wrong SDK key: the server answers 401; the SDK has no error code for it and reports GENERAL (${show(wrongKey.details.errorMessage)})`,
  );

await OpenFeature.close();
console.log(`checks took ${Date.now() - started} ms`);
for (const [reason, flags] of offSpecReasons)
  notes.push(
    `the server's reason ${show(reason)} (${[...new Set(flags)].join(', ')}) is not in the OFREP spec's reason enum ` +
      `(${SPEC_REASONS.join(', ')}); the SDK passed it on as is`,
  );
for (const n of [...new Set(notes)]) console.log(`NOTE ${n}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
