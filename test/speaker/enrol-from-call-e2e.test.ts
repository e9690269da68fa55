/**
 * Enrolment from a live call's leg, end to end with real peers: a real nats-server, a real
 * DevoxServer with the shipped speaker model, real RTP calls of a genuine speaker (LJSpeech, held
 * out by every fold of the speaker model) and the `devox enroll --from-call` CLI as a child
 * process. Three legs are enrolled at once, one through each door (the CLI over NATS with
 * progress, a plain HTTP request, a plain NATS request); then a call of the same speaker from
 * another recording claiming each account is `identity.verified`, and another speaker claiming
 * one of them is `identity.mismatch` (events read back from JetStream). Then the refusals:
 * unknown call / leg, an ambiguous leg, a second capture on a leg, a leg that ends before enough
 * speech, a capture that times out, and a server without the speaker model.
 *
 * Not timing-fragile: legs wait for their audio (media.streamTimeoutMs 60 s) and audio is sent
 * only once every capture is known to be running (the server's capture count, the CLI's first
 * progress line); a capture that has not finished when its leg ends is judged by the file rules.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import t from 'tap';
import { projectRoot } from '../../src/config.js';
import type { OpenedStream } from '../../src/http/streams-api.js';
import type { DevoxServer } from '../../src/server.js';
import { callIdToToken } from '../../src/verdicts/events.js';
import type { IdentityEvent } from '../../src/verdicts/types.js';
import { spawnDevox } from '../helpers/child-process.js';
import { readStoredEvents } from '../helpers/events.js';
import { sendFile, startTestServer } from '../helpers/devox-server.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { NEEDS_SHARED_SPEECH, sharedSpeech } from '../helpers/shared-data.js';
import { waitFor } from '../helpers/wait.js';

const SPEAKER_MODEL = resolve(projectRoot, 'models/devox-speaker/card.json');
const skip = NEEDS_NATS || NEEDS_SHARED_SPEECH || (existsSync(SPEAKER_MODEL) ? false : 'models/devox-speaker not built (npm run train:speaker)');
const TOKEN = 'speaker-test-token-0123456789';
const SUBJECT = 'devox-speaker.enrol';
/** The corpus's LJ recordings are under 10 s (5.5 to 8 s of speech): enrolment asks for 5 s of speech here (8 by default). */
const MIN_SPEECH_SEC = 5;

// Three recordings of LJ to enrol from, a fourth to verify with (every one a different file), and a short one.
const LJ_ENROL = {
  cli: 'audio/espnet_tts_sample/genuine/bonafide/lj_bda89e95b0.flac',
  http: 'audio/universal_melgan_icassp2021/genuine/bonafide/lj_d715b04546.flac',
  nats: 'audio/universal_melgan_icassp2021/genuine/bonafide/lj_f4462e418e.flac',
};
const LJ_CALL = 'audio/espnet_tts_sample/genuine/bonafide/lj_78f349e2e5.flac';
const LJ_SHORT = 'audio/espnet_tts_sample/genuine/bonafide/lj_854858935a.flac';

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

async function startServers() {
  const nats = await NatsServer.start();
  const server = await startTestServer({
    nats: { servers: [nats.url] },
    // Legs wait for their audio: it is sent once the captures run.
    media: { streamTimeoutMs: 60_000 },
    speaker: { enabled: true, httpTokens: [TOKEN], everyNthWindow: 2, minWindows: 4, enrol: { minSpeechSec: MIN_SPEECH_SEC } },
  });
  return { nats, server };
}

function postEnrol(server: DevoxServer, body: unknown, headers: Record<string, string> = auth): Promise<Response> {
  return fetch(`${server.http.url}/speaker/enrolments`, { method: 'POST', headers, body: JSON.stringify(body) });
}

const open = (server: DevoxServer, callId: string, leg: string, identity?: Record<string, string>): Promise<OpenedStream> =>
  server.openStream({ callId, leg, codec: 'PCMU', ...(identity ? { identity } : {}) });

