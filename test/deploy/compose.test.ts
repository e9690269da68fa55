/**
 * docker-compose.yml is trunk-ready (docs/security.md): parsed as YAML and interpolated the way
 * `docker compose` does (${VAR}, ${VAR:-default}, ${VAR:?error}), it pins every image, has no
 * default secret (each one is ${VAR:?...}: compose refuses to start without it), publishes only
 * SIP and RTP beyond loopback, runs NATS with the shipped accounts config, Grafana without
 * anonymous access, drachtio with its secret from the environment, and gives DevoX an environment
 * that DevoX's own config loader accepts only with the control token. (docker is not available
 * here: this is the structural check; the NATS config itself runs in test/verdicts/nats-security.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { loadConfig, projectRoot } from '../../src/config.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  volumes?: string[];
  ulimits?: Record<string, number | { soft: number; hard: number }>;
}
interface Compose {
  services: Record<string, Service>;
}

const COMPOSE_TEXT = readFileSync(join(projectRoot, 'docker-compose.yml'), 'utf8');
const compose = parse(COMPOSE_TEXT) as Compose;
const services = compose.services;

class MissingVariable extends Error {
  override name = 'MissingVariable';
}

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $$ (a literal $). */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, name?: string, op?: string, arg?: string, bare?: string) => {
    if (m === '$$') return '$';
    if (bare) return env[bare] ?? '';
    const v = env[name!];
    const unset = op?.startsWith(':') ? v === undefined || v === '' : v === undefined;
    if (op?.endsWith('?') && unset) throw new MissingVariable(`${name}: ${arg}`);
    if (op?.endsWith('-') && unset) return arg ?? '';
    return v ?? '';
  });
}

/** Every ${...} reference in the file: name, operator, argument. */
const REFS = [...COMPOSE_TEXT.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?([^}]*)\}/g)].map((m) => ({ name: m[1]!, op: m[2] ?? '', arg: m[3] ?? '' }));
const SECRET_NAME = /SECRET|PASS|TOKEN|_KEY\b|CREDENTIAL/i;

const SAMPLE_ENV: Record<string, string> = {
  DEVOX_PUBLIC_IP: '203.0.113.10',
  DRACHTIO_SECRET: 'd'.repeat(48),
  DEVOX_HTTP_CONTROL_TOKEN: 'c'.repeat(64),
  DEVOX_NATS_PASS: 'n'.repeat(48),
  NATS_CONSUMER_PASS: 'm'.repeat(48),
  NATS_FEEDBACK_PASS: 'f'.repeat(48),
  NATS_REGISTRY_PASS: 'g'.repeat(48),
  GRAFANA_ADMIN_PASSWORD: 'g'.repeat(32),
};

function envOf(name: string, env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(services[name]!.environment ?? {})) out[k] = interpolate(String(v ?? ''), env);
  return out;
}

t.test('every image is pinned to a version; nothing is :latest', async (t) => {
  t.notMatch(COMPOSE_TEXT, /:latest\b/, 'no :latest anywhere');
  for (const [name, s] of Object.entries(services)) {
    if (s.image === undefined) {
      t.ok(s.build, `${name}: built from this repository`);
      continue;
    }
    t.match(s.image, /^[a-z0-9./-]+:v?\d+\.\d+\.\d+[A-Za-z0-9.-]*$|@sha256:[0-9a-f]{64}$/, `${name}: ${s.image} pinned to major.minor.patch (or a digest)`);
  }
  const dockerfile = readFileSync(join(projectRoot, 'Dockerfile'), 'utf8');
  for (const from of dockerfile.matchAll(/^FROM\s+(\S+)/gm)) t.notMatch(from[1]!, /:latest$|^[^:@]+$/, `Dockerfile FROM ${from[1]} has a tag`);
});

t.test('no default secrets: each is ${VAR:?...}, and compose refuses to start without it', async (t) => {
  const secretRefs = REFS.filter((r) => SECRET_NAME.test(r.name));
  t.ok(secretRefs.length >= 7, `${secretRefs.length} secret references`);
  for (const r of secretRefs) {
    t.equal(r.op, ':?', `\${${r.name}} is required (:?), never defaulted`);
    t.ok(r.arg.trim().length > 0, `\${${r.name}:?} says what to set`);
  }
  // No literal values for secret-named variables anywhere.
  for (const [name, s] of Object.entries(services)) {
    for (const [k, v] of Object.entries(s.environment ?? {})) {
      if (SECRET_NAME.test(k) && !/_FILE$/.test(k)) t.match(String(v), /^\$\{[A-Z_]+:\?[^}]+\}$/, `${name}.${k} comes from the operator's environment`);
    }
  }
  t.notMatch(COMPOSE_TEXT, /cymru/, 'no drachtio example secret');
  // Without the operator's values, interpolation fails for each service that needs one.
  for (const name of ['drachtio', 'nats', 'devox', 'grafana']) {
    t.throws(() => envOf(name, {}), { name: 'MissingVariable' }, `${name}: refused without its secrets`);
  }
  for (const missing of Object.keys(SAMPLE_ENV)) {
    const env = { ...SAMPLE_ENV };
    delete env[missing];
    let refused = false;
    try {
      interpolate(COMPOSE_TEXT, env);
    } catch (err) {
      refused = err instanceof MissingVariable && err.message.startsWith(`${missing}:`);
    }
    t.ok(refused, `without ${missing} compose refuses, naming it`);
  }
  t.doesNotThrow(() => interpolate(COMPOSE_TEXT, SAMPLE_ENV), 'with every value set, the file interpolates');
});

