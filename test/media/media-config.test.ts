/**
 * The media section of the config: limits that the RTP path relies on are refused at load,
 * naming the key (maxSequenceJump within the 16-bit sequence-difference range; a port range
 * that holds at least one even RTP port with its RTCP port).
 */
import t from 'tap';
import { loadConfig } from '../../src/config.js';

const media = (m: Record<string, number>) => () => loadConfig({ env: {}, overrides: { media: m } });

t.test('media.maxSequenceJump is at most 32767 (seqDelta is only defined within half the space)', async (t) => {
  t.equal(media({ maxSequenceJump: 32767 })().media.maxSequenceJump, 32767);
  t.throws(media({ maxSequenceJump: 32768 }), { name: 'ConfigError', key: 'media.maxSequenceJump' });
  t.throws(media({ maxSequenceJump: 60000 }), { name: 'ConfigError', key: 'media.maxSequenceJump' });
});

t.test('the RTP port range must contain an even RTP port and its RTCP port', async (t) => {
  t.throws(media({ rtpPortMin: 40001, rtpPortMax: 40002 }), { name: 'ConfigError', key: 'media.rtpPortMax', message: /even RTP port/ });
  t.throws(media({ rtpPortMin: 40000, rtpPortMax: 40000 }), { name: 'ConfigError', key: 'media.rtpPortMax' });
  t.throws(media({ rtpPortMin: 40001, rtpPortMax: 40001 }), { name: 'ConfigError', key: 'media.rtpPortMax' });
  t.same(media({ rtpPortMin: 40000, rtpPortMax: 40001 })().media.rtpPortMax, 40001, 'one pair: 40000/40001');
  t.same(media({ rtpPortMin: 40001, rtpPortMax: 40003 })().media.rtpPortMin, 40001, 'one pair: 40002/40003');
  t.throws(media({ rtpPortMin: 50000, rtpPortMax: 40000 }), { name: 'ConfigError', key: 'media.rtpPortMin' }, 'inverted range still named by rtpPortMin');
});
