// Mocha root hooks: the shared Node-RED and emulator stop after the last test, so the run ends
// by itself.
import { stopEngine } from './engine';

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(20_000);
    await stopEngine();
  },
};
