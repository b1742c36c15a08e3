/**
 * Fills a node's state-store select: the durable default, memory (asked for by name), and the
 * context stores of settings.js. A name the flow holds that settings.js does not list is kept,
 * so that opening the dialog never changes it (the runtime reports it as a configuration error).
 */
export function fillStateSelect(
  select: JQuery,
  current: string,
  labels: { durable: string; memory: string },
): void {
  const settings = RED.settings as unknown as { context?: { stores?: string[] } };
  const stores = (settings.context?.stores ?? []).filter((name) => name !== "memory");
  if (current && current !== "memory" && !stores.includes(current)) stores.push(current);
  select.empty();
  $("<option></option>").val("").text(labels.durable).appendTo(select);
  $("<option></option>").val("memory").text(labels.memory).appendTo(select);
  for (const name of stores) $("<option></option>").val(name).text(name).appendTo(select);
  select.val(current);
}
