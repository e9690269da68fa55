/**
 * Shadow and canary as registry state: which candidate every serving node runs beside the serving
 * version of a channel, in the registry's Key-Value bucket next to `serving.<channel>`:
 *
 *   shadow.<channel>   {action: "shadow", channel, candidate: {name, version, sha256} | null, share, from, by, at}
 *   canary.<channel>   the same with action "canary"
 *
 * candidate null = off. `devox model shadow|canary` writes them (compare-and-set on the key's last
 * revision, audited on `<prefix>.model.audit` like promote and rollback); every `devox serve`
 * watching the registry starts, changes or stops its shadow scorer / canary routing live
 * (candidate-watcher.ts). The config's registry.shadow / registry.canary are start-up defaults
 * that apply to a channel until its key is written.
 */
import { cardBand } from '../detect/band.js';
import { RegistryError, type Channel, type ModelRegistry } from './registry.js';

export type CandidateKind = 'shadow' | 'canary';
export const CANDIDATE_KINDS: readonly CandidateKind[] = ['shadow', 'canary'];

export interface CandidateRef {
  name: string;
  version: string;
  /** model.onnx's sha256 (card.sha256): a pulled copy must hash to it. */
  sha256: string;
}

/** The value of `shadow.<channel>` / `canary.<channel>`. */
export interface CandidateEntry {
  action: CandidateKind;
  channel: Channel;
  /** null: off. */
  candidate: CandidateRef | null;
  /** Share of windows (shadow) or of new streams (canary); 0 when off. */
  share: number;
  /** The candidate before this entry, NAME@VERSION (null: none). */
  from: string | null;
  by: string;
  at: string;
}

export function candidateKey(kind: CandidateKind, channel: Channel): string {
  return `${kind}.${channel}`;
}

/** The entry for (kind, channel) and its KV revision; null when never written. */
export async function readCandidate(registry: ModelRegistry, kind: CandidateKind, channel: Channel): Promise<{ entry: CandidateEntry; revision: number } | null> {
  const e = await registry.kv.get(candidateKey(kind, channel));
  if (!e) return null;
  return { entry: JSON.parse(Buffer.from(e.value).toString('utf8')) as CandidateEntry, revision: e.revision };
}

export function refString(r: { name: string; version: string } | null | undefined): string | null {
  return r ? `${r.name}@${r.version}` : null;
}

/**
 * Sets (ref) or clears (null) the channel's shadow or canary. Refuses a version that is not
 * published, serves another band or is the one serving the channel, and a share outside (0, 1].
 */
export async function setCandidate(
  registry: ModelRegistry,
  kind: CandidateKind,
  channel: Channel,
  ref: { name: string; version: string } | null,
  share: number,
  by: string,
): Promise<CandidateEntry> {
  let candidate: CandidateRef | null = null;
  if (ref) {
    if (!(share > 0 && share <= 1)) throw new RegistryError('invalid', `--share must be in (0, 1], got ${share}`);
    const card = await registry.card(ref.name, ref.version);
    if (cardBand(card) !== channel) throw new RegistryError('invalid', `${ref.name}@${ref.version} serves ${cardBand(card)} (card band), not ${channel}`);
    const serving = await registry.serving(channel);
    if (serving && serving.entry.name === ref.name && serving.entry.version === ref.version) {
      throw new RegistryError('invalid', `${ref.name}@${ref.version} is the version serving ${channel}: a ${kind} must be another version`);
    }
    candidate = { name: ref.name, version: ref.version, sha256: card.sha256 };
  }
  const cur = await readCandidate(registry, kind, channel);
  const entry: CandidateEntry = {
    action: kind,
    channel,
    candidate,
    share: candidate ? share : 0,
    from: refString(cur?.entry.candidate),
    by,
    at: new Date().toISOString(),
  };
  try {
    await registry.kv.put(candidateKey(kind, channel), JSON.stringify(entry), cur?.revision ?? 0);
  } catch (err) {
    throw new RegistryError('conflict', `${candidateKey(kind, channel)} changed while this ${kind} change was prepared; try again (${(err as Error).message})`, { cause: err });
  }
  await registry.audit({ ...entry, name: candidate?.name ?? null, version: candidate?.version ?? null, off: candidate === null });
  return entry;
}
