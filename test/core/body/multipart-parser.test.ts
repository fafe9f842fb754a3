// The multipart/form-data parser (core/body/multipart-parser.ts) on its own, with no socket: the
// pieces are written by hand, so a cut can fall on any byte. busboy, the parser the field trusts,
// is the oracle for well-formed bodies; malformed ones are a table of what each is refused for.
import * as assert from 'node:assert/strict';
import busboy from 'busboy';
import { MAX_HEADER_BYTES, MultipartParser, boundaryOf, type PartInfo } from '../../../core/body/multipart-parser';
import { seeded } from '../../support/seeded';

/** One part as the parser reported it: its headers, its bytes (copied as they came), whether its end came. */
interface Part {
  info: PartInfo;
  data: Buffer;
  ended: boolean;
}

/** Everything the parser reported for one body. */
interface Outcome {
  parts: Part[];
  done: boolean;
  error?: string;
  /** Anything reported after the error or after the close: must stay empty. */
  late: string[];
}

/**
 * Writes `body` to a parser in the pieces `cuts` make. Each piece is a copy that is scribbled over
 * once `write` returns: the parser promises to keep no view of a piece past its write.
 */
function parse(boundary: string, body: Buffer, cuts: number[] = []): Outcome {
  const outcome: Outcome = { parts: [], done: false, late: [] };
  const finished = () => outcome.done || outcome.error !== undefined;
  const parser = new MultipartParser(boundary, {
    onPart(info) {
      if (finished()) outcome.late.push(`part ${info.name}`);
      const part: Part = { info, data: Buffer.alloc(0), ended: false };
      outcome.parts.push(part);
      return (piece) => {
        if (part.ended) outcome.late.push(`bytes after the end of ${info.name}`);
        if (piece === null) part.ended = true;
        else part.data = Buffer.concat([part.data, piece]);
      };
    },
    onDone() {
      if (finished()) outcome.late.push('a second close');
      outcome.done = true;
    },
    onError(reason) {
      if (finished()) outcome.late.push(`error ${reason}`);
      outcome.error = reason;
    },
  });
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    if (cut <= from) continue;
    const piece = Buffer.from(body.subarray(from, cut));
    parser.write(piece);
    piece.fill('#');
    from = cut;
  }
  assert.equal(parser.done, outcome.done, 'done says what onDone said');
  return outcome;
}

/** A well-formed body as busboy reads it: every part in order, its name, filename, media type and bytes. */
function busboyRead(boundary: string, body: Buffer): Promise<{ name: string; filename: string | undefined; contentType: string; data: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const parts: { name: string; filename: string | undefined; contentType: string; data: Buffer }[] = [];
    const reader = busboy({
      headers: { 'content-type': `multipart/form-data; boundary="${boundary}"` },
      defParamCharset: 'utf8',
      preservePath: true,
      limits: { fieldSize: 16 * 1024 * 1024 },
    });
    reader.on('field', (name, value, info) => parts.push({ name, filename: undefined, contentType: info.mimeType, data: Buffer.from(value, 'utf8') }));
    reader.on('file', (name, stream, info) => {
      const part = { name, filename: info.filename, contentType: info.mimeType, data: Buffer.alloc(0) };
      parts.push(part);
      stream.on('data', (data: Buffer) => (part.data = Buffer.concat([part.data, data])));
    });
    reader.on('close', () => resolve(parts));
    reader.on('error', reject);
    reader.end(body);
  });
}

const B = 'XyZ';
/** A part headed as Go heads a field. */
const field = (name: string, value: string, boundary = B): string => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
const close = (boundary = B): string => `--${boundary}--\r\n`;
const GO_FIELD = (name: string): PartInfo => ({ name, filename: undefined, contentType: 'text/plain', charset: undefined });

