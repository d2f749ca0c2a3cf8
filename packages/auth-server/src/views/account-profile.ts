// The account console's profile part: name, sign-in address (a change is confirmed at the new
// address), password, recent activity, a download of one's data, and deleting the account.
import type { StoredAuditEvent } from '@clouddocs/audit';
import { html, type Raw } from './layout';

export function profileSection(input: { csrf: Raw; email: string; name: string | null; emailVerified: boolean }): Raw {
  const { csrf } = input;
  return html`
<section aria-labelledby="profile">
  <h2 id="profile">Profile</h2>
  <p>${input.name ?? ''} &lt;${input.email}&gt; ${input.emailVerified ? html`<small>(confirmed)</small>` : html`<small>(not confirmed yet)</small>`}</p>
  ${input.emailVerified
    ? ''
    : html`<form method="post" action="/account/verify-email">
    ${csrf}
    <button type="submit" class="secondary">Send the confirmation link again</button>
  </form>`}
  <form method="post" action="/account/profile">
    ${csrf}
    <label for="profile-name">Name</label>
    <input id="profile-name" name="name" type="text" maxlength="200" value="${input.name ?? ''}" autocomplete="name">
    <button type="submit" class="secondary">Save name</button>
  </form>
  <form method="post" action="/account/email">
    ${csrf}
    <label for="new-email">New email address</label>
    <input id="new-email" name="email" type="email" required autocomplete="email">
    <label for="email-password">Current password</label>
    <input id="email-password" name="password" type="password" required autocomplete="current-password">
    <button type="submit" class="secondary">Change email address</button>
  </form>
  <form method="post" action="/account/password">
    ${csrf}
    <label for="current-password">Current password</label>
    <input id="current-password" name="current" type="password" required autocomplete="current-password">
    <label for="new-password">New password</label>
    <input id="new-password" name="password" type="password" required minlength="8" autocomplete="new-password">
    <button type="submit" class="secondary">Change password</button>
  </form>
  <p><a href="/account/activity">Recent security activity</a> · <a href="/account/data">Download your data (JSON)</a></p>
</section>`;
}

export function deleteSection(input: { csrf: Raw }): Raw {
  return html`
<section aria-labelledby="delete">
  <h2 id="delete">Delete your account</h2>
  <p>Your account, your second factors and the apps' access to it are erased. This cannot be undone.</p>
  <form method="post" action="/account/delete">
    ${input.csrf}
    <label for="delete-confirm">Type your email address to confirm</label>
    <input id="delete-confirm" name="confirm" type="email" required autocomplete="off">
    <label for="delete-password">Current password</label>
    <input id="delete-password" name="password" type="password" required autocomplete="current-password">
    <button type="submit" class="secondary">Delete account</button>
  </form>
</section>`;
}

const WHAT: Record<string, string> = {
  'auth.login.succeeded': 'Signed in',
  'auth.login.failed': 'Sign-in failed',
  'auth.lockout': 'Account locked after failed sign-ins',
  'auth.logout': 'Signed out',
  'auth.mfa.enrolled': 'Two-step verification set up',
  'auth.mfa.disabled': 'Two-step verification turned off',
  'auth.mfa.failed': 'Second step failed',
  'auth.password_changed': 'Password changed',
  'auth.password_reset.completed': 'Password reset',
  'auth.email_changed': 'Email address changed',
  'auth.email_change.requested': 'Email change requested',
  'auth.profile.updated': 'Profile changed',
  'auth.session.revoked': 'A browser was signed out',
  'grant.revoked': 'An app\'s access was removed',
  'auth.consent.granted': 'An app was allowed',
  'user.disabled': 'Account disabled by an administrator',
  'user.enabled': 'Account enabled by an administrator',
  'user.signed_out': 'Signed out everywhere by an administrator',
};

export function activityView(events: StoredAuditEvent[]): Raw {
  return html`
<h1>Recent security activity</h1>
${events.length === 0
  ? html`<p class="muted">Nothing yet.</p>`
  : html`<ul class="items" id="activity">${events.map(
      (e) => html`<li><strong>${WHAT[e.action] ?? e.action}</strong> <small>${e.occurredAt.replace('T', ' ').slice(0, 16)} UTC · ${e.outcome}${e.ip ? html` · from ${e.ip}` : ''}</small></li>`,
    )}</ul>`}
<p><a href="/account">Back to your account</a></p>`;
}
