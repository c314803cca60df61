import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configJsonSchema, configJsonSchemaText } from "../../../src/config/json-schema.js";
import { SECTIONS } from "../../../src/config/kinds.js";

const committed = resolve("schema/lakeforge.schema.json");

describe("JSON Schema", () => {
  it("is committed and up to date (run `npm run schema` after changing src/config/schema)", () => {
    expect(readFileSync(committed, "utf8")).toBe(configJsonSchemaText());
  });

  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(configJsonSchema());
  const check = (text: string) => {
    const ok = validate(parse(text, { merge: true }));
    return ok ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  };

  it("lists every resource kind", () => {
    const resources = (configJsonSchema().properties as Record<string, { properties: Record<string, unknown> }>).resources;
    expect(Object.keys(resources?.properties ?? {})).toEqual([...SECTIONS]);
  });

  it("accepts the example and a configuration using every kind", () => {
    expect(check(readFileSync(resolve("examples/platform/lakeforge.yaml"), "utf8"))).toEqual([]);
    expect(check(readFileSync(resolve("test/fixtures/config/valid/kitchen-sink/lakeforge.yaml"), "utf8"))).toEqual([]);
  });

  it("accepts references wherever a number, boolean or choice is expected", () => {
    const text = `project: {name: x}
resources:
  clusters:
    ml:
      cluster_name: ml
      spark_version: "15.4"
      num_workers: \${var.workers}
      enable_elastic_disk: \${var.elastic}
      data_security_mode: \${var.mode}
`;
    expect(check(text)).toEqual([]);
  });

  it("rejects unknown keys, wrong types and bad choices", () => {
    const text = `project: {name: x}
resources:
  clusters:
    ml:
      cluster_name: ml
      spark_version: "15.4"
      num_workers: two
      data_security_mode: SINGLE
      node_type: x
`;
    const errors = check(text);
    expect(errors.some((e) => e.includes("/resources/clusters/ml must NOT have additional properties"))).toBe(true);
    expect(errors.some((e) => e.startsWith("/resources/clusters/ml/num_workers"))).toBe(true);
    expect(errors.some((e) => e.startsWith("/resources/clusters/ml/data_security_mode"))).toBe(true);
  });

  it("makes environment overrides partial, with null removing a field or a resource", () => {
    const text = `project: {name: x}
environments:
  prod:
    resources:
      clusters:
        ml:
          num_workers: 8
          autoscale: null
        scratch: null
`;
    expect(check(text)).toEqual([]);
    expect(check(`project: {name: x}\nresources:\n  clusters:\n    ml:\n      num_workers: 8\n`)).toEqual([
      "/resources/clusters/ml must have required property 'cluster_name'",
      "/resources/clusters/ml must have required property 'spark_version'",
    ]);
  });
});
