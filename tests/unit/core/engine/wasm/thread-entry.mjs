// A helper thread of the engine's CPU path in Node (worker_threads): TypeScript through tsx, then thread-entry.ts
// serves kernel slices for a KernelPool.
import { register } from 'tsx/esm/api';

register();
await import('./thread-entry.ts');
