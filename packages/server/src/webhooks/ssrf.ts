/**
 * The webhook target filter (SSRF): a webhook URL is the integrator's, but the request leaves
 * from inside the clinic's network, so it must not reach what only that network can — the
 * server itself, the database, the cloud metadata service. Refused: loopback, private
 * (RFC 1918, IPv6 unique-local), link-local (169.254/16 with the metadata address, fe80::/10),
 * shared (100.64/10), "this network" (0/8, ::), multicast, reserved and benchmark ranges, and
 * IPv4-mapped IPv6 forms of all of these. Checked twice: when a subscription is created or its
 * URL changed (the host's addresses now), and on every attempt, on the address the connection
 * actually uses (the lookup passed to the request), so a host that later resolves elsewhere (DNS
 * rebinding) is refused too. `webhooks.allowedTargets` lists hosts (names, addresses, CIDR
 * ranges) that may be internal anyway — an in-house receiver, the tests' local one.
 */
import { BlockList, isIP, type LookupFunction } from 'node:net';
import dns from 'node:dns';
import { fail } from '../domain/errors.ts';

const FORBIDDEN_V4: [string, number][] = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24],
  ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const FORBIDDEN_V6: [string, number][] = [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
];

// (IPv4-mapped IPv6 addresses are judged as their IPv4 address, below: a ::ffff:0:0/96 entry
// would make BlockList refuse every IPv4 address.)
const forbiddenList = new BlockList();
for (const [a, p] of FORBIDDEN_V4) forbiddenList.addSubnet(a, p, 'ipv4');
for (const [a, p] of FORBIDDEN_V6) forbiddenList.addSubnet(a, p, 'ipv6');

/** Whether an address is one a webhook may not reach (an IPv4-mapped IPv6 address is judged as its IPv4 address). */
export function isForbiddenAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return isForbiddenAddress(mapped[1]!);
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex) {
    const [hi, lo] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
    return isForbiddenAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  const family = isIP(address);
  if (family === 0) return true;
  return forbiddenList.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export class TargetFilter {
  readonly #hosts = new Set<string>();
  readonly #allowed = new BlockList();

  /** `allowed`: comma-separated host names, addresses and CIDR ranges (`webhooks.allowedTargets`). */
  constructor(allowed: string) {
    for (const raw of allowed.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean)) {
      const [addr, bits] = raw.split('/');
      const family = isIP(addr!);
      if (family !== 0 && bits !== undefined) this.#allowed.addSubnet(addr!, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
      else if (family !== 0) this.#allowed.addAddress(addr!, family === 4 ? 'ipv4' : 'ipv6');
      else this.#hosts.add(raw);
    }
  }

  /** Whether a connection to `address` (reached through `host`) is allowed. */
  allows(host: string, address: string): boolean {
    if (this.#hosts.has(host.toLowerCase())) return true;
    const family = isIP(address);
    if (family !== 0 && this.#allowed.check(address, family === 4 ? 'ipv4' : 'ipv6')) return true;
    return !isForbiddenAddress(address);
  }

  /** Throws `webhook.url_forbidden` when the URL's host is, or resolves to, a refused address. A host that does not resolve now passes (each attempt checks again). */
  async check(url: string): Promise<void> {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    if (this.#hosts.has(host.toLowerCase())) return;
    let addresses: string[];
    if (isIP(host) !== 0) addresses = [host];
    else {
      try {
        addresses = await Promise.race([
          dns.promises.lookup(host, { all: true, verbatim: true }).then((l) => l.map((a) => a.address)),
          new Promise<string[]>((resolve) => setTimeout(() => resolve([]), 2000).unref()),
        ]);
      } catch {
        addresses = [];
      }
    }
    const bad = addresses.find((a) => !this.allows(host, a));
    if (bad !== undefined) throw fail('webhook.url_forbidden', undefined, { url, address: bad });
  }

  /** A `lookup` for `http.request` that refuses (error code `EFORBIDDEN`) a host resolving to a refused address. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, list) => {
      if (err) return (callback as (e: Error) => void)(err);
      const addrs = list as dns.LookupAddress[];
      const bad = addrs.find((a) => !this.allows(hostname, a.address));
      if (bad) {
        const e = Object.assign(new Error(`refused: ${hostname} resolves to ${bad.address}, an internal address (webhooks.allowedTargets)`), { code: 'EFORBIDDEN' });
        return (callback as (e: Error) => void)(e);
      }
      if ((options as { all?: boolean }).all) (callback as (e: null, a: dns.LookupAddress[]) => void)(null, addrs);
      else (callback as (e: null, a: string, f: number) => void)(null, addrs[0]!.address, addrs[0]!.family);
    });
  };
}
