/**
 * `devox serve` failing to start (a model directory that does not exist), as a real process: the
 * reason is printed once, as the structured fatal log line when logs are on, as one plain line
 * when they are off; exit 1 either way.
 */
import t from 'tap';
import { spawnDevox } from '../helpers/child-process.js';

const MISSING = '/nonexistent/devox-model';
const REASON = `model ${MISSING}: cannot read card.json`;

t.test('logs on: one fatal JSON line carrying the reason, nothing else repeats it', async (t) => {
  const run = spawnDevox(t, 'src/cli.ts', ['serve', '--http-port', '0', '--model', MISSING, '--log-level', 'info']);
  t.equal(await run.exited, 1, 'exit 1');
  const err = run.stderr();
  const lines = err.split('\n').filter((l) => l.includes(REASON));
  t.equal(lines.length, 1, 'one line of stderr carries the reason');
  const rec = JSON.parse(lines[0]!) as { level: number; msg: string; err: { type: string; message: string } };
  t.equal(rec.level, 60, 'fatal');
  t.match(rec.msg, new RegExp(`^cannot start: ${REASON}`));
  t.equal(rec.err.type, 'ModelLoadError', 'with the error object');
});

t.test('logs off: one plain line', async (t) => {
  const run = spawnDevox(t, 'src/cli.ts', ['serve', '--http-port', '0', '--model', MISSING, '--log-level', 'silent']);
  t.equal(await run.exited, 1, 'exit 1');
  const lines = run.stderr().split('\n').filter((l) => l.trim() !== '');
  t.equal(lines.length, 1, `one line: ${lines.join(' | ')}`);
  t.match(lines[0], new RegExp(`^devox serve: cannot start: ${REASON}`));
});
