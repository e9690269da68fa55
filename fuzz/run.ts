/**
 * `npm run fuzz -- [--target NAME|all] [--runs N | --seconds S] [--seed N] [--input FILE...]
 *                  [--timeout-ms MS] [--hang-ms MS] [--quiet]`
 *
 * Runs each target (fuzz/targets/<name>.ts) from its committed seed corpus (fuzz/corpus/<name>/)
 * for N executions or S seconds (default 30 s each), one after the other, and prints per target:
 * executions, executions/s, corpus size, coverage (features hit after the seeds → at the end, of
 * those known), crashes and hangs. Findings are saved under fuzz/findings/<target>/. Exit 1 on any
 * crash or hang. `--input FILE` runs only the given input(s) once, uninstrumented, so a stack
 * trace points at TypeScript lines (to reproduce a finding).
 */
import { parseArgs } from 'node:util';
import { fuzzTarget, listTargets, type FuzzResult } from './engine/supervisor.js';

const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'all' },
    runs: { type: 'string' },
    seconds: { type: 'string' },
    seed: { type: 'string', default: '1' },
    input: { type: 'string', multiple: true },
    'timeout-ms': { type: 'string' },
    'hang-ms': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`--${name}: expected a non-negative number, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
}

const all = listTargets();
const targets = values.target === 'all' ? all : values.target.split(',');
for (const t of targets) {
  if (!all.includes(t)) {
    console.error(`unknown target ${t} (targets: ${all.join(', ')})`);
    process.exit(2);
  }
}
const inputs = values.input;
let runs = positive('runs', values.runs);
let seconds = positive('seconds', values.seconds);
if (inputs !== undefined) runs = inputs.length;
else if (runs === undefined && seconds === undefined) seconds = 30;
const seed = positive('seed', values.seed) ?? 1;
const timeoutMs = positive('timeout-ms', values['timeout-ms']);
const hangMs = positive('hang-ms', values['hang-ms']);

const fmt = (n: number): string => n.toLocaleString('en-US');
const results: FuzzResult[] = [];
for (const target of targets) {
  const started = Date.now();
  const r = await fuzzTarget({
    target,
    ...(runs !== undefined ? { runs } : {}),
    ...(seconds !== undefined ? { seconds } : {}),
    seed,
    ...(inputs !== undefined ? { inputs, instrument: [] } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(hangMs !== undefined ? { hangMs } : {}),
    onProgress: (s) => {
      if (values.quiet) return;
      console.log(`[${target}] #${fmt(s.execs)} ${fmt(Math.round((s.execs * 1000) / Math.max(1, s.elapsedMs)))}/s corpus ${s.corpus} `
        + `cov ${s.covered}/${s.total} crashes ${s.crashes} timeouts ${s.timeouts}`);
    },
  });
  results.push(r);
  for (const f of r.findings) {
    console.log(`[${target}] ${f.kind.toUpperCase()} ${f.name}: ${f.message.slice(0, 200)}`);
    if (inputs !== undefined) console.log(f.stack);
  }
  for (const p of r.saved) console.log(`[${target}]   saved ${p}`);
  console.log(`[${target}] done: ${fmt(r.execs)} execs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

console.log('\n| target | execs | execs/s | corpus (seeds) | coverage seeds → end / known | crashes | hangs |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  console.log(`| ${r.target} | ${fmt(r.execs)} | ${fmt(r.execsPerSec)} | ${r.corpus} (${r.seeds}) | ${r.seedCovered} → ${r.covered} / ${r.total} | ${r.crashes} | ${r.hangs} |`);
}
process.exitCode = results.some((r) => r.crashes > 0 || r.hangs > 0) ? 1 : 0;
