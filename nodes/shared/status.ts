import type { Node } from "node-red";

/** Node-RED status text is kept under 20 characters. */
export function clip(text: string): string {
  return text.length <= 19 ? text : `${text.slice(0, 18)}…`;
}

export const status = {
  ok(node: Node, text: string): void {
    node.status({ fill: "green", shape: "dot", text: clip(text) });
  },
  working(node: Node, text: string): void {
    node.status({ fill: "blue", shape: "dot", text: clip(text) });
  },
  degraded(node: Node, text: string): void {
    node.status({ fill: "yellow", shape: "ring", text: clip(text) });
  },
  failed(node: Node, text: string): void {
    node.status({ fill: "red", shape: "ring", text: clip(text) });
  },
  clear(node: Node): void {
    node.status({});
  },
};
