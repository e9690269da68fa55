/**
 * Sample rates: only the standard ones enter media (a rate like 47999 Hz would need a
 * 16000-phase resampler designed on the event loop and ~20 MiB kept per rate), the resampler
 * refuses oversized designs on its own, every standard pair still designs, and a session that
 * fails after binding its ports releases them and ends its stream (real UDP on 127.0.0.1).
 */
import t from 'tap';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { loadConfig } from '../../src/config.js';
import { checkAudioFormat, createDecoder, createEncoder } from '../../src/media/codecs.js';
import { UnsupportedCodecError, UnsupportedSampleRateError } from '../../src/media/errors.js';
import { MediaSessions } from '../../src/media/media-sessions.js';
import { designResampler, MAX_DESIGN_COEFFS, StreamResampler } from '../../src/media/resampler.js';
import { RtpSessionImpl } from '../../src/media/rtp-session.js';
import { SUPPORTED_SAMPLE_RATES } from '../../src/media/sample-rates.js';
import type { PayloadFormat } from '../../src/media/types.js';
import { chooseCodec } from '../../src/signaling/sip/codec-choice.js';
import type { OfferedStream } from '../../src/signaling/sip/types.js';
import { descriptor } from './helpers.js';
import { captureLog } from '../helpers/capture.js';
import { RecordingSink } from '../helpers/recording-sink.js';

const cfg = loadConfig({ env: {} });
const L16_ODD: PayloadFormat = { payloadType: 96, encoding: 'L16', clockRate: 47999, channels: 1 };