t.test('enrol from live legs via the CLI (NATS), HTTP and NATS; the same speaker is then verified, another is not', { skip }, async (t) => {
  const { nats, server } = await startServers();
  t.teardown(async () => {
    await server.close();
    await nats.close();
  });
  const card = server.speaker!.engine.card;
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());

  const legs = {
    cli: await open(server, 'enrol-cli', 'caller'),
    http: await open(server, 'enrol-http', 'caller'),
    nats: await open(server, 'enrol-nats', 'caller'),
  };
  const callee = await open(server, 'enrol-cli', 'callee'); // stays silent: the CLI names --leg caller

  const noLeg = await postEnrol(server, { account: 'lj-x', fromCall: { callId: 'enrol-cli' } });
  t.equal(noLeg.status, 400, 'two live legs and none named: 400');
  t.match(await noLeg.json(), { code: 'ambiguous_leg', legs: ['caller', 'callee'] });

  const cli = spawnDevox(t, 'src/cli.ts', ['enroll', '--id', 'lj-cli', '--from-call', 'enrol-cli', '--leg', 'caller', '--nats', nats.url], { DEVOX_CONFIG: '' });
  const http = postEnrol(server, { account: 'lj-http', fromCall: { callId: 'enrol-http', leg: 'caller' } });
  const overNats = nc.request(SUBJECT, JSON.stringify({ op: 'enrol', account: 'lj-nats', fromCall: { callId: 'enrol-nats', leg: legs.nats.streamId } }), { timeout: 150_000 });
  const cliStarted = new RegExp(`capturing call enrol-cli leg caller: 0\\.0 / ${MIN_SPEECH_SEC} s of speech`);
  await waitFor(() => (server.speaker!.calls.size === 3 && cliStarted.test(cli.stderr())) || cli.child.exitCode !== null, 120_000, 'three captures running');
  t.equal(server.speaker!.calls.size, 3, 'three captures running');
  t.match(cli.stderr(), cliStarted, 'the CLI reports that the capture started');

  await Promise.all((['cli', 'http', 'nats'] as const).map((k) => sendFile(legs[k], sharedSpeech(LJ_ENROL[k]))));
  for (const leg of Object.values(legs)) server.releaseStream(leg.streamId);
  server.releaseStream(callee.streamId);

  const code = await cli.exited;
  t.equal(code, 0, `the CLI enrolled (stderr: ${cli.stderr().trim().split('\n').at(-1)})`);
  const fromCli = JSON.parse(cli.stdout().trim().split('\n').at(-1)!) as Record<string, unknown>;
  t.match(fromCli, { account: 'lj-cli', modelName: card.name, modelVersion: card.version, fromCall: { callId: 'enrol-cli', leg: 'caller', streamId: legs.cli.streamId } });
  const reports = [...cli.stderr().matchAll(/: (\d+\.\d) \/ \d+ s of speech/g)].map((m) => Number(m[1]));
  t.ok(reports.length >= 3 && reports.at(-1)! > reports[0]!, `progress printed as the speech came (${reports.join(', ')})`);

  const byHttp = await http;
  t.equal(byHttp.status, 201, 'enrolled over HTTP');
  const httpBody = (await byHttp.json()) as Record<string, unknown>;
  t.match(httpBody, { account: 'lj-http', modelVersion: card.version, fromCall: { callId: 'enrol-http', leg: 'caller' } });
  t.notOk('embedding' in httpBody, 'the API never returns the embedding');
  const byNats = (await overNats).json<Record<string, unknown>>();
  t.match(byNats, { ok: true, status: 201, account: 'lj-nats', fromCall: { streamId: legs.nats.streamId } }, 'enrolled over NATS (the leg named by its stream id)');

  const jsm = await jetstreamManager(nc);
  for (const [account, summary] of [['lj-cli', fromCli], ['lj-http', httpBody], ['lj-nats', byNats]] as const) {
    t.ok((summary.speechSec as number) >= MIN_SPEECH_SEC && (summary.segments as number) >= 2, `${account}: ${summary.speechSec} s of speech in ${summary.segments} segments (min cosine ${summary.minSegmentCosine})`);
    const kv = await jsm.streams.getMessage('KV_devox_speakers', { last_by_subj: `$KV.devox_speakers.${account}` });
    if (!kv) {
      t.fail(`${account}: not in the KV bucket`);
      continue;
    }
    const stored = kv.json<Record<string, unknown>>();
    t.same(Object.keys(stored).sort(), ['account', 'createdAt', 'embedding', 'minSegmentCosine', 'modelName', 'modelVersion', 'segments', 'speechSec'], `${account}: embedding, model version, counts; no audio`);
    t.equal((stored.embedding as number[]).length, card.output.dim);
  }

  // A second call of the same speaker (another recording) claiming each account; another speaker claiming one.
  const calls = [
    { callId: 'verify-cli', claim: 'lj-cli', file: sharedSpeech(LJ_CALL) },
    { callId: 'verify-http', claim: 'lj-http', file: sharedSpeech(LJ_CALL) },
    { callId: 'verify-nats', claim: 'lj-nats', file: sharedSpeech(LJ_CALL) },
    { callId: 'verify-impostor', claim: 'lj-cli', file: GENUINE_FILE },
  ];
  const verify = await Promise.all(calls.map((c) => open(server, c.callId, 'caller', { 'x-devox-claim': c.claim })));
  await Promise.all(verify.map((leg, i) => sendFile(leg, calls[i]!.file, { maxSec: 8 })));
  for (const leg of verify) server.releaseStream(leg.streamId);
  await waitFor(() => server.pipeline.stats.streams === 0 && server.speaker!.scorer.size === 0, 60_000, 'legs finished');
  await server.speaker!.identity.settled();
  t.equal(await server.publisher.flush(10_000), true, 'events acknowledged by JetStream');
  const last = async (callId: string): Promise<IdentityEvent | undefined> => {
    const events = await readStoredEvents(nats.url, 'DEVOX', `devox.call.${callIdToToken(callId)}.identity`);
    return events.map((s) => s.event as IdentityEvent).at(-1);
  };
  for (const c of calls.slice(0, 3)) {
    const e = await last(c.callId);
    t.match(e, { type: 'identity.verified', reason: 'voice_matches', claim: c.claim, final: true }, `${c.claim} (enrolled from a call) verified on another call (score ${e?.score}, deep voice ${e?.deepVoiceLabel})`);
  }
  const impostor = await last('verify-impostor');
  t.match(impostor, { type: 'identity.mismatch', reason: 'voice_differs', claim: 'lj-cli', final: true }, `another speaker claiming lj-cli: mismatch (score ${impostor?.score})`);
});

