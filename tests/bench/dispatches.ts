// The dispatch count of one training step (Node side): builds tests/bench/dispatches.html, opens it in headless
// Chromium (WebGPU on SwiftShader here, a real GPU elsewhere) and asks it to count tfjs's WebGPU compute dispatches
// and queue submits per step of the app's Trainer. Used by `npm run bench:train`; `tsx tests/bench/dispatches.ts`
// runs it alone. Counted, not timed, so the figure means the same on any machine.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright';
import { build } from 'vite';
import { serve } from '../../datasets/serve.ts';
import { chromiumLaunchOptions } from '../chromium.ts';
import type { DispatchRequest, DispatchResult } from './dispatches-page.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

export async function countTfjsDispatches(requests: Omit<DispatchRequest, 'modelUrl'>[]): Promise<(DispatchRequest & DispatchResult)[]> {
  const temp = await mkdtemp(path.join(tmpdir(), 'doodle-lab-dispatches-'));
  await build({
    root: ROOT, configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'warn', publicDir: false,
    build: { outDir: temp, emptyOutDir: true, sourcemap: false, rollupOptions: { input: path.join(ROOT, 'tests', 'bench', 'dispatches.html') } },
  });
  const { server, origin } = await serve({ '/models/': path.join(ROOT, 'public', 'assets', 'models'), '/': temp });
  const browser = await chromium.launch(chromiumLaunchOptions());
  try {
    const results: (DispatchRequest & DispatchResult)[] = [];
    for (const request of requests) {
      // A fresh page each time: tfjs keeps compiled programs and buffers per page.
      const page = await browser.newPage();
      page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
      await page.goto(`${origin}/tests/bench/dispatches.html`);
      await page.waitForFunction(() => 'countTfjsDispatches' in window);
      const full: DispatchRequest = { ...request, modelUrl: `${origin}/models/mobilenet_v1_0.25_224/model.json` };
      // Set by dispatches-page.ts on load; waitForFunction above saw it.
      const result = await page.evaluate((r) => (window as unknown as { countTfjsDispatches: (r: DispatchRequest) => Promise<DispatchResult> }).countTfjsDispatches(r), full);
      results.push({ ...full, ...result });
      await page.close();
    }
    return results;
  } finally {
    await browser.close();
    server.close();
    await rm(temp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const results = await countTfjsDispatches([{ mode: 'whole', inputSizePx: 48, batchSize: 64 }]);
  for (const r of results) console.log(`tfjs ${r.backend}, ${r.mode} at ${r.inputSizePx} px, batch ${r.batchSize}: ${r.dispatchesPerStep} dispatches and ${r.submitsPerStep} submits per training step (${r.msPerStep.toFixed(0)} ms a step here)`);
}
