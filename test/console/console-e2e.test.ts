/**
 * The supervisor console end to end: a real DevoX (shipped model), a real nats-server, two real
 * RTP calls (the genuine and the synthetic sample), a real Twilio Media Streams call over
 * WebSocket (two tracks: one sample each) and headless Chromium signing in:
 * a refused and an accepted sign-in, both calls appearing live with their labels and moving
 * sparklines, a filter and a search, the alert of a transition acknowledged and assigned, the
 * detail view, and "confirmed fake" reaching JetStream as a schema-valid feedback event. The
 * labels asserted are those the events say (the shipped model's labels are not hard-coded);
 * listen-in is shown disabled with its reason. Screenshots go to .tap/console/.
 */
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Browser } from 'playwright-core';
import { projectRoot } from '../../src/config.js';
import { parseFeedback } from '../../src/verdicts/feedback.js';
import type { CallEndedEvent, DevoxEvent, VerdictChangedEvent } from '../../src/verdicts/types.js';
import { CHROMIUM_BIN, CHROMIUM_MISSING, launchChromium } from '../helpers/chromium.js';
import { sendFile, startTestServer } from '../helpers/devox-server.js';
import { readStoredEvents } from '../helpers/events.js';
import { NatsServer, NEEDS_NATS } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/wait.js';
import { screenshot, signIn, SUPERVISOR, tableRows, testOperators, VIEWER } from '../helpers/console.js';
import { closed, ffmpegRaw, openClient, streamTwilio, TOKEN } from '../signaling/websocket/harness.js';

const GENUINE = resolve(projectRoot, 'samples/genuine-librispeech.flac');
const SYNTHETIC = resolve(projectRoot, 'samples/synthetic-ljspeech-espnet.flac');
const skip = !CHROMIUM_BIN ? CHROMIUM_MISSING : NEEDS_NATS;

