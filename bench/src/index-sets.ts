// `npx tsx bench/src/index-sets.ts`: what a person's history costs the session index (and a grant's
// token index) in Redis. A session lapses after its ttl, but the index entry pointing at it stayed in
// the index until the whole set expired, and every sign-in extended the set: an account used daily kept
// every session uid it ever had, and the account page and "sign out everywhere" looked each one up.
// For N sessions that lapsed and one alive, the earlier plain set (SADD, EXPIRE GT/NX: reproduced here
// with the same commands) against the index as `RedisKv.addToSet` keeps it now: members the next
// reader gets, the key's memory, and the time of what the session directory does with them (the
// members, then one GET per member). Needs REDIS_URL (default redis://127.0.0.1:6379).
import { randomBytes } from 'node:crypto';
import { RedisKv } from '@clouddocs/kv';

const prefix = `bench:index:${randomBytes(4).toString('hex')}:`;
const kv = new RedisKv(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix);
await kv.ping();
const { client } = kv;

const oldAdd = (key: string, member: string, ttl: number) => client.multi().sadd(key, member).expire(key, ttl, 'GT').expire(key, ttl, 'NX').exec();
const oldMembers = (key: string) => client.smembers(key);

async function directoryRead(members: (key: string) => Promise<string[]>, key: string) {
  const started = process.hrtime.bigint();
  const uids = await members(key);
  await Promise.all(uids.map((uid) => client.get(`session-by-uid:${uid}`)));
  return { uids: uids.length, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

const rows: string[] = [];
for (const lapsed of [10, 1_000, 10_000]) {
  for (const [name, add, members] of [
    ['earlier plain set', oldAdd, oldMembers],
    ['index as kept now', (k: string, m: string, t: number) => kv.addToSet(k, m, t), (k: string) => kv.setMembers(k)],
  ] as const) {
    const key = `sessions:${name.length}:${lapsed}`;
    await add(key, 'alive', 1209600); // a session still alive (14 days) while the others come and lapse
    for (let i = 0; i < lapsed; i += 50) await Promise.all(Array.from({ length: Math.min(50, lapsed - i) }, (_, j) => add(key, `lapsed-${i + j}`, 1)));
    await new Promise((r) => setTimeout(r, 1_100));
    await add(key, 'today', 1209600); // today's sign-in
    const bytes = Number(await client.memory('USAGE', key));
    const reads = [];
    for (let r = 0; r < 5; r += 1) reads.push(await directoryRead(members, key));
    const ms = reads.map((r) => r.ms).sort((a, b) => a - b)[2]!;
    rows.push(`| ${lapsed.toLocaleString('en')} | ${name} | ${reads[0]!.uids.toLocaleString('en')} | ${bytes.toLocaleString('en')} B | ${ms.toFixed(2)} ms |`);
    await client.del(key);
  }
}
console.log('| sessions that lapsed | index | members read | key memory | members + one GET each (median of 5) |');
console.log('| --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);
await kv.close();
