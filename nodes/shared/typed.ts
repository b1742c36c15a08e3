import type { Node, NodeAPI, NodeMessage } from "node-red";
import type { ErrorCode } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";

/** The sources a typed property may name, as the editor's typedInput stores them in `<property>Type`. */
export const TYPED_SOURCES = ["str", "msg", "flow", "global", "env", "jsonata"] as const;
export type TypedSource = (typeof TYPED_SOURCES)[number];

/** A node property stored as a value and its source (`resourceType` and `resourceTypeType`). */
export interface TypedProperty {
  /** The property as the node's help names it ("resource type"). */
  readonly label: string;
  readonly source: TypedSource;
  /** The value as written in the flow: the text, a property path, a variable name or an expression. */
  readonly value: string;
  /** No value written: the property is not set, whatever its source. */
  readonly empty: boolean;
  /** Where a value comes from, for error messages: "msg.target.type", "env PMS_PATH", "its JSONata expression". */
  readonly from: string;
  /** The value for one msg: the text itself for "str", else read or evaluated now. */
  evaluate(msg: NodeMessage): Promise<unknown>;
}

function describeSource(source: TypedSource, value: string): string {
  switch (source) {
    case "str":
      return "the node";
    case "msg":
      return `msg.${value.replace(/^msg\./, "")}`;
    case "flow":
    case "global":
      return `${source} context ${value}`;
    case "env":
      return `env ${value}`;
    case "jsonata":
      return "its JSONata expression";
  }
}

/**
 * A typed property of a node, read at deploy: a missing source is "str" (flows from before the
 * property was typed). The expression is prepared once, here.
 */
export function typedProperty(
  RED: NodeAPI,
  node: Node,
  spec: {
    label: string;
    value: unknown;
    type: unknown;
    /** For an unknown source or an expression that does not parse. */
    configCode: ErrorCode;
    /** For a value that cannot be read or evaluated for a msg. */
    inputCode: ErrorCode;
  },
): TypedProperty {
  const type = typeof spec.type === "string" && spec.type !== "" ? spec.type : "str";
  if (!(TYPED_SOURCES as readonly string[]).includes(type)) {
    throw new PackError(
      spec.configCode,
      `${spec.label} has an unknown source "${type.slice(0, 20)}": use ${TYPED_SOURCES.join(", ")}`,
      { property: spec.label },
    );
  }
  const source = type as TypedSource;
  const value =
    typeof spec.value === "string" ? spec.value : typeof spec.value === "number" ? String(spec.value) : "";
  const empty = value.trim() === "";
  const from = describeSource(source, value.trim());
  const fail = (code: ErrorCode, message: string) =>
    new PackError(code, `${spec.label} from ${from}: ${message}`, { property: spec.label, source });

  let expression: ReturnType<NodeAPI["util"]["prepareJSONataExpression"]> | undefined;
  if (source === "jsonata" && !empty) {
    try {
      expression = RED.util.prepareJSONataExpression(value, node);
    } catch (err) {
      throw fail(spec.configCode, `the expression does not parse: ${(err as Error).message}`);
    }
  }

  function evaluate(msg: NodeMessage): Promise<unknown> {
    if (source === "str" || empty) return Promise.resolve(value);
    return new Promise((resolve, reject) => {
      const done = (err: Error | null | undefined, result?: unknown) => {
        if (err) reject(fail(spec.inputCode, err.message));
        else resolve(result);
      };
      try {
        if (expression) RED.util.evaluateJSONataExpression(expression, msg, done);
        else RED.util.evaluateNodeProperty(value.trim(), source, node, msg, done);
      } catch (err) {
        reject(fail(spec.inputCode, (err as Error).message));
      }
    });
  }

  return { label: spec.label, source, value, empty, from, evaluate };
}
