// Bad input through the UI: each failure shows an actionable message and loses nothing already stored.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { chromiumLaunchOptions } from '../tests/chromium.ts';
import { choosePerCategory, openFresh, openPage } from './helpers.ts';

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

/**
 * A browser profile on a real, small disk: a tmpfs of `megabytes` (Chromium's own profile files take about 2.3 MB).
 * Mounting needs root on Linux (CI and this project's machines run as root); elsewhere this says why it can't.
 */
function smallDisk(megabytes: number): { dir: string; release: () => void } | string {
  if (process.platform !== 'linux') return `mounting a ${megabytes} MB tmpfs needs Linux (this is ${process.platform})`;
  const dir = mkdtempSync(path.join(tmpdir(), 'doodle-lab-full-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return `could not mount a ${megabytes} MB tmpfs for a browser profile (needs root): ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
  return {
    dir,
    release: () => {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('a full disk gets a message that says what to free, and keeps what fit', async ({ playwright, baseURL }) => {
  // A real full disk, not a simulated quota: Chromium's quota follows the free space of the profile's disk, and
  // some builds (seen: Debian's 150.0.7871.100) ignore the CDP quota override.
  const disk = smallDisk(10);
  // Mounting the small disk needs root (CI runs as root: .ci/run sets CI): elsewhere the test is skipped, saying why;
  // on CI a disk that cannot be made fails it, instead of passing it unchecked.
  if (typeof disk === 'string' && process.env['CI']) throw new Error(`no small disk for the full-disk test on CI: ${disk}`);
  test.skip(typeof disk === 'string', typeof disk === 'string' ? disk : '');
  if (typeof disk === 'string') return;
  const context = await playwright.chromium.launchPersistentContext(disk.dir, { ...chromiumLaunchOptions(), baseURL });
  try {
    const page = context.pages()[0] ?? await context.newPage();
    await openFresh(page);
    // All ten default categories × 3000: ten shards, 9.2 MB stored (zero-run coded), more than the ~7.7 MB left
    // on the disk, of which Chromium grants only part (3 shards fit here; with an 8 MB disk only 1 did).
    await choosePerCategory(page, 3000);
    await page.getByRole('button', { name: 'Download' }).click();
    await expect(page.getByRole('alert')).toContainText(/Storage full/);
    // A reload must not retry writes on the full disk: the download is no longer pending, from the message on.
    expect(await page.evaluate(() => localStorage.getItem('doodle-lab:pending-download'))).toBeNull();
    // Chromium on Linux sometimes wipes the site's whole storage once a write finds the disk full to the last
    // byte (electron#41877; 4 runs of 24 here, with no event or dataLoss flag), which no page can prevent.
    // The app must then say what was lost instead of showing an empty page. (Until this session a reload
    // resumed the download, which re-downloaded what was wiped and hid it.)
    // Checked on the live page, as read back after the failure: a reload is one more chance for that wipe.
    const lost = page.getByRole('alert').filter({ hasText: 'the browser then discarded stored drawings' });
    const count = page.getByTestId('dataset-count-quickdraw');
    await expect(count.or(lost).first(), 'what was stored is listed, or its loss is reported').toBeVisible({ timeout: 30_000 });
    if (await lost.isVisible()) {
      test.info().annotations.push({ type: 'chromium reset', description: (await lost.textContent()) ?? '' });
      await expect(lost).toContainText(/[\d,]+ of the [\d,]+ stored are left/);
      return;
    }
    await expect(page.getByRole('alert')).toContainText(/Delete a dataset/);
    const text = (await count.textContent()) ?? '';
    const stored = Number(/^([\d,]+) drawings/.exec(text)?.[1]?.replace(/,/g, '') ?? 'NaN');
    // Whole shards (3000 drawings each) only: at least one fit, and not all ten.
    expect(stored).toBeGreaterThanOrEqual(3000);
    expect(stored).toBeLessThan(30_000);
    expect(stored % 3000).toBe(0);
  } finally {
    await context.close();
    disk.release();
  }
});

test('a newer version of the app upgrading the database: this page says to reload, and nothing stored is lost', async ({ page }) => {
  await openFresh(page);
  await storeAirplane(page);
  // What a newer Doodle Lab in another tab does: opens the database at a higher version. This page's workers step
  // aside (their connections close on versionchange), so the upgrade is not stuck behind them.
  const newer = 99;
  await page.evaluate((version) => new Promise<void>((resolve, reject) => {
    const request = indexedDB.open('doodle-lab', version);
    request.onsuccess = () => {
      request.result.close();
      resolve();
    };
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error('the app did not close its connections for the upgrade'));
  }), newer);
  // The Train page lists runs again when shown: the training worker opens a new connection and meets the newer version.
  await openPage(page, 'Train');
  await expect(page.getByRole('alert')).toContainText('A newer version of Doodle Lab has stored data in this browser');
  await expect(page.getByRole('status').filter({ hasText: 'The stored runs could not be read' })).toBeVisible();
  // After a reload (this page's files still the older version's) every page says why it shows nothing.
  await Promise.all([page.waitForEvent('load'), page.getByRole('alert').getByRole('button', { name: 'Reload' }).click()]);
  await expect(page.getByRole('alert')).toContainText(/newer version of Doodle Lab.*reload the page/);
  await openPage(page, 'Data');
  await expect(page.getByRole('alert')).toContainText(/newer version of Doodle Lab.*reload the page/);
  await expect(page.getByText('The stored drawings could not be listed')).toBeVisible();
  await expect(page.getByText('Nothing stored yet')).toBeHidden();
  await openPage(page, 'Play');
  await expect(page.getByText('Your stored runs and models could not be read')).toBeVisible();
  // The drawings are still there for the newer version.
  const stored = await page.evaluate((version) => new Promise<number>((resolve, reject) => {
    const request = indexedDB.open('doodle-lab', version);
    request.onsuccess = () => {
      const count = request.result.transaction('shards').objectStore('shards').count();
      count.onsuccess = () => resolve(count.result);
      count.onerror = () => reject(count.error);
    };
    request.onerror = () => reject(request.error);
  }), newer);
  expect(stored).toBeGreaterThan(0);
});

test('a list that could not be read is read again with "Try again", without a reload, once what stopped it is gone', async ({ page }) => {
  await openFresh(page);
  // A newer version's database makes every read fail, as in the test above.
  await page.evaluate(() => new Promise<void>((resolve, reject) => {
    const request = indexedDB.open('doodle-lab', 99);
    request.onsuccess = () => {
      request.result.close();
      resolve();
    };
    request.onerror = () => reject(request.error);
  }));
  await page.reload();
  const unreadable = (text: string) => page.getByRole('status').filter({ hasText: text });
  await expect(unreadable('The stored drawings could not be listed')).toBeVisible();
  await openPage(page, 'Train');
  const runs = unreadable('The stored runs could not be read');
  await expect(runs).toBeVisible();
  // While the cause is still there, trying again says so again.
  await page.getByRole('alert').getByRole('button', { name: 'Dismiss' }).click();
  await expect(page.getByRole('alert')).toBeHidden();
  await runs.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByRole('alert')).toContainText('A newer version of Doodle Lab');
  await expect(runs).toBeVisible();
  await openPage(page, 'Play');
  const models = unreadable('Your stored runs and models could not be read');
  await expect(models).toBeVisible();

  // What a person can do about it (site settings → clear data): here the newer version's database goes.
  await page.evaluate(() => new Promise((resolve) => {
    const request = indexedDB.deleteDatabase('doodle-lab');
    request.onsuccess = request.onerror = () => resolve(null);
  }));
  await models.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByText('Train a model on the')).toBeVisible();
  await expect(models).toBeHidden();
  await expect(page.getByRole('alert')).toBeHidden();
  await openPage(page, 'Data');
  const drawings = unreadable('The stored drawings could not be listed');
  await drawings.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByText('Nothing stored yet')).toBeVisible();
  await expect(drawings).toBeHidden();
  await expect(page.getByRole('alert')).toBeHidden();
});
