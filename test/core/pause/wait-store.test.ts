// The wait store (core/pause/wait-store.ts) on a real folder: a wait written whole and read back,
// claimed by exactly one caller, its claim kept until its time has passed, and what a crash or a
// stranger leaves in the folder.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseProcessFields, saveMessage, WaitStore, type WaitClaim, type WaitRecord } from '../../../core';

/** A wait as aiware-pause-for-callback saves it, made `createdAt` ms after the epoch. */
function wait(id: string, createdAt = 1000): WaitRecord {
  return {
    version: 1,
    id,
    mode: 'local',
    node: 'pause-1',
    createdAt,
    expiresAt: createdAt + 60_000,
    capped: false,
    task: {
      id: `task-${id}`,
      startedAt: createdAt,
      resultsSent: 0,
      counters: { bytesRead: 0, bytesWritten: 0, messagesWritten: 0 },
      parsed: parseProcessFields({ chunkContext: 'ctx', maxTTL: '60' }),
      engineType: 'chunk',
      respond: 'async',
    },
    message: saveMessage({ payload: { n: 1 }, topic: 'review' }),
    files: [],
  };
}

const claim = (outcome: WaitClaim['outcome'], keepUntil: number): WaitClaim => ({ outcome, at: keepUntil - 1000, keepUntil });

describe('the wait store (core/pause/wait-store.ts)', function () {
  let dir: string;
  let store: WaitStore;

  beforeEach(function () {
    dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-wait-store-')), 'waits');
    store = new WaitStore(dir);
  });

  afterEach(function () {
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it('saves a wait whole, in a folder of its own only the engine can read, and loads it back as it was', async function () {
    const saved = wait('w-1');
    await store.save(saved);
    assert.deepEqual(await store.load('w-1'), JSON.parse(JSON.stringify(saved)));
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(fs.readdirSync(dir), ['w-1.wait.json'], 'no temp file left behind');
    assert.equal(fs.statSync(path.join(dir, 'w-1.wait.json')).mode & 0o777, 0o600);
  });

  it('knows no wait it never saved, and makes its folder again when it was removed under it', async function () {
    assert.equal(await store.load('never'), undefined);
    await store.save(wait('w-1'));
    fs.rmSync(dir, { recursive: true });
    await store.save(wait('w-2'));
    assert.ok(await store.load('w-2'));
  });

  it('refuses an id that could name a file elsewhere', async function () {
    for (const id of ['../escape', 'a/b', 'w.1', '']) {
      await assert.rejects(store.load(id), { message: `not a wait id: ${id}` });
      await assert.rejects(store.claim(id, claim('resumed', 0)), { message: `not a wait id: ${id}` });
    }
  });

  it('lets exactly one of twenty callers claim a wait, and tells the others', async function () {
    await store.save(wait('w-1'));
    const outcomes: WaitClaim['outcome'][] = ['resumed', 'failed', 'timed out', 'ended'];
    const won = await Promise.all(Array.from({ length: 20 }, (_, i) => store.claim('w-1', claim(outcomes[i % 4], 5000 + i))));
    assert.equal(won.filter(Boolean).length, 1);
    const winner = won.indexOf(true);
    assert.deepEqual(await store.claimOf('w-1'), claim(outcomes[winner % 4], 5000 + winner), 'the claim is the winner’s');
    assert.equal(await store.claim('w-1', claim('resumed', 9000)), false, 'and stays claimed');
  });

  it('reads a claim file a crash cut short as claimed (ended), and no claim as none', async function () {
    assert.equal(await store.claimOf('w-1'), undefined);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'w-1.claim.json'), '{"outcome":"res');
    assert.deepEqual(await store.claimOf('w-1'), { outcome: 'ended', at: 0, keepUntil: 0 });
    assert.equal(await store.claim('w-1', claim('resumed', 1)), false);
  });

  it('removes a wait but keeps its claim, so a late call of its URL still hears it was claimed', async function () {
    await store.save(wait('w-1'));
    await store.claim('w-1', claim('resumed', 5000));
    await store.remove('w-1');
    await store.remove('w-1'); // twice: quiet
    assert.equal(await store.load('w-1'), undefined);
    assert.equal((await store.claimOf('w-1'))?.outcome, 'resumed');
  });

  it('lists every wait oldest first, with whether it was claimed, and reports a file it cannot read without failing', async function () {
    await store.save(wait('w-late', 3000));
    await store.save(wait('w-early', 1000));
    await store.save(wait('w-mid', 2000));
    await store.claim('w-mid', claim('timed out', 9000));
    fs.writeFileSync(path.join(dir, 'w-bad.wait.json'), '{ not json');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a wait');
    const problems: [string, string][] = [];
    const listed = await store.list((file, problem) => problems.push([file, problem]));
    assert.deepEqual(
      listed.map(({ wait: w, claimed }) => [w.id, claimed]),
      [
        ['w-early', false],
        ['w-mid', true],
        ['w-late', false],
      ],
    );
    assert.equal(problems.length, 1);
    assert.equal(problems[0][0], 'w-bad.wait.json');
    assert.match(problems[0][1], /JSON/);
  });

  it('lists more waits than it reads at once (64), all of them', async function () {
    await Promise.all(Array.from({ length: 150 }, (_, i) => store.save(wait(`w-${i}`, i))));
    const listed = await store.list();
    assert.deepEqual(
      listed.map(({ wait: w }) => w.id),
      Array.from({ length: 150 }, (_, i) => `w-${i}`),
    );
  });

  it('sweeps claims kept past their time whose wait is gone, and temp files a crash left over a minute ago', async function () {
    const now = 100_000;
    await store.save(wait('kept-wait'));
    await store.claim('kept-wait', claim('resumed', now - 1)); // past its time, but its wait is still there
    await store.claim('young', claim('resumed', now + 1)); // its time has not passed
    await store.claim('old', claim('failed', now - 1));
    const oldTemp = path.join(dir, 'w-9.wait.json.123.abcd.tmp');
    const youngTemp = path.join(dir, 'w-8.wait.json.124.abcd.tmp');
    fs.writeFileSync(oldTemp, '{');
    fs.writeFileSync(youngTemp, '{');
    const seconds = (ms: number) => ms / 1000;
    fs.utimesSync(oldTemp, seconds(now - 60_001), seconds(now - 60_001));
    fs.utimesSync(youngTemp, seconds(now - 1000), seconds(now - 1000));

    assert.equal(await store.sweep(now), 1, 'one claim removed (temp files are not counted)');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['kept-wait.claim.json', 'kept-wait.wait.json', path.basename(youngTemp), 'young.claim.json'].sort());
  });
});
