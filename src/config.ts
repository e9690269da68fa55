/**
 * The one place that reads configuration: config/default.json (embedded defaults),
 * an optional operator file (--config / DEVOX_CONFIG), then DEVOX_* environment
 * overrides. Validated once with zod; a bad key fails start-up with its path named.
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError, envOverrides, mergeConfig, readJson, resolveSecretFiles, type Env } from './config-env.js';
import { ConsoleConfigSchema, NodeConfigSchema } from './console/config-schema.js';
import { FeaturesConfigSchema, RegistryConfigSchema } from './registry/config-schema.js';
import { SpeakerConfigSchema } from './speaker/config-schema.js';

const port = z.number().int().min(1).max(65535);
/** A bearer token: empty (none) or long enough not to be guessed (e.g. `openssl rand -hex 32`). */
const secretToken = z
  .string()
  .refine((v) => v === '' || v.length >= 16, 'must be empty or at least 16 characters (e.g. openssl rand -hex 32)')
  .refine((v) => !/\s/.test(v), 'must not contain whitespace');

const ConfigSchema = z
  .object({
    node: NodeConfigSchema,
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
      })
      .strict(),
    media: z
      .object({
        /** Address the RTP sockets bind to. */
        bindAddress: z.string().min(1),
        /** Address announced in SDP answers (defaults to bindAddress when empty). */
        announceAddress: z.string(),
        rtpPortMin: port,
        rtpPortMax: port,
        /** A POST /streams stream that receives nothing for this long ends itself; a SIP leg is reported silent and kept. */
        streamTimeoutMs: z.number().int().min(100),
        /** Packets held to put reordered ones back in place before they are decoded. */
        reorderDepthPackets: z.number().int().min(0).max(50),
        /**
         * Largest forward jump (in packets) still treated as loss rather than a new stream. At most
         * 32767: 16-bit sequence differences are only defined within half the number space.
         */
        maxSequenceJump: z.number().int().min(10).max(32767),
        /** Largest accepted UDP datagram. */
        maxPacketBytes: z.number().int().min(64).max(65535),
        /**
         * Live streams across every ingress (RTP, WebSocket legs, WebRTC); the next one is refused
         * (SIP 503, WebSocket/WebRTC close 1013, HTTP 503). Size it from `npm run bench` on the
         * target machine (docs/benchmarks.md: ~425 real-time streams on 2 cores).
         */
        maxStreams: z.number().int().min(1),
      })
      .strict(),
    window: z
      .object({
        /** Window length in seconds; must match the model card's window. */
        lengthSec: z.number().positive().max(10),
        /** Hop between successive windows of one stream. */
        hopMs: z.number().int().min(10).max(10000),
        /** RMS level (dBFS) above which a 20 ms frame counts as speech. */
        speechThresholdDbfs: z.number().max(0),
      })
      .strict(),
    detect: z
      .object({
        /** Directory holding model.onnx and card.json: the primary model (serves every band without its own). */
        modelDir: z.string().min(1),
        /** Model for narrowband streams (G.711, 8 kHz L16); empty: the primary model serves them too. */
        narrowbandModelDir: z.string(),
        /** Execution providers in order of preference: cuda is used only when present. */
        executionProviders: z.array(z.enum(['cuda', 'cpu'])).min(1),
        maxBatchSize: z.number().int().min(1).max(4096),
        maxBatchWaitMs: z.number().min(0).max(1000),
        /** Windows waiting longer than this are shed (oldest first). */
        maxQueueDelayMs: z.number().int().min(1),
        /** Full batches that may wait behind the one in flight (memory cap: (1 + this) × maxBatchSize windows). */
        maxQueuedBatches: z.number().int().min(1).max(256),
        /** A batch still running after this long is abandoned: its worker is replaced, its windows shed. */
        inferenceTimeoutMs: z.number().int().min(1),
        intraOpThreads: z.number().int().min(0),
      })
      .strict(),
    verdict: z
      .object({
        /** Speech seconds needed before any verdict other than listening. */
        minSpeechSec: z.number().min(0),
        /** Speech ratio (0..1) a window needs to count as evidence. */
        minWindowSpeechRatio: z.number().min(0).max(1),
        /** Seconds without enough speech after which the stream is insufficient_speech. */
        insufficientSpeechAfterSec: z.number().min(0),
        /** Weight of each new speech window in the evidence (bias-corrected EMA of log-odds); 0.05 ≈ the last ~20 windows (5 s). */
        evidenceAlpha: z.number().gt(0).max(1),
        /** Margin added/subtracted around card thresholds to leave a label (hysteresis). */
        hysteresis: z.number().min(0).max(0.5),
        /** Publish a per-window score event for every scored window. */
        publishWindowEvents: z.boolean(),
      })
      .strict(),
    nats: z
      .object({
        /** Empty: no NATS; events go to stdout as JSON lines. */
        servers: z.array(z.string()),
        /** Events on stdout (no servers): false leaves out the per-window window.scored lines (NATS is unaffected). */
        stdoutWindowEvents: z.boolean(),
        user: z.string(),
        pass: z.string(),
        token: z.string(),
        /** JWT user credentials file (`nsc generate creds`: the user JWT and its nkey seed); decentralised auth. */
        credsFile: z.string(),
        /** File holding the user's nkey seed (`SU...`); the server knows only its public key. */
        nkeySeedFile: z.string(),
        /** TLS to the server: empty paths use the system CAs (a server that requires TLS is still met with TLS). */
        tls: z
          .object({
            /** PEM CA bundle that signed the server certificate. */
            caFile: z.string(),
            /** PEM client certificate and its key for mutual TLS (both or neither). */
            certFile: z.string(),
            keyFile: z.string(),
          })
          .strict(),
        subjectPrefix: z.string().min(1),
        stream: z.string().min(1),
        /** Events kept in memory while NATS is unreachable; the oldest are dropped beyond it. */
        maxBufferedEvents: z.number().int().min(0),
        /** Age after which JetStream discards events (stream max_age, set when the stream is created). */
        streamMaxAgeSec: z.number().int().min(1),
      })
      .strict(),
    registry: RegistryConfigSchema,
    features: FeaturesConfigSchema,
    http: z
      .object({
        host: z.string(),
        port: z.number().int().min(0).max(65535),
        /**
         * Bearer token the control API (POST/GET/DELETE /streams) requires. Empty: the API is open,
         * which start-up allows only while http.host is a loopback address.
         */
        controlToken: secretToken,
        /** File holding the control token (read at start; instead of controlToken). */
        controlTokenFile: z.string(),
        /** Bearer token /metrics requires (the control token is accepted too); empty: /metrics is open. */
        metricsToken: secretToken,
        /** File holding the metrics token (instead of metricsToken). */
        metricsTokenFile: z.string(),
        /** /healthz and /readyz require the metrics or the control token too (open by default, for probes). */
        protectHealth: z.boolean(),
      })
      .strict(),
    /** Who is speaking (docs/speaker.md): enrolment and verification of a claimed identity per leg. */
    speaker: SpeakerConfigSchema,
    sip: z
      .object({
        enabled: z.boolean(),
        drachtioHost: z.string(),
        drachtioPort: port,
        drachtioSecret: z.string(),
        /** CIDRs allowed to send INVITEs. */
        allowedNetworks: z.array(z.string()),
        maxConcurrentCalls: z.number().int().min(1),
        /** SIP headers copied into every event of the call (e.g. X-Original-Call-ID). */
        passThroughHeaders: z.array(z.string()),
        /** Audio streams one call may record; more gets 488 (SIPREC sends one per leg). */
        maxStreamsPerCall: z.number().int().min(1).max(64),
        /** Largest INVITE/UPDATE body accepted (413 above). */
        maxBodyBytes: z.number().int().min(1024),
        /** Largest rs-metadata+xml part parsed; a bigger one is ignored (participants unknown). */
        maxMetadataBytes: z.number().int().min(256),
        /** Retry-After on 503 (over capacity, no RTP port). */
        retryAfterSec: z.number().int().min(1).max(3600),
        /** RFC 4028 interval asked for when the SBC supports timers; 0: none of our own. */
        sessionExpiresSec: z.number().int().min(0),
        /** Smallest Session-Expires accepted (422 below); RFC 4028 floor is 90. */
        minSessionExpiresSec: z.number().int().min(1),
        /** Cap of drachtio-srf's reconnect backoff to drachtio-server (150 ms x 1.7 per attempt). */
        reconnectMaxMs: z.number().int().min(10),
        /** Optional digest authentication of INVITEs (RFC 8760/2617, MD5); empty username: off. */
        digestRealm: z.string(),
        digestUsername: z.string(),
        digestPassword: z.string(),
      })
      .strict(),
    websocket: z
      .object({
        enabled: z.boolean(),
        /** Bearer tokens accepted on media stream upgrades; empty refuses all. */
        tokens: z.array(z.string()),
        maxStreamsPerToken: z.number().int().min(1),
        /** HMAC-SHA256 key for signed media URLs (`?auth=<exp>.<sig>`); empty disables signed URLs. */
        signingSecret: z.string(),
        /** Longest lifetime accepted for a signed URL (expiry further ahead is refused). */
        maxSignedUrlTtlSec: z.number().int().min(1),
        /** Media stream paths live under this prefix (/media/twilio, /media/telnyx, /media/audio-fork, /media/jambonz). */
        pathPrefix: z.string().regex(/^\/[A-Za-z0-9._~\/-]*[^/]$/, 'must start with / and not end with /'),
        /** A connection that sends nothing for this long is closed (1008). */
        idleTimeoutMs: z.number().int().min(100),
        /** Largest audio frame accepted, in ms of audio (bigger frames close with 1009). */
        maxFrameMs: z.number().int().min(10).max(1000),
        /** Largest WebSocket message in bytes (checked by ws before it is buffered). */
        maxMessageBytes: z.number().int().min(1024).max(16777216),
        /** Out-of-order frames (Twilio/Telnyx) held per leg to put them back in place before a gap counts as loss. */
        reorderFrames: z.number().int().min(0).max(50),
        /** How far media time may run ahead of wall-clock time before the client counts as faster than real time. */
        realtimeSlackMs: z.number().int().min(0),
        /** Time from upgrade to the first metadata/start message. */
        startTimeoutMs: z.number().int().min(100),
      })
      .strict(),
    webrtc: z
      .object({
        /** Serve /webrtc (page + signaling) when mediasoup and its worker are present; DevoX starts without it otherwise. */
        enabled: z.boolean(),
        /** mediasoup workers; 0 = one per CPU core. */
        workers: z.number().int().min(0).max(256),
        /** Address the WebRTC (ICE/DTLS) sockets bind to. */
        listenIp: z.string().min(1),
        /** Address announced in ICE candidates (defaults to listenIp when empty). */
        announcedAddress: z.string(),
        rtcMinPort: port,
        rtcMaxPort: port,
        /** Page at <path>, signaling WebSocket at <path>/signal (same auth as media streams). */
        path: z.string().regex(/^\/[A-Za-z0-9._~\/-]*[^/]$/, 'must start with / and not end with /'),
        /** Concurrent browser sessions. */
        maxSessions: z.number().int().min(1),
        /** Time from the signaling socket's open to the page's offer; the session ends (1008) without one. */
        offerTimeoutMs: z.number().int().min(100).max(600000),
        /** Time from the answer to ICE connected and DTLS connected (UDP blocked, a vanished browser). */
        connectTimeoutMs: z.number().int().min(100).max(600000),
        /** How long ICE may stay `disconnected` (mediasoup: no consent checks for 30 s) before the session ends. */
        iceDisconnectedGraceMs: z.number().int().min(0).max(600000),
        /** Signaling WebSocket ping interval; a socket that misses one pong is dead. No RTP for media.streamTimeoutMs also ends a session. */
        pingIntervalMs: z.number().int().min(100).max(600000),
        /** A dead mediasoup worker is respawned after this, doubled for each consecutive failure (a worker dying young, a failed spawn). */
        respawnDelayMs: z.number().int().min(10).max(600000),
        /** Cap of that backoff; a worker that lived this long resets it. */
        respawnMaxDelayMs: z.number().int().min(10).max(3600000),
      })
      .strict(),
    console: ConsoleConfigSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.media.rtpPortMin > c.media.rtpPortMax) {
      ctx.addIssue({ code: 'custom', path: ['media', 'rtpPortMin'], message: 'must be <= media.rtpPortMax' });
    } else if (c.media.rtpPortMin + (c.media.rtpPortMin % 2) + 1 > c.media.rtpPortMax) {
      // RTP on an even port, RTCP on the next one (RFC 3550 11): the range must hold one such pair.
      ctx.addIssue({ code: 'custom', path: ['media', 'rtpPortMax'],
        message: 'media.rtpPortMin..rtpPortMax must contain an even RTP port and the RTCP port after it' });
    }
    if (isUnspecifiedAddress(c.media.bindAddress) && c.media.announceAddress === '') {
      // An SDP answer (and a POST /streams reply) would carry c=IN IP4 0.0.0.0, which peers read as hold.
      ctx.addIssue({ code: 'custom', path: ['media', 'announceAddress'],
        message: `media.bindAddress ${c.media.bindAddress} (DEVOX_BIND_ADDRESS) listens on every interface but is no address a peer can send to: ` +
          'set media.announceAddress (DEVOX_ANNOUNCE_ADDRESS) to the address peers send RTP to; without it SDP answers would say ' +
          `c=IN IP4 ${c.media.bindAddress} (read as hold)` });
    } else if (isUnspecifiedAddress(c.media.announceAddress)) {
      ctx.addIssue({ code: 'custom', path: ['media', 'announceAddress'],
        message: `${c.media.announceAddress} is no address a peer can send RTP to (c=0.0.0.0 reads as hold): announce a routable address` });
    }
    if (!isLoopbackHost(c.http.host) && c.http.controlToken === '') {
      // Anyone reaching the port could list calls, fill media.maxStreams or end an analysis.
      ctx.addIssue({ code: 'custom', path: ['http', 'controlToken'],
        message: `http.host ${JSON.stringify(c.http.host)} (DEVOX_HTTP_HOST, --http-host) is reachable from other machines but the control API ` +
          '(POST/GET/DELETE /streams) has no token: set http.controlToken or http.controlTokenFile (DEVOX_HTTP_CONTROL_TOKEN or ' +
          'DEVOX_HTTP_CONTROL_TOKEN_FILE; e.g. openssl rand -hex 32), or bind http.host to 127.0.0.1' });
    }
    if (c.sip.enabled && c.sip.drachtioSecret === DRACHTIO_DEFAULT_SECRET && !isLoopbackHost(c.sip.drachtioHost)) {
      ctx.addIssue({ code: 'custom', path: ['sip', 'drachtioSecret'],
        message: `drachtio-server at ${c.sip.drachtioHost} with the well-known default secret "${DRACHTIO_DEFAULT_SECRET}": set the same secret ` +
          'on both sides (DRACHTIO_SECRET or DRACHTIO_SECRET_FILE; e.g. openssl rand -hex 24); whoever reaches its admin port controls every call' });
    }
    const natsAuth = [
      c.nats.user !== '' && 'nats.user', c.nats.token !== '' && 'nats.token', c.nats.credsFile !== '' && 'nats.credsFile',
      c.nats.nkeySeedFile !== '' && 'nats.nkeySeedFile',
    ].filter((k): k is string => k !== false);
    if (natsAuth.length > 1) {
      ctx.addIssue({ code: 'custom', path: ['nats', 'credsFile'], message: `set one NATS authentication, not ${natsAuth.join(' and ')}` });
    }
    if ((c.nats.tls.certFile === '') !== (c.nats.tls.keyFile === '')) {
      ctx.addIssue({ code: 'custom', path: ['nats', 'tls', c.nats.tls.certFile === '' ? 'certFile' : 'keyFile'],
        message: 'nats.tls.certFile and nats.tls.keyFile go together (the client certificate and its key)' });
    }
    if (c.webrtc.rtcMinPort > c.webrtc.rtcMaxPort) {
      ctx.addIssue({ code: 'custom', path: ['webrtc', 'rtcMinPort'], message: 'must be <= webrtc.rtcMaxPort' });
    }
    if (c.webrtc.respawnDelayMs > c.webrtc.respawnMaxDelayMs) {
      ctx.addIssue({ code: 'custom', path: ['webrtc', 'respawnDelayMs'], message: 'must be <= webrtc.respawnMaxDelayMs' });
    }
    if (c.console.enabled && c.console.source === 'nats' && c.nats.servers.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['console', 'source'], message: '"nats" (the fleet view) needs nats.servers' });
    }
    if (c.speaker.enrolSubject === c.nats.subjectPrefix || c.speaker.enrolSubject.startsWith(`${c.nats.subjectPrefix}.`)) {
      ctx.addIssue({ code: 'custom', path: ['speaker', 'enrolSubject'],
        message: `must not be under ${c.nats.subjectPrefix}.> (nats.subjectPrefix): the JetStream event stream would store the enrolment audio` });
    }
    if (c.window.hopMs > c.window.lengthSec * 1000) {
      ctx.addIssue({ code: 'custom', path: ['window', 'hopMs'], message: 'must be <= window.lengthSec * 1000' });
    }
  });

