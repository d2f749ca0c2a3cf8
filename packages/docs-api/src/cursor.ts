// Opaque, tamper-proof list cursors: base64url(JSON position) "." HMAC-SHA256 over the list name and
// the position, so a cursor cannot be forged, edited, or replayed on another list.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';
import { BadRequestError } from './errors';

export interface CursorCodec {
  encode(list: string, position: unknown): string;
  decode<T>(list: string, cursor: string, schema: z.ZodType<T>): T;
}

export function createCursorCodec(key: string): CursorCodec {
  const mac = (list: string, payload: string) => createHmac('sha256', key).update(`${list}\n${payload}`).digest();
  const invalid = () => new BadRequestError('the cursor is invalid; use a nextCursor exactly as returned');
  return {
    encode(list, position) {
      const payload = Buffer.from(JSON.stringify(position)).toString('base64url');
      return `${payload}.${mac(list, payload).toString('base64url')}`;
    },
    decode(list, cursor, schema) {
      const [payload, signature, extra] = cursor.split('.');
      if (!payload || !signature || extra !== undefined) throw invalid();
      const given = Buffer.from(signature, 'base64url');
      const expected = mac(list, payload);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
      let position: unknown;
      try {
        position = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      } catch {
        throw invalid();
      }
      const parsed = schema.safeParse(position);
      if (!parsed.success) throw invalid();
      return parsed.data;
    },
  };
}