const feedbackSchema = JSON.parse(readFileSync(resolve(projectRoot, 'schema/feedback.schema.json'), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const validateFeedback = ajv.compile(feedbackSchema);

t.test('console: sign-in, live calls, filter, alert, detail, feedback to NATS', { skip }, async (t) => {
  const nats = await NatsServer.start();
  t.teardown(() => nats.close());
  const auditFile = join(mkdtempSync(join(tmpdir(), 'devox-console-')), 'audit.jsonl');
  const server = await startTestServer({
    node: { id: 'node-e2e' },
    nats: { servers: [nats.url] },
    websocket: { tokens: [TOKEN] },
    // Listen-in needs WebRTC (console-listen.test.ts); here it is off, and the page says why.
    webrtc: { enabled: false },
    console: { operators: await testOperators(), auditFile, endedRetentionSec: 600 },
  });
  t.teardown(() => server.close());
  const browser: Browser = await launchChromium();
  t.teardown(() => browser.close());
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await ctx.newPage();
  const url = `${server.http.url}/console`;

  // --- sign-in refused, then accepted ---
  await page.goto(url);
  await signIn(page, { name: SUPERVISOR.name, password: 'not the password' }, true);
  t.match(await page.textContent('#login-error'), /wrong name or password/, 'a wrong password is refused on the page');
  await screenshot(page, '01-login-refused');
  await signIn(page, SUPERVISOR);
  t.equal(await page.textContent('#operator'), `${SUPERVISOR.name} · supervisor`);
  const cookie = (await ctx.cookies()).find((c) => c.name === 'devox_console');
  t.ok(cookie, 'session cookie set');
  t.equal(cookie?.httpOnly, true, 'HttpOnly');
  t.equal(cookie?.sameSite, 'Strict', 'SameSite=Strict');
  t.ok((cookie?.expires ?? -1) > Date.now() / 1000, 'expires');
  await page.waitForFunction(() => document.getElementById('conn')!.textContent === 'live', undefined, { timeout: 30_000 });

  // --- two real RTP calls ---
  const calls = [
    { file: GENUINE, callId: 'call-genuine-0042', identity: { from: '+4915112345678', to: '+4930901820', tenant: 'acme', 'param.campaign': 'retention' } },
    { file: SYNTHETIC, callId: 'call-synthetic-0043', identity: { from: '+33612345678', to: '+4930901821', tenant: 'globex', 'param.campaign': 'fraud-desk' } },
  ];
  const opened = await Promise.all(calls.map((c) => server.openStream({ callId: c.callId, leg: 'caller', codec: 'PCMU', identity: c.identity })));
  const sending = Promise.all(calls.map((c, i) => sendFile(opened[i]!, c.file, { maxSec: 12 })));
  // A Twilio call (7.5 s): the customer (inbound) speaks the genuine sample, the far end the synthetic one.
  const twilioSid = 'CA00c0ffee0000000000000000000000e2';
  const tw = await openClient(`ws://127.0.0.1:${server.http.port}${server.config.websocket.pathPrefix}/twilio`);
  const twClosed = closed(tw);
  const twilio = streamTwilio(
    tw,
    [
      { track: 'inbound', bytes: ffmpegRaw(GENUINE, 8000, 'mulaw', 7.5) },
      { track: 'outbound', bytes: ffmpegRaw(SYNTHETIC, 8000, 'mulaw', 7.5) },
    ],
    { callSid: twilioSid, customParameters: { tenant: 'initech', caller: '+442071234567', callee: '+442079876543' } },
  );

  // The three calls appear, with sparklines that move while the audio flows.
  await waitFor(async () => (await tableRows(page)).filter((r) => r.legs.length > 0 && r.legs.every((l) => l.windows >= 4)).length === 3, 60_000, 'the three calls in the table with windows', 200);
  const before = await tableRows(page);
  await waitFor(async () => {
    const now = await tableRows(page);
    return now.every((r) => r.legs[0]!.windows > (before.find((b) => b.callId === r.callId)?.legs[0]?.windows ?? 0) + 3);
  }, 60_000, 'sparklines moving', 200);
  t.same((await tableRows(page)).map((r) => r.callId).sort(), [...calls.map((c) => c.callId), twilioSid].sort(), 'the three calls, by id');
  t.same((await tableRows(page)).find((r) => r.callId === twilioSid)?.legs.length, 2, 'the Twilio call with its two legs');
  // A view worth a screenshot: the calls a few seconds in (a safety net, not a timing check).
  await waitFor(async () => (await tableRows(page)).every((r) => r.legs.every((l) => l.windows >= 16)), 30_000, 'calls a few seconds in', 200).catch(() => undefined);
  await screenshot(page, '02-calls-live');
  await sending;
  for (const s of opened) server.releaseStream(s.streamId);
  await twilio;
  t.equal((await twClosed).code, 1000, 'Twilio stream stopped normally');

  // The labels the events give, read back from JetStream like an integrator.
  const stored = (await waitForStored(nats.url, (ev) => ev.filter((e) => e.type === 'call.ended').length === 4)).map((s) => s.event);
  // A call's label is its worst leg's: the call verdict of its last call.ended.
  const finalLabel = (callId: string) => stored.filter((e): e is CallEndedEvent => e.type === 'call.ended' && e.callId === callId).at(-1)!.call.label;
  t.ok(stored.every((e) => e.node === 'node-e2e'), 'every event names its node');
  await waitFor(async () => {
    const rows = await tableRows(page);
    return [...calls.map((c) => c.callId), twilioSid].every((id) => rows.find((r) => r.callId === id)?.label === finalLabel(id));
  }, 30_000, 'table labels as the call.ended events say', 200);
  for (const id of [...calls.map((c) => c.callId), twilioSid]) t.comment(`${id}: ${finalLabel(id)} (per the events)`);

  // --- alerts: one per transition to suspicious / synthetic ---
  const transitions = stored.filter((e): e is VerdictChangedEvent => e.type === 'verdict.changed' && (e.label === 'suspicious' || e.label === 'synthetic'));
  t.ok(transitions.length >= 1, `at least one suspicious/synthetic transition (${transitions.length})`);
  await waitFor(async () => (await page.locator('#alerts li').count()) === transitions.length, 30_000, 'one alert per transition', 200);
  const alertTexts = await page.locator('#alerts li').allTextContents();
  for (const tr of transitions) t.ok(alertTexts.some((a) => a.includes(tr.callId) && a.includes(`→ ${tr.label}`)), `alert for ${tr.callId} → ${tr.label}`);
  await screenshot(page, '03-alerts');
  const first = page.locator('#alerts li').first();
  await first.locator('input').fill('sup.carla');
  await first.locator('button.assign').click();
  await page.waitForFunction(() => document.querySelector('#alerts li')!.textContent!.includes('assigned to sup.carla'), undefined, { timeout: 30_000 });
  await page.locator('#alerts li').first().locator('button.ack').click();
  await page.waitForFunction(() => document.querySelector('#alerts li')!.classList.contains('acked'), undefined, { timeout: 30_000 });
  t.match(await page.locator('#alerts li').first().textContent(), /acknowledged by sup\.ana/, 'acknowledged, by whom');

  // --- filter and search ---
  const synthLabel = finalLabel('call-synthetic-0043');
  await page.selectOption('#f-label', synthLabel);
  await waitFor(async () => (await tableRows(page)).every((r) => r.label === synthLabel), 10_000, 'label filter applied', 100);
  const filtered = await tableRows(page);
  t.ok(filtered.some((r) => r.callId === 'call-synthetic-0043'), `label filter ${synthLabel} keeps the synthetic call`);
  t.ok(filtered.every((r) => r.label === synthLabel), 'and only calls with that label');
  await page.selectOption('#f-label', '');
  await waitFor(async () => (await tableRows(page)).length === 3, 10_000, 'label filter cleared', 100);
  await page.selectOption('#f-tenant', 'acme');
  await waitFor(async () => (await tableRows(page)).length === 1, 10_000, 'tenant filter', 100);
  t.same((await tableRows(page)).map((r) => r.callId), ['call-genuine-0042'], 'tenant filter acme: the genuine call only');
  await page.selectOption('#f-tenant', '');
  await waitFor(async () => (await tableRows(page)).length === 3, 10_000, 'tenant filter cleared', 100);
  await page.fill('#search', '33612345');
  await waitFor(async () => (await tableRows(page)).length === 1, 10_000, 'search by number', 100);
  t.same((await tableRows(page)).map((r) => r.callId), ['call-synthetic-0043'], 'search by caller number');
  await page.fill('#search', '');
  await waitFor(async () => (await tableRows(page)).length === 3, 10_000, 'search cleared', 100);
  await page.selectOption('#f-ingress', 'twilio');
  await waitFor(async () => (await tableRows(page)).length === 1, 10_000, 'ingress filter', 100);
  t.same((await tableRows(page)).map((r) => r.callId), [twilioSid], 'ingress filter twilio');
  await page.selectOption('#f-ingress', '');
  await waitFor(async () => (await tableRows(page)).length === 3, 10_000, 'filters cleared', 100);

  // --- detail view ---
  await page.click('tr[data-call-id="call-synthetic-0043"]');
  await page.waitForSelector('#detail .leg-panel canvas', { state: 'visible', timeout: 30_000 });
  await page.waitForFunction(() => document.querySelectorAll('#d-verdicts tbody tr').length > 0, undefined, { timeout: 30_000 });
  t.match(await page.textContent('#d-title'), /call-synthetic-0043/);
  t.match(await page.textContent('#d-legs .counters'), /synthetic ≥ 0\.\d{3}/, "the judging model's thresholds");
  t.match(await page.textContent('#d-legs .counters'), /windows \d+/);
  const counters = await page.textContent('#d-legs .counters');
  t.match(counters, /RTP packets [1-9]\d+/, 'the RTP leg’s media counters, after the call ended too');
  t.match(counters, /lost \d+/);
  t.match(counters, /loss \d+\.\d\d %/);
  t.match(counters, /jitter [\d.]+ ms/);
  t.match(counters, /codec PCMU\/8000/, 'the codec the leg arrived in');
  t.ok((await page.locator('#d-events li').count()) >= 3, 'events as received');
  t.match(await page.textContent('#d-identity'), /\+33612345678/, 'identity fields');
  t.equal(await page.isDisabled('#listen'), true, 'listen-in disabled here');
  t.match(await page.getAttribute('#listen', 'title'), /Listen-in unavailable: /, 'with its reason');
  t.match(await page.textContent('#d-note'), /Listen-in unavailable: /, 'the reason on screen');

  // --- feedback: "confirmed fake" to JetStream ---
  await page.click('#fb-fake');
  await page.waitForFunction(() => /stored/.test(document.getElementById('d-msg')!.textContent ?? ''), undefined, { timeout: 30_000 });
  const fb = await waitForStored(nats.url, (ev) => ev.length >= 1, 'devox.feedback.>');
  t.equal(fb.length, 1, 'one feedback event');
  t.equal(fb[0]!.subject, 'devox.feedback.call-synthetic-0043');
  t.ok(validateFeedback(fb[0]!.event), ajv.errorsText(validateFeedback.errors));
  t.match(parseFeedback(fb[0]!.event), { callId: 'call-synthetic-0043', verdict: 'confirmed_synthetic', operator: SUPERVISOR.name, source: 'console' });
  await page.waitForFunction(() => /confirmed fake by sup\.ana/.test(document.getElementById('d-feedback')!.textContent ?? ''), undefined, { timeout: 30_000 });
  await screenshot(page, '04-detail');
  await page.setViewportSize({ width: 1920, height: 1080 });
  await screenshot(page, '05-detail-wall');
  await page.click('#d-close');
  // A WebSocket leg has no RTP counters, but its codec is shown as well.
  await page.click(`tr[data-call-id="${twilioSid}"]`);
  await page.waitForFunction(() => /codec PCMU\/8000/.test(document.querySelector('#d-legs .counters')?.textContent ?? ''), undefined, { timeout: 30_000 });
  t.notMatch(await page.textContent('#d-legs .counters'), /RTP packets/, 'no RTP counters on a WebSocket leg');
  t.pass('the Twilio leg shows its codec (PCMU/8000)');
  await page.click('#d-close');
  await screenshot(page, '06-wall-screen');

  // --- a viewer: read-only ---
  const vctx = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const vpage = await vctx.newPage();
  await vpage.goto(url);
  await signIn(vpage, VIEWER);
  await vpage.waitForFunction(() => document.querySelectorAll('#rows tr').length === 3, undefined, { timeout: 30_000 });
  t.equal(await vpage.locator('#alerts button').count(), 0, 'a viewer gets no alert buttons');
  await vpage.click('tr[data-call-id="call-genuine-0042"]');
  await vpage.waitForSelector('#detail .leg-panel', { timeout: 30_000 });
  t.equal(await vpage.isDisabled('#fb-fake'), true, 'nor feedback');
  const refused = await vpage.evaluate(async () => {
    const r = await fetch('/console/api/feedback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ callId: 'call-genuine-0042', verdict: 'confirmed_genuine' }) });
    return { status: r.status, body: (await r.json()) as { error: string } };
  });
  t.equal(refused.status, 403, 'the API refuses a viewer too');
  t.match(refused.body.error, /supervisor role/);

  // --- the audit trail ---
  await server.close();
  const audit = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { audit: boolean; action: string; operator: string });
  t.ok(audit.every((a) => a.audit === true));
  const actions = audit.map((a) => `${a.action}:${a.operator}`);
  for (const want of ['login_refused:sup.ana', 'login:sup.ana', 'alert_assign:sup.ana', 'alert_ack:sup.ana', 'feedback:sup.ana', 'login:view.ben', 'forbidden:view.ben']) {
    t.ok(actions.includes(want), `audited ${want}`);
  }
});

async function waitForStored(url: string, done: (events: DevoxEvent[]) => boolean, filter = 'devox.call.>') {
  let got: Awaited<ReturnType<typeof readStoredEvents>> = [];
  await waitFor(async () => {
    got = await readStoredEvents(url, 'DEVOX', filter);
    return done(got.map((s) => s.event));
  }, 60_000, `stored events on ${filter}`, 500);
  return got;
}
