// People sign in to Countersign with OpenID Connect in a real browser
// (Debian's chromium driven by playwright-core), through a real OpenID
// provider (oidc-provider, scripts/oidc/provider.mjs). Run by
// scripts/oidc-test.sh, which starts both and adds the member
// ada@example.com; by hand:
//
//   BASE=http://127.0.0.1:8080 ISSUER=http://localhost:9400 node scripts/oidc/walk.mjs
//
// Cases, each in a fresh browser (context):
//   1. a known member (ada) signs in with the login page's "Sign in with Test
//      provider" button and lands on /v1/session, which answers her
//   2. an unknown identity (eve) is refused: a 403 page, no session cookie
//   3. an address the provider has not verified (ada-unverified) is refused: 403
//   4. a state mismatch is refused: the provider's answer, held back by the
//      test before it reaches Countersign, comes back with another state
//      (400); the genuine answer then fails in another browser (no flow
//      cookie: 400) and in the same one (the flow cookie works once: 400);
//      no session anywhere
//
// Nothing leaves loopback: every request to another host is aborted and
// fails the walk. Screenshots go to $ARTIFACTS. Exits non-zero, saying which
// step failed and why.
import { mkdirSync } from 'node:fs';
import { harness } from '../browser/harness.mjs';

let browser;
let page;
const offLoopback = [];
const started = Date.now();
const { BASE, ARTIFACTS, CHROMIUM, STEP_TIMEOUT_MS, fail, loadPlaywright, screenshot, step, check, text, launch, watch } = harness({
  artifacts: '.tools/artifacts/oidc',
  stepTimeoutMs: 30000, // a case is several pages at two servers
  playwrightPlaces: ['.tools/oidc', 'scripts/oidc'],
  installHint: 'scripts/oidc-test.sh installs it into .tools/oidc',
  current: () => ({ browser, page }),
  afterStep: () => {
    if (offLoopback.length) throw new Error(`requests left loopback: ${offLoopback.join(', ')}`);
  },
});
const ISSUER = (process.env.ISSUER || '').replace(/\/+$/, '');
const PASSWORD = 'countersign'; // every account's, scripts/oidc/provider.mjs
const SESSION_COOKIE = 'countersign_session';
const FLOW_COOKIE = 'countersign_oidc';
const PROVIDER_NAME = process.env.PROVIDER_NAME || 'Test provider'; // COUNTERSIGN_OIDC_NAME

if (!ISSUER) fail('setup', 'ISSUER (the provider\'s issuer URL) is not set');

// fresh gives the walk a new browser context: no cookies, no provider session.
async function fresh() {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  await context.route('**/*', (route) => {
    const { hostname } = new URL(route.request().url());
    if (hostname !== '127.0.0.1' && hostname !== 'localhost') {
      offLoopback.push(route.request().url());
      return route.abort();
    }
    return route.fallback();
  });
  page = watch(await context.newPage());
  return context;
}

// cookies answers Countersign's cookies in the browser, by name: those of
// the whole site and those of /auth/oidc (the flow cookie's path).
async function cookies(context) {
  return Object.fromEntries((await context.cookies([`${BASE}/`, `${BASE}/auth/oidc/callback`])).map((c) => [c.name, c]));
}

// atProvider: from the provider's sign-in page, sign in as login and give
// consent when asked; resolves once the browser is on its way back.
async function atProvider(login) {
  await page.waitForURL((u) => u.href.startsWith(`${ISSUER}/interaction/`));
  check(await page.locator('#login').count() === 1, `no sign-in form at ${page.url()}`);
  await page.locator('#username').fill(login);
  await page.locator('#password').fill(PASSWORD);
  await screenshot(`provider-sign-in-${login}`);
  const before = page.url();
  await page.locator('#sign-in').click();
  await page.waitForURL((u) => u.href !== before);
  check(await page.locator('#error').count() === 0, `the provider refused the sign-in: ${await page.locator('#error').count() && await text(page.locator('#error'))}`);
  if (page.url().startsWith(`${ISSUER}/interaction/`) && await page.locator('#consent').count() === 1) {
    await screenshot(`provider-consent-${login}`);
    await page.locator('#continue').click();
  }
}

