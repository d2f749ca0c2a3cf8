// Experiment: the auth server's oidc-provider alone (same configuration, adapter and keys), without the
// outer koa layers, to see what those layers cost on the token endpoint.
import { createAuthServer } from '@clouddocs/auth-server';
import { loadAuthConfig } from '@clouddocs/config';
import { createKnex } from '@clouddocs/db';
import { createKv } from '@clouddocs/kv';
import { createLogger } from '@clouddocs/observability';

const config = loadAuthConfig();
const kv = createKv(config);
const knex = await createKnex({ url: process.env.DATABASE_URL!, serviceRole: true, poolMax: 8 });
const server = await createAuthServer({ config, knex, kv, logger: createLogger({ level: 'error', name: 'x' }) });
const http = server.provider().listen(config.AUTH_PORT, '127.0.0.1', () => process.stdout.write(`READY ${JSON.stringify({ url: `http://127.0.0.1:${config.AUTH_PORT}` })}\n`));
process.on('SIGTERM', () => http.close(() => process.exit(0)));
