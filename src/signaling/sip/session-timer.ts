/**
 * SIP session timers (RFC 4028) for the UAS side: what to answer to Session-Expires /
 * Min-SE, who refreshes, and when a session that was not refreshed must be ended.
 */
import { SipError } from './errors.js';
import type { SipRequestView } from './types.js';

export interface SessionTimerPolicy {
  /** Interval we ask for when the UAC supports timers but proposed none; 0 disables timers we start. */
  sessionExpiresSec: number;
  /** Smallest interval we accept (RFC 4028 floor: 90 s). */
  minSessionExpiresSec: number;
}

export interface SessionTimer {
  intervalSec: number;
  refresher: 'uac' | 'uas';
}

export type SessionTimerDecision =
  | { timer: SessionTimer | null; headers: Record<string, string> };

function supportsTimer(req: SipRequestView): boolean {
  const tokens = `${req.header('supported') ?? ''},${req.header('require') ?? ''}`;
  return /(^|[\s,])timer($|[\s,;])/i.test(tokens);
}

/**
 * Throws SipError 422 (with Min-SE) when the proposed interval is below our minimum
 * (RFC 4028 8.1); otherwise returns the timer to run and the 2xx headers announcing it.
 */
export function negotiateSessionTimer(req: SipRequestView, policy: SessionTimerPolicy): SessionTimerDecision {
  // 'x' is the RFC 4028 compact form of Session-Expires.
  const raw = req.header('session-expires') ?? req.header('x');
  const uacSupports = supportsTimer(req);
  if (raw === undefined) {
    if (!uacSupports || policy.sessionExpiresSec === 0) return { timer: null, headers: {} };
    const timer: SessionTimer = { intervalSec: policy.sessionExpiresSec, refresher: 'uac' };
    return { timer, headers: { 'Session-Expires': `${timer.intervalSec};refresher=uac`, Require: 'timer' } };
  }
  const m = /^\s*(\d{1,10})\s*(?:;(.*))?$/.exec(raw);
  if (!m) throw new SipError(400, 'Bad Request', 'rejected_bad_request', 'malformed Session-Expires header');
  const proposed = Number(m[1]);
  const minSe = Math.max(policy.minSessionExpiresSec, Number(/^\s*(\d{1,10})/.exec(req.header('min-se') ?? '')?.[1] ?? 0));
  if (proposed < policy.minSessionExpiresSec) {
    throw new SipError(422, 'Session Interval Too Small', 'rejected_session_interval',
      `Session-Expires ${proposed} below Min-SE ${policy.minSessionExpiresSec}`,
      { headers: { 'Min-SE': String(policy.minSessionExpiresSec) } });
  }
  // We may shorten the interval to our preference, never below either side's Min-SE.
  const intervalSec = policy.sessionExpiresSec > 0 ? Math.max(minSe, Math.min(proposed, policy.sessionExpiresSec)) : proposed;
  const asked = /refresher\s*=\s*(uac|uas)/i.exec(m[2] ?? '')?.[1]?.toLowerCase() as 'uac' | 'uas' | undefined;
  // Prefer the UAC (the SBC) refreshing: a recorder has nothing to renegotiate. Without
  // timer support on the UAC side only we can refresh (RFC 4028 9).
  const refresher: 'uac' | 'uas' = asked ?? (uacSupports ? 'uac' : 'uas');
  const headers: Record<string, string> = { 'Session-Expires': `${intervalSec};refresher=${refresher}` };
  if (refresher === 'uac') headers.Require = 'timer';
  return { timer: { intervalSec, refresher }, headers };
}

/** When the non-refresher ends a session that was not refreshed (RFC 4028 10): before expiry by min(32, SE/3). */
export function expiryDelayMs(timer: SessionTimer): number {
  return Math.max(1, timer.intervalSec - Math.min(32, timer.intervalSec / 3)) * 1000;
}
