/**
 * The NATS side of publishing: connecting with the configured credentials, and making sure
 * the JetStream stream `nats.stream` captures `<prefix>.>` (created when missing, our subjects
 * added when it exists without them). Failures at start become a NatsPublisherError saying
 * what is wrong (credentials, reachability, JetStream, permissions).
 */
import { AuthorizationError, connect, nanos, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, JetStreamApiError, StorageType, JetStreamApiCodes } from '@nats-io/jetstream';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { NatsPublisherError } from './publisher.js';

/** JetStream de-duplicates re-sends by Nats-Msg-Id within this window. */
const DUPLICATE_WINDOW_MS = 120_000;

/** Connects (nats.js reconnects by itself from then on). */
export function connectNats(cfg: Config['nats']): Promise<NatsConnection> {
  return connect({
    servers: [...cfg.servers],
    name: 'devox',
    ...(cfg.user ? { user: cfg.user, pass: cfg.pass } : {}),
    ...(cfg.token ? { token: cfg.token } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: false,
    timeout: 5000,
  });
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
    throw classifyConnectError(err, servers);
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

function classifyConnectError(err: unknown, servers: readonly string[]): NatsPublisherError {
  if (err instanceof AuthorizationError || /authoriz|authenticat/i.test(String((err as Error)?.message))) {
    return new NatsPublisherError(
      'auth',
      servers,
      'the server refused our credentials (check nats.user / nats.pass / nats.token or DEVOX_NATS_USER / DEVOX_NATS_PASS / DEVOX_NATS_TOKEN)',
      { cause: err },
    );
  }
  return new NatsPublisherError('unreachable', servers, `cannot connect: ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
  });
}
