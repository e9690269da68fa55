/**
 * The shared speech corpus next to the checkout (../shared/data/speech, not in the repository): paths into it, and
 * the one skip reason every suite that needs it uses where it is absent.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { projectRoot } from '../../src/config.js';

export const SHARED_SPEECH_DIR = resolve(projectRoot, '..', 'shared', 'data', 'speech');
export const SHARED_MANIFEST = join(SHARED_SPEECH_DIR, 'manifest.csv');

/** A file of the shared corpus, by its manifest path (e.g. 'audio/resemblyzer/genuine/bonafide/libri-….flac'). */
export function sharedSpeech(manifestPath: string): string {
  return join(SHARED_SPEECH_DIR, manifestPath);
}

/** tap's `skip` for tests that need the shared corpus: false where it is present, else why they cannot run. */
export const NEEDS_SHARED_SPEECH: string | false = existsSync(SHARED_MANIFEST)
  ? false
  : `shared speech data not found at ${SHARED_SPEECH_DIR} (../shared/data/speech next to the checkout)`;

/**
 * A load from the shared corpus done once at a suite's top level (clips every test of the file uses): its value where
 * the corpus is present; where it is absent nothing is read and the value is `undefined` typed as T, so only tests
 * that skip with NEEDS_SHARED_SPEECH may touch it.
 */
export async function loadSharedSpeech<T>(load: () => T | Promise<T>): Promise<T> {
  return NEEDS_SHARED_SPEECH ? (undefined as T) : load();
}
