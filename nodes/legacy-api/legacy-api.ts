import type { NodeAPI, NodeDef } from "node-red";
import { plainHttpRemote } from "../../lib/http/url";
import { LegacyClient, type LegacyCredentials } from "../../lib/legacy/client";
import { buildLegacyConfig, hostOf, type LegacyApiProps } from "./config";
import type { LegacyApiNode } from "./types";
import { closeOwnedClient } from "../shared/owned-client";

interface LegacyApiDef extends NodeDef, LegacyApiProps {}

export = function (RED: NodeAPI) {
  function LegacyApi(this: LegacyApiNode, def: LegacyApiDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: LegacyApiNode, def: LegacyApiDef): void {
    node.host = hostOf(String(def.baseUrl ?? ""));
    try {
      const config = buildLegacyConfig(def, node.credentials);
      node.client = new LegacyClient(config);
      if (plainHttpRemote(new URL(config.baseUrl))) {
        node.warn(
          `legacy-api: the API key and signed requests go to ${node.host} over plain http: use https`,
        );
      }
    } catch (err) {
      node.configError = err instanceof Error ? err.message : String(err);
      node.error(`legacy-api ${def.name || node.host || node.id}: ${node.configError}`);
    }

    closeOwnedClient(node, () => {
      const client = node.client;
      node.client = undefined;
      return client;
    });
  }

  RED.nodes.registerType<LegacyApiNode, LegacyApiDef, unknown, LegacyCredentials>("legacy-api", LegacyApi, {
    credentials: {
      apiKey: { type: "password" },
      apiSecret: { type: "password" },
    },
  });
};
