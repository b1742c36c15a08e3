import type * as Hl7v2 from "hl7v2";

export type Hl7v2Module = typeof Hl7v2;

let loaded: Hl7v2Module | undefined;

/**
 * The `hl7v2` package, loaded on first use: its dictionaries make `require` take about a
 * second, which nodes that never need it (header reads, MLLP transport, plain parses) should
 * not pay at Node-RED start-up.
 */
export function hl7v2(): Hl7v2Module {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require("hl7v2") as Hl7v2Module;
  return loaded;
}
