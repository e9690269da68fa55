/**
 * A claimed identity arriving with a SIP call (issue 17): through the REAL CallRegistry and
 * MediaSessions (UDP ports bound on 127.0.0.1), stored SBC INVITEs, a pass-through header
 * (`X-Devox-Claim`, named in sip.passThroughHeaders) and the SIPREC participant AOR (mapped by
 * speaker.claimMap) become each leg's identity fields, and the embedded default claim rules turn
 * them into the claimed account. What a claimed leg then produces (identity.verified / mismatch on
 * JetStream) is test/speaker/identity-e2e.test.ts; the same INVITE through a real drachtio-server
 * and sipp is test/e2e/siprec-e2e.test.ts (skipped without DRACHTIO_BIN).
 */
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { MediaSessions } from '../../src/media/media-sessions.js';
import { createLogger } from '../../src/logger.js';
import { CallRegistry } from '../../src/signaling/sip/call-registry.js';
import { resolveClaim } from '../../src/speaker/claims.js';
import { loadSipFixture, variant } from '../helpers/sip-messages.js';
import { RecordingSink } from '../helpers/recording-sink.js';

const log = createLogger('silent');

function setup(passThroughHeaders: string[]) {
  const cfg = loadConfig({ env: {}, overrides: { media: { bindAddress: '127.0.0.1', rtpPortMin: 45200, rtpPortMax: 45299 } } });
  const media = new MediaSessions({ media: cfg.media, window: cfg.window, outputRate: 16000, sink: new RecordingSink(), log });
  const registry = new CallRegistry({ media, policy: { ...cfg.sip, passThroughHeaders }, address: '127.0.0.1', log });
  return { cfg, media, registry };
}

t.test('an X-Devox-Claim header named in sip.passThroughHeaders is every leg\'s claim', async (t) => {
  const { cfg, media, registry } = setup(['X-Devox-Claim']);
  t.teardown(() => media.closeAll());
  const req = variant(loadSipFixture('cisco-cube-siprec-invite.sip'), { headers: { 'X-Devox-Claim': 'acct-4711' } });
  const out = await registry.invite(req);
  t.equal(out.status, 200, 'the recording session is answered');
  const legs = out.call!.streams();
  t.equal(legs.length, 2, 'both legs');
  for (const leg of legs) {
    const identity = leg.session.descriptor.identity;
    t.equal(identity?.['X-Devox-Claim'], 'acct-4711', `${leg.session.descriptor.leg}: the header is an identity field`);
    t.same(resolveClaim(identity, cfg.speaker), { account: 'acct-4711', key: 'x-devox-claim' },
      `${leg.session.descriptor.leg}: the default claim rules read it (header names compare case-insensitively)`);
  }
  registry.bye(req.callId);
});

t.test('without the header, a SIPREC leg claims its participant AOR, mapped by speaker.claimMap', async (t) => {
  const { cfg, media, registry } = setup(['X-Devox-Claim']);
  t.teardown(() => media.closeAll());
  const req = loadSipFixture('cisco-cube-siprec-invite.sip');
  const out = await registry.invite(req);
  t.equal(out.status, 200);
  const aors = out.call!.streams().map((l) => l.session.descriptor.identity?.participantAor);
  t.same([...aors].sort(), ['sip:+14085550111@10.1.1.20', 'sip:7300@10.1.1.30'], 'each leg names its own participant (RS metadata)');
  const rules = { ...cfg.speaker, claimMap: { 'sip:7300@10.1.1.30': 'agent-7300' } };
  const claims = out.call!.streams().map((l) => resolveClaim(l.session.descriptor.identity, rules));
  t.same(claims.map((c) => c.account).sort(), ['14085550111', 'agent-7300'],
    'a mapped AOR becomes its account; an unmapped SIP URI its user part (the digits of a number)');
  t.ok(claims.every((c) => c.key === 'participantAor'), 'from the participantAor field');
  registry.bye(req.callId);
});

t.test('a header value that is no valid account name is no claim, and says so', async (t) => {
  const { cfg, media, registry } = setup(['X-Devox-Claim']);
  t.teardown(() => media.closeAll());
  const req = variant(loadSipFixture('plain-fork-invite.sip'), { headers: { 'X-Devox-Claim': 'not an account' } });
  const out = await registry.invite(req);
  t.equal(out.status, 200);
  const leg = out.call!.streams()[0]!;
  t.same(resolveClaim(leg.session.descriptor.identity, cfg.speaker), { account: null, key: 'x-devox-claim', invalid: 'not an account' });
  registry.bye(req.callId);
});
