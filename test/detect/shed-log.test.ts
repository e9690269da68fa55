/**
 * ShedLog: shedding reaches the log at warn, rate-limited — the first window at once, then one line
 * per interval with the counts per reason since the last line; shutdown's `closed` sheds are not logged.
 */
import t from 'tap';
import { ShedLog } from '../../src/detect/shed-log.js';
import { captureLog } from '../helpers/capture.js';

const stream = { streamId: 's-1', callId: 'c-1', leg: 'caller', transport: 'rtp' as const };

t.test('first shed at once, then one line per interval with counts per reason', async (t) => {
  const { log, lines } = captureLog('info');
  let now = 1000;
  const sl = new ShedLog(log, 10_000, () => now);
  sl.shed(stream, 'buffer_full', 12.4);
  t.equal(lines.length, 1);
  t.match(lines[0], { level: 40, shed: { buffer_full: 1 }, windows: 1, sinceSec: 0, lastStreamId: 's-1', lastCallId: 'c-1', lastWaitMs: 12 });
  for (let i = 0; i < 500; i++) {
    now += 10;
    sl.shed(stream, i % 5 === 0 ? 'queue_delay' : 'buffer_full', 80);
    sl.shed(stream, 'closed', 0);
  }
  t.equal(lines.length, 1, 'nothing more within 5 s');
  now = 1000 + 10_000;
  sl.shed(stream, 'inference_error', 1);
  t.equal(lines.length, 2, 'the next line after the interval');
  t.match(lines[1], { level: 40, shed: { buffer_full: 400, queue_delay: 100, inference_error: 1 }, windows: 501, sinceSec: 10 });
  t.notOk('closed' in (lines[1]!.shed as object), 'closed (shutdown) sheds are not counted');
});

t.test('closed alone never logs', async (t) => {
  const { log, lines } = captureLog('info');
  const sl = new ShedLog(log);
  for (let i = 0; i < 100; i++) sl.shed(stream, 'closed', 0);
  t.equal(lines.length, 0);
});
