import type { Request, Response } from "express";
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import {
  BUILTIN_MAPPING_NAMES,
  builtinIdentifierSystems,
  builtinMappings,
  builtinSamples,
  compileBuiltin,
  compileMappingConfig,
  isMapDirection,
  mapPayload,
  REFUSED_MODES,
  refusalsOf,
  transformCatalog,
  validatorNames,
  type CompiledMapping,
  type IndexedError,
  type IndexedWarning,
  type MapDirection,
  type MappingConfig,
  type MapRefusal,
  type PayloadOutcome,
} from "../../lib/mapping";
import { onInput, type Send } from "../shared/input";
import { status } from "../shared/status";

interface PmsFhirMapDef extends NodeDef {
  mapping: string;
  direction: string;
  rules?: unknown;
  identifierSystem?: string;
  /** Where records that do not map go (REFUSED_MODES); absent: the second output. */
  refused?: string;
}

interface MappingMeta {
  direction: MapDirection;
  warnings?: IndexedWarning[];
  errors?: IndexedError[];
  refused?: MapRefusal[];
}

type MapMsg = NodeMessageInFlow & { mapping?: MappingMeta };

/** Status refreshes at most this often: a status per message would flood the editor. */
const STATUS_INTERVAL_MS = 1000;

function compileErrorsOf(err: unknown): IndexedError[] {
  const details = (err as { details?: { errors?: IndexedError[] } } | null)?.details;
  return Array.isArray(details?.errors) ? details.errors : [];
}

/** "msg" mode: one msg on the first output, the mapped records (or null) with msg.mapping.refused. */
function together(
  msg: MapMsg,
  direction: MapDirection,
  outcome: Exclude<PayloadOutcome, { kind: "input" }>,
): [NodeMessage, null] {
  const refused = refusalsOf(msg.payload, outcome.errors);
  const warnings = outcome.warnings;
  msg.payload = outcome.kind === "single" ? (outcome.value ?? null) : outcome.mapped;
  msg.mapping = { direction, warnings, errors: outcome.errors, refused };
  return [msg, null];
}

/** What one msg becomes on the two outputs (either may be null). */
function outputsFor(
  RED: NodeAPI,
  msg: MapMsg,
  direction: MapDirection,
  outcome: Exclude<PayloadOutcome, { kind: "input" }>,
): [NodeMessage | null, NodeMessage | null] {
  if (outcome.kind === "single") {
    if (outcome.value === undefined) {
      msg.mapping = { direction, errors: outcome.errors, warnings: outcome.warnings };
      return [null, msg];
    }
    msg.payload = outcome.value;
    msg.mapping = { direction, warnings: outcome.warnings };
    return [msg, null];
  }
  const invalidIndexes = new Set(outcome.errors.map((e) => e.index));
  const validWarnings = outcome.warnings.filter((w) => !invalidIndexes.has(w.index));
  const invalidWarnings = outcome.warnings.filter((w) => invalidIndexes.has(w.index));
  if (outcome.invalid.length === 0) {
    msg.payload = outcome.mapped;
    msg.mapping = { direction, warnings: validWarnings };
    return [msg, null];
  }
  if (outcome.mapped.length === 0) {
    msg.mapping = { direction, errors: outcome.errors, warnings: invalidWarnings };
    return [null, msg];
  }
  // Two msgs leave: the second is a copy made without the payload, which each then gets.
  msg.payload = undefined;
  const invalidMsg = RED.util.cloneMessage(msg) as MapMsg;
  msg.payload = outcome.mapped;
  msg.mapping = { direction, warnings: validWarnings };
  invalidMsg.payload = outcome.invalid;
  invalidMsg.mapping = { direction, errors: outcome.errors, warnings: invalidWarnings };
  return [msg, invalidMsg];
}

