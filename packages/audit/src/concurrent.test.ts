import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnex, runNode, type Knex } from '@clouddocs/db';
import { AuditLog } from './log';
import { verifyAuditLog } from './verify';
import { openAuditFixture, sampleEvent, type AuditFixture } from './test-support';

let fx: AuditFixture;
let pools: Knex[] = [];
beforeAll(async () => {
  fx = await openAuditFixture();
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.destroy()));
  await fx?.close();
});

const SECONDS = 10;

async function childWriter(url: string, seconds: number, role: string): Promise<{ chainId: string; written: number }> {
  const script = fileURLToPath(new URL('./fixtures/writer-process.ts', import.meta.url));
  const run = await runNode(['--import', 'tsx', script, url, String(seconds), role]);
  if (run.code !== 0) throw new Error(`writer exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

async function writeFor(log: AuditLog, seconds: number, producers: number): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let written = 0;
  await Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      while (Date.now() < until) {
        await log.record(sampleEvent({ action: 'token.issued', detail: { p } }));
        written += 1;
      }
    }),
  );
  return written;
}

describe('several writers at once', () => {
  it(`two writers on separate pools and a writer in another process append for ${SECONDS} s; every chain verifies and every count matches`, async () => {
    pools = [await createKnex({ url: fx.db.url, poolMax: 3, serviceRole: true }), await createKnex({ url: fx.db.url, poolMax: 3, serviceRole: true })];
    const [a, b] = await Promise.all(pools.map((pool, i) => AuditLog.open(pool, `test-writer-${i}`)));
    const child = childWriter(fx.db.url, SECONDS, fx.db.embedded ? 'owner' : 'service');
    const [writtenA, writtenB] = await Promise.all([writeFor(a!, SECONDS, 25), writeFor(b!, SECONDS, 25)]);
    await Promise.all([a!.close(), b!.close()]);
    const fromChild = await child;

    const counts = Object.fromEntries(
      (await fx.admin('audit.events').select('chain_id').count({ n: '*' }).groupBy('chain_id')).map((r: Record<string, unknown>) => [r.chain_id, Number(r.n)]),
    );
    expect(counts[a!.chainId]).toBe(writtenA);
    expect(counts[b!.chainId]).toBe(writtenB);
    expect(counts[fromChild.chainId]).toBe(fromChild.written);
    expect(writtenA).toBeGreaterThan(100);
    expect(fromChild.written).toBeGreaterThan(100);

    const result = await verifyAuditLog(fx.admin);
    const registered = Object.keys(counts).length;
    expect(registered).toBeGreaterThanOrEqual(3);
    expect(result).toMatchObject({ ok: true, chains: registered, events: writtenA + writtenB + fromChild.written, firstBreak: null });
  }, 60_000);
});
