// Imported by the offline app's Workbox service worker (vite.config.ts workbox.importScripts), before Workbox adds
// its own fetch listener. Static hosts such as GitHub Pages cannot send the Cross-Origin-Opener-Policy and
// Cross-Origin-Embedder-Policy headers the engine's WebAssembly threads need (SharedArrayBuffer), so every response
// this worker serves gets them, as the Vite dev and preview servers send them (src/core/training/isolation.ts, whose two
// headers ISOLATION repeats: this file is served as it is, outside the bundle). Pages it serves
// from the next load on are cross-origin isolated; the first visit, served by the host alone, is not.
/* eslint-env serviceworker */
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

function isolated(response) {
  // Opaque responses (status 0) cannot be rebuilt; a 101 or a body-less redirect has nothing to isolate.
  if (response.status === 0 || response.type === 'opaqueredirect') return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

// Workbox's fetch listener is wrapped so that whatever it answers with carries the headers. The event it sees is
// the real one but for respondWith; requests it leaves alone go to the network as usual.
const addEventListener = self.addEventListener.bind(self);
self.addEventListener = (type, listener, options) => {
  if (type !== 'fetch') return addEventListener(type, listener, options);
  return addEventListener('fetch', (event) => {
    const wrapped = new Proxy(event, {
      get(target, property) {
        if (property === 'respondWith') return (answer) => target.respondWith(Promise.resolve(answer).then(isolated));
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return typeof listener === 'function' ? listener.call(self, wrapped) : listener.handleEvent(wrapped);
  }, options);
};
