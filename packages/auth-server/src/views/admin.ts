// The admin console's pages: navigation (Clients, Users, Keys, Audit), lists with a search field and
// Next/Previous links, and each object's page with its actions as forms (CSRF field, the button named
// for the action, a confirmation box for the destructive ones). No script.
import type { StoredAuditEvent } from '@clouddocs/audit';
import type { ClientView } from '../libraries/clients';
import type { UserView } from '../libraries/user-lifecycle';
import { html, type Raw } from './layout';

const nav = html`<nav aria-label="Admin"><a href="/admin/clients">Clients</a> · <a href="/admin/users">Users</a> · <a href="/admin/keys">Keys</a> · <a href="/admin/audit">Audit</a> · <a href="/account">Your account</a></nav>`;

export function adminPage(title: string, body: Raw, notice?: string, error?: string): Raw {
  return html`${nav}<h1>${title}</h1>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
${body}`;
}

export interface Paging {
  next?: string;
  previous?: string;
}

function pager(p: Paging): Raw {
  return html`<p class="row">${p.previous !== undefined ? html`<a href="${p.previous}" rel="prev">Previous</a>` : ''} ${p.next ? html`<a href="${p.next}" rel="next">Next</a>` : ''}</p>`;
}

function search(action: string, name: string, label: string, value: string | undefined): Raw {
  return html`<form method="get" action="${action}" role="search"><label for="search">${label}</label><input id="search" name="${name}" type="text" value="${value ?? ''}"><button type="submit" class="secondary">Search</button></form>`;
}

const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;

/** One action form; `confirm` adds a required confirmation box (destructive actions). */
function action(path: string, button: string, csrf: string, extra: Raw | '' = '', confirm?: string): Raw {
  return html`<form method="post" action="${path}">${csrfField(csrf)}${extra}${confirm ? html`<label><input type="checkbox" name="confirm" value="yes" required> ${confirm}</label>` : ''}<button type="submit" class="secondary">${button}</button></form>`;
}

export function clientListView(clients: ClientView[], q: string | undefined, paging: Paging): Raw {
  return html`${search('/admin/clients', 'q', 'Name or client id', q)}
<table><thead><tr><th>Client</th><th>Grants</th><th>State</th></tr></thead><tbody>
${clients.map((c) => html`<tr><td><a href="/admin/clients/${c.client_id}">${c.client_name}</a> <small>${c.client_id}</small></td><td>${c.grant_types.join(', ')}</td><td>${c.disabled ? 'disabled' : 'enabled'}</td></tr>`)}
</tbody></table>${pager(paging)}`;
}

export function clientDetailView(c: ClientView, csrf: string, newSecret?: string): Raw {
  const base = `/admin/clients/${c.client_id}`;
  return html`<dl>
<dt>Client id</dt><dd><code>${c.client_id}</code></dd>
<dt>Authentication</dt><dd>${c.token_endpoint_auth_method}</dd>
<dt>Grants</dt><dd>${c.grant_types.join(', ')}</dd>
<dt>Scope</dt><dd>${c.scope}</dd>
<dt>Redirect URIs</dt><dd>${c.redirect_uris.join(' ') || '—'}</dd>
<dt>Back-channel logout</dt><dd>${c.backchannel_logout_uri ?? '—'}</dd>
<dt>Registered by</dt><dd>${c.registered ? 'the client itself (dynamic registration): third-party' : 'an operator'}</dd>
<dt>State</dt><dd>${c.disabled ? 'disabled' : 'enabled'}</dd>
<dt>Previous secret valid until</dt><dd>${c.previous_secret_expires_at ?? '—'}</dd>
</dl>
${newSecret ? html`<p class="notice" role="status">New client secret (shown once): <code id="new-secret">${newSecret}</code></p>` : ''}
${c.disabled ? action(`${base}/enable`, 'Enable', csrf) : action(`${base}/disable`, 'Disable', csrf, '', 'The client can no longer authenticate; its grants and tokens are revoked.')}
${c.token_endpoint_auth_method !== 'none'
  ? action(
      `${base}/secret`,
      'Rotate secret',
      csrf,
      html`<label for="overlap">The old secret keeps working for</label><select id="overlap" name="previous_secret_expires_in"><option value="0">no time</option><option value="3600">one hour</option><option value="86400" selected>one day</option><option value="604800">one week</option></select>`,
    )
  : ''}
${action(`${base}/delete`, 'Delete', csrf, '', 'Delete this client, its grants and tokens.')}`;
}

