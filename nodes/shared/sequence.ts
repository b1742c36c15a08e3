import type { NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";

type SequencedMsg = NodeMessageInFlow & { parts?: Record<string, unknown> };

/**
 * Sends one msg per item, with msg.parts as core split sets it, so that a join in auto mode
 * rebuilds the array; an incoming msg.parts is kept nested. The last item reuses `msg`.
 */
export function sendEach(
  RED: NodeAPI,
  msg: SequencedMsg,
  items: unknown[],
  send: (m: NodeMessage) => void,
): void {
  if (items.length === 0) return;
  const outer = msg.parts;
  delete msg.payload;
  delete msg.parts;
  const id = msg._msgid;
  const count = items.length;
  for (let index = 0; index < count; index++) {
    const m = (index === count - 1 ? msg : RED.util.cloneMessage(msg)) as SequencedMsg;
    m.payload = items[index];
    m.parts = { id, index, count, type: "array", len: 1 };
    if (outer) m.parts.parts = outer;
    send(m);
  }
}
