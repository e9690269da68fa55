import { fuzzTarget, REPO_ROOT } from './engine/supervisor.js';
const file = REPO_ROOT + '/test/fuzz/fixtures/magic-target.ts';
for (const feedback of [true, false]) {
  const r = await fuzzTarget({ target: 'magic', targetFile: file, instrument: [file], inputs: [], runs: 200000, findingsDir: null, feedback, seed: Number(process.argv[2] ?? 1) });
  console.log(feedback, r.execs, r.execsPerSec, r.corpus, r.seedCovered, r.covered, r.total, r.crashes, r.findings.map((f) => [f.name, f.exec, Buffer.from(f.input).toString('latin1')]));
}
