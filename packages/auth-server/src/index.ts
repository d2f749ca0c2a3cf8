// The auth server (createAuthServer) and, through toolkit.ts, every library it is made of.
export { createAuthServer, type AuthServer, type AuthServerDeps } from './server';
export * from './toolkit';
