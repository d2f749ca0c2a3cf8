// Wiring checks for the deployment files under infra/: each returns the list of problems it finds
// (empty when the wiring holds), so the tests can also show that a broken copy is caught.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const infraDir = join(root, 'infra');

/** Parsed YAML is walked loosely: shapes are checked by the assertions themselves. */
export type Y = any;

/** The secrets every workload must be given explicitly (the development defaults are refused in production). */
export const REQUIRED_SECRETS = ['AUTH_ENCRYPTION_KEY', 'AUTH_COOKIE_KEYS', 'DOCS_API_CURSOR_KEY'] as const;
/** Read by the runtime (Node.js, koa), not by the product's configuration; allowed in the image only. */
export const RUNTIME_ONLY_ENV = new Set(['NODE_ENV']);
export const DOCKERFILE = 'infra/docker/Dockerfile';
export const CLI_BIN = 'packages/cli/bin/clouddocs.js';
export type Service = 'auth' | 'docs';
export const SERVICES: readonly Service[] = ['auth', 'docs'];
/** The services' own database login, which the migrations create (README "Database logins"). */
export const SERVICE_LOGIN = 'clouddocs_service';

// ---------------------------------------------------------------------------------------------------
// files

export function walk(dir: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path, keep));
    else if (keep(path)) out.push(path);
  }
  return out.sort();
}

export const rel = (path: string): string => relative(root, path).split('\\').join('/');

