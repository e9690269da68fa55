/**
 * Subjects per call, built once per call instead of escaping the call id for every event;
 * an entry goes when the call's last leg ends (and the cache is bounded regardless).
 */
import { callIdToToken } from './events.js';
import { SUBJECT_TOKEN, type DevoxEvent } from './types.js';

/** Calls remembered at most; past it the cache starts over. */
const MAX_CALLS = 10_000;

export class SubjectCache {
  readonly #prefix: string;
  readonly #calls = new Map<string, Record<string, string>>();

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  subject(event: DevoxEvent): string {
    let subjects = this.#calls.get(event.callId);
    if (!subjects) {
      if (this.#calls.size >= MAX_CALLS) this.#calls.clear();
      const base = `${this.#prefix}.call.${callIdToToken(event.callId)}.`;
      subjects = {};
      for (const [type, token] of Object.entries(SUBJECT_TOKEN)) subjects[type] = base + token;
      this.#calls.set(event.callId, subjects);
    }
    const subject = subjects[event.type]!;
    if (event.type === 'call.ended' && event.lastLeg) this.#calls.delete(event.callId);
    return subject;
  }
}
