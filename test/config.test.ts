// The runner's configuration from its environment: defaults, the working folder, bad values.
import * as assert from 'node:assert/strict';
import { loadConfig, ConfigError } from '@aiware-nodered/node-red-runner';

describe('the runner configuration', function () {
  it('defaults to the addresses ET documents and names the working folder after the engine and build', function () {
    const config = loadConfig({ AIWARE_BUILD_RUNTIME: '/cache/engines/e/b/runtime.json', ENGINE_ID: 'eng-1', BUILD_ID: 'b/../2' });
    assert.deepEqual(config.process, { host: '0.0.0.0', port: 8888, path: '/process' });
    assert.deepEqual(config.ready, { host: '0.0.0.0', port: 8888, path: '/readyz' });
    assert.equal(config.workDir, '/cache/nodered/engines/eng-1-b_.._2', 'an id cannot climb out of the work root');
    assert.equal(config.graceMs, 30_000);
    assert.equal(config.editorPasswordHash, undefined, 'the editor is off');
    assert.deepEqual(config.connections, { headersTimeoutMs: 10_000, requestTimeoutMs: 120_000, keepAliveTimeoutMs: 65_000, maxConnections: 256, minBodyRate: 240, minBodyRateGraceMs: 5000 });
    assert.equal(config.recycleChunks, false, 'chunk memory is not recycled unless asked');
  });

  it('recycles chunk memory when RUNNER_RECYCLE_CHUNKS is on, in any of its spellings', function () {
    for (const on of ['1', 'true', 'YES', 'on']) assert.equal(loadConfig({ AIWARE_BUILD_RUNTIME: 'r.json', RUNNER_RECYCLE_CHUNKS: on }).recycleChunks, true, on);
    for (const off of ['', '0', 'false', 'No', 'off']) assert.equal(loadConfig({ AIWARE_BUILD_RUNTIME: 'r.json', RUNNER_RECYCLE_CHUNKS: off }).recycleChunks, false, off);
  });

  it('reads the connection limits, and shrinks the default headers timeout to a shorter request timeout', function () {
    const env = {
      AIWARE_BUILD_RUNTIME: 'r.json',
      RUNNER_REQUEST_TIMEOUT_SECONDS: '4',
      RUNNER_KEEPALIVE_TIMEOUT_SECONDS: '1.5',
      RUNNER_MAX_CONNECTIONS: '8',
      RUNNER_MIN_BODY_RATE: '0',
      RUNNER_MIN_BODY_RATE_GRACE_SECONDS: '2',
    };
    assert.deepEqual(loadConfig(env).connections, { headersTimeoutMs: 4000, requestTimeoutMs: 4000, keepAliveTimeoutMs: 1500, maxConnections: 8, minBodyRate: 0, minBodyRateGraceMs: 2000 });
    assert.equal(loadConfig({ ...env, RUNNER_HEADERS_TIMEOUT_SECONDS: '0.5' }).connections.headersTimeoutMs, 500);
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ['AIWARE_BUILD_RUNTIME', {}, /is not set/],
    ['VERITONE_WEBHOOK_PROCESS', { VERITONE_WEBHOOK_PROCESS: 'not a url' }, /is not a URL/],
    ['VERITONE_WEBHOOK_READY', { VERITONE_WEBHOOK_READY: 'http://0.0.0.0:9999/readyz' }, /must be on the port of VERITONE_WEBHOOK_PROCESS \(8888\)/],
    ['RUNNER_GRACE_SECONDS', { RUNNER_GRACE_SECONDS: 'soon' }, /must be a number of seconds/],
    ['RUNNER_METRICS_PORT', { RUNNER_METRICS_PORT: 'elsewhere' }, /must be a port number or "off", got "elsewhere"/],
    ['RUNNER_TMP_ROOTS', { RUNNER_TMP_ROOTS: '/data/chunks,relative/dir' }, /must list absolute folders.*"relative\/dir" is not absolute/],
    ['RUNNER_HEADERS_TIMEOUT_SECONDS', { RUNNER_HEADERS_TIMEOUT_SECONDS: '0' }, /must be a number of seconds above 0/],
    ['RUNNER_HEADERS_TIMEOUT_SECONDS', { RUNNER_HEADERS_TIMEOUT_SECONDS: '30', RUNNER_REQUEST_TIMEOUT_SECONDS: '20' }, /must not be longer than RUNNER_REQUEST_TIMEOUT_SECONDS \(20\), got 30/],
    ['RUNNER_REQUEST_TIMEOUT_SECONDS', { RUNNER_REQUEST_TIMEOUT_SECONDS: 'two minutes' }, /must be a number of seconds above 0/],
    ['RUNNER_KEEPALIVE_TIMEOUT_SECONDS', { RUNNER_KEEPALIVE_TIMEOUT_SECONDS: '-1' }, /must be a number of seconds above 0/],
    ['RUNNER_KEEPALIVE_TIMEOUT_SECONDS', { RUNNER_KEEPALIVE_TIMEOUT_SECONDS: '3000000' }, /at most 2147483/],
    ['RUNNER_MAX_CONNECTIONS', { RUNNER_MAX_CONNECTIONS: '0' }, /must be a whole number of connections above 0/],
    ['RUNNER_EDITOR_LOGIN_ATTEMPTS', { RUNNER_EDITOR_LOGIN_ATTEMPTS: '0' }, /must be a whole number of failed logins above 0, got "0"/],
    ['RUNNER_EDITOR_LOGIN_WINDOW_SECONDS', { RUNNER_EDITOR_LOGIN_WINDOW_SECONDS: 'an hour' }, /must be a number of seconds above 0/],
    ['RUNNER_MIN_BODY_RATE', { RUNNER_MIN_BODY_RATE: 'slow' }, /must be a whole number of bytes a second, 0 to turn the check off, got "slow"/],
    ['RUNNER_MIN_BODY_RATE_GRACE_SECONDS', { RUNNER_MIN_BODY_RATE_GRACE_SECONDS: '0' }, /must be a number of seconds above 0/],
    ['RUNNER_MAX_CONNECTIONS', { RUNNER_MAX_CONNECTIONS: '2.5' }, /must be a whole number of connections above 0/],
    ['RUNNER_MAX_CONNECTIONS', { RUNNER_MAX_CONNECTIONS: 'many' }, /must be a whole number of connections above 0, got "many"/],
    ['RUNNER_EDITOR_PASSWORD_HASH', { RUNNER_EDITOR: 'true', RUNNER_EDITOR_PASSWORD_HASH: 'password' }, /not a bcrypt hash/],
    ['RUNNER_EDITOR_PASSWORD_HASH', { RUNNER_EDITOR: '1' }, /not a bcrypt hash/],
    // An editor asked for in words the runner does not know is refused, not silently left off.
    ['RUNNER_EDITOR', { RUNNER_EDITOR: 'enabled' }, /must be on or off \(1\/true\/yes\/on, 0\/false\/no\/off\), got "enabled"/],
    ['RUNNER_RECYCLE_CHUNKS', { RUNNER_RECYCLE_CHUNKS: 'sometimes' }, /must be on or off \(1\/true\/yes\/on, 0\/false\/no\/off\), got "sometimes"/],
  ];
  for (const [variable, env, message] of bad) {
    it(`refuses ${JSON.stringify(env)} naming ${variable}`, function () {
      const withRuntime = variable === 'AIWARE_BUILD_RUNTIME' ? env : { AIWARE_BUILD_RUNTIME: 'r.json', ...env };
      assert.throws(
        () => loadConfig(withRuntime),
        (err: unknown) => err instanceof ConfigError && err.variable === variable && message.test(err.message),
      );
    });
  }
});
