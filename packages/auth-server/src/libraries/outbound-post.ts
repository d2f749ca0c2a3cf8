// A form POST from the server to a relying party's endpoint (back-channel logout tokens): the whole
// exchange bounded by a timeout (until the status line), redirects never followed (node:http follows
// none), and, unless the issuer itself is local (development), never to a loopback, private,
// link-local or otherwise internal address: checked on the literal host and on every address the
// name resolves to at connect time (so a name that re-resolves to an internal address is refused too).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';

const INTERNAL = new BlockList();
for (const [net, bits] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 3]] as const) INTERNAL.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) INTERNAL.addSubnet(net, bits, 'ipv6');

/** Whether an IP address (v4, v6, or v4-mapped v6) is internal: loopback, private, link-local, multicast, unspecified. */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return INTERNAL.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true; // not an address at all: refuse
  return INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export class OutboundRefusedError extends Error {
  override readonly name = 'OutboundRefusedError';
}

export class OutboundTimeoutError extends Error {
  override readonly name = 'OutboundTimeoutError';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that refuses internal addresses (called by node:net at connect time). */
function externalOnlyLookup(hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback): void {
  dnsLookup(hostname, { family: options.family ?? 0, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    if (addresses.length === 0 || addresses.some((a) => isInternalAddress(a.address))) {
      return callback(Object.assign(new OutboundRefusedError(`${hostname} resolves to an internal address`), { code: 'EREFUSEDINTERNAL' }), []);
    }
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  });
}

/** POSTs `body` (application/x-www-form-urlencoded); resolves with the response status, never follows a redirect. */
export function postForm(url: URL, body: string, options: { timeoutMs: number; allowInternal: boolean }): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!options.allowInternal && isIP(host) && isInternalAddress(host)) return reject(new OutboundRefusedError(`${host} is an internal address`));
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), accept: 'application/json' },
        agent: false,
        ...(options.allowInternal ? {} : { lookup: externalOnlyLookup as never }),
      },
      (response) => {
        clearTimeout(timer);
        response.destroy(); // the status is the answer; its body is not read
        resolve(response.statusCode ?? 0);
      },
    );
    const timer = setTimeout(() => request.destroy(new OutboundTimeoutError(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    request.on('error', (err) => {
      clearTimeout(timer);
      reject((err as { code?: string }).code === 'EREFUSEDINTERNAL' ? new OutboundRefusedError(err.message) : err);
    });
    request.end(body);
  });
}
