/** The errors of verdicts/: the event publishers and the verdict policy. */
export type NatsPublisherErrorCode = 'auth' | 'credentials' | 'tls' | 'unreachable' | 'jetstream' | 'permission';

export class NatsPublisherError extends Error {
  readonly code: NatsPublisherErrorCode;
  readonly servers: readonly string[];
  constructor(code: NatsPublisherErrorCode, servers: readonly string[], message: string, options?: { cause?: unknown }) {
    super(`NATS ${servers.join(',')}: ${message}`, options);
    this.name = 'NatsPublisherError';
    this.code = code;
    this.servers = servers;
  }
}

export class VerdictPolicyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VerdictPolicyError';
  }
}
