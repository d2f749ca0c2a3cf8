// Health probe for the CloudDocs image (no curl in the slim base image): GET http://127.0.0.1:<port><path>
// and exit 0 on a 2xx answer, 1 otherwise.
//   node infra/docker/healthcheck.mjs [path] [port]
// path defaults to /healthz; without a port it tries the auth server's (AUTH_PORT, 3000) and the docs
// API's (DOCS_API_PORT, 4000), since the same image runs either service.
const path = process.argv[2] ?? '/healthz';
const ports = process.argv[3]
  ? [process.argv[3]]
  : [process.env.AUTH_PORT || '3000', process.env.DOCS_API_PORT || '4000'];

async function probe(port) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(4_000) });
  if (!response.ok) throw new Error(`${path} on port ${port} answered ${response.status}`);
}

try {
  await Promise.any(ports.map(probe));
  process.exit(0);
} catch (err) {
  const reasons = err instanceof AggregateError ? err.errors : [err];
  console.error(reasons.map((e) => (e instanceof Error ? e.message : String(e))).join('; '));
  process.exit(1);
}
