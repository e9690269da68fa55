/**
 * The Grafana dashboard only queries what DevoX exports: every PromQL expression in
 * grafana/dashboards/*.json is parsed with the Prometheus project's own grammar
 * (@prometheus-io/lezer-promql), and every metric name (and `label="value"` matcher) it
 * selects must appear in /metrics scraped over HTTP from a running server that has
 * handled a real RTP call. Also checks the provisioning files point at the dashboard.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { projectRoot } from '../../src/config.js';
import { scrape, sendFile, startTestServer } from '../helpers/devox-server.js';
import { freePort } from '../helpers/nats-server.js';
import { GENUINE_FILE } from '../helpers/fixture-paths.js';
import { waitFor } from '../helpers/wait.js';

interface Selector {
  metric: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

/** Grafana's macros are not PromQL: give them a duration before parsing. */
function substituteGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '1m').replace(/\$\{?__[a-z_]+\}?/g, '1m');
}

function selectors(expr: string): { selectors: Selector[]; errors: string[] } {
  const src = substituteGrafanaVariables(expr);
  const tree = parser.parse(src);
  const out: Selector[] = [];
  const errors: string[] = [];
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) errors.push(`syntax error at ${cursor.from}: ${JSON.stringify(src.slice(Math.max(0, cursor.from - 10), cursor.to + 10))}`);
    if (cursor.name === 'VectorSelector') {
      const node = cursor.node;
      const id = node.getChild('Identifier');
      const sel: Selector = { metric: id ? src.slice(id.from, id.to) : '', matchers: [] };
      const lm = node.getChild('LabelMatchers');
      if (lm) {
        for (const m of lm.getChildren('UnquotedLabelMatcher')) {
          const name = m.getChild('LabelName');
          const op = m.getChild('MatchOp');
          const value = m.getChild('StringLiteral');
          if (name && op && value) {
            sel.matchers.push({ label: src.slice(name.from, name.to), op: src.slice(op.from, op.to), value: JSON.parse(src.slice(value.from, value.to)) });
          }
        }
      }
      out.push(sel);
    }
  } while (cursor.next());
  return { selectors: out, errors };
}

/** sample name → label sets, from a Prometheus text exposition. */
function exported(text: string): Map<string, Array<Record<string, string>>> {
  const m = new Map<string, Array<Record<string, string>>>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const l of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const list = m.get(match[1]!) ?? [];
    list.push(labels);
    m.set(match[1]!, list);
  }
  return m;
}

t.test('the PromQL helper finds selectors and refuses bad syntax', async (t) => {
  const ok = selectors('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y"}[$__rate_interval]))) / b');
  t.same(ok.errors, []);
  t.same(ok.selectors.map((s) => s.metric), ['a_bucket', 'b']);
  t.same(ok.selectors[0]!.matchers, [{ label: 'x', op: '=', value: 'y' }]);
  t.ok(selectors('sum(rate(a[1m])').errors.length > 0, 'unbalanced parenthesis is an error');
});

