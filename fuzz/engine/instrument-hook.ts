/**
 * ESM load hook (module.register, chained after tsx's): istanbul-instruments every module whose
 * file lies under one of the `include` prefixes (the project's src/ by default) after tsx has
 * turned it into JavaScript, so each statement, branch arm and function carries a counter in
 * globalThis.__coverage__ that coverage.ts reads after every execution. Nothing else is touched:
 * dependencies and the fuzz harness run uninstrumented.
 */
import type { InitializeHook, LoadHook } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createInstrumenter } from 'istanbul-lib-instrument';

export interface HookData {
  /** Absolute path prefixes of the files to instrument. */
  include: string[];
}

let include: string[] = [];
const instrumenter = createInstrumenter({ esModules: true, compact: true, produceSourceMap: false, coverageVariable: '__coverage__' });

export const initialize: InitializeHook<HookData> = (data) => {
  include = data.include;
};

export const load: LoadHook = async (url, context, nextLoad) => {
  const result = await nextLoad(url, context);
  if (!url.startsWith('file:') || result.format !== 'module' || result.source == null) return result;
  const path = fileURLToPath(url);
  if (!include.some((prefix) => path.startsWith(prefix))) return result;
  const code = typeof result.source === 'string' ? result.source : Buffer.from(result.source as Uint8Array).toString('utf8');
  return { ...result, source: instrumenter.instrumentSync(code, path) };
};
