// The pages a person sees at the authorization server.
import type { Context } from 'koa';
import { html, page, type Raw } from './layout';
import type { CspState } from '../middleware/security-headers';

const SCOPE_TEXT: Record<string, string> = {
  openid: 'Know who you are (your CloudDocs account id)',
  profile: 'See your name',
  email: 'See your email address',
  offline_access: 'Stay connected when you are away (refresh tokens)',
  'docs:read': 'Read documents you can see',
  'docs:write': 'Create, change, delete and share your documents',
  'orgs:read': 'See your organizations and their members',
  'orgs:write': 'Manage organizations and roles you are allowed to manage',
  'audit:read': 'Read the audit log of organizations you administer',
};

function nonceOf(ctx: Context): string {
  return (ctx.state.csp as CspState | undefined)?.nonce ?? '';
}

/** `script`: the page carries the passkey script (views/passkey.ts), allowed by this response's nonce. */
export function renderPage(ctx: Context, title: string, body: Raw, status = 200, options: { script?: string } = {}): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  const csp = ctx.state.csp as CspState | undefined;
  if (options.script && csp) csp.nonceScript = true;
  ctx.body = page({ title, nonce: nonceOf(ctx), body, script: options.script });
}

export function loginView(input: {
  action: string;
  csrf: string;
  clientName: string;
  email?: string;
  error?: string;
  notice?: string;
  extra?: Raw;
  /** Links to the sign-up and password reset pages of the same interaction. */
  links?: { signup: string; forgot: string };
}): Raw {
  return html`
<h1>Sign in to CloudDocs</h1>
<p class="muted">to continue to <strong>${input.clientName}</strong></p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
<form method="post" action="${input.action}" autocomplete="on">
  <input type="hidden" name="csrf" value="${input.csrf}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" required autocomplete="username" value="${input.email ?? ''}" autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required autocomplete="current-password">
  <div class="row">
    <button type="submit" class="primary">Sign in</button>
  </div>
</form>
${input.links ? html`<p><a href="${input.links.forgot}">Forgot your password?</a></p>
<p>New to CloudDocs? <a href="${input.links.signup}">Create an account</a></p>` : ''}
${input.extra ?? ''}`;
}

export function consentView(input: { action: string; abortAction: string; csrf: string; clientName: string; scopes: string[]; email?: string; error?: string }): Raw {
  return html`
<h1>Allow ${input.clientName}?</h1>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${input.email ? html`<p class="muted">Signed in as ${input.email}</p>` : ''}
<p><strong>${input.clientName}</strong> is asking to:</p>
<ul class="scopes">
  ${input.scopes.map((s) => html`<li>${SCOPE_TEXT[s] ?? s} <small>(${s})</small></li>`)}
</ul>
<div class="row">
  <form method="post" action="${input.action}">
    <input type="hidden" name="csrf" value="${input.csrf}">
    <button type="submit" class="primary">Allow</button>
  </form>
  <form method="post" action="${input.abortAction}">
    <input type="hidden" name="csrf" value="${input.csrf}">
    <button type="submit" class="secondary">Deny</button>
  </form>
</div>`;
}

export function messageView(title: string, message: string, extra?: Raw): Raw {
  return html`<h1>${title}</h1><p>${message}</p>${extra ?? ''}`;
}

export function signupView(input: { action: string; csrf: string; clientName: string; loginHref: string; email?: string; name?: string; error?: string }): Raw {
  return html`
<h1>Create your CloudDocs account</h1>
<p class="muted">to continue to <strong>${input.clientName}</strong></p>
${input.error ? html`<p class="error" role="alert" id="signup-error">${input.error}</p>` : ''}
<form method="post" action="${input.action}">
  <input type="hidden" name="csrf" value="${input.csrf}">
  <label for="name">Name</label>
  <input id="name" name="name" type="text" required maxlength="200" autocomplete="name" value="${input.name ?? ''}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" required maxlength="320" autocomplete="email" value="${input.email ?? ''}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required minlength="8" maxlength="256" autocomplete="new-password" aria-describedby="password-help">
  <p id="password-help" class="muted">At least 8 characters; 15 or more is better. Long passphrases are welcome. Very common passwords are refused.</p>
  <div class="row">
    <button type="submit" class="primary">Create account</button>
  </div>
</form>
<p>Already have an account? <a href="${input.loginHref}">Sign in</a></p>`;
}

export function forgotView(input: { action: string; csrf: string; loginHref: string; email?: string; error?: string }): Raw {
  return html`
<h1>Reset your password</h1>
<p>Enter the email address of your account. We will send a link to choose a new password.</p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="${input.action}">
  <input type="hidden" name="csrf" value="${input.csrf}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" required maxlength="320" autocomplete="email" value="${input.email ?? ''}">
  <div class="row">
    <button type="submit" class="primary">Send reset link</button>
  </div>
</form>
<p><a href="${input.loginHref}">Back to sign in</a></p>`;
}

export function secondFactorView(input: { action: string; csrf: string; clientName: string; error?: string; passkey?: Raw; totp?: boolean }): Raw {
  const codeForm = input.totp === false ? '' : secondFactorCodeForm(input);
  return html`
<h1>Two-step verification</h1>
<p class="muted">to continue to <strong>${input.clientName}</strong></p>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${input.passkey ? html`<h2>Use your passkey</h2>${input.passkey}` : ''}
${codeForm}`;
}

function secondFactorCodeForm(input: { action: string; csrf: string }): Raw {
  return html`
<form method="post" action="${input.action}">
  <input type="hidden" name="csrf" value="${input.csrf}">
  <label for="code">Code from your authenticator app, or a recovery code</label>
  <input id="code" name="code" type="text" required maxlength="32" inputmode="text" autocomplete="one-time-code" autofocus aria-describedby="code-help">
  <p id="code-help" class="muted">Six digits that change every 30 seconds, or one of your recovery codes (each works once).</p>
  <div class="row">
    <button type="submit" class="primary">Verify</button>
  </div>
</form>`;
}

export function stepUpOfferView(input: { declineAction: string; csrf: string; clientName: string; setupHref: string; continueHref: string }): Raw {
  return html`
<h1>Two-step verification required</h1>
<p><strong>${input.clientName}</strong> asks for two-step verification for this sign-in, and your account does not have a second factor yet.</p>
<p><a href="${input.setupHref}">Set up two-step verification</a> in your account, then <a href="${input.continueHref}">continue</a>.</p>
<form method="post" action="${input.declineAction}">
  <input type="hidden" name="csrf" value="${input.csrf}">
  <div class="row">
    <button type="submit" class="secondary">Cancel and go back to ${input.clientName}</button>
  </div>
</form>`;
}

/** Redirect after a POST that changed state or checked a credential (RFC 9110 §15.4.4). */
export function seeOther(ctx: Context, location: string): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(location);
  ctx.status = 303;
}
