// Flags in the browser (issue 17), in headless Chromium: a page served from
// another origin than Countersign's loads the OpenFeature web SDK with the
// OFREP web provider (bundled by esbuild, scripts/ofrep-web-test.sh) and
// evaluates flags with a client key. Run by scripts/ofrep-web-test.sh, which
// starts and seeds the local runtime. It checks:
//
//   - from the allowed origin, the SDK's resolution details: exposed flags
//     answered (value, variant, reason), the unexposed one FLAG_NOT_FOUND;
//   - the provider's polls are conditional: 304 while nothing changed;
//   - a flag changed through the management API reaches the page after the
//     poll interval (ConfigurationChanged, the new value);
//   - from an origin outside the allowlist the same page fails (the browser
//     refuses the answers: CORS), and so does a server key from the allowed
//     origin (server keys get no CORS).
//
// Environment: BASE (Countersign), CLIENT_KEY, SERVER_KEY, ADMIN_TOKEN,
// PAGE_PORT (the allowed origin, http://127.0.0.1:PAGE_PORT), OTHER_PORT (an
// origin outside the allowlist), BUNDLE (the esbuild bundle), CHROMIUM,
// PLAYWRIGHT_CORE_FROM, ARTIFACTS.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { harness } from '../browser/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
let browser; let page;
const { BASE, loadPlaywright, screenshot, step, check, text, launch, openPage, fail } = harness({
  artifacts: '.tools/artifacts/ofrep-web',
  stepTimeoutMs: 30000,
  playwrightPlaces: ['.tools/ofrep-web'],
  installHint: 'run scripts/ofrep-web-test.sh (it installs the pinned packages into .tools/ofrep-web)',
  prefix: 'ofrep-web-',
  current: () => ({ browser, page }),
});

const env = (name) => process.env[name] || fail('setup', `${name} is not set`);
const CLIENT_KEY = env('CLIENT_KEY');
const SERVER_KEY = env('SERVER_KEY');
const ADMIN_TOKEN = env('ADMIN_TOKEN');
const PAGE_PORT = Number(env('PAGE_PORT'));
const OTHER_PORT = Number(env('OTHER_PORT'));
const bundle = readFileSync(env('BUNDLE'));
const html = readFileSync(path.join(here, 'page.html'));

// The page's origins: two static servers of the same files on loopback.
function serve(port) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
    } else if (url.pathname === '/bundle.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve(server)));
}
const servers = [await serve(PAGE_PORT), await serve(OTHER_PORT)];
const allowed = `http://127.0.0.1:${PAGE_PORT}`;
const other = `http://127.0.0.1:${OTHER_PORT}`;
const pageURL = (origin, key) => `${origin}/?base=${encodeURIComponent(BASE)}&key=${encodeURIComponent(key)}&poll=1000`;

