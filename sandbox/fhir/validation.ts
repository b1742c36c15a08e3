import { OperationOutcomeError, validateResource } from "@medplum/core";
import type { OperationOutcomeIssue, Resource } from "@medplum/fhirtypes";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";

/** The R4 validation of a resource as it would be stored under `id`: `issues` when it is invalid. */
export interface Verdict {
  id: string;
  invalid: boolean;
  issues?: OperationOutcomeIssue[];
}

/** A resource to judge, with the id it will be stored under. */
export interface JudgeItem {
  resource: Resource;
  id: string;
}

/** What a worker is asked: JudgeItems as JSON text. */
export interface JudgeRequest {
  seq: number;
  text: string;
}

export interface JudgeReply {
  seq: number;
  verdicts: Array<Verdict | undefined>;
}

/** Validates a resource against the R4 definitions. Errors other than invalidity are thrown. */
export function judge(resource: Resource): Omit<Verdict, "id"> {
  try {
    validateResource(resource);
    return { invalid: false };
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    return { invalid: true, issues: err.outcome.issue };
  }
}

/**
 * The verdict on `resource` once a write has given it `id` and a new meta.versionId and
 * meta.lastUpdated; these two are always valid and read by no R4 invariant of the resource
 * itself, so any version and instant judge alike.
 */
export function judgeAsStored(resource: Resource, id: string): Verdict {
  const meta = { ...resource.meta, versionId: "1", lastUpdated: "2000-01-01T00:00:00.000Z" };
  return { id, ...judge({ ...resource, id, meta }) };
}

/** Judges each item; an item the validator fails on (not for invalidity) gets no verdict. */
export function judgeEach(items: JudgeItem[]): Array<Verdict | undefined> {
  return items.map(({ resource, id }) => {
    try {
      return judgeAsStored(resource, id);
    } catch {
      return undefined;
    }
  });
}

/** Fewer resources than this are judged on the calling thread: a worker round trip would cost more. */
const MIN_SHARED = 16;

interface PoolWorker {
  worker: Worker;
  ready: boolean;
  loaded: Promise<void>;
  pending: Map<number, (verdicts: Array<Verdict | undefined>) => void>;
}

/**
 * R4 validation spread over worker threads (each with its own copy of the definitions) and the
 * calling thread. Workers start on the first call that has enough to share and keep the process
 * alive only while they work; until one has loaded the definitions (about a second), everything
 * is judged on the calling thread. A worker that fails is dropped (and not replaced), and what it
 * held is left without a verdict, so it is validated when written.
 */
export class ValidationPool {
  readonly size: number;
  /** Resources the workers have judged, so far. */
  judgedByWorkers = 0;
  private readonly script: string;
  private workers: PoolWorker[] = [];
  private started = false;
  private seq = 0;
  private closed = false;

  /** `size` workers (by default one per core beyond the first, at most 4), each running `script`. */
  constructor(
    size = Math.min(4, availableParallelism() - 1),
    script = join(__dirname, "validation-worker.js"),
  ) {
    if (!Number.isInteger(size) || size < 0)
      throw new TypeError("validation workers must be an integer >= 0");
    this.size = size;
    this.script = script;
  }

  /** Verdicts on `items`, in order; undefined where none could be had. */
  async judge(items: JudgeItem[]): Promise<Array<Verdict | undefined>> {
    if (this.size === 0 || this.closed || items.length < MIN_SHARED) return judgeEach(items);
    this.start();
    const ready = this.workers.filter((w) => w.ready);
    if (ready.length === 0) return judgeEach(items);
    const share = Math.ceil(items.length / (ready.length + 1));
    const replies = ready.map((w, k) => this.send(w, items.slice(k * share, (k + 1) * share)));
    const own = judgeEach(items.slice(ready.length * share));
    const verdicts: Array<Verdict | undefined> = [];
    for (const reply of await Promise.all(replies)) verdicts.push(...reply);
    verdicts.push(...own);
    return verdicts;
  }

  /** Starts the workers (if not yet) and resolves once each has loaded the definitions or failed. */
  async whenReady(): Promise<void> {
    this.start();
    await Promise.all(this.workers.map((w) => w.loaded));
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  private start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (let k = 0; k < this.size; k++) {
      const worker = new Worker(this.script);
      let loaded: () => void = () => undefined;
      const entry: PoolWorker = {
        worker,
        ready: false,
        loaded: new Promise((resolve) => (loaded = resolve)),
        pending: new Map(),
      };
      worker.unref();
      worker.on("message", (message: "ready" | JudgeReply) => {
        if (message === "ready") {
          entry.ready = true;
          loaded();
          return;
        }
        const done = entry.pending.get(message.seq);
        entry.pending.delete(message.seq);
        if (entry.pending.size === 0) worker.unref();
        for (const verdict of message.verdicts) if (verdict) this.judgedByWorkers++;
        done?.(message.verdicts);
      });
      worker.on("error", (err) => {
        console.error("fhir sandbox: a validation worker failed; its share is validated when written", err);
      });
      worker.on("exit", () => {
        this.workers = this.workers.filter((w) => w !== entry);
        for (const done of entry.pending.values()) done([]);
        entry.pending.clear();
        loaded();
      });
      this.workers.push(entry);
    }
  }

  private send(entry: PoolWorker, items: JudgeItem[]): Promise<Array<Verdict | undefined>> {
    const seq = this.seq++;
    return new Promise((resolve) => {
      entry.pending.set(seq, (verdicts) =>
        resolve(verdicts.length === items.length ? verdicts : Array.from(items, () => undefined)),
      );
      entry.worker.ref();
      const request: JudgeRequest = { seq, text: JSON.stringify(items) };
      entry.worker.postMessage(request);
    });
  }
}
