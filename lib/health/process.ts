import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/** The Node-RED process as an operator watches it: memory, CPU and how late its event loop runs. */
export interface ProcessSample {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  /** CPU time since the process started. */
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  /** Unix time the process started. */
  startTimeSeconds: number;
  /**
   * How late timers ran (event-loop delay) over the last completed period, seconds; null until the
   * first period ends.
   */
  eventLoopLag: EventLoopLag | null;
}

export interface EventLoopLag {
  mean: number;
  p50: number;
  p99: number;
  max: number;
  /** The period the figures cover, seconds. */
  periodSeconds: number;
}

/**
 * Samples the process. The event-loop delay is measured by Node.js itself (a timer every
 * `resolutionMs`, perf_hooks) and summed up per period of `periodMs`, so every reader (a scrape,
 * the dashboard, the node's own interval) sees the same figures for the same period. `close()`
 * stops the measuring.
 */
export class ProcessMetrics {
  private readonly delay: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private lag: EventLoopLag | null = null;

  constructor(options: { periodMs?: number; resolutionMs?: number } = {}) {
    const periodMs = options.periodMs ?? 10000;
    this.delay = monitorEventLoopDelay({ resolution: options.resolutionMs ?? 20 });
    this.delay.enable();
    this.timer = setInterval(() => {
      const d = this.delay;
      const ns = (v: number): number => v / 1e9;
      this.lag =
        d.count > 0
          ? {
              mean: ns(d.mean),
              p50: ns(d.percentile(50)),
              p99: ns(d.percentile(99)),
              max: ns(d.max),
              periodSeconds: periodMs / 1000,
            }
          : null;
      d.reset();
    }, periodMs);
    this.timer.unref();
  }

  sample(): ProcessSample {
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    return {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
      cpuUserSeconds: cpu.user / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      startTimeSeconds: Math.round((Date.now() - process.uptime() * 1000) / 1000),
      eventLoopLag: this.lag,
    };
  }

  close(): void {
    clearInterval(this.timer);
    this.delay.disable();
  }
}
