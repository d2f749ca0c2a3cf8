// The docs API: a resource server for CloudDocs documents and organizations.
export { createDocsApi, REVOCATION_RETAIN_SECONDS, type DocsApi, type DocsApiDeps } from './app';
export { startDocsApi, type RunningDocsApi, type StartDocsApiOptions } from './start';
export { docsMigrations, docsGrants } from './migrations';
export * from './toolkit';
