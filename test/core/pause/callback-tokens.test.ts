// The callback signer (core/pause/callback-tokens.ts): tokens it signed come back with their claims
// until they expire (a fake clock), any other token is refused, and the secret it keeps in the state
// folder is the same for every engine instance that shares the folder.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { install, type Clock } from '@sinonjs/fake-timers';
import * as jwt from 'jsonwebtoken';
import { CallbackSigner, SECRET_FILE } from '../../../core/pause/callback-tokens';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const SECRET = 'a configured secret of at least thirty-two characters';

describe('the callback signer (core/pause/callback-tokens.ts)', function () {
  let clock: Clock;
  let dir: string;

  beforeEach(function () {
    clock = install({ now: NOW, toFake: ['Date'] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-callback-tokens-'));
  });

  afterEach(function () {
    clock.uninstall();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives back the claims of a token it signed, until the second it expires', async function () {
    const signer = await CallbackSigner.open(dir, SECRET);
    const token = signer.sign({ wait: 'w-1', node: 'pause-1' }, NOW + 5000);
    clock.tick(4999);
    assert.deepEqual(signer.verify(token), { claims: { wait: 'w-1', node: 'pause-1', exp: (NOW + 5000) / 1000 } });
    clock.tick(1);
    assert.deepEqual(signer.verify(token), { problem: 'expired', message: 'the token expired at 2026-01-01T12:00:05.000Z' });
  });

  it('rounds an expiry within a second up to the whole second: never sooner than asked', async function () {
    const signer = await CallbackSigner.open(dir, SECRET);
    const token = signer.sign({ wait: 'w-1' }, NOW + 1);
    clock.tick(999);
    assert.ok('claims' in signer.verify(token));
  });

  const refused: [string, (token: string, signer: CallbackSigner) => string | Promise<string>][] = [
    [
      'a token whose claims were altered',
      (token) => token.replace(/^([^.]+)\.([^.]+)/, (_all, head: string) => `${head}.${Buffer.from(JSON.stringify({ wait: 'w-2', exp: NOW / 1000 + 60 })).toString('base64url')}`),
    ],
    ['a token whose signature was altered', (token) => token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA')],
    ['a token cut short', (token) => token.slice(0, token.lastIndexOf('.'))],
    ['a token signed with another secret', async () => (await CallbackSigner.open(dir, `${SECRET}, another`)).sign({ wait: 'w-1' }, NOW + 60_000)],
    ['a token that says it needs no signature (alg none)', () => jwt.sign({ wait: 'w-1', exp: NOW / 1000 + 60 }, '', { algorithm: 'none' })],
    ['a token signed with the secret but another algorithm (HS512)', () => jwt.sign({ wait: 'w-1', exp: NOW / 1000 + 60 }, SECRET, { algorithm: 'HS512' })],
    ['no token at all', () => ''],
    ['text that is no token', () => 'wait=w-1'],
  ];
  for (const [story, make] of refused) {
    it(`refuses ${story} as invalid, without saying more`, async function () {
      const signer = await CallbackSigner.open(dir, SECRET);
      const token = await make(signer.sign({ wait: 'w-1' }, NOW + 60_000), signer);
      assert.deepEqual(signer.verify(token), { problem: 'invalid', message: 'the token is not one this engine signed (forged, altered or cut short)' });
    });
  }

  it('keeps a secret of its own in the state folder when none is configured, readable by the engine alone, the same on every open', async function () {
    const state = path.join(dir, 'state');
    const first = await CallbackSigner.open(state);
    const file = path.join(state, SECRET_FILE);
    assert.match(fs.readFileSync(file, 'utf8'), /^[0-9a-f]{64}$/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(state).mode & 0o777, 0o700);
    assert.deepEqual(fs.readdirSync(state), [SECRET_FILE], 'no temp file left behind');
    // A restart, or another engine instance on the same folder: the same secret.
    const again = await CallbackSigner.open(state);
    assert.ok('claims' in again.verify(first.sign({ wait: 'w-1' }, NOW + 60_000)));
    assert.deepEqual(fs.readdirSync(state), [SECRET_FILE]);
  });

  it('makes one secret when ten instances open the same new folder at once', async function () {
    const state = path.join(dir, 'shared');
    const signers = await Promise.all(Array.from({ length: 10 }, () => CallbackSigner.open(state)));
    const token = signers[0].sign({ wait: 'w-1' }, NOW + 60_000);
    for (const signer of signers) assert.ok('claims' in signer.verify(token));
    assert.deepEqual(fs.readdirSync(state), [SECRET_FILE]);
  });

  it('uses the configured secret over the one in the folder, and writes none', async function () {
    const fromFolder = await CallbackSigner.open(path.join(dir, 'state'));
    const configured = await CallbackSigner.open(path.join(dir, 'other'), SECRET);
    assert.equal(fs.existsSync(path.join(dir, 'other')), false);
    assert.ok('problem' in configured.verify(fromFolder.sign({ wait: 'w-1' }, NOW + 60_000)));
  });

  it('refuses to start on a secret file that holds no usable secret, naming it', async function () {
    fs.writeFileSync(path.join(dir, SECRET_FILE), 'short\n');
    await assert.rejects(CallbackSigner.open(dir), { message: `${path.join(dir, SECRET_FILE)} holds no usable secret: remove it and start again` });
  });
});
