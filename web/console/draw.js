// DevoX supervisor console: small DOM and canvas helpers shared by the calls table, the alerts
// feed and the call detail (badges, durations, the per-leg sparkline and the window timeline).

export const COLORS = { synthetic: '#ff5c5c', suspicious: '#ffb020', genuine: '#3fcf8e', listening: '#7aa2f7', insufficient_speech: '#7d8796' };

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function badge(label, small) {
  const s = document.createElement('span');
  s.className = `badge ${label}${small ? ' small' : ''}`;
  s.textContent = label.replace('_', ' ');
  return s;
}

export function sparkline(cv, pts, label) {
  const ctx = cv.getContext('2d');
  const w = cv.width;
  const h = cv.height;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = '#1c2530';
  ctx.fillRect(0, 0, w, h);
  if (pts.length < 2) return;
  // newest at the right edge, one point per window (the last console.sparklinePoints windows)
  const color = COLORS[label] ?? '#7aa2f7';
  const n = Math.max(pts.length, 24);
  const X = (i) => w - (pts.length - 1 - i) * (w / (n - 1));
  const Y = (v) => h - 2 - v * (h - 4);
  ctx.beginPath();
  ctx.moveTo(X(0), h);
  for (let i = 0; i < pts.length; i++) ctx.lineTo(X(i), Y(pts[i]));
  ctx.lineTo(X(pts.length - 1), h);
  ctx.closePath();
  ctx.globalAlpha = 0.25;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  for (let i = 0; i < pts.length; i++) {
    if (i === 0) ctx.moveTo(X(i), Y(pts[i]));
    else ctx.lineTo(X(i), Y(pts[i]));
  }
  ctx.stroke();
}

export function duration(c) {
  const ms = (c.endedMs ?? Date.now()) - c.startedMs;
  const s = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export function timeline(cv, tl) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(300, cv.clientWidth);
  const h = Math.max(120, cv.clientHeight);
  cv.width = w * dpr;
  cv.height = h * dpr;
  const ctx = cv.getContext('2d');
  ctx.scale(dpr, dpr);
  const padL = 34;
  const padB = 18;
  const pw = w - padL - 6;
  const ph = h - padB - 6;
  ctx.fillStyle = '#161d26';
  ctx.fillRect(0, 0, w, h);
  const n = tl.t.length;
  const t1 = n ? tl.t[n - 1] : 1;
  const t0 = n ? Math.max(0, tl.t[0] - 1) : 0;
  const span = Math.max(1, t1 - t0);
  const X = (t) => padL + ((t - t0) / span) * pw;
  const Y = (v) => 6 + (1 - v) * ph;
  // speech mask: windows with speech shaded (alpha by speech ratio)
  for (let i = 0; i < n; i++) {
    if (tl.sp[i] <= 0) continue;
    const x0 = X(tl.t[i] - 0.25);
    ctx.fillStyle = `rgba(63, 207, 142, ${0.08 + 0.22 * tl.sp[i]})`;
    ctx.fillRect(x0, 6, Math.max(1, X(tl.t[i]) - x0), ph);
    if (tl.lost[i] > 0) {
      ctx.fillStyle = '#ff5c5c';
      ctx.fillRect(x0, 6 + ph - 4, Math.max(1, X(tl.t[i]) - x0), 4);
    }
  }
  // axes
  ctx.strokeStyle = '#2a3543';
  ctx.fillStyle = '#8b98a9';
  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  for (const v of [0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(padL, Y(v));
    ctx.lineTo(padL + pw, Y(v));
    ctx.stroke();
    ctx.fillText(v.toFixed(1), 6, Y(v) + 4);
  }
  const step = span > 120 ? 30 : span > 40 ? 10 : span > 12 ? 5 : 1;
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ctx.fillText(`${t}s`, X(t) - 8, h - 4);
  // thresholds of the judging model
  if (tl.thresholds) {
    ctx.setLineDash([6, 4]);
    for (const [k, v] of Object.entries(tl.thresholds)) {
      ctx.strokeStyle = COLORS[k];
      ctx.beginPath();
      ctx.moveTo(padL, Y(v));
      ctx.lineTo(padL + pw, Y(v));
      ctx.stroke();
      ctx.fillStyle = COLORS[k];
      ctx.fillText(k, padL + pw - 62, Y(v) - 3);
    }
    ctx.setLineDash([]);
  }
  const line = (vals, color, width) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    for (let i = 0; i < n; i++) {
      if (i === 0) ctx.moveTo(X(tl.t[i]), Y(vals[i]));
      else ctx.lineTo(X(tl.t[i]), Y(vals[i]));
    }
    ctx.stroke();
  };
  line(tl.s, 'rgba(122, 162, 247, 0.8)', 1);
  line(tl.e, '#e6edf3', 2.2);
}
