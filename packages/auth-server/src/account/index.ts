// Account security, assembled: mail, mailed tokens, TOTP, the session directory, the interaction
// pages (sign-in, second factor, sign-up, reset) and the account console.
import type { AuthConfig } from '@clouddocs/config';
import type { Knex } from '@clouddocs/db';
import type { Kv, RevocationList } from '@clouddocs/kv';
import type { Logger } from '@clouddocs/observability';
import type Provider from 'oidc-provider';
import type { AccountLibrary } from '../accounts/accounts';
import type { LoginThrottle } from '../accounts/throttle';
import { createAccountTokenLibrary } from '../accounts/tokens';
import { createInteractionRouter } from '../interactions/routes';
import { createMailer, type Mailer } from '../mail/mailer';
import { createMfaLibrary } from '../mfa/totp';
import { SecretBox } from '../secret-box';
import { createAccountRouter } from './routes';
import { createSessionDirectory } from './sessions';

export function createAccountSecurity(deps: {
  config: AuthConfig;
  knex: Knex;
  kv: Kv;
  logger: Logger;
  provider: () => Provider;
  accounts: AccountLibrary;
  throttle: LoginThrottle;
  revocations: RevocationList;
  mailer?: Mailer;
}) {
  const { config, knex, kv, logger, provider, accounts, throttle } = deps;
  const https = config.AUTH_ISSUER.startsWith('https:');
  const cookieKey = config.AUTH_COOKIE_KEYS[0]!;
  const mailer = deps.mailer ?? createMailer({ config, logger });
  const tokens = createAccountTokenLibrary({ knex });
  const mfa = createMfaLibrary({ knex, kv, box: new SecretBox(config.AUTH_ENCRYPTION_KEY), encryptionKey: config.AUTH_ENCRYPTION_KEY });
  const sessions = createSessionDirectory({ provider, kv });
  const interactions = createInteractionRouter({
    provider,
    accounts,
    throttle,
    cookieKey,
    interactionCookie: https ? '__Secure-cd_interaction' : 'cd_interaction',
    kv,
    mfa,
    selfService: { tokens, mailer, kv, logger, issuer: config.AUTH_ISSUER },
  });
  const account = createAccountRouter({ provider, knex, kv, logger, issuer: config.AUTH_ISSUER, cookieKey, accounts, tokens, mfa, sessions, throttle, revocations: deps.revocations, mailer });
  return { interactions, account, mailer, mfa, tokens, sessions };
}