/** A wildcard ("any") address: bindable, never a destination (0.0.0.0, ::). */
function isUnspecifiedAddress(a: string): boolean {
  const bare = a.startsWith('[') && a.endsWith(']') ? a.slice(1, -1) : a;
  if (isIPv4(bare)) return bare.split('.').every((o) => Number(o) === 0);
  if (isIPv6(bare)) return /^[0:]+$/.test(bare);
  return false;
}

/** drachtio-server's documented example secret (config/default.json keeps it for the one-box default). */
const DRACHTIO_DEFAULT_SECRET = 'cymru';

/** True for an address only this machine can reach (127.0.0.0/8, ::1, localhost); '' (every interface) is not. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  if (isIP(bare) === 4) return bare.split('.')[0] === '127';
  if (isIP(bare) === 6) return /^(0{0,4}:){2,7}0{0,3}1$/.test(bare) || /^::ffff:127\./i.test(bare);
  return false;
}

export type Config = z.infer<typeof ConfigSchema>;

export { clientControlToken, ConfigError, mergeConfig } from './config-env.js';

/** Repository root (src/ or dist/ are one level below). */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const defaultConfigPath = resolve(projectRoot, 'config', 'default.json');

export interface LoadConfigOptions {
  /** Operator config file merged over the embedded defaults. */
  file?: string;
  /** Extra overrides (e.g. from CLI flags or tests), merged last. */
  overrides?: unknown;
  env?: Env;
}