// signIn walks login from Countersign's login route (or, fromLoginPage,
// from the "Sign in with ..." button of /login) and answers the response of
// the callback.
async function signIn(login, next, fromLoginPage) {
  const callback = page.waitForResponse((r) => r.url().startsWith(`${BASE}/auth/oidc/callback`), { timeout: STEP_TIMEOUT_MS });
  callback.catch(() => {}); // a failing step closes the browser; step() reports why
  let res;
  if (fromLoginPage) {
    const r = await page.goto(`${BASE}/login?next=${encodeURIComponent(next)}`);
    check(r.status() === 200, `GET /login answered ${r.status()}`);
    const button = page.locator('#oidc');
    check(await button.count() === 1, 'the login page has no "Sign in with ..." button (#oidc)');
    const label = await text(button);
    check(label === `Sign in with ${PROVIDER_NAME}`, `the button says "${label}", want "Sign in with ${PROVIDER_NAME}"`);
    await screenshot('countersign-login-page');
    const nav = page.waitForNavigation();
    await button.click();
    res = await nav;
  } else {
    res = await page.goto(`${BASE}/auth/oidc/login?next=${encodeURIComponent(next)}`);
  }
  check(res && res.url().startsWith(`${ISSUER}/`), `the login route did not send the browser to the provider ${ISSUER}: ${res && res.url()}`);
  let hop = res.request();
  while (hop && !hop.url().startsWith(`${BASE}/auth/oidc/login`)) hop = hop.redirectedFrom();
  check(hop, 'no request to the login route in the redirect chain');
  const setCookie = (await (await hop.response()).allHeaders())['set-cookie'] || '';
  check(setCookie.includes(`${FLOW_COOKIE}=`) && /HttpOnly/i.test(setCookie) && /SameSite=Lax/i.test(setCookie) && /Path=\/auth\/oidc/i.test(setCookie),
    `the login route's flow cookie is not HttpOnly, SameSite=Lax, Path=/auth/oidc: ${setCookie}`);
  await atProvider(login);
  return callback;
}

const { chromium } = loadPlaywright();
mkdirSync(ARTIFACTS, { recursive: true });
console.log(`signing in to ${BASE} through ${ISSUER} with ${CHROMIUM}; screenshots in ${ARTIFACTS}`);

await step('launch chromium', async () => {
  browser = await launch(chromium);
  console.log(`      chromium ${browser.version()}`);
});

await step('1. a known member (ada) signs in from the login page and lands on /v1/session', async () => {
  const context = await fresh();
  const cb = await (await signIn('ada', '/v1/session', true));
  check(cb.status() === 303, `the callback answered ${cb.status()}, want 303`);
  await page.waitForURL(`${BASE}/v1/session`);
  const body = await text(page.locator('body'));
  let session;
  try { session = JSON.parse(body); } catch { throw new Error(`/v1/session is not JSON: ${body.slice(0, 200)}`); }
  check(session.member && session.member.email === 'ada@example.com', `/v1/session answers ${body.slice(0, 300)}`);
  check(session.channel === 'oidc', `the session's channel is ${session.channel}, want oidc`);
  await screenshot('signed-in-v1-session');
  const jar = await cookies(context);
  const s = jar[SESSION_COOKIE];
  check(s && s.httpOnly && s.sameSite === 'Lax' && s.path === '/', `the session cookie is ${JSON.stringify(s)}`);
  check(!jar[FLOW_COOKIE], 'the flow cookie is still there after the callback');
  console.log(`      signed in as ${session.member.email} (${session.member.role}), session ${session.id}`);
  await context.close();
});

