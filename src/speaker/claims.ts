/**
 * The claimed identity of a leg, from the identity fields signaling already puts on every
 * StreamDescriptor: a SIP header named in sip.passThroughHeaders (its lower-case name), the
 * SIPREC / INVITE participant (`participantAor`), Twilio `customParameters` (`param.<name>`),
 * audio_fork / jambonz metadata fields, WebRTC page metadata. speaker.claimKeys lists the keys
 * to look at, first match wins; speaker.claimMap maps a raw value (e.g. an AOR) to an account.
 * speaker.claimMap is looked up with the raw value first; otherwise a SIP / tel URI becomes its
 * user part (`sip:alice@bank.example` -> `alice`, `tel:+1555` -> `1555`). A value that is still no
 * valid account name (enrolment.ts: NATS KV key characters) is no claim (and is logged).
 */
import { isAccount } from './enrolment.js';

export interface ClaimRules {
  claimKeys: readonly string[];
  claimMap: Readonly<Record<string, string>>;
}

export type ClaimResult = { account: string; key: string } | { account: null; key: string | null; invalid?: string };

export function resolveClaim(identity: Readonly<Record<string, string>> | undefined, rules: ClaimRules): ClaimResult {
  if (!identity) return { account: null, key: null };
  // Keys compare case-insensitively (a SIP header keeps the case sip.passThroughHeaders gives it).
  const lower = new Map(Object.entries(identity).map(([k, v]) => [k.toLowerCase(), v]));
  for (const key of rules.claimKeys) {
    const raw = identity[key] ?? lower.get(key.toLowerCase());
    if (raw === undefined || raw.trim() === '' || raw === 'unknown') continue;
    const v = raw.trim();
    const user = /^(sips?|tel):/i.test(v) ? v.replace(/^(sips?|tel):/i, '').replace(/[@;].*$/, '').replace(/^\+/, '') : v;
    const account = rules.claimMap[v] ?? rules.claimMap[v.replace(/^(sips?|tel):/i, '')] ?? user;
    if (!isAccount(account)) return { account: null, key, invalid: raw };
    return { account, key };
  }
  return { account: null, key: null };
}
