// Pub/sub with acknowledgements: the publisher waits (bounded) until every subscribed process has
// applied the message, so "the next request sees it" holds across processes, not only in the writer.
import { randomUUID } from 'node:crypto';
import type { Kv } from './kv';

const ACK_PREFIX = 'ack:';
/** The longest a publisher waits for acknowledgements (a subscriber that is down does not block it). */
export const ACK_WAIT_MS = 250;
const ACK_ID = /^[0-9a-f-]{36}$/;

/** Publishes `message` (a JSON object) with an acknowledgement id and waits for every receiver. */
export async function publishAcknowledged(kv: Kv, channel: string, message: Record<string, unknown>, waitMs = ACK_WAIT_MS): Promise<void> {
  const ack = randomUUID();
  const receivers = await kv.publish(channel, JSON.stringify({ ...message, ack }));
  const deadline = Date.now() + waitMs;
  while (receivers > 0 && Date.now() < deadline) {
    if (Number((await kv.get(`${ACK_PREFIX}${ack}`)) ?? 0) >= receivers) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Called by a subscriber once it has applied a message that carried `ack`. */
export function acknowledge(kv: Kv, ack: unknown): void {
  if (typeof ack === 'string' && ACK_ID.test(ack)) void kv.increment(`${ACK_PREFIX}${ack}`, 60).catch(() => undefined);
}
