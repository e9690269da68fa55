/**
 * SIPREC end to end through a REAL drachtio-server: sipp (test/fixtures/sipp/siprec-uac.xml) is the
 * SBC; it pings OPTIONS, sends a two-stream SIPREC INVITE to drachtio-server, which hands it
 * to DevoX's drachtio-srf app; the test streams real speech as RTP (genuine on label 1,
 * synthetic on label 2) to the two ports of the 200 OK; sipp hangs up with BYE. Asserted:
 * per-leg events (call.started, window.scored, verdict.changed, call.ended) on a real
 * nats-server carrying the SIP identity, and every RTP port freed after BYE.
 *
 * drachtio-server cannot be installed from this machine's registries: the test runs when
 * DRACHTIO_BIN (or `drachtio` on PATH) is present and otherwise skips, saying so.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sdpTransform from 'sdp-transform';
import { sendAudio } from '../../src/media/rtp-sender.js';
import type { SipApp } from '../../src/signaling/sip/sip-app.js';
import type { DevoxEvent } from '../../src/verdicts/types.js';
import { loadAudio, metricValue, scrape, startTestServer } from '../helpers/devox-server.js';
import { readStoredEvents } from '../helpers/events.js';
import { NatsServer, freePort } from '../helpers/nats-server.js';
import { DRACHTIO_SKIP_REASON, DrachtioServer, findDrachtio } from '../helpers/drachtio-server.js';
import { GENUINE_FILE, SIPP_SCENARIO, SYNTHETIC_FILE } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

const drachtioBin = findDrachtio();
// DRACHTIO_BIN set to something that is not there is a broken set-up, not a machine without drachtio.
t.test('DRACHTIO_BIN, when set, names an existing binary', { skip: process.env.DRACHTIO_BIN ? false : 'DRACHTIO_BIN not set' }, async (t) => {
  t.ok(drachtioBin, `DRACHTIO_BIN=${process.env.DRACHTIO_BIN} exists`);
});

function exited(p: ChildProcess): Promise<number | null> {
  return p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.once('exit', (code) => r(code)));
}

/** The SDP of the 200 OK to sipp's INVITE, from sipp's -trace_msg message file. */
function answerFromSippLog(text: string): string | undefined {
  for (const block of text.split(/^-{10,}.*$/m)) {
    const start = block.indexOf('SIP/2.0 200 OK');
    if (start < 0 || !/CSeq:\s*2 INVITE/i.test(block)) continue;
    const msg = block.slice(start);
    const split = /\r?\n\r?\n/.exec(msg);
    if (split) return msg.slice(split.index + split[0].length).trim();
  }
  return undefined;
}

