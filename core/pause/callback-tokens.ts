// Signed, expiring tokens for pause-for-callback: the local callback URLs carry one, and the
// platform wake-up's `data` is one, so a wake-up that was forged or altered is refused. HS256
// through `jsonwebtoken`, whose signature check compares in constant time.
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as jwt from 'jsonwebtoken';

export type TokenCheck<T> = { claims: T } | { problem: 'invalid' | 'expired'; message: string };

/** The secret's file in the state folder: made once, by whichever engine instance comes first. */
export const SECRET_FILE = 'callback-secret';

export class CallbackSigner {
  private constructor(private readonly secret: string) {}

  /** A signer with a secret from the settings, else the one kept in `dir` (made there when absent). */
  static async open(dir: string, configured?: string): Promise<CallbackSigner> {
    if (configured) return new CallbackSigner(configured);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, SECRET_FILE);
    // Written whole under a temp name, then linked into place: a link fails when the file exists,
    // so of several instances sharing the folder one makes it, and every one reads the same.
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, randomBytes(32).toString('hex'), { mode: 0o600 });
    try {
      await link(temp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await rm(temp, { force: true });
    }
    const secret = (await readFile(file, 'utf8')).trim();
    if (secret.length < 32) throw new Error(`${file} holds no usable secret: remove it and start again`);
    return new CallbackSigner(secret);
  }

  /** A token for `claims`, valid until `expiresAt` (epoch ms; whole seconds). */
  sign(claims: object, expiresAt: number): string {
    return jwt.sign({ ...claims, exp: Math.ceil(expiresAt / 1000) }, this.secret, { algorithm: 'HS256', noTimestamp: true });
  }

  verify<T extends object>(token: string): TokenCheck<T> {
    try {
      return { claims: jwt.verify(token, this.secret, { algorithms: ['HS256'] }) as T };
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) return { problem: 'expired', message: `the token expired at ${err.expiredAt.toISOString()}` };
      return { problem: 'invalid', message: 'the token is not one this engine signed (forged, altered or cut short)' };
    }
  }
}
