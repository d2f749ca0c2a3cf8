// Debian's nginx as the TLS terminator of a test: the shipped infra/nginx/mtls.conf with this test's
// ports and certificate paths, run in the foreground under its own prefix (pid, logs, temp paths), and
// a CA with the certificates the test needs, made with the openssl command.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';

export const NGINX = '/usr/sbin/nginx';
const REPO = join(import.meta.dirname, '..', '..');

export interface Certificate {
  pem: string;
  key: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA and certificates issued by it (or self-signed), as files under `dir` and as PEM text. */
export function certificateAuthority(dir: string, name = 'CloudDocs Test CA') {
  const file = (n: string) => join(dir, n);
  const newKey = (n: string) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(`${n}.key`)]);
  newKey('ca');
  openssl(['req', '-x509', '-new', '-key', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const read = (n: string): Certificate => ({ pem: readFileSync(file(`${n}.pem`), 'utf8'), key: readFileSync(file(`${n}.key`), 'utf8') });
  return {
    caPem: readFileSync(file('ca.pem'), 'utf8'),
    caFile: file('ca.pem'),
    /** A certificate signed by this CA; `ext` lines go in its extensions section. */
    issue(n: string, subject: string, ext: string[] = ['extendedKeyUsage=clientAuth']): Certificate {
      newKey(n);
      openssl(['req', '-new', '-key', file(`${n}.key`), '-out', file(`${n}.csr`), '-subj', subject]);
      writeFileSync(file(`${n}.ext`), `${ext.join('\n')}\n`);
      openssl(['x509', '-req', '-in', file(`${n}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file(`${n}.pem`), '-days', '2', '-extfile', file(`${n}.ext`)]);
      return read(n);
    },
    /** A self-signed certificate (not from this CA). */
    selfSigned(n: string, subject: string): Certificate {
      newKey(n);
      openssl(['req', '-x509', '-new', '-key', file(`${n}.key`), '-out', file(`${n}.pem`), '-days', '2', '-subj', subject]);
      return read(n);
    },
  };
}

export interface RunningNginx {
  stop(): Promise<void>;
}

/**
 * Starts nginx on the shipped configuration with `replacements` applied (each must be found), under
 * `dir` as its prefix, and waits until every port in `ports` accepts connections.
 */
export async function startNginx(dir: string, replacements: [string, string][], ports: number[]): Promise<RunningNginx> {
  let site = readFileSync(join(REPO, 'infra', 'nginx', 'mtls.conf'), 'utf8');
  for (const [from, to] of replacements) {
    if (!site.includes(from)) throw new Error(`infra/nginx/mtls.conf no longer contains ${JSON.stringify(from)}`);
    site = site.split(from).join(to);
  }
  for (const sub of ['temp', 'logs']) mkdirSync(join(dir, sub), { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'temp'), 0o777);
  writeFileSync(join(dir, 'site.conf'), site);
  const temp = (n: string) => `${n}_temp_path ${join(dir, 'temp', n)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'logs', 'error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((n) => `  ${temp(n)}`),
      `  include ${join(dir, 'site.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'logs', 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (const port of ports) {
    while (!(await accepts(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`nginx did not start: ${stderr || readFileSync(join(dir, 'logs', 'error.log'), 'utf8')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  text: string;
}

/** One HTTPS request trusting `ca`, with a client certificate when given. */
export function httpsRequest(url: string, options: { ca: string; cert?: Certificate; method?: string; headers?: Record<string, string>; form?: Record<string, string> }): Promise<HttpsAnswer> {
  const body = options.form ? new URLSearchParams(options.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? (body ? 'POST' : 'GET'),
        ca: options.ca,
        ...(options.cert ? { cert: options.cert.pem, key: options.cert.key } : {}),
        agent: false,
        headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
