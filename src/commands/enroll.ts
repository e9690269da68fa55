/**
 * devox enroll --id ACCOUNT FILE... — enrols a speaker from audio files (quality-checked: enough
 * speech, consistent segments), storing only the mean embedding and the model version in the
 * configured store (NATS JetStream KV when nats.servers is set, else speaker.storeDir).
 * devox enroll --delete ACCOUNT — erases the account. devox enroll --show ACCOUNT — what is stored.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { ModelLoadError } from '../detect/errors.js';
import { AudioFileError } from '../media/errors.js';
import { readAudioFile } from '../media/audio-file.js';
import { EnrolmentError, checkAccount } from '../speaker/enrolment.js';
import { summary } from '../speaker/enrol-service.js';
import { loadSpeakerModel, offlineEnrolService, openConfiguredStore } from '../speaker/offline.js';

const USAGE = `usage: devox enroll --id ACCOUNT FILE... [options]
       devox enroll --delete ACCOUNT | --show ACCOUNT [options]

Enrols a caller's voice for speaker verification (docs/speaker.md): the files' speech windows are
embedded with the speaker model and checked (at least speaker.enrol.minSpeechSec of speech, at least
speaker.enrol.minSegments segments, every segment consistent with the others); the mean embedding,
the model version and the creation time are stored under ACCOUNT. Audio is never stored.

  --id ACCOUNT        enrol (or re-enrol, replacing) ACCOUNT from FILE...
  --delete ACCOUNT    erase ACCOUNT's enrolment
  --show ACCOUNT      print what is stored for ACCOUNT (without the embedding)
  --model DIR         speaker model directory (default: speaker.modelDir)
  --config FILE       operator config (the store: nats.servers, else speaker.storeDir)
  -h, --help
`;

export async function run(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        id: { type: 'string' },
        delete: { type: 'string' },
        show: { type: 'string' },
        model: { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    process.stderr.write(`devox enroll: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = args.values;
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const modes = [v.id, v.delete, v.show].filter((x) => x !== undefined).length;
  if (modes !== 1 || (v.id !== undefined && args.positionals.length === 0) || (v.id === undefined && args.positionals.length > 0)) {
    process.stderr.write(`devox enroll: give --id ACCOUNT with at least one FILE, or --delete ACCOUNT, or --show ACCOUNT\n\n${USAGE}`);
    return 2;
  }
  let config: Readonly<Config>;
  try {
    config = loadConfig({ file: v.config, overrides: v.model ? { speaker: { modelDir: v.model } } : undefined });
    checkAccount(v.id ?? v.delete ?? v.show ?? '');
  } catch (err) {
    if (err instanceof ConfigError || err instanceof EnrolmentError) {
      process.stderr.write(`devox enroll: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  let store;
  try {
    store = await openConfiguredStore(config);
  } catch (err) {
    process.stderr.write(`devox enroll: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    if (v.delete !== undefined) {
      const existed = await store.delete(v.delete);
      process.stdout.write(JSON.stringify({ account: v.delete, deleted: existed, store: store.kind }) + '\n');
      return 0;
    }
    if (v.show !== undefined) {
      const r = await store.get(v.show);
      process.stdout.write(JSON.stringify(r ? { ...summary(r), store: store.kind } : { account: v.show, enrolled: false, store: store.kind }) + '\n');
      return r ? 0 : 1;
    }
    const model = await loadSpeakerModel(config.speaker.modelDir, config.detect.intraOpThreads);
    try {
      const sources = [];
      for (const path of args.positionals) sources.push({ name: path, ...(await readAudioFile(path)) });
      const r = await offlineEnrolService(config, model, store).enrolSamples(v.id!, sources);
      process.stdout.write(JSON.stringify({ ...summary(r), store: store.kind }) + '\n');
      return 0;
    } finally {
      await model.session.release();
    }
  } catch (err) {
    if (err instanceof EnrolmentError) {
      process.stderr.write(`devox enroll: refused (${err.code}): ${err.message}\n`);
      return 1;
    }
    if (err instanceof ModelLoadError || err instanceof AudioFileError) {
      process.stderr.write(`devox enroll: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await store.close();
  }
}
