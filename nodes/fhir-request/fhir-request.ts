import { setMaxListeners } from "node:events";
import type { NodeAPI, NodeDef, Node, NodeMessageInFlow } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { reportHealth } from "../../lib/health/bus";
import { validateInteraction } from "../../lib/fhir";
import { planUpserts } from "../../lib/fhir/bulk";
import type {
  FhirMeta,
  InteractionInput,
  InteractionResult,
  UpsertManyInput,
  UpsertManyResult,
} from "../../lib/fhir/types";
import { onInput } from "../shared/input";
import { sendEach } from "../shared/sequence";
import { status } from "../shared/status";
import { typedProperty } from "../shared/typed";
import type { FhirServerNode } from "../fhir-server/types";
import {
  buildInteraction,
  buildUpsertMany,
  parseBundle,
  parseCreateOnly,
  parseOperation,
  propsFor,
  workingLabel,
  type RequestProps,
  type TypedRequestProps,
} from "./input";

interface FhirRequestDef extends NodeDef, RequestProps {
  server: string;
  integration?: string;
}

type FhirMsg = NodeMessageInFlow & {
  fhir?: FhirMeta;
  parts?: Record<string, unknown>;
  references?: Record<string, string>;
};

const SOURCE = "fhir-request";

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code !== "" ? code : CODES.FHIR_ERROR;
}

/** A Bundle's entry resources, in order (search-all with output "resources"). */
function resourcesOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  const entries = (body as { entry?: Array<{ resource?: unknown }> } | undefined)?.entry;
  if (!Array.isArray(entries)) return [];
  return entries.map((e) => e?.resource).filter((r) => r !== undefined);
}

/** The status text of a failure: "412 update", or the error's short kind when no HTTP status came back. */
function failureLabel(meta: FhirMeta | undefined, code: string, operation: string): string {
  if (meta && meta.status > 0) return `${meta.status} ${operation}`;
  return code
    .replace(/^FHIR_/, "")
    .toLowerCase()
    .replace(/_/g, " ");
}

export = function (RED: NodeAPI) {
  function FhirRequest(this: Node, def: FhirRequestDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: FhirRequestDef): void {
    const server = RED.nodes.getNode(def.server) as FhirServerNode | null;
    const integration = (def.integration ?? "").trim() || "fhir";
    const outputResources = def.output === "resources";
    const props: RequestProps = {
      operation: def.operation,
      resourceType: def.resourceType,
      searchParams: def.searchParams,
      operationName: def.operationName,
      maxPages: def.maxPages,
      output: def.output,
      bundle: def.bundle,
      bundleSize: def.bundleSize,
      createOnly: def.createOnly,
    };
    let typed: TypedRequestProps | undefined;
    let typedError: unknown;
    /** The status of a typed property that is unusable: "bad resource type". */
    let typedStatus = "";
    const prop = (label: string, value: unknown, type: unknown) => {
      try {
        return typedProperty(RED, node, {
          label,
          value,
          type,
          configCode: CODES.FHIR_BAD_INPUT,
          inputCode: CODES.FHIR_BAD_INPUT,
        });
      } catch (err) {
        typedStatus = `bad ${label}`;
        throw err;
      }
    };
    try {
      typed = {
        resourceType: prop("resource type", def.resourceType, def.resourceTypeType),
        searchParams: prop("search params", def.searchParams, def.searchParamsType),
        operationName: prop("operation name", def.operationName, def.operationNameType),
      };
    } catch (err) {
      typedError = err;
    }
    const aborter = new AbortController();
    // Every message in flight listens on this one signal.
    setMaxListeners(0, aborter.signal);
    let inFlight = 0;
    let shown = "";
    /** Status changes only: under load a status per message would flood the editor. */
    function show(kind: "ok" | "working" | "degraded" | "failed", text: string): void {
      const key = `${kind}:${text}`;
      if (key === shown) return;
      shown = key;
      status[kind](node, text);
    }

    if (!server) show("failed", "no server");
    else if (!server.client) show("failed", "server config");
    else {
      try {
        parseOperation(def.operation);
        parseBundle(def.bundle);
        parseCreateOnly(def.createOnly);
        if (!typed) show("failed", typedStatus);
      } catch {
        show("failed", "bad operation");
      }
    }

    onInput<FhirMsg>(node, CODES.FHIR_ERROR, async (msg, send) => {
      const client = server?.client;
      if (!client) {
        delete msg.fhir;
        show("failed", server ? "server config" : "no server");
        throw new PackError(
          CODES.FHIR_CONFIG,
          server
            ? `fhir-server is not usable: ${server.configError ?? "closed"}`
            : "no fhir-server configured",
        );
      }
      let input: InteractionInput;
      let many: UpsertManyInput | undefined;
      try {
        if (!typed) throw typedError;
        const resolved = await propsFor(props, typed, msg);
        many = buildUpsertMany(resolved, msg);
        input = many ? { operation: "upsert" } : buildInteraction(resolved, msg);
        if (many) planUpserts(many);
        else validateInteraction(input);
      } catch (err) {
        delete msg.fhir;
        show("failed", "bad input");
        if (err instanceof Error && codeOf(err) === CODES.FHIR_ERROR)
          throw new PackError(CODES.FHIR_BAD_INPUT, err.message);
        throw err;
      }

      const label = many ? "POST Bundle" : workingLabel(input);
      if (inFlight++ === 0) show("working", label);
      const started = Date.now();
      let result: InteractionResult | UpsertManyResult;
      const hooks = {
        signal: aborter.signal,
        onRetry: (info: { attempt: number; reason: string }) =>
          show("degraded", `retry ${info.attempt} (${info.reason})`),
      };
      try {
        result = many ? await client.upsertMany(many, hooks) : await client.interaction(input, hooks);
      } catch (err) {
        inFlight--;
        const code = codeOf(err);
        const errMeta = (err as { meta?: FhirMeta } | null)?.meta;
        const details = (err as { details?: unknown } | null)?.details;
        const meta: FhirMeta = errMeta
          ? { ...errMeta }
          : {
              status: 0,
              durationMs: Date.now() - started,
              request: { method: label.split(" ")[0], url: "" },
            };
        if (meta.outcome === undefined && details !== undefined) meta.outcome = details;
        msg.fhir = meta;
        if (!aborter.signal.aborted) {
          reportHealth({
            integration,
            success: false,
            durationMs: meta.durationMs,
            error: code,
            source: SOURCE,
          });
          show("failed", failureLabel(errMeta, code, input.operation));
        }
        throw err;
      }

      if ("written" in result) {
        inFlight--;
        msg.fhir = result.meta;
        msg.references = result.references;
        reportHealth({ integration, success: true, durationMs: result.meta.durationMs, source: SOURCE });
        if (inFlight === 0) {
          const written = result.written.length;
          show("ok", `${written}/${written + result.refused.length} written`);
        }
        send(msg);
        return;
      }

      inFlight--;
      msg.fhir = result.meta;
      reportHealth({ integration, success: true, durationMs: result.meta.durationMs, source: SOURCE });
      const resources = input.operation === "search-all" ? resourcesOf(result.body) : undefined;
      if (inFlight === 0) {
        show("ok", resources ? `${resources.length} resources` : `${result.meta.status} ${input.operation}`);
      }
      if (resources && outputResources) {
        sendEach(RED, msg, resources, send);
      } else {
        msg.payload = result.body;
        send(msg);
      }
    });

    node.on("close", (done: () => void) => {
      aborter.abort();
      shown = "";
      status.clear(node);
      done();
    });
  }

  RED.nodes.registerType("fhir-request", FhirRequest);
};
