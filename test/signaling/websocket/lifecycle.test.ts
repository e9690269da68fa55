/**
 * Lifecycle: a sink that throws does not take a stream down; shutting the server down closes
 * live streams with 1001 and ends their legs as released; close() is idempotent.
 */
import t from 'tap';
import type { StreamDescriptor, WindowView } from '../../../src/media/types.js';
import { CLIP_A, closed, ffmpegRaw, openClient, startHarness, streamTwilio } from './harness.js';
import { RecordingSink } from '../../helpers/recording-sink.js';
import { NEEDS_SHARED_SPEECH, loadSharedSpeech } from '../../helpers/shared-data.js';

const mulaw = await loadSharedSpeech(() => ffmpegRaw(CLIP_A, 8000, 'mulaw', 2.1));

t.test('a sink that throws on every window does not end the stream', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  let thrown = 0;
  // Wrap the harness's recording sink: record, then throw, as a buggy consumer would.
  const rec: RecordingSink = h.sink;
  const original = rec.onWindow.bind(rec);
  rec.onWindow = (w: WindowView) => {
    original(w);
    thrown++;
    throw new Error('consumer bug');
  };
  const ws = await openClient(h.url('/twilio'));
  const done = closed(ws);
  await streamTwilio(ws, [{ track: 'inbound', bytes: mulaw }], { callSid: 'CA-throwing-sink' });
  t.equal((await done).code, 1000, 'stream ended normally by stop');
  await rec.waitFor(() => rec.byCall('CA-throwing-sink').get('inbound')?.endReason !== undefined);
  const s = rec.byCall('CA-throwing-sink').get('inbound')!;
  t.equal(s.windows.length, 5, 'every window was still delivered');
  t.equal(thrown, 5);
  t.equal(h.media.counters.closed.internal_error, 0, 'not treated as an internal error of the connection');
});

t.test('server shutdown closes live streams with 1001 and ends their legs with reason shutdown', { skip: NEEDS_SHARED_SPEECH }, async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close()); // idempotent: the test closes it itself; this covers a failure before that
  const ends: Array<[StreamDescriptor, string]> = [];
  const rec = h.sink;
  const original = rec.onStreamEnd.bind(rec);
  rec.onStreamEnd = (s, reason) => {
    ends.push([s, reason]);
    original(s, reason);
  };
  const a = await openClient(h.url('/twilio'));
  const b = await openClient(h.url('/audio-fork'), { protocol: 'audio.drachtio.org' });
  const ca = closed(a);
  const cb = closed(b);
  const sending = streamTwilio(a, [{ track: 'inbound', bytes: mulaw }], { callSid: 'CA-shutdown', stop: false }).catch(() => undefined);
  b.send(JSON.stringify({ sampleRate: 8000, uuid: 'fork-shutdown' }));
  b.send(Buffer.alloc(320));
  await rec.waitFor(() => rec.byCall('CA-shutdown').has('inbound') && rec.byCall('fork-shutdown').has('caller'));
  await h.close();
  await h.close();
  t.same(await ca, { code: 1001, reason: 'server shutting down' });
  t.same(await cb, { code: 1001, reason: 'server shutting down' });
  await sending;
  t.same(
    ends.map(([s, r]) => [s.callId, r]).sort(),
    [
      ['CA-shutdown', 'shutdown'],
      ['fork-shutdown', 'shutdown'],
    ],
  );
  t.equal(h.media.counters.closed.server_shutdown, 2);
  t.equal(h.media.size, 0);
});
