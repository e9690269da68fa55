/** Model folders for registry tests: a copy of a fixture model with card fields changed. */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A copy of a model folder with card fields changed (the ONNX file and its sha256 kept unless patched). */
export function modelCopy(src: string, patch: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'devox-model-'));
  cpSync(src, dir, { recursive: true });
  const card = JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8'));
  writeFileSync(join(dir, 'card.json'), JSON.stringify({ ...card, ...patch }, null, 2));
  return dir;
}
