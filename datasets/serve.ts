// A tiny static file server for the benchmarks and the pipeline (Node): URL prefixes mapped to folders on
// 127.0.0.1 at a random port, no caching headers, so every run really downloads; cross-origin isolated, as the
// site should be served, so the engine's WebAssembly path runs on threads (`isolated: false` serves as a static
// host that cannot send those headers, for e2e/isolation.spec.ts).
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ISOLATION_HEADERS } from '../src/core/training/isolation.ts';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.map': 'application/json',
  '.qds': 'application/octet-stream', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.webmanifest': 'application/manifest+json',
};

/** Serves `mounts` (URL prefix → folder) on 127.0.0.1 at a random port; no caching, so every round downloads. */
export async function serve(mounts: Record<string, string>, { isolated = true } = {}): Promise<{ server: Server; origin: string }> {
  const cache = new Map<string, Buffer>();
  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const prefix = Object.keys(mounts).find((p) => url.pathname.startsWith(p));
      const base = prefix === undefined ? undefined : mounts[prefix];
      const relative = decodeURIComponent(url.pathname.slice(prefix?.length ?? 0));
      // A folder URL serves its index.html, as a static host does.
      const file = base === undefined || prefix === undefined ? null : path.join(base, relative === '' || relative.endsWith('/') ? `${relative}index.html` : relative);
      if (file === null || base === undefined || !file.startsWith(base) || !(await stat(file).catch(() => null))?.isFile()) {
        response.writeHead(404).end('Not Found');
        return;
      }
      // Files are kept in memory after the first request: on a 2-core machine the server shares the CPU with
      // the browser, and re-reading from disk would be measured as if it were the browser's cost.
      let body = cache.get(file);
      if (body === undefined) cache.set(file, (body = await readFile(file)));
      response.writeHead(200, {
        'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length, 'Cache-Control': 'no-store',
        ...(isolated ? ISOLATION_HEADERS : {}),
      });
      response.end(body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // listen() on a TCP port always yields an AddressInfo, never a pipe name.
  const { port } = server.address() as AddressInfo;
  return { server, origin: `http://127.0.0.1:${port}` };
}

