import { createRequire } from "node:module";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";

/**
 * Checks requests and responses against GitHub's published OpenAPI description (`@octokit/openapi`,
 * api.github.com). Operations are compiled on first use; `$ref`s resolve inside the description.
 */

interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: Record<string, unknown>;
  $ref?: string;
}

interface Operation {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }>; $ref?: string }>;
}

interface Description {
  paths: Record<string, Record<string, Operation>>;
  components: {
    parameters: Record<string, Parameter>;
    responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
  };
}

const SPEC_ID = "https://api.github.com/openapi.json";

let loaded: Description | undefined;
function description(): Description {
  if (!loaded) {
    const require = createRequire(import.meta.url);
    loaded = require("@octokit/openapi/generated/api.github.com.json") as Description;
  }
  return loaded;
}

export interface MatchedOperation {
  template: string;
  method: string;
  operationId: string;
  pathParams: Record<string, string>;
}

interface Compiled {
  op: Operation;
  params: Parameter[];
  path?: ValidateFunction;
  query?: ValidateFunction;
  body?: ValidateFunction;
  responses: Map<string, ValidateFunction | null>;
}

const rewriteRefs = (schema: unknown): unknown => {
  // Refs inside the description are document-relative ("#/components/..."): point them at its id.
  if (Array.isArray(schema)) return schema.map(rewriteRefs);
  if (schema && typeof schema === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(schema)) {
      out[k] = k === "$ref" && typeof v === "string" && v.startsWith("#") ? `${SPEC_ID}${v}` : rewriteRefs(v);
    }
    // OpenAPI 3.0 `nullable` without `type` (next to allOf/anyOf/$ref): null or the schema.
    if (out.nullable === true && out.type === undefined) {
      const { nullable: _n, ...rest } = out;
      return { anyOf: [rest, { type: "null" }] };
    }
    return out;
  }
  return schema;
};