t.test('only SIP and RTP are published beyond loopback', async (t) => {
  const expose = (p: string): { host: string; target: string } => {
    const parts = interpolate(p, SAMPLE_ENV).split(':');
    return parts.length === 3 ? { host: parts[0]!, target: parts[2]! } : { host: '0.0.0.0', target: parts[parts.length - 1]! };
  };
  const open: string[] = [];
  for (const [name, s] of Object.entries(services)) {
    for (const p of s.ports ?? []) {
      const e = expose(p);
      if (e.host !== '127.0.0.1') open.push(`${name} ${e.target}`);
    }
  }
  t.same(open.sort(), ['devox 40000-40199/udp', 'drachtio 5060/tcp', 'drachtio 5060/udp'], 'the trunk-facing ports only');
  t.notOk((services.nats!.ports ?? []).some((p) => /8222/.test(p)), 'no NATS monitoring port');
});

t.test('NATS runs the shipped accounts config with its passwords from the environment', async (t) => {
  const nats = services.nats!;
  const command = Array.isArray(nats.command) ? nats.command.join(' ') : String(nats.command);
  t.match(command, /-c \/etc\/nats\/nats-server\.conf/);
  t.ok(nats.volumes?.some((v) => v.startsWith('./docker/nats/nats-server.conf:/etc/nats/nats-server.conf')), 'the config file is mounted');
  const conf = readFileSync(join(projectRoot, 'docker', 'nats', 'nats-server.conf'), 'utf8');
  const body = conf.replace(/#.*$/gm, '');
  t.match(body, /accounts\s*\{/, 'accounts');
  t.notMatch(body, /no_auth_user/, 'no anonymous fallback user');
  const users = [...body.matchAll(/\{\s*user:\s*(\w+),\s*password:\s*(\S+),\s*permissions:\s*\$(\w+)\s*\}/g)];
  t.same(users.map((u) => u[1]), ['devox', 'consumer', 'feedback', 'registry'], 'four users, each with permissions');
  const env = envOf('nats', SAMPLE_ENV);
  for (const u of users) {
    t.match(u[2]!, /^\$[A-Z_]+$/, `${u[1]}'s password is an environment variable`);
    t.ok(env[u[2]!.slice(1)], `${u[2]} is passed to the nats container`);
  }
  t.match(body, /DEVOX_CONSUMER\s*=\s*\{[^]*?subscribe:\s*\{\s*allow:\s*\["devox\.>", "_INBOX\.>"\]/, 'consumer reads devox.>');
  t.notMatch(/DEVOX_CONSUMER\s*=\s*\{([^]*?)\n\}/.exec(body)?.[1] ?? '', /"devox\.>"[^]*subscribe/, 'the consumer may not publish on devox.>');
  t.equal(envOf('devox', SAMPLE_ENV).DEVOX_NATS_USER, 'devox', 'DevoX connects as the publisher user');
});

t.test('Grafana: no anonymous access, admin password required, no sign-up', async (t) => {
  const env = envOf('grafana', SAMPLE_ENV);
  t.equal(env.GF_AUTH_ANONYMOUS_ENABLED, 'false');
  t.equal(env.GF_SECURITY_ADMIN_PASSWORD, SAMPLE_ENV.GRAFANA_ADMIN_PASSWORD);
  t.equal(env.GF_USERS_ALLOW_SIGN_UP, 'false');
  t.notOk(Object.keys(env).some((k) => k === 'GF_AUTH_ANONYMOUS_ORG_ROLE'), 'no anonymous role');
});

t.test('drachtio: secret from the environment, none in its config file', async (t) => {
  t.equal(envOf('drachtio', SAMPLE_ENV).DRACHTIO_SECRET, SAMPLE_ENV.DRACHTIO_SECRET);
  t.equal(envOf('devox', SAMPLE_ENV).DRACHTIO_SECRET, SAMPLE_ENV.DRACHTIO_SECRET, 'DevoX uses the same secret');
  const xml = readFileSync(join(projectRoot, 'docker', 'drachtio.conf.xml'), 'utf8').replace(/<!--[^]*?-->/g, '');
  t.notMatch(xml, /secret=/, 'no secret attribute in docker/drachtio.conf.xml');
  t.notOk((services.drachtio!.ports ?? []).some((p) => /9022/.test(p)), 'the admin port is not published');
});

t.test("DevoX's compose environment: valid only with the control token; no core dumps", async (t) => {
  const env = envOf('devox', SAMPLE_ENV);
  const c = loadConfig({ env });
  t.equal(c.http.host, '0.0.0.0');
  t.equal(c.http.controlToken, SAMPLE_ENV.DEVOX_HTTP_CONTROL_TOKEN, 'the control API requires the token');
  t.equal(c.nats.pass, SAMPLE_ENV.DEVOX_NATS_PASS);
  t.equal(c.sip.drachtioSecret, SAMPLE_ENV.DRACHTIO_SECRET);
  t.throws(() => loadConfig({ env: { ...env, DEVOX_HTTP_CONTROL_TOKEN: '' } }), { name: 'ConfigError', key: 'http.controlToken' },
    'the same environment without the token: DevoX refuses to start');
  t.throws(() => loadConfig({ env: { ...env, DRACHTIO_SECRET: 'cymru' } }), { name: 'ConfigError', key: 'sip.drachtioSecret' },
    "drachtio's example secret on a remote drachtio: refused");
  const core = services.devox!.ulimits?.core;
  t.equal(typeof core === 'object' ? core.hard : core, 0, 'compose: ulimits core 0');
  const dockerfile = readFileSync(join(projectRoot, 'Dockerfile'), 'utf8');
  t.match(dockerfile, /^ENTRYPOINT \[.*ulimit -c 0.*exec node dist\/cli\.js/m, 'the image sets ulimit -c 0 before node');
});
