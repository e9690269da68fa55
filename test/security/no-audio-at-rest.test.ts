/**
 * No raw audio is written anywhere by default (docs/security.md): a real `devox serve` in a fresh
 * working directory, with TMPDIR pointed at a fresh directory and logs at trace level (every
 * debug line and more) and HOME pointed at a fresh directory, analyses a real RTP call and a
 * Twilio Media Streams call over a real WebSocket (base64 audio in JSON: the likeliest way for
 * audio to reach a log), the latter ended by a malformed frame full of payload. Then:
 *  - its logs and event output carry no audio-sized payload: no long base64/hex runs, no arrays of
 *    sample values, no serialized Buffers, no binary bytes, and not the calls' own payload bytes
 *    (RTP: any 24-byte run, raw, hex or base64; WebSocket: any 16 characters of any frame's base64);
 *  - mid-call, the process holds no regular file open for writing;
 *  - TMPDIR, HOME and the working directory are still empty when it has exited (onnxruntime's
 *    telemetry, on by default in the library, wrote to TMPDIR and ~/.cache until src/detect/ort.ts
 *    turned it off).
 * (Core dumps: the image sets ulimit -c 0, see test/deploy/compose.test.ts.)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import WebSocket from 'ws';
import { projectRoot } from '../../src/config.js';
import { packetize, sendAudio } from '../../src/media/rtp-sender.js';
import { loadAudio, metricValue, testModelDir } from '../helpers/devox-server.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

const CALL_SEC = 3;
const WS_TOKEN = 'ws-token-' + 'k'.repeat(32);
const TWILIO_FRAMES = 100; // 2 s of 20 ms µ-law frames

/** A Twilio Media Streams call: connected, start, TWILIO_FRAMES media frames at real-time pace, then a broken frame. */
async function twilioCall(url: string, ulaw: Buffer): Promise<{ payloads: string[]; close: { code: number; reason: string } }> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${WS_TOKEN}` } });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const streamSid = 'MZ00000000000000000000000000000000';
  const callSid = 'CAno-audio-at-rest';
  ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
  ws.send(JSON.stringify({ event: 'start', sequenceNumber: '1', streamSid, start: { accountSid: 'AC0', streamSid, callSid, tracks: ['inbound'],
    customParameters: {}, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } } }));
  const payloads: string[] = [];
  const started = performance.now();
  for (let i = 0; i < TWILIO_FRAMES; i++) {
    const payload = ulaw.subarray(i * 160, (i + 1) * 160).toString('base64');
    payloads.push(payload);
    ws.send(JSON.stringify({ event: 'media', sequenceNumber: String(i + 2), streamSid,
      media: { track: 'inbound', chunk: String(i + 1), timestamp: String(i * 20), payload } }));
    const ahead = started + (i + 1) * 20 - performance.now();
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
  }
  // A broken frame made of payload: an unescaped quote in the middle of the base64.
  const broken = ulaw.subarray(TWILIO_FRAMES * 160, (TWILIO_FRAMES + 1) * 160).toString('base64');
  payloads.push(broken);
  ws.send(`{"event":"media","sequenceNumber":"${TWILIO_FRAMES + 2}","streamSid":"${streamSid}","media":{"track":"inbound","chunk":"${TWILIO_FRAMES + 1}",` +
    `"timestamp":"${TWILIO_FRAMES * 20}","payload":"${broken.slice(0, 100)}"${broken.slice(100)}"}}`);
  return { payloads, close: await closed };
}

/** Regular files `pid` holds open for writing (Linux /proc); undefined where /proc is not there. */
function filesOpenForWriting(pid: number): string[] | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const out: string[] = [];
  for (const fd of fds) {
    let target: string;
    let flags: number;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      flags = parseInt(/^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8);
    } catch {
      continue; // closed meanwhile
    }
    if (!target.startsWith('/') || target.startsWith('/dev/') || target.startsWith('/proc/')) continue; // sockets, pipes, anon inodes, devices
    if ((flags & 0o3) !== 0) out.push(`${target} (fd ${fd}, flags ${flags.toString(8)})`);
  }
  return out;
}

