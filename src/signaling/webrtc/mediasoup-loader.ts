/**
 * Loads mediasoup at run time. It is not a dependency of DevoX: its npm install downloads or
 * builds a native worker, which offline installs cannot do. An operator who wants WebRTC
 * installs it (`npm install mediasoup`) or points MEDIASOUP_WORKER_BIN at a worker binary built
 * elsewhere; without either, DevoX starts without WebRTC and says which is missing.
 */
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { WebRtcUnavailableError } from './errors.js';
import { WORKER_MISSING_MESSAGE, type MediasoupModule } from './types.js';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where mediasoup's package would be, if installed (null when it is not). */
function mediasoupPackageDir(): string | null {
  try {
    // node/lib/index.js → package root
    return resolve(dirname(createRequire(import.meta.url).resolve('mediasoup')), '..', '..');
  } catch {
    return null;
  }
}

/** Whether the mediasoup package can be resolved from DevoX. */
export function mediasoupInstalled(): boolean {
  return mediasoupPackageDir() !== null;
}

/**
 * The worker binary mediasoup would spawn: MEDIASOUP_WORKER_BIN when set (it must be
 * executable), else the one an install built into the package; null when there is none.
 */
export function findWorkerBin(env: NodeJS.ProcessEnv = process.env): string | null {
  const fromEnv = env.MEDIASOUP_WORKER_BIN;
  if (fromEnv) return executable(fromEnv) ? fromEnv : null;
  const pkg = mediasoupPackageDir();
  if (pkg === null) return null;
  const built = resolve(pkg, 'worker', 'out', 'Release', 'mediasoup-worker');
  return executable(built) ? built : null;
}

/** @throws WebRtcUnavailableError (worker_missing / not_installed) */
export async function loadMediasoup(env: NodeJS.ProcessEnv = process.env): Promise<{ mediasoup: MediasoupModule; workerBin: string }> {
  const workerBin = findWorkerBin(env);
  if (workerBin === null) {
    const detail = env.MEDIASOUP_WORKER_BIN ? ` (${env.MEDIASOUP_WORKER_BIN} is not an executable file)` : '';
    throw new WebRtcUnavailableError('worker_missing', `${WORKER_MISSING_MESSAGE}${detail}`);
  }
  // A specifier in a variable: TypeScript must not try to resolve the optional package.
  const name = 'mediasoup';
  let mod: { default?: MediasoupModule } & Partial<MediasoupModule>;
  try {
    mod = (await import(name)) as typeof mod;
  } catch (err) {
    throw new WebRtcUnavailableError('not_installed', 'mediasoup not installed: npm install mediasoup (and set MEDIASOUP_WORKER_BIN if its worker build fails)', {
      cause: err,
    });
  }
  const mediasoup = (typeof mod.createWorker === 'function' ? mod : mod.default) as MediasoupModule | undefined;
  if (!mediasoup || typeof mediasoup.createWorker !== 'function') {
    throw new WebRtcUnavailableError('not_installed', 'the installed mediasoup package has no createWorker()');
  }
  // mediasoup reads MEDIASOUP_WORKER_BIN from process.env once, when it is first imported, and
  // createWorker() takes no binary: an `env` other than process.env cannot redirect it. Say so
  // rather than start a worker other than the one that was checked.
  if (typeof mediasoup.workerBin === 'string' && resolve(mediasoup.workerBin) !== resolve(workerBin)) {
    throw new WebRtcUnavailableError(
      'worker_failed',
      `mediasoup will spawn ${mediasoup.workerBin}, not ${workerBin}: set MEDIASOUP_WORKER_BIN in the process environment before DevoX starts`,
    );
  }
  return { mediasoup, workerBin };
}