// api calls the management API as the admin.
async function api(method, p, body) {
  const res = await fetch(BASE + p, {
    method, headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// bulkAnswers records the statuses of the page's bulk polls.
let bulkAnswers = [];
const ofrepCalls = [];
function record(p) {
  p.on('response', (r) => {
    const u = r.url();
    if (u.startsWith(BASE + '/ofrep/')) {
      ofrepCalls.push({ method: r.request().method(), status: r.status(), origin: r.request().headers().origin || '' });
      if (u === BASE + '/ofrep/v1/evaluate/flags' && r.request().method() === 'POST') bulkAnswers.push({ status: r.status(), etag: r.headers().etag || '' });
    }
  });
  const consoleErrors = [];
  p.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  return consoleErrors;
}

const { chromium } = loadPlaywright();

await step('launch chromium', async () => {
  browser = await launch(chromium);
});

await step(`the page on ${allowed} evaluates flags with the client key`, async () => {
  page = await openPage(browser);
  record(page);
  await page.goto(pageURL(allowed, CLIENT_KEY));
  await page.waitForFunction(() => document.getElementById('status').textContent !== 'starting');
  check(await text(page.locator('#status')) === 'ready', `the provider did not start: ${await text(page.locator('#status'))}`);
  const d = await page.evaluate(() => window.flagDetails());
  console.log(`      the SDK's resolution details: ${JSON.stringify(d)}`);
  check(d['banner-text'].value === 'Welcome' && d['banner-text'].variant === 'welcome' && !d['banner-text'].errorCode,
    `banner-text: ${JSON.stringify(d['banner-text'])}`);
  check(d['new-checkout'].value === true && d['new-checkout'].variant === 'on' && d['new-checkout'].reason === 'TARGETING_MATCH',
    `new-checkout: ${JSON.stringify(d['new-checkout'])}`);
  // the unexposed flag: the SDK reports FLAG_NOT_FOUND and serves the default
  check(d['secret-pricing'].errorCode === 'FLAG_NOT_FOUND' && d['secret-pricing'].value === 'fallback price' && d['secret-pricing'].reason === 'ERROR',
    `secret-pricing: ${JSON.stringify(d['secret-pricing'])}`);
  // the table shows the same details
  check(await text(page.locator('tr[data-flag="banner-text"] td').nth(1)) === '"Welcome"', 'the table does not show banner-text');
  check(await text(page.locator('tr[data-flag="secret-pricing"] td').nth(4)) === 'FLAG_NOT_FOUND', 'the table does not show FLAG_NOT_FOUND');
  check(bulkAnswers.some((a) => a.status === 200 && a.etag), `no bulk answer with an ETag: ${JSON.stringify(bulkAnswers)}`);
  await screenshot('allowed-origin');
});

await step('the provider polls with the ETag: 304 while nothing changes', async () => {
  const t0 = Date.now();
  while (!bulkAnswers.some((a) => a.status === 304)) {
    if (Date.now() - t0 > 10000) throw new Error(`no 304 among the polls: ${JSON.stringify(bulkAnswers)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`      polls so far: ${bulkAnswers.map((a) => a.status).join(' ')}`);
});

await step('a flag changed in Countersign reaches the page after the poll interval', async () => {
  const cfg = await api('GET', '/v1/projects/web/flags/banner-text/environments/production');
  cfg.default_rule = { rollout: 100, weights: [{ variant: 'willkommen', weight: 1 }] };
  await api('PUT', '/v1/projects/web/flags/banner-text/environments/production', cfg);
  const changedAt = Date.now();
  bulkAnswers = [];
  await page.waitForFunction(() => window.flagDetails()['banner-text'].value === 'Willkommen', null, { timeout: 15000 });
  const d = await page.evaluate(() => window.flagDetails());
  const changes = await page.evaluate(() => window.changes);
  console.log(`      after ${Date.now() - changedAt} ms: ${JSON.stringify(d['banner-text'])}; ConfigurationChanged: ${JSON.stringify(changes)}`);
  check(d['banner-text'].variant === 'willkommen', `banner-text after the change: ${JSON.stringify(d['banner-text'])}`);
  check(changes.some((c) => c.includes('banner-text')), `no ConfigurationChanged event for banner-text: ${JSON.stringify(changes)}`);
  check(bulkAnswers.some((a) => a.status === 200), `the change came without a 200 poll: ${JSON.stringify(bulkAnswers)}`);
  await page.waitForFunction(() => document.querySelector('tr[data-flag="banner-text"] td:nth-child(2)').textContent === '"Willkommen"');
  await screenshot('after-change');
});

for (const [what, origin, key] of [[`the page on ${other}, outside the allowlist`, other, CLIENT_KEY], [`a server key in the page on ${allowed}`, allowed, SERVER_KEY]]) {
  await step(`${what}, fails: the browser gets no CORS answer`, async () => {
    const p = await openPage(browser);
    const errors = record(p);
    const before = ofrepCalls.length;
    await p.goto(pageURL(origin, key));
    await p.waitForFunction(() => document.getElementById('status').textContent !== 'starting');
    const status = await text(p.locator('#status'));
    const d = await p.evaluate(() => window.flagDetails());
    console.log(`      provider: ${status}; banner-text: ${JSON.stringify(d['banner-text'])}`);
    console.log(`      OFREP answers the browser saw: ${JSON.stringify(ofrepCalls.slice(before))}`);
    check(status.startsWith('error'), `the provider started: ${status}`);
    check(d['banner-text'].value === 'default banner' && d['banner-text'].reason === 'ERROR', `banner-text: ${JSON.stringify(d['banner-text'])}`);
    check(errors.some((e) => /CORS/i.test(e)), `no CORS error in the console: ${JSON.stringify(errors)}`);
    page = p;
    await screenshot(origin === other ? 'other-origin' : 'server-key');
    await p.close();
  });
}

await browser.close();
for (const s of servers) s.close();
console.log('flags in the browser: all checks passed');
