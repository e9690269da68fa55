/**
 * The short bounded fuzz pass CI runs (issue 14, "Prove it" → Fuzzing): every target in
 * fuzz/targets/ for 2,000 executions from its committed seed corpus, with the engine's coverage
 * feedback — 0 crashes, 0 hangs, and coverage beyond what the seeds reach (the engine finds new
 * code, it does not just replay). No timing assertions: the box may be loaded.
 *
 * And the engine itself: a toy target whose crash sits behind four nested byte comparisons
 * ("FUZZ"). A blind mutator (no corpus growth) has a 2^-32 chance per input; with coverage
 * feedback each comparison passed is a new branch arm that keeps its input, and the crash is
 * found within the same bounded number of executions.
 */
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { fuzzTarget, listTargets } from '../../fuzz/engine/supervisor.js';

const EXECS = 2000;

t.test('every target: a bounded pass from its seed corpus, no crash or hang, coverage beyond the seeds', async (t) => {
  const targets = listTargets();
  t.ok(targets.length >= 9, `targets: ${targets.join(', ')}`);
  for (const target of targets) {
    const r = await fuzzTarget({ target, runs: EXECS, seed: 1, findingsDir: null });
    const detail = r.findings.map((f) => `${f.kind} ${f.name}: ${f.message.slice(0, 160)}`).join('; ');
    t.equal(r.execs, EXECS, `${target}: ${r.execs} executions`);
    t.equal(r.crashes, 0, `${target}: no crash ${detail}`);
    t.equal(r.hangs, 0, `${target}: no hang or timeout`);
    t.ok(r.seeds > 0, `${target}: ${r.seeds} seeds from fuzz/corpus/${target}`);
    t.ok(r.covered > r.seedCovered, `${target}: coverage grew beyond the seeds (${r.seedCovered} → ${r.covered} of ${r.total})`);
    t.ok(r.corpus > r.seeds, `${target}: the corpus grew (${r.seeds} → ${r.corpus})`);
  }
});

t.test('engine: coverage feedback finds a nested magic-byte branch that blind mutation does not', async (t) => {
  const file = fileURLToPath(new URL('./fixtures/magic-target.ts', import.meta.url));
  const common = { target: 'magic', targetFile: file, instrument: [file], inputs: [], runs: 300_000, seed: 1, findingsDir: null };
  const guided = await fuzzTarget({ ...common, feedback: true });
  const found = guided.findings.find((f) => f.kind === 'crash');
  t.ok(found, `found with feedback (${guided.execs} executions, corpus ${guided.corpus})`);
  t.equal(Buffer.from(found?.input ?? []).subarray(0, 4).toString('latin1'), 'FUZZ', 'the crashing input starts with the magic bytes');
  t.ok(guided.corpus >= 5, 'each comparison passed kept its input (empty input + 4 levels)');
  const blind = await fuzzTarget({ ...common, feedback: false });
  t.equal(blind.execs, common.runs);
  t.equal(blind.crashes, 0, 'blind mutation of the same start does not reach it in as many executions');
  t.equal(blind.corpus, 1, 'without feedback the corpus never grows');
});

t.test('engine: a target stuck in a synchronous loop is a hang, reported with its input', async (t) => {
  const file = fileURLToPath(new URL('./fixtures/loop-target.ts', import.meta.url));
  const r = await fuzzTarget({ target: 'loop', targetFile: file, instrument: [file], inputs: [], runs: 100_000, seed: 1, hangMs: 2000, findingsDir: null });
  t.equal(r.hangs, 1, 'one hang');
  const hang = r.findings.find((f) => f.kind === 'hang');
  t.ok(hang && hang.input.length >= 2 && hang.input[0] === 0x4c, 'the hang names the input that loops');
});

t.test('engine: an unexpected error class is a crash, an expected one is not', async (t) => {
  const file = fileURLToPath(new URL('./fixtures/classify-target.ts', import.meta.url));
  const r = await fuzzTarget({ target: 'classify', targetFile: file, instrument: [file], inputs: [], runs: 20_000, seed: 3, findingsDir: null });
  t.ok(r.crashes > 0, 'the TypeError is reported');
  t.ok(r.findings.every((f) => f.name === 'TypeError'), `only TypeError is a crash (${r.findings.map((f) => f.name).join(', ')})`);
});
