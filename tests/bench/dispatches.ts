// The dispatch count of one training step (Node side): builds tests/bench/dispatches.html, opens it in headless
// Chromium (WebGPU on SwiftShader here, a real GPU elsewhere) and asks it to count the WebGPU compute dispatches
// and queue submits per training step of the app's Trainer on tfjs and of the engine's fused step. Used by `npm run bench:train`; `tsx tests/bench/dispatches.ts`
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

export async function countDispatches(requests: Omit<DispatchRequest, 'modelUrl'>[]): Promise<(DispatchRequest & DispatchResult)[]> {
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
      await page.waitForFunction(() => 'countDispatches' in window);
      const full: DispatchRequest = { ...request, modelUrl: `${origin}/models/mobilenet_v1_0.25_224/model.json` };
      // Set by dispatches-page.ts on load; waitForFunction above saw it.
      const result = await page.evaluate((r) => (window as unknown as { countDispatches: (r: DispatchRequest) => Promise<DispatchResult> }).countDispatches(r), full);
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
  const results = await countDispatches([{ mode: 'whole', inputSizePx: 48, batchSize: 64 }]);
  for (const r of results) console.log(describeCounts(r).join('\n'));
}

/** Lines for the console: each path's dispatches, submits and time per step. */
export function describeCounts(r: DispatchRequest & DispatchResult): string[] {
  const line = (who: string, c: DispatchResult['tfjs']) => `  ${who}: ${c.dispatchesPerStep} compute dispatches and ${c.submitsPerStep} queue submits a step, ${(c.msPerStep / 1000).toFixed(2)} s a step (${(r.batchSize / (c.msPerStep / 1000)).toFixed(1)} samples/s) here`;
  return [
    `${r.mode} at ${r.inputSizePx} px, batch ${r.batchSize}, WebGPU (${r.backend}):`,
    line('tfjs', r.tfjs),
    r.engine === null ? '  engine: does not cover this mode yet' : line('engine', r.engine),
  ];
}
