// The contract's "who may do what", as a table over the one function that decides it.
import { describe, expect, it } from 'vitest';
import { documentActions, type Principal, type Role, type SharePermission } from './access';

const user = (id: string): Principal => ({ id, kind: 'user', clientId: 'app', scopes: new Set() });
const client = (id: string): Principal => ({ id, kind: 'client', clientId: id, scopes: new Set() });
const actions = (...args: Parameters<typeof documentActions>) => [...documentActions(...args)].sort();

describe('who may do what to a document', () => {
  const personal = { orgId: null, ownerId: 'alice' };
  const orgDoc = { orgId: 'org-1', ownerId: 'alice' };

  it.each<[string, SharePermission | undefined, string[]]>([
    ['alice', undefined, ['delete', 'read', 'share', 'write']],
    ['bob', undefined, []],
    ['bob', 'read', ['read']],
    ['bob', 'write', ['read', 'write']],
  ])('personal document: %s with share %s -> %j', (who, share, expected) => {
    expect(actions(personal, user(who), [], share)).toEqual(expected);
  });

  it.each<[Role, string[]]>([
    ['viewer', ['read']],
    ['editor', ['read', 'write']],
    ['admin', ['delete', 'read', 'share', 'write']],
    ['owner', ['delete', 'read', 'share', 'write']],
  ])('org document: a %s -> %j', (role, expected) => {
    expect(actions(orgDoc, user('bob'), [{ orgId: 'org-1', role }], undefined)).toEqual(expected);
  });

  it('org document: the creator gets no rights beyond its role; a non-member none; a role elsewhere does not count', () => {
    expect(actions(orgDoc, user('alice'), [{ orgId: 'org-1', role: 'editor' }], undefined)).toEqual(['read', 'write']);
    expect(actions(orgDoc, user('alice'), [], undefined)).toEqual([]);
    expect(actions(orgDoc, user('bob'), [{ orgId: 'org-2', role: 'owner' }], undefined)).toEqual([]);
  });

  it('a machine client has only its org role: no ownership, no shares', () => {
    expect(actions(orgDoc, client('svc'), [{ orgId: 'org-1', role: 'editor' }], 'write')).toEqual(['read', 'write']);
    expect(actions({ orgId: null, ownerId: 'svc' }, client('svc'), [], 'write')).toEqual([]);
    expect(actions(orgDoc, client('svc'), [], 'read')).toEqual([]);
  });
});
