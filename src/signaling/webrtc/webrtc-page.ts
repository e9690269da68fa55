/**
 * The minimal page DevoX serves at webrtc.path (/webrtc): speak into the microphone, see the
 * stream's live label. Plain WebRTC (RTCPeerConnection) — the server bridges SDP to mediasoup —
 * and a WebSocket to <path>/signal carrying the page's own query string (the signed `auth=`).
 */

export function webrtcPage(signalPath: string): string {
  const signal = JSON.stringify(signalPath);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DevoX — live synthetic-voice check</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }
  #label { font-size: 2.5rem; font-weight: 600; margin: 1rem 0; }
  .genuine { color: #1a7f37; } .suspicious { color: #9a6700; } .synthetic { color: #cf222e; }
  .listening, .insufficient_speech { color: #57606a; }
  dt { float: left; width: 10rem; color: #57606a; }
</style>
</head>
<body>
<h1>DevoX</h1>
<p>Press start and speak: DevoX scores your microphone for synthetic speech, live.</p>
<button id="start">Start</button> <button id="stop" disabled>Stop</button>
<div id="label" class="listening" data-label="">—</div>
<dl>
  <dt>state</dt><dd id="state">idle</dd>
  <dt>latest window</dt><dd id="score" data-score="">—</dd>
  <dt>windows cut</dt><dd id="windows">0</dd>
  <dt>audio received</dt><dd id="media">0.0 s</dd>
  <dt>stream</dt><dd id="stream">—</dd>
</dl>
<script type="module">
const $ = (id) => document.getElementById(id);
let pc, ws, mic;
function setState(s) { $('state').textContent = s; }
async function start() {
  $('start').disabled = true;
  const url = new URL(${signal} + location.search, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(url);
  ws.onclose = (e) => { setState('closed' + (e.reason ? ': ' + e.reason : '')); $('stop').disabled = true; };
  ws.onmessage = async (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === 'answer') {
      $('stream').textContent = msg.streamId;
      await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
      setState('connecting');
    } else if (msg.type === 'status') {
      const label = msg.label || 'listening';
      $('label').textContent = label.replace('_', ' ');
      $('label').className = label;
      $('label').dataset.label = label;
      $('windows').textContent = String(msg.windows);
      if (typeof msg.score === 'number') {
        $('score').textContent = (100 * msg.score).toFixed(0) + ' % synthetic';
        $('score').dataset.score = String(msg.score);
      }
      $('media').textContent = msg.mediaSec.toFixed(1) + ' s';
    } else if (msg.type === 'error') {
      setState('error: ' + msg.message);
    }
  };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('signaling failed')); });
  mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  pc = new RTCPeerConnection();
  pc.onconnectionstatechange = () => setState(pc.connectionState);
  pc.addTransceiver(mic.getAudioTracks()[0], { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  ws.send(JSON.stringify({ type: 'offer', sdp: pc.localDescription.sdp }));
  $('stop').disabled = false;
}
function stop() {
  mic?.getTracks().forEach((t) => t.stop());
  pc?.close();
  ws?.close(1000, 'stopped');
  $('start').disabled = false;
}
$('start').onclick = () => start().catch((err) => { setState('error: ' + err.message); $('start').disabled = false; });
$('stop').onclick = stop;
</script>
</body>
</html>
`;
}
