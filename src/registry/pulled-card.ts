/**
 * The card of a model folder just pulled from the registry's Object Store, or null when it has
 * none or it is not JSON (the caller refuses the version and says why). Shared by the serving
 * model's watcher and the shadow / canary candidates' watcher.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelCard } from '../detect/types.js';

export async function readPulledCard(dir: string): Promise<ModelCard | null> {
  const p = join(dir, 'card.json');
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(await readFile(p, 'utf8')) as ModelCard;
  } catch {
    return null;
  }
}
