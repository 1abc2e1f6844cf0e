// A person's walk of an e-mail approval, in a real browser (Debian's
// chromium driven by playwright-core): the mail catcher's list, the newest
// "Review requested" message, its Approve link, the confirmation page, a
// comment, the button, the outcome page. A full-page screenshot of each page
// goes to $ARTIFACTS. Run by scripts/browser-test.sh, which starts and seeds
// the local runtime; by hand:
//
//   BASE=http://127.0.0.1:8080 ARTIFACTS=/tmp/shots node scripts/browser/walk.mjs
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
  prefix: '',
  current: () => ({ browser, page }),
});
const COMMENT = process.env.COMMENT || 'Looks good to me: approved from the browser walk.';

const { chromium } = loadPlaywright();
mkdirSync(ARTIFACTS, { recursive: true });
console.log(`walking ${BASE} with ${CHROMIUM}; screenshots in ${ARTIFACTS}`);

await step('launch chromium', async () => {
  browser = await launch(chromium);
  page = await openPage(browser);
  console.log(`      chromium ${browser.version()}`);
});

await step('open the mail catcher', async () => {
  const res = await page.goto(`${BASE}/dev/mail`, { waitUntil: 'load' });
  check(res && res.status() === 200, `GET /dev/mail answered ${res && res.status()}`);
  check((await text(page.locator('h1'))).includes('Mail sent by this Countersign'), 'the mail list has no "Mail sent by this Countersign" heading');
  await screenshot('mail-list');
});

let subject;
await step('click the newest "Review requested" message', async () => {
  const links = page.locator('table a', { hasText: 'Review requested' });
  const n = await links.count();
  check(n > 0, 'no message whose subject contains "Review requested" on /dev/mail');
  // the catcher lists oldest first and numbers messages /dev/mail/{n}: the newest has the largest n
  let newest = 0;
  let best = -1;
  for (let i = 0; i < n; i++) {
    const id = Number(((await links.nth(i).getAttribute('href')) || '').split('/').pop());
    if (id > best) { best = id; newest = i; }
  }
  const link = links.nth(newest);
  subject = await text(link);
  console.log(`      ${n} such message(s); opening #${best}: ${subject}`);
  await link.click();
  await page.waitForURL(new RegExp(`/dev/mail/${best}$`));
  await page.waitForLoadState('load');
  check((await page.title()).includes('Review requested'), `the message page's title is "${await page.title()}"`);
  await screenshot('message');
});

let actionURL;
await step('click "Approve" in the message', async () => {
  const approve = page.getByRole('link', { name: 'Approve', exact: true });
  check(await approve.count() === 1, `the message has ${await approve.count()} "Approve" links, want 1`);
  check(await page.getByRole('link', { name: 'Reject (need changes)', exact: true }).count() === 1, 'the message has no "Reject (need changes)" link');
  await approve.click();
  await page.waitForURL(/\/a\/[^/]+$/);
  await page.waitForLoadState('load');
  actionURL = page.url();
  console.log(`      at ${actionURL.replace(/(\/a\/.{12}).*/, '$1…')}`);
});

await step('see the confirmation page', async () => {
  const button = page.locator('#confirm');
  check((await text(button)) === 'Approve', `the button says "${await text(button)}", want "Approve"`);
  const status = await text(page.locator('#status'));
  check(status === 'pending', `the status cell says "${status}", want "pending"`);
  check((await text(page.locator('#message'))).includes('Nothing happens until you press the button'), 'the page does not say that nothing happens until the button is pressed');
  check(await page.locator('script').count() === 0, 'the confirmation page has a <script>');
  check(await page.locator('#comment').isVisible(), 'no visible comment box (#comment)');
  await screenshot('confirmation');
});

await step('type a comment', async () => {
  const box = page.locator('#comment');
  await box.click();
  await box.pressSequentially(COMMENT, { delay: 5 });
  check((await box.inputValue()) === COMMENT, `the comment box holds "${await box.inputValue()}"`);
  await screenshot('confirmation-with-comment');
});

await step('click the confirm button', async () => {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === actionURL),
    page.locator('#confirm').click(),
  ]);
  check(res.status() === 200, `the POST answered ${res.status()}: ${(await res.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300)}`);
  await page.waitForLoadState('load');
});

await step('see the outcome page', async () => {
  const message = await text(page.locator('#message'));
  check(message.includes('Thank you: the request is now approved.'), `the outcome page says "${message}"`);
  const status = await text(page.locator('#status'));
  check(status === 'approved', `the status cell says "${status}", want "approved"`);
  check(await page.locator('#confirm').count() === 0, 'the outcome page still has a confirm button');
  await screenshot('outcome');
});

await browser.close();
console.log(`browser walk passed in ${((Date.now() - started) / 1000).toFixed(1)} s: ${subject}`);