t.test('refusals: unknown call or leg, a second capture, a leg that ends too soon, a time-out', { skip }, async (t) => {
  const { nats, server } = await startServers();
  t.teardown(async () => {
    await server.close();
    await nats.close();
  });
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const node = server.config.node.id;

  const unknownHttp = await postEnrol(server, { account: 'lj', fromCall: { callId: 'no-such-call' } });
  t.equal(unknownHttp.status, 404, 'unknown call: 404');
  t.match(await unknownHttp.json(), { code: 'unknown_call', callId: 'no-such-call' });
  const unknownNats = await nc.request(SUBJECT, JSON.stringify({ op: 'enrol', account: 'lj', fromCall: { callId: 'no-such-call' } }), { timeout: 10_000 });
  t.match(unknownNats.json(), { ok: false, status: 404, code: 'unknown_call', node }, 'unknown call over NATS, naming the node');
  const unknownCli = spawnDevox(t, 'src/cli.ts', ['enroll', '--id', 'lj', '--from-call', 'no-such-call', '--nats', nats.url], { DEVOX_CONFIG: '' });
  t.equal(await unknownCli.exited, 1, 'the CLI exits 1 on an unknown call');
  t.match(unknownCli.stderr(), /refused \(unknown_call\): no live call no-such-call/);

  const leg = await open(server, 'refuse-1', 'caller');
  const wrongLeg = await postEnrol(server, { account: 'lj', fromCall: { callId: 'refuse-1', leg: 'callee' } });
  t.equal(wrongLeg.status, 404, 'unknown leg: 404');
  t.match(await wrongLeg.json(), { code: 'unknown_leg', legs: ['caller'] }, 'the refusal lists the live legs');
  t.equal((await postEnrol(server, { account: 'bad account', fromCall: { callId: 'refuse-1' } })).status, 400, 'invalid account: 400');
  t.equal((await postEnrol(server, { account: 'lj', audio: ['AAAA'], fromCall: { callId: 'refuse-1' } })).status, 400, 'audio and fromCall together: 400');
  t.equal((await postEnrol(server, { account: 'lj', fromCall: { callId: 'refuse-1' } }, { 'content-type': 'application/json' })).status, 401, 'no bearer token: 401');

  // The CLI over HTTP (NDJSON progress) holds the leg; a second capture is refused; the leg then ends after 2 s of speech.
  const dir = await mkdtemp(join(tmpdir(), 'devox-from-call-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, TOKEN + '\n', { mode: 0o600 });
  const cli = spawnDevox(t, 'src/cli.ts', ['enroll', '--id', 'lj-short', '--from-call', 'refuse-1', '--server', server.http.url, '--token-file', tokenFile], { DEVOX_CONFIG: '' });
  await waitFor(() => /capturing call refuse-1 leg caller/.test(cli.stderr()) || cli.child.exitCode !== null, 120_000, 'the CLI capture running');
  const second = await nc.request(SUBJECT, JSON.stringify({ op: 'enrol', account: 'lj-2', fromCall: { callId: 'refuse-1', leg: 'caller' } }), { timeout: 10_000 });
  t.match(second.json(), { ok: false, status: 409, code: 'capture_in_progress' }, 'a second capture on the same leg: 409');
  await sendFile(leg, sharedSpeech(LJ_SHORT));
  server.releaseStream(leg.streamId);
  t.equal(await cli.exited, 1, 'the CLI exits 1 when the leg ends too soon');
  const m = new RegExp(`refused \\(leg_ended\\): the leg ended \\(released\\) after (\\d+\\.\\d) s of speech .*enrolment needs ${MIN_SPEECH_SEC} s of speech`).exec(cli.stderr());
  t.ok(m && Number(m[1]) > 0.5 && Number(m[1]) < MIN_SPEECH_SEC, `the refusal names the speech obtained and needed: ${cli.stderr().trim().split('\n').at(-1)}`);

  const silent = await open(server, 'refuse-2', 'caller');
  const timedOut = await postEnrol(server, { account: 'lj', fromCall: { callId: 'refuse-2' }, timeoutSec: 1 });
  t.equal(timedOut.status, 422, 'nothing said within timeoutSec: 422');
  t.match(await timedOut.json(), { code: 'capture_timeout', speechSec: 0, minSpeechSec: MIN_SPEECH_SEC, error: /timed out \(1 s\) after 0\.0 s of speech/ });
  server.releaseStream(silent.streamId);

  const jsm = await jetstreamManager(nc);
  t.equal((await jsm.streams.info('KV_devox_speakers')).state.messages, 0, 'nothing stored by any refusal');
  t.equal(server.speaker!.calls.size, 0, 'no capture left running');
});

t.test('a server without the speaker model says so', { skip: NEEDS_NATS }, async (t) => {
  const nats = await NatsServer.start();
  const server = await startTestServer({ nats: { servers: [nats.url] } });
  t.teardown(async () => {
    await server.close();
    await nats.close();
  });
  await open(server, 'plain-call', 'caller');
  const res = await postEnrol(server, { account: 'lj', fromCall: { callId: 'plain-call' } });
  t.equal(res.status, 503);
  t.match(await res.json(), { code: 'speaker_disabled' });
  const overHttp = spawnDevox(t, 'src/cli.ts', ['enroll', '--id', 'lj', '--from-call', 'plain-call', '--server', server.http.url], {
    DEVOX_CONFIG: '',
    DEVOX_SPEAKER_HTTP_TOKENS: TOKEN,
  });
  t.equal(await overHttp.exited, 1);
  t.match(overHttp.stderr(), /refused \(speaker_disabled\): speaker verification is off on this server/);
  const overNats = spawnDevox(t, 'src/cli.ts', ['enroll', '--id', 'lj', '--from-call', 'plain-call', '--nats', nats.url], { DEVOX_CONFIG: '' });
  t.equal(await overNats.exited, 1);
  t.match(overNats.stderr(), /no DevoX server answers enrolment requests on devox-speaker\.enrol/, 'over NATS: nobody answers the subject');
});
