import type { Node } from "node-red";
import type { LegacyClient, LegacyCredentials } from "../../lib/legacy/client";

/** What hmac-request reads from its legacy-api config node. */
export interface LegacyApiNode extends Node<LegacyCredentials> {
  client?: LegacyClient;
  /** Why there is no client: a configuration mistake, never a secret. */
  configError?: string;
  host: string;
}
