// A person's way in, in a real browser (Debian's chromium driven by
// playwright-core): the invitation in the mail catcher, its sign-in link,
// the confirmation page, the button, the account page the session opens,
// sign-out, and asking for a new link at /login. A full-page screenshot of
// each page goes to $ARTIFACTS (named signin-*). Run by
// scripts/browser-test.sh after walk.mjs, which starts and seeds the local
// runtime (the reviewer rev@example.com was invited then); by hand:
//
//   BASE=http://127.0.0.1:8080 ARTIFACTS=/tmp/shots INVITEE=rev@example.com node scripts/browser/signin.mjs
//
// Exits non-zero, saying which step failed and why, on a failed check or a
// step that takes longer than STEP_TIMEOUT_MS (15 s).
import { mkdirSync } from 'node:fs';
import { harness } from './harness.mjs';

let browser;
let page;
const started = Date.now();
// playwright-core lives in .tools/browser (installed by scripts/browser-test.sh);
// an `npm install` inside scripts/browser works too.
const { BASE, ARTIFACTS, CHROMIUM, loadPlaywright, screenshot, step, check, text, launch, openPage } = harness({
  artifacts: '.tools/artifacts/browser',
  stepTimeoutMs: 15000,
  playwrightPlaces: ['.tools/browser', 'scripts/browser'],
  installHint: 'run scripts/browser-test.sh, which installs it into .tools/browser',
  prefix: 'signin-',
  current: () => ({ browser, page }),
});
const INVITEE = process.env.INVITEE || 'rev@example.com';

const { chromium } = loadPlaywright();
mkdirSync(ARTIFACTS, { recursive: true });
console.log(`signing in at ${BASE} with ${CHROMIUM}; screenshots in ${ARTIFACTS}`);

await step('launch chromium', async () => {
  browser = await launch(chromium);
  page = await openPage(browser);
  console.log(`      chromium ${browser.version()}`);
});

await step('open the invitation in the mail catcher', async () => {
  const res = await page.goto(`${BASE}/dev/mail`, { waitUntil: 'load' });
  check(res && res.status() === 200, `GET /dev/mail answered ${res && res.status()}`);
  const links = page.locator('table tr', { hasText: INVITEE }).locator('a', { hasText: 'You are invited to Countersign' });
  check(await links.count() >= 1, `no invitation to ${INVITEE} on /dev/mail`);
  await links.first().click();
  await page.waitForLoadState('load');
  check((await page.title()).includes('You are invited'), `the message page's title is "${await page.title()}"`);
  await screenshot('invitation');
});

let signInURL;
await step('click the sign-in link', async () => {
  const link = page.getByRole('link', { name: 'Accept the invitation and sign in', exact: true });
  check(await link.count() === 1, `the invitation has ${await link.count()} sign-in links, want 1`);
  await link.click();
  await page.waitForURL(/\/signin\/[^/]+$/);
  await page.waitForLoadState('load');
  signInURL = page.url();
});

await step('see the confirmation page', async () => {
  check((await text(page.locator('h1'))) === 'Welcome to Countersign', `the heading is "${await text(page.locator('h1'))}"`);
  check((await page.content()).includes(INVITEE), `the page does not say whom it signs in (${INVITEE})`);
  check(await page.locator('script').count() === 0, 'the sign-in page has a <script>');
  check((await text(page.locator('#signin'))) === 'Sign in', 'no "Sign in" button (#signin)');
  await page.reload({ waitUntil: 'load' }); // a second GET (a mail scanner's) changes nothing
  check((await text(page.locator('#signin'))) === 'Sign in', 'the link stopped working after a second GET');
  await screenshot('confirmation');
});

await step('press "Sign in", land in the console, open the account page', async () => {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === signInURL),
    page.locator('#signin').click(),
  ]);
  check(res.status() === 303, `the POST answered ${res.status()}: ${(await res.text().catch(() => '')).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300)}`);
  await page.waitForURL(new RegExp(`^${BASE}/$`));
  await page.waitForLoadState('load');
  check((await text(page.locator('h1'))) === 'Inbox', `landed on "${await text(page.locator('h1'))}", not the console's inbox`);
  await page.goto(`${BASE}/account`, { waitUntil: 'load' });
  check((await text(page.locator('#email'))) === INVITEE, `the account page shows "${await text(page.locator('#email'))}"`);
  const cookies = await page.context().cookies(BASE);
  const session = cookies.find((c) => c.name === 'countersign_session');
  check(session && session.httpOnly && session.sameSite === 'Lax' && session.path === '/', `the session cookie: ${JSON.stringify(session)}`);
  await screenshot('account');
});

await step('the session answers GET /v1/session', async () => {
  const res = await page.request.get(`${BASE}/v1/session`);
  check(res.status() === 200, `GET /v1/session answered ${res.status()}`);
  const s = await res.json();
  check(s.member.email === INVITEE && s.channel === 'email' && s.csrf_token, `the session: ${JSON.stringify(s)}`);
});

await step('the used link is refused', async () => {
  const res = await page.request.get(signInURL);
  check(res.status() === 410, `the used link answered ${res.status()}, want 410`);
});

await step('sign out', async () => {
  await page.locator('#signout').click();
  await page.waitForURL(/\/login\?signed_out=1$/);
  await page.waitForLoadState('load');
  check((await text(page.locator('#message'))) === 'You are signed out.', `the login page says "${await text(page.locator('#message'))}"`);
  const res = await page.request.get(`${BASE}/v1/session`);
  check(res.status() === 401, `GET /v1/session after sign-out answered ${res.status()}`);
  await screenshot('signed-out');
});

await step('ask for a new link at /login', async () => {
  await page.locator('#email').fill(INVITEE);
  await page.locator('#send').click();
  await page.waitForLoadState('load');
  check((await text(page.locator('h1'))) === 'Check your inbox', `after asking: "${await text(page.locator('h1'))}"`);
  await screenshot('link-asked');
});

await browser.close();
console.log(`sign-in walk passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
