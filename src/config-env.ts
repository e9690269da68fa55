/**
 * Where config values come from besides the JSON files: the DEVOX_* environment overrides (and
 * their `<NAME>_FILE` secret variants), secret files named by config keys, and the JSON reading and
 * merging src/config.ts builds the one config from. Hand-written: a flat table of variables is
 * clearer to operators than a general env-to-config mapper.
 */
import { readFileSync } from 'node:fs';

export class ConfigError extends Error {
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super(`config: ${key}: ${message}`, options);
    this.name = 'ConfigError';
    this.key = key;
  }
}

export type Env = Record<string, string | undefined>;

type EnvKind = 'string' | 'int' | 'number' | 'bool' | 'list';

/**
 * The deployment knobs that can be set from the environment, with the config key they set.
 * A `secret` one may instead be read from a file named by `<NAME>_FILE` (Docker/Kubernetes secrets):
 * its content, without the trailing newline; setting both is an error.
 */
const ENV_OVERRIDES: ReadonlyArray<readonly [string, string, EnvKind, 'secret'?]> = [
  ['DEVOX_NODE_ID', 'node.id', 'string'],
  ['DEVOX_LOG_LEVEL', 'log.level', 'string'],
  ['DEVOX_CONSOLE_SOURCE', 'console.source', 'string'],
  ['DEVOX_BIND_ADDRESS', 'media.bindAddress', 'string'],
  ['DEVOX_ANNOUNCE_ADDRESS', 'media.announceAddress', 'string'],
  ['DEVOX_RTP_PORT_MIN', 'media.rtpPortMin', 'int'],
  ['DEVOX_RTP_PORT_MAX', 'media.rtpPortMax', 'int'],
  ['DEVOX_STREAM_TIMEOUT_MS', 'media.streamTimeoutMs', 'int'],
  ['DEVOX_HOP_MS', 'window.hopMs', 'int'],
  ['DEVOX_MODEL_DIR', 'detect.modelDir', 'string'],
  ['DEVOX_NARROWBAND_MODEL_DIR', 'detect.narrowbandModelDir', 'string'],
  ['DEVOX_EXECUTION_PROVIDERS', 'detect.executionProviders', 'list'],
  ['DEVOX_MAX_BATCH_SIZE', 'detect.maxBatchSize', 'int'],
  ['DEVOX_MAX_BATCH_WAIT_MS', 'detect.maxBatchWaitMs', 'number'],
  ['DEVOX_NATS_SERVERS', 'nats.servers', 'list'],
  ['DEVOX_NATS_USER', 'nats.user', 'string'],
  ['DEVOX_NATS_PASS', 'nats.pass', 'string', 'secret'],
  ['DEVOX_NATS_TOKEN', 'nats.token', 'string', 'secret'],
  ['DEVOX_NATS_CREDS_FILE', 'nats.credsFile', 'string'],
  ['DEVOX_NATS_NKEY_SEED_FILE', 'nats.nkeySeedFile', 'string'],
  ['DEVOX_NATS_TLS_CA_FILE', 'nats.tls.caFile', 'string'],
  ['DEVOX_NATS_TLS_CERT_FILE', 'nats.tls.certFile', 'string'],
  ['DEVOX_NATS_TLS_KEY_FILE', 'nats.tls.keyFile', 'string'],
  ['DEVOX_STDOUT_WINDOW_EVENTS', 'nats.stdoutWindowEvents', 'bool'],
  ['DEVOX_MAX_STREAMS', 'media.maxStreams', 'int'],
  ['DEVOX_HTTP_HOST', 'http.host', 'string'],
  ['DEVOX_HTTP_PORT', 'http.port', 'int'],
  ['DEVOX_HTTP_CONTROL_TOKEN', 'http.controlToken', 'string', 'secret'],
  ['DEVOX_HTTP_METRICS_TOKEN', 'http.metricsToken', 'string', 'secret'],
  ['DEVOX_HTTP_PROTECT_HEALTH', 'http.protectHealth', 'bool'],
  ['DEVOX_SIP_ENABLED', 'sip.enabled', 'bool'],
  ['DRACHTIO_HOST', 'sip.drachtioHost', 'string'],
  ['DRACHTIO_PORT', 'sip.drachtioPort', 'int'],
  ['DRACHTIO_SECRET', 'sip.drachtioSecret', 'string', 'secret'],
  ['DEVOX_SIP_ALLOWED_NETWORKS', 'sip.allowedNetworks', 'list'],
  ['DEVOX_SIP_MAX_CALLS', 'sip.maxConcurrentCalls', 'int'],
  ['DEVOX_SIP_DIGEST_USERNAME', 'sip.digestUsername', 'string'],
  ['DEVOX_SIP_DIGEST_PASSWORD', 'sip.digestPassword', 'string', 'secret'],
  ['DEVOX_WS_TOKENS', 'websocket.tokens', 'list', 'secret'],
  ['DEVOX_WS_SIGNING_SECRET', 'websocket.signingSecret', 'string', 'secret'],
  ['DEVOX_SPEAKER_ENABLED', 'speaker.enabled', 'bool'],
  ['DEVOX_SPEAKER_MODEL_DIR', 'speaker.modelDir', 'string'],
  ['DEVOX_SPEAKER_STORE_DIR', 'speaker.storeDir', 'string'],
  ['DEVOX_SPEAKER_HTTP_TOKENS', 'speaker.httpTokens', 'list', 'secret'],
];

