// The account pages: profile, two-step verification, connected apps and sessions; and the pages the
// mailed links open. Server-rendered, no script, every form a POST with a CSRF field.
import type { PasskeyView } from '../libraries/passkeys';
import { deleteSection, profileSection } from './account-profile';
import { html, type Raw } from './layout';
import type { AccountSession } from '../libraries/sessions';

import type { ConnectedApp } from '../libraries/grants';
import { API_KEY_DEFAULT_DAYS, API_KEY_MAX_DAYS, API_KEY_SCOPES, type ApiKeyView } from '../libraries/api-keys';

const when = (epochSeconds: number | undefined) => (epochSeconds ? new Date(epochSeconds * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : 'unknown');

const AMR_TEXT: Record<string, string> = { pwd: 'password', otp: 'authenticator code', mfa: 'two-step', hwk: 'passkey', swk: 'passkey' };

function passkeySection(csrf: Raw, passkeys: PasskeyView[]): Raw {
  return html`<section aria-labelledby="passkeys">
  <h2 id="passkeys">Passkeys</h2>
  <p>A passkey signs you in without your password, or serves as the second step after it.</p>
  ${passkeys.length === 0
    ? html`<p class="muted">No passkey yet.</p>`
    : html`<ul class="items">${passkeys.map(
        (p) => html`<li><strong>${p.name}</strong> <small>${p.synced ? 'synced' : 'on one device'}; added ${p.createdAt.toISOString().slice(0, 10)}${p.lastUsedAt ? html`, last used ${p.lastUsedAt.toISOString().slice(0, 10)}` : ''}</small>
      <form method="post" action="/account/passkeys/remove">
        ${csrf}
        <input type="hidden" name="id" value="${p.id}">
        <label for="remove-${p.id}">Current password</label>
        <input id="remove-${p.id}" name="password" type="password" required autocomplete="current-password">
        <button type="submit" class="secondary">Remove ${p.name}</button>
      </form></li>`,
      )}</ul>`}
  <form method="post" action="/account/passkeys/start">
    ${csrf}
    <label for="passkey-password">Current password</label>
    <input id="passkey-password" name="password" type="password" required autocomplete="current-password">
    <button type="submit" class="primary">Add a passkey</button>
  </form>
</section>`;
}

export function passkeyNewView(input: { form: Raw; error?: string }): Raw {
  return html`
<h1>Add a passkey</h1>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<p>Your browser or security key will ask you to confirm (fingerprint, face, PIN or touch).</p>
${input.form}
<p><a href="/account">Back to your account</a></p>`;
}

export function signedOutView(): Raw {
  return html`
<h1>Your CloudDocs account</h1>
<p>Sign in to see the apps connected to your account, your active sessions and your two-step verification settings.</p>
<p><a href="/account/login">Sign in</a></p>`;
}

export function accountView(input: {
  csrf: string;
  email: string;
  name: string | null;
  emailVerified: boolean;
  mfa: { enabled: boolean; recoveryCodesLeft: number };
  apps: ConnectedApp[];
  sessions: AccountSession[];
  currentSessionUid: string | undefined;
  apiKeys: ApiKeyView[];
  /** Passkeys: undefined when they cannot work at this issuer (an IP address is no WebAuthn RP ID). */
  passkeys?: PasskeyView[];
  notice?: string;
  error?: string;
}): Raw {
  const csrf = html`<input type="hidden" name="csrf" value="${input.csrf}">`;
  return html`
<h1>Your CloudDocs account</h1>
${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${profileSection({ csrf, email: input.email, name: input.name, emailVerified: input.emailVerified })}

<section aria-labelledby="mfa">
  <h2 id="mfa">Two-step verification</h2>
  ${input.mfa.enabled
    ? html`<p>On: signing in asks for a code from your authenticator app. Recovery codes left: <strong>${input.mfa.recoveryCodesLeft}</strong>.</p>
  <form method="post" action="/account/mfa/recovery-codes">
    ${csrf}
    <label for="codes-password">Current password</label>
    <input id="codes-password" name="password" type="password" required autocomplete="current-password">
    <button type="submit" class="secondary">Get new recovery codes</button>
  </form>
  <form method="post" action="/account/mfa/disable">
    ${csrf}
    <label for="disable-password">Current password</label>
    <input id="disable-password" name="password" type="password" required autocomplete="current-password">
    <button type="submit" class="secondary">Turn off two-step verification</button>
  </form>`
    : html`<p>Off. Add a second step to your sign-in with an authenticator app.</p>
  <form method="post" action="/account/mfa/totp/start">
    ${csrf}
    <label for="enrol-password">Current password</label>
    <input id="enrol-password" name="password" type="password" required autocomplete="current-password">
    <button type="submit" class="primary">Set up an authenticator app</button>
  </form>`}
</section>

${input.passkeys ? passkeySection(csrf, input.passkeys) : ''}

<section aria-labelledby="apps">
  <h2 id="apps">Connected apps</h2>
  ${input.apps.length === 0
    ? html`<p class="muted">No app has access to your account.</p>`
    : html`<ul class="items">${input.apps.map(
        (app) => html`<li>
      <strong>${app.clientName}</strong> <small>since ${when(app.grantedAt)}</small><br>
      <small>${app.scopes.join(' ')}</small>
      <form method="post" action="/account/apps/revoke">
        ${csrf}
        <input type="hidden" name="grant" value="${app.grantId}">
        <button type="submit" class="secondary" aria-label="Remove access for ${app.clientName}">Remove access</button>
      </form>
    </li>`,
      )}</ul>`}
</section>

${apiKeysSection(csrf, input.apiKeys)}

<section aria-labelledby="sessions">
  <h2 id="sessions">Where you are signed in</h2>
  <ul class="items">${input.sessions.map(
    (s) => html`<li>
      ${s.uid === input.currentSessionUid ? html`<strong>This browser</strong>` : html`<strong>Another browser</strong>`}
      <small>signed in ${when(s.loginTs)} with ${s.amr.map((a) => AMR_TEXT[a] ?? a).join(' + ') || 'password'}; expires ${when(s.expiresAt)}</small>
      ${s.clients.length ? html`<br><small>apps used: ${s.clients.join(', ')}</small>` : ''}
      <form method="post" action="/account/sessions/revoke">
        ${csrf}
        <input type="hidden" name="session" value="${s.uid}">
        <button type="submit" class="secondary">Sign out${s.uid === input.currentSessionUid ? '' : ' that browser'}</button>
      </form>
    </li>`,
  )}</ul>
</section>
${deleteSection({ csrf })}`;
}

const isoWhen = (iso: string | null) => (iso ? iso.replace('T', ' ').slice(0, 16) + ' UTC' : 'never');

function apiKeyState(key: ApiKeyView): string {
  if (key.revoked_at) return `revoked ${isoWhen(key.revoked_at)}`;
  if (Date.parse(key.expires_at) <= Date.now()) return `expired ${isoWhen(key.expires_at)}`;
  return `expires ${isoWhen(key.expires_at)}`;
}

/** The form field of a scope checkbox (a form never repeats a field name). */
export const scopeField = (scope: string) => `scope:${scope}`;

function apiKeysSection(csrf: Raw, keys: ApiKeyView[]): Raw {
  return html`<section aria-labelledby="api-keys">
  <h2 id="api-keys">API keys</h2>
  <p>A key lets a script use the CloudDocs API as you, with the scopes you choose, until it expires or you revoke it.</p>
  ${keys.length === 0
    ? html`<p class="muted">You have no API keys.</p>`
    : html`<ul class="items" id="api-key-list">${keys.map(
        (key) => html`<li data-key-id="${key.id}">
      <strong>${key.name}</strong> <code>${key.prefix}…</code><br>
      <small>${key.scopes.join(' ')}</small><br>
      <small>created ${isoWhen(key.created_at)}; last used ${isoWhen(key.last_used_at)}; ${apiKeyState(key)}</small>
      ${key.revoked_at
        ? ''
        : html`<form method="post" action="/account/api-keys/revoke">
        ${csrf}
        <input type="hidden" name="key" value="${key.id}">
        <button type="submit" class="secondary" aria-label="Revoke the key ${key.name}">Revoke</button>
      </form>`}
    </li>`,
      )}</ul>`}
  <form method="post" action="/account/api-keys">
    ${csrf}
    <label for="api-key-name">Name</label>
    <input id="api-key-name" name="name" type="text" required maxlength="100" autocomplete="off">
    <fieldset>
      <legend>Scopes</legend>
      ${API_KEY_SCOPES.map(
        (scope) => html`<label><input type="checkbox" name="${scopeField(scope)}" value="on"${scope === 'docs:read' ? html` checked` : ''}> ${scope}</label> `,
      )}
    </fieldset>
    <label for="api-key-days">Expires in (days, 1 to ${API_KEY_MAX_DAYS})</label>
    <input id="api-key-days" name="expires_in_days" type="number" min="1" max="${API_KEY_MAX_DAYS}" value="${API_KEY_DEFAULT_DAYS}" required>
    <div class="row"><button type="submit" class="primary">Create API key</button></div>
  </form>
</section>`;
}

/** The new key, shown once (the page is no-store and the key is in no URL). */
export function apiKeyCreatedView(input: { name: string; key: string; scopes: string[]; expiresAt: string }): Raw {
  return html`
<h1>Your new API key</h1>
<p>Copy the key <strong>${input.name}</strong> now: this is the only time it is shown. Send it as <code>Authorization: Bearer &lt;key&gt;</code>.</p>
<p><code id="api-key" data-key="${input.key}">${input.key}</code></p>
<p><small>Scopes: ${input.scopes.join(' ')}; expires ${isoWhen(input.expiresAt)}.</small></p>
<p><a href="/account">Done</a></p>`;
}

export function totpEnrolView(input: { csrf: string; qrDataUrl: string; secret: string; error?: string }): Raw {
  const grouped = input.secret.replace(/(.{4})/g, '$1 ').trim();
  return html`
<h1>Set up an authenticator app</h1>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<ol>
  <li>Scan this QR code with your authenticator app.<br>
    <img src="${input.qrDataUrl}" width="220" height="220" alt="QR code for your authenticator app; the same key is written below"></li>
  <li>Or type this key: <code id="totp-secret" data-secret="${input.secret}">${grouped}</code></li>
  <li>Enter the six-digit code the app shows.</li>
</ol>
<form method="post" action="/account/mfa/totp/confirm">
  <input type="hidden" name="csrf" value="${input.csrf}">
  <label for="code">Code</label>
  <input id="code" name="code" type="text" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" required autocomplete="one-time-code">
  <div class="row"><button type="submit" class="primary">Turn on</button></div>
</form>
<p><a href="/account">Cancel</a></p>`;
}

export function recoveryCodesView(codes: string[]): Raw {
  return html`
<h1>Save your recovery codes</h1>
<p>Two-step verification is on. If you lose your phone, each of these codes lets you sign in once.
Keep them somewhere safe: this is the only time they are shown.</p>
<ul class="codes" id="recovery-codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ul>
<p><a href="/account">Done</a></p>`;
}

export function tokenFormView(input: { title: string; intro: string; action: string; csrf: string; token: string; button: string; passwordField?: boolean; error?: string }): Raw {
  return html`
<h1>${input.title}</h1>
<p>${input.intro}</p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="${input.action}">
  <input type="hidden" name="csrf" value="${input.csrf}">
  <input type="hidden" name="token" value="${input.token}">
  ${input.passwordField
    ? html`<label for="password">New password</label>
  <input id="password" name="password" type="password" required minlength="8" maxlength="256" autocomplete="new-password" aria-describedby="password-help">
  <p id="password-help" class="muted">At least 8 characters; 15 or more is better. Very common passwords are refused.</p>`
    : ''}
  <div class="row"><button type="submit" class="primary">${input.button}</button></div>
</form>`;
}
