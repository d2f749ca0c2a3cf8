// The deployment files under infra/ are wired to the product: no container engine or cluster runs here,
// so this parses every YAML file and the Dockerfile and checks names, paths, ports and dependencies
// against the configuration schema, the servers' routes and the CLI. Each check is also shown to fail
// on a broken copy.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import {
  checkCompose,
  checkDockerfile,
  checkK8s,
  CLI_BIN,
  composeEnv,
  DOCKERFILE,
  IgnoreRules,
  infraDir,
  loadYaml,
  parseDockerfile,
  parseEnvFile,
  REQUIRED_SECRETS,
  root,
  schemaKeysFromSource,
  serves,
  walk,
  rel,
  type ComposeFacts,
  type DockerFacts,
  type K8sFacts,
  type Y,
} from './checks';

const read = (path: string) => readFileSync(join(root, path), 'utf8');

// --- the product side ------------------------------------------------------------------------------
const schemaKeys = schemaKeysFromSource(read('packages/config/src/index.ts'));

/** Values an operator would put in place of the CHANGE_ME placeholders. */
const SAMPLES: Record<string, string> = {
  AUTH_ENCRYPTION_KEY: 'sample-encryption-key-0123456789abcdefghijklmnop',
  AUTH_COOKIE_KEYS: 'sample-cookie-key-one-0123456789abcdefghijklmnop,sample-cookie-key-two-0123456789abcdefghijklm',
  DOCS_API_CURSOR_KEY: 'sample-cursor-key-0123456789abcdefghijklmnopqrs',
  DATABASE_URL: 'postgres://clouddocs:sample-password@db.internal:5432/clouddocs',
  DATABASE_SERVICE_URL: 'postgres://clouddocs_service:sample-service-password@db.internal:5432/clouddocs',
  REDIS_URL: 'rediss://:sample-password@redis.internal:6379',
  POSTGRES_PASSWORD: 'sample-password',
  AUDIT_CHECKPOINT_KEY: '-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEIE5h1/SHnis/WZUfzcKQ/ekJEH6pynthT1Hs0Ocxjhht\\n-----END PRIVATE KEY-----\\n',
  DATABASE_SERVICE_PASSWORD: 'sample-service-password',
};

function loadBoth(env: Record<string, string>) {
  const auth = loadAuthConfig(env);
  const docs = loadDocsConfig(env);
  return { auth, docs };
}

// --- the files -------------------------------------------------------------------------------------
const yamlFiles = walk(infraDir, (p) => /\.ya?ml$/.test(p));
const composePath = join(infraDir, 'docker-compose.yml');
const composeText = readFileSync(composePath, 'utf8');
const compose: Y = loadYaml(composePath)[0];
const envExample = parseEnvFile(read('infra/.env.example'));
const filledVars = new Map([...envExample].map(([k, v]) => [k, v === 'CHANGE_ME' ? (SAMPLES[k] ?? v) : v]));

