// One seam for outgoing mail. SMTP (nodemailer) when SMTP_URL is set; otherwise a development outbox:
// one JSON file per message under `${DATA_DIR}/outbox/` (read by people and tests) and a log line
// that names the recipient and subject but never the message body, which carries single-use links.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '@clouddocs/observability';
import type { Transporter } from 'nodemailer';
import { loadOnce } from '../load-once';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}

export function createMailer(deps: { config: { SMTP_URL?: string | undefined; MAIL_FROM: string; DATA_DIR: string }; logger: Logger }): Mailer {
  const { config, logger } = deps;
  if (config.SMTP_URL) {
    const url = config.SMTP_URL;
    // nodemailer is loaded and the transport made with the first message: the operator CLI builds a mailer it
    // may never use (the auth server loads nodemailer at start, server.ts). One that could not be made is not
    // kept: the next message tries again.
    let made: Transporter | undefined;
    const connect = loadOnce(async () => (made = (await import('nodemailer')).default.createTransport(url)));
    return {
      kind: 'smtp',
      async send(message) {
        await (await connect()).sendMail({ from: config.MAIL_FROM, to: message.to, subject: message.subject, text: message.text });
        logger.info({ to: message.to, subject: message.subject }, 'mail sent');
      },
      async close() {
        made?.close();
      },
    };
  }
  const dir = outboxDir(config.DATA_DIR);
  return {
    kind: 'outbox',
    async send(message) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.json`);
      const body = { from: config.MAIL_FROM, to: message.to, subject: message.subject, text: message.text, date: new Date().toISOString() };
      await writeFile(file, JSON.stringify(body, null, 2), { mode: 0o600 });
      logger.info({ to: message.to, subject: message.subject, file }, 'mail written to the development outbox');
    },
    async close() {},
  };
}

export function outboxDir(dataDir: string): string {
  return resolve(dataDir, 'outbox');
}
