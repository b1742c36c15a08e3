import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { reportHealth } from "../../lib/health/bus";
import type { ClientHooks, LegacyRequestInfo } from "../../lib/legacy/client";
import { onInput } from "../shared/input";
import { sendEach } from "../shared/sequence";
import { status } from "../shared/status";
import { typedProperty, type TypedProperty } from "../shared/typed";
import type { LegacyApiNode } from "../legacy-api/types";
import { pathFrom, planOf, requestOf, type HmacRequestProps, type RequestPlan } from "./input";

interface HmacRequestDef extends NodeDef, HmacRequestProps {
  api: string;
  integration?: string;
}

interface LegacyMeta {
  status: number;
  durationMs: number;
  request?: LegacyRequestInfo;
  /** Paging: pages fetched and items returned. */
  pages?: number;
  count?: number;
  /** The error answer's body, when the API answered with an error. */
  body?: unknown;
  /** The wait the API asked for with Retry-After on its error answer (ms). */
  retryAfterMs?: number;
}

type LegacyMsg = NodeMessageInFlow & { legacy?: LegacyMeta; parts?: Record<string, unknown> };

const SOURCE = "hmac-request";

export = function (RED: NodeAPI) {
  function HmacRequest(this: Node, def: HmacRequestDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: HmacRequestDef): void {
    const api = RED.nodes.getNode(def.api) as LegacyApiNode | null;
    const integration = (def.integration ?? "").trim() || "legacy";
    const aborter = new AbortController();
    let inFlight = 0;
    let shown = "";
    function show(kind: "ok" | "working" | "degraded" | "failed", text: string): void {
      const key = `${kind}:${text}`;
      if (key === shown) return;
      shown = key;
      status[kind](node, text);
    }

    let plan: RequestPlan | undefined;
    let path: TypedProperty | undefined;
    let planError: string | undefined;
    try {
      plan = planOf(def);
      path = typedProperty(RED, node, {
        label: "path",
        value: def.path,
        type: def.pathType,
        configCode: CODES.LEGACY_CONFIG,
        inputCode: CODES.LEGACY_BAD_INPUT,
      });
    } catch (err) {
      planError = (err as Error).message;
    }
    if (!api) show("failed", "no api");
    else if (!api.client) show("failed", "api config");
    else if (planError) show("failed", "bad config");

    const hooks: ClientHooks = {
      onRetry: (notice) => show("degraded", `retry ${notice.retry} (${notice.cause})`),
      onOutcome: (notice) => {
        if (aborter.signal.aborted) return;
        reportHealth({
          integration,
          success: notice.success,
          durationMs: notice.durationMs,
          error: notice.error,
          source: SOURCE,
        });
      },
    };

    onInput<LegacyMsg>(node, CODES.LEGACY_ERROR, async (msg, send) => {
      const client = api?.client;
      if (!client || !plan || !path) {
        show("failed", !api ? "no api" : !client ? "api config" : "bad config");
        throw new PackError(
          CODES.LEGACY_CONFIG,
          !api
            ? "no legacy-api configured"
            : !client
              ? `legacy-api is not usable: ${api.configError ?? "closed"}`
              : `hmac-request: ${planError}`,
        );
      }
      let request;
      try {
        const template = path.source === "str" ? undefined : pathFrom(await path.evaluate(msg), path.from);
        request = requestOf(plan, msg as unknown as Record<string, unknown>, template);
      } catch (err) {
        show("failed", "bad input");
        throw err;
      }
      request.signal = aborter.signal;
      if (inFlight++ === 0) show("working", plan.method);
      const started = performance.now();
      try {
        if (plan.paging) {
          const result = await client.paginate(request, plan.paging, hooks);
          msg.legacy = {
            status: result.last.status,
            durationMs: result.durationMs,
            request: result.last.request,
            pages: result.pages,
            count: result.items.length,
          };
          if (--inFlight === 0) show("ok", `${result.items.length} items`);
          if (plan.each) sendEach(RED, msg, result.items, send);
          else {
            msg.payload = result.items;
            send(msg);
          }
          return;
        }
        const response = await client.request(request, hooks);
        msg.legacy = { status: response.status, durationMs: response.durationMs, request: response.request };
        msg.payload = response.body;
        if (--inFlight === 0) show("ok", `${response.status} ${plan.method}`);
        send(msg);
      } catch (err) {
        inFlight--;
        const details = (err as PackError).details as {
          status?: number;
          body?: unknown;
          request?: LegacyRequestInfo;
          retryAfterMs?: number;
        };
        msg.legacy = {
          status: details?.status ?? 0,
          durationMs: performance.now() - started,
          request: details?.request,
          body: details?.body,
          ...(details?.retryAfterMs === undefined ? {} : { retryAfterMs: details.retryAfterMs }),
        };
        if (!aborter.signal.aborted) {
          const code = (err as PackError).code ?? CODES.LEGACY_ERROR;
          show(
            "failed",
            details?.status ? `${details.status} ${plan.method}` : code.replace(/^LEGACY_/, "").toLowerCase(),
          );
        }
        throw err;
      }
    });

    node.on("close", (done: () => void) => {
      aborter.abort();
      shown = "";
      status.clear(node);
      done();
    });
  }

  RED.nodes.registerType("hmac-request", HmacRequest);
};