async function portIsFree(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  try {
    s.bind({ port, address: '127.0.0.1', exclusive: true });
    await once(s, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}

t.test('the resampler refuses a design over MAX_DESIGN_COEFFS before building it; every standard pair fits', async (t) => {
  for (const rate of [47999, 47993, 31999, 44056]) {
    t.throws(() => new StreamResampler(rate, 16000, 512), { name: 'RangeError', message: /standard sample rate/ }, `${rate} -> 16000`);
  }
  for (const a of SUPPORTED_SAMPLE_RATES) {
    for (const b of SUPPORTED_SAMPLE_RATES) {
      const d = designResampler(a, b);
      if (d.coeffs.length > MAX_DESIGN_COEFFS) t.fail(`${a} -> ${b}: ${d.coeffs.length} coefficients`);
    }
  }
  t.ok(designResampler(96000, 16000).coeffs.length < 1000, 'a simple non-standard ratio (a 96 kHz file) still works');
});

t.test('codecs: L16 only at standard rates; checkAudioFormat names the rate', async (t) => {
  t.throws(() => createDecoder(L16_ODD), UnsupportedSampleRateError);
  t.throws(() => createEncoder('L16', { sampleRate: 47999 }), UnsupportedSampleRateError);
  for (const rate of SUPPORTED_SAMPLE_RATES) createDecoder({ encoding: 'L16', clockRate: rate, channels: 1 }).close();
  const err = t.throws(() => checkAudioFormat(L16_ODD)) as UnsupportedSampleRateError;
  t.ok(err instanceof UnsupportedCodecError, 'a kind of UnsupportedCodecError');
  t.equal(err.sampleRate, 47999);
  t.equal(err.message, `L16 at 47999 Hz is not supported (sample rates: ${SUPPORTED_SAMPLE_RATES.join(', ')})`, 'lists SUPPORTED_SAMPLE_RATES');
  t.same(err.supported, SUPPORTED_SAMPLE_RATES);
  const g711 = t.throws(() => checkAudioFormat({ encoding: 'PCMU', clockRate: 16000, channels: 1 }), UnsupportedSampleRateError) as UnsupportedSampleRateError;
  t.match(g711.message, /PCMU at 16000 Hz is not supported \(sample rates: 8000\)$/, 'G.711 names its own rate');
  t.throws(() => checkAudioFormat({ encoding: 'opus', clockRate: 16000, channels: 2 }), { name: 'UnsupportedSampleRateError', message: /\(sample rates: 48000\)$/ });
  t.throws(() => checkAudioFormat({ encoding: 'L16', clockRate: 16000, channels: 6 }), UnsupportedCodecError);
  t.throws(() => checkAudioFormat({ encoding: 'PCMA', clockRate: 8000, channels: 2 }), { name: 'UnsupportedCodecError', message: /PCMA with 2 channels/ });
  checkAudioFormat({ encoding: 'L16', clockRate: 44100, channels: 2 });
});

t.test('MediaSessions.allocate refuses a non-standard rate before binding a port (POST /streams, SDP)', async (t) => {
  const sink = new RecordingSink();
  const { log } = captureLog();
  const sessions = new MediaSessions({ media: { ...cfg.media, bindAddress: '127.0.0.1', rtpPortMin: 42700, rtpPortMax: 42709 },
    window: cfg.window, outputRate: 16000, sink, log });
  t.teardown(() => sessions.closeAll());
  await t.rejects(sessions.allocate({ descriptor: descriptor('odd'), formats: [L16_ODD] }), UnsupportedSampleRateError);
  t.equal(sessions.size, 0);
  t.same(sink.started.map((d) => d.streamId), [], 'no stream started');
  const ok = await sessions.allocate({ descriptor: descriptor('std'), formats: [{ ...L16_ODD, clockRate: 48000 }] });
  t.equal(ok.port, 42700, 'the refused request bound nothing: the first pair is still free');
});

t.test('SDP: L16 at a non-standard rate is not chosen; a standard codec in the same offer is', async (t) => {
  const stream: OfferedStream = {
    index: 0, mediaType: 'audio', port: 4000, protocol: 'RTP/AVP', address: '127.0.0.1', fmt: '96 0', direction: 'sendonly',
    formats: [{ payloadType: 96, name: 'L16', clockRate: 47999, channels: 1 }, { payloadType: 0, name: 'PCMU', clockRate: 8000, channels: 1 }],
  };
  const d = chooseCodec(stream);
  t.ok(d.ok && d.chosen.audio.encoding === 'PCMU', 'falls back to PCMU');
  const only = chooseCodec({ ...stream, fmt: '96', formats: [stream.formats[0]!] });
  t.ok(!only.ok && /L16\/47999/.test(only.reason), 'declined, naming what was offered');
  t.match(!only.ok && only.reason, /: L16 at 47999 Hz is not supported \(sample rates: 8000, /, 'and why, in media\'s words (checkAudioFormat)');
  // The rules are checkAudioFormat's: L16 stereo at a standard rate is taken, 3 channels or G.711 stereo is not.
  const pick = (formats: OfferedStream['formats']): string => {
    const d = chooseCodec({ ...stream, fmt: formats.map((f) => f.payloadType).join(' '), formats });
    return d.ok ? `${d.chosen.audio.encoding}/${d.chosen.audio.clockRate}/${d.chosen.audio.channels}` : d.reason;
  };
  t.equal(pick([{ payloadType: 97, name: 'l16', clockRate: 44100, channels: 2 }]), 'L16/44100/2');
  t.match(pick([{ payloadType: 97, name: 'L16', clockRate: 16000, channels: 3 }]), /L16 with 3 channels is not supported/);
  t.match(pick([{ payloadType: 0, name: 'PCMU', clockRate: 8000, channels: 2 }]), /PCMU with 2 channels is not supported/);
  t.match(pick([{ payloadType: 111, name: 'OPUS', clockRate: 48000, channels: 2 }, { payloadType: 0, name: 'PCMU', clockRate: 8000, channels: 1 }]),
    'opus/48000/2', 'names are case-insensitive; Opus first');
  t.equal(pick([{ payloadType: 111, name: 'opus', clockRate: 16000, channels: 1 }, { payloadType: 8, name: 'PCMA', clockRate: 8000, channels: 1 }]),
    'PCMA/8000/1', 'Opus at a non-48000 clock is refused; the next codec is taken');
});

t.test('a session whose pipeline cannot be built after binding releases its ports and ends its stream', async (t) => {
  const { log } = captureLog();
  const base = { reorderDepthPackets: 3, maxSequenceJump: 3000, maxPacketBytes: 1500, relearnTimeoutMs: 5000, window: cfg.window, log };
  // Resampler refused (AudioStream constructor): nothing started.
  const sink1 = new RecordingSink();
  await t.rejects(RtpSessionImpl.open(42710, '127.0.0.1', { ...base, descriptor: descriptor('bad-rate'), formats: [L16_ODD],
    inputRate: 47999, outputRate: 16000, sink: sink1 }), RangeError);
  t.ok(await portIsFree(42710) && (await portIsFree(42711)), 'RTP and RTCP ports closed');
  // Decoder refused (RtpReceiver constructor, after the AudioStream told the sink it started).
  const sink2 = new RecordingSink();
  const odd: PayloadFormat = { payloadType: 96, encoding: 'L16', clockRate: 11000, channels: 1 };
  await t.rejects(RtpSessionImpl.open(42712, '127.0.0.1', { ...base, descriptor: descriptor('bad-decoder'), formats: [odd],
    inputRate: 11000, outputRate: 16000, sink: sink2 }), UnsupportedSampleRateError);
  t.ok(await portIsFree(42712) && (await portIsFree(42713)), 'RTP and RTCP ports closed');
  t.same(sink2.started.map((d) => d.streamId), ['bad-decoder']);
  t.equal(sink2.endReason('bad-decoder'), 'error', 'onStreamStart is paired with onStreamEnd');
});
