// The index of open tasks' tokens (core/protocol/secret-index.ts): a text scrubbed of every token
// in one pass, whatever the number of tokens, as a scan of the text would, tokens counted so that
// tasks sharing one keep it until both have ended.
import * as assert from 'node:assert/strict';
import { SecretIndex } from '../../../core';

describe('the index of open tasks’ tokens (core/protocol/secret-index.ts)', function () {
  const cases: { name: string; secrets: string[]; text: string; scrubbed: string }[] = [
    { name: 'a secret that is the whole text', secrets: ['tok-LEAK-1234'], text: 'tok-LEAK-1234', scrubbed: '[redacted]' },
    {
      name: 'at the start, in the middle and at the end',
      secrets: ['abcdefghijklmnopqrstuvwxyz'],
      text: 'abcdefghijklmnopqrstuvwxyz x abcdefghijklmnopqrstuvwxyz.abcdefghijklmnopqrstuvwxyz',
      scrubbed: '[redacted] x [redacted].[redacted]',
    },
    {
      name: 'every length from the shortest kept (4)',
      secrets: ['wxyz', 'vwxyz', 'uvwxyz', 'tuvwxyz', 'k1k2k3k4k5k6k7k'],
      text: '.wxyz.. vwxyz uvwxyz-tuvwxyz k1k2k3k4k5k6k7k!',
      scrubbed: '.[redacted].. [redacted] [redacted]-[redacted] [redacted]!',
    },
    {
      name: 'each offset of a secret against the windows',
      secrets: ['0123456789abcdefXYZ'],
      text: 'a0123456789abcdefXYZ bb0123456789abcdefXYZ ccc0123456789abcdefXYZ',
      scrubbed: 'a[redacted] bb[redacted] ccc[redacted]',
    },
    { name: 'overlapping secrets, as one', secrets: ['secret-one-AAAA', 'AAAA-secret-two'], text: 'x secret-one-AAAA-secret-two y', scrubbed: 'x [redacted] y' },
    { name: 'one secret inside another', secrets: ['outer-secret-with-inner-part', 'inner-part'], text: '[outer-secret-with-inner-part] [inner-part]', scrubbed: '[[redacted]] [[redacted]]' },
    { name: 'nothing shorter than 4 characters', secrets: ['abc'], text: 'abc abcd', scrubbed: 'abc abcd' },
    { name: 'a near miss left alone', secrets: ['tok-LEAK-1234'], text: 'tok-LEAK-123 tok-LEAK-12345x', scrubbed: 'tok-LEAK-123 [redacted]5x' },
  ];
  for (const c of cases) {
    it(`scrubs ${c.name}`, function () {
      const index = new SecretIndex();
      for (const secret of c.secrets) index.add(secret);
      assert.equal(index.scrub(c.text), c.scrubbed);
    });
  }

  /** Every occurrence of `secret` in `text`, found one by one, overlapping ones redacted as one. */
  function scanned(text: string, secret: string): string {
    let out = '';
    let done = 0;
    for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) {
      if (at >= done) out += text.slice(done, at) + '[redacted]';
      done = at + secret.length;
    }
    return out + text.slice(done);
  }

  it('scrubs what a scan of the text finds, for random texts and secrets', function () {
    const alphabet = 'ab-';
    const pick = (n: number): string => Array.from({ length: n }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
    for (let round = 0; round < 300; round++) {
      const index = new SecretIndex();
      const secret = pick(4 + Math.floor(Math.random() * 20));
      index.add(secret);
      const text = pick(Math.floor(Math.random() * 60)) + (Math.random() < 0.7 ? secret : '') + pick(Math.floor(Math.random() * 60));
      assert.equal(index.scrub(text), scanned(text, secret), `${JSON.stringify(secret)} in ${JSON.stringify(text)}`);
    }
  });
});
