// Requests the auth server makes to addresses a client registered (its jwks_uri, for the JWT
// introspection/revocation front): like oidc-provider's own outgoing requests, they refuse loopback,
// private and other special-use addresses, unless the issuer itself is on localhost (development).
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const SPECIAL_USE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 3],
] as const) SPECIAL_USE.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['2001:db8::', 32], ['64:ff9b::', 96]] as const) SPECIAL_USE.addSubnet(net, prefix, 'ipv6');

export class SpecialUseAddressError extends Error {
  override readonly name = 'SpecialUseAddressError';
}

/** Whether an IP address is loopback, private, link-local or otherwise not on the public internet. */
export function isSpecialUseAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return SPECIAL_USE.check(mapped[1]!, 'ipv4');
  return SPECIAL_USE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** fetch, refusing hosts that resolve to a special-use address (`allowLocal`: a localhost issuer). */
export function guardedFetch(allowLocal: boolean) {
  return async (url: string, init: RequestInit): Promise<Response> => {
    if (!allowLocal) {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      const addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
      if (addresses.length === 0 || addresses.some(isSpecialUseAddress)) throw new SpecialUseAddressError(`${host} resolves to a special-use address`);
    }
    return fetch(url, init);
  };
}
