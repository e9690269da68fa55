/**
 * The /webrtc page in a real headless Chromium, against the signaling protocol without
 * mediasoup (there is no worker on this machine): the page must carry its signed query string to
 * <path>/signal, send an offer DevoX's SDP bridge accepts, apply DevoX's answer, and render the
 * status messages (label, score, windows). The media path itself is covered by
 * webrtc-e2e.test.ts where a worker exists.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { WebSocketServer } from 'ws';
import { buildAnswer, parseBrowserOffer } from '../../../src/signaling/webrtc/sdp-bridge.js';
import { webrtcPage } from '../../../src/signaling/webrtc/webrtc-page.js';
import { CHROMIUM_BIN, CHROMIUM_MISSING, launchChromium } from '../../helpers/chromium.js';
import { waitFor } from '../../helpers/wait.js';

t.test('the /webrtc page speaks the signaling protocol and shows label and score', { skip: CHROMIUM_BIN ? false : CHROMIUM_MISSING }, async (t) => {
  const http = createServer((req, res) => {
    if (req.url?.startsWith('/webrtc?') || req.url === '/webrtc') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(webrtcPage('/webrtc/signal'));
    } else {
      res.writeHead(404).end();
    }
  });
  const wss = new WebSocketServer({ noServer: true });
  const seen: { url?: string; offer?: ReturnType<typeof parseBrowserOffer>; closed?: number } = {};
  http.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      seen.url = req.url;
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as { type: string; sdp: string };
        t.equal(msg.type, 'offer', 'the page sends an offer');
        seen.offer = parseBrowserOffer(msg.sdp);
        const answer = buildAnswer(seen.offer, {
          iceParameters: { usernameFragment: randomBytes(8).toString('hex'), password: randomBytes(16).toString('hex') },
          iceCandidates: [{ foundation: 'udpcandidate', priority: 1076302079, address: '127.0.0.1', protocol: 'udp', port: 9, type: 'host' }],
          dtlsParameters: { fingerprints: [{ algorithm: 'sha-256', value: [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0')).join(':') }] },
        });
        ws.send(JSON.stringify({ type: 'answer', sdp: answer, streamId: 'stream-under-test', callId: 'call-under-test' }));
        ws.send(JSON.stringify({ type: 'status', label: 'genuine', score: 0.125, windows: 7, mediaSec: 2.5 }));
      });
      ws.on('close', (code) => (seen.closed = code));
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => http.close(() => r())));
  t.teardown(() => wss.close());

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${(http.address() as AddressInfo).port}/webrtc?auth=123.sig`);
  await page.click('#start');
  await page.waitForFunction(() => document.getElementById('label')!.dataset.label === 'genuine', undefined, { timeout: 10_000 });
  t.equal(seen.url, '/webrtc/signal?auth=123.sig', 'the page passed its signed query string to the signaling socket');
  t.equal(seen.offer?.rtpParameters.codecs[0]?.mimeType, 'audio/opus', 'its offer carries the microphone as Opus');
  t.equal(await page.$eval('#stream', (e) => e.textContent), 'stream-under-test');
  t.equal(await page.$eval('#score', (e) => e.textContent), '13 % synthetic');
  t.equal(await page.$eval('#windows', (e) => e.textContent), '7');
  t.equal(await page.$eval('#label', (e) => e.className), 'genuine');
  t.same(errors, [], 'no script errors on the page');
  await page.click('#stop');
  await waitFor(() => seen.closed !== undefined, 5_000, 'the signaling socket to close');
  t.equal(seen.closed, 1000, 'Stop closes the signaling socket normally');
});
