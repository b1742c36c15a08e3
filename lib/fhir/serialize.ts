/** Runs tasks with the same key one after another, in arrival order; different keys run in parallel. */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<void>>();

  get pendingKeys(): number {
    return this.tails.size;
  }

  run<T>(key: string | undefined, task: () => Promise<T>): Promise<T> {
    if (key === undefined) return task();
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
