// The one script any page runs: WebAuthn needs `navigator.credentials`, which only a script can call.
// It acts on forms marked `data-passkey` ("create" or "get", the ceremony's options in `data-options`),
// puts the authenticator's answer in the form's `response` field and submits the form; everything else
// stays a plain form. Pages that carry it allow exactly this script by nonce (middleware/security-headers).
import { html, type Raw } from './layout';

export const PASSKEY_SCRIPT = `(() => {
  const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
  const text = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const ids = (list) => (list || []).map((c) => ({ ...c, id: bytes(c.id) }));
  const json = (cred) => {
    const r = cred.response;
    const response = r.attestationObject
      ? { clientDataJSON: text(r.clientDataJSON), attestationObject: text(r.attestationObject), transports: r.getTransports ? r.getTransports() : [] }
      : { clientDataJSON: text(r.clientDataJSON), authenticatorData: text(r.authenticatorData), signature: text(r.signature), userHandle: r.userHandle ? text(r.userHandle) : undefined };
    return { id: cred.id, rawId: text(cred.rawId), type: cred.type, response, clientExtensionResults: cred.getClientExtensionResults(), authenticatorAttachment: cred.authenticatorAttachment || undefined };
  };
  for (const form of document.querySelectorAll('form[data-passkey]')) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const alert = form.querySelector('[data-passkey-error]');
      const o = JSON.parse(form.dataset.options);
      try {
        const cred = form.dataset.passkey === 'create'
          ? await navigator.credentials.create({ publicKey: { ...o, challenge: bytes(o.challenge), user: { ...o.user, id: bytes(o.user.id) }, excludeCredentials: ids(o.excludeCredentials) } })
          : await navigator.credentials.get({ publicKey: { ...o, challenge: bytes(o.challenge), allowCredentials: ids(o.allowCredentials) } });
        form.elements.response.value = JSON.stringify(json(cred));
        form.submit();
      } catch (err) {
        if (alert) { alert.hidden = false; alert.textContent = 'The passkey was not used (' + (err && err.name ? err.name : 'error') + '). Try again.'; }
      }
    });
  }
})();`;

/** A form that runs a WebAuthn ceremony (needs PASSKEY_SCRIPT on the page) and posts its answer. */
export function passkeyForm(input: { action: string; csrf: string; mode: 'create' | 'get'; options: unknown; button: string; primary?: boolean; fields?: Raw }): Raw {
  return html`<form method="post" action="${input.action}" data-passkey="${input.mode}" data-options="${JSON.stringify(input.options)}">
  <input type="hidden" name="csrf" value="${input.csrf}">
  <input type="hidden" name="response" value="">
  ${input.fields ?? ''}
  <p class="error" role="alert" data-passkey-error hidden></p>
  <div class="row">
    <button type="submit" class="${input.primary ? 'primary' : 'secondary'}">${input.button}</button>
  </div>
</form>
<noscript><p class="muted">Passkeys need JavaScript in this browser.</p></noscript>`;
}
