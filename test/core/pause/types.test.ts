// The words of pause-for-callback (core/pause/types.ts): its path and limits, as the documentation
// gives them. (The rest of the module is types, checked by the compiler where they are used.)
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CALLBACK_PATH, DEFAULT_CALLBACK_BODY_BYTES, MAX_INLINE_DATA } from '../../../core/pause/types';

const doc = (name: string): string => fs.readFileSync(path.join(__dirname, '..', '..', '..', '..', 'docs', name), 'utf8');

describe('the words of pause-for-callback (core/pause/types.ts)', function () {
  it('serves callbacks under /aiware/callback/, as docs/pause-for-callback.md says', function () {
    assert.equal(CALLBACK_PATH, '/aiware/callback/');
    assert.ok(doc('pause-for-callback.md').includes(`<base>${CALLBACK_PATH}<token>`));
  });

  it('takes callback bodies up to 1 MiB by default, as docs/settings.md says', function () {
    assert.equal(DEFAULT_CALLBACK_BODY_BYTES, 1024 * 1024);
    assert.match(doc('settings.md'), new RegExp(`\\| \`maxCallbackBytes\` \\| \`${DEFAULT_CALLBACK_BODY_BYTES}\``));
  });

  it('keeps a state past 3000 characters in the wait folder, as docs/pause-for-callback.md says', function () {
    assert.equal(MAX_INLINE_DATA, 3000);
    assert.ok(doc('pause-for-callback.md').includes(`Past ${MAX_INLINE_DATA} characters it saves them`));
  });
});
