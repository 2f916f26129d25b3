// Page entry: registers the offline app's service worker and mounts the Svelte app. Runs on the main thread; heavy
// work lives in workers/. Only this page registers the worker: the pipeline page (src/pipeline) never needs it.
import { mount } from 'svelte';
import { registerSW } from 'virtual:pwa-register';
import { AppUpdate } from './state/app-update.svelte.ts';
import App from './ui/App.svelte';
import './ui/global.css';

const target = document.getElementById('app');
if (target === null) throw new Error('index.html has no #app element');
const update = new AppUpdate();
// Registered after the window's load event (workbox-window's default), so precaching does not compete with the
// first load; a failed registration only means no offline use, so it is not shown as an error.
update.activate = registerSW({ onNeedRefresh: () => (update.waiting = true) });
mount(App, { target, props: { update } });
