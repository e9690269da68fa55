/**
 * Source-network check for SIP requests (sip.allowedNetworks): CIDRs or single addresses,
 * IPv4 and IPv6, on node's built-in net.BlockList. An empty list admits nobody: putting a
 * recorder that receives call audio on an open port must be a deliberate "0.0.0.0/0".
 */
import { BlockList, isIP } from 'node:net';
import { NetworkAclError } from './errors.js';

export { NetworkAclError } from './errors.js';

export class NetworkAcl {
  readonly #list = new BlockList();
  readonly size: number;

  /** Throws NetworkAclError naming the first entry that is not an address or CIDR. */
  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim();
      const [addr, prefixText, extra] = entry.split('/');
      const family = isIP(addr ?? '');
      if (family === 0 || extra !== undefined) throw new NetworkAclError(raw, `not an IP address or CIDR: ${JSON.stringify(raw)}`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefixText === undefined) {
        this.#list.addAddress(addr!, type);
        continue;
      }
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (!(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) {
        throw new NetworkAclError(raw, `bad prefix length in ${JSON.stringify(raw)}`);
      }
      this.#list.addSubnet(addr!, prefix, type);
    }
    this.size = entries.length;
  }

  allows(address: string): boolean {
    // IPv4-mapped IPv6 (::ffff:10.0.0.1) as seen on dual-stack sockets is checked as IPv4.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    const a = mapped ? mapped[1]! : address;
    const family = isIP(a);
    if (family === 0) return false;
    return this.#list.check(a, family === 4 ? 'ipv4' : 'ipv6');
  }
}
