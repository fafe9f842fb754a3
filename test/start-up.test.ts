// What the runner does before Node-RED runs, kept cheap: the build runtime file checked by its
// shape, and only the core nodes the flows use loaded.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { coreNodeFiles, readRuntimeFile, unusedCoreNodeFiles, RuntimeFileError } from '@aiware-nodered/node-red-runner';

describe('runner start-up', function () {
  describe('the build runtime file, checked by its shape', function () {
    let dir = '';
    before(function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiware-start-up-'));
    });
    after(function () {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    function read(json: unknown): ReturnType<typeof readRuntimeFile> {
      const file = path.join(dir, 'runtime.json');
      fs.writeFileSync(file, JSON.stringify(json));
      return readRuntimeFile(file);
    }

    const node = { id: 'a', type: 'function' };
    it('takes a flow export, or an object with flows and any of credentials, modules and settings', function () {
      assert.deepEqual(read([node]), { flows: [node] });
      const whole = { flows: [node], credentials: { a: { user: 'u' } }, modules: { 'node-red-contrib-x': '1.2.3' }, settings: { functionGlobalContext: {} } };
      assert.deepEqual(read(whole), whole);
      assert.deepEqual(read({ flows: [] }), { flows: [] });
    });

    const shape = /must be a Node-RED flow export \(an array of nodes\) or an object \{flows, credentials\?, modules\?, settings\?\}/;
    const bad: { name: string; json: unknown; problem: RegExp }[] = [
      { name: 'null', json: null, problem: shape },
      { name: 'a number', json: 3, problem: shape },
      { name: 'a node that is not an object', json: [node, [1]], problem: /the flow export\[1\] is not a node object/ },
      { name: 'a node without an id', json: [{ type: 'x' }], problem: /the flow export\[0\] has no "id" string/ },
      { name: 'a node with an empty type', json: { flows: [{ id: 'a', type: '' }] }, problem: /"flows"\[0\] has no "type" string/ },
      { name: 'no flows', json: { settings: {} }, problem: /"flows" must be an array of nodes/ },
      { name: 'an unknown property', json: { flows: [], extra: 1 }, problem: /unknown top-level property extra/ },
      { name: 'credentials as an array', json: { flows: [], credentials: [] }, problem: /"credentials" must be an object/ },
      { name: 'settings as null', json: { flows: [], settings: null }, problem: /"settings" must be an object/ },
      { name: 'a module without a version', json: { flows: [], modules: { x: '' } }, problem: /"modules"."x" must be a version or a tarball path/ },
    ];
    for (const { name, json, problem } of bad) {
      it(`refuses ${name}, saying what is wrong`, function () {
        assert.throws(
          () => read(json),
          (err: unknown) => err instanceof RuntimeFileError && problem.test(err.message),
        );
      });
    }
  });

  describe('only the core nodes the flows use', function () {
    it("reads each core node file's types from Node-RED's own package", function () {
      const files = coreNodeFiles();
      assert.deepEqual(files.get('10-function.js'), ['function']);
      assert.deepEqual(files.get('60-link.js'), ['link in', 'link out', 'link call']);
      assert.ok(files.size > 20, `only ${files.size} core node files found`);
    });

    it('leaves out a file whose every type is unused, keeps a file one of whose types is used', function () {
      const unused = unusedCoreNodeFiles(['function', 'link call', 'aiware-process-in']);
      assert.ok(!unused.includes('10-function.js'));
      assert.ok(!unused.includes('60-link.js'), 'link call is used: link in and out come with it');
      for (const file of ['21-httpin.js', '21-httprequest.js', '10-mqtt.js', '70-JSON.js']) assert.ok(unused.includes(file), `${file} is loaded`);
    });

    it("keeps Node-RED's stand-ins, and any file whose types its source does not name", function () {
      const files = new Map([
        ['98-unknown.js', ['unknown']],
        ['05-junction.js', ['junction']],
        ['50-dynamic.js', []],
        ['70-JSON.js', ['json']],
      ]);
      assert.deepEqual(unusedCoreNodeFiles(['function'], files), ['70-JSON.js']);
    });
  });
});
