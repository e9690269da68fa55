/**
 * Bugs the fuzzer found (docs/reliability.md, "Bugs found"), kept fixed: sdp-transform turns
 * numeric-looking SDP values into JavaScript numbers, and code that called string methods on
 * them threw TypeError (SIP: 500 instead of a 488 / an answer; WebRTC: close 1011 instead of an
 * answer), or handed mediasoup a number where it validates a string (a=mid:1, cname). And an
 * offer with two o= lines was taken, its origin read from the first and validated on the last.
 * Every input in test/fuzz/regressions/<target>/ is also replayed through its fuzz target.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { TargetModule } from '../../fuzz/engine/target.js';
import { chooseCodec } from '../../src/signaling/sip/codec-choice.js';
import { SdpOfferError } from '../../src/signaling/sip/errors.js';
import { parseSdpOffer } from '../../src/signaling/sip/sdp-offer.js';
import { parseBrowserOffer } from '../../src/signaling/webrtc/sdp-bridge.js';
import { CHROME_OFFER } from '../signaling/webrtc/session-harness.js';

const DIR = fileURLToPath(new URL('./regressions/', import.meta.url));

t.test('every stored crashing input is now handled or refused with an expected error', async (t) => {
  for (const target of readdirSync(DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
    const mod = (await import(`../../fuzz/targets/${target}.js`)) as TargetModule;
    for (const file of readdirSync(join(DIR, target))) {
      const data = readFileSync(join(DIR, target, file));
      let error: unknown;
      try {
        await mod.fuzz(data);
      } catch (err) {
        error = err;
      }
      t.ok(error === undefined || mod.expected.some((c) => error instanceof c), `${target}/${file}: ${error === undefined ? 'handled' : String(error)}`);
    }
  }
});

t.test('SIP: a numeric rtpmap encoding name is an unknown codec, not a TypeError', async (t) => {
  const offer = parseSdpOffer(['v=0', 'o=SRC 1 1 IN IP4 198.51.100.1', 's=-', 'c=IN IP4 198.51.100.1', 't=0 0',
    'm=audio 12240 RTP/AVP 18 96', 'a=rtpmap:18 729/8000', 'a=fmtp:18 0', 'a=rtpmap:96 123/16000', ''].join('\r\n'));
  const formats = offer.streams[0]!.formats;
  t.same(formats.map((f) => f.name), ['729', '123'], 'names kept as text');
  t.equal(formats[0]!.fmtp, '0', 'fmtp kept as text');
  const d = chooseCodec(offer.streams[0]!);
  t.equal(d.ok, false, 'no decodable codec: the stream is declined (488 when it is the only one)');
});

t.test('SIP: an offer with two o= lines is refused (its origin ids were read from one, validated on the other)', async (t) => {
  const sdp = (origins: string[]): string => ['v=0', ...origins, 's=-', 'c=IN IP4 198.51.100.1', 't=0 0', 'm=audio 12240 RTP/AVP 0', ''].join('\r\n');
  t.throws(() => parseSdpOffer(sdp(['o=- 20RTP/AVap:8 x IN0', 'o=- 4711 1 IN IP4 127.0.0.1'])), SdpOfferError);
  t.throws(() => parseSdpOffer(sdp([])), SdpOfferError);
  t.equal(parseSdpOffer(sdp(['o=- 4711 1 IN IP4 127.0.0.1'])).originSessionId, '4711');
});

t.test('WebRTC: numeric codec names, fingerprint type, fmtp, mid and cname are read as text', async (t) => {
  const offer = parseBrowserOffer(CHROME_OFFER
    .replace('a=rtpmap:111 opus/48000/2', 'a=rtpmap:0 8/8000\r\na=rtpmap:111 opus/48000/2')
    .replace('a=rtpmap:0 PCMU/8000\r\n', '')
    .replace('a=fingerprint:sha-256 ', 'a=fingerprint:256 ')
    .replace('a=fmtp:111 minptime=10;useinbandfec=1', 'a=fmtp:111 10')
    .replace('a=mid:0', 'a=mid:1')
    .replace('a=ssrc:1001 cname:abc', 'a=ssrc:1001 cname:42'));
  t.equal(offer.rtpParameters.codecs[0]!.payloadType, 111, 'Opus found past a numeric codec name');
  t.same(offer.dtlsParameters.fingerprints[0], { algorithm: '256', value: 'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99' });
  t.equal(offer.opusFmtp, '10');
  t.equal(offer.mid, '1', 'mid is a string (mediasoup refuses a numeric one)');
  t.equal(offer.rtpParameters.mid, '1');
  t.equal(offer.rtpParameters.rtcp?.cname, '42', 'cname is a string');
});
