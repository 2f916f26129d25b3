// The two response headers that make a page cross-origin isolated, so it has SharedArrayBuffer and the engine's
// WebAssembly path can run on threads (engine/wasm/threads.ts). Sent by the Vite dev and preview servers
// (vite.config.ts) and by the pipeline's and benchmarks' file server (datasets/serve.ts); public/coi-headers.js
// (the service worker's copy, plain JS) adds the same two on static hosts.
export const ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } as const;
