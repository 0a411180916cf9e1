// tests/e2e/tools/docs_browser.js URL OPENAPI_YAML: open the /docs page in Debian's chromium
// (headless, driven by puppeteer-core from the pinned npm tools) and print one JSON object:
//   title, operations_in_spec (from the YAML), operations_listed (Redoc's side menu after it
//   hydrated), console_errors (console.error, uncaught exceptions, CSP violations), failed
//   (requests that failed or answered >= 400), external (requests to any other origin).
// The C test (ops_docs_test.c) asserts on it. Exits 1 only when the browser cannot run.
'use strict';
const path = require('path');
const fs = require('fs');
const tools = path.join(__dirname, '../../tools/node_modules');
const puppeteer = require(path.join(tools, 'puppeteer-core'));
const yaml = require(path.join(tools, 'js-yaml'));

async function main() {
  const [url, specPath] = process.argv.slice(2);
  const spec = yaml.load(fs.readFileSync(specPath, 'utf8'));
  const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
  let inSpec = 0;
  for (const p of Object.values(spec.paths || {}))
    for (const m of methods) if (p[m]) inSpec++;

  const origin = new URL(url).origin;
  const out = {title: '', operations_in_spec: inSpec, operations_listed: 0, console_errors: [],
               failed: [], external: [], requests: 0};
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
           '--disable-background-networking', '--disable-component-update'],
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') out.console_errors.push(m.text());
    });
    page.on('pageerror', (e) => out.console_errors.push('uncaught: ' + e.message));
    page.on('request', (r) => {
      out.requests++;
      const u = r.url();
      if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'))
        out.external.push(u);
    });
    page.on('requestfailed', (r) => out.failed.push(r.url() + ' ' + (r.failure() || {}).errorText));
    page.on('response', (r) => {
      if (r.status() >= 400) out.failed.push(r.url() + ' ' + r.status());
    });
    await page.goto(url, {waitUntil: 'networkidle0', timeout: 60000});
    // Redoc has hydrated when its side menu is interactive: the operation entries carry
    // data-item-id="operation/<operationId>" (or tag/.../operation/...).
    await page.waitForSelector('li[data-item-id*="operation/"]', {timeout: 60000});
    out.title = await page.title();
    out.operations_listed = await page.$$eval('li[data-item-id*="operation/"]', (els) =>
      new Set(els.map((e) => e.getAttribute('data-item-id'))).size);
    out.hydrated = await page.evaluate(() => typeof window.Redoc === 'object');
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write('docs_browser: ' + (e && e.stack || e) + '\n');
  process.exit(1);
});
