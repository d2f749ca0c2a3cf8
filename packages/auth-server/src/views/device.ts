// The device flow's pages (RFC 8628 §3.3): the user-code form, the confirmation of the device's
// request, and the result. oidc-provider renders them through callbacks (routes/device.ts) and keeps
// its own CSRF token (`xsrf`, bound to the browser session) in every form; no script on any of them.
import { html, type Raw } from './layout';

export function userCodeView(input: { action: string; xsrf: string; userCode?: string; error?: string; notice?: string }): Raw {
  return html`
<h1>Connect a device</h1>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
<p>Enter the code shown on your device (a TV, a command-line tool) to let it use your CloudDocs account.</p>
<form method="post" action="${input.action}">
  <input type="hidden" name="xsrf" value="${input.xsrf}">
  <label for="user_code">Code</label>
  <input id="user_code" name="user_code" type="text" required maxlength="32" autocomplete="off" autocapitalize="characters" spellcheck="false" placeholder="XXXX-XXXX" value="${input.userCode ?? ''}" autofocus>
  <div class="row">
    <button type="submit" class="primary">Continue</button>
  </div>
</form>`;
}

export function deviceConfirmView(input: { action: string; xsrf: string; userCode: string; clientName: string }): Raw {
  return html`
<h1>Connect ${input.clientName}?</h1>
<p>Check that your device shows this code:</p>
<p><strong><code id="user-code">${input.userCode}</code></strong></p>
<p class="muted">If you did not start this on a device of yours, or the code does not match, cancel.</p>
<div class="row">
  <form method="post" action="${input.action}">
    <input type="hidden" name="xsrf" value="${input.xsrf}">
    <input type="hidden" name="user_code" value="${input.userCode}">
    <input type="hidden" name="confirm" value="yes">
    <button type="submit" class="primary">Continue</button>
  </form>
  <form method="post" action="${input.action}">
    <input type="hidden" name="xsrf" value="${input.xsrf}">
    <input type="hidden" name="user_code" value="${input.userCode}">
    <input type="hidden" name="abort" value="yes">
    <button type="submit" class="secondary">Cancel</button>
  </form>
</div>`;
}

export function deviceDoneView(input: { clientName: string }): Raw {
  return html`
<h1>Device connected</h1>
<p class="notice" role="status"><strong>${input.clientName}</strong> can now use your CloudDocs account.</p>
<p>You can close this page and go back to your device.</p>`;
}
