/**
 * A codec mismatch is said, not taken for silence (issue 14): `devox send` (a separate process)
 * sends real RTP to a real DevoxServer: the A-law payload of a speech file labelled PT 0 to a
 * PCMU stream, μ-law labelled PT 8 to a PCMA stream, and the right law to two control streams.
 * The mismatched streams get one warning each (kind codec_mismatch, naming both laws) and
 * devox_rtp_codec_mismatches_total counts them; the control streams get none. G711LawCheck
 * itself is checked on both shipped samples in both laws.
 */
import t from 'tap';
import { readAudioFile } from '../../src/media/audio-file.js';
import { alawEncodeTable, mulawEncodeTable } from '../../src/media/g711.js';
import { G711LawCheck, type G711Law } from '../../src/media/g711-law-check.js';
import { DevoxServer } from '../../src/server.js';
import { captureLog, LineCapture } from '../helpers/capture.js';
import { runDevoxCli } from '../helpers/child-process.js';
import { testConfig } from '../helpers/devox-server.js';
import { GENUINE_FILE, SYNTHETIC_FILE } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

async function g711Bytes(file: string, law: G711Law): Promise<Uint8Array> {
  const a = await readAudioFile(file);
  const step = a.sampleRate / 8000; // plain decimation is enough for a law check
  const table = law === 'PCMU' ? mulawEncodeTable() : alawEncodeTable();
  return Uint8Array.from({ length: Math.floor(a.samples.length / step) }, (_, i) =>
    table[Math.round(a.samples[Math.floor(i * step)]! * 32767) & 0xffff]!);
}

function verdictOf(bytes: Uint8Array, negotiated: G711Law): string | undefined {
  const check = new G711LawCheck(negotiated);
  let v;
  for (let off = 0; off + 160 <= bytes.length && v === undefined; off += 160) v = check.feed(bytes, off, 160);
  return v;
}

t.test('G711LawCheck on real speech: the right law matches, the other one is a mismatch, silence decides nothing', async (t) => {
  for (const file of [GENUINE_FILE, SYNTHETIC_FILE]) {
    for (const sent of ['PCMU', 'PCMA'] as const) {
      const bytes = await g711Bytes(file, sent);
      t.equal(verdictOf(bytes, sent), 'match', `${file}: ${sent} to a ${sent} stream`);
      const other = sent === 'PCMU' ? 'PCMA' : 'PCMU';
      t.equal(verdictOf(bytes, other), 'mismatch', `${file}: ${sent} to a ${other} stream`);
    }
  }
  t.equal(verdictOf(new Uint8Array(16000).fill(0xd5), 'PCMU'), undefined, 'idle A-law (constant) is no evidence');
});

t.test('devox send: PCMA to a PCMU stream (and PCMU to PCMA) is warned once per stream and counted', async (t) => {
  const captured = captureLog('info');
  // The law check sits in media, before any model: the one primary model serves both bands here.
  const config = testConfig({ media: { streamTimeoutMs: 60_000 }, detect: { narrowbandModelDir: '' } });
  const server = await DevoxServer.start({ config, log: captured.log, stdout: new LineCapture() });
  t.teardown(() => server.close());
  const open = async (codec: G711Law, leg: string): Promise<{ streamId: string; port: number }> => {
    const res = await fetch(`${server.http.url}/streams`, { method: 'POST', body: JSON.stringify({ codec, callId: 'law', leg }) });
    return (await res.json()) as { streamId: string; port: number };
  };
  const cases = [
    { stream: await open('PCMU', 'pcma-to-pcmu'), args: ['--codec', 'pcma', '--pt', '0'], mismatch: 'PCMU' },
    { stream: await open('PCMA', 'pcmu-to-pcma'), args: ['--codec', 'pcmu', '--pt', '8'], mismatch: 'PCMA' },
    { stream: await open('PCMU', 'pcmu-ok'), args: ['--codec', 'pcmu'], mismatch: undefined },
    { stream: await open('PCMA', 'pcma-ok'), args: ['--codec', 'pcma'], mismatch: undefined },
  ];
  for (const c of cases) {
    const r = await runDevoxCli(['send', GENUINE_FILE, '--to', `127.0.0.1:${c.stream.port}`, '--no-realtime', ...c.args], { timeoutMs: 60_000 });
    t.equal(r.code, 0, r.stderr);
  }
  const warnings = (): Array<Record<string, unknown>> => captured.lines.filter((l) => l.kind === 'codec_mismatch');
  await waitFor(() => warnings().length >= 2, 10_000, 'two codec_mismatch warnings');
  for (const c of cases) {
    const w = warnings().filter((l) => l.streamId === c.stream.streamId);
    if (c.mismatch === undefined) {
      t.equal(w.length, 0, `${c.args.join(' ')}: no warning on a stream in the right law`);
      continue;
    }
    t.equal(w.length, 1, `${c.args.join(' ')}: warned once`);
    t.equal(w[0]!.level, 40, 'at warn');
    t.equal(w[0]!.negotiated, c.mismatch);
    t.match(String(w[0]!.msg), c.mismatch === 'PCMU' ? /looks like A-law \(PCMA\) but PCMU was negotiated/ : /looks like μ-law \(PCMU\) but PCMA was negotiated/);
  }
  const metrics = await (await fetch(`${server.http.url}/metrics`)).text();
  t.match(metrics, /^devox_rtp_codec_mismatches_total 2$/m, 'the metric counts both mismatched streams');
});
