// Worker bootstrap, plain JavaScript because installing the TypeScript loader is its job:
// tsx first, then the istanbul hook chained after it (hooks registered later run first and call
// tsx's through nextLoad), then the fuzz loop itself. workerData comes from supervisor.ts.
import { register } from 'node:module';
import { workerData } from 'node:worker_threads';

const { register: registerTsx } = await import('tsx/esm/api');
registerTsx();
register(new URL('./instrument-hook.ts', import.meta.url), { parentURL: import.meta.url, data: { include: workerData.instrument } });
await import(new URL('./worker.ts', import.meta.url).href);
