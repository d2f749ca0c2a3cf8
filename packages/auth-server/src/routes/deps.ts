// What the page routes are built from: libraries only (no adapter, no SQL), passed in as one object.
import type { Kv } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { AccountLibrary } from '../accounts/accounts';
import type { LoginThrottle } from '../accounts/throttle';
import type { AccountTokenLibrary } from '../accounts/tokens';
import type { ApiKeyLibrary } from '../libraries/api-keys';
import type { InteractionCsrf, PageCsrf } from '../libraries/csrf';
import type { GrantLibrary } from '../libraries/grants';
import type { InteractionLibrary } from '../libraries/interactions';
import type { Limits } from '../libraries/limits';
import type { ActivityLibrary } from '../libraries/activity';
import type { UserLifecycle } from '../libraries/user-lifecycle';
import type { AdminConsoleDeps } from './admin-console';
import type { SessionDirectory } from '../libraries/sessions';
import type { SignInLibrary } from '../libraries/sign-in';
import type { Mailer, MailMessage } from '../mail/mailer';
import type { MfaLibrary } from '../mfa/totp';
import type { PasskeyLibrary } from '../libraries/passkeys';

export interface PageDeps {
  provider: () => Provider;
  issuer: string;
  https: boolean;
  kv: Kv;
  logger: Logger;
  accounts: AccountLibrary;
  throttle: LoginThrottle;
  signIn: SignInLibrary;
  interactions: InteractionLibrary;
  grants: GrantLibrary;
  apiKeys: ApiKeyLibrary;
  sessions: SessionDirectory;
  mfa: MfaLibrary;
  passkeys: PasskeyLibrary;
  tokens: AccountTokenLibrary;
  mailer: Mailer;
  interactionCsrf: InteractionCsrf;
  pageCsrf: PageCsrf;
  limits: Limits;
  users: UserLifecycle;
  adminConsole: AdminConsoleDeps;
  activity: ActivityLibrary;
  accountStateCookie: string;
}

/** A form field: a string of at most `max` characters (bad bytes are refused before the schema). */
export const field = (max: number) => z.string().max(max);
export const CSRF = field(128);

/** Mail leaves in the background; a failure is logged, never shown (timing tells nothing either). */
export function deliver(deps: Pick<PageDeps, 'mailer' | 'logger'>, message: MailMessage): void {
  deps.mailer.send(message).catch((err) => deps.logger.error({ err: (err as Error).message, subject: message.subject }, 'mail could not be sent'));
}
