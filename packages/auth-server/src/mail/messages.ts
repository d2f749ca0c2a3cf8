// The mails the product sends. Plain text: every link is visible and nothing loads remotely.
import type { MailMessage } from './mailer';

export function verifyEmailMessage(input: { to: string; name: string | null; link: string }): MailMessage {
  return {
    to: input.to,
    subject: 'Confirm your email address for CloudDocs',
    text: `Hello${input.name ? ` ${input.name}` : ''},

Confirm that this address belongs to your new CloudDocs account by opening this link (it works once, for 24 hours):

${input.link}

If you did not create a CloudDocs account, ignore this message.
`,
  };
}

export function accountExistsMessage(input: { to: string; resetLink: string }): MailMessage {
  return {
    to: input.to,
    subject: 'Someone tried to create a CloudDocs account with your address',
    text: `Someone (maybe you) tried to create a CloudDocs account with this email address, but you already have one.

If it was you, sign in with your password. If you forgot it, reset it here:

${input.resetLink}

If it was not you, you can ignore this message; your account has not changed.
`,
  };
}

export function passwordResetMessage(input: { to: string; link: string; minutes: number }): MailMessage {
  return {
    to: input.to,
    subject: 'Reset your CloudDocs password',
    text: `Someone (hopefully you) asked to reset the password of your CloudDocs account.

Choose a new password here (the link works once, for ${input.minutes} minutes):

${input.link}

If you did not ask for this, ignore this message: your password stays as it is.
`,
  };
}

export function invitationMessage(input: { to: string; link: string; minutes: number }): MailMessage {
  return {
    to: input.to,
    subject: 'Your CloudDocs account',
    text: `An administrator created a CloudDocs account for this address.

Choose your password here (the link works once, for ${input.minutes} minutes):

${input.link}

If you did not expect this, ignore this message: nobody can sign in to the account until a password is chosen.
`,
  };
}

export function emailChangeMessage(input: { to: string; link: string }): MailMessage {
  return {
    to: input.to,
    subject: 'Confirm your new CloudDocs email address',
    text: `Someone (hopefully you) asked to make this address the sign-in address of a CloudDocs account.

Confirm it here (the link works once, for 24 hours):

${input.link}

Until then the account keeps its current address. If you did not ask for this, ignore this message.
`,
  };
}

export function emailChangedNotice(input: { to: string; newEmail: string }): MailMessage {
  return {
    to: input.to,
    subject: 'Your CloudDocs email address was changed',
    text: `The sign-in address of your CloudDocs account is now ${input.newEmail}; this address no longer signs in.

If you did not make this change, reset your password from the sign-in page and contact your administrator.
`,
  };
}
