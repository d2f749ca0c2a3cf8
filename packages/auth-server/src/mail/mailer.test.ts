// The dev outbox: one JSON file per message under DATA_DIR/outbox, and a log line without the body.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '@clouddocs/observability';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createMailer } from './mailer';
import { passwordResetMessage } from './messages';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('Mailer', () => {
  it('without SMTP_URL: the message is a file in the outbox, and the log line names recipient and subject but not the link', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cd-mail-'));
    dirs.push(dataDir);
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const mailer = createMailer({ config: { MAIL_FROM: 'CloudDocs <no-reply@localhost>', DATA_DIR: dataDir }, logger: createLogger({ level: 'info', name: 'mail-test', destination: sink }) });
    expect(mailer.kind).toBe('outbox');
    const link = 'http://127.0.0.1:3000/reset-password?token=SECRET-TOKEN-VALUE-0123456789abcdefghijklmno';
    await mailer.send(passwordResetMessage({ to: 'ada@example.test', link, minutes: 30 }));
    const files = await readdir(join(dataDir, 'outbox'));
    expect(files).toHaveLength(1);
    const mail = JSON.parse(await readFile(join(dataDir, 'outbox', files[0]!), 'utf8'));
    expect(mail).toMatchObject({ to: 'ada@example.test', from: 'CloudDocs <no-reply@localhost>', subject: 'Reset your CloudDocs password' });
    expect(mail.text).toContain(link);
    expect(lines.join('')).toContain('ada@example.test');
    expect(lines.join('')).not.toContain('SECRET-TOKEN-VALUE');
  });

  it('with SMTP_URL: an SMTP transport', () => {
    const mailer = createMailer({ config: { SMTP_URL: 'smtp://127.0.0.1:2525', MAIL_FROM: 'x@localhost', DATA_DIR: '/nonexistent' }, logger: createLogger({ level: 'silent', name: 'mail-test' }) });
    expect(mailer.kind).toBe('smtp');
  });

  it('with SMTP_URL: the transport is made at the first message; a failed delivery rejects, and close works with or without one', async () => {
    const config = { SMTP_URL: 'smtp://127.0.0.1:1', MAIL_FROM: 'x@localhost', DATA_DIR: '/nonexistent' };
    const logger = createLogger({ level: 'silent', name: 'mail-test' });
    await expect(createMailer({ config, logger }).close()).resolves.toBeUndefined();
    const mailer = createMailer({ config, logger });
    await expect(mailer.send({ to: 'ada@example.test', subject: 'Hello', text: 'body' })).rejects.toThrow(/ECONNREFUSED|connect/i);
    await expect(mailer.close()).resolves.toBeUndefined();
  });

  it('with SMTP_URL: the transport is made at the first message, one that could not be made is tried again at the next, and close closes only a made one', async () => {
    const sendMail = vi.fn(async () => ({}));
    const close = vi.fn();
    const createTransport = vi
      .fn()
      .mockImplementationOnce(() => {
        throw new Error('bad transport options');
      })
      .mockImplementation(() => ({ sendMail, close }));
    vi.doMock('nodemailer', () => ({ default: { createTransport } }));
    try {
      const mailer = createMailer({ config: { SMTP_URL: 'smtp://mail.example:25', MAIL_FROM: 'x@localhost', DATA_DIR: '/nonexistent' }, logger: createLogger({ level: 'silent', name: 'mail-test' }) });
      expect(createTransport).not.toHaveBeenCalled();
      await mailer.close();
      const message = { to: 'ada@example.test', subject: 'Hello', text: 'body' };
      await expect(mailer.send(message)).rejects.toThrow('bad transport options');
      await mailer.close();
      expect(close).not.toHaveBeenCalled();
      await mailer.send(message);
      await mailer.send(message);
      expect(createTransport).toHaveBeenCalledTimes(2);
      expect(createTransport).toHaveBeenLastCalledWith('smtp://mail.example:25');
      expect(sendMail).toHaveBeenCalledTimes(2);
      expect(sendMail).toHaveBeenCalledWith({ from: 'x@localhost', to: 'ada@example.test', subject: 'Hello', text: 'body' });
      await mailer.close();
      expect(close).toHaveBeenCalledTimes(1);
    } finally {
      vi.doUnmock('nodemailer');
    }
  });
});
