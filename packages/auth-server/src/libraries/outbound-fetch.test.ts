// A client's jwks_uri is fetched by the JWT front only from public addresses (unless the issuer is local).
import { describe, expect, it } from 'vitest';
import { guardedFetch, isSpecialUseAddress, SpecialUseAddressError } from './outbound-fetch';

describe('outbound requests to client-registered URLs', () => {
  it('loopback, private, link-local and mapped addresses are special-use; public ones are not', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', 'not-an-ip']) expect(isSpecialUseAddress(a), a).toBe(true);
    for (const a of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111']) expect(isSpecialUseAddress(a), a).toBe(false);
  });

  it('a remote issuer refuses a jwks_uri on loopback or a private address before connecting; a localhost issuer allows it', async () => {
    const remote = guardedFetch(false);
    for (const url of ['https://127.0.0.1:1/jwks', 'https://[::1]:1/jwks', 'https://localhost:1/jwks', 'https://169.254.169.254/latest']) {
      await expect(remote(url, {})).rejects.toBeInstanceOf(SpecialUseAddressError);
    }
    await expect(guardedFetch(true)('http://127.0.0.1:1/jwks', {})).rejects.toThrow(/fetch failed/);
  });
});
