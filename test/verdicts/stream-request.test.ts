/**
 * POST /streams refuses bad requests with a 400 naming the field, over real HTTP: call ids
 * with control characters (CR/LF would otherwise travel into event ids, logs and headers),
 * and L16 at a non-standard rate (which used to become a 503 after binding nothing useful).
 * Ordinary call ids (SIP Call-IDs with '@' and '.', Unicode) and standard rates are accepted.
 */
import t from 'tap';
import { startTestServer } from '../helpers/devox-server.js';

t.test('POST /streams: callId with CR, LF or other control characters is a 400', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.close());
  const post = (body: unknown) =>
    fetch(`${server.http.url}/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  for (const callId of ['evil\r\nid', 'a\nb', 'tab\there', 'nul\u0000', 'del\u007f', 'c1\u0085']) {
    const res = await post({ callId });
    t.equal(res.status, 400, `refused: ${JSON.stringify(callId)}`);
    t.match(((await res.json()) as { error: string }).error, /^callId: must not contain control characters/, 'says which field and why');
  }

  const ok = await post({ callId: 'a84b4c76e66710@pc33.atlanta.example', leg: 'caller' });
  t.equal(ok.status, 201, 'an ordinary SIP Call-ID is accepted');
  const opened = (await ok.json()) as { streamId: string; callId: string };
  t.equal(opened.callId, 'a84b4c76e66710@pc33.atlanta.example');
  server.releaseStream(opened.streamId);
  const unicode = await post({ callId: 'ünï-😀 with space' });
  t.equal(unicode.status, 201, 'printable non-ASCII and spaces are still accepted');
  server.releaseStream(((await unicode.json()) as { streamId: string }).streamId);
});

t.test('POST /streams: an unsupported L16 rate is a 400 naming the rate, and binds no port', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.close());
  const post = (body: unknown) =>
    fetch(`${server.http.url}/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const bad = await post({ codec: 'L16', clockRate: 47999 });
  t.equal(bad.status, 400);
  t.match(((await bad.json()) as { error: string }).error, /L16 at 47999 Hz is not supported/);
  t.equal([...server.media.streams()].length, 0, 'no session allocated');
  const ok = await post({ codec: 'L16', clockRate: 44100 });
  t.equal(ok.status, 201, 'a standard rate is accepted');
  server.releaseStream(((await ok.json()) as { streamId: string }).streamId);
});
