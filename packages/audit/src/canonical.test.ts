import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, REDACTED, canonicalFields, canonicalJson, cleanDetail, cleanText, eventHash, isSecretKey } from './canonical';
import { AuditLog, prepareEvent } from './log';
import { verifyAuditLog } from './verify';
import { openAuditFixture, sampleEvent, type AuditFixture } from './test-support';
import type { JsonValue } from './events';

describe('detail and text fields are escaped against log injection', () => {
  it('control characters, line separators and lone surrogates are escaped or replaced', () => {
    expect(cleanText('a\nb\r\u0000c\u001b[31m\u2028')).toBe('a\\u000ab\\u000d\\u0000c\\u001b[31m\\u2028');
    expect(cleanText('x\ud800y')).toBe('x\ufffdy');
    expect(cleanText('😀')).toBe('😀');
    expect(cleanText('a'.repeat(600)).length).toBe(513);
  });

  it('an event with a forged log line in its fields is stored escaped', () => {
    const prepared = prepareEvent(
      sampleEvent({
        userAgent: 'curl\n2026-01-01 INFO admin logged in',
        actor: { type: 'anonymous', id: 'eve\r\nforged' },
        detail: { 'key\nwith newline': 'value\u0007', nested: { list: ['a\tb'] } },
      }),
    );
    expect(prepared.userAgent).toBe('curl\\u000a2026-01-01 INFO admin logged in');
    expect(prepared.actorId).toBe('eve\\u000d\\u000aforged');
    expect(prepared.detail).toEqual({ 'key\\u000awith newline': 'value\\u0007', nested: { list: ['a\\u0009b'] } });
  });
});

describe('secrets never reach the detail', () => {
  it('keys named like credentials are dropped, at any depth', () => {
    const detail = cleanDetail({
      email: 'a@example.com',
      password: 'hunter2',
      newPassword: 'x',
      client_secret: 's',
      clientSecret: 's',
      refresh_token: 'r',
      access_token: 'a',
      id_token: 'i',
      code_verifier: 'v',
      Authorization: 'Bearer abc',
      cookie: 'sid=1',
      'set-cookie': 'sid=1',
      api_key: 'k',
      nested: { password: 'p', kept: 1, deeper: [{ secret: 's', ok: true }] },
      token_type: 'Bearer',
      token_endpoint_auth_method: 'client_secret_basic',
    } as JsonValue);
    expect(detail).toEqual({
      email: 'a@example.com',
      nested: { kept: 1, deeper: [{ ok: true }] },
      token_type: 'Bearer',
      token_endpoint_auth_method: 'client_secret_basic',
    });
  });

  it('values that are bearer credentials (JWTs, Authorization headers) are replaced', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl';
    expect(cleanDetail({ note: jwt, header: 'Bearer abcdefghijklmnop', plain: 'Bearer' })).toEqual({ note: REDACTED, header: REDACTED, plain: 'Bearer' });
  });

  it('isSecretKey names the rule', () => {
    for (const key of ['password', 'PASSWORD_HASH', 'clientSecret', 'refreshToken', 'code-verifier', 'authorization', 'Cookie', 'private_key']) {
      expect(isSecretKey(key), key).toBe(true);
    }
    for (const key of ['email', 'grantId', 'tokenType', 'scope', 'reason', 'jti']) expect(isSecretKey(key), key).toBe(false);
  });

  it('non-JSON values become JSON: dates as ISO strings, NaN and bigint as null, cycles cut by depth', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const detail = cleanDetail({ at: new Date('2026-01-02T03:04:05.678Z'), n: Number.NaN, big: 1n, cyclic } as unknown as JsonValue) as Record<string, JsonValue>;
    expect(detail.at).toBe('2026-01-02T03:04:05.678Z');
    expect(detail.n).toBeNull();
    expect(detail.big).toBeNull();
    expect(JSON.stringify(detail.cyclic)).toContain('[depth]');
  });
});

