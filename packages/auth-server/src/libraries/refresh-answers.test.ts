// The kept first answers of refresh tokens (the reuse grace window): sealed at rest under a digest of
// the token, bound to it, kept only for the window, found by a bounded wait.
import { MemoryKv } from '@clouddocs/kv';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { SecretBox } from '../secret-box';
import { createRefreshAnswerLibrary, refreshRequestDigest, type RefreshAnswer } from './refresh-answers';

const KEY = 'refresh-answers-test-encryption-key-0123456789';
const box = new SecretBox(KEY);

const digestOf = (token: string) => createHash('sha256').update(token).digest('base64url');

const answer = (over: Partial<RefreshAnswer> = {}): RefreshAnswer => ({
  clientId: 'client-a',
  request: refreshRequestDigest({}),
  grantId: 'grant-1',
  accountId: 'account-1',
  body: { access_token: 'AT-secret-value', refresh_token: 'RT-new-secret-value', id_token: 'ID-secret-value', token_type: 'Bearer', expires_in: 600, scope: 'openid docs:read' },
  answeredAt: Date.now(),
  accessTokenJti: 'jti-1',
  ...over,
});

afterEach(() => {
  vi.useRealTimers();
});

describe('keeping a first answer', () => {
  it('is sealed at rest: the cache holds neither the used token nor any token of the answer in the clear', async () => {
    const kv = new MemoryKv();
    const answers = createRefreshAnswerLibrary({ kv, box, graceSeconds: 10 });
    await answers.keep('RT-used-secret-value', answer());
    const keys = await kv.keys('oidc:refresh-answer:');
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toContain('RT-used-secret-value');
    const stored = (await kv.get(keys[0]!))!;
    expect(stored).toMatch(/^v1\./);
    for (const secret of ['RT-used-secret-value', 'AT-secret-value', 'RT-new-secret-value', 'ID-secret-value', 'client-a']) expect(stored).not.toContain(secret);
    expect(await answers.find('RT-used-secret-value')).toEqual(answer({ answeredAt: expect.any(Number) as never }));
  });

  it('is kept only for the grace window', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const kv = new MemoryKv();
    const answers = createRefreshAnswerLibrary({ kv, box, graceSeconds: 5 });
    await answers.keep('RT-used', answer());
    vi.setSystemTime(Date.now() + 4_900);
    expect(await answers.find('RT-used')).toBeDefined();
    vi.setSystemTime(Date.now() + 200);
    expect(await answers.find('RT-used')).toBeUndefined();
  });

  it('with grace 0 nothing is kept', async () => {
    const kv = new MemoryKv();
    const answers = createRefreshAnswerLibrary({ kv, box, graceSeconds: 0 });
    expect(answers.enabled).toBe(false);
    await answers.keep('RT-used', answer());
    expect(await kv.keys('oidc:refresh-answer:')).toEqual([]);
  });

  it('an answer sealed for one token does not open as another token\'s, nor under another key', async () => {
    const kv = new MemoryKv();
    const answers = createRefreshAnswerLibrary({ kv, box, graceSeconds: 10 });
    await answers.keep('RT-one', answer());
    await answers.keep('RT-two', answer({ clientId: 'client-b' }));
    const keys = await kv.keys('oidc:refresh-answer:');
    const [one, two] = ['RT-one', 'RT-two'].map((t) => keys.find((k) => k.endsWith(digestOf(t))));
    // RT-one's sealed answer copied under RT-two's key: refused, as if there were none.
    await kv.set(two!, (await kv.get(one!))!, 10);
    expect(await answers.find('RT-two')).toBeUndefined();
    expect(await answers.find('RT-one')).toMatchObject({ clientId: 'client-a' });
    // Under another AUTH_ENCRYPTION_KEY: as if there were none.
    const foreign = createRefreshAnswerLibrary({ kv, box: new SecretBox('another-encryption-key-of-enough-length-xyz'), graceSeconds: 10 });
    expect(await foreign.find('RT-one')).toBeUndefined();
  });
});

describe('waiting for a first answer', () => {
  it('returns one given while it waits', async () => {
    const kv = new MemoryKv();
    const answers = createRefreshAnswerLibrary({ kv, box, graceSeconds: 10, waitMs: 5_000, pollMs: 10 });
    const waiting = answers.waitFor('RT-used');
    setTimeout(() => void answers.keep('RT-used', answer()), 50);
    expect(await waiting).toMatchObject({ clientId: 'client-a', body: { refresh_token: 'RT-new-secret-value' } });
  });

  it('gives up after its bound when none comes', async () => {
    const kv = new MemoryKv();
    const answers = createRefreshAnswerLibrary({ kv, box, graceSeconds: 10, waitMs: 100, pollMs: 10 });
    expect(await answers.waitFor('RT-never')).toBeUndefined();
  });
});

describe('the answer given again', () => {
  it('carries the same tokens, expires_in counted down from the first answer', () => {
    const answers = createRefreshAnswerLibrary({ kv: new MemoryKv(), box, graceSeconds: 10 });
    const first = answer({ answeredAt: 1_000_000 });
    expect(answers.again(first, 1_000_000 + 3_400)).toEqual({ ...first.body, expires_in: 597 });
    expect(first.body.expires_in).toBe(600);
  });
});

describe('the request digest', () => {
  it('ignores scope order, and tells apart scope, resource and DPoP key', () => {
    expect(refreshRequestDigest({ scope: 'openid docs:read' })).toBe(refreshRequestDigest({ scope: 'docs:read openid' }));
    expect(refreshRequestDigest({ scope: 'openid' })).not.toBe(refreshRequestDigest({ scope: 'openid docs:read' }));
    expect(refreshRequestDigest({})).toBe(refreshRequestDigest({ scope: '' }));
    expect(refreshRequestDigest({ resource: 'https://a' })).not.toBe(refreshRequestDigest({}));
    expect(refreshRequestDigest({ dpopJkt: 'k1' })).not.toBe(refreshRequestDigest({ dpopJkt: 'k2' }));
  });
});