/** Validate a complete config object; throws ConfigError naming the first bad key. */
export function validateConfig(raw: unknown): Readonly<Config> {
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    const extra =
      issue.code === 'unrecognized_keys' ? ` (${(issue as { keys: string[] }).keys.join(', ')})` : '';
    throw new ConfigError(key, `${issue.message}${extra}`);
  }
  return deepFreeze(parsed.data);
}

export function loadConfig(opts: LoadConfigOptions = {}): Readonly<Config> {
  const env = opts.env ?? process.env;
  let raw = readJson(defaultConfigPath);
  // The embedded default model ships with the project: found from any working directory.
  // (A directory given by a config file, env or flag is taken as given, relative to the cwd.)
  const embedded = raw as { detect: { modelDir: string; narrowbandModelDir: string }; speaker: { modelDir: string } };
  raw = mergeConfig(raw, {
    detect: {
      modelDir: resolve(projectRoot, embedded.detect.modelDir),
      narrowbandModelDir: embedded.detect.narrowbandModelDir ? resolve(projectRoot, embedded.detect.narrowbandModelDir) : '',
    },
    speaker: { modelDir: resolve(projectRoot, embedded.speaker.modelDir) },
  });
  const file = opts.file ?? env.DEVOX_CONFIG;
  if (file) raw = mergeConfig(raw, readJson(resolve(file)));
  raw = mergeConfig(raw, envOverrides(env));
  if (opts.overrides !== undefined) raw = mergeConfig(raw, opts.overrides);
  raw = resolveSecretFiles(raw);
  // node.id empty: this host's name (what an operator sees in events and the console).
  if ((raw as { node?: { id?: unknown } }).node?.id === '') raw = mergeConfig(raw, { node: { id: hostname() } });
  return validateConfig(raw);
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
