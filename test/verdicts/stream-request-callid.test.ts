/**
 * POST /streams refuses call ids with control characters (CR/LF would otherwise travel
 * into event ids, logs and headers): 400 with a message naming the field. A real server
 * over HTTP; ordinary call ids (SIP Call-IDs with '@' and '.') are still accepted.
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
