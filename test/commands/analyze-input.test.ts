/**
 * `devox analyze` on input that is not a readable audio file, as a real process: a missing file
 * and a directory get the reason and exit 2 (before any model loads); a FLAC cut short is reported
 * as truncated or corrupt (it used to be "no audio channels", or, cut mid-stream, scored as if
 * the file ended there); an empty file says so. The intact sample is still analysed.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { flacTotalSamples } from '../../src/media/audio-file.js';
import { runDevoxCli } from '../helpers/child-process.js';
import { GENUINE_FILE, TINY_MODEL } from '../helpers/fixture-paths.js';

const dir = await mkdtemp(join(tmpdir(), 'devox-analyze-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const flac = await readFile(GENUINE_FILE);

const analyze = (file: string, ...more: string[]) => runDevoxCli(['analyze', file, '--model', TINY_MODEL, ...more], { timeoutMs: 90_000 });

t.test('a missing file: the reason, exit 2', async (t) => {
  const r = await analyze(join(dir, 'nope.flac'));
  t.equal(r.code, 2);
  t.equal(r.stderr.trim(), `devox analyze: ${join(dir, 'nope.flac')}: no such file`);
  t.equal(r.stdout, '', 'nothing on stdout');
});

t.test('a directory: the reason, exit 2', async (t) => {
  const r = await analyze(dir);
  t.equal(r.code, 2);
  t.equal(r.stderr.trim(), `devox analyze: ${dir}: is a directory, not an audio file`);
});

t.test('a FLAC cut inside its header and one cut mid-stream: truncated or corrupt, exit 1', async (t) => {
  const total = flacTotalSamples(flac);
  t.equal(total, 180800, 'the sample announces its length in STREAMINFO');
  for (const [name, bytes] of [['head.flac', 100], ['half.flac', Math.floor(flac.length / 2)]] as const) {
    const path = join(dir, name);
    await writeFile(path, flac.subarray(0, bytes));
    const r = await analyze(path, '--json');
    t.equal(r.code, 1, `${name}: exit 1`);
    t.match(r.stderr, new RegExp(`devox analyze: FLAC file .*${name} is truncated or corrupt: \\d+ samples per channel decodable of the 180800 its header announces`), `${name}: ${r.stderr.trim()}`);
    t.notMatch(r.stderr, /no audio channels/);
    t.equal(r.stdout, '', `${name}: no verdict printed for part of a file`);
  }
});

t.test('an empty file says so', async (t) => {
  const path = join(dir, 'empty.wav');
  await writeFile(path, Buffer.alloc(0));
  const r = await analyze(path);
  t.equal(r.code, 1);
  t.match(r.stderr, /audio file .*empty\.wav is empty/);
});

t.test('the intact FLAC is analysed', async (t) => {
  const r = await analyze(GENUINE_FILE, '--json');
  t.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { durationSec: number; windows: unknown[] };
  t.ok(Math.abs(doc.durationSec - 180800 / 16000) < 1e-6, `whole file read (${doc.durationSec} s)`);
  t.ok(doc.windows.length > 30);
});
