/**
 * A test file that does not report fails the run loudly (issue 14): the real tap runs, in a
 * throw-away project wired like this one (package.json "tap": before/after = test/run/*), a
 * file that never ends (with a 3-s per-file timeout), one whose process dies before its plan,
 * and one that passes. The run must exit non-zero and its summary must name each broken file
 * with why, and count the files that ran.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { projectRoot } from '../../src/config.js';
import { FIXTURES_DIR } from '../helpers/fixture-paths.js';
import { fileOutcome } from './file-report.js';

interface PackageJson {
  tap: { before: string; after: string; timeout: number };
}

t.test('fileOutcome reads a file\'s own TAP', async (t) => {
  t.equal(fileOutcome('ok 1 - a\n1..1\n# time=3ms\n'), 'passed');
  t.equal(fileOutcome('ok 1 - a\n'), 'did_not_report', 'no plan');
  t.equal(fileOutcome('ok 1 - a\nnot ok 2 - timeout!\n  ---\n  expired: TAP\n  ...\n1..2\n'), 'timed_out');
  t.equal(fileOutcome('    not ok 1 - inner\nnot ok 1 - outer\n1..1\n'), 'failed');
  t.equal(fileOutcome('not ok 1 - later # TODO\n1..1\n'), 'passed', 'a TODO is not a failure');
  t.equal(fileOutcome('1..0 # no tests\n'), 'passed', 'a skipped-all file has its plan');
  t.equal(fileOutcome('ok 1 - a\nBail out! no db\n1..1\n'), 'did_not_report');
});

t.test('tap with this project\'s hooks: a file that never ends or dies before its plan fails the run and is named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'devox-tap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pkg = JSON.parse(readFileSync(resolve(projectRoot, 'package.json'), 'utf8')) as PackageJson;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({
    name: 'tap-reporting-fixture', type: 'module',
    tap: { ...pkg.tap, before: resolve(projectRoot, pkg.tap.before), after: resolve(projectRoot, pkg.tap.after), timeout: 3, jobs: 2 },
  }));
  symlinkSync(resolve(projectRoot, 'node_modules'), join(dir, 'node_modules'));
  cpSync(join(FIXTURES_DIR, 'tap'), join(dir, 'test'), { recursive: true });
  // A broken result left by an earlier run must not count in this one.
  const stale = join(dir, '.tap', 'test-results', 'test', 'stale.ts.tap');
  mkdirSync(dirname(stale), { recursive: true });
  writeFileSync(stale, 'ok 1 - half\n');
  utimesSync(stale, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));

  const child = spawn(process.execPath, [resolve(projectRoot, 'node_modules/tap/dist/esm/run.mjs'),
    'test/never-ends.ts', 'test/dies-before-plan.ts', 'test/passes.ts'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    // A run of its own, not a child of this one: none of the TAP_* / _TAPJS_* variables the outer run set.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^_?TAP/i.test(k))),
  });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));

  t.not(code, 0, 'the run fails');
  t.match(out, /# test files: 3 ran, 1 passed, 0 failed, 1 timed out, 1 did not report/, 'files counted');
  t.match(out, /# DID NOT REPORT \(crashed or killed before its plan\): test\/dies-before-plan\.ts/);
  t.match(out, /# TIMED OUT \(per-file timeout\): test\/never-ends\.ts/);
  t.notMatch(out, /(DID NOT REPORT|TIMED OUT|FAILED)[^\n]*: test\/passes\.ts/, 'the passing file is not listed');
  t.notMatch(out, /stale\.ts/, 'an earlier run\'s result is not this run\'s');
});

t.test('the per-file timeout holds on a busy 2-core box', async (t) => {
  const pkg = JSON.parse(readFileSync(resolve(projectRoot, 'package.json'), 'utf8')) as PackageJson;
  t.ok(pkg.tap.timeout >= 300, `tap timeout ${pkg.tap.timeout} s`);
});
