/**
 * Corpus readers on tiny fixtures written at test time (real wav/flac files in a temp dir): ASVspoof-style
 * protocol lines (2019 and 2021 layouts), In-the-Wild meta.csv, folder-per-label, the shared manifest format,
 * auto-detection, and clear errors on bad input. Also the split properties (no speaker / system in two splits).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { check } from './python.js';

interface Brief { id: string; label: string; speaker: string; generator: string; source: string; exists: boolean }
interface Readers {
  protocol: Brief[]; meta: Brief[]; folders: Brief[]; manifest: Brief[];
  auto: { folders: number; meta: number; protocol: number };
  errors: Record<string, string | null>;
}

t.test('readers parse protocol, meta.csv, folders and manifest fixtures', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-readers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await check<Readers>(['readers', dir]);

  t.same(r.protocol.map((i) => [i.id, i.speaker, i.label, i.generator]), [
    ['LA_T_0001', 'LA_0079', 'genuine', ''],
    ['LA_T_0002', 'LA_0080', 'synthetic', 'A07'],
    ['LA_E_0003', 'LA_0009', 'synthetic', 'A13'], // 2021 layout: label is not the last column
  ]);
  t.ok(r.protocol.every((i) => i.exists), 'protocol ids resolve to audio files (flac/ sub-folder)');

  t.same(r.meta.map((i) => [i.id, i.speaker, i.label]), [
    ['0.wav', 'Alec Guinness', 'synthetic'],
    ['1.wav', 'Alec Guinness', 'genuine'],
    ['2.wav', 'Barack Obama', 'genuine'],
  ]);

  t.same(r.folders.map((i) => [i.id, i.label, i.generator, i.speaker]), [
    ['bonafide/spk1_a.wav', 'genuine', '', 'spk1'],
    ['spoof/genA/spk1_b.wav', 'synthetic', 'genA', 'spk1'],
    ['spoof/genB/spk2_c.flac', 'synthetic', 'genB', 'spk2'],
  ], 'folder per label; unrelated folders (notes/) ignored; sub-folder names the generator');

  t.same(r.manifest.map((i) => [i.id, i.label, i.generator, i.speaker, i.source]), [
    ['g.flac', 'genuine', '', 's1', 'x'],
    ['s.flac', 'synthetic', 'VALL-E X', 's1', 'x'],
  ]);
  t.same(r.auto, { folders: 3, meta: 3, protocol: 3 }, 'bare paths are recognised by kind');
});

t.test('readers reject bad input with a named error that says where', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'devox-readers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { errors } = await check<Readers>(['readers', dir]);
  t.match(errors.bad_label, /^CorpusError: .*meta\.csv:2: unknown label 'maybe'/);
  t.match(errors.missing_file, /^CorpusError: .*missing\.csv:2: audio file .*nope\.wav does not exist/);
  t.match(errors.bad_protocol_line, /^CorpusError: .*proto\.txt:1: expected "SPEAKER FILE/);
  t.match(errors.no_labels_folder, /^CorpusError: .*no audio under genuine/);
  t.match(errors.unknown_spec, /^CorpusError: cannot tell what kind of corpus/);
});

interface Leaks { speakers_in_two_splits: string[]; systems_in_two_splits: string[]; partial_edits_kept: number }
interface Splits {
  shared?: Leaks & { deterministic: boolean; counts: Record<string, number>; labels: Record<string, string[]> };
  hash_mode: Leaks & { counts: Record<string, number>; dropped: Record<string, number> };
}

t.test('splits hold out whole speakers and whole generator systems', async (t) => {
  const s = await check<Splits>(['splits']);
  t.same(s.hash_mode.speakers_in_two_splits, [], 'hash mode: no speaker in two splits');
  t.same(s.hash_mode.systems_in_two_splits, [], 'hash mode: no generator system in two splits');
  t.equal(s.hash_mode.partial_edits_kept, 0, 'partial edits dropped');
  t.ok(s.hash_mode.counts.train > 0 && s.hash_mode.counts.test > 0, 'train and test are not empty');
  t.ok((s.hash_mode.dropped.speaker_generator_mismatch ?? 0) > 0, 'crossed speaker/system files are dropped, not leaked');
  if (!s.shared) {
    t.pass('shared-manifest split', { skip: '../shared/data/speech/manifest.csv is not present: shared-manifest split not checked' });
    return;
  }
  t.same(s.shared.speakers_in_two_splits, [], 'shared manifest: no speaker in two splits');
  t.same(s.shared.systems_in_two_splits, [], 'shared manifest: no generator system in two splits');
  t.equal(s.shared.partial_edits_kept, 0);
  t.ok(s.shared.deterministic, 'same seed, same split');
  for (const split of ['train', 'dev', 'test']) t.same(s.shared.labels[split], ['genuine', 'synthetic'], `${split} has both classes`);
});

t.test('decode cache key: follows the audio, not mtimes or paths', async (t) => {
  const k = await check<{ touched_same: boolean; moved_same: boolean; changed_differs: boolean; caps_differs: boolean }>(['cache-key']);
  t.ok(k.touched_same, 'a touched file (e.g. a re-mounted corpus) keeps the cache');
  t.ok(k.moved_same, 'so does the same corpus copied to another folder');
  t.ok(k.changed_differs, 'a changed file rebuilds it');
  t.ok(k.caps_differs, 'so do other per-file caps');
});