/** Every YAML document of a file (multi-document aware); throws on a syntax error. */
export function loadYaml(path: string): Y[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'), { merge: true, prettyErrors: true });
  if (!Array.isArray(docs)) throw new Error(`${rel(path)}: not a YAML stream`);
  const out: Y[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${rel(path)}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: Y = doc.toJS({ maxAliasCount: 1000 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// the product's configuration schema and endpoints

/**
 * The environment variable names of the configuration schema, read from its source: the keys of the
 * `common`, `authOnly` and `docsOnly` objects in packages/config/src/index.ts.
 */
export function schemaKeysFromSource(source: string): Set<string> {
  const keys = new Set<string>();
  for (const block of ['common', 'authOnly', 'docsOnly']) {
    const start = source.search(new RegExp(`^const ${block} = \\{$`, 'm'));
    if (start < 0) throw new Error(`packages/config/src/index.ts: no \`const ${block} = {\` block`);
    const end = source.indexOf('\n};', start);
    if (end < 0) throw new Error(`packages/config/src/index.ts: \`${block}\` block is not closed`);
    for (const m of source.slice(start, end).matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)) keys.add(m[1]!);
  }
  return keys;
}

const serverSources: Record<Service, string[]> = {
  auth: ['packages/auth-server/src/server.ts'],
  docs: walk(join(root, 'packages/docs-api/src'), (p) => p.endsWith('.ts') && !p.endsWith('.test.ts')).map(rel),
};
const sourceText = new Map<Service, string>();

/** Whether the service's HTTP server answers `path` (a route literal in its sources). */
export function serves(service: Service, path: string): boolean {
  let text = sourceText.get(service);
  if (text === undefined) {
    text = serverSources[service].map((f) => readFileSync(join(root, f), 'utf8')).join('\n');
    sourceText.set(service, text);
  }
  return text.includes(`'${path}'`) || text.includes(`"${path}"`);
}

// ---------------------------------------------------------------------------------------------------
// docker compose

export interface ComposeFacts {
  schemaKeys: Set<string>;
  /** Variables of infra/.env.example (what an operator is told to set). */
  envExample: Map<string, string>;
  /** The compose file's raw text (for its `${…}` interpolations). */
  composeText: string;
  /** Values for the interpolations (infra/.env.example with its placeholders filled in). */
  vars: Map<string, string>;
  /** The auth/docs ports the configuration resolves to for the compose environment. */
  ports: Record<Service, number>;
  composeDir: string;
}

const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g;

export function interpolatedNames(text: string): Set<string> {
  return new Set([...text.matchAll(INTERPOLATION)].map((m) => m[1]!));
}

/** Compose-style interpolation of one value (`${X}`, `${X:-d}`, `${X-d}`, `${X:?e}`, `${X?e}`). */
export function interpolate(value: string, vars: Map<string, string>): string {
  return value.replace(INTERPOLATION, (_all, name: string, op: string | undefined, arg: string | undefined) => {
    const v = vars.get(name);
    const empty = v === undefined || v === '';
    if (op === ':-') return empty ? (arg ?? '') : v;
    if (op === '-') return v === undefined ? (arg ?? '') : v;
    if (op === ':?' && empty) throw new Error(`${name}: ${arg}`);
    if (op === '?' && v === undefined) throw new Error(`${name}: ${arg}`);
    return v ?? '';
  });
}

export function parseEnvFile(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) vars.set(m[1]!, m[2]!);
  }
  return vars;
}

/** A service's environment as a name → raw value map (mapping or `KEY=VALUE` list form). */
export function envOf(service: Y): Map<string, string> {
  const env = new Map<string, string>();
  const raw: Y = service?.environment ?? {};
  if (Array.isArray(raw)) {
    for (const item of raw) {
      const [k, ...v] = String(item).split('=');
      env.set(k!, v.join('='));
    }
  } else for (const [k, v] of Object.entries(raw)) env.set(k, v === null ? '' : String(v));
  return env;
}

/** The services built from (or running) the CloudDocs image. */
export function clouddocsServices(compose: Y): Map<string, Y> {
  const out = new Map<string, Y>();
  for (const [name, svc] of Object.entries<Y>(compose?.services ?? {})) {
    if (svc?.build?.dockerfile === DOCKERFILE || /clouddocs/.test(String(svc?.image ?? ''))) out.set(name, svc);
  }
  return out;
}

function argv(command: Y): string[] {
  if (Array.isArray(command)) return command.map(String);
  return typeof command === 'string' ? command.split(/\s+/).filter(Boolean) : [];
}

function healthTest(svc: Y): string[] {
  const test: Y = svc?.healthcheck?.test;
  if (svc?.healthcheck?.disable === true || test === undefined) return [];
  const list = argv(test);
  return list[0] === 'CMD-SHELL' ? list.slice(1).join(' ').split(/\s+/) : list[0] === 'CMD' ? list.slice(1) : list;
}

export function checkCompose(compose: Y, facts: ComposeFacts): string[] {
  const problems: string[] = [];
  const services: Record<string, Y> = compose?.services ?? {};
  const ours = clouddocsServices(compose);

  // Backing services, each with a real health check.
  const postgres = services.postgres;
  if (!/^postgres:16([.-]|$)/.test(String(postgres?.image))) problems.push(`postgres: image ${postgres?.image} is not postgres:16`);
  if (!healthTest(postgres).includes('pg_isready')) problems.push('postgres: healthcheck does not run pg_isready');
  const redis = services.redis;
  if (!/^redis:7([.-]|$)/.test(String(redis?.image))) problems.push(`redis: image ${redis?.image} is not redis:7`);
  const redisTest = healthTest(redis);
  if (!(redisTest.includes('redis-cli') && redisTest.includes('ping'))) problems.push('redis: healthcheck does not run redis-cli ping');

  // One image for the migration job and both services, built from the Dockerfile.
  for (const name of ['migrate', 'auth', 'docs']) if (!ours.has(name)) problems.push(`${name}: not a CloudDocs service (image/build)`);
  const images = new Set([...ours.values()].map((s) => String(s?.image)));
  if (images.size !== 1) problems.push(`CloudDocs services use different images: ${[...images].join(', ')}`);
  for (const [name, svc] of ours) {
    if (!svc.build) continue;
    const context = resolve(facts.composeDir, String(svc.build.context ?? '.'));
    const dockerfile = join(context, String(svc.build.dockerfile ?? 'Dockerfile'));
    if (!existsSync(dockerfile)) problems.push(`${name}: build dockerfile ${rel(dockerfile)} does not exist`);
  }

  // Commands.
  const expectCommand = (name: string, want: string[]) => {
    const got = argv(services[name]?.command);
    if (got.join(' ') !== want.join(' ')) problems.push(`${name}: command is "${got.join(' ')}", expected "${want.join(' ')}"`);
  };
  expectCommand('migrate', ['migrate']);
  expectCommand('auth', ['start', '--service', 'auth']);
  expectCommand('docs', ['start', '--service', 'docs']);

  // Dependencies gated on health or completion, never on a bare start.
  for (const [name, svc] of Object.entries(services)) {
    const deps: Y = svc?.depends_on ?? {};
    if (Array.isArray(deps)) {
      if (deps.length) problems.push(`${name}: depends_on without conditions (${deps.join(', ')})`);
      continue;
    }
    for (const [dep, spec] of Object.entries<Y>(deps)) {
      const condition = spec?.condition;
      if (!services[dep]) problems.push(`${name}: depends on unknown service ${dep}`);
      if (condition === 'service_healthy' && healthTest(services[dep]).length === 0) {
        problems.push(`${name}: waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
      }
      if (condition !== 'service_healthy' && condition !== 'service_completed_successfully') {
        problems.push(`${name}: dependency on ${dep} is not gated on health or completion (${condition ?? 'none'})`);
      }
    }
  }
  const needs = (name: string, dep: string, condition: string) => {
    if (services[name]?.depends_on?.[dep]?.condition !== condition) problems.push(`${name}: must depend on ${dep} with ${condition}`);
  };
  needs('migrate', 'postgres', 'service_healthy');
  for (const s of SERVICES) {
    needs(s, 'migrate', 'service_completed_successfully');
    needs(s, 'redis', 'service_healthy');
  }
  if (services.migrate?.restart !== undefined && services.migrate.restart !== 'no') problems.push('migrate: a one-shot job must not restart');
  for (const s of SERVICES) {
    const mine = envOf(services[s]).get('DATABASE_SERVICE_URL');
    if (mine !== undefined && mine !== envOf(services.migrate).get('DATABASE_SERVICE_URL')) {
      problems.push(`${s}: DATABASE_SERVICE_URL is not the migrate job's (which sets the login's password)`);
    }
  }

  // Environment: only the schema's names; the secrets provided and required to be set.
  for (const [name, svc] of ours) {
    const env = envOf(svc);
    for (const key of env.keys()) if (!facts.schemaKeys.has(key)) problems.push(`${name}: environment variable ${key} is not in the configuration schema`);
    for (const key of [...REQUIRED_SECRETS, 'AUTH_ISSUER', 'DOCS_API_AUDIENCE']) {
      const value = env.get(key);
      if (value === undefined) problems.push(`${name}: ${key} is not provided`);
      else if (!new RegExp(`^\\$\\{${key}:\\?`).test(value)) problems.push(`${name}: ${key} must be required from the environment (\${${key}:?…})`);
    }
    for (const key of ['DATABASE_SERVICE_URL', 'REDIS_URL', 'AUTH_TRUST_PROXY', 'LOG_LEVEL']) {
      if (!env.has(key)) problems.push(`${name}: ${key} is not provided`);
    }
    // Two credentials: the owner's DATABASE_URL for the migration job alone, the services' own login for the rest.
    if (name === 'migrate' && !env.has('DATABASE_URL')) problems.push('migrate: DATABASE_URL (the owner, who migrates) is not provided');
    if (name !== 'migrate' && env.has('DATABASE_URL')) problems.push(`${name}: gets the owner's DATABASE_URL; a service gets only DATABASE_SERVICE_URL`);
    // The URLs point at the compose services, once interpolated the way compose does.
    const url = (key: string): URL | undefined => {
      if (!env.has(key)) return undefined;
      try {
        return new URL(interpolate(env.get(key) ?? '', facts.vars));
      } catch {
        problems.push(`${name}: ${key} is not a URL once interpolated`);
        return undefined;
      }
    };
    for (const key of ['DATABASE_URL', 'DATABASE_SERVICE_URL']) {
      const db = url(key);
      if (!db) continue;
      if (!services[db.hostname]) {
        problems.push(`${name}: ${key} host ${db.hostname} is not a compose service`);
        continue;
      }
      const pg = envOf(services[db.hostname]);
      const ownerPassword = pg.get('POSTGRES_PASSWORD') === undefined ? undefined : interpolate(pg.get('POSTGRES_PASSWORD')!, facts.vars);
      if (pg.get('POSTGRES_DB') !== db.pathname.slice(1)) problems.push(`${name}: ${key} database ${db.pathname.slice(1)} is not the one ${db.hostname} creates`);
      if (key === 'DATABASE_URL') {
        if (pg.get('POSTGRES_USER') !== db.username) problems.push(`${name}: DATABASE_URL user ${db.username} is not the one ${db.hostname} creates`);
        if (ownerPassword !== undefined && ownerPassword !== decodeURIComponent(db.password)) problems.push(`${name}: DATABASE_URL password is not the one ${db.hostname} is given`);
      } else {
        if (db.username === pg.get('POSTGRES_USER')) problems.push(`${name}: DATABASE_SERVICE_URL is the owner's login ${db.username}; the services must not use the owner credential`);
        else if (db.username !== SERVICE_LOGIN) problems.push(`${name}: DATABASE_SERVICE_URL user ${db.username} is not ${SERVICE_LOGIN}, the login the migrations create`);
        if (ownerPassword !== undefined && ownerPassword === decodeURIComponent(db.password)) problems.push(`${name}: DATABASE_SERVICE_URL carries the owner's password`);
        if (!db.password) problems.push(`${name}: DATABASE_SERVICE_URL has no password (${db.hostname} requires one)`);
      }
    }
    const cache = url('REDIS_URL');
    if (cache && !services[cache.hostname]) problems.push(`${name}: REDIS_URL host ${cache.hostname} is not a compose service`);
  }

  // Ports and readiness checks of the two services.
  for (const s of SERVICES) {
    const svc = services[s];
    const port = facts.ports[s];
    const published = (svc?.ports ?? []).map((p: Y) => Number(String(typeof p === 'object' ? p.target : p).split(':').pop()!.split('/')[0]));
    if (!published.includes(port)) problems.push(`${s}: does not publish container port ${port}`);
    const test = healthTest(svc);
    const path = test.find((t) => t.startsWith('/'));
    if (path !== '/readyz') problems.push(`${s}: healthcheck does not probe /readyz`);
    if (path && !serves(s, path)) problems.push(`${s}: healthcheck path ${path} is not served by the ${s} service`);
    const script = test.find((t) => t.endsWith('.mjs') || t.endsWith('.js'));
    if (!script || !existsSync(join(root, script))) problems.push(`${s}: healthcheck script ${script} does not exist`);
    const portArg = test.find((t) => /^\d+$/.test(t));
    if (portArg !== undefined && Number(portArg) !== port) problems.push(`${s}: healthcheck probes port ${portArg}, the service listens on ${port}`);
  }

  // Interpolation: every variable without a default is in .env.example, and nothing stale is there.
  const used = interpolatedNames(facts.composeText);
  for (const name of used) {
    const hasDefault = new RegExp(`\\$\\{${name}:?-`).test(facts.composeText);
    if (!hasDefault && !facts.envExample.has(name)) problems.push(`compose: \${${name}} is not in infra/.env.example`);
  }
  for (const name of facts.envExample.keys()) {
    if (!used.has(name)) problems.push(`infra/.env.example: ${name} is not used by the compose file`);
  }
  return problems;
}

/** The environment a CloudDocs compose service gets, interpolated with `vars`. */
export function composeEnv(compose: Y, service: string, vars: Map<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of envOf(compose.services[service])) env[k] = interpolate(v, vars);
  return env;
}

// ---------------------------------------------------------------------------------------------------
// Dockerfile (line based)

export interface Instruction {
  line: number;
  keyword: string;
  args: string;
}
export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const logical: Instruction[] = [];
  let current: Instruction | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#')) return; // comments (also inside a continued instruction)
    if (!current) {
      if (!line) return;
      const m = /^([A-Za-z]+)\s*(.*)$/.exec(line);
      if (!m) throw new Error(`Dockerfile line ${i + 1}: cannot parse "${line}"`);
      current = { line: i + 1, keyword: m[1]!.toUpperCase(), args: m[2]! };
    } else current.args += ` ${line}`;
    if (current.args.endsWith('\\')) current.args = current.args.slice(0, -1).trimEnd();
    else {
      logical.push(current);
      current = undefined;
    }
  });
  if (current) logical.push(current);

  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of logical) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile line ${ins.line}: cannot parse FROM`);
      const from = m[1]!.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_a, n: string) => globalArgs.get(n) ?? '');
      stages.push({ name: m[2] ?? String(stages.length), from, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword === 'ARG') {
        const [k, v] = ins.args.split('=');
        globalArgs.set(k!.trim(), (v ?? '').trim());
      }
    } else stages[stages.length - 1]!.instructions.push(ins);
  }
  return { globalArgs, stages };
}

/** Exec-form arguments (`["a","b"]`), or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.trim().startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  return Array.isArray(parsed) ? parsed.map(String) : undefined;
}

/** `COPY [--opt=…]… src… dest` → options and paths. */
export function copyArgs(args: string): { options: Map<string, string>; sources: string[]; dest: string } {
  const tokens = args.split(/\s+/).filter(Boolean);
  const options = new Map<string, string>();
  while (tokens[0]?.startsWith('--')) {
    const [k, v] = tokens.shift()!.slice(2).split('=');
    options.set(k!, v ?? 'true');
  }
  const dest = tokens.pop() ?? '';
  return { options, sources: tokens, dest };
}

/** The keys an `ENV` instruction sets (`K=V …` or `K V`). */
export function envKeys(args: string): string[] {
  if (!args.includes('=')) return [args.split(/\s+/)[0]!];
  return [...args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!);
}

/** Docker's ignore-file semantics, enough for an allow-list: last matching pattern wins, a matching
 * directory covers everything beneath it. */
export class IgnoreRules {
  private readonly rules: { negate: boolean; re: RegExp }[];
  constructor(text: string) {
    this.rules = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const negate = l.startsWith('!');
        const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/$/, '');
        let re = '';
        for (let i = 0; i < pattern.length; i++) {
          const c = pattern[i]!;
          if (pattern.startsWith('**/', i)) {
            re += '(?:.*/)?'; // `**/x` matches x at any depth, the top included
            i += 2;
          } else if (pattern.startsWith('**', i)) {
            re += '.*';
            i += 1;
          } else if (c === '*') re += '[^/]*';
          else if (c === '?') re += '[^/]';
          else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        }
        return { negate, re: new RegExp(`^${re}$`) };
      });
  }
  /** Whether a context path (file) is sent to the builder. */
  includes(path: string): boolean {
    const parts = path.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of this.rules) if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.negate;
    return !excluded;
  }
}

export interface DockerFacts {
  schemaKeys: Set<string>;
  ignore: IgnoreRules;
  /** Workspace folders of the root package.json that npm ci must see (packages/x, test, bench). */
  workspaces: string[];
}

export function checkDockerfile(text: string, facts: DockerFacts): string[] {
  const problems: string[] = [];
  const { stages } = parseDockerfile(text);
  if (stages.length < 2) return [`Dockerfile: ${stages.length} stage(s), expected a multi-stage build`];
  const all = stages.flatMap((s) => s.instructions);
  const first = stages[0]!;
  const runtime = stages[stages.length - 1]!;
  const byName = new Map(stages.map((s) => [s.name, s]));

  for (const s of stages) if (s.from !== 'node:22-bookworm-slim') problems.push(`Dockerfile stage ${s.name}: FROM ${s.from}, expected node:22-bookworm-slim`);
  const runs = (s: Stage) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  const build = stages.find((s) => runs(s).some((r) => /\bnpm run build\b/.test(r)));
  if (!build) problems.push('Dockerfile: no stage runs npm run build');
  else if (!runs(build).some((r) => /\bnpm ci\b/.test(r))) problems.push(`Dockerfile stage ${build.name}: runs npm run build without npm ci`);
  if (first !== build) problems.push('Dockerfile: the first stage is not the build stage');

  // Runtime stage: production dependencies only (tsx among them), not root.
  const users = runtime.instructions.filter((i) => i.keyword === 'USER').map((i) => i.args.split(':')[0]!.trim());
  const user = users[users.length - 1];
  if (!user || user === 'root' || user === '0') problems.push(`Dockerfile runtime stage runs as ${user ?? 'root (no USER)'}`);
  else if (user !== 'node') problems.push(`Dockerfile runtime stage user ${user} is not the image's node user`);
  const modulesFrom = runtime.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => copyArgs(i.args))
    .filter((c) => c.options.has('from') && c.sources.some((s) => s === '/app/' || s === '/app' || s.includes('node_modules')))
    .map((c) => byName.get(c.options.get('from')!));
  if (modulesFrom.length === 0) problems.push('Dockerfile runtime stage copies no node_modules');
  for (const s of modulesFrom) {
    if (!s) problems.push('Dockerfile runtime stage copies node_modules from an unknown stage');
    else if (!runs(s).some((r) => /npm ci\b.*--omit=dev/.test(r))) problems.push(`Dockerfile: node_modules of the runtime come from ${s.name}, which does not install with --omit=dev`);
  }

  // Every workspace's manifest reaches npm ci (it refuses a lock file that names a missing workspace).
  for (const s of stages.filter((st) => runs(st).some((r) => /\bnpm ci\b/.test(r)))) {
    const copied = new Set(
      s.instructions.filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args)).flatMap((i) => copyArgs(i.args).sources),
    );
    for (const ws of facts.workspaces) {
      if (!copied.has(`${ws}/package.json`)) problems.push(`Dockerfile stage ${s.name}: npm ci without ${ws}/package.json`);
    }
    for (const f of ['package.json', 'package-lock.json']) if (!copied.has(f)) problems.push(`Dockerfile stage ${s.name}: npm ci without ${f}`);
  }

  // Build context: every source exists in the repository and passes the ignore file.
  for (const i of all.filter((ins) => ins.keyword === 'COPY' || ins.keyword === 'ADD')) {
    const { options, sources } = copyArgs(i.args);
    if (options.has('from')) continue;
    for (const src of sources) {
      const path = join(root, src);
      if (!existsSync(path)) {
        problems.push(`Dockerfile line ${i.line}: COPY source ${src} does not exist`);
        continue;
      }
      const files = statSync(path).isDirectory() ? walk(path, () => true).map(rel) : [rel(path)];
      if (!files.some((f) => facts.ignore.includes(f))) problems.push(`Dockerfile line ${i.line}: ${src} is excluded by Dockerfile.dockerignore`);
    }
  }

  // Entry point: the CLI's bin, which exists, is sent in the context and is copied into the runtime.
  const entry = runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT').pop();
  const entryArgv = entry ? execForm(entry.args) : undefined;
  if (!entryArgv) problems.push('Dockerfile runtime stage: no exec-form ENTRYPOINT');
  else {
    if (entryArgv[0] !== 'node' || entryArgv[1] !== CLI_BIN) problems.push(`Dockerfile ENTRYPOINT ${JSON.stringify(entryArgv)} is not ["node","${CLI_BIN}"]`);
    const bin = entryArgv[1] ?? '';
    if (!existsSync(join(root, bin))) problems.push(`Dockerfile ENTRYPOINT names ${bin}, which does not exist`);
    if (!facts.ignore.includes(bin)) problems.push(`Dockerfile ENTRYPOINT ${bin} is excluded from the build context`);
    if (!text.includes(dirname(bin))) problems.push(`Dockerfile never copies ${dirname(bin)} into the image`);
  }
  const cmd = runtime.instructions.filter((i) => i.keyword === 'CMD').pop();
  if (JSON.stringify(cmd ? execForm(cmd.args) : undefined) !== JSON.stringify(['start', '--service', 'auth'])) {
    problems.push('Dockerfile CMD is not ["start","--service","auth"]');
  }

  // Health check: /healthz of both services, through a script that is copied into the image.
  const health = runtime.instructions.filter((i) => i.keyword === 'HEALTHCHECK').pop();
  if (!health) problems.push('Dockerfile runtime stage: no HEALTHCHECK');
  else {
    const cmdPart = health.args.replace(/^(--\S+\s+)*/, '');
    const hc = cmdPart.startsWith('CMD') ? (execForm(cmdPart.slice(3).trim()) ?? cmdPart.slice(3).trim().split(/\s+/)) : [];
    const path = hc.find((t) => t.startsWith('/'));
    if (path !== '/healthz') problems.push(`Dockerfile HEALTHCHECK probes ${path}, expected /healthz`);
    for (const s of SERVICES) if (path && !serves(s, path)) problems.push(`Dockerfile HEALTHCHECK path ${path} is not served by the ${s} service`);
    const script = hc.find((t) => t.endsWith('.mjs') || t.endsWith('.js'));
    if (script) {
      const copied = runtime.instructions.some((i) => i.keyword === 'COPY' && copyArgs(i.args).sources.includes(script));
      if (!copied) problems.push(`Dockerfile HEALTHCHECK runs ${script}, which the runtime stage does not copy`);
    }
  }

  // Environment and ports.
  for (const i of runtime.instructions.filter((ins) => ins.keyword === 'ENV')) {
    for (const key of envKeys(i.args)) {
      if (!facts.schemaKeys.has(key) && !RUNTIME_ONLY_ENV.has(key)) problems.push(`Dockerfile ENV ${key} is not in the configuration schema`);
    }
  }
  const exposed = runtime.instructions.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map((p) => Number(p.split('/')[0])));
  for (const p of [3000, 4000]) if (!exposed.includes(p)) problems.push(`Dockerfile does not EXPOSE ${p}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// Kubernetes

export interface K8sFacts {
  schemaKeys: Set<string>;
  /** Files of infra/k8s other than kustomization.yaml, relative to it. */
  manifestFiles: string[];
  kustomization: Y;
  /** A valid value for each secret key (what an operator puts in place of the placeholders). */
  sampleSecrets: Record<string, string>;
  /** Loads the product's configuration for a service from an environment (throws on a bad one). */
  load: (service: Service, env: Record<string, string>) => { port: number; issuer: string; audience: string };
}

const NAMESPACED = new Set(['ConfigMap', 'Secret', 'Job', 'Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress']);

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function containersOf(doc: Y): Y[] {
  return doc?.spec?.template?.spec?.containers ?? [];
}

function probePort(container: Y, port: Y): number | undefined {
  if (typeof port === 'number') return port;
  return (container.ports ?? []).find((p: Y) => p.name === port)?.containerPort;
}

export function checkK8s(docs: Y[], facts: K8sFacts): string[] {
  const problems: string[] = [];
  const of = (kind: string) => docs.filter((d) => d?.kind === kind);
  const named = (kind: string, name: string) => of(kind).find((d) => d?.metadata?.name === name);

  // Kustomization lists every manifest, and only files that exist.
  const listed: string[] = (facts.kustomization?.resources ?? []).map(String);
  for (const f of facts.manifestFiles) if (!listed.includes(f)) problems.push(`kustomization.yaml does not list ${f}`);
  for (const f of listed) if (!facts.manifestFiles.includes(f)) problems.push(`kustomization.yaml lists ${f}, which does not exist`);

  // Namespace.
  const namespaces = of('Namespace').map((d) => d.metadata?.name);
  if (namespaces.length !== 1) problems.push(`expected one Namespace, found ${namespaces.length}`);
  const ns = namespaces[0];
  if (facts.kustomization?.namespace !== undefined && facts.kustomization.namespace !== ns) problems.push(`kustomization namespace ${facts.kustomization.namespace} is not ${ns}`);
  for (const d of docs) {
    if (NAMESPACED.has(d?.kind) && d.metadata?.namespace !== ns) problems.push(`${d.kind}/${d.metadata?.name}: namespace ${d.metadata?.namespace} is not ${ns}`);
  }

  // Configuration: ConfigMap and Secret hold only schema names; the Secret carries the secrets, as placeholders.
  const configMaps = of('ConfigMap');
  const secrets = of('Secret');
  for (const cm of configMaps) {
    for (const key of Object.keys(cm.data ?? {})) {
      if (!facts.schemaKeys.has(key)) problems.push(`ConfigMap/${cm.metadata.name}: ${key} is not in the configuration schema`);
      if ((REQUIRED_SECRETS as readonly string[]).includes(key)) problems.push(`ConfigMap/${cm.metadata.name}: ${key} is a secret`);
    }
  }
  // What a Secret must hold follows from who uses it: the one the Deployments read carries the services'
  // secrets and their own database login; the owner's DATABASE_URL belongs to the migration Job alone.
  const usersOf = (secret: Y) =>
    [...of('Deployment'), ...of('Job')].filter((w) => containersOf(w).some((c: Y) => (c.envFrom ?? []).some((f: Y) => f.secretRef?.name === secret.metadata?.name)));
  for (const s of secrets) {
    const data: Record<string, string> = { ...(s.stringData ?? {}), ...(s.data ?? {}) };
    for (const key of Object.keys(data)) {
      if (!facts.schemaKeys.has(key)) problems.push(`Secret/${s.metadata.name}: ${key} is not in the configuration schema`);
      else if (!/CHANGE_ME/.test(String(data[key]))) problems.push(`Secret/${s.metadata.name}: ${key} is not a marked placeholder (CHANGE_ME)`);
    }
    const users = usersOf(s);
    if (users.length === 0) problems.push(`Secret/${s.metadata.name}: no workload uses it`);
    const required = users.some((w) => w.kind === 'Deployment') ? [...REQUIRED_SECRETS, 'DATABASE_SERVICE_URL', 'REDIS_URL'] : users.length ? ['DATABASE_URL'] : [];
    for (const key of required) if (!(key in data)) problems.push(`Secret/${s.metadata.name}: no ${key}`);
  }

  // Workloads: one image; environment from ConfigMap + Secret that exist; the secrets reach each.
  const workloads = [...of('Deployment'), ...of('Job')];
  const images = new Set(workloads.flatMap((w) => containersOf(w).map((c: Y) => String(c.image))));
  if (images.size !== 1) problems.push(`workloads use different images: ${[...images].join(', ')}`);
  const kImages: Y[] = facts.kustomization?.images ?? [];
  for (const img of kImages) {
    if (![...images].some((i) => i === img.name || i.startsWith(`${img.name}:`))) problems.push(`kustomization image ${img.name} matches no workload image`);
  }
  const envOfWorkload = (w: Y, c: Y, withSamples: boolean): Record<string, string> => {
    const env: Record<string, string> = {};
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef) {
        const cm = named('ConfigMap', from.configMapRef.name);
        if (!cm) problems.push(`${w.kind}/${w.metadata.name}: envFrom ConfigMap ${from.configMapRef.name} does not exist`);
        Object.assign(env, cm?.data ?? {});
      }
      if (from.secretRef) {
        const s = named('Secret', from.secretRef.name);
        if (!s) problems.push(`${w.kind}/${w.metadata.name}: envFrom Secret ${from.secretRef.name} does not exist`);
        for (const key of Object.keys({ ...(s?.stringData ?? {}), ...(s?.data ?? {}) })) {
          env[key] = withSamples ? (facts.sampleSecrets[key] ?? '') : String(s?.stringData?.[key] ?? '');
        }
      }
    }
    for (const e of c.env ?? []) {
      if (!facts.schemaKeys.has(e.name)) problems.push(`${w.kind}/${w.metadata.name}: env ${e.name} is not in the configuration schema`);
      env[e.name] = String(e.value ?? '');
    }
    return env;
  };

  const deployments = new Map<Service, Y>();
  for (const s of SERVICES) {
    const d = of('Deployment').find((x) => containersOf(x).some((c: Y) => (c.args ?? []).join(' ') === `start --service ${s}`));
    if (!d) problems.push(`no Deployment runs start --service ${s}`);
    else deployments.set(s, d);
  }
  const job = of('Job').find((j) => containersOf(j).some((c: Y) => (c.args ?? []).join(' ') === 'migrate'));
  if (!job) problems.push('no Job runs migrate');
  else if (!['Never', 'OnFailure'].includes(job.spec?.template?.spec?.restartPolicy)) problems.push('migration Job: restartPolicy must be Never or OnFailure');

  for (const w of workloads) {
    const pod = w.spec?.template?.spec ?? {};
    const volumes = new Set((pod.volumes ?? []).map((v: Y) => v.name));
    for (const c of pod.containers ?? []) {
      const where = `${w.kind}/${w.metadata.name} container ${c.name}`;
      const env = envOfWorkload(w, c, true);
      for (const key of REQUIRED_SECRETS) if (!(key in env)) problems.push(`${where}: ${key} is not provided`);
      for (const key of ['DATABASE_SERVICE_URL', 'REDIS_URL']) if (!(key in env)) problems.push(`${where}: ${key} is not provided`);
      // Two credentials: the owner migrates; the services hold only their own login.
      if (w.kind === 'Job' && !('DATABASE_URL' in env)) problems.push(`${where}: DATABASE_URL (the owner, who migrates) is not provided`);
      if (w.kind === 'Deployment' && 'DATABASE_URL' in env) problems.push(`${where}: gets the owner's DATABASE_URL; a service gets only DATABASE_SERVICE_URL`);
      // Security: non-root, read-only root filesystem, nothing to escalate (the restricted profile).
      const sc = { ...(pod.securityContext ?? {}), ...(c.securityContext ?? {}) };
      if (sc.runAsNonRoot !== true) problems.push(`${where}: runAsNonRoot is not true`);
      if (typeof sc.runAsUser !== 'number' || sc.runAsUser === 0) problems.push(`${where}: runAsUser must be a non-zero uid (the image's user is a name)`);
      if (c.securityContext?.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
      if (c.securityContext?.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
      if (!(c.securityContext?.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: capabilities are not all dropped`);
      if (sc.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${where}: seccompProfile is not RuntimeDefault`);
      const mounts: Y[] = c.volumeMounts ?? [];
      for (const m of mounts) if (!volumes.has(m.name)) problems.push(`${where}: mounts volume ${m.name}, which the pod does not define`);
      if (!mounts.some((m) => m.mountPath === '/tmp')) problems.push(`${where}: no writable /tmp (tsx caches there; the root filesystem is read-only)`);
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory) problems.push(`${where}: no cpu/memory requests`);
      if (!c.resources?.limits?.memory) problems.push(`${where}: no memory limit`);
    }
  }

  // The two Deployments: replicas, the configured port, real probe paths.
  for (const [s, d] of deployments) {
    const c = containersOf(d)[0];
    const where = `Deployment/${d.metadata.name}`;
    if (d.spec?.replicas !== 2) problems.push(`${where}: replicas ${d.spec?.replicas}, expected 2`);
    if (!matches(d.spec?.selector?.matchLabels, d.spec?.template?.metadata?.labels)) problems.push(`${where}: selector does not match its pod labels`);
    let port: number | undefined;
    try {
      const cfg = facts.load(s, envOfWorkload(d, c, true));
      port = cfg.port;
    } catch (err) {
      problems.push(`${where}: the configuration it gets is refused: ${(err as Error).message}`);
    }
    const ports: number[] = (c.ports ?? []).map((p: Y) => p.containerPort);
    if (port !== undefined && !ports.includes(port)) problems.push(`${where}: containerPort ${ports.join(',')} is not the configured ${s === 'auth' ? 'AUTH_PORT' : 'DOCS_API_PORT'} ${port}`);
    const probes: [string, string][] = [
      ['readinessProbe', '/readyz'],
      ['livenessProbe', '/healthz'],
      ['startupProbe', '/healthz'],
    ];
    for (const [probe, want] of probes) {
      const get = c[probe]?.httpGet;
      if (!get) {
        problems.push(`${where}: no ${probe}`);
        continue;
      }
      if (get.path !== want) problems.push(`${where}: ${probe} path ${get.path}, expected ${want}`);
      if (!serves(s, get.path)) problems.push(`${where}: ${probe} path ${get.path} is not served by the ${s} service`);
      const p = probePort(c, get.port);
      if (p === undefined || p !== port) problems.push(`${where}: ${probe} port ${get.port} is not the service port ${port}`);
    }
    if (!(d.spec?.strategy?.rollingUpdate?.maxUnavailable === 0)) problems.push(`${where}: a rollout may take every replica down (maxUnavailable)`);
  }

  // Services select a Deployment's pods and point at a named container port.
  const deploymentOfService = new Map<string, Y>();
  for (const svc of of('Service')) {
    const target = of('Deployment').find((d) => matches(svc.spec?.selector, d.spec?.template?.metadata?.labels));
    if (!target) {
      problems.push(`Service/${svc.metadata.name}: selects no Deployment`);
      continue;
    }
    deploymentOfService.set(svc.metadata.name, target);
    const c = containersOf(target)[0];
    for (const p of svc.spec?.ports ?? []) {
      if (probePort(c, p.targetPort ?? p.port) === undefined) problems.push(`Service/${svc.metadata.name}: targetPort ${p.targetPort} is not a port of ${target.metadata.name}`);
    }
  }
  for (const [s, d] of deployments) {
    if (![...deploymentOfService.values()].includes(d)) problems.push(`Deployment/${d.metadata.name}: no Service for the ${s} service`);
  }

  // Ingress: TLS for every host; each host routes to an existing Service port; the issuer's and the
  // audience's hosts reach the auth server and the docs API.
  const ingresses = of('Ingress');
  if (ingresses.length === 0) problems.push('no Ingress');
  const hostRoutes = new Map<string, Y>();
  for (const ing of ingresses) {
    const tlsHosts = new Set((ing.spec?.tls ?? []).flatMap((t: Y) => t.hosts ?? []));
    for (const t of ing.spec?.tls ?? []) if (!t.secretName) problems.push(`Ingress/${ing.metadata.name}: TLS entry without secretName`);
    for (const rule of ing.spec?.rules ?? []) {
      if (!tlsHosts.has(rule.host)) problems.push(`Ingress/${ing.metadata.name}: host ${rule.host} has no TLS`);
      for (const path of rule.http?.paths ?? []) {
        const backend = path.backend?.service;
        const svc = named('Service', backend?.name);
        if (!svc) {
          problems.push(`Ingress/${ing.metadata.name}: backend Service ${backend?.name} does not exist`);
          continue;
        }
        const ok = (svc.spec?.ports ?? []).some((p: Y) => (backend.port?.name !== undefined ? p.name === backend.port.name : p.port === backend.port?.number));
        if (!ok) problems.push(`Ingress/${ing.metadata.name}: Service ${svc.metadata.name} has no port ${JSON.stringify(backend.port)}`);
        if (path.path === '/' || path.path === undefined) hostRoutes.set(rule.host, deploymentOfService.get(svc.metadata.name));
      }
    }
  }
  const cm = configMaps[0]?.data ?? {};
  const publicUrls: [Service, string][] = [
    ['auth', cm.AUTH_ISSUER],
    ['docs', cm.DOCS_API_AUDIENCE],
  ];
  for (const [s, url] of publicUrls) {
    if (!url) {
      problems.push(`ConfigMap: no public URL for the ${s} service`);
      continue;
    }
    const u = new URL(url);
    if (u.protocol !== 'https:') problems.push(`ConfigMap: ${url} is not https`);
    const d = hostRoutes.get(u.hostname);
    if (!d || d !== deployments.get(s)) problems.push(`Ingress: ${u.hostname} (from ${url}) does not route to the ${s} Deployment`);
  }
  if (cm.AUTH_TRUST_PROXY !== 'true') problems.push('ConfigMap: AUTH_TRUST_PROXY must be "true" behind the TLS-terminating Ingress');

  // Autoscaling and disruption budgets target the Deployments.
  for (const s of SERVICES) {
    const d = deployments.get(s);
    if (!d) continue;
    const hpa = of('HorizontalPodAutoscaler').find((h) => h.spec?.scaleTargetRef?.name === d.metadata.name);
    if (!hpa) problems.push(`Deployment/${d.metadata.name}: no HorizontalPodAutoscaler`);
    const pdb = of('PodDisruptionBudget').find((p) => matches(p.spec?.selector?.matchLabels, d.spec?.template?.metadata?.labels));
    if (!pdb) problems.push(`Deployment/${d.metadata.name}: no PodDisruptionBudget`);
  }
  for (const h of of('HorizontalPodAutoscaler')) {
    const where = `HorizontalPodAutoscaler/${h.metadata.name}`;
    if (h.apiVersion !== 'autoscaling/v2') problems.push(`${where}: apiVersion ${h.apiVersion}, expected autoscaling/v2`);
    const ref = h.spec?.scaleTargetRef ?? {};
    if (ref.kind !== 'Deployment' || !named('Deployment', ref.name)) problems.push(`${where}: targets ${ref.kind}/${ref.name}, which does not exist`);
    const cpu = (h.spec?.metrics ?? []).some((m: Y) => m.type === 'Resource' && m.resource?.name === 'cpu');
    if (!cpu) problems.push(`${where}: does not scale on CPU`);
    if (!(h.spec?.minReplicas >= 2)) problems.push(`${where}: minReplicas below 2`);
  }
  for (const p of of('PodDisruptionBudget')) {
    const where = `PodDisruptionBudget/${p.metadata.name}`;
    if (p.spec?.minAvailable !== 1) problems.push(`${where}: minAvailable ${p.spec?.minAvailable}, expected 1`);
    if (!of('Deployment').some((d) => matches(p.spec?.selector?.matchLabels, d.spec?.template?.metadata?.labels))) problems.push(`${where}: selects no Deployment`);
  }
  return problems;
}
