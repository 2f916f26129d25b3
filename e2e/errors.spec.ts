// Bad input through the UI: each failure shows an actionable message and loses nothing already stored.
import { expect, test, type Page } from '@playwright/test';
import { choosePerCategory, openFresh } from './helpers.ts';

/** Selects just `names`, 1000 drawings each, and starts the download. */
async function download(page: Page, names: string[]): Promise<void> {
  await page.getByRole('button', { name: 'Select none' }).click();
  for (const name of names) await page.getByRole('checkbox', { name: new RegExp(`^${name} (\\d|not served)`) }).check();
  await choosePerCategory(page, 1000);
  await page.getByRole('button', { name: 'Download' }).click();
}

/** Stores airplane first, so each failure below can be checked to leave it intact. */
async function storeAirplane(page: Page): Promise<void> {
  await download(page, ['airplane']);
  await expect(page.getByText('Download complete')).toBeVisible();
  await expect(page.getByTestId('dataset-count-quickdraw')).toContainText('1,000 drawings');
}

const failures: { name: string; code: RegExp; respond: (page: Page) => Promise<unknown> }[] = [
  {
    name: 'a missing shard (404)',
    code: /404/,
    respond: (page) => page.route('**/shards/*.qds', (route) => route.fulfill({ status: 404, body: 'Not Found' })),
  },
  {
    name: 'a corrupt shard (checksum mismatch)',
    code: /checksum|SHA-256/i,
    respond: (page) => page.route('**/shards/*.qds', async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0xff;
      await route.fulfill({ response, body });
    }),
  },
  {
    name: 'a truncated shard',
    code: /truncated/i,
    respond: (page) => page.route('**/shards/*.qds', async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      await route.fulfill({ status: 200, body: body.subarray(0, body.length >> 1), contentType: 'application/octet-stream' });
    }),
  },
];

for (const failure of failures) {
  test(`${failure.name}: clear message, earlier drawings kept`, async ({ page }) => {
    await openFresh(page);
    await storeAirplane(page);
    await failure.respond(page);
    await download(page, ['airplane', 'cat']);
    const alert = page.getByRole('alert');
    await expect(alert).toContainText(failure.code);
    await expect(page.getByText('Download stopped — what was stored is kept')).toBeVisible();
    await expect(page.getByTestId('dataset-count-quickdraw')).toContainText('1,000 drawings');
  });
}

test('a server error (500) is retried and the download completes', async ({ page }) => {
  await openFresh(page);
  let failed = 0;
  await page.route('**/shards/*.qds', async (route) => {
    if (failed < 1) {
      failed += 1;
      await route.fulfill({ status: 500, body: 'oops' });
    } else {
      await route.continue();
    }
  });
  await download(page, ['banana']);
  await expect(page.getByText('Download complete')).toBeVisible();
  expect(failed).toBe(1);
  await expect(page.getByTestId('dataset-count-quickdraw')).toContainText('1,000 drawings');
});

test('a full disk gets a message that says what to free, and keeps what fit', async ({ page, context, baseURL }) => {
  // Chromium applies a quota override only before the origin's first IndexedDB write, so set it before
  // the page opens: room for about two shards (784 KB each), not five.
  const cdp = await context.newCDPSession(page);
  const origin = new URL(baseURL ?? 'http://127.0.0.1:4173/').origin;
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 2_000_000 });
  // The override reaches the quota manager asynchronously; on a busy machine the page's first write could
  // otherwise beat it (seen: 5 GB quota, no error). Wait until the browser reports it active.
  await expect.poll(async () => (await cdp.send('Storage.getUsageAndQuota', { origin })).overrideActive, { timeout: 10_000 }).toBe(true);
  await openFresh(page);
  // Some Chromium builds (seen: Debian's 150.0.7871.100) accept the override and still report their default
  // quota; then no disk can fill here. The quota error path stays covered by tests/browser/ingest.test.ts.
  const quota = await page.evaluate(async () => (await navigator.storage.estimate()).quota ?? 0);
  test.skip(quota > 2_000_000, `this Chromium ignores Storage.overrideQuotaForOrigin (reports a quota of ${quota} bytes)`);
  await download(page, ['airplane', 'banana', 'bird', 'book', 'cat']);
  await expect(page.getByRole('alert')).toContainText(/Storage full/);
  await expect(page.getByRole('alert')).toContainText(/Delete a dataset/);
  await page.reload();
  const text = (await page.getByTestId('dataset-count-quickdraw').textContent()) ?? '';
  const stored = Number(/^([\d,]+) drawings/.exec(text)?.[1]?.replace(/,/g, '') ?? 'NaN');
  // Whole shards only: at least one fit, and not all five.
  expect(stored).toBeGreaterThanOrEqual(1000);
  expect(stored).toBeLessThan(5000);
  expect(stored % 1000).toBe(0);
});
