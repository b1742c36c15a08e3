import { MESSAGE_STORE_STATE as MESSAGE_STORE } from "../../lib/store/types";

/**
 * Fills a node's state-store select: the durable default, memory (asked for by name), and the
 * context stores of settings.js. A name the flow holds that settings.js does not list is kept,
 * so that opening the dialog never changes it (the runtime reports it as a configuration error).
 */
export function fillStateSelect(
  select: JQuery,
  current: string,
  labels: { durable: string; memory: string; messageStore?: string },
): void {
  const settings = RED.settings as unknown as { context?: { stores?: string[] } };
  const stores = (settings.context?.stores ?? []).filter((name) => name !== "memory");
  // With a messageStore label, each message-store config node is offered too (shared state on PostgreSQL).
  const messageStores: Array<[string, string]> = [];
  if (labels.messageStore !== undefined) {
    RED.nodes.eachConfig((config) => {
      const n = config as { id: string; type: string; name?: string };
      if (n.type === "message-store") {
        messageStores.push([`${MESSAGE_STORE}${n.id}`, `${labels.messageStore}: ${n.name || n.id}`]);
      }
      return true;
    });
  }
  const known = (v: string) => v === "memory" || stores.includes(v) || messageStores.some(([id]) => id === v);
  if (current && !known(current)) {
    if (current.startsWith(MESSAGE_STORE)) messageStores.push([current, current]);
    else stores.push(current);
  }
  select.empty();
  $("<option></option>").val("").text(labels.durable).appendTo(select);
  $("<option></option>").val("memory").text(labels.memory).appendTo(select);
  for (const name of stores) $("<option></option>").val(name).text(name).appendTo(select);
  for (const [value, text] of messageStores) $("<option></option>").val(value).text(text).appendTo(select);
  select.val(current);
}
