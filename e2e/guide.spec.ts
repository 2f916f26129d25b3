// The first-run path on the built site: the guide follows a newcomer from an empty profile through a download to
// the Train page, where the preset says what it does and how long it should take, and a bad config is explained
// in plain words without becoming a run.
import { expect, test } from '@playwright/test';
import { choosePerCategory, openFresh } from './helpers.ts';

test('guides a newcomer from Download to Train, and refuses a bad config without creating a run', async ({ page }) => {
  test.setTimeout(180_000);
  await openFresh(page);
  const guide = page.getByRole('region', { name: 'Getting started' });
  const steps = guide.getByRole('list', { name: 'Guide steps' }).getByRole('listitem');
  await expect(steps).toHaveText([/Download drawings/, /Train a model/, /Play/]);
  await expect(steps.nth(0)).toHaveAttribute('aria-current', 'step');
  await expect(guide.getByTestId('guide-next')).toContainText('Next:');
  await expect(guide.getByRole('link', { name: 'Data page' })).toHaveAttribute('href', '#data');

  // Hidden stays hidden across a reload, and can be brought back.
  await guide.getByRole('button', { name: 'Hide guide' }).click();
  await expect(guide).toBeHidden();
  await page.reload();
  await page.getByRole('button', { name: 'Show guide' }).click();
  await expect(guide).toBeVisible();

  await choosePerCategory(page, 100);
  await page.getByRole('button', { name: 'Download' }).click();
  await expect(page.getByText('Download complete')).toBeVisible({ timeout: 60_000 });
  await expect(steps.nth(0)).toContainText('(done)');
  await expect(steps.nth(1)).toHaveAttribute('aria-current', 'step');
  const next = guide.getByRole('link', { name: 'Train page' });
  await expect(next).toHaveAttribute('href', '#train');
  await next.click();
  await expect(page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Train', exact: true })).toHaveAttribute('aria-current', 'page');

  await page.getByLabel('Preset').selectOption('tiny');
  await expect(page.getByLabel('Preset')).toHaveAccessibleDescription(/smoke test/);
  await expect(page.getByTestId('train-estimate')).toContainText(/about \d+ (seconds|minutes) on WASM \(CPU\).*a real GPU is much faster/s);
  await expect(page.getByLabel('Epochs')).toHaveAccessibleDescription(/Passes over the training drawings/);

  const classes = page.getByLabel('Classes to train');
  const alert = page.getByRole('alert');
  await classes.fill('cat');
  await classes.blur();
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(alert).toContainText('Classes to train: choose at least 2 classes.');
  await expect(alert).not.toContainText('/dataset');

  // A class that was not downloaded would have failed inside the worker, after its run record was saved.
  await classes.fill('cat, zebra');
  await classes.blur();
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(alert).toContainText('“zebra” has no stored drawings in “quickdraw”');
  await expect(page.getByRole('region', { name: 'Runs' })).toContainText('No runs yet.');
  await expect(page.getByTestId('run-status')).toHaveCount(0);
});
