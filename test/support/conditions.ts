// Waiting for a condition without polling: the tests call `check()` whenever what it reads changes.

/** Promises that resolve as soon as their condition holds; `check()` after each change. */
export class Conditions {
  private waiting: { holds: () => boolean; resolve: () => void }[] = [];

  when(holds: () => boolean): Promise<void> {
    if (holds()) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ holds, resolve }));
  }

  check(): void {
    this.waiting = this.waiting.filter((waiter) => {
      if (!waiter.holds()) return true;
      waiter.resolve();
      return false;
    });
  }
}
