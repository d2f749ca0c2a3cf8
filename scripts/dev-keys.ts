// npm run dev-keys [-- --export]: prints fresh random values for the secrets the services refuse to
// leave at their development defaults once the issuer is not localhost (AUTH_ENCRYPTION_KEY,
// AUTH_COOKIE_KEYS, DOCS_API_CURSOR_KEY), as KEY=value lines for an env file, or `export` lines:
//   set -a; eval "$(npm run --silent dev-keys)"; set +a
import { randomBytes } from 'node:crypto';

const key = () => randomBytes(48).toString('base64url'); // 64 characters, no '=' or ','
const prefix = process.argv.includes('--export') ? 'export ' : '';
process.stdout.write(
  [
    '# CloudDocs development keys. A new AUTH_ENCRYPTION_KEY cannot open what another one sealed (signing',
    '# keys, client secrets): use it on fresh data (npm run reset-data) and keep it with that data.',
    `${prefix}AUTH_ENCRYPTION_KEY=${key()}`,
    `${prefix}AUTH_COOKIE_KEYS=${key()}`,
    `${prefix}DOCS_API_CURSOR_KEY=${key()}`,
    '',
  ].join('\n'),
);
