/**
 * The offline side of speaker verification (devox enroll, devox analyze --claim): the speaker
 * model in this process, the configured enrolment store opened for one command, and a WindowSink
 * that keeps the speech windows a live leg would embed (every Nth, same speech rule) from a file
 * scored through the live path (commands/file-scorer.ts).
 */
import type { Config } from '../config.js';
import type { StreamDescriptor, WindowSink, WindowView } from '../media/types.js';
import { connectNats } from '../verdicts/nats-connection.js';
import type { VerdictLabel } from '../verdicts/types.js';
import { EmbeddingAccumulator } from './embedding-accumulator.js';
import { EnrolService, enrolmentPolicy } from './enrol-service.js';
import { openEnrolmentStore, type EnrolmentStore } from './enrolment-store.js';
import { decideIdentity } from './identity-policy.js';
import { speakerThreshold } from './speaker-service.js';
import { embedBatch, loadSpeakerModel, type LoadedSpeakerModel } from './speaker-model.js';
import type { IdentityDecision } from './types.js';

/** The store the config names, for one command: NATS KV (nats.servers), else speaker.storeDir; memory is refused. */
export async function openConfiguredStore(config: Readonly<Config>): Promise<EnrolmentStore> {
  if (config.nats.servers.length === 0 && config.speaker.storeDir === '') {
    throw new Error('no enrolment store: set nats.servers (DEVOX_NATS_SERVERS) for the JetStream KV bucket, or speaker.storeDir (DEVOX_SPEAKER_STORE_DIR) for files');
  }
  const nc = config.nats.servers.length > 0 ? await connectNats(config.nats) : null;
  return openEnrolmentStore({ nats: nc, ownsConnection: true, bucket: config.speaker.kvBucket, storeDir: config.speaker.storeDir });
}

/** Embeds rows × windowLength samples, `batch` rows at a time. */
export async function embedAll(model: LoadedSpeakerModel, windows: Float32Array, rows: number, batch = 32): Promise<Float32Array> {
  const out = new Float32Array(rows * model.dim);
  for (let r = 0; r < rows; r += batch) {
    const n = Math.min(batch, rows - r);
    out.set(await embedBatch(model, windows.subarray(r * model.windowLength, (r + n) * model.windowLength), n), r * model.dim);
  }
  return out;
}

export function offlineEnrolService(config: Readonly<Config>, model: LoadedSpeakerModel, store: EnrolmentStore): EnrolService {
  return new EnrolService({
    store,
    card: model.card,
    policy: enrolmentPolicy(config.speaker.enrol, model.card, config.verdict.minWindowSpeechRatio, config.window.speechThresholdDbfs),
    embed: (w, rows) => embedAll(model, w, rows),
  });
}

/** Keeps copies of the windows a live leg would embed (every Nth speech window). */
export class SpeakerWindowCollector implements WindowSink {
  readonly windows: Float32Array[] = [];
  #speech = 0;
  constructor(
    readonly everyNth: number,
    readonly minSpeechRatio: number,
  ) {}
  onStreamStart(_stream: StreamDescriptor): void {}
  onWindow(w: WindowView): void {
    if (w.speechRatio < this.minSpeechRatio) return;
    if (this.#speech++ % this.everyNth !== 0) return;
    const copy = new Float32Array(w.length);
    w.copyInto(copy, 0);
    this.windows.push(copy);
  }
  onStreamEnd(): void {}
}

/** The final identity decision of a file against the claim's enrolment (what a live leg would end with). */
export async function claimDecision(
  config: Readonly<Config>,
  model: LoadedSpeakerModel,
  store: EnrolmentStore,
  claim: string,
  windows: readonly Float32Array[],
  label: VerdictLabel,
): Promise<IdentityDecision | null> {
  const enrolment = await store.get(claim);
  const acc = new EmbeddingAccumulator(model.dim);
  if (windows.length > 0) {
    const block = new Float32Array(windows.length * model.windowLength);
    windows.forEach((w, i) => block.set(w, i * model.windowLength));
    const emb = await embedAll(model, block, windows.length);
    for (let i = 0; i < windows.length; i++) acc.add(emb, i);
  }
  return decideIdentity(
    { claim, enrolments: enrolment ? [enrolment] : [], acc, label, final: true },
    {
      threshold: speakerThreshold(config.speaker, model.card),
      minWindows: config.speaker.minWindows,
      modelVersion: model.card.version,
      verifyLabels: config.speaker.verifyDeepVoiceLabels,
    },
  );
}

export { loadSpeakerModel };
