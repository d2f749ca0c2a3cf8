import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInternalAddress, OutboundRefusedError, OutboundTimeoutError, postForm } from './outbound-post';

let server: Server;
let base: string;
const hits: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/hang') return;
    if (req.url === '/redirect') return void res.writeHead(302, { location: '/target' }).end();
    res.writeHead(req.url === '/fail' ? 500 : 204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('outbound POSTs to relying parties', () => {
  it('internal addresses: loopback, private, link-local, CGNAT, unspecified, multicast, IPv6 ULA and mapped IPv4', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', 'not-an-ip']) expect(isInternalAddress(a), a).toBe(true);
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(isInternalAddress(a), a).toBe(false);
  });

  it('a non-local issuer never POSTs to an internal address: an IP literal, or a name that resolves to one', async () => {
    await expect(postForm(new URL(`${base}/ok`), 'a=1', { timeoutMs: 1000, allowInternal: false })).rejects.toBeInstanceOf(OutboundRefusedError);
    const port = new URL(base).port;
    await expect(postForm(new URL(`http://localhost:${port}/ok`), 'a=1', { timeoutMs: 1000, allowInternal: false })).rejects.toBeInstanceOf(OutboundRefusedError);
    await expect(postForm(new URL(`http://[::1]:${port}/ok`), 'a=1', { timeoutMs: 1000, allowInternal: false })).rejects.toBeInstanceOf(OutboundRefusedError);
    expect(hits).toEqual([]);
  });

  it('the status is the answer; a redirect is returned, not followed; no answer in time is a timeout', async () => {
    expect(await postForm(new URL(`${base}/ok`), 'a=1', { timeoutMs: 1000, allowInternal: true })).toBe(204);
    expect(await postForm(new URL(`${base}/fail`), 'a=1', { timeoutMs: 1000, allowInternal: true })).toBe(500);
    expect(await postForm(new URL(`${base}/redirect`), 'a=1', { timeoutMs: 1000, allowInternal: true })).toBe(302);
    expect(hits).not.toContain('/target');
    const started = Date.now();
    await expect(postForm(new URL(`${base}/hang`), 'a=1', { timeoutMs: 300, allowInternal: true })).rejects.toBeInstanceOf(OutboundTimeoutError);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
