/**
 * devox feedback --call ID --verdict confirmed_synthetic|confirmed_genuine|unsure --operator WHO
 * Publishes one analyst feedback event on `<prefix>.feedback.<callToken>` (JetStream) and
 * prints where it was stored.
 */
import { parseArgs } from 'node:util';
import { natsCliConfig } from './nats-cli-config.js';
import { connectNats } from '../verdicts/nats-connection.js';
import { buildFeedback, FeedbackError, FEEDBACK_VERDICTS, publishFeedback } from '../verdicts/feedback.js';

const USAGE = `usage: devox feedback --call CALL_ID --verdict VERDICT --operator WHO [options]

  --verdict V        ${FEEDBACK_VERDICTS.join(' | ')}
  --leg LEG          the leg it is about (default: the whole call)
  --note TEXT        free text (at most 1,000 characters)
  --source NAME      where it comes from (default cli)
  --model-version V  the model version whose verdict was judged
  --config FILE      config file (nats.servers, credentials, subjectPrefix), else the defaults
                     and DEVOX_NATS_* variables
  --nats URL         NATS server(s), comma-separated; overrides nats.servers
`;

export async function run(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      options: {
        call: { type: 'string' },
        verdict: { type: 'string' },
        operator: { type: 'string' },
        leg: { type: 'string' },
        note: { type: 'string' },
        source: { type: 'string', default: 'cli' },
        'model-version': { type: 'string' },
        config: { type: 'string' },
        nats: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`devox feedback: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const str = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  let event;
  try {
    event = buildFeedback(
      Object.fromEntries(
        Object.entries({
          callId: str('call'),
          verdict: str('verdict'),
          operator: str('operator'),
          leg: str('leg'),
          note: str('note'),
          source: str('source'),
          modelVersion: str('model-version'),
        }).filter(([, x]) => x !== undefined),
      ),
    );
  } catch (err) {
    if (!(err instanceof FeedbackError)) throw err;
    process.stderr.write(`devox feedback: ${err.message}\n${USAGE}`);
    return 2;
  }
  const loaded = natsCliConfig(str('config'), str('nats'));
  if ('error' in loaded) {
    process.stderr.write(`devox feedback: ${loaded.error}\n`);
    return 2;
  }
  const cfg = loaded.config.nats;
  const nc = await connectNats(cfg).catch((err: Error) => err);
  if (nc instanceof Error) {
    process.stderr.write(`devox feedback: cannot connect to ${cfg.servers.join(',')}: ${nc.message}\n`);
    return 1;
  }
  try {
    const stored = await publishFeedback(nc, cfg.subjectPrefix, event);
    process.stdout.write(JSON.stringify({ stored, event }) + '\n');
    return 0;
  } catch (err) {
    if (!(err instanceof FeedbackError)) throw err;
    process.stderr.write(`devox feedback: ${err.message}\n`);
    return 1;
  } finally {
    await nc.close();
  }
}
