import { once } from "node:events";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import type { FlowNode } from "./red-runtime";

/** What keeps a runtime's log: a Runtime or a NodeRedProcess. */
export interface LogSource {
  waitForLog(pattern: RegExp, timeoutMs?: number, fromLine?: number): Promise<string>;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The port an mllp-in node listens on, from the info line it logs once it listens
 * ("listening on 127.0.0.1:41234 (node <id>)"): a test gives the node port "0", so nothing can
 * take the port between the test choosing it and the node binding it. `fromLine`: the first log
 * line to look at (the log's length before a deploy, so an earlier deploy's line is not taken).
 */
export async function mllpPort(
  source: LogSource,
  nodeId: string,
  fromLine = 0,
  timeoutMs = 20_000,
): Promise<number> {
  const pattern = new RegExp(
    `\\[info\\] \\[mllp-in:.*\\] listening on \\S+:(\\d+) \\(node ${escape(nodeId)}\\)$`,
  );
  const line = await source.waitForLog(pattern, timeoutMs, fromLine);
  return Number(pattern.exec(line)![1]);
}

/**
 * The ports of the mllp-in nodes of `flows` whose port is an environment variable ("${HL7_ADT_PORT}",
 * as in the shipped pipelines), by variable name: the test sets each variable to "0".
 */
export async function mllpPortsByEnv(
  source: LogSource,
  flows: FlowNode[],
  fromLine = 0,
): Promise<Record<string, number>> {
  const ports: Record<string, number> = {};
  for (const node of flows) {
    const variable = node.type === "mllp-in" && !node.d && /^\$\{(\w+)\}$/.exec(String(node.port))?.[1];
    if (variable) ports[variable] = await mllpPort(source, node.id, fromLine);
  }
  return ports;
}

export interface Relay {
  /** The port the relay listens on. */
  port: number;
  /** Where connections made from now on are forwarded. */
  to(port: number): void;
  close(): Promise<void>;
}

/**
 * A TCP relay that binds a free port itself (0) and forwards each connection to the port given
 * to `to()`: for a sender that must be configured with its port before the listener it reaches
 * has bound one (node-red-node-test-helper loads a flow whole). Each connection gets its own
 * upstream connection, and either closing closes the other.
 */
export async function relay(host = "127.0.0.1"): Promise<Relay> {
  let target = 0;
  const sockets = new Set<Socket>();
  const server = createServer((down) => {
    const up = connect(target, host);
    for (const [a, b] of [
      [down, up],
      [up, down],
    ]) {
      sockets.add(a);
      a.pipe(b);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  server.listen(0, host);
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    to(port) {
      target = port;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
