import type { NodeInstance, NodeProperties, NodePropertiesDef } from "@node-red/editor-client";

/**
 * Validators that say why. Node-RED (>= 3) shows a validator's reason when the pointer rests on a
 * field it marks, and lists it under the node's invalid properties, but only from a validator
 * declared with two parameters that returns a string; and it names the field in its own reasons
 * (a required value missing, a config node missing) only for a property definition with a label.
 * `withReasons` gives every property of a node's defaults its label, from the node's catalog:
 * `<type>.field.<prop>` for a field whose form row names several (health-monitor's "Healthy:
 * success >= ... latency <= ..."), else the field's label `<type>.label.<prop>`; and every
 * validator a reason: "<label>: <why>", where "why" is the text the validator answers with
 * (`numberField`'s rule, a lib check's message).
 */

/** A validator as the pack writes it: true, or false or the reason the value is refused. */
export type Validator<P extends NodeProperties> = (this: NodeInstance<P>, value: string) => boolean | string;
type ReasonedDefs<P extends NodeProperties> = {
  [K in keyof P]: { value: P[K] | ""; required?: boolean; type?: string; validate?: Validator<P> };
};

/** The catalog text of `key` for `type`, or undefined when its catalog has none. */
function catalogText(type: string, key: string): string | undefined {
  const def = RED.nodes.getType(type) as { _?: (key: string) => string } | null;
  if (typeof def?._ !== "function") return undefined;
  const text = def._(key);
  return text && text !== key ? text : undefined;
}

/** A label as the form writes it, without the colon some catalogs end it with. */
function bare(label: string): string {
  return label.replace(/\s*:\s*$/, "").trim();
}

/** Answers `reason` unless `ok`. */
export function unless(ok: boolean, reason: string): true | string {
  return ok || reason;
}

/** What a validator that checks by throwing (a lib check) answers: true, or the error's message. */
export function checked(check: () => void): true | string {
  try {
    check();
    return true;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export function withReasons<P extends NodeProperties>(
  type: string,
  defs: ReasonedDefs<P>,
): NodePropertiesDef<P> {
  for (const [prop, def] of Object.entries(defs) as [string, { validate?: Validator<P>; label?: string }][]) {
    if (!("label" in def)) {
      Object.defineProperty(def, "label", {
        enumerable: true,
        get: () =>
          bare(
            catalogText(type, `${type}.field.${prop}`) ?? catalogText(type, `${type}.label.${prop}`) ?? prop,
          ),
      });
    }
    const check = def.validate;
    if (typeof check !== "function") continue;
    // Two parameters: Node-RED reads a validator of length 2 as one that may answer with a reason.
    def.validate = function (
      this: NodeInstance<P>,
      value: string,
      opt?: { label?: string },
    ): boolean | string {
      const answer = (check as (this: NodeInstance<P>, value: string, opt: object) => boolean | string).call(
        this,
        value,
        {},
      );
      if (answer === true) return true;
      if (opt === undefined) return false;
      const why = typeof answer === "string" ? answer : "not a value this field accepts";
      return `${opt.label ?? def.label ?? prop}: ${why}`;
    } as Validator<P>;
  }
  return defs as unknown as NodePropertiesDef<P>;
}

/**
 * The value of the field `input` of the open dialog when that dialog edits `node`, else
 * `fallback` (the node's saved value): a validator that depends on another field reads what
 * the analyst has chosen so far, not what was saved.
 */
export function liveValue(
  node: { id?: string },
  input: string,
  fallback: string | undefined,
): string | undefined {
  const stack = (RED.editor as unknown as { getEditStack?: () => { id?: string }[] }).getEditStack?.() ?? [];
  if (stack.length === 0 || stack[stack.length - 1].id !== node.id) return fallback;
  const value: unknown = $(input).val();
  return typeof value === "string" ? value : fallback;
}

/** Marks `field` as Node-RED marks an invalid input, with `reason` on hover; clears it for undefined. */
export function markField(field: JQuery, reason: string | undefined): void {
  field.toggleClass("input-error", reason !== undefined);
  let tooltip = field.data("tooltip") as { setContent(text: string): void; delete(): void } | undefined;
  if (reason === undefined) {
    tooltip?.delete();
    field.data("tooltip", null);
  } else if (tooltip) {
    tooltip.setContent(reason);
  } else {
    tooltip = RED.popover.tooltip(field, reason) as unknown as typeof tooltip;
    field.data("tooltip", tooltip);
  }
}
