/**
 * The config of a CLI command that talks to NATS (`devox feedback`, `devox model`, `devox learn`):
 * the operator config file (or the defaults and DEVOX_* variables) with `--nats URL[,URL]`
 * overriding nats.servers. Either the config, or the one-line reason a user should read.
 */
import { ConfigError, loadConfig, type Config } from '../config.js';

export function natsCliConfig(file: string | undefined, nats: string | undefined): { config: Readonly<Config> } | { error: string } {
  let config: Readonly<Config>;
  try {
    const servers = nats?.split(',').map((s) => s.trim()).filter(Boolean);
    config = loadConfig({ file, overrides: servers ? { nats: { servers } } : undefined });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { error: err.message };
  }
  if (config.nats.servers.length === 0) return { error: 'no NATS server configured (--nats URL, nats.servers or DEVOX_NATS_SERVERS)' };
  return { config };
}
