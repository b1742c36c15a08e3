import type { NodeAPI, NodeDef } from "node-red";
import { FhirClient, plainHttpWarnings } from "../../lib/fhir";
import type { FhirCredentials } from "../../lib/fhir/types";
import { buildServerConfig, type FhirServerProps } from "./config";
import type { FhirServerNode } from "./types";
import { closeOwnedClient } from "../shared/owned-client";
import { tlsOptionsOf } from "../shared/tls";

interface FhirServerDef extends NodeDef, FhirServerProps {}

export = function (RED: NodeAPI) {
  function FhirServer(this: FhirServerNode, def: FhirServerDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: FhirServerNode, def: FhirServerDef): void {
    try {
      const config = buildServerConfig(def, node.credentials, tlsOptionsOf(RED, def.tls));
      node.client = new FhirClient(config);
      for (const warning of plainHttpWarnings(config)) node.warn(`fhir-server: ${warning}`);
    } catch (err) {
      node.configError = err instanceof Error ? err.message : String(err);
      node.error(node.configError);
    }

    closeOwnedClient(node, () => {
      const client = node.client;
      node.client = undefined;
      return client;
    });
  }

  RED.nodes.registerType<FhirServerNode, FhirServerDef, unknown, FhirCredentials>("fhir-server", FhirServer, {
    credentials: {
      username: { type: "text" },
      password: { type: "password" },
      token: { type: "password" },
      clientSecret: { type: "password" },
      privateKey: { type: "password" },
    },
  });
};
