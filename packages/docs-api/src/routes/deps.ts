// What the route files are built from: plain objects, so tests build the real thing.
import type { Knex } from '@clouddocs/db';
import type { AuthzCache } from '../authz-cache';
import type { CursorCodec } from '../cursor';
import type { DocumentLibrary } from '../libraries/documents';
import type { OrganizationLibrary } from '../libraries/organizations';
import type { RecordDenial } from '../middleware/record-denial';

export interface RouteDeps {
  knex: Knex;
  /** The authorization data of reads (memberships, documents, shares), invalidated by every write. */
  authz: AuthzCache;
  cursors: CursorCodec;
  organizations: OrganizationLibrary;
  documents: DocumentLibrary;
  recordDenial: RecordDenial;
}

/** `limit + 1` rows were asked for: the extra one says whether there is a next page. */
export function pageOf<T>(rows: T[], limit: number, cursorFor: (last: T) => string): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? cursorFor(items[items.length - 1]!) : null };
}
