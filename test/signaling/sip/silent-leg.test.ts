/**
 * A SIP leg lives as long as its dialog (issue 14): over the REAL MediaSessions (UDP ports bound on
 * 127.0.0.1) and CallRegistry, a leg without RTP for longer than media.streamTimeoutMs is reported
 * silent (onSilence, silentCount), never ended, and real RTP that starts later is cut into windows;
 * a stream allocated without a dialog (POST /streams) still times out.
 */
import t from 'tap';
import { loadConfig } from '../../../src/config.js';
import { MediaSessions } from '../../../src/media/media-sessions.js';
import { createLogger } from '../../../src/logger.js';
import { CallRegistry } from '../../../src/signaling/sip/call-registry.js';
import { sendAudio } from '../../../src/media/rtp-sender.js';
import type { StreamDescriptor } from '../../../src/media/types.js';
import { loadSipFixture } from '../../helpers/sip-messages.js';
import { RecordingSink } from '../../helpers/recording-sink.js';
import { sleep, waitFor } from '../../helpers/wait.js';

const log = createLogger('silent');

function setup(streamTimeoutMs: number, onSilence?: (d: StreamDescriptor, silent: boolean) => void) {
  const cfg = loadConfig({ env: {}, overrides: { media: { bindAddress: '127.0.0.1', rtpPortMin: 45000, rtpPortMax: 45099,
    streamTimeoutMs } } });
  const sink = new RecordingSink();
  const media = new MediaSessions({ media: cfg.media, window: cfg.window, outputRate: 16000, sink, log, ...(onSilence ? { onSilence } : {}) });
  const registry = new CallRegistry({ media, policy: {
    maxConcurrentCalls: 10, maxStreamsPerCall: 4, maxBodyBytes: 256 * 1024, maxMetadataBytes: 64 * 1024, retryAfterSec: 7,
    passThroughHeaders: [], sessionExpiresSec: 1800, minSessionExpiresSec: 90,
  }, address: '127.0.0.1', log });
  return { media, sink, registry };
}

t.test('a SIP leg silent longer than media.streamTimeoutMs analyses the RTP that starts later', async (t) => {
  const silences: Array<[string, boolean]> = [];
  const { media, sink, registry } = setup(300, (d, silent) => silences.push([d.streamId, silent]));
  t.teardown(() => media.closeAll());
  const req = loadSipFixture('cisco-cube-siprec-invite.sip');
  const out = await registry.invite(req);
  t.equal(out.status, 200);
  const leg = out.call!.streams()[0]!;
  const id = leg.session.descriptor.streamId;
  await waitFor(() => silences.length === 2, 2_000, 'both legs reported silent');
  await sleep(700); // > 3 x media.streamTimeoutMs without RTP
  t.equal(media.size, 2, 'both legs still open');
  t.equal(media.silentCount, 2);
  // Late speech (a callee after answer, an IVR): 2 s of a 440 Hz tone as real PCMU RTP to the answered port.
  const rate = 8000;
  const tone = Float32Array.from({ length: 2 * rate }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / rate));
  await sendAudio(tone, rate, { codec: 'PCMU', payloadType: leg.audio.payloadType, to: { address: '127.0.0.1', port: leg.session.port },
    realtime: false });
  await waitFor(() => sink.windowsOf(id).length >= 2, 2_000, 'windows cut from the late RTP');
  t.ok(sink.windowsOf(id).length >= 2, 'windows cut after the silence');
  t.ok(sink.windowsOf(id).every((w) => w.rmsDbfs > -20), 'the windows carry the tone');
  await waitFor(() => silences.some(([s, silent]) => s === id && !silent), 1_000, 'resume reported');
  t.same(silences.filter(([s]) => s === id).map(([, silent]) => silent), [true, false], 'silent, then resumed');
  registry.bye(req.callId);
  t.equal(media.size, 0);
  t.notOk(sink.ended.some((e) => e.reason === 'timeout'), 'no SIP leg timed out');
});

t.test('a POST /streams-style stream (onSilence end) still times out', async (t) => {
  const { media, sink } = setup(300);
  t.teardown(() => media.closeAll());
  const s = await media.allocate({ descriptor: { streamId: 'plain-1', callId: 'c-plain', leg: 'caller', transport: 'rtp' },
    formats: [{ payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 }] });
  t.ok(s.port > 0);
  await waitFor(() => media.size === 0, 2_000, 'timed out');
  t.same(sink.ended.map((e) => [e.stream.streamId, e.reason]), [['plain-1', 'timeout']]);
});
