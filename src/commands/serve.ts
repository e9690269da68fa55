/**
 * devox serve — the server (see src/server.ts). Runs with the embedded defaults
 * (config/default.json): no NATS configured means events go to stdout as JSON lines,
 * logs go to stderr.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import type { OpenStreamRequest } from '../http/streams-api.js';
import { DevoxServer } from '../server.js';
import { launchedByNpm, watchParent } from '../parent-watch.js';

const USAGE = `usage: devox serve [options]

  --config FILE           operator config merged over config/default.json (or DEVOX_CONFIG)
  --model DIR             model directory (detect.modelDir; default models/devox-phone); alone,
                          it serves every stream
  --narrowband-model DIR  model for G.711 / 8 kHz streams (detect.narrowbandModelDir; default
                          models/devox-phone-nb unless --model is given)
  --http-host HOST        HTTP bind address for /metrics /healthz /readyz /streams (default 127.0.0.1);
                          off loopback the control API needs a token (DEVOX_HTTP_CONTROL_TOKEN or
                          DEVOX_HTTP_CONTROL_TOKEN_FILE), or DevoX refuses to start
  --http-port PORT        HTTP port (default 9464; 0 = any free port)
  --nats URL[,URL]        NATS servers (events on JetStream); none = JSON lines on stdout
  --no-window-events      events on stdout: leave out the per-window window.scored lines
                          (nats.stdoutWindowEvents false, or DEVOX_STDOUT_WINDOW_EVENTS=false)
  --open-stream SPEC      open an RTP stream at start-up without SIP (repeatable):
                          CODEC[:CALLID[:LEG]], CODEC = pcmu | pcma | l16 | opus;
                          its UDP port is printed on stderr. More streams: POST /streams.
  --log-level LEVEL       trace | debug | info | warn | error | fatal | silent
  -h, --help

Open a stream over HTTP and send a file to it (with a control token set, add
  -H "Authorization: Bearer $DEVOX_HTTP_CONTROL_TOKEN"):
  curl -s -XPOST localhost:9464/streams -d '{"codec":"PCMU","callId":"call-1","leg":"caller"}'
  devox send samples/genuine-librispeech.flac --codec pcmu --to 127.0.0.1:<port>
`;

export async function run(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        model: { type: 'string' },
        'http-host': { type: 'string' },
        'http-port': { type: 'string' },
        nats: { type: 'string' },
        'no-window-events': { type: 'boolean' },
        'open-stream': { type: 'string', multiple: true },
        'narrowband-model': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    process.stderr.write(`devox serve: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = args.values;
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const overrides: Record<string, Record<string, unknown>> = {};
  const set = (section: string, key: string, value: unknown): void => {
    (overrides[section] ??= {})[key] = value;
  };
  if (v.model !== undefined) {
    set('detect', 'modelDir', v.model);
    set('detect', 'narrowbandModelDir', v['narrowband-model'] ?? ''); // --model alone serves every band
  } else if (v['narrowband-model'] !== undefined) set('detect', 'narrowbandModelDir', v['narrowband-model']);
  if (v['http-host'] !== undefined) set('http', 'host', v['http-host']);
  if (v['http-port'] !== undefined) {
    if (!/^\d+$/.test(v['http-port'])) {
      process.stderr.write(`devox serve: --http-port: expected a port number, got ${JSON.stringify(v['http-port'])}\n`);
      return 2;
    }
    set('http', 'port', Number(v['http-port']));
  }
  if (v['no-window-events']) set('nats', 'stdoutWindowEvents', false);
  if (v.nats !== undefined) set('nats', 'servers', v.nats.split(',').map((s) => s.trim()).filter(Boolean));
  if (v['log-level'] !== undefined) set('log', 'level', v['log-level']);

  let streams: OpenStreamRequest[];
  try {
    streams = (v['open-stream'] ?? []).map(parseStreamSpec);
  } catch (err) {
    process.stderr.write(`devox serve: --open-stream: ${(err as Error).message}\n`);
    return 2;
  }

  let config;
  try {
    config = loadConfig({ file: v.config, overrides });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`devox serve: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const log = createLogger(config.log.level);
  let server: DevoxServer;
  try {
    server = await DevoxServer.start({ config, log });
  } catch (err) {
    // Said once: the structured fatal line (with the error's fields), or a plain line where logs are off.
    const why = (err as Error).message;
    if (log.isLevelEnabled('fatal')) log.fatal({ err }, `cannot start: ${why}`);
    else process.stderr.write(`devox serve: cannot start: ${why}\n`);
    return 1;
  }

  for (const req of streams) {
    try {
      const s = await server.openStream(req);
      process.stderr.write(
        `devox serve: RTP stream open: udp ${s.address}:${s.port} ${s.codec}/${s.clockRate} pt ${s.payloadType} call ${s.callId} leg ${s.leg} stream ${s.streamId}\n`,
      );
    } catch (err) {
      process.stderr.write(`devox serve: cannot open stream: ${(err as Error).message}\n`);
      await server.close();
      return 1;
    }
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    let unwatch = (): void => {};
    /** A signal, or 'parent_exited' (the npm that launched us is gone). */
    const stop = (signal: NodeJS.Signals | 'parent_exited'): void => {
      unwatch();
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting without finishing shutdown');
        resolve(1);
        setImmediate(() => process.exit(1));
        return;
      }
      stopping = true;
      if (signal === 'parent_exited') log.info({ reason: signal }, 'launching process (npm) exited: graceful shutdown');
      else log.info({ signal }, 'signal received: graceful shutdown');
      server.close().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // Under npm (`npm start`, `npx devox serve`) the launcher's end is ours: no orphan left running.
    if (launchedByNpm()) {
      unwatch = watchParent(() => stop('parent_exited'));
    }
  });
}

/** CODEC[:CALLID[:LEG]] */
export function parseStreamSpec(spec: string): OpenStreamRequest {
  const [codec, callId, leg, ...rest] = spec.split(':');
  if (rest.length > 0 || !codec) throw new Error(`expected CODEC[:CALLID[:LEG]], got ${JSON.stringify(spec)}`);
  const c = codec.toLowerCase();
  if (c !== 'pcmu' && c !== 'pcma' && c !== 'l16' && c !== 'opus') {
    throw new Error(`unknown codec ${JSON.stringify(codec)} (pcmu | pcma | l16 | opus)`);
  }
  return {
    codec: c === 'opus' ? 'opus' : (c.toUpperCase() as 'PCMU' | 'PCMA' | 'L16'),
    ...(callId ? { callId } : {}),
    ...(leg ? { leg } : {}),
  };
}
