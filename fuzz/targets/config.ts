/**
 * The config loader over random JSON: the input is a JSON object whose `env` member (strings)
 * becomes the environment (DEVOX_* overrides: integer / number / boolean / list parsing) and
 * whose other members are overrides merged over config/default.json; loadConfig merges and
 * validates it (zod schema, cross-field rules) and freezes the result. The harness drops
 * DEVOX_CONFIG (a path to read is not what is fuzzed here). Input that is not a JSON object is
 * the harness's to skip. Expected: ConfigError (naming the bad key).
 */
import { ConfigError, loadConfig } from '../../src/config.js';
import { check } from '../engine/target.js';

export const expected = [ConfigError];
export const maxLen = 8192;

export function fuzz(data: Buffer): void {
  let input: unknown;
  try {
    input = JSON.parse(data.toString('utf8'));
  } catch {
    return;
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return;
  const { env: rawEnv, ...overrides } = input as Record<string, unknown>;
  const env: Record<string, string> = {};
  if (typeof rawEnv === 'object' && rawEnv !== null) {
    for (const [k, v] of Object.entries(rawEnv)) if (typeof v === 'string' && k !== 'DEVOX_CONFIG') env[k] = v;
  }
  const cfg = loadConfig({ env, overrides });
  check(Object.isFrozen(cfg) && Object.isFrozen(cfg.media), 'config is not frozen');
  check(cfg.media.rtpPortMin <= cfg.media.rtpPortMax, 'rtpPortMin > rtpPortMax accepted');
}
