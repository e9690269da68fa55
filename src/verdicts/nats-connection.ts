/**
 * The NATS side of publishing: connecting with the configured credentials (user/password, token,
 * a JWT creds file or an nkey seed file; TLS with a private CA and an optional client
 * certificate), and making sure the JetStream stream `nats.stream` captures `<prefix>.>` (created
 * when missing, our subjects added when it exists without them). Failures at start become a
 * NatsPublisherError saying what is wrong (credentials, TLS, reachability, JetStream, permissions).
 */
import { readFileSync } from 'node:fs';
import {
  AuthorizationError,
  connect,
  credsAuthenticator,
  nanos,
  nkeyAuthenticator,
  nkeys,
  PermissionViolationError,
  type Authenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { jetstreamManager, JetStreamApiError, StorageType, JetStreamApiCodes } from '@nats-io/jetstream';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { NatsPublisherError } from './publisher.js';

/** JetStream de-duplicates re-sends by Nats-Msg-Id within this window. */
const DUPLICATE_WINDOW_MS = 120_000;

/**
 * The authenticator for a creds or nkey seed file, read again on every (re)connect so a rotated
 * file is picked up without a restart. Checked once here so a wrong file fails start-up saying so;
 * the secret itself is never put in an error or a log line.
 */
function fileAuthenticator(cfg: Config['nats']): Authenticator | undefined {
  const servers = cfg.servers;
  const read = (key: string, path: string): Uint8Array => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new NatsPublisherError('credentials', servers, `${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
        cause: err,
      });
    }
  };
  if (cfg.credsFile) {
    const text = Buffer.from(read('nats.credsFile', cfg.credsFile)).toString('utf8');
    if (!/-----BEGIN NATS USER JWT-----/.test(text) || !/-----BEGIN USER NKEY SEED-----/.test(text)) {
      throw new NatsPublisherError('credentials', servers, `nats.credsFile: ${cfg.credsFile} is not a NATS creds file (a user JWT and its nkey seed, as nsc generate creds writes)`);
    }
    return credsAuthenticator(() => read('nats.credsFile', cfg.credsFile));
  }
  if (cfg.nkeySeedFile) {
    const seed = (): Uint8Array => new TextEncoder().encode(Buffer.from(read('nats.nkeySeedFile', cfg.nkeySeedFile)).toString('utf8').trim());
    let ok = false;
    try {
      ok = nkeys.fromSeed(seed()).getPublicKey().startsWith('U');
    } catch {
      ok = false;
    }
    if (!ok) throw new NatsPublisherError('credentials', servers, `nats.nkeySeedFile: ${cfg.nkeySeedFile} does not hold a user nkey seed (one line starting "SU")`);
    return nkeyAuthenticator(seed);
  }
  return undefined;
}

/** The connect options for the configured servers, credentials and TLS (nats.js reconnects by itself). */
export function natsConnectOptions(cfg: Config['nats']): NodeConnectionOptions {
  const authenticator = fileAuthenticator(cfg);
  const { caFile, certFile, keyFile } = cfg.tls;
  const tls = caFile || certFile ? { ...(caFile ? { caFile } : {}), ...(certFile ? { certFile, keyFile } : {}) } : undefined;
  return {
    servers: [...cfg.servers],
    name: 'devox',
    ...(cfg.user ? { user: cfg.user, pass: cfg.pass } : {}),
    ...(cfg.token ? { token: cfg.token } : {}),
    ...(authenticator ? { authenticator } : {}),
    ...(tls ? { tls } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: false,
    timeout: 5000,
  };
}

/** Connects (nats.js reconnects by itself from then on); a bad creds/nkey file rejects with NatsPublisherError. */
export async function connectNats(cfg: Config['nats']): Promise<NatsConnection> {
  return connect(natsConnectOptions(cfg));
}

/** Creates the JetStream stream, or adds our subjects to an existing one. */
export async function ensureStream(nc: NatsConnection, cfg: Config['nats'], log: Logger): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const subject = `${cfg.subjectPrefix}.>`;
  try {
    const info = await jsm.streams.info(cfg.stream);
    const subjects = info.config.subjects ?? [];
    if (!subjects.includes(subject)) {
      await jsm.streams.update(cfg.stream, { ...info.config, subjects: [...subjects, subject] });
      log.warn({ stream: cfg.stream, subject }, 'JetStream stream existed without our subjects; added them');
    }
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add({
      name: cfg.stream,
      subjects: [subject],
      storage: StorageType.File,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      max_age: nanos(cfg.streamMaxAgeSec * 1000),
    });
    log.info({ stream: cfg.stream, subject }, 'created JetStream stream');
  }
}

/** Connects and ensures the stream; NatsPublisherError naming the cause when either fails. */
export async function openJetStream(cfg: Config['nats'], log: Logger): Promise<NatsConnection> {
  const servers = cfg.servers;
  let nc: NatsConnection;
  try {
    nc = await connectNats(cfg);
  } catch (err) {
    if (err instanceof NatsPublisherError) throw err;
    throw classifyConnectError(err, cfg);
  }
  try {
    await ensureStream(nc, cfg, log);
  } catch (err) {
    await nc.close().catch(() => undefined);
    if (err instanceof PermissionViolationError) {
      throw new NatsPublisherError('permission', servers, `not permitted to manage stream ${cfg.stream}: ${err.message}`, { cause: err });
    }
    throw new NatsPublisherError(
      'jetstream',
      servers,
      `cannot create or update JetStream stream ${cfg.stream} over ${cfg.subjectPrefix}.> (is JetStream enabled, -js?): ${(err as Error).message}`,
      { cause: err },
    );
  }
  return nc;
}

/** The settings that say how we authenticate, for messages. */
function authMethod(cfg: Config['nats']): string {
  if (cfg.credsFile) return `nats.credsFile ${cfg.credsFile} (DEVOX_NATS_CREDS_FILE)`;
  if (cfg.nkeySeedFile) return `nats.nkeySeedFile ${cfg.nkeySeedFile} (DEVOX_NATS_NKEY_SEED_FILE)`;
  if (cfg.user) return `nats.user ${JSON.stringify(cfg.user)} / nats.pass (DEVOX_NATS_USER / DEVOX_NATS_PASS)`;
  if (cfg.token) return 'nats.token (DEVOX_NATS_TOKEN)';
  return 'no credentials (set nats.user/pass, nats.token, nats.credsFile or nats.nkeySeedFile)';
}

/** The messages of an error and its causes, joined (TLS failures arrive wrapped). */
function causeChain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, i = 0; e instanceof Error && i < 5; e = e.cause, i++) parts.push(e.message);
  return parts.join(': ') || String(err);
}

function classifyConnectError(err: unknown, cfg: Config['nats']): NatsPublisherError {
  const servers = cfg.servers;
  const chain = causeChain(err);
  if (err instanceof AuthorizationError || /authoriz|authenticat/i.test(chain)) {
    return new NatsPublisherError('auth', servers, `the server refused our credentials: ${authMethod(cfg)}`, { cause: err });
  }
  if (/certificate|self[- ]signed|\bTLS\b|SSL|handshake|ERR_TLS|UNABLE_TO_VERIFY|CERT_/i.test(chain)) {
    const { caFile, certFile } = cfg.tls;
    return new NatsPublisherError(
      'tls',
      servers,
      `TLS failed (${chain}); server CA: ${caFile ? `nats.tls.caFile ${caFile}` : 'the system CAs (set nats.tls.caFile / DEVOX_NATS_TLS_CA_FILE for a private CA)'}, ` +
        `client certificate: ${certFile ? `nats.tls.certFile ${certFile}` : 'none (nats.tls.certFile / keyFile when the server verifies clients)'}`,
      { cause: err },
    );
  }
  // A server that requires client certificates (tls verify) drops a client without one: we see a timeout.
  const hint = cfg.tls.caFile && !cfg.tls.certFile && /timeout/i.test(chain) ? ' (if the server verifies clients, set nats.tls.certFile / keyFile)' : '';
  return new NatsPublisherError('unreachable', servers, `cannot connect: ${chain}${hint}`, { cause: err });
}
