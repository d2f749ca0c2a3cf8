// The device flow's browser side (RFC 8628 §3.3), as the callbacks oidc-provider's deviceFlow feature
// renders through: the user-code form (again with a reason after a wrong, expired or used code, or when
// the person cancelled), the confirmation of the device's request, and the result. Rules: every code
// entered is audited (its outcome, never the code itself); the outcome is left in `ctx.state` for the
// per-IP limit (middleware/user-code-limit.ts), which gives a found code its point back. The sign-in
// and consent in between are the ordinary interaction pages (second factor included).
import type { Context } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { actors, audit } from '../request-scope';
import { deviceConfirmView, deviceDoneView, userCodeView } from '../views/device';
import { messageView, renderPage } from '../views/interaction';

/** What became of a code entered at the verification page (read by the per-IP limit). */
export type UserCodeOutcome = 'found' | 'not_found' | 'missing' | 'expired' | 'used' | 'aborted' | 'form_expired' | 'error';

export interface UserCodeState {
  userCodeOutcome?: UserCodeOutcome;
  /** verification_uri_complete: the code of the link, shown in the form instead of auto-submitted. */
  prefilledUserCode?: string;
}

const REASONS: Record<string, { outcome: UserCodeOutcome; message: string }> = {
  NotFoundError: { outcome: 'not_found', message: 'That code is not valid. Check the code on your device and try again.' },
  NoCodeError: { outcome: 'missing', message: 'Enter the code shown on your device.' },
  ExpiredError: { outcome: 'expired', message: 'That code has expired. Start again on your device to get a new one.' },
  AlreadyUsedError: { outcome: 'used', message: 'That code has already been used. Start again on your device to get a new one.' },
};

const xsrfOf = (form: string) => /name="xsrf" value="([^"]*)"/.exec(form)?.[1] ?? '';
const stateOf = (ctx: KoaContextWithOIDC) => (ctx as unknown as Context).state as UserCodeState;
const koa = (ctx: KoaContextWithOIDC) => ctx as unknown as Context;
const clientIdOf = (ctx: KoaContextWithOIDC) => ctx.oidc?.client?.clientId ?? ctx.oidc?.entities?.DeviceCode?.clientId ?? null;

function codeEntered(ctx: KoaContextWithOIDC, outcome: UserCodeOutcome, accountOutcome: 'success' | 'failure' | 'denied') {
  const accountId = ctx.oidc?.session?.accountId;
  audit(koa(ctx), {
    action: 'device.code_entered',
    actor: accountId ? actors.user(accountId) : actors.anonymous(),
    target: { type: 'client', id: clientIdOf(ctx) },
    outcome: accountOutcome,
    detail: { result: outcome },
  });
}

export const devicePages = {
  /** The code form; after a failure (`err`), with what went wrong. */
  async userCodeInput(ctx: KoaContextWithOIDC, form: string, out?: { error?: string; error_description?: string }, err?: Error): Promise<void> {
    const action = ctx.oidc.urlFor('code_verification');
    const xsrf = xsrfOf(form);
    const state = stateOf(ctx);
    if (!err) return renderPage(koa(ctx), 'Connect a device', userCodeView({ action, xsrf, userCode: state.prefilledUserCode }));
    const known = REASONS[err.name];
    if (known) {
      state.userCodeOutcome = known.outcome;
      if (known.outcome !== 'missing') codeEntered(ctx, known.outcome, 'failure');
      return renderPage(koa(ctx), 'Connect a device', userCodeView({ action, xsrf, error: known.message }));
    }
    if (err.name === 'AbortedError') {
      state.userCodeOutcome = 'aborted';
      const accountId = ctx.oidc?.session?.accountId;
      audit(koa(ctx), { action: 'device.denied', actor: accountId ? actors.user(accountId) : actors.anonymous(), target: { type: 'client', id: clientIdOf(ctx) }, outcome: 'success' });
      return renderPage(koa(ctx), 'Device not connected', messageView('Device not connected', 'You cancelled: the device was not given access to your account. You can close this page.'));
    }
    // The provider's own refusals (its CSRF check, a repeated field): the form again, with a reason.
    const formExpired = out?.error === 'invalid_request' && /xsrf|device form/i.test(out?.error_description ?? '');
    state.userCodeOutcome = formExpired ? 'form_expired' : 'error';
    const status = ctx.status >= 400 ? ctx.status : 400;
    renderPage(
      koa(ctx),
      'Connect a device',
      userCodeView({ action, xsrf, error: formExpired ? 'This form has expired. Please enter the code again.' : `The request could not be completed (${out?.error ?? 'error'}). Please enter the code again.` }),
      status,
    );
  },

  /** The device's request, to be confirmed (Continue) or cancelled. */
  async userCodeConfirm(ctx: KoaContextWithOIDC, form: string, client: { clientId: string; clientName?: string }, _deviceInfo: unknown, userCode: string): Promise<void> {
    stateOf(ctx).userCodeOutcome = 'found';
    codeEntered(ctx, 'found', 'success');
    renderPage(koa(ctx), 'Connect a device', deviceConfirmView({ action: ctx.oidc.urlFor('code_verification'), xsrf: xsrfOf(form), userCode, clientName: client.clientName ?? client.clientId }));
  },

  /** Signed in and allowed: the device's next poll gets its tokens. */
  async success(ctx: KoaContextWithOIDC): Promise<void> {
    const client = ctx.oidc.client!;
    const accountId = ctx.oidc.session?.accountId;
    audit(koa(ctx), { action: 'device.approved', actor: accountId ? actors.user(accountId) : actors.anonymous(), target: { type: 'client', id: client.clientId }, outcome: 'success', detail: { scope: ctx.oidc.deviceCode?.scope ?? null } });
    renderPage(koa(ctx), 'Device connected', deviceDoneView({ clientName: client.clientName ?? client.clientId }));
  },
};

export type DevicePages = typeof devicePages;
