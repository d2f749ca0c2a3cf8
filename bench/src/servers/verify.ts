// `audit verify` as its own process, so that its peak memory is its own: prints the result, the wall
// time and the peak RSS (VmHWM) as one JSON line.
import { verifyAuditLog } from '@clouddocs/audit';
import { createKnex } from '@clouddocs/db';

const knex = await createKnex({ url: process.env.DATABASE_URL!, poolMax: 2 });
const started = performance.now();
const result = await verifyAuditLog(knex);
const seconds = (performance.now() - started) / 1000;
await knex.destroy();
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
process.stdout.write(`READY ${JSON.stringify({ ok: result.ok, events: result.events, seconds, peakRssMb })}\n`);