export = function (RED: NodeAPI) {
  function PmsFhirMap(this: Node, def: PmsFhirMapDef) {
    RED.nodes.createNode(this, def);
    start(this, def);
  }

  function start(node: Node, def: PmsFhirMapDef): void {
    const direction: MapDirection | undefined = isMapDirection(def.direction) ? def.direction : undefined;
    let mapping: CompiledMapping | undefined;
    let configError: PackError | undefined;
    try {
      if (!direction) {
        throw new PackError(
          CODES.MAP_COMPILE,
          `direction must be to-fhir or to-pms, not ${JSON.stringify(def.direction)}`,
          {
            errors: [
              {
                field: "direction",
                rule: -1,
                label: "direction",
                message: "direction must be to-fhir or to-pms",
                code: CODES.MAP_COMPILE,
              },
            ],
          },
        );
      }
      mapping = compileMappingConfig({
        mapping: def.mapping,
        rules: def.rules,
        identifierSystem: def.identifierSystem,
      });
    } catch (err) {
      configError =
        err instanceof PackError
          ? err
          : new PackError(CODES.MAP_COMPILE, `invalid mapping: ${(err as Error).message}`);
      status.failed(node, "invalid mapping");
    }

    const refusedMode = (def.refused ?? "").trim() || "output";
    if (!configError && !(REFUSED_MODES as readonly string[]).includes(refusedMode)) {
      configError = new PackError(
        CODES.MAP_COMPILE,
        `refused records must go to output or msg, not ${JSON.stringify(def.refused)}`,
      );
      status.failed(node, "invalid mapping");
    }

    let mapped = 0;
    let invalid = 0;
    let shown = "";
    let timer: NodeJS.Timeout | undefined;
    function showCounts(): void {
      timer = undefined;
      const text = invalid > 0 ? `${mapped} ok, ${invalid} invalid` : `${mapped} mapped`;
      if (text === shown) return;
      shown = text;
      if (invalid > 0) status.degraded(node, text);
      else status.ok(node, text);
    }
    function count(ok: number, bad: number): void {
      mapped += ok;
      invalid += bad;
      if (!timer) timer = setTimeout(showCounts, shown === "" ? 0 : STATUS_INTERVAL_MS);
    }

    onInput<MapMsg>(node, CODES.MAP_INPUT, (msg, send: Send) => {
      if (configError || !mapping || !direction) {
        msg.mapping = { direction: direction ?? "to-fhir", errors: compileErrorsOf(configError) };
        throw configError ?? new PackError(CODES.MAP_COMPILE, "invalid mapping");
      }
      const outcome = mapPayload(mapping, direction, msg.payload);
      if (outcome.kind === "input") {
        msg.mapping = { direction, errors: outcome.errors };
        throw new PackError(CODES.MAP_INPUT, outcome.errors[0].message, { errors: outcome.errors });
      }
      const outputs =
        refusedMode === "msg" ? together(msg, direction, outcome) : outputsFor(RED, msg, direction, outcome);
      if (outcome.kind === "single")
        count(outcome.value === undefined ? 0 : 1, outcome.value === undefined ? 1 : 0);
      else count(outcome.mapped.length, outcome.invalid.length);
      send(outputs);
    });

    node.on("close", () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      status.clear(node);
    });
  }

  RED.nodes.registerType("pms-fhir-map", PmsFhirMap);

  const samples: Record<string, { pms: unknown; fhir: unknown }> = {};
  for (const name of BUILTIN_MAPPING_NAMES) {
    samples[name] = {
      pms: builtinSamples[name],
      fhir: compileBuiltin(name).toFhir(builtinSamples[name]).value,
    };
  }

  RED.httpAdmin.get(
    "/pms-fhir-map/builtins",
    RED.auth.needsPermission("pms-fhir-map.read"),
    (_req: Request, res: Response) => {
      res.json({
        mappings: builtinMappings,
        samples,
        identifierSystems: builtinIdentifierSystems,
        transforms: transformCatalog,
        validators: validatorNames,
      });
    },
  );

  /**
   * The editor's "try it": the node's own engine on a sample, without deploying. Answers what
   * the node would send on each output, or the compile errors of the rules.
   */
  RED.httpAdmin.post(
    "/pms-fhir-map/try",
    RED.auth.needsPermission("pms-fhir-map.write"),
    (req: Request, res: Response) => {
      const body = req.body as Partial<MappingConfig & { direction: unknown; record: unknown }> | undefined;
      if (
        !body ||
        typeof body !== "object" ||
        typeof body.mapping !== "string" ||
        !isMapDirection(body.direction)
      ) {
        res
          .status(400)
          .json({ error: "expected { mapping, direction, rules?, identifierSystem?, record? }" });
        return;
      }
      let mapping: CompiledMapping;
      try {
        mapping = compileMappingConfig({
          mapping: body.mapping,
          rules: body.rules,
          identifierSystem: typeof body.identifierSystem === "string" ? body.identifierSystem : undefined,
        });
      } catch (err) {
        res.json({ compileErrors: compileErrorsOf(err) });
        return;
      }
      if (body.record === undefined) {
        res.json({ compileErrors: [] });
        return;
      }
      const outcome = mapPayload(mapping, body.direction, body.record);
      if (outcome.kind === "input") {
        res.json({ compileErrors: [], inputErrors: outcome.errors });
        return;
      }
      const msg = { _msgid: "try", payload: body.record } as MapMsg;
      const [valid, bad] = outputsFor(RED, msg, body.direction, outcome);
      const strip = (m: NodeMessage | null) =>
        m ? { payload: m.payload, mapping: (m as MapMsg).mapping } : null;
      res.json({ compileErrors: [], outputs: [strip(valid), strip(bad)] });
    },
  );
};