/** Config keys naming a file whose content is the value of a secret key (read at load). */
export const SECRET_FILE_KEYS: ReadonlyArray<readonly [fileKey: string, valueKey: string]> = [
  ['http.controlTokenFile', 'http.controlToken'],
  ['http.metricsTokenFile', 'http.metricsToken'],
];

/** Config keys naming files DevoX reads at start (checked readable at load, so the error names the key). */
export const READ_AT_START_KEYS = ['nats.credsFile', 'nats.nkeySeedFile', 'nats.tls.caFile', 'nats.tls.certFile', 'nats.tls.keyFile'];

/** The content of a secret file without its trailing newline; ConfigError naming `key` when unreadable or empty. */
export function readSecretFile(key: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(key, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const value = text.replace(/\r?\n$/, '');
  if (value.trim() === '') throw new ConfigError(key, `${path} is empty`);
  return value;
}

export function getPath(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const k of path.split('.')) cur = isPlainObject(cur) ? cur[k] : undefined;
  return cur;
}

function parseEnvValue(name: string, raw: string, kind: EnvKind): unknown {
  switch (kind) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `expected an integer, got ${JSON.stringify(raw)}`);
      return Number(raw);
    }
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new ConfigError(name, `expected a number, got ${JSON.stringify(raw)}`);
      return n;
    }
    case 'bool': {
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new ConfigError(name, `expected true/false, got ${JSON.stringify(raw)}`);
    }
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    default:
      return raw;
  }
}

export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (typeof next !== 'object' || next === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge where arrays and scalars in `over` replace those in `base`. */
export function mergeConfig(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeConfig(base[k], v);
  return out;
}

export function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, 'cannot read config file', { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The control token a client (devox send --bye) sends: DEVOX_HTTP_CONTROL_TOKEN, or the file named
 * by DEVOX_HTTP_CONTROL_TOKEN_FILE; undefined when neither is set. The server's variables, so one
 * export serves both on the same box.
 */
export function clientControlToken(env: Env = process.env): string | undefined {
  const file = env.DEVOX_HTTP_CONTROL_TOKEN_FILE;
  if (file) return readSecretFile('DEVOX_HTTP_CONTROL_TOKEN_FILE', file);
  return env.DEVOX_HTTP_CONTROL_TOKEN || undefined;
}

/** The environment's overrides as a partial config (ConfigError naming the variable when one is malformed). */
export function envOverrides(env: Env): Record<string, unknown> {
  const fromEnv: Record<string, unknown> = {};
  for (const [name, path, kind, secret] of ENV_OVERRIDES) {
    let v = env[name];
    const file = secret ? env[`${name}_FILE`] : undefined;
    if (file !== undefined && file !== '') {
      if (v !== undefined && v !== '') throw new ConfigError(name, `set ${name} or ${name}_FILE, not both`);
      v = readSecretFile(`${name}_FILE`, file);
    }
    if (v !== undefined && v !== '') setPath(fromEnv, path, parseEnvValue(name, v, kind));
  }
  return fromEnv;
}

/** `raw` with each secret file (SECRET_FILE_KEYS) read into its key; files read at start checked readable. */
export function resolveSecretFiles(raw: unknown): unknown {
  for (const [fileKey, valueKey] of SECRET_FILE_KEYS) {
    const file = getPath(raw, fileKey);
    if (typeof file !== 'string' || file === '') continue;
    if (getPath(raw, valueKey) !== '') throw new ConfigError(fileKey, `set ${valueKey} or ${fileKey}, not both`);
    raw = structuredClone(raw); // setPath must not write into a caller's overrides object
    setPath(raw as Record<string, unknown>, valueKey, readSecretFile(fileKey, file));
  }
  for (const key of READ_AT_START_KEYS) {
    const file = getPath(raw, key);
    if (typeof file === 'string' && file !== '') readSecretFile(key, file);
  }
  return raw;
}