t.test('every metric the dashboards query is exported by /metrics', async (t) => {
  // SIP on (its metrics are exported from start-up; no drachtio-server is needed for that:
  // the app keeps trying to connect to a closed port).
  const server = await startTestServer({ sip: { enabled: true, drachtioHost: '127.0.0.1', drachtioPort: await freePort() } });
  t.teardown(() => server.close());
  // One short real call so that labelled series (verdict labels, RTP) exist.
  const s = await server.openStream({ callId: 'dashboard-check', leg: 'caller' });
  await sendFile(s, GENUINE_FILE, { maxSec: 2.2 });
  server.releaseStream(s.streamId);
  await waitFor(() => server.pipeline.stats.streams === 0, 10_000, 'call finished');
  const samples = exported(await scrape(server));
  t.ok(samples.size > 30, `scraped ${samples.size} sample names`);

  const dir = resolve(projectRoot, 'grafana/dashboards');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  t.ok(files.length >= 1, 'at least one dashboard');
  let exprs = 0;
  for (const f of files) {
    const dash = JSON.parse(readFileSync(resolve(dir, f), 'utf8')) as { uid: string; panels: Array<{ title: string; type: string; targets?: Array<{ expr?: string }>; datasource?: { uid: string } }> };
    t.ok(dash.uid, `${f}: has a uid`);
    for (const p of dash.panels) {
      if (p.type === 'row') continue;
      t.equal(p.datasource?.uid, 'devox-prometheus', `${f} / ${p.title}: provisioned datasource`);
      for (const target of p.targets ?? []) {
        if (!target.expr) continue;
        exprs++;
        const { selectors: sels, errors } = selectors(target.expr);
        t.same(errors, [], `${p.title}: parses: ${target.expr}`);
        t.ok(sels.length > 0, `${p.title}: selects something`);
        for (const sel of sels) {
          const series = samples.get(sel.metric);
          if (!series) {
            t.fail(`${p.title}: ${sel.metric} is not exported by /metrics`);
            continue;
          }
          for (const m of sel.matchers.filter((x) => x.op === '=')) {
            if (!series.some((labels) => labels[m.label] === m.value)) {
              t.fail(`${p.title}: ${sel.metric}{${m.label}="${m.value}"} has no exported series`);
            }
          }
        }
      }
    }
  }
  t.ok(exprs >= 20, `${exprs} expressions checked`);
  const wanted = ['devox_window_to_verdict_seconds_bucket', 'devox_inference_batch_duration_seconds_bucket', 'devox_inference_batch_size_bucket', 'devox_windows_shed_total', 'devox_rtp_packets_lost_total', 'devox_rtp_jitter_seconds', 'devox_model_info', 'devox_active_calls', 'devox_verdicts_total'];
  const queried = new Set(files.flatMap((f) => JSON.parse(readFileSync(resolve(dir, f), 'utf8')).panels.flatMap((p: { targets?: Array<{ expr?: string }> }) => (p.targets ?? []).flatMap((x) => (x.expr ? selectors(x.expr).selectors.map((s) => s.metric) : [])))));
  for (const w of wanted) t.ok(queried.has(w), `dashboard shows ${w}`);
});

t.test('multi-node: an instance variable every query honours, the suspicious stat, a link to the console', async (t) => {
  const dash = JSON.parse(readFileSync(resolve(projectRoot, 'grafana/dashboards/devox.json'), 'utf8')) as {
    templating: { list: Array<{ name: string; type: string; query: unknown; includeAll?: boolean; multi?: boolean }> };
    links: Array<{ title: string; url: string }>;
    panels: Array<{ title: string; type: string; targets?: Array<{ expr?: string }> }>;
  };
  const instance = dash.templating.list.find((v) => v.name === 'instance');
  t.match(instance, { type: 'query', includeAll: true, multi: true }, 'an instance variable, all or several nodes');
  t.match(JSON.stringify(instance?.query), /label_values\(devox_model_info, instance\)/);
  for (const p of dash.panels) {
    for (const target of p.targets ?? []) {
      for (const sel of selectors(target.expr ?? '').selectors) {
        t.ok(sel.matchers.some((m) => m.label === 'instance' && m.op === '=~' && m.value === '$instance'), `${p.title}: ${sel.metric} filtered by $instance`);
      }
    }
  }
  const suspicious = dash.panels.find((p) => p.type === 'stat' && /suspicious/i.test(p.title));
  t.ok(suspicious, 'a suspicious stat');
  t.match(suspicious?.targets?.[0]?.expr, /devox_verdicts_total\{instance=~"\$instance", label="suspicious"\}/);
  const link = dash.links.find((l) => /console/i.test(l.title));
  t.equal(link?.url, '${console_url}', 'a link to the console');
  t.match(dash.templating.list.find((v) => v.name === 'console_url'), { type: 'textbox', query: /\/console$/ });
});

t.test('provisioning points Grafana at the dashboards and at the datasource uid', async (t) => {
  const ds = readFileSync(resolve(projectRoot, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8');
  t.match(ds, /uid: devox-prometheus/);
  t.match(ds, /type: prometheus/);
  const prov = readFileSync(resolve(projectRoot, 'grafana/provisioning/dashboards/devox.yml'), 'utf8');
  t.match(prov, /type: file/);
  const prom = readFileSync(resolve(projectRoot, 'prometheus/prometheus.yml'), 'utf8');
  t.match(prom, /metrics_path: \/metrics/);
  t.match(prom, /job_name: devox/);
});
