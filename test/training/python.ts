/**
 * Runs the Python training tools (training/*.py) from the tap tests and parses their JSON output.
 * The measurements live in Python because that is where the pipeline lives; the assertions live here.
 */
import { execFile } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { projectRoot } from '../../src/config.js';

export interface PyResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** training/: where the devoxtrain package lives (the scripts there import it as a sibling). */
export const TRAINING_DIR = join(projectRoot, 'training');
/** The test oracles of devoxtrain (test/training/checks.py), run with TRAINING_DIR on the import path. */
export const CHECKS_PY = join(projectRoot, 'test/training/checks.py');

function pythonPath(): string {
  const inherited = process.env.PYTHONPATH;
  return inherited ? `${TRAINING_DIR}${delimiter}${inherited}` : TRAINING_DIR;
}

export function python(args: string[], timeoutMs = 110_000): Promise<PyResult> {
  return new Promise((resolve) => {
    execFile(
      'python3',
      args,
      { cwd: projectRoot, maxBuffer: 64 << 20, timeout: timeoutMs, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONPATH: pythonPath() } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs `python3 test/training/checks.py <args>` and returns its JSON; throws with stderr if it failed. */
export async function check<T = Record<string, unknown>>(args: string[], timeoutMs?: number): Promise<T> {
  const r = await python([CHECKS_PY, ...args], timeoutMs);
  if (r.code !== 0) throw new Error(`test/training/checks.py ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as T;
}

export { projectRoot };
