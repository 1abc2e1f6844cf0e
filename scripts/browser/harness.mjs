// The harness the browser walks share (scripts/browser/walk.mjs,
// scripts/browser/signin.mjs, scripts/oidc/walk.mjs): configuration from the
// environment (BASE, ARTIFACTS, CHROMIUM, STEP_TIMEOUT_MS), loading
// playwright-core, numbered full-page screenshots, steps with a time limit
// and a screenshot of a failure, checks, and chromium's launch flags.
//
// Nothing here loads playwright-core at import time: a walk calls
// loadPlaywright(), which searches $PLAYWRIGHT_CORE_FROM and then the walk's
// own places.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// root is the repository's top directory.
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// harness answers the helpers of one walk.
//   artifacts        where screenshots go unless $ARTIFACTS says (relative to root)
//   stepTimeoutMs    a step's time limit unless $STEP_TIMEOUT_MS says
//   playwrightPlaces directories (relative to root) whose node_modules may hold
//                    playwright-core, searched after $PLAYWRIGHT_CORE_FROM
//   installHint      what the "not found" failure adds, after "; "
//   prefix           the start of every screenshot's file name
//   current          answers { browser, page }, the walk's browser and page now
//   afterStep        optional: runs after each step's work; throwing fails the step
export function harness({ artifacts, stepTimeoutMs, playwrightPlaces, installHint, prefix = '', current, afterStep }) {
  const BASE = (process.env.BASE || 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const ARTIFACTS = path.resolve(process.env.ARTIFACTS || path.join(root, artifacts));
  const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
  const STEP_TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS || stepTimeoutMs);

  function fail(step, message) {
    console.error(`FAIL [${step}] ${message}`);
    process.exit(1);
  }

  // ESM ignores NODE_PATH, hence createRequire.
  function loadPlaywright() {
    const places = [
      process.env.PLAYWRIGHT_CORE_FROM, // a directory whose node_modules holds playwright-core
      ...playwrightPlaces.map((p) => path.join(root, p)),
    ].filter(Boolean);
    for (const dir of places) {
      try {
        return createRequire(path.join(dir, 'package.json'))('playwright-core');
      } catch (err) {
        if (err.code !== 'MODULE_NOT_FOUND') throw err;
      }
    }
    fail('setup', `playwright-core not found in ${places.join(' or ')}; ${installHint}`);
  }

  let shot = 0;
  async function screenshot(name) {
    shot++;
    const file = path.join(ARTIFACTS, `${prefix}${String(shot).padStart(2, '0')}-${name}.png`);
    await current().page.screenshot({ path: file, fullPage: true, timeout: STEP_TIMEOUT_MS });
    console.log(`      screenshot ${file}`);
    return file;
  }

  // step runs fn with a time limit; any error or timeout ends the walk.
  async function step(name, fn) {
    const t0 = Date.now();
    console.log(`-> ${name}`);
    let timer;
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
        }),
      ]);
      if (afterStep) afterStep();
    } catch (err) {
      clearTimeout(timer);
      const { browser, page } = current();
      let where = '';
      if (page) {
        where = ` (page: ${page.url()})`;
        try {
          const file = path.join(ARTIFACTS, `${prefix}failure.png`);
          await page.screenshot({ path: file, fullPage: true, timeout: 5000 });
          where += `\n      screenshot of the failure: ${file}`;
        } catch { /* the page may be gone */ }
      }
      console.error(`FAIL [${name}] ${String((err && err.message) || err).split('\n')[0]}${where}`);
      if (browser) await browser.close().catch(() => {});
      process.exit(1);
    }
    clearTimeout(timer);
    console.log(`   ok ${name} (${Date.now() - t0} ms)`);
  }

  function check(cond, message) {
    if (!cond) throw new Error(message);
  }

  const text = async (locator) => ((await locator.textContent({ timeout: STEP_TIMEOUT_MS })) || '').trim();

  // launch starts headless chromium; launch() gives the browser a fresh
  // temporary user data dir, removed on close.
  const launch = (chromium) => chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: STEP_TIMEOUT_MS,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

  // watch gives page the step time limit and logs its script errors.
  function watch(page) {
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    page.on('pageerror', (err) => console.log(`      page error: ${err.message}`));
    return page;
  }

  // openPage opens a page in a new context of browser, watched, that also logs
  // failed resource loads (the favicon's 404 is expected) and console errors.
  async function openPage(browser) {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, javaScriptEnabled: true });
    const page = watch(await context.newPage());
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico') && r.request().resourceType() !== 'document') {
        console.log(`      ${r.status()} for ${r.url()}`);
      }
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !(msg.location().url || '').endsWith('/favicon.ico')) {
        console.log(`      console error: ${msg.text()} ${msg.location().url || ''}`);
      }
    });
    return page;
  }

  return { BASE, ARTIFACTS, CHROMIUM, STEP_TIMEOUT_MS, fail, loadPlaywright, screenshot, step, check, text, launch, watch, openPage };
}
