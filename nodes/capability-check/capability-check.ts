import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { CONTEXT_KEY_MAX, CONTEXT_KEY_RULE, isContextKey } from "../../lib/context-key";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import type { FhirMeta } from "../../lib/fhir/types";
import type { CapabilitySummary } from "../../lib/fhir/types";
import { reportHealth } from "../../lib/health/bus";
import type { ClientHooks } from "../../lib/legacy/client";
import {
  PMS_PROBES,
  assessmentStatus,
  ehrFailure,
  ehrReport,
  pmsReport,
  probeResult,
  type Assessment,
  type ProbeResult,
} from "../../lib/pipelines/assessment";
import type { FhirServerNode } from "../fhir-server/types";
import type { LegacyApiNode } from "../legacy-api/types";
import { onInput } from "../shared/input";
import { status } from "../shared/status";

interface CapabilityCheckDef extends NodeDef {
  server?: string;
  api?: string;
  fhirIntegration?: string;
  pmsIntegration?: string;
  contextKey?: string;
  contextStore?: string;
}

const SOURCE = "capability-check";

export = function (RED: NodeAPI) {
  function CapabilityCheck(this: Node, def: CapabilityCheckDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: CapabilityCheckDef): void {
    const server = def.server ? (RED.nodes.getNode(def.server) as FhirServerNode | null) : null;
    const api = def.api ? (RED.nodes.getNode(def.api) as LegacyApiNode | null) : null;
    const fhirIntegration = (def.fhirIntegration ?? "").trim() || "fhir";
    const pmsIntegration = (def.pmsIntegration ?? "").trim() || "legacy";
    const contextKey = (def.contextKey ?? "").trim() || undefined;
    const store = (def.contextStore ?? "").trim() || undefined;
    let configError: string | undefined;
    if (!server && !api) configError = "select an EHR (fhir-server), a PMS API (legacy-api), or both";
    else if (contextKey && !isContextKey(contextKey))
      configError = `context key must be ${CONTEXT_KEY_RULE} of up to ${CONTEXT_KEY_MAX} characters, not ${JSON.stringify(contextKey)}`;
    if (configError) status.failed(node, "config error");
    const aborter = new AbortController();

    async function assessEhr(s: FhirServerNode): Promise<Assessment["ehr"]> {
      if (!s.client) return ehrFailure(CODES.FHIR_CONFIG);
      const started = performance.now();
      try {
        const { body, meta } = await s.client.interaction(
          { operation: "capabilities" },
          { signal: aborter.signal },
        );
        reportHealth({
          integration: fhirIntegration,
          success: true,
          durationMs: meta.durationMs,
          source: SOURCE,
        });
        return ehrReport(body as CapabilitySummary);
      } catch (err) {
        const code = (err as PackError).code ?? CODES.FHIR_ERROR;
        const meta = (err as { meta?: FhirMeta }).meta;
        const durationMs = meta?.durationMs ?? performance.now() - started;
        reportHealth({
          integration: fhirIntegration,
          success: false,
          durationMs,
          error: code,
          source: SOURCE,
        });
        return ehrFailure(code, meta?.status);
      }
    }

    async function assessPms(a: LegacyApiNode): Promise<Assessment["pms"]> {
      const results: ProbeResult[] = [];
      let capabilities: unknown;
      const hooks: ClientHooks = {
        onOutcome: (n) => reportHealth({ integration: pmsIntegration, ...n, source: SOURCE }),
      };
      // One at a time, read-only: an API that limits concurrent calls is not disturbed.
      for (const probe of PMS_PROBES) {
        if (!a.client) {
          results.push(probeResult(probe, { code: CODES.LEGACY_CONFIG }));
          continue;
        }
        try {
          const res = await a.client.request(
            { method: "GET", path: `/${probe.resource}`, query: probe.params, signal: aborter.signal },
            hooks,
          );
          results.push(probeResult(probe, { status: res.status, durationMs: res.durationMs }));
          if (probe.name === "capabilities") capabilities = res.body;
        } catch (err) {
          const details = (err as PackError).details as { status?: number } | undefined;
          results.push(
            probeResult(probe, {
              code: (err as PackError).code ?? CODES.LEGACY_ERROR,
              status: details?.status,
            }),
          );
        }
      }
      return pmsReport(results, capabilities);
    }

    function keep(report: Assessment): Promise<void> {
      return new Promise((resolve, reject) =>
        node
          .context()
          .flow.set(contextKey as string, structuredClone(report), store as string, (err?: Error) =>
            err
              ? reject(
                  new PackError(
                    CODES.CAPABILITY_CONTEXT,
                    `cannot keep the assessment in flow context: ${err.message}`,
                  ),
                )
              : resolve(),
          ),
      );
    }

    onInput<NodeMessageInFlow>(node, CODES.CAPABILITY_ERROR, async (msg, send) => {
      if (configError) throw new PackError(CODES.CAPABILITY_CONFIG, configError);
      status.working(node, "assessing");
      const report: Assessment = { at: new Date().toISOString() };
      const [ehr, pms] = await Promise.all([
        server ? assessEhr(server) : undefined,
        api ? assessPms(api) : undefined,
      ]);
      if (ehr) report.ehr = ehr;
      if (pms) report.pms = pms;
      if (aborter.signal.aborted) return;
      const shown = assessmentStatus(report);
      status[shown.kind](node, shown.text);
      if (contextKey) await keep(report);
      msg.topic = "capability assessment";
      msg.payload = report;
      send(msg);
    });

    node.on("close", (done: () => void) => {
      aborter.abort();
      status.clear(node);
      done();
    });
  }

  RED.nodes.registerType("capability-check", CapabilityCheck);
};