describe('canonical JSON and the hash', () => {
  it('canonical JSON sorts keys and ignores insertion order', () => {
    expect(canonicalJson({ b: 1, a: [true, null, { d: 'x', c: 2 }] })).toBe('{"a":[true,null,{"c":2,"d":"x"}],"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('the fixed-order field encoding equals canonical JSON of the fields', () => {
    const fields = { ...prepareEvent(sampleEvent({ detail: { z: [1, { b: 2, a: 1 }], a: 'x' } })), chainId: 'c', seq: 7 };
    expect(canonicalFields(fields)).toBe(canonicalJson(fields as unknown as JsonValue));
    const empty = { ...prepareEvent(sampleEvent({ target: null, orgId: null, detail: {} })), chainId: 'c', seq: 1 };
    expect(canonicalFields(empty)).toBe(canonicalJson(empty as unknown as JsonValue));
  });

  it('the hash depends on the predecessor', () => {
    const fields = { ...prepareEvent(sampleEvent({ occurredAt: new Date(0) })), chainId: 'c', seq: 1 };
    expect(eventHash(GENESIS_HASH, fields)).not.toBe(eventHash('1'.repeat(64), fields));
    expect(eventHash(GENESIS_HASH, fields)).toMatch(/^[0-9a-f]{64}$/);
  });

  describe('stable across a round trip through PostgreSQL (jsonb, timestamptz, text)', () => {
    let fx: AuditFixture;
    beforeAll(async () => {
      fx = await openAuditFixture();
    });
    afterAll(async () => {
      await fx?.close();
    });

    it('awkward details verify after being stored and read back', async () => {
      const awkward: Record<string, JsonValue> = {
        zeta: 1,
        alpha: 'first',
        '10': 'numeric key',
        '2': 'another',
        float: 0.1 + 0.2,
        big: 2 ** 60,
        tiny: 5e-324,
        huge: 1e21,
        negZero: -0,
        exp: 1.5e-7,
        unicode: 'héllo wörld — 日本語 😀',
        lone: 'a\udc00b',
        escapes: '"quoted" \\ back/slash',
        nested: { b: [1, 'two', { c: null, a: false }], a: {} },
        emptyList: [],
        longKeyName: 'x'.repeat(2000),
      };
      const log = await AuditLog.open(fx.service, 'test-roundtrip');
      await log.record(sampleEvent({ detail: awkward, occurredAt: new Date('2026-03-04T05:06:07.089Z'), userAgent: 'Mozilla/5.0 (X11) ü' }));
      await log.record(sampleEvent({ detail: {}, target: null, orgId: null, requestId: null, ip: null, userAgent: null }));
      await log.close();
      expect(await verifyAuditLog(fx.admin, { chainIds: [log.chainId] })).toMatchObject({ ok: true, events: 2 });
      const [row] = await fx.admin('audit.events').where({ chain_id: log.chainId, seq: 1 });
      expect(row.detail.float).toBe(0.30000000000000004);
      expect(row.detail.lone).toBe('a\ufffdb');
    });

    it('a list with holes or undefined members is stored with nulls, hashed as stored, and verifies', async () => {
      const sparse = [1, , 3, undefined] as unknown as JsonValue;
      expect(cleanDetail({ list: sparse })).toEqual({ list: [1, null, 3, null] });
      expect(canonicalJson([1, , 3] as unknown as JsonValue)).toBe('[1,null,3]');
      const log = await AuditLog.open(fx.service, 'test-sparse');
      await log.record(sampleEvent({ detail: { list: sparse } }));
      await log.close();
      expect(await verifyAuditLog(fx.admin, { chainIds: [log.chainId] })).toMatchObject({ ok: true, events: 1 });
      const [row] = await fx.admin('audit.events').where({ chain_id: log.chainId, seq: 1 });
      expect(row.detail.list).toEqual([1, null, 3, null]);
    });
  });
});
