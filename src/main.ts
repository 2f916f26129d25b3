// Page entry: mounts the Svelte app. Runs on the main thread; heavy work lives in workers/.
import { mount } from 'svelte';
import App from './ui/App.svelte';
import './ui/global.css';

const target = document.getElementById('app');
if (target === null) throw new Error('index.html has no #app element');
mount(App, { target });
