/**
 * devox send <audio file> --to HOST:PORT --codec pcmu|pcma|opus|l16 [impairments]
 * Streams a file as real-time RTP (20 ms packets) and prints a JSON summary.
 */
import { parseArgs } from 'node:util';
import { clientControlToken, ConfigError } from '../config.js';
import { readAudioFile } from '../media/audio-file.js';
import { parseCodecName } from '../media/codecs.js';
import { UnsupportedCodecError } from '../media/errors.js';
import { sendAudio } from '../media/rtp-sender.js';
import { Progress } from './progress.js';

const USAGE = `usage: devox send <audio file> --to HOST:PORT [options]

  --codec pcmu|pcma|opus|l16   payload codec (default pcmu)
  --pt N                       payload type (default 0 / 8 / 111 opus / 96 l16)
  --ssrc N  --start-seq N  --start-ts N
  --ptime MS                   packet duration (default 20)
  --l16-rate HZ                L16 sample rate (default 16000)
  --loss P  --reorder P  --duplicate P   probabilities 0..1
  --jitter-ms MS               uniform extra delay per packet
  --seed N                     impairment PRNG seed (default 1)
  --no-realtime                send as fast as possible

On a terminal, a progress line (packets sent, elapsed, ETA) is drawn on stderr.
  --bye                        when the file is sent (or on Ctrl-C), end the DevoX stream that
                               listens at --to, through the control API (DELETE /streams): its
                               call.ended follows at once instead of after media.streamTimeoutMs
  --api URL                    DevoX HTTP API for --bye (default http://127.0.0.1:9464)
  --api-token TOKEN            control token for --bye (default: DEVOX_HTTP_CONTROL_TOKEN, or the
                               file named by DEVOX_HTTP_CONTROL_TOKEN_FILE); prefer the variables:
                               a flag is visible to every user of the machine in ps
`;

/** Ends, through the control API, the stream whose RTP port is `port`; returns its streamId. */
async function endStreamAt(api: string, port: number, token: string | undefined): Promise<string> {
  const base = api.replace(/\/+$/, '');
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let listed: { streams: Array<{ streamId: string; port: number }> };
  try {
    const res = await fetch(`${base}/streams`, { headers });
    if (res.status === 401) throw new Error(`GET /streams answered 401: ${unauthorizedHint(await res.text(), token)}`);
    if (!res.ok) throw new Error(`GET /streams answered ${res.status}`);
    listed = (await res.json()) as typeof listed;
  } catch (err) {
    throw new ByeError(`--bye: cannot list streams at ${base}: ${(err as Error).message}`);
  }
  const s = listed.streams.find((x) => x.port === port);
  if (!s) throw new ByeError(`--bye: no DevoX stream listens at port ${port} (${base}/streams)`);
  const res = await fetch(`${base}/streams?streamId=${encodeURIComponent(s.streamId)}`, { method: 'DELETE', headers });
  if (res.status === 401) throw new ByeError(`--bye: DELETE /streams answered 401: ${unauthorizedHint(await res.text(), token)}`);
  if (!res.ok) throw new ByeError(`--bye: DELETE /streams answered ${res.status} for stream ${s.streamId}`);
  return s.streamId;
}

/** Why the API refused us, from its JSON body, and what to do. */
function unauthorizedHint(body: string, token: string | undefined): string {
  let reason = 'unauthorized';
  try {
    reason = (JSON.parse(body) as { reason?: string }).reason ?? reason;
  } catch {
    // not JSON: keep the generic word
  }
  return token
    ? `${reason} (the token given by --api-token / DEVOX_HTTP_CONTROL_TOKEN is not the server's http.controlToken)`
    : `${reason} (the API needs its control token: --api-token or DEVOX_HTTP_CONTROL_TOKEN / DEVOX_HTTP_CONTROL_TOKEN_FILE)`;
}

class ByeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ByeError';
  }
}

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function num(name: string, v: string | undefined, min: number, max: number, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name}: expected ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

function parseTarget(v: string | undefined): { address: string; port: number } {
  if (!v) throw new UsageError('--to HOST:PORT is required');
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(v);
  if (!m) throw new UsageError(`--to: expected HOST:PORT, got ${JSON.stringify(v)}`);
  const port = num('to', m[2], 1, 65535, true)!;
  return { address: m[1]!, port };
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        to: { type: 'string' },
        codec: { type: 'string', default: 'pcmu' },
        pt: { type: 'string' },
        ssrc: { type: 'string' },
        'start-seq': { type: 'string' },
        'start-ts': { type: 'string' },
        ptime: { type: 'string' },
        'l16-rate': { type: 'string' },
        loss: { type: 'string' },
        reorder: { type: 'string' },
        duplicate: { type: 'string' },
        'jitter-ms': { type: 'string' },
        seed: { type: 'string' },
        'no-realtime': { type: 'boolean', default: false },
        bye: { type: 'boolean', default: false },
        api: { type: 'string', default: 'http://127.0.0.1:9464' },
        'api-token': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`devox send: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    if (positionals.length !== 1) throw new UsageError('expected exactly one audio file');
    const file = positionals[0]!;
    const to = parseTarget(values.to);
    const codec = parseCodecName(values.codec);
    const ptime = num('ptime', values.ptime, 10, 120, true) ?? 20;
    if (codec === 'opus' && ![10, 20, 40, 60].includes(ptime)) throw new UsageError('--ptime for opus must be 10, 20, 40 or 60');
    const opts = {
      to,
      codec,
      payloadType: num('pt', values.pt, 0, 127, true),
      ssrc: num('ssrc', values.ssrc, 0, 0xffffffff, true),
      startSeq: num('start-seq', values['start-seq'], 0, 65535, true),
      startTs: num('start-ts', values['start-ts'], 0, 0xffffffff, true),
      packetMs: ptime,
      l16Rate: num('l16-rate', values['l16-rate'], 8000, 48000, true),
      loss: num('loss', values.loss, 0, 1),
      reorder: num('reorder', values.reorder, 0, 1),
      duplicate: num('duplicate', values.duplicate, 0, 1),
      jitterMs: num('jitter-ms', values['jitter-ms'], 0, 10000),
      seed: num('seed', values.seed, 0, 0xffffffff, true),
      realtime: !values['no-realtime'],
    };
    const apiToken = values['api-token'] ?? (values.bye ? clientControlToken() : undefined);
    const audio = await readAudioFile(file);
    const ac = new AbortController();
    const onSigint = (): void => ac.abort();
    process.once('SIGINT', onSigint);
    // A progress line (packets sent, elapsed, ETA) on stderr when it is a terminal.
    let progress: Progress | undefined;
    try {
      const stats = await sendAudio(audio.samples, audio.sampleRate, {
        ...opts,
        signal: ac.signal,
        onSent: (sent, total) => {
          progress ??= Progress.start(total, process.stderr, 'send', 'packets');
          progress?.set(sent);
        },
      });
      progress?.stop();
      progress = undefined;
      const { droppedIndices: _dropped, ...summary } = stats;
      const ended = values.bye ? { ended: await endStreamAt(values.api, to.port, apiToken) } : {};
      process.stdout.write(JSON.stringify({ file, to: `${to.address}:${to.port}`, codec, ...summary, ...ended }) + '\n');
    } finally {
      progress?.stop();
      process.off('SIGINT', onSigint);
    }
    return 0;
  } catch (err) {
    if (err instanceof ByeError) {
      process.stderr.write(`devox send: ${err.message}\n`);
      return 1;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`devox send: ${err.message}\n`);
      return 2;
    }
    if (err instanceof UsageError || err instanceof UnsupportedCodecError) {
      process.stderr.write(`devox send: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}
