// An auth server for the account-security suites: like test/support/stack.ts, plus a data directory
// whose dev outbox the tests read, extra environment (argon2 parameters), and a way to put the cache
// behind a switch (to take it down mid-test).
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kv } from '@clouddocs/kv';
import { startAuthStack, type AuthStack } from '../support/stack';

export const STRONG_PASSWORD = 'plum-orbit-cascade-71';

export interface SecurityStack extends AuthStack {
  dataDir: string;
  /** The newest mail to this address in the dev outbox (waits for it: mail leaves in the background). */
  mailTo(email: string, options?: { subject?: RegExp; after?: number }): Promise<{ subject: string; text: string; link: string | undefined }>;
  auditActions(): Promise<{ action: string; outcome: string; target_id: string | null; detail: Record<string, unknown> }[]>;
}

/** `https`: the issuer is https (behind a TLS-terminating proxy that sends X-Forwarded-Proto). */
export async function startSecurityStack(options: { env?: Record<string, string>; wrapKv?: (kv: Kv) => Kv; https?: boolean } = {}): Promise<SecurityStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cd-account-'));
  const base = await startAuthStack(process.env, { ...options, dataDir });
  return {
    ...base,
    dataDir,
    createUser: (input = {}) => base.createUser({ password: STRONG_PASSWORD, name: 'Grace Tester', emailVerified: true, ...input }),
    createClient: (input = {}) => base.createClient({ name: 'Notes app', ...input }),
    async mailTo(email, opts = {}) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const mails = await readOutbox(dataDir);
        const match = mails.filter((m) => m.to === email && (!opts.subject || opts.subject.test(m.subject)) && (!opts.after || Date.parse(m.date) >= opts.after)).at(-1);
        if (match) return { subject: match.subject, text: match.text, link: /https?:\/\/\S+/.exec(match.text)?.[0] };
        if (Date.now() > deadline) throw new Error(`no mail to ${email} in ${dataDir}/outbox`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async auditActions() {
      await base.auth.server.audit.flush();
      return base.admin('audit.events').orderBy('id').select('action', 'outcome', 'target_id', 'detail');
    },
    async stop() {
      await base.stop();
      await rm(dataDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

export async function readOutbox(dataDir: string): Promise<{ to: string; subject: string; text: string; date: string }[]> {
  const dir = join(dataDir, 'outbox');
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as { to: string; subject: string; text: string; date: string }));
}
