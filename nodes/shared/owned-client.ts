import type { Node } from "node-red";

/**
 * For a config node that owns a client with a connection pool: on close, takes the client
 * (so no flow node gets it any more) and closes it before telling Node-RED it is done.
 */
export function closeOwnedClient(node: Node, take: () => { close(): Promise<void> } | undefined): void {
  node.on("close", (done: () => void) => {
    const client = take();
    if (!client) {
      done();
      return;
    }
    client.close().then(
      () => done(),
      (err: unknown) => {
        node.warn(`closing the connection pool failed: ${err instanceof Error ? err.message : String(err)}`);
        done();
      },
    );
  });
}