await step('2. an unknown identity (eve) is refused', async () => {
  const context = await fresh();
  const cb = await (await signIn('eve', '/v1/session'));
  check(cb.status() === 403, `the callback answered ${cb.status()}, want 403`);
  await page.waitForLoadState('load');
  check((await text(page.locator('#title'))) === 'Not signed in', `the page's title is "${await text(page.locator('#title'))}"`);
  const message = await text(page.locator('#message'));
  check(message.includes('eve@example.com'), `the page does not say which address is unknown: "${message}"`);
  await screenshot('unknown-identity-refused');
  const jar = await cookies(context);
  check(!jar[SESSION_COOKIE] && !jar[FLOW_COOKIE], `cookies after the refusal: ${Object.keys(jar).join(', ')}`);
  const res = await page.goto(`${BASE}/v1/session`);
  check(res.status() === 401, `/v1/session answered ${res.status()} after the refusal, want 401`);
  await context.close();
});

await step('3. an unverified address (ada-unverified claims ada@example.com) is refused', async () => {
  const context = await fresh();
  const cb = await (await signIn('ada-unverified', '/v1/session'));
  check(cb.status() === 403, `the callback answered ${cb.status()}, want 403`);
  await page.waitForLoadState('load');
  const message = await text(page.locator('#message'));
  check(message.includes('has not verified'), `the page says "${message}"`);
  await screenshot('unverified-refused');
  check(!(await cookies(context))[SESSION_COOKIE], 'a session cookie was set');
  await context.close();
});

await step('4. a state mismatch is refused, and the answer cannot be replayed', async () => {
  const context = await fresh();
  // Hold back the provider's answer on its way to Countersign. The answer
  // ends a chain of redirects after the consent form, which routes do not
  // see, so the test submits that form itself, follows the chain with the
  // browser's cookies up to the redirect to Countersign, keeps its URL and
  // shows the browser a page of its own instead.
  let held;
  await page.route(`${ISSUER}/interaction/*/confirm`, async (route) => {
    let response = await route.fetch({ maxRedirects: 0 });
    for (let i = 0; i < 5 && response.status() >= 300 && response.status() < 400; i++) {
      const location = new URL(response.headers().location, ISSUER).href;
      if (location.startsWith(`${BASE}/auth/oidc/callback`)) {
        held = location;
        break;
      }
      response = await context.request.get(location, { maxRedirects: 0 });
    }
    return route.fulfill({ status: 200, contentType: 'text/html', body: `<p id="held">held back by the test: ${held ? 'the answer' : 'nothing'}</p>` });
  });
  const res = await page.goto(`${BASE}/auth/oidc/login?next=${encodeURIComponent('/v1/session')}`);
  check(res.url().startsWith(`${ISSUER}/`), 'not at the provider');
  await atProvider('ada');
  await page.locator('#held').waitFor();
  await page.unroute(`${ISSUER}/interaction/*/confirm`);
  check(held && new URL(held).searchParams.get('code') && new URL(held).searchParams.get('state'), `the held answer ${held} has no code and state`);
  check((await cookies(context))[FLOW_COOKIE], 'the flow cookie is not in the browser');

  const tampered = new URL(held);
  tampered.searchParams.set('state', 'not-the-state-this-browser-started-with');
  let r = await page.goto(tampered.href);
  check(r.status() === 400, `a tampered state: ${r.status()}, want 400`);
  check((await text(page.locator('#title'))) === 'Sign-in not completed', `the page's title is "${await text(page.locator('#title'))}"`);
  await screenshot('state-mismatch-refused');

  // the genuine answer in another browser: no flow cookie there
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  r = await otherPage.goto(held);
  check(r.status() === 400, `the answer replayed in another browser: ${r.status()}, want 400`);
  check(!(await other.cookies(BASE)).some((c) => c.name === SESSION_COOKIE), 'the other browser got a session cookie');
  await other.close();

  // and in this one: the flow cookie went with the tampered attempt
  r = await page.goto(held);
  check(r.status() === 400, `the genuine answer after the refusal: ${r.status()}, want 400`);
  const jar = await cookies(context);
  check(!jar[SESSION_COOKIE] && !jar[FLOW_COOKIE], `cookies left: ${Object.keys(jar).join(', ')}`);
  r = await page.goto(`${BASE}/v1/session`);
  check(r.status() === 401, `/v1/session answered ${r.status()}, want 401`);
  await context.close();
});

await browser.close();
console.log(`OpenID Connect browser walk passed in ${((Date.now() - started) / 1000).toFixed(1)} s: 4 cases`);
