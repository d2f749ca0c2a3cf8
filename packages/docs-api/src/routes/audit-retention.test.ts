// The org audit route over a partitioned audit log whose oldest months were pruned.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, checkpointKeyId, ensureAuditPartitions, pruneAuditLog, signerFromPrivateKey, verifyAuditLog } from '@clouddocs/audit';
import { startHarness, type Harness } from '../testing/harness';
import { documentOf, orgWith, type TestUser } from '../testing/fixtures';

let h: Harness;
let owner: TestUser;
let orgId: string;
const { privateKey } = generateKeyPairSync('ed25519');
const signer = signerFromPrivateKey(privateKey);
const publicKey = createPublicKey(privateKey);

beforeAll(async () => {
  h = await startHarness();
  owner = await h.user();
  orgId = await orgWith(h, owner);
  // Older events of the org, as an earlier process would have written them.
  const old = await AuditLog.open(h.owner, 'docs-api-earlier');
  for (const [i, at] of ['2025-01-05', '2025-01-25', '2025-02-10', '2025-03-01'].entries()) {
    await old.record({ action: 'document.updated', actor: { type: 'user', id: owner.id }, target: { type: 'document', id: `old-${i}` }, outcome: 'success', orgId, occurredAt: new Date(`${at}T12:00:00Z`) });
  }
  await old.close();
  for (let i = 0; i < 3; i += 1) await documentOf(h, owner, { orgId, title: `t${i}` });
  await ensureAuditPartitions(h.owner);
}, 60_000);
afterAll(() => h?.close());

const listing = async (limit: number) => {
  const ids: number[] = [];
  const targets: string[] = [];
  let cursor: string | null = null;
  do {
    const res: any = await h.request('GET', `/orgs/${orgId}/audit?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: owner.token });
    expect(res.status).toBe(200);
    ids.push(...res.body.items.map((e: { id: number }) => e.id));
    targets.push(...res.body.items.map((e: { target: { id: string } | null }) => e.target?.id ?? ''));
    cursor = res.body.nextCursor;
  } while (cursor);
  return { ids, targets };
};

describe('GET /orgs/:orgId/audit after the oldest month is pruned', () => {
  it('pages newest first across the month partitions, without the dropped month', async () => {
    const whole = await listing(2);
    expect(whole.targets).toEqual(expect.arrayContaining(['old-0', 'old-1', 'old-2', 'old-3']));
    expect(whole.ids).toEqual([...whole.ids].sort((a, b) => b - a));

    const result = await pruneAuditLog(h.owner, { before: '2025-02', signer });
    expect(result.months).toEqual(['2025-01']);
    expect((await verifyAuditLog(h.owner, { checkpointKeys: { [checkpointKeyId(publicKey)]: publicKey } })).ok).toBe(true);

    const after = await listing(2);
    expect(after.targets).not.toContain('old-0');
    expect(after.targets).not.toContain('old-1');
    expect(after.targets).toEqual(expect.arrayContaining(['old-2', 'old-3']));
    expect(after.ids).toEqual(whole.ids.filter((_, i) => !['old-0', 'old-1'].includes(whole.targets[i]!)));
  });
});
