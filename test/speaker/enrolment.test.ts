/**
 * Enrolment with the real speaker model and real speech: the quality check refuses silence, too
 * little speech, too few segments and two voices mixed, each with its reason; an accepted
 * enrolment stores the embedding and model version only (file store: mode 0600, no audio). Then
 * the CLI: `devox enroll --id / --show / --delete` against a file store, and `devox analyze --claim`
 * on the enrolled voice's clone, which is never verified.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { loadConfig, projectRoot } from '../../src/config.js';
import { readAudioFile } from '../../src/media/audio-file.js';
import { EnrolmentError } from '../../src/speaker/enrolment.js';
import { FileEnrolmentStore, MemoryEnrolmentStore } from '../../src/speaker/enrolment-store.js';
import { loadSpeakerModel, offlineEnrolService } from '../../src/speaker/offline.js';
import { NEEDS_SHARED_SPEECH, sharedSpeech } from '../helpers/shared-data.js';
import { GENUINE_FILE, SYNTHETIC_FILE } from '../helpers/fixture-paths.js';
import { spawnDevox } from '../helpers/child-process.js';

const MODEL_DIR = resolve(projectRoot, 'models/devox-speaker');
const skip = NEEDS_SHARED_SPEECH || (existsSync(join(MODEL_DIR, 'card.json')) ? false : 'models/devox-speaker not built (npm run train:speaker)');
const LJ = ['audio/universal_melgan_icassp2021/genuine/bonafide/lj_d715b04546.flac', 'audio/espnet_tts_sample/genuine/bonafide/lj_bda89e95b0.flac'].map(sharedSpeech);
const LJ_SHORT = sharedSpeech('audio/espnet_tts_sample/genuine/bonafide/lj_854858935a.flac');

const load = async (path: string) => ({ name: path, ...(await readAudioFile(path)) });

async function refusal(p: Promise<unknown>): Promise<EnrolmentError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EnrolmentError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

t.test('quality check: clear refusals, and what an accepted enrolment stores', { skip }, async (t) => {
  const config = loadConfig({ env: {} });
  const model = await loadSpeakerModel(MODEL_DIR);
  t.teardown(() => model.session.release());
  const dir = await mkdtemp(join(tmpdir(), 'devox-enrol-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new FileEnrolmentStore(dir);
  const service = offlineEnrolService(config, model, store);

  const silence = { name: 'silence', samples: new Float32Array(16000 * 12), sampleRate: 16000 };
  t.match(await refusal(service.enrolSamples('acct-1', [silence])), { code: 'no_audio' }, 'silence: no speech window');
  t.match(await refusal(service.enrolSamples('acct-1', [await load(LJ_SHORT)])), { code: 'too_little_speech' }, 'a 2-s recording: too little speech');
  t.match(await refusal(service.enrolSamples('bad account', [await load(LJ[0]!)])), { code: 'invalid_account' });
  const oneSegment = offlineEnrolService(loadConfig({ env: {}, overrides: { speaker: { enrol: { minSpeechSec: 1, segmentWindows: 100 } } } }), model, new MemoryEnrolmentStore());
  t.match(await refusal(oneSegment.enrolSamples('acct-1', [await load(LJ[0]!)])), { code: 'too_few_segments' }, 'one segment is not enough');
  const mixed = await refusal(service.enrolSamples('acct-1', [await load(LJ[0]!), await load(LJ[1]!), await load(GENUINE_FILE)]));
  t.match(mixed, { code: 'inconsistent_segments' }, `two voices mixed: refused (${mixed.message})`);
  t.match(mixed.message, /genuine-librispeech\.flac/, 'the refusal names the odd recording');
  t.same(await readdir(dir), [], 'nothing stored on refusal');

  const r = await service.enrolSamples('lj', [await load(LJ[0]!), await load(LJ[1]!)]);
  t.match(r, { account: 'lj', modelName: model.card.name, modelVersion: model.card.version });
  t.ok(r.speechSec >= 8 && r.segments >= 2, `speech ${r.speechSec} s in ${r.segments} segments`);
  t.equal(r.embedding.length, model.dim);
  t.ok(Math.abs(Math.hypot(...r.embedding) - 1) < 1e-3, 'unit-length embedding');
  const path = join(dir, 'lj.json');
  t.equal((await stat(path)).mode & 0o777, 0o600, 'file store: readable by its owner only');
  const text = await readFile(path, 'utf8');
  t.ok(text.length < 8000, `a few KB, no audio (${text.length} bytes)`);
  t.same(await store.get('lj'), r);
  t.equal(await store.delete('lj'), true);
  t.equal(await store.get('lj'), null);
  t.equal(existsSync(path), false, 'erased from disk');
});

t.test('devox enroll and devox analyze --claim (file store)', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-enroll-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = { DEVOX_SPEAKER_STORE_DIR: dir, DEVOX_CONFIG: '' };
  const run = async (args: string[]) => {
    const c = spawnDevox(t, 'src/cli.ts', args, env);
    const code = await c.exited;
    return { code, stdout: c.stdout(), stderr: c.stderr() };
  };
  const refused = await run(['enroll', '--id', 'lj', LJ_SHORT]);
  t.equal(refused.code, 1, 'refused enrolment exits 1');
  t.match(refused.stderr, /refused \(too_little_speech\)/);
  const ok = await run(['enroll', '--id', 'lj', ...LJ]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(JSON.parse(ok.stdout), { account: 'lj', store: 'file', modelName: 'devox-speaker' });
  const shown = await run(['enroll', '--show', 'lj']);
  t.notOk('embedding' in JSON.parse(shown.stdout), '--show prints no embedding');

  const clone = await run(['analyze', SYNTHETIC_FILE, '--claim', 'lj', '--channel', 'g711u', '--json']);
  t.equal(clone.code, 0, clone.stderr);
  const doc = JSON.parse(clone.stdout) as { verdict: { label: string }; identity: { decision: { kind: string; reason: string; score: number } } };
  t.not(doc.identity.decision.kind, 'identity.verified', `the clone of the enrolled voice is not verified (${doc.identity.decision.kind} ${doc.identity.decision.reason}, score ${doc.identity.decision.score}, deep voice ${doc.verdict.label})`);

  const del = await run(['enroll', '--delete', 'lj']);
  t.match(JSON.parse(del.stdout), { account: 'lj', deleted: true });
  t.same(await readdir(dir), [], 'the store directory is empty');
});
