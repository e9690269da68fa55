/**
 * devox enroll --id ACCOUNT FILE... — enrols a speaker from audio files (quality-checked: enough
 * speech, consistent segments), storing only the mean embedding and the model version in the
 * configured store (NATS JetStream KV when nats.servers is set, else speaker.storeDir).
 * devox enroll --id ACCOUNT --from-call CALL_ID [--leg LEG] — asks the server carrying the call to
 * enrol from the leg's speech (enroll-from-call.ts), printing progress until the result.
 * devox enroll --delete ACCOUNT — erases the account. devox enroll --show ACCOUNT — what is stored.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { ModelLoadError } from '../detect/errors.js';
import { AudioFileError } from '../media/errors.js';
import { readAudioFile } from '../media/audio-file.js';
import { EnrolmentError, checkAccount } from '../speaker/enrolment.js';
import { summary } from '../speaker/enrol-service.js';
import { enrolSubjectOf } from '../speaker/config-schema.js';
import { loadSpeakerModel, offlineEnrolService, openConfiguredStore } from '../speaker/offline.js';
import { EnrolClientError, enrolFromCallOverHttp, enrolFromCallOverNats, progressLine, type FinalAnswer, type FromCallArgs } from './enroll-from-call.js';

const USAGE = `usage: devox enroll --id ACCOUNT FILE... [options]
       devox enroll --id ACCOUNT --from-call CALL_ID [--leg LEG] [options]
       devox enroll --delete ACCOUNT | --show ACCOUNT [options]

Enrols a caller's voice for speaker verification (docs/speaker.md): the files' speech windows are
embedded with the speaker model and checked (at least speaker.enrol.minSpeechSec of speech, at least
speaker.enrol.minSegments segments, every segment consistent with the others); the mean embedding,
the model version and the creation time are stored under ACCOUNT. Audio is never stored.

  --id ACCOUNT        enrol (or re-enrol, replacing) ACCOUNT from FILE...
  --from-call CALL_ID ...or from what a live call's leg says from now on: the DevoX server carrying
                      the call embeds the leg's speech windows until there is enough speech (same
                      checks as files; speaker.enrol.maxCaptureSec at most), then stores the
                      enrolment; progress is printed on stderr. The server needs speaker.enabled.
  --leg LEG           the leg: caller, callee, another leg name or a stream id (default: the
                      call's only live leg)
  --timeout SEC       give up after SEC seconds without enough speech (default and most:
                      the server's speaker.enrol.maxCaptureSec)
  --server URL        ask this server over HTTP (POST URL/speaker/enrolments, bearer token from
                      --token-file or the first of speaker.httpTokens); default: a NATS request on
                      speaker.enrolSubject (nats.servers, or --nats)
  --token-file FILE   file holding the bearer token for --server
  --nats URL          NATS server(s), comma-separated; overrides nats.servers
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
        'from-call': { type: 'string' },
        leg: { type: 'string' },
        timeout: { type: 'string' },
        server: { type: 'string' },
        'token-file': { type: 'string' },
        nats: { type: 'string' },
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
  const fromCall = v['from-call'];
  const files = fromCall === undefined ? args.positionals.length : 0;
  if (modes !== 1 || (v.id !== undefined && files === 0 && fromCall === undefined) || (v.id === undefined && args.positionals.length > 0)) {
    process.stderr.write(`devox enroll: give --id ACCOUNT with at least one FILE or --from-call CALL_ID, or --delete ACCOUNT, or --show ACCOUNT\n\n${USAGE}`);
    return 2;
  }
  const callOnly = (['leg', 'timeout', 'server', 'token-file'] as const).filter((k) => v[k] !== undefined);
  if (fromCall === undefined ? callOnly.length > 0 : v.id === undefined || args.positionals.length > 0) {
    process.stderr.write(`devox enroll: ${fromCall === undefined ? `--${callOnly[0]} goes with --from-call` : '--from-call goes with --id ACCOUNT and no FILE'}\n\n${USAGE}`);
    return 2;
  }
  const timeoutSec = v.timeout === undefined ? undefined : Number(v.timeout);
  if (timeoutSec !== undefined && !(timeoutSec > 0)) {
    process.stderr.write(`devox enroll: --timeout must be a positive number of seconds\n`);
    return 2;
  }
  let config: Readonly<Config>;
  try {
    const servers = v.nats?.split(',').map((s) => s.trim()).filter(Boolean);
    config = loadConfig({
      file: v.config,
      overrides: { ...(v.model ? { speaker: { modelDir: v.model } } : {}), ...(servers ? { nats: { servers } } : {}) },
    });
    checkAccount(v.id ?? v.delete ?? v.show ?? '');
  } catch (err) {
    if (err instanceof ConfigError || err instanceof EnrolmentError) {
      process.stderr.write(`devox enroll: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (fromCall !== undefined) {
    const req: FromCallArgs = { account: v.id!, callId: fromCall, ...(v.leg !== undefined ? { leg: v.leg } : {}), ...(timeoutSec !== undefined ? { timeoutSec } : {}) };
    return enrolFromCall(config, req, v.server, v['token-file']);
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

/** --from-call: over HTTP (--server) or NATS; progress on stderr, the result as one JSON line on stdout. */
async function enrolFromCall(config: Readonly<Config>, req: FromCallArgs, server: string | undefined, tokenFile: string | undefined): Promise<number> {
  let last = '';
  const onProgress = (p: Parameters<typeof progressLine>[0]): void => {
    const line = progressLine(p);
    if (line !== last) process.stderr.write(`devox enroll: ${line}\n`);
    last = line;
  };
  let answer: FinalAnswer;
  try {
    if (server !== undefined) {
      const token = tokenFile !== undefined ? (await readFile(tokenFile, 'utf8')).trim() : config.speaker.httpTokens[0];
      if (!token) {
        process.stderr.write('devox enroll: --server needs a bearer token: --token-file FILE, or speaker.httpTokens (DEVOX_SPEAKER_HTTP_TOKENS)\n');
        return 2;
      }
      answer = await enrolFromCallOverHttp(server, token, req, onProgress);
    } else {
      if (config.nats.servers.length === 0) {
        process.stderr.write('devox enroll: --from-call asks the server over NATS (nats.servers, DEVOX_NATS_SERVERS or --nats URL) or HTTP (--server URL)\n');
        return 2;
      }
      answer = await enrolFromCallOverNats(config, enrolSubjectOf(config.speaker, config.nats.subjectPrefix), req, onProgress);
    }
  } catch (err) {
    if (!(err instanceof EnrolClientError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    process.stderr.write(`devox enroll: ${(err as Error).message}\n`);
    return 1;
  }
  const { ok, status, ...rest } = answer;
  if (ok) {
    process.stdout.write(JSON.stringify(rest) + '\n');
    return 0;
  }
  process.stderr.write(`devox enroll: refused (${answer.code ?? status}): ${answer.error ?? 'no reason given'}\n`);
  return 1;
}
