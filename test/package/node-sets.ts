/** A node set as Node-RED's admin API lists it (GET /nodes, Accept: application/json). */
export interface NodeSetInfo {
  id: string;
  name: string;
  types: string[];
  enabled: boolean;
  local: boolean;
  module: string;
  version?: string;
  err?: unknown;
}