describe('the multipart parser (core/body/multipart-parser.ts)', function () {
  describe('the boundary of a Content-Type (boundaryOf)', function () {
    const cases: [string | undefined, string | undefined][] = [
      ['multipart/form-data; boundary=abc', 'abc'],
      ['multipart/form-data; boundary="a b;c"', 'a b;c'],
      ['multipart/form-data;BOUNDARY = x-1; charset=utf-8', 'x-1'],
      ['multipart/form-data; charset=utf-8; boundary=----Go1', '----Go1'],
      ['multipart/form-data; boundary=""', undefined],
      ['multipart/form-data; boundary=', undefined],
      ['multipart/form-data', undefined],
      [undefined, undefined],
    ];
    for (const [contentType, boundary] of cases) {
      it(`reads ${JSON.stringify(boundary)} from ${JSON.stringify(contentType)}`, function () {
        assert.equal(boundaryOf(contentType), boundary);
      });
    }
  });

  it("splits ET's body into its parts, handing each part's bytes out as views of the piece written, not copies", function () {
    const body = Buffer.from(`${field('chunkContext', 'ctx')}--${B}\r\nContent-Disposition: form-data; name="chunk"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n${close()}`);
    const views: boolean[] = [];
    const seen: { info: PartInfo; text: string }[] = [];
    let done = false;
    const parser = new MultipartParser(B, {
      onPart: (info) => {
        const part = { info, text: '' };
        seen.push(part);
        return (piece) => {
          if (piece === null) return;
          views.push(piece.buffer === body.buffer);
          part.text += piece.toString();
        };
      },
      onDone: () => (done = true),
      onError: (reason) => assert.fail(reason),
    });
    parser.write(body);
    assert.ok(done);
    assert.deepEqual(seen, [
      { info: GO_FIELD('chunkContext'), text: 'ctx' },
      { info: { name: 'chunk', filename: 'a.wav', contentType: 'audio/wav', charset: undefined }, text: 'RIFF' },
    ]);
    assert.deepEqual(views, [true, true]);
  });

  it('reads what busboy reads from 400 seeded random bodies, each cut at random points, held bytes never a view of a written piece', async function () {
    const random = seeded(21);
    const upTo = (n: number): number => Math.floor(random() * (n + 1));
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
    const tokens = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.';
    let cutsNearDelimiters = 0;
    let files = 0;
    for (let n = 0; n < 400; n++) {
      const boundary = Array.from({ length: 1 + upTo(pick([3, 12, 40])) }, () => pick([...tokens])).join('');
      const delimiter = `\r\n--${boundary}`;
      // What a parser could take for its own syntax: CR LF, dashes, the boundary cut short, the
      // boundary without its CR LF, a header block's blank line.
      const tricky = ['\r\n', '\r', '\n', '-', '--', '\r\n--', `\r\n--${boundary.slice(0, -1)}`, `--${boundary}`, `\r\n-${boundary}`, '\r\n\r\n', 'é', '"', ' '];
      const text = (max: number): string => Array.from({ length: upTo(max) }, () => (random() < 0.5 ? pick(tricky) : pick([...tokens]))).join('');
      const bytes = (max: number): Buffer =>
        Buffer.concat(Array.from({ length: upTo(max) }, () => (random() < 0.4 ? Buffer.from(pick(tricky)) : Buffer.from(Array.from({ length: upTo(400) }, () => upTo(255))))));
      /** A value holding no delimiter (which would end its part early: another body, not this one). */
      const clean = <T extends string | Buffer>(make: () => T): T => {
        for (;;) {
          const value = make();
          // Nor one made with the CR LF before the value (the end of a header block, of a preamble's line).
          if (!Buffer.concat([Buffer.from('\r\n'), Buffer.from(value)]).includes(delimiter)) return value;
        }
      };
      const parts: Buffer[] = [];
      for (let p = upTo(8); p > 0; p--) {
        const name = pick(['payload', 'chunkContext', 'x', 'é-field', 'a b']);
        if (random() < 0.3) {
          files++;
          // No filename="": busboy reads such a part as a field, the parser as a file named '' (told to the maintainers).
          const filename = pick(['chunk.bin', 'a b.wav', 'dir/clip.mp4', ' ']);
          const disposition = pick([
            `form-data; name="${name}"; filename="${filename}"`,
            `form-data; name="${name}"; filename*=utf-8''${encodeURIComponent(`été ${filename}`)}`,
            `form-data; filename="${filename}"; name="${name}"`,
          ]);
          // Always a Content-Type: with none, busboy says text/plain (RFC 7578's default for any part),
          // the parser application/octet-stream (the RFC's word for a file's bytes), on purpose.
          const type = pick(['Content-Type: application/octet-stream\r\n', 'Content-Type: Audio/WAV\r\n', 'content-type: text/plain; charset=utf-8\r\n']);
          parts.push(
            Buffer.from(`Content-Disposition: ${disposition}\r\n${type}\r\n`),
            clean(() => bytes(12)),
          );
        } else {
          const head = pick([`Content-Disposition: form-data; name="${name}"`, `content-disposition: form-data; name="${name}"\r\nContent-Type: text/plain`]);
          parts.push(Buffer.from(`${head}\r\n\r\n`), Buffer.from(clean(() => text(30))));
        }
      }
      const preamble = random() < 0.3 ? `${clean(() => text(20))}\r\n` : '';
      const epilogue = pick(['', '\r\n', `\r\n${text(20)}`]);
      const body = Buffer.concat([
        Buffer.from(`${preamble}--${boundary}`),
        ...Array.from({ length: parts.length / 2 }, (_, i) => Buffer.concat([Buffer.from('\r\n'), parts[2 * i], parts[2 * i + 1], Buffer.from(delimiter)])),
        Buffer.from(`--${epilogue}`),
      ]);
      // Cuts anywhere, and cuts within a few bytes of a delimiter (where a parser holds bytes back).
      const cuts: number[] = [];
      for (let c = upTo(6); c > 0; c--) cuts.push(1 + upTo(body.length - 2));
      for (let at = body.indexOf(`--${boundary}`); at >= 0; at = body.indexOf(`--${boundary}`, at + 1)) {
        if (random() < 0.5) {
          cuts.push(Math.max(1, Math.min(body.length - 1, at - 2 + upTo(boundary.length + 4))));
          cutsNearDelimiters++;
        }
      }
      if (random() < 0.05) for (let at = 1; at < body.length; at++) cuts.push(at);
      cuts.sort((a, b) => a - b);
      const story = `body ${n} (seed 21), boundary ${JSON.stringify(boundary)}, ${body.length} bytes cut at ${cuts.length > 20 ? 'every byte' : cuts.join(', ')}`;

      const expected = await busboyRead(boundary, body);
      const got = parse(boundary, body, cuts);
      assert.equal(got.error, undefined, story);
      assert.ok(got.done, `${story}: the close was not read`);
      assert.deepEqual(got.late, [], story);
      assert.deepEqual(
        got.parts.map((part) => ({ name: part.info.name, filename: part.info.filename, contentType: part.info.contentType, data: part.data })),
        expected,
        story,
      );
      assert.ok(
        got.parts.every((part) => part.ended),
        `${story}: a part never ended`,
      );
    }
    assert.ok(files >= 200 && cutsNearDelimiters >= 400, `only ${files} file parts and ${cutsNearDelimiters} cuts near a delimiter`);
  });

  describe('headers as other senders write them', function () {
    const cases: [string, string, Partial<PartInfo>][] = [
      ['an unquoted name, header names in any case', 'CONTENT-disposition: form-data; name=plain', { name: 'plain', contentType: 'text/plain' }],
      ['a name quoted with \\" as Go\'s writer escapes it', 'Content-Disposition: form-data; name="say \\"hi\\""', { name: 'say "hi"' }],
      ['filename* (RFC 5987) over filename', `Content-Disposition: form-data; name="chunk"; filename="plain.wav"; filename*=UTF-8''%C3%A9t%C3%A9.wav`, { filename: 'été.wav' }],
      ['a filename* it cannot decode, so the plain filename', `Content-Disposition: form-data; name="chunk"; filename="plain.wav"; filename*=UTF-8''%E9%ZZ`, { filename: 'plain.wav' }],
      ['a file with no Content-Type: application/octet-stream (RFC 7578 §4.4)', 'Content-Disposition: form-data; name="chunk"; filename="a"', { contentType: 'application/octet-stream' }],
      [
        'a media type in capitals, and its charset',
        'Content-Disposition: form-data; name="t"\r\nContent-Type: Text/Plain; Charset="windows-1252"',
        { contentType: 'text/plain', charset: 'windows-1252' },
      ],
      ['an obsolete folded Content-Disposition', 'Content-Disposition: form-data;\r\n name="folded"', { name: 'folded' }],
      ['a header it does not know, kept out of the way', 'X-Other: 1\r\nContent-Disposition: form-data; name="x"', { name: 'x' }],
      ['a trailing ; after the parameters', 'Content-Disposition: form-data; name="x";  ', { name: 'x' }],
    ];
    for (const [story, head, expected] of cases) {
      it(`reads ${story}`, function () {
        const got = parse(B, Buffer.from(`--${B}\r\n${head}\r\n\r\nv\r\n${close()}`));
        assert.equal(got.error, undefined);
        assert.equal(got.parts.length, 1);
        assert.deepEqual({ ...got.parts[0].info }, { ...got.parts[0].info, ...expected });
        assert.equal(got.parts[0].data.toString(), 'v');
      });
    }

    it('reads spaces and tabs after a delimiter (transport padding), up to 256 of them', function () {
      const got = parse(
        B,
        Buffer.from(`--${B} \t \r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--${B}${' '.repeat(256)}\r\nContent-Disposition: form-data; name="b"\r\n\r\n2\r\n${close()}`),
      );
      assert.equal(got.error, undefined);
      assert.deepEqual(
        got.parts.map((part) => part.data.toString()),
        ['1', '2'],
      );
    });

    it('ignores a preamble, the epilogue, and anything written after the close', function () {
      const got = parse(B, Buffer.from(`preamble --${B} not yet\r\n${field('a', '1')}--${B}--epilogue ${field('b', '2')}`), [5, 60]);
      assert.ok(got.done);
      assert.deepEqual(got.late, []);
      assert.deepEqual(
        got.parts.map((part) => part.info.name),
        ['a'],
      );
    });
  });

  describe('malformed bodies: each refused for its reason, or left unfinished, however it is cut', function () {
    const long = 'x'.repeat(MAX_HEADER_BYTES);
    const NOT_CRLF = /^a boundary line is not followed by CR LF$/;
    /** [story, body, the reason, or 'unfinished' when it is refused by no byte but by its end not coming] */
    const cases: [string, string, RegExp | 'unfinished'][] = [
      ['no closing boundary', `${field('a', '1')}`, 'unfinished'],
      ['a body that ends inside a header block', `--${B}\r\nContent-Disposition: form-da`, 'unfinished'],
      ['an empty body', '', 'unfinished'],
      ['a body with no boundary at all', 'a=1&b=2', 'unfinished'],
      ['a boundary in the preamble followed by other text', `preamble\r\n--${B}junk\r\n${field('a', '1')}${close()}`, NOT_CRLF],
      ['a body that opens with the boundary followed by other text', `--${B}W\r\n${field('a', '1')}${close()}`, NOT_CRLF],
      ["a delimiter inside a part's bytes, followed by other text", `${field('a', `1\r\n--${B}x`)}${close()}`, NOT_CRLF],
      ['a delimiter line ended by LF alone', `--${B}\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n${close()}`, NOT_CRLF],
      ['a delimiter line ended by CR and no LF', `--${B}\rContent-Disposition: form-data; name="a"\r\n\r\n1\r\n${close()}`, NOT_CRLF],
      ['a close with one dash', `${field('a', '1')}--${B}-x`, NOT_CRLF],
      ['more than 256 bytes of padding', `--${B}${' '.repeat(257)}\r\n${field('a', '1').slice(B.length + 4)}${close()}`, NOT_CRLF],
      ['a header block longer than 16 KiB, ended', `--${B}\r\nContent-Disposition: form-data; name="a"\r\nX-Long: ${long}\r\n\r\n1\r\n${close()}`, /^a part's headers are longer than 16384 bytes$/],
      ['a header block longer than 16 KiB, never ended', `--${B}\r\nX-Long: ${long}`, /^a part's headers are longer than 16384 bytes$/],
      ['a part with no Content-Disposition', `--${B}\r\nContent-Type: text/plain\r\n\r\n1\r\n${close()}`, /^a part has no Content-Disposition$/],
      ['a part with no headers at all', `--${B}\r\n\r\n1\r\n${close()}`, /^a part has no Content-Disposition$/],
      ['a Content-Disposition with no name', `--${B}\r\nContent-Disposition: form-data; filename="a"\r\n\r\n1\r\n${close()}`, /^a part's Content-Disposition has no name$/],
      ['a Content-Disposition with no parameters', `--${B}\r\nContent-Disposition: form-data\r\n\r\n1\r\n${close()}`, /^a part's Content-Disposition has no name$/],
      ['a Content-Disposition whose parameters are not parameters', `--${B}\r\nContent-Disposition: form-data; name\r\n\r\n1\r\n${close()}`, /^a part's Content-Disposition has no name$/],
      [
        'a header line that is not a header',
        `--${B}\r\nContent-Disposition: form-data; name="a"\r\nnot a header\r\n\r\n1\r\n${close()}`,
        /^a part's headers are invalid \("not a header" is not a header\)$/,
      ],
      ['a folded line with nothing to fold into', `--${B}\r\n folded: x\r\n\r\n1\r\n${close()}`, /^a part's headers are invalid \(" folded: x" is not a header\)$/],
    ];
    for (const [story, text, expected] of cases) {
      it(`${expected === 'unfinished' ? 'leaves unfinished' : 'refuses'} ${story}`, function () {
        const body = Buffer.from(text);
        const whole = parse(B, body);
        assert.equal(whole.done, false);
        assert.deepEqual(whole.late, [], 'nothing is reported after the error');
        if (expected === 'unfinished') assert.equal(whole.error, undefined);
        else assert.match(whole.error ?? '(no error)', expected);
        // Byte by byte: the same parts, the same error, at the same place.
        const bytes = parse(
          B,
          body,
          Array.from({ length: body.length }, (_, i) => i),
        );
        assert.deepEqual(bytes, whole);
      });
    }

    it('reports nothing more once stopped by its caller', function () {
      const reported: string[] = [];
      const parser = new MultipartParser(B, {
        onPart: (info) => {
          reported.push(`part ${info.name}`);
          return () => parser.stop(); // a caller that refuses the first bytes of a part (too long, say)
        },
        onDone: () => reported.push('done'),
        onError: (reason) => reported.push(reason),
      });
      parser.write(Buffer.from(`${field('a', '1')}${field('b', '2')}${close()}`));
      parser.write(Buffer.from(field('c', '3')));
      assert.deepEqual(reported, ['part a']);
      assert.equal(parser.done, false);
    });
  });
});
