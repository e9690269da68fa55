/**
 * npm itself, as a developer calls it in this repository: no "Unknown project config" warning
 * (the onnxruntime CUDA skip moved from an .npmrc key to ONNXRUNTIME_NODE_INSTALL), and the
 * variable does what the README says: onnxruntime-node's installer exits at once, no download.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from '../src/config.js';

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: projectRoot, timeout: 60_000, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

t.test('npm in the project prints no unknown-config warning', async (t) => {
  const r = await run('npm', ['pkg', 'get', 'name']);
  t.equal(r.code, 0);
  t.equal(r.stdout.trim(), '"devox"');
  t.notMatch(r.stderr, /Unknown (project|env|user) config/, `stderr: ${r.stderr.trim() || '(empty)'}`);
});

t.test('ONNXRUNTIME_NODE_INSTALL=skip makes the onnxruntime-node installer exit without downloading', async (t) => {
  const started = performance.now();
  const r = await run(process.execPath, [join(projectRoot, 'node_modules/onnxruntime-node/script/install.js')], {
    ONNXRUNTIME_NODE_INSTALL: 'skip',
    npm_config_onnxruntime_node_install: '',
  });
  t.equal(r.code, 0, 'exit 0');
  t.equal(r.stdout + r.stderr, '', 'nothing fetched, nothing printed');
  t.ok(performance.now() - started < 10_000, 'at once');
});