const formatErrors = (errors: ErrorObject[] | null | undefined) =>
  (errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || "/"} ${e.message ?? ""}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`)
    .join("; ");

export class OpenApiValidator {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, Compiled>();
  private readonly templates: { method: string; template: string; regex: RegExp; names: string[] }[] = [];

  /** @param operations `METHOD /template` strings the fake serves; only these are compiled. */
  constructor(operations: readonly string[]) {
    const spec = description();
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    this.ajv.addKeyword({ keyword: "x-github" });
    this.ajv.addSchema({
      $id: SPEC_ID,
      components: { schemas: rewriteRefs((spec.components as Record<string, unknown>).schemas) },
    });
    for (const o of operations) {
      const [method, template] = o.split(" ") as [string, string];
      if (!spec.paths[template]?.[method.toLowerCase()]) throw new Error(`the description has no operation ${o}`);
      const names: string[] = [];
      const source = template.replace(/\{([^}]+)\}/g, (_, n: string) => {
        names.push(n);
        // A git ref may hold slashes (heads/feature/x); every other parameter is one segment.
        return n === "ref" ? "(.+)" : "([^/]+)";
      });
      this.templates.push({ method, template, regex: new RegExp(`^${source}$`), names });
    }
    // Literal paths win over templated ones (/user/repos before /users/{username}).
    this.templates.sort((a, b) => a.names.length - b.names.length);
  }

  match(method: string, pathname: string): MatchedOperation | undefined {
    for (const t of this.templates) {
      if (t.method !== method) continue;
      const m = t.regex.exec(pathname);
      if (!m) continue;
      const pathParams: Record<string, string> = {};
      t.names.forEach((n, i) => {
        pathParams[n] = decodeURIComponent(m[i + 1] as string);
      });
      const op = this.operation(method, t.template).op;
      return { template: t.template, method, operationId: op.operationId, pathParams };
    }
    return undefined;
  }

  private resolveParam(p: Parameter): Parameter {
    if (!p.$ref) return p;
    const name = p.$ref.replace("#/components/parameters/", "");
    const found = description().components.parameters[name];
    if (!found) throw new Error(`unresolved parameter ${p.$ref}`);
    return found;
  }

  private operation(method: string, template: string): Compiled {
    const key = `${method} ${template}`;
    let c = this.compiled.get(key);
    if (c) return c;
    const op = description().paths[template]?.[method.toLowerCase()] as Operation;
    const params = (op.parameters ?? []).map((p) => this.resolveParam(p));
    const group = (where: string) => {
      const ps = params.filter((p) => p.in === where);
      return {
        type: "object",
        properties: Object.fromEntries(ps.map((p) => [p.name, rewriteRefs(p.schema ?? {})])),
        required: ps.filter((p) => p.required).map((p) => p.name),
        additionalProperties: false,
      };
    };
    const bodySchema = op.requestBody?.content?.["application/json"]?.schema;
    c = {
      op,
      params,
      path: this.ajv.compile(group("path")),
      query: this.ajv.compile(group("query")),
      ...(bodySchema ? { body: this.ajv.compile(rewriteRefs(bodySchema) as object) } : {}),
      responses: new Map(),
    };
    this.compiled.set(key, c);
    return c;
  }

  /** Problems with a request, or [] when the description allows it. */
  checkRequest(m: MatchedOperation, query: URLSearchParams, body: unknown, hasBody: boolean): string[] {
    const c = this.operation(m.method, m.template);
    const problems: string[] = [];
    const coerce = (where: "path" | "query", values: Record<string, string>) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(values)) {
        const p = c.params.find((x) => x.in === where && x.name === k);
        const type = (p?.schema as { type?: string } | undefined)?.type;
        out[k] =
          type === "integer" || type === "number"
            ? /^-?\d+(\.\d+)?$/.test(v)
              ? Number(v)
              : v
            : type === "boolean"
              ? v === "true"
                ? true
                : v === "false"
                  ? false
                  : v
              : v;
      }
      return out;
    };
    if (c.path && !c.path(coerce("path", m.pathParams))) problems.push(`path parameters: ${formatErrors(c.path.errors)}`);
    const q = Object.fromEntries(query.entries());
    if (c.query && !c.query(coerce("query", q))) problems.push(`query parameters: ${formatErrors(c.query.errors)}`);
    if (hasBody) {
      if (!c.body) problems.push("a request body the operation does not take");
      else if (!c.body(body)) problems.push(`request body: ${formatErrors(c.body.errors)}`);
    } else if (c.op.requestBody?.required) problems.push("the request body is required");
    return problems;
  }

  /** Problems with a response, or [] when the description allows it. */
  checkResponse(m: MatchedOperation, status: number, body: unknown): string[] {
    const c = this.operation(m.method, m.template);
    const res = c.op.responses[String(status)];
    if (!res) return [`status ${status} is not a documented response of ${m.operationId}`];
    let validate = c.responses.get(String(status));
    if (validate === undefined) {
      let content = res.content;
      if (res.$ref) content = description().components.responses[res.$ref.replace("#/components/responses/", "")]?.content;
      const schema = content?.["application/json"]?.schema;
      validate = schema ? this.ajv.compile(rewriteRefs(schema) as object) : null;
      c.responses.set(String(status), validate);
    }
    if (validate === null) return body === undefined ? [] : [`status ${status} of ${m.operationId} has no body`];
    if (!validate(body)) return [`response ${status} body: ${formatErrors(validate.errors)}`];
    return [];
  }

  private errorValidator: ValidateFunction | undefined;

  /** Problems with an error body against `basic-error`, GitHub's shape for every error answer. */
  checkErrorBody(body: unknown): string[] {
    this.errorValidator ??= this.ajv.compile({ $ref: `${SPEC_ID}#/components/schemas/basic-error` });
    if (body === undefined) return [];
    return this.errorValidator(body) ? [] : [`error body: ${formatErrors(this.errorValidator.errors)}`];
  }
}