t.test('SIPREC call from sipp through drachtio-server: per-leg verdict events on NATS, BYE frees every port',
  { skip: drachtioBin ? false : DRACHTIO_SKIP_REASON }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'devox-siprec-e2e-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const nats = await NatsServer.start();
    t.teardown(() => nats.close());

    const drachtio = await DrachtioServer.start(drachtioBin!, await freePort(), await freePort());
    t.teardown(async () => {
      await drachtio.close();
      // What the real server saw is the first thing to read when this test fails.
      if (!t.passing()) t.comment(`drachtio-server log:\n${drachtio.log}`);
    });

    // The server's own wiring (src/server.ts) starts the SIP app because sip.enabled is true.
    const server = await startTestServer({
      nats: { servers: [nats.url] },
      sip: { enabled: true, drachtioHost: '127.0.0.1', drachtioPort: drachtio.adminPort, drachtioSecret: drachtio.secret,
        allowedNetworks: ['127.0.0.0/8'], reconnectMaxMs: 500 },
    });
    t.teardown(() => server.close());
    const sip: SipApp = server.sip!;
    t.ok(sip, 'sip.enabled starts the SIP app');
    try {
      await sip.waitReady(15_000);
    } catch (err) {
      t.fail(`DevoX did not connect to drachtio-server: ${(err as Error).message}\n${drachtio.log}`);
      return;
    }
    t.equal(sip.readiness(), true, 'ready once connected to drachtio-server');
    const readyz = (await (await fetch(`${server.http.url}/readyz`)).json()) as { checks: Record<string, unknown> };
    t.equal(readyz.checks.sip, true, '/readyz reports the drachtio connection');

    const messages = join(dir, 'sipp-messages.log');
    const sippPort = await freePort();
    const sipp = spawn('sipp', [
      `127.0.0.1:${drachtio.sipPort}`, '-sf', SIPP_SCENARIO, '-m', '1', '-i', '127.0.0.1', '-p', String(sippPort),
      '-mp', String(await freePort()), '-nostdin', '-trace_msg', '-message_file', messages,
      '-timeout', '60s', '-timeout_error', '-d', '9000',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let sippErr = '';
    sipp.stderr!.on('data', (d: Buffer) => (sippErr += d.toString()));
    t.teardown(() => {
      if (sipp.exitCode === null) sipp.kill('SIGKILL');
    });

    let answer: string | undefined;
    await waitFor(() => {
      answer = existsSync(messages) ? answerFromSippLog(readFileSync(messages, 'utf8')) : undefined;
      return answer !== undefined;
    }, 15_000, 'the 200 OK to the SIPREC INVITE');
    const sdp = sdpTransform.parse(answer!);
    t.same(sdp.media.map((m) => [String(m.label), m.direction]), [['1', 'recvonly'], ['2', 'recvonly']]);
    t.equal(server.media.size, 2, 'one media session per SIPREC stream');
    const ports = sdp.media.map((m) => m.port);
    const address = sdp.connection!.ip;

    const genuine = await loadAudio(GENUINE_FILE, 6);
    const synthetic = await loadAudio(SYNTHETIC_FILE, 6);
    const sent = await Promise.all([
      sendAudio(genuine.samples, genuine.sampleRate, { codec: 'PCMU', payloadType: 0, to: { address, port: ports[0]! } }),
      sendAudio(synthetic.samples, synthetic.sampleRate, { codec: 'PCMU', payloadType: 0, to: { address, port: ports[1]! } }),
    ]);
    t.ok(sent.every((s) => s.sent > 100), 'real speech sent as RTP to both legs');

    const code = await exited(sipp);
    t.equal(code, 0, `sipp completed the call (OPTIONS, INVITE, ACK, BYE)\n${sippErr}`);
    await waitFor(() => server.media.size === 0 && sip.registry.size === 0, 5_000, 'every port released after BYE');
    t.equal(sip.counters.accepted, 1);
    t.equal(sip.counters.byes, 1);
    const metrics = await scrape(server);
    t.equal(metricValue(metrics, 'devox_sip_events_total', 'event="accepted"'), 1, 'SIP counters exported');
    t.equal(metricValue(metrics, 'devox_sip_connected'), 1);

    let events: DevoxEvent[] = [];
    await waitFor(async () => {
      events = (await readStoredEvents(nats.url, server.config.nats.stream)).map((e) => e.event);
      return events.filter((e) => e.type === 'call.ended').length >= 2;
    }, 15_000, 'call.ended for both legs on NATS');
    for (const [leg, aor, name] of [['1', 'sip:+15550100@carrier.example.com', 'Caller'], ['2', 'sip:agent42@callcenter.example.com', 'Agent 42']]) {
      const mine = events.filter((e) => e.leg === leg);
      const types = new Set(mine.map((e) => e.type));
      t.ok(types.has('call.started') && types.has('window.scored') && types.has('verdict.changed') && types.has('call.ended'),
        `leg ${leg}: started, scored, verdict, ended (${[...types].join(', ')})`);
      const id = mine[0]!.identity;
      t.equal(id.participantAor, aor, `leg ${leg} participant`);
      t.equal(id.participantName, name);
      t.equal(id.siprecSessionId, 'ZGV2b3gtZTJlLXNlc3Npb24=');
      t.match(id.sipCallId, /@127\.0\.0\.1$/);
      t.match(id['X-Original-Call-ID'], /^orig-/);
    }
  });

t.test('short SIPREC calls in a burst (BYE right behind ACK): every call ends and frees its ports',
  { skip: drachtioBin ? false : DRACHTIO_SKIP_REASON }, async (t) => {
    // Regression: drachtio-srf dispatches all messages of one TCP read synchronously, so a BYE
    // read together with the "200 sent" reply reached the dialog before listeners attached
    // after `await createUAS()` existed; drachtio-srf answered 200, but the call kept its ports.
    const drachtio = await DrachtioServer.start(drachtioBin!, await freePort(), await freePort());
    t.teardown(async () => {
      await drachtio.close();
      if (!t.passing()) t.comment(`drachtio-server log (tail):\n${drachtio.log.slice(-20_000)}`);
    });
    const server = await startTestServer({
      sip: { enabled: true, drachtioHost: '127.0.0.1', drachtioPort: drachtio.adminPort, drachtioSecret: drachtio.secret,
        allowedNetworks: ['127.0.0.0/8'], reconnectMaxMs: 500 },
      media: { streamTimeoutMs: 60_000 }, // only BYE may release these ports within the test
    });
    t.teardown(() => server.close());
    const sip: SipApp = server.sip!;
    await sip.waitReady(15_000);

    const calls = 200;
    const sipp = spawn('sipp', [
      `127.0.0.1:${drachtio.sipPort}`, '-sf', SIPP_SCENARIO, '-r', '100', '-m', String(calls), '-d', '0',
      '-i', '127.0.0.1', '-p', String(await freePort()), '-nostdin', '-timeout', '60s', '-timeout_error',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let sippErr = '';
    sipp.stderr!.on('data', (d: Buffer) => (sippErr += d.toString()));
    t.teardown(() => {
      if (sipp.exitCode === null) sipp.kill('SIGKILL');
    });
    t.equal(await exited(sipp), 0, `sipp completed ${calls} calls, each BYE answered 200\n${sippErr}`);
    await waitFor(() => sip.registry.size === 0 && server.media.size === 0, 5_000, 'every call ended by its BYE')
      .catch(() => undefined);
    t.equal(sip.registry.size, 0, 'no call left in the registry');
    t.equal(server.media.size, 0, 'no RTP port left allocated');
    t.equal(sip.counters.accepted, calls);
    t.equal(sip.counters.byes, calls, 'every BYE reached the call');
    t.equal(sip.counters.streams_released, sip.counters.streams_allocated);
  });
