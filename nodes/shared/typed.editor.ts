import type { WidgetTypedInputType } from "@node-red/editor-client";
import { liveValue, unless } from "./reasons.editor";

/** The sources a typed property offers (nodes/shared/typed.ts evaluates them at runtime). */
export const TYPED_TYPES: WidgetTypedInputType[] = ["str", "msg", "flow", "global", "env", "jsonata"];

/** A validator for a property's `<property>Type`: empty (a flow from before it was typed) or one of TYPED_TYPES. */
export function typedSource(v: string): boolean {
  return !v || (TYPED_TYPES as string[]).includes(v);
}

/**
 * A validator for a typed property: a written value (type "str", or none in a flow from before
 * the property was typed) by `written`, any other by the typedInput's own syntax check (a msg
 * or context path, a JSONata expression that parses).
 */
export function typedValue(typeProp: string, written: (v: string) => boolean | string) {
  const syntax = RED.validators.typedInput(typeProp);
  return function (this: Record<string, unknown> & { id?: string }, v: string): boolean | string {
    const saved = typeof this[typeProp] === "string" ? (this[typeProp] as string) : undefined;
    const type = liveValue(this, `#node-input-${typeProp}`, saved) || "str";
    if (type === "str") return written(v);
    return unless(
      syntax.call(this, v),
      `not a valid ${type === "jsonata" ? "JSONata expression" : `${type} property`}`,
    );
  };
}

/** Turns the text field of each property into a typedInput whose type is kept in `<property>Type`. */
export function typedInputs(props: string[]): void {
  for (const p of props) {
    $(`#node-input-${p}`).typedInput({
      default: "str",
      types: TYPED_TYPES,
      typeField: `#node-input-${p}Type`,
    });
  }
}
