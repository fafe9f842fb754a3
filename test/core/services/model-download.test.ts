// A model's download (core/services/model-download.ts) from a loopback server: the file and its
// sha256, a retry after a 5xx, the failure reasons aiWARE names for a 404, a 403 and a refused
// connection, a body cut short, and a URL's query never shown.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { ProtocolError } from '../../../core';
import { download, fileError, redactUrl } from '../../../core/services/model-download';
import { serve, type Loopback } from '../../support/loopback';

describe('a model’s download (core/services/model-download.ts)', function () {
  let server: Loopback;
  let base: string;
  let dir: string;
  /** Statuses to answer, in order; then 200 with the model. */
  let answers: number[] = [];
  let requests = 0;
  const model = Buffer.from('weights '.repeat(10_000));

  before(async function () {
    server = await serve((req, res) => {
      requests++;
      if (req.url?.startsWith('/short')) {
        res.writeHead(200, { 'Content-Length': model.length * 2 });
        res.write(model, () => res.destroy()); // half the body, then the connection goes
        return;
      }
      const status = answers.shift() ?? 200;
      if (status !== 200) return void res.writeHead(status).end('no');
      res.writeHead(200, { 'Content-Length': model.length }).end(model);
    });
    base = server.url;
  });
  after(async function () {
    await server.close();
  });
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-download-'));
    answers = [];
    requests = 0;
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const options = () => ({ deadline: Date.now() + 20_000, attempts: 3 });
  const file = () => path.join(dir, 'model');

  it('downloads the model whole, after a 503, with its size and sha256', async function () {
    answers = [503];
    const got = await download(`${base}/m?sig=secret`, file(), {}, options());
    assert.equal(requests, 2);
    assert.equal(got.size, model.length);
    assert.equal(got.sha256, createHash('sha256').update(model).digest('hex'));
    assert.ok(fs.readFileSync(file()).equals(model));
  });

  for (const [status, reason] of [
    [404, 'url_not_found'],
    [403, 'url_not_allowed'],
    [429, 'rate_limited'],
  ] as const) {
    it(`fails a ${status} with ${reason}, without retrying it`, async function () {
      answers = [status];
      await assert.rejects(download(`${base}/m?token=abc`, file(), {}, options()), (err: unknown) => {
        assert.ok(err instanceof ProtocolError);
        assert.equal(err.reason, reason);
        assert.ok(!err.message.includes('abc'), err.message);
        return true;
      });
      assert.equal(requests, 1);
    });
  }

  it('fails a refused connection with url_connection_refused, and a body cut short with stream_read_error', async function () {
    await assert.rejects(download('http://127.0.0.1:1/m', file(), {}, { ...options(), attempts: 1 }), { reason: 'url_connection_refused' });
    await assert.rejects(download(`${base}/short`, file(), {}, { ...options(), attempts: 1 }), { reason: 'stream_read_error' });
  });

  it('shows a URL without its query, and names a full disk as such', function () {
    assert.equal(redactUrl('https://models.example/a/b?X-Amz-Signature=s3cr3t'), 'https://models.example/a/b?…');
    assert.equal(redactUrl('not a url'), '(not a URL)');
    const full = fileError(Object.assign(new Error('no space'), { code: 'ENOSPC' }), 'cannot write');
    assert.equal(full.status, 507);
    assert.equal(full.reason, 'file_write_error');
    assert.match(full.message, /the disk is full/);
  });
});
