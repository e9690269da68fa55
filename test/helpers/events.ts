/**
 * Reading DevoX events back the way an integrator would (JetStream over a real
 * nats-server), and validating them against schema/events.schema.json with ajv.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { projectRoot } from '../../src/config.js';
import type { DevoxEvent } from '../../src/verdicts/types.js';

export function eventValidator(): (e: unknown) => string | null {
  const schema = JSON.parse(readFileSync(resolve(projectRoot, 'schema/events.schema.json'), 'utf8'));
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  const validate = ajv.compile(schema);
  return (e) => (validate(e) ? null : ajv.errorsText(validate.errors));
}

export interface StoredEvent {
  subject: string;
  seq: number;
  msgId: string | undefined;
  event: DevoxEvent;
}

/** Every message of `stream` (optionally filtered), read with an ordered consumer from the start. */
export async function readStoredEvents(
  url: string,
  stream: string,
  filter?: string,
  auth: { user?: string; pass?: string } = {},
): Promise<StoredEvent[]> {
  const nc = await connect({ servers: url, ...auth });
  try {
    return await readWith(nc, stream, filter);
  } finally {
    await nc.close();
  }
}

export async function readWith(nc: NatsConnection, stream: string, filter?: string): Promise<StoredEvent[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, filter ? { subjects_filter: filter } : undefined);
  const total = filter ? Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0) : info.state.messages;
  const out: StoredEvent[] = [];
  if (total === 0) return out;
  const js = jetstream(nc);
  const c = await js.consumers.get(stream, filter ? { filter_subjects: filter } : {});
  while (out.length < total) {
    const batch = await c.fetch({ max_messages: Math.min(500, total - out.length), expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      out.push(toStored(m));
      got++;
    }
    if (got === 0) break;
  }
  return out;
}

export function toStored(m: JsMsg): StoredEvent {
  return { subject: m.subject, seq: m.seq, msgId: m.headers?.get('Nats-Msg-Id') || undefined, event: m.json<DevoxEvent>() };
}
