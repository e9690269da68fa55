/**
 * The per-leg speaker evidence (EmbeddingAccumulator) and the identity decision rules
 * (identity-policy.ts), and claims from the identity fields signaling sets (claims.ts).
 */
import t from 'tap';
import { cosine, EmbeddingAccumulator, normalize } from '../../src/speaker/embedding-accumulator.js';
import { resolveClaim } from '../../src/speaker/claims.js';
import { decideIdentity } from '../../src/speaker/identity-policy.js';
import type { EnrolmentRecord } from '../../src/speaker/types.js';

const unit = (...v: number[]): Float32Array => normalize(Float32Array.from(v));

t.test('the accumulator keeps the mean direction of unit embeddings', async (t) => {
  const acc = new EmbeddingAccumulator(3);
  t.equal(acc.count, 0);
  t.equal(acc.mean(), null, 'no mean before the first window');
  t.equal(acc.cosine(unit(1, 0, 0)), 0, 'cosine 0 before the first window');
  const block = new Float32Array([...unit(1, 0, 0), ...unit(0, 1, 0), ...unit(1, 1, 0)]);
  acc.add(block, 0);
  acc.add(block, 1);
  t.equal(acc.count, 2);
  const m = acc.mean()!;
  t.ok(Math.abs(m[0]! - Math.SQRT1_2) < 1e-6 && Math.abs(m[1]! - Math.SQRT1_2) < 1e-6 && m[2] === 0, 'mean of x and y is the diagonal');
  t.ok(Math.abs(acc.cosine(unit(1, 1, 0)) - 1) < 1e-6, 'cosine with the diagonal is 1');
  t.ok(Math.abs(acc.cosine(unit(0, 0, 1))) < 1e-9, 'orthogonal: 0');
  acc.add(block, 2);
  t.ok(Math.abs(acc.cosine(unit(1, 1, 0)) - 1) < 1e-6, 'adding the diagonal keeps the direction');
  t.ok(Math.abs(cosine([2, 0], [5, 0]) - 1) < 1e-9, 'cosine is scale-free');
  t.equal(cosine([0, 0], [1, 0]), 0, 'cosine of a zero vector is 0');
});

t.test('claims: first configured key wins, schemes dropped, map applied, invalid names refused', async (t) => {
  const rules = { claimKeys: ['x-devox-claim', 'param.claim', 'participantAor'], claimMap: { 'alice@bank.example': 'acct-001' } };
  t.same(resolveClaim({ 'param.claim': 'acct-7', participantAor: 'sip:bob@x' }, rules), { account: 'acct-7', key: 'param.claim' });
  t.same(resolveClaim({ participantAor: 'sip:alice@bank.example' }, rules), { account: 'acct-001', key: 'participantAor' });
  t.same(resolveClaim({ participantAor: 'tel:+15551234' }, rules), { account: '15551234', key: 'participantAor' }, 'tel URI: its digits');
  t.same(resolveClaim({ participantAor: 'sip:carol@pbx.example;user=phone' }, rules), { account: 'carol', key: 'participantAor' }, 'SIP URI: its user part');
  t.same(resolveClaim({ participantAor: 'unknown' }, rules), { account: null, key: null }, 'SIPREC "unknown" is no claim');
  t.same(resolveClaim({ 'x-devox-claim': 'a b' }, rules), { account: null, key: 'x-devox-claim', invalid: 'a b' });
  t.same(resolveClaim(undefined, rules), { account: null, key: null });
  t.same(resolveClaim({ 'X-Devox-Claim': 'acct-9' }, rules), { account: 'acct-9', key: 'x-devox-claim' }, 'keys compare case-insensitively (SIP pass-through headers)');
});

const rec = (account: string, embedding: number[], modelVersion = '1.0.0'): EnrolmentRecord => ({
  account, embedding, modelName: 'devox-speaker', modelVersion, createdAt: '2026-01-01T00:00:00.000Z', speechSec: 10, segments: 2, minSegmentCosine: 0.9,
});

t.test('identity policy: never verified while synthetic; thresholds; insufficient speech; 1:N', async (t) => {
  const o = { threshold: 0.5, minWindows: 2, modelVersion: '1.0.0', verifyLabels: ['genuine'] as const };
  const acc = new EmbeddingAccumulator(2);
  const alice = rec('alice', [1, 0]);
  const decide = (label: Parameters<typeof decideIdentity>[0]['label'], final = false, enrolments = [alice], claim = 'alice') =>
    decideIdentity({ claim, enrolments, acc, label, final }, o);
  t.equal(decide('genuine'), null, 'no windows yet: no decision');
  t.match(decide('genuine', true), { kind: 'identity.insufficient_speech', reason: 'too_little_speech', final: true });
  acc.add(Float32Array.from([1, 0]), 0);
  acc.add(Float32Array.from([0.8, 0.6]), 0);
  t.match(decide('genuine'), { kind: 'identity.verified', reason: 'voice_matches', account: 'alice', windows: 2 });
  t.match(decide('synthetic'), { kind: 'identity.mismatch', reason: 'synthetic_voice', deepVoiceLabel: 'synthetic' }, 'a matching voice judged synthetic is a mismatch');
  t.equal(decide('listening'), null, 'matching voice, deep-voice verdict pending: wait');
  t.match(decide('suspicious', true), { kind: 'identity.mismatch', reason: 'suspicious_voice' }, 'strict rule: suspicious at the end is a mismatch');
  t.equal(decide('suspicious'), null, 'strict rule: a matching voice under suspicion waits');
  t.match(decideIdentity({ claim: 'alice', enrolments: [alice], acc, label: 'suspicious', final: false }, { ...o, verifyLabels: ['genuine', 'suspicious'] }), { kind: 'identity.verified' }, 'default rule: suspicious (not synthetic) may be verified');
  t.match(decideIdentity({ claim: 'alice', enrolments: [alice], acc, label: 'synthetic', final: false }, { ...o, verifyLabels: ['genuine', 'suspicious'] }), { kind: 'identity.mismatch', reason: 'synthetic_voice' }, 'never verified while synthetic, whatever the rule');
  t.match(decide('listening', true), { kind: 'identity.insufficient_speech', reason: 'deep_voice_undecided' });
  t.match(decideIdentity({ claim: 'alice', enrolments: [rec('alice', [0, 1])], acc, label: 'genuine', final: false }, o), { kind: 'identity.mismatch', reason: 'voice_differs' });
  t.match(decide('genuine', false, []), { kind: 'identity.mismatch', reason: 'not_enrolled', score: null });
  t.match(decide('genuine', false, [rec('alice', [1, 0], '0.9.0')]), { kind: 'identity.mismatch', reason: 'enrolment_model_changed' });
  const bob = rec('bob', [0, 1]);
  t.match(decide('genuine', false, [bob, alice], ''), { kind: 'identity.verified', reason: 'identified', account: 'alice', claim: '' }, '1:N picks the best account');
  t.match(decideIdentity({ claim: '', enrolments: [bob], acc, label: 'genuine', final: false }, o), { kind: 'identity.mismatch', reason: 'not_identified', claim: '' });
});
