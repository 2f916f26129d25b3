// Chromium launch options shared by Vitest browser mode, Playwright e2e and the benchmarks (Node side).
// Uses Debian's /usr/bin/chromium where it exists (Playwright's own browser download is impossible on
// machines without general internet); everyone else gets Playwright's bundled browser.
import { existsSync } from 'node:fs';

export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

/** Flags under which WebGPU and WebGL run (on SwiftShader where there is no GPU) and Chromium stays off the network. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ChromiumLaunchOptions {
  executablePath?: string;
  args: string[];
}

export function chromiumLaunchOptions(): ChromiumLaunchOptions {
  const options: ChromiumLaunchOptions = { args: [...CHROMIUM_ARGS] };
  if (existsSync(DEBIAN_CHROMIUM)) options.executablePath = DEBIAN_CHROMIUM;
  return options;
}