/** What an audio payload looks like when it leaks into text. */
const LEAK_PATTERNS: Array<[string, RegExp]> = [
  ['a base64 run of 200+ characters', /[A-Za-z0-9+/]{200,}={0,2}/],
  ['a hex run of 256+ digits', /\b[0-9a-fA-F]{256,}\b/],
  ['an array of 80+ numbers (a 10 ms frame of samples)', /\[\s*(?:-?\d+(?:\.\d+)?(?:e-?\d+)?\s*,\s*){79,}-?\d/],
  ['a serialized Buffer', /"type"\s*:\s*"Buffer"\s*,\s*"data"/],
  ['binary bytes (control characters other than tab/newline)', /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/],
  ['invalid UTF-8 (U+FFFD)', /\ufffd/],
];

t.test('devox serve at trace level writes no audio to logs, temp files or its working directory', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'devox-cwd-'));
  const tmp = mkdtempSync(join(tmpdir(), 'devox-tmpdir-'));
  const home = mkdtempSync(join(tmpdir(), 'devox-home-'));
  t.teardown(() => {
    for (const d of [cwd, tmp, home]) rmSync(d, { recursive: true, force: true });
  });
  // The child's environment: ours without the test runner's instrumentation or an ORT telemetry setting.
  const { NODE_OPTIONS: _nodeOptions, ORT_DISABLE_TELEMETRY: _ort, ...inherited } = process.env;
  const rtpPortMin = 50000 + 400 * Math.floor(Math.random() * 25);
  // tsx by absolute URL (the cwd is empty) and with its compile cache off: files in TMPDIR are DevoX's own.
  const tsx = pathToFileURL(resolve(projectRoot, 'node_modules/tsx/dist/loader.mjs')).href;
  const child = spawn(process.execPath, ['--import', tsx, resolve(projectRoot, 'src/cli.ts'), 'serve', '--http-port', '0', '--model', testModelDir(), '--log-level', 'trace'], {
    cwd,
    env: {
      ...inherited,
      HOME: home,
      TMPDIR: tmp,
      TSX_DISABLE_CACHE: '1',
      DEVOX_CONFIG: '',
      DEVOX_NATS_SERVERS: '',
      DEVOX_RTP_PORT_MIN: String(rtpPortMin),
      DEVOX_RTP_PORT_MAX: String(rtpPortMin + 399),
      DEVOX_WS_TOKENS: WS_TOKEN,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => stdout.push(d));
  child.stderr.on('data', (d: Buffer) => stderr.push(d));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const text = (bufs: Buffer[]): string => Buffer.concat(bufs).toString('utf8');

  let port = 0;
  await waitFor(() => {
    port ||= Number(/"port":(\d+)[^\n]*"msg":"HTTP server listening/.exec(text(stderr))?.[1] ?? 0);
    return port > 0 || child.exitCode !== null;
  }, 60_000, 'devox serve listening', 50);
  if (port === 0) t.fail(`devox serve did not start:\n${text(stderr).slice(-2000)}`);
  const api = `http://127.0.0.1:${port}`;
  const opened = (await (await fetch(`${api}/streams`, { method: 'POST', body: JSON.stringify({ codec: 'PCMU', callId: 'no-audio-at-rest' }) })).json()) as { port: number };

  const audio = await loadAudio(GENUINE_FILE, CALL_SEC);
  const sending = sendAudio(audio.samples, audio.sampleRate, { codec: 'PCMU', to: { address: '127.0.0.1', port: opened.port } });
  await waitFor(async () => metricValue(await (await fetch(`${api}/metrics`)).text(), 'devox_windows_scored_total') >= 2, 30_000, 'windows scored mid-call', 100);
  const writing = filesOpenForWriting(child.pid!);
  if (writing === undefined) t.comment('no /proc: open-file check skipped');
  else t.same(writing, [], 'mid-call: no regular file open for writing');
  t.same(readdirSync(tmp), [], 'mid-call: TMPDIR empty');
  t.same(readdirSync(home), [], 'mid-call: HOME empty');
  const stats = await sending;
  await waitFor(async () => metricValue(await (await fetch(`${api}/metrics`)).text(), 'devox_windows_scored_total') >= CALL_SEC * 4 - 4, 30_000, 'the call analysed', 100);
  const ulawCall = Buffer.concat(packetize(audio.samples, audio.sampleRate, { codec: 'PCMU' }).packets.map((p) => p.data.subarray(12)));
  const twilio = await twilioCall(`ws://127.0.0.1:${port}/media/twilio`, ulawCall);
  t.not(twilio.close.code, 1000, `the broken frame closed the stream (${twilio.close.code} ${twilio.close.reason})`);
  await waitFor(() => /"type":"call\.ended"[^\n]*CAno-audio-at-rest|CAno-audio-at-rest[^\n]*"type":"call\.ended"/.test(text(stdout)), 20_000, 'the WebSocket call ended', 100);
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'clean exit');

  const logs = text(stderr);
  const events = text(stdout);
  t.ok(logs.split('\n').length > 10, `trace logs were written (${logs.length} bytes, ${logs.split('\n').length} lines)`);
  t.match(events, /"type":"call\.ended"/, 'the call was analysed to its end');
  t.ok(stats.sent >= CALL_SEC * 50 - 2, `${stats.sent} RTP packets sent`);
  for (const [what, re] of LEAK_PATTERNS) {
    t.notMatch(logs, re, `logs: no ${what}`);
    t.notMatch(events, re, `events: no ${what}`);
  }
  // The call's own payload: any 24-byte run of its G.711 bytes, in base64, hex or latin1.
  const ulaw = Buffer.concat(packetize(audio.samples, audio.sampleRate, { codec: 'PCMU' }).packets.map((p) => p.data.subarray(12)));
  const all = logs + events;
  let found = 0;
  for (let off = 1600; off + 24 <= ulaw.length; off += 800) {
    const chunk = ulaw.subarray(off, off + 24);
    if (all.includes(chunk.toString('base64').slice(0, 28)) || all.includes(chunk.toString('hex')) || all.includes(chunk.toString('latin1'))) found++;
  }
  t.equal(found, 0, 'none of the RTP call payload bytes appear in logs or events');
  const piecesIn = (haystack: string): number => {
    let n = 0;
    for (const b64 of twilio.payloads) {
      for (let off = 0; off + 16 <= b64.length; off += 8) {
        const piece = b64.slice(off, off + 16);
        if (!/^(.)\1*$/.test(piece) && haystack.includes(piece)) n++;
      }
    }
    return n;
  };
  // Positive control: the search finds a payload that did leak (a 20-character excerpt, as a JSON.parse error would quote).
  t.ok(piecesIn(`{"msg":"bad frame","detail":"...${twilio.payloads[40]!.slice(60, 90)}..."}`) > 0, 'the search finds a leaked excerpt');
  const wsFound = piecesIn(all);
  t.equal(wsFound, 0, `none of the ${twilio.payloads.length} WebSocket frames' base64 payload appears in logs or events (16-character pieces)`);
  t.match(logs, /closing media stream on bad input/, 'the broken frame was logged (without its content)');
  const lineMax = Math.max(...logs.split('\n').map((l) => l.length));
  t.ok(lineMax < 8192, `longest log line ${lineMax} characters (no payload dumps)`);

  t.same(readdirSync(tmp), [], 'TMPDIR still empty after exit');
  t.same(readdirSync(cwd), [], 'the working directory still empty after exit');
  t.same(readdirSync(home), [], 'HOME still empty after exit (no ~/.cache/Microsoft/... telemetry store)');
});
