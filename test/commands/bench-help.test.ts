/**
 * Every bench script answers --help with its usage on stdout and exit 0 (it used to print a
 * parseArgs stack trace), and an unknown option with the reason and the usage on stderr and
 * exit 2. Real processes: node + tsx per script, and `npm run bench -- --help` as a user types it.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/config.js';

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: projectRoot, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}
const bench = (script: string, ...args: string[]) => run(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench', script), ...args]);
const STACK = /\n\s+at .+:\d+:\d+/;

const SCRIPTS: Array<[string, RegExp]> = [
  ['e2e.ts', /^usage: npm run bench -- /],
  ['media.ts', /^usage: npm run bench:media -- /],
  ['detect.ts', /^usage: npm run bench:detect -- /],
  ['websocket.ts', /^usage: npm run bench:ws -- /],
  ['siprec.ts', /^usage: npm run bench:siprec -- /],
  ['console.ts', /^usage: npm run bench:console -- /],
  ['registry.ts', /^usage: npm run bench:registry -- /],
  ['speaker.ts', /^usage: npm run bench:speaker-cost -- /],
  ['media-pipeline.ts', /^usage: npx tsx bench\/media-pipeline\.ts /],
  ['websocket-handler.ts', /^usage: npx tsx bench\/websocket-handler\.ts /],
  ['soak/soak.ts', /^usage: npm run soak -- /],
];

for (const [script, usage] of SCRIPTS) {
  t.test(`bench/${script} --help: usage, exit 0`, async (t) => {
    const r = await bench(script, '--help');
    t.equal(r.code, 0, 'exit 0');
    t.match(r.stdout, usage, 'usage on stdout');
    t.notMatch(r.stdout + r.stderr, STACK, 'no stack trace');
  });
}

t.test('an unknown option: the reason and the usage on stderr, exit 2, no stack trace', async (t) => {
  for (const script of ['e2e.ts', 'detect.ts']) {
    const r = await bench(script, '--streemz', '5');
    t.equal(r.code, 2, `${script}: exit 2`);
    t.match(r.stderr, /Unknown option '--streemz'/, `${script}: names the option`);
    t.match(r.stderr, /usage: /, `${script}: and shows the usage`);
    t.notMatch(r.stderr, STACK, `${script}: no stack trace`);
  }
});

t.test('a malformed --set: the reason and the usage, exit 2', async (t) => {
  const r = await bench('e2e.ts', '--set', 'detect.maxBatchSize');
  t.equal(r.code, 2);
  t.match(r.stderr, /--set: expected key\.path=value, got "detect\.maxBatchSize"/);
  t.match(r.stderr, /usage: npm run bench -- /);
  t.notMatch(r.stderr, STACK, 'no stack trace');
});

t.test('npm run bench -- --help', async (t) => {
  const r = await run('npm', ['run', '--silent', 'bench', '--', '--help']);
  t.equal(r.code, 0, 'exit 0');
  t.match(r.stdout, /usage: npm run bench -- /);
  t.notMatch(r.stdout + r.stderr, STACK, 'no stack trace');
});
