/**
 * Decentralised NATS auth (operator mode) without nsc: an operator, a system account, a DEVOX
 * account with JetStream and user JWTs signed here with nkeys, as `nsc` would issue them. The
 * server config trusts the operator and preloads the accounts (resolver: MEMORY); a user gets a
 * creds file (its JWT and nkey seed), what `nsc generate creds` writes.
 */
import { randomBytes } from 'node:crypto';
import { nkeys } from '@nats-io/transport-node';

type KeyPair = ReturnType<typeof nkeys.createAccount>;

const b64u = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

/** A signed JWT (alg ed25519-nkey) with the claims nats-server reads. */
function signJwt(signer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const header = b64u(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const claims = { jti: randomBytes(16).toString('hex').toUpperCase(), iat: Math.floor(Date.now() / 1000), iss: signer.getPublicKey(), name, sub: subject, nats };
  const payload = b64u(JSON.stringify(claims));
  return `${header}.${payload}.${b64u(signer.sign(new TextEncoder().encode(`${header}.${payload}`)))}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export interface UserPermissions {
  pub: { allow?: string[]; deny?: string[] };
  sub: { allow?: string[]; deny?: string[] };
}

export class NatsOperator {
  readonly #operator = nkeys.createOperator();
  readonly #system = nkeys.createAccount();
  /** The DEVOX account's signing key (users it signs belong to it). */
  readonly account = nkeys.createAccount();

  /** nats-server configuration trusting this operator, with the accounts preloaded. */
  serverConfig(): string {
    const op = signJwt(this.#operator, this.#operator.getPublicKey(), 'devox-test-operator', { type: 'operator', version: 2 });
    const sys = signJwt(this.#operator, this.#system.getPublicKey(), 'SYS', { limits: UNLIMITED, type: 'account', version: 2 });
    const acc = signJwt(this.#operator, this.account.getPublicKey(), 'DEVOX', {
      limits: { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
      type: 'account',
      version: 2,
    });
    return [
      `operator: ${op}`,
      `system_account: ${this.#system.getPublicKey()}`,
      'resolver: MEMORY',
      'resolver_preload: {',
      `  ${this.account.getPublicKey()}: ${acc}`,
      `  ${this.#system.getPublicKey()}: ${sys}`,
      '}',
      '',
    ].join('\n');
  }

  /** A creds file for a new user of the DEVOX account (or signed by `issuer`, e.g. a key the server does not trust). */
  userCreds(name: string, permissions: UserPermissions, issuer: KeyPair = this.account): string {
    const user = nkeys.createUser();
    const jwt = signJwt(issuer, user.getPublicKey(), name, { ...permissions, subs: -1, data: -1, payload: -1, type: 'user', version: 2 });
    return [
      '-----BEGIN NATS USER JWT-----', jwt, '------END NATS USER JWT------', '',
      '************************* IMPORTANT *************************',
      'NKEY Seed printed below can be used to sign and prove identity.', '',
      '-----BEGIN USER NKEY SEED-----', new TextDecoder().decode(user.getSeed()), '------END USER NKEY SEED------', '',
    ].join('\n');
  }
}