export function userListView(users: UserView[], email: string | undefined, paging: Paging): Raw {
  return html`${search('/admin/users', 'email', 'Email', email)}
<table><thead><tr><th>User</th><th>Second factor</th><th>State</th></tr></thead><tbody>
${users.map((u) => html`<tr><td><a href="/admin/users/${u.id}">${u.email}</a> <small>${u.name ?? ''}</small></td><td>${[u.second_factors.totp ? 'TOTP' : '', u.second_factors.passkeys ? 'passkeys' : ''].filter(Boolean).join(', ') || '—'}</td><td>${u.disabled ? 'disabled' : 'enabled'}</td></tr>`)}
</tbody></table>${pager(paging)}`;
}

export function userDetailView(u: UserView, csrf: string): Raw {
  const base = `/admin/users/${u.id}`;
  return html`<dl>
<dt>Id</dt><dd><code>${u.id}</code></dd>
<dt>Email</dt><dd>${u.email} ${u.email_verified ? html`<small>(confirmed)</small>` : ''}</dd>
<dt>Name</dt><dd>${u.name ?? '—'}</dd>
<dt>Second factors</dt><dd>${[u.second_factors.totp ? `TOTP, ${u.second_factors.recovery_codes_left} recovery codes left` : '', u.second_factors.passkeys ? `${u.second_factors.passkeys} passkey(s)` : ''].filter(Boolean).join('; ') || 'none'}</dd>
<dt>Created</dt><dd>${u.created_at}</dd>
<dt>Last sign-in</dt><dd>${u.last_sign_in_at ?? '—'}</dd>
<dt>State</dt><dd>${u.disabled ? 'disabled' : 'enabled'}${u.platform_admin ? ', platform administrator' : ''}</dd>
</dl>
${u.disabled ? action(`${base}/enable`, 'Enable', csrf) : action(`${base}/disable`, 'Disable', csrf, '', 'Sign-in is refused; every session, grant and token ends.')}
${action(`${base}/sign-out`, 'Sign out', csrf)}
${u.second_factors.totp || u.second_factors.passkeys ? action(`${base}/reset-second-factors`, 'Reset second factors', csrf, '', 'Remove this user\'s second factors.') : ''}
${action(`${base}/delete`, 'Delete', csrf, '', 'Erase this user and their personal data.')}`;
}

export function keysView(keys: { kid: string; alg: string; generation: number; status: string; activates_at: string; retires_at: string | null }[], csrf: string): Raw {
  return html`<table><thead><tr><th>Key id</th><th>Algorithm</th><th>Generation</th><th>Status</th><th>Signs from</th><th>Retires</th></tr></thead><tbody>
${keys.map((k) => html`<tr><td><code>${k.kid}</code></td><td>${k.alg}</td><td>${k.generation}</td><td>${k.status}</td><td>${k.activates_at}</td><td>${k.retires_at ?? '—'}</td></tr>`)}
</tbody></table>
${action('/admin/keys/rotate', 'Rotate keys', csrf)}`;
}

export function auditView(events: StoredAuditEvent[], filters: { action?: string; actor?: string; target?: string }, paging: Paging): Raw {
  return html`<form method="get" action="/admin/audit" role="search">
<label for="f-action">Action</label><input id="f-action" name="action" type="text" value="${filters.action ?? ''}">
<label for="f-actor">Actor id</label><input id="f-actor" name="actor" type="text" value="${filters.actor ?? ''}">
<label for="f-target">Target id</label><input id="f-target" name="target" type="text" value="${filters.target ?? ''}">
<button type="submit" class="secondary">Search</button></form>
<table><thead><tr><th>When</th><th>Actor</th><th>Action</th><th>Target</th><th>Outcome</th></tr></thead><tbody>
${events.map((e) => html`<tr><td>${e.occurredAt}</td><td>${e.actor.type} ${e.actor.id ?? ''}</td><td>${e.action}</td><td>${e.target ? `${e.target.type} ${e.target.id ?? ''}` : ''}</td><td>${e.outcome}</td></tr>`)}
</tbody></table>${pager(paging)}`;
}
