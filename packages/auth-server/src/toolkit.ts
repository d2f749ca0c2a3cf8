// Everything the auth server is made of but the server itself: its libraries, stores, keys and rules, for
// the operator CLI and the tests. Loading this module loads neither oidc-provider nor koa, nor the passkey,
// TOTP and mail libraries until they are used (index.ts adds the server).
export { authMigrations, authGrants } from './migrations';
export { createAccountLibrary, AccountError, normalizeEmail, type Account, type AccountLibrary } from './accounts/accounts';
export { PasswordHasher, argon2ParamsFrom, normalizePassword } from './accounts/passwords';
export { passwordProblem, PASSWORD_MIN, PASSWORD_MAX } from './accounts/policy';
export { createClientLibrary, ClientError, redirectUriProblem, GRANT_TYPES, SECRET_METHODS, type RegisteredClient, type ClientInput } from './libraries/clients';
export { createKeyStore, KEY_ALGS, type KeyStore, type KeySetState } from './keys/keys';
export { SecretBox } from './secret-box';
export { resealAll, SEALED_COLUMNS, type ResealReport } from './libraries/reseal';
export { TTL, LONGEST_ACCESS_TOKEN, LONGEST_SIGNED_TOKEN } from './oidc/ttl';
export { ALL_SCOPES, API_SCOPES, OIDC_SCOPES } from './scopes';
export { createClientLifecycle, type ClientLifecycle } from './libraries/client-lifecycle';
export { createUserLifecycle, type UserLifecycle, type UserView } from './libraries/user-lifecycle';
export { type ClientView } from './libraries/clients';
export { createGrantLibrary } from './libraries/grants';
export { createRegistrationTokenLibrary, RegistrationTokenError, REGISTRATION_TOKEN_PREFIX, type RegistrationTokenView } from './libraries/registration-tokens';
export { createBackchannelLogout, type BackchannelLogout } from './libraries/backchannel-logout';
export { createSessionDirectory, endAccountSessionsInCache, type SessionDirectory } from './libraries/sessions';
export { createPayloadQueries } from './queries/payloads';
export { createMfaLibrary } from './mfa/totp';
export { createPasskeyLibrary } from './libraries/passkeys';
export { createAccountTokenLibrary } from './accounts/tokens';
export { createMailer } from './mail/mailer';
export { ConflictError } from './errors';
export { OrgBindingError, ORG_ROLES, type OrgBinder } from './libraries/org-binding';
export { createApiKeyLibrary, ApiKeyError, API_KEY_SCOPES, API_KEY_PREFIX, generateApiKey, hashApiKey, isWellFormedApiKey, type ApiKeyLibrary, type ApiKeyView } from './libraries/api-keys';
export { durableRevocations, heldRevocations } from './libraries/durable-revocations';