const k8sDir = join(infraDir, 'k8s');
const kustomization: Y = loadYaml(join(k8sDir, 'kustomization.yaml'))[0];
const manifestFiles = readdirSync(k8sDir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
const k8sDocs: Y[] = manifestFiles.flatMap((f) => loadYaml(join(k8sDir, f)));

const dockerfileText = read(DOCKERFILE);
const ignoreText = read(`${DOCKERFILE}.dockerignore`);

const rootPackage = JSON.parse(read('package.json')) as { workspaces: string[] };
const workspaces = rootPackage.workspaces.flatMap((w) =>
  w.endsWith('/*')
    ? readdirSync(join(root, w.slice(0, -2)))
        .filter((d) => existsSync(join(root, w.slice(0, -2), d, 'package.json')))
        .map((d) => `${w.slice(0, -2)}/${d}`)
    : [w],
);

function composeFacts(): ComposeFacts {
  return {
    schemaKeys,
    envExample,
    composeText,
    composeDir: infraDir,
    vars: filledVars,
    ports: {
      auth: loadAuthConfig(composeEnv(compose, 'auth', filledVars)).AUTH_PORT,
      docs: loadDocsConfig(composeEnv(compose, 'docs', filledVars)).DOCS_API_PORT,
    },
  };
}
const dockerFacts = (ignore = ignoreText): DockerFacts => ({ schemaKeys, ignore: new IgnoreRules(ignore), workspaces });
const k8sFacts = (k = kustomization): K8sFacts => ({
  schemaKeys,
  manifestFiles,
  kustomization: k,
  sampleSecrets: SAMPLES,
  load: (service, env) => {
    const { auth, docs } = loadBoth(env);
    return { port: service === 'auth' ? auth.AUTH_PORT : docs.DOCS_API_PORT, issuer: auth.AUTH_ISSUER, audience: docs.DOCS_API_AUDIENCE };
  },
});

const problemsOf = (problems: string[]) => problems.join('\n');

// ---------------------------------------------------------------------------------------------------
describe('infra/ files', () => {
  it('has the compose file, the Dockerfile with its ignore file, and the Kubernetes manifests', () => {
    expect(yamlFiles.map(rel)).toEqual(expect.arrayContaining(['infra/docker-compose.yml', 'infra/k8s/kustomization.yaml']));
    expect(existsSync(join(root, DOCKERFILE))).toBe(true);
    expect(existsSync(join(root, `${DOCKERFILE}.dockerignore`))).toBe(true);
    expect(manifestFiles.length).toBeGreaterThanOrEqual(8);
  });

  it.each(yamlFiles.map(rel))('%s parses (every document)', (file) => {
    const docs = loadYaml(join(root, file));
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) expect(typeof doc).toBe('object');
  });

  it('a syntax error in any document of a file is reported, not skipped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clouddocs-infra-'));
    try {
      const file = join(dir, 'broken.yaml');
      writeFileSync(file, 'a: 1\n---\nb: [1, 2\n');
      expect(() => loadYaml(file)).toThrow(/broken.yaml/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('infra/nginx/mtls.conf (run for real by test/auth/mtls.test.ts)', () => {
  const conf = read('infra/nginx/mtls.conf');
  const auth = loadAuthConfig({});
  const docs = loadDocsConfig({});
  it('forwards the certificate and its verification in the headers the services read by default, to their default ports', () => {
    // header names are case-insensitive (RFC 9110 §5.1); the services read them lower-cased
    expect(conf.toLowerCase()).toContain(`proxy_set_header ${auth.AUTH_MTLS_CERT_HEADER} $ssl_client_escaped_cert;`);
    expect(conf.toLowerCase()).toContain(`proxy_set_header ${auth.AUTH_MTLS_VERIFY_HEADER} $ssl_client_verify;`);
    expect(conf.toLowerCase()).toContain(`proxy_set_header ${docs.DOCS_API_MTLS_CERT_HEADER} $ssl_client_escaped_cert;`);
    expect(conf).toContain(`server 127.0.0.1:${auth.AUTH_PORT};`);
    expect(conf).toContain(`server 127.0.0.1:${docs.DOCS_API_PORT};`);
  });
  it('asks for a client certificate without refusing any (optional_no_ca) and names the trusted CAs, in both servers', () => {
    expect(conf.match(/ssl_verify_client\s+optional_no_ca;/g)).toHaveLength(2);
    expect(conf.match(/ssl_client_certificate\s+\S+;/g)).toHaveLength(2);
    expect(conf).not.toMatch(/ssl_verify_client\s+(on|optional);/);
  });
});

describe('configuration schema (packages/config)', () => {
  it('its variable names, read from the source, are exactly the keys the loaders produce', () => {
    const runtime = new Set(
      [...Object.keys(loadAuthConfig({})), ...Object.keys(loadDocsConfig({}))].filter((k) => /^[A-Z][A-Z0-9_]*$/.test(k)),
    );
    expect([...schemaKeys].sort()).toEqual([...runtime].sort());
    for (const k of ['AUTH_ISSUER', 'AUTH_PORT', 'DOCS_API_PORT', 'DATABASE_URL', 'REDIS_URL', ...REQUIRED_SECRETS]) expect(schemaKeys).toContain(k);
  });

  it('both services serve /healthz and /readyz (the paths every probe uses)', () => {
    for (const s of ['auth', 'docs'] as const) {
      expect(serves(s, '/healthz')).toBe(true);
      expect(serves(s, '/readyz')).toBe(true);
      expect(serves(s, '/ready')).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
describe('infra/docker-compose.yml', () => {
  const check = (c: Y = compose, text = composeText) => checkCompose(c, { ...composeFacts(), composeText: text });
  const broken = (mutate: (c: Y) => void) => {
    const copy: Y = structuredClone(compose);
    mutate(copy);
    return problemsOf(check(copy));
  };

  it('is wired: images, commands, health-gated dependencies, schema names, secrets, ports, readiness checks', () => {
    expect(check()).toEqual([]);
  });

  it('gives every CloudDocs container a configuration the services accept once infra/.env is filled in', () => {
    for (const service of ['migrate', 'auth', 'docs']) {
      const env = composeEnv(compose, service, filledVars);
      const { auth, docs } = loadBoth(env);
      expect(auth.devDefaults).toEqual([]);
      expect(auth.AUTH_TRUST_PROXY).toBe(true);
      expect(auth.REDIS_URL).toBe('redis://redis:6379');
      expect(docs.DOCS_API_CURSOR_KEY).toBe(SAMPLES.DOCS_API_CURSOR_KEY);
    }
  });

  it('refuses to start with the example values left as they are, and without them at all', () => {
    const env = composeEnv(compose, 'auth', envExample);
    expect(() => loadAuthConfig(env)).toThrow(/AUTH_ENCRYPTION_KEY|AUTH_COOKIE_KEYS/);
    expect(() => loadDocsConfig(env)).toThrow(/DOCS_API_CURSOR_KEY/);
    expect(() => composeEnv(compose, 'auth', new Map())).toThrow(/DATABASE_SERVICE_PASSWORD|AUTH_ISSUER|AUTH_ENCRYPTION_KEY/);
  });

  it('catches an environment name the schema does not know', () => {
    expect(
      broken((c) => {
        const env = c.services.docs.environment;
        env.AUTH_ENCRYPTON_KEY = env.AUTH_ENCRYPTION_KEY;
        delete env.AUTH_ENCRYPTION_KEY;
      }),
    ).toMatch(/docs: environment variable AUTH_ENCRYPTON_KEY is not in the configuration schema[\s\S]*docs: AUTH_ENCRYPTION_KEY is not provided/);
  });

  it('catches a secret with a silent default', () => {
    expect(broken((c) => (c.services.auth.environment.AUTH_COOKIE_KEYS = '${AUTH_COOKIE_KEYS:-changeme}'))).toMatch(/auth: AUTH_COOKIE_KEYS must be required/);
  });

  it('catches a dependency that is not gated on health or completion', () => {
    expect(broken((c) => (c.services.auth.depends_on.migrate.condition = 'service_started'))).toMatch(/auth: dependency on migrate is not gated/);
    expect(broken((c) => delete c.services.docs.depends_on.redis)).toMatch(/docs: must depend on redis with service_healthy/);
    expect(broken((c) => delete c.services.postgres.healthcheck)).toMatch(/waits for postgres to be healthy, but postgres has no healthcheck/);
  });

  it('catches a probe on a path the service does not serve, or on the wrong port', () => {
    expect(broken((c) => (c.services.docs.healthcheck.test[3] = '/ready'))).toMatch(/docs: healthcheck does not probe \/readyz/);
    expect(broken((c) => (c.services.auth.healthcheck.test[4] = '4000'))).toMatch(/auth: healthcheck probes port 4000/);
  });

  it('catches a service on another image, a wrong command or an unpublished port', () => {
    expect(broken((c) => (c.services.docs.image = 'clouddocs:other'))).toMatch(/different images/);
    expect(broken((c) => (c.services.docs.command = ['start', '--service', 'auth']))).toMatch(/docs: command/);
    expect(broken((c) => (c.services.auth.ports = ['127.0.0.1:3000:3001']))).toMatch(/auth: does not publish container port 3000/);
    expect(broken((c) => (c.services.auth.environment.DATABASE_SERVICE_URL = 'postgres://u:p@db:5432/clouddocs'))).toMatch(/DATABASE_SERVICE_URL host db is not a compose service/);
  });

  it('gives the owner credential to the migrate job alone: the services connect as clouddocs_service with its own password', () => {
    const migrate = composeEnv(compose, 'migrate', filledVars);
    expect(new URL(migrate.DATABASE_URL!).username).toBe('clouddocs');
    for (const service of ['auth', 'docs']) {
      const env = composeEnv(compose, service, filledVars);
      expect(env.DATABASE_URL).toBeUndefined();
      const login = new URL(env.DATABASE_SERVICE_URL!);
      expect(login.username).toBe('clouddocs_service');
      expect(login.password).not.toBe(new URL(migrate.DATABASE_URL!).password);
      expect(env.DATABASE_SERVICE_URL).toBe(migrate.DATABASE_SERVICE_URL); // the password the migrate job sets
    }
  });

  it('catches a service given the owner credential, in either variable', () => {
    const owner = (c: Y) => c.services.migrate.environment.DATABASE_URL as string;
    expect(broken((c) => (c.services.auth.environment.DATABASE_URL = owner(c)))).toMatch(/auth: gets the owner's DATABASE_URL/);
    expect(broken((c) => (c.services.docs.environment.DATABASE_SERVICE_URL = owner(c)))).toMatch(
      /docs: DATABASE_SERVICE_URL is the owner's login clouddocs[\s\S]*docs: DATABASE_SERVICE_URL carries the owner's password/,
    );
    expect(broken((c) => delete c.services.migrate.environment.DATABASE_URL)).toMatch(/migrate: DATABASE_URL \(the owner, who migrates\) is not provided/);
    expect(broken((c) => (c.services.docs.environment.DATABASE_SERVICE_URL = 'postgres://clouddocs_service:other@postgres:5432/clouddocs'))).toMatch(
      /docs: DATABASE_SERVICE_URL is not the migrate job's/,
    );
  });

  it('catches a variable missing from infra/.env.example', () => {
    expect(problemsOf(check(compose, `${composeText}\n# \${NEW_REQUIRED_VALUE:?}`))).toMatch(/NEW_REQUIRED_VALUE\} is not in infra\/.env.example/);
  });
});

// ---------------------------------------------------------------------------------------------------
describe('infra/docker/Dockerfile', () => {
  const replaced = (from: string | RegExp, to: string) => {
    const text = dockerfileText.replace(from, to);
    expect(text).not.toBe(dockerfileText);
    return problemsOf(checkDockerfile(text, dockerFacts()));
  };

  it('is wired: multi-stage node:22-bookworm-slim, npm ci + build, production deps, non-root, CLI entry point, health check', () => {
    expect(checkDockerfile(dockerfileText, dockerFacts())).toEqual([]);
    const { stages } = parseDockerfile(dockerfileText);
    expect(stages.map((s) => s.name)).toEqual(['build', 'prod-deps', 'runtime']);
  });

  it('the runtime keeps tsx: it is a production dependency of the CLI, which runs the TypeScript sources', () => {
    const cli = JSON.parse(read('packages/cli/package.json')) as { dependencies: Record<string, string>; bin: Record<string, string> };
    expect(cli.dependencies.tsx).toBeDefined();
    expect(read(CLI_BIN)).toMatch(/tsx\/esm\/api/);
    expect(`packages/cli/${cli.bin.clouddocs!.replace(/^\.\//, '')}`).toBe(CLI_BIN);
  });

  it('the build context keeps the sources and leaves local state out', () => {
    const rules = new IgnoreRules(ignoreText);
    expect(rules.includes('packages/config/src/index.ts')).toBe(true);
    expect(rules.includes(CLI_BIN)).toBe(true);
    expect(rules.includes('package-lock.json')).toBe(true);
    expect(rules.includes('node_modules/yaml/package.json')).toBe(false);
    expect(rules.includes('packages/db/node_modules/x/index.js')).toBe(false);
    expect(rules.includes('.data/pglite/base')).toBe(false);
    expect(rules.includes('.env')).toBe(false);
    expect(rules.includes('infra/.env')).toBe(false);
    expect(rules.includes('.git/config')).toBe(false);
    expect(rules.includes('test/auth/discovery.test.ts')).toBe(false);
  });

  it('catches a runtime that runs as root', () => {
    expect(replaced(/^USER node$/m, 'USER root')).toMatch(/runtime stage runs as root/);
    expect(replaced(/^USER node$/m, '')).toMatch(/runtime stage runs as root \(no USER\)/);
  });

  it('catches an entry point that is not the CLI bin', () => {
    expect(replaced('"packages/cli/bin/clouddocs.js"]', '"packages/cli/bin/cli.js"]')).toMatch(/ENTRYPOINT names packages\/cli\/bin\/cli.js, which does not exist/);
  });

  it('catches a health check on a path the services do not serve, or a script left out of the image', () => {
    expect(replaced('"/healthz"]', '"/health"]')).toMatch(/HEALTHCHECK probes \/health, expected \/healthz/);
    expect(replaced(/^COPY infra\/docker\/healthcheck.mjs .*$/m, '')).toMatch(/does not copy/);
  });

  it('catches dev dependencies in the runtime, a missing workspace manifest, an unknown ENV', () => {
    expect(replaced('npm ci --omit=dev', 'npm ci')).toMatch(/does not install with --omit=dev/);
    expect(replaced(/^COPY packages\/kv\/package.json packages\/kv\/$/m, '')).toMatch(/npm ci without packages\/kv\/package.json/);
    expect(replaced('ENV NODE_ENV=production', 'ENV NODE_ENV=production AUTH_SECRET=x')).toMatch(/ENV AUTH_SECRET is not in the configuration schema/);
  });

  it('catches a COPY of something the ignore file leaves out of the build context', () => {
    const ignore = ignoreText.replace('!infra/docker/healthcheck.mjs\n', '');
    expect(problemsOf(checkDockerfile(dockerfileText, dockerFacts(ignore)))).toMatch(/infra\/docker\/healthcheck.mjs is excluded/);
  });
});

// ---------------------------------------------------------------------------------------------------
describe('infra/k8s', () => {
  const broken = (mutate: (docs: Y[], find: (kind: string, name: string) => Y) => void, k = kustomization) => {
    const copy: Y[] = structuredClone(k8sDocs);
    mutate(copy, (kind, name) => copy.find((d) => d.kind === kind && d.metadata?.name === name));
    return problemsOf(checkK8s(copy, k8sFacts(k)));
  };
  const container = (d: Y) => d.spec.template.spec.containers[0];

  it('is wired: kustomization, namespace, config and secret names, image, probes, ports, security, Services, Ingress, HPA, PDB', () => {
    expect(checkK8s(k8sDocs, k8sFacts())).toEqual([]);
    const kinds = k8sDocs.map((d) => d.kind).sort();
    expect(kinds).toEqual(
      [
        'ConfigMap', 'Deployment', 'Deployment', 'HorizontalPodAutoscaler', 'HorizontalPodAutoscaler', 'Ingress', 'Job', 'Namespace',
        'PodDisruptionBudget', 'PodDisruptionBudget', 'Secret', 'Secret', 'Service', 'Service',
      ].sort(),
    );
  });

  it('the Secret is a template the services refuse until its placeholders are replaced', () => {
    const cm = k8sDocs.find((d) => d.kind === 'ConfigMap').data as Record<string, string>;
    const secret = k8sDocs.find((d) => d.kind === 'Secret' && d.metadata.name === 'clouddocs-secrets').stringData as Record<string, string>;
    expect(() => loadAuthConfig({ ...cm, ...secret })).toThrow(/AUTH_ENCRYPTION_KEY/);
    expect(() => loadDocsConfig({ ...cm, ...secret })).toThrow(/DOCS_API_CURSOR_KEY/);
    const filled = Object.fromEntries(Object.keys(secret).map((k) => [k, SAMPLES[k]!]));
    const { auth, docs } = loadBoth({ ...cm, ...filled });
    expect(auth.devDefaults).toEqual([]);
    expect(auth.AUTH_TRUST_PROXY).toBe(true);
    expect(new URL(auth.AUTH_ISSUER).protocol).toBe('https:');
    expect(new URL(docs.DOCS_API_AUDIENCE).protocol).toBe('https:');
  });

  it('gives the owner\'s DATABASE_URL to the migration Job alone; the Deployments get only the services\' login', () => {
    const secretsOf = (name: string) =>
      container(k8sDocs.find((d) => d.metadata?.name === name)).envFrom.filter((f: Y) => f.secretRef).map((f: Y) => f.secretRef.name as string);
    const keysOf = (secret: string) => Object.keys(k8sDocs.find((d) => d.kind === 'Secret' && d.metadata.name === secret).stringData);
    expect(secretsOf('clouddocs-migrate').flatMap(keysOf)).toEqual(expect.arrayContaining(['DATABASE_URL', 'DATABASE_SERVICE_URL']));
    for (const name of ['clouddocs-auth', 'clouddocs-docs']) {
      const keys = secretsOf(name).flatMap(keysOf);
      expect(keys).toContain('DATABASE_SERVICE_URL');
      expect(keys).not.toContain('DATABASE_URL');
    }
  });

  it('catches a Deployment given the owner credential, a Job without it, and an owner Secret nobody uses', () => {
    const owner = { secretRef: { name: 'clouddocs-migrate-secrets' } };
    expect(broken((_d, find) => container(find('Deployment', 'clouddocs-auth')).envFrom.push(owner))).toMatch(
      /Deployment\/clouddocs-auth container auth: gets the owner's DATABASE_URL/,
    );
    expect(broken((_d, find) => container(find('Deployment', 'clouddocs-docs')).env = [{ name: 'DATABASE_URL', value: 'postgres://clouddocs@db/clouddocs' }])).toMatch(
      /Deployment\/clouddocs-docs container docs: gets the owner's DATABASE_URL/,
    );
    const withoutOwner = broken((_d, find) => container(find('Job', 'clouddocs-migrate')).envFrom.pop());
    expect(withoutOwner).toMatch(/Job\/clouddocs-migrate container migrate: DATABASE_URL \(the owner, who migrates\) is not provided/);
    expect(withoutOwner).toMatch(/Secret\/clouddocs-migrate-secrets: no workload uses it/);
    expect(broken((_d, find) => delete find('Secret', 'clouddocs-migrate-secrets').stringData.DATABASE_URL)).toMatch(/Secret\/clouddocs-migrate-secrets: no DATABASE_URL/);
  });

  it('catches a manifest the kustomization does not list, or lists but does not exist', () => {
    const k = structuredClone(kustomization);
    k.resources = k.resources.filter((r: string) => r !== 'pdb.yaml').concat('network-policy.yaml');
    expect(broken(() => {}, k)).toMatch(/does not list pdb.yaml[\s\S]*lists network-policy.yaml, which does not exist/);
  });

  it('catches references to a ConfigMap or Secret that does not exist, and a secret not provided', () => {
    expect(broken((_d, find) => (container(find('Deployment', 'clouddocs-docs')).envFrom[1].secretRef.name = 'clouddocs-secret'))).toMatch(
      /Deployment\/clouddocs-docs: envFrom Secret clouddocs-secret does not exist[\s\S]*DOCS_API_CURSOR_KEY is not provided/,
    );
    expect(broken((_d, find) => (container(find('Job', 'clouddocs-migrate')).envFrom[0].configMapRef.name = 'config'))).toMatch(/Job\/clouddocs-migrate: envFrom ConfigMap config does not exist/);
    expect(broken((_d, find) => delete find('Secret', 'clouddocs-secrets').stringData.AUTH_COOKIE_KEYS)).toMatch(/Secret\/clouddocs-secrets: no AUTH_COOKIE_KEYS/);
  });

  it('catches a variable name outside the schema, and a secret in the ConfigMap', () => {
    expect(broken((_d, find) => (find('ConfigMap', 'clouddocs-config').data.AUTH_TRUST_PROXIES = 'true'))).toMatch(/AUTH_TRUST_PROXIES is not in the configuration schema/);
    expect(broken((_d, find) => (find('ConfigMap', 'clouddocs-config').data.DOCS_API_CURSOR_KEY = 'x'))).toMatch(/DOCS_API_CURSOR_KEY is a secret/);
  });

  it('catches probes on paths the service does not serve, and ports that are not the configured ones', () => {
    expect(broken((_d, find) => (container(find('Deployment', 'clouddocs-auth')).readinessProbe.httpGet.path = '/ready'))).toMatch(
      /readinessProbe path \/ready, expected \/readyz[\s\S]*not served by the auth service/,
    );
    expect(broken((_d, find) => (container(find('Deployment', 'clouddocs-docs')).ports[0].containerPort = 3000))).toMatch(/containerPort 3000 is not the configured DOCS_API_PORT 4000/);
    expect(broken((_d, find) => (find('ConfigMap', 'clouddocs-config').data.AUTH_PORT = '8080'))).toMatch(/Deployment\/clouddocs-auth: containerPort 3000 is not the configured AUTH_PORT 8080/);
  });

  it('catches a workload on another image, or one that may run as root or write its root filesystem', () => {
    expect(broken((_d, find) => (container(find('Job', 'clouddocs-migrate')).image = 'clouddocs:0.0.9'))).toMatch(/different images/);
    expect(broken((_d, find) => delete find('Deployment', 'clouddocs-auth').spec.template.spec.securityContext.runAsNonRoot)).toMatch(/clouddocs-auth container auth: runAsNonRoot/);
    expect(broken((_d, find) => (container(find('Deployment', 'clouddocs-docs')).securityContext.readOnlyRootFilesystem = false))).toMatch(/readOnlyRootFilesystem is not true/);
  });

  it('catches a Service that selects nothing, and an Ingress that routes nowhere or off TLS', () => {
    expect(broken((_d, find) => (find('Service', 'clouddocs-docs').spec.selector['app.kubernetes.io/name'] = 'docs'))).toMatch(
      /Service\/clouddocs-docs: selects no Deployment[\s\S]*no Service for the docs service/,
    );
    expect(broken((_d, find) => (find('Ingress', 'clouddocs').spec.rules[0].http.paths[0].backend.service.name = 'auth'))).toMatch(/backend Service auth does not exist/);
    expect(broken((_d, find) => (find('Ingress', 'clouddocs').spec.tls[0].hosts = ['auth.example.com']))).toMatch(/host docs.example.com has no TLS/);
    expect(broken((_d, find) => (find('ConfigMap', 'clouddocs-config').data.AUTH_ISSUER = 'https://login.example.com'))).toMatch(/login.example.com .* does not route to the auth Deployment/);
  });

  it('catches an HPA or a PDB that targets no Deployment', () => {
    const hpa = broken((_d, find) => (find('HorizontalPodAutoscaler', 'clouddocs-docs').spec.scaleTargetRef.name = 'docs'));
    expect(hpa).toMatch(/HorizontalPodAutoscaler\/clouddocs-docs: targets Deployment\/docs, which does not exist/);
    expect(hpa).toMatch(/Deployment\/clouddocs-docs: no HorizontalPodAutoscaler/);
    expect(broken((_d, find) => (find('PodDisruptionBudget', 'clouddocs-auth').spec.selector.matchLabels = { app: 'auth' }))).toMatch(
      /PodDisruptionBudget\/clouddocs-auth: selects no Deployment/,
    );
  });
});
