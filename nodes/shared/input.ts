import type { Node, NodeMessage, NodeMessageInFlow } from "node-red";
import type { ErrorCode } from "../../lib/error-codes";
import { toCodedError } from "../../lib/errors";

export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

/**
 * Registers an input handler whose every failure, thrown or rejected, ends in `done(err)`
 * with an Error that carries an own `code`, so that a Catch node sees it.
 */
export function onInput<M extends NodeMessageInFlow = NodeMessageInFlow>(
  node: Node,
  fallbackCode: ErrorCode,
  handler: (msg: M, send: Send) => Promise<void> | void,
): void {
  node.on("input", (msg: NodeMessageInFlow, send: Send, done: (err?: Error) => void) => {
    let result: Promise<void> | void;
    try {
      result = handler(msg as M, send);
    } catch (err) {
      done(toCodedError(err, fallbackCode));
      return;
    }
    if (result && typeof (result as Promise<void>).then === "function") {
      (result as Promise<void>).then(
        () => done(),
        (err: unknown) => done(toCodedError(err, fallbackCode)),
      );
    } else {
      done();
    }
  });
}
