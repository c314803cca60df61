import { z } from "zod";
import { documentForEditors } from "./schema/document.js";

/** The JSON Schema of `lakeforge.yaml` for editors, generated from the same schemas the loader uses. */

/** A value holding `${...}` references, accepted wherever something other than free text is expected. */
const REFERENCE_DEF = {
  type: "string",
  pattern: "\\$\\{[^}]+\\}",
  description: `A value with references: \${var.name}, \${env.NAME}, \${resources.<kind>.<name>.<field>}`,
};
const REFERENCE = { $ref: "#/$defs/reference" };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function transform(node: unknown, partial: boolean): unknown {
  if (Array.isArray(node)) return node.map((n) => transform(n, partial));
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "required" && partial) continue;
    if ((k === "minimum" && v === Number.MIN_SAFE_INTEGER) || (k === "maximum" && v === Number.MAX_SAFE_INTEGER)) continue;
    if (k === "properties" && isObject(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, transform(s, partial)]));
    } else out[k] = transform(v, partial);
  }
  const t = out.type;
  const constrainedString = t === "string" && (Array.isArray(out.enum) || typeof out.pattern === "string");
  // A whole-value reference may also stand for a map or list of plain values (a complex variable,
  // another resource's `custom_tags`, ...).
  const scalarType = (x: unknown) => isObject(x) && ["string", "integer", "number", "boolean"].includes(x.type as string);
  const plainMap = t === "object" && scalarType(node.additionalProperties);
  const plainList = t === "array" && scalarType(node.items);
  if (t === "integer" || t === "number" || t === "boolean" || constrainedString || plainMap || plainList) {
    const { description, ...rest } = out;
    return description === undefined ? { anyOf: [rest, REFERENCE] } : { description, anyOf: [rest, REFERENCE] };
  }
  return out;
}

/** The JSON Schema document (draft 2020-12). */
export function configJsonSchema(): Json {
  const raw = z.toJSONSchema(documentForEditors, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
  }) as Json;
  const { $schema, $defs: rawDefs, ...rest } = raw;
  const defs: Json = { ...(transform(rawDefs ?? {}, false) as Json), reference: REFERENCE_DEF };
  const doc = transform(rest, false) as Json;
  // Environment overrides are partial: a field set in the shared definition need not be repeated,
  // and `null` removes a field or a resource. They use copies of the definitions without `required`.
  const partialDefs: Json = {};
  const nullable = (schema: unknown) => ({ anyOf: [schema, { type: "null" }] });
  const partial = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(partial);
    if (!isObject(node)) return node;
    const out: Json = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === "required") continue;
      if (k === "properties" && isObject(v)) {
        out[k] = Object.fromEntries(Object.entries(v).map(([p, x]) => [p, nullable(partial(x))]));
        continue;
      }
      if (k === "additionalProperties" && isObject(v)) {
        out[k] = nullable(partial(v));
        continue;
      }
      if (k === "$ref" && typeof v === "string" && v.startsWith("#/$defs/") && v !== REFERENCE.$ref) {
        const name = v.slice("#/$defs/".length);
        const copy = `${name}_partial`;
        if (!(copy in partialDefs)) {
          partialDefs[copy] = {};
          partialDefs[copy] = partial(defs[name]);
        }
        out[k] = `#/$defs/${copy}`;
      } else out[k] = partial(v);
    }
    return out;
  };
  const envs = (doc.properties as Json | undefined)?.environments as Json | undefined;
  const entry = envs?.additionalProperties as Json | undefined;
  const props = entry?.properties as Json | undefined;
  if (props?.resources) props.resources = partial(props.resources);
  if (props?.azure) props.azure = partial(props.azure);
  const allDefs: Json = { ...defs, ...partialDefs };
  const sortedDefs = Object.fromEntries(
    Object.keys(allDefs)
      .sort()
      .map((k) => [k, allDefs[k]]),
  );
  // `x-` keys at the top level hold YAML anchors and are ignored.
  return { $schema, title: "lakeforge.yaml", ...doc, patternProperties: { "^x-": {} }, $defs: sortedDefs };
}

/** The committed file's content: the schema as pretty JSON with a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
