// The engines the matrix runs, all in one flows file so that each Node-RED starts once: one
// aiware-process-in per engine, each on a path of its own, all sharing /readyz. What a story
// checks comes back in the engine's VTN output (a stock Node-RED has no test hooks in its
// settings): the words of a transcript.
import { fn, heartbeat, keyNode, modelNode, onTestTab, processIn, resultOut, STREAM_SPLIT, TRANSCRIPT_FROM_TEXT } from '../support/engine';

/** Each engine's /process path. */
export const PATHS = {
  sync: '/sync/process',
  async: '/async/process',
  stream: '/stream/process',
  batch: '/batch/process',
  review: '/review/process',
  keys: '/keys/process',
  model: '/model/process',
} as const;

/** How long the batch engine works between its own two heartbeats: over the pack's default 1 s interval, so its own running heartbeat comes between. */
export const BATCH_WORK_MS = 2000;

/** A transcript of these words, one to a series entry. */
const TRANSCRIPT_OF = `const transcript = (words) => ({ validationContracts: ['transcript'], series: words.map((word, i) => ({ startTimeMs: i * 1000, stopTimeMs: (i + 1) * 1000, words: [{ word, confidence: 1 }] })) });`;

/** The chunk's text, then what the task said its start offset was (a JSON or form body's field, typed). */
const SYNC_WORDS = `${TRANSCRIPT_OF}
const text = Buffer.isBuffer(msg.payload) ? msg.payload.toString('utf8') : String(msg.payload);
msg.payload = transcript([text.trim(), 'start=' + JSON.stringify(msg.aiware.startOffsetMS)]);
return msg;`;

/** The reviewer's answer, whatever its kind, becomes the words: a JSON list, the words of a text, or the bytes in hex. */
const APPLY_REVIEW = `
const answer = msg.callback;
if (Buffer.isBuffer(answer)) msg.words = [{ word: 'bytes:' + answer.toString('hex'), confidence: 1 }];
else if (typeof answer === 'string') msg.words = answer.split(/\\s+/).filter(Boolean).map((word) => ({ word, confidence: 1 }));
else if (answer && Array.isArray(answer.words)) msg.words = answer.words;
else msg.words = [{ word: 'unreadable:' + typeof answer, confidence: 1 }];
return msg;`;

const WORDS_TO_VTN = `msg.payload = { validationContracts: ['transcript'], series: msg.words.map((w, i) => ({ startTimeMs: i * 1000, stopTimeMs: (i + 1) * 1000, words: [w] })) }; return msg;`;

const COUNT_TO_VTN = `
msg.payload = { validationContracts: ['transcript'], tags: [{ key: 'wordCount', value: String(msg.count) }], series: [{ startTimeMs: 0, stopTimeMs: 1000, words: [{ word: String(msg.count), confidence: 1 }] }] };
return msg;`;

/** Where the model came from, as words: its size, whether this task downloaded it, and its source. */
const MODEL_TO_VTN = `${TRANSCRIPT_OF}
const model = msg.aiware.model;
msg.payload = transcript(['size=' + model.size, 'fetched=' + model.fetched, 'source=' + String(model.source).split(' ')[0]]);
return msg;`;

export function compatFlows(): Record<string, unknown>[] {
  return onTestTab([
    // A synchronous chunk engine: multipart, JSON and form bodies, and the bad bodies.
    processIn({ url: PATHS.sync, engineType: 'chunk', respond: 'sync' }, ['sync-words']),
    fn('sync-words', SYNC_WORDS, [['sync-out']]),
    resultOut('sync-out'),

    processIn({ url: PATHS.async, engineType: 'chunk', respond: 'async' }, ['async-words']),
    fn('async-words', TRANSCRIPT_FROM_TEXT, [['async-out']]),
    resultOut('async-out'),

    processIn({ url: PATHS.stream, engineType: 'stream' }, ['stream-fetch']),
    { id: 'stream-fetch', type: 'change', rules: [{ t: 'set', p: 'url', pt: 'msg', to: 'aiware.cacheURI', tot: 'msg' }], wires: [['stream-get']] },
    { id: 'stream-get', type: 'http request', method: 'GET', ret: 'txt', url: '', wires: [['stream-split']] },
    fn('stream-split', STREAM_SPLIT, [['stream-out']]),
    resultOut('stream-out'),

    processIn({ url: PATHS.batch, engineType: 'batch' }, ['batch-progress']),
    heartbeat('batch-progress', { status: 'running', infoMsg: 'halfway' }, ['batch-work']),
    { id: 'batch-work', type: 'delay', pauseType: 'delay', timeout: String(BATCH_WORK_MS), timeoutUnits: 'milliseconds', wires: [['batch-done']] },
    heartbeat('batch-done', { status: 'complete' }),

    // Every chunk waits for a reviewer: the flow posts its callback URL to the review service named in the task's payload.
    processIn({ url: PATHS.review, engineType: 'chunk', respond: 'async' }, ['review-score']),
    fn('review-score', `msg.words = String(msg.payload).split(/\\s+/).filter(Boolean).map((word) => ({ word, confidence: 0.3 })); return msg;`, [['review-pause']]),
    { id: 'review-pause', type: 'aiware-pause-for-callback', mode: 'local', timeout: '120', wires: [['review-ask'], ['review-apply'], ['review-failed']] },
    fn(
      'review-ask',
      `msg.url = msg.aiware.payload.callbackServiceUrl;
msg.method = 'POST';
msg.headers = { 'content-type': 'application/json' };
msg.payload = { chunkContext: msg.aiware.chunkContext, callbackUrl: msg.callbackUrl, words: msg.words };
return msg;`,
      [['review-post']],
    ),
    { id: 'review-post', type: 'http request', method: 'use', ret: 'obj', url: '', wires: [[]] },
    fn('review-apply', APPLY_REVIEW, [['review-vtn']]),
    fn('review-vtn', WORDS_TO_VTN, [['review-out']]),
    resultOut('review-out'),
    heartbeat('review-failed', { status: 'failed', failureReason: 'external_error' }),

    // A running word count of the job, in a key of ET's key proxy.
    processIn({ url: PATHS.keys, engineType: 'chunk', respond: 'sync' }, ['keys-split']),
    fn('keys-split', `msg.words = String(msg.payload).split(/\\s+/).filter(Boolean); return msg;`, [['keys-get']]),
    keyNode('keys-get', {}, [['keys-add'], ['keys-add']]),
    fn('keys-add', `msg.count = (typeof msg.count === 'number' ? msg.count : 0) + msg.words.length; return msg;`, [['keys-set']]),
    keyNode('keys-set', { action: 'set' }, [['keys-vtn'], []]),
    fn('keys-vtn', COUNT_TO_VTN, [['keys-out']]),
    resultOut('keys-out'),

    // library-train stores the model it trained; any other task makes sure its model is there (fetching it) and says where it came from.
    processIn({ url: PATHS.model, engineType: 'chunk', respond: 'sync' }, ['model-mode']),
    fn('model-mode', `return msg.aiware.mode === 'library-train' ? [msg, null] : [null, msg];`, [['model-train'], ['model-fetch']]),
    fn('model-train', `msg.payload = { vocabulary: msg.aiware.payload.vocabulary }; return msg;`, [['model-store']]),
    modelNode('model-store', { action: 'store' }, [['model-trained'], []]),
    heartbeat('model-trained', { status: 'complete' }),
    modelNode('model-fetch', {}, [['model-vtn'], []]),
    fn('model-vtn', MODEL_TO_VTN, [['model-out']]),
    resultOut('model-out'),
  ]);
}
