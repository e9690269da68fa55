/**
 * npm itself stays quiet in this project: no `Unknown project config` warning (the old
 * `.npmrc` key onnxruntime-node read), and the two dependency install scripts are denied in
 * `allowScripts` (onnxruntime-node's would download CUDA libraries from NuGet, which fails offline),
 * so npm ≥ 11.19 lists nothing to review. Real `npm` processes in the project root.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/config.js';

function npm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npm', args, { cwd: projectRoot, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const npmMajorMinor = (v: string): [number, number] => {
  const [major, minor] = v.trim().split('.').map(Number);
  return [major ?? 0, minor ?? 0];
};

t.test('no .npmrc key npm does not know', async (t) => {
  const rc = join(projectRoot, '.npmrc');
  if (existsSync(rc)) t.notMatch(readFileSync(rc, 'utf8'), /^\s*onnxruntime-node-install\s*=/m, 'no unknown key');
  const r = await npm(['pkg', 'get', 'name']);
  t.equal(r.code, 0, 'npm pkg get exits 0');
  t.equal(r.stdout.trim(), '"devox"', 'reads the project');
  t.notMatch(r.stderr, /npm warn/i, `no npm warning: ${r.stderr}`);
});

t.test('dependency install scripts are denied, not left for review', async (t) => {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  t.same(pkg.allowScripts, { 'onnxruntime-node': false, esbuild: false }, 'allowScripts denies both');
  const version = (await npm(['--version'])).stdout.trim();
  const [major, minor] = npmMajorMinor(version);
  if (major < 11 || (major === 11 && minor < 19)) {
    t.comment(`npm ${version} has no install-scripts command (npm ≥ 11.19): older npm needs ONNXRUNTIME_NODE_INSTALL=skip, as .ci/run sets`);
    return;
  }
  const r = await npm(['install-scripts', 'ls']);
  t.equal(r.code, 0, 'install-scripts ls exits 0');
  t.notMatch(r.stdout + r.stderr, /onnxruntime-node@|esbuild@/, `nothing left to review: ${r.stdout}${r.stderr}`);
});
