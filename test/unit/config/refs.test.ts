// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about the ${...} syntax
import { describe, expect, it } from "vitest";
import {
  collectRefs,
  KeyVaultSecret,
  parseExpression,
  Ref,
  replaceKeyVaultSecrets,
  resolveRefs,
  specCodec,
  splitInterpolation,
  Template,
} from "../../../src/config/refs.js";
import { closest, editDistance } from "../../../src/config/suggest.js";
import { Secret } from "../../../src/lib/secret.js";

const cluster = new Ref("databricks.cluster", "ml", "id", "clusters");
const repo = new Ref("databricks.repo", "app", "path", "repos");

describe("the ${...} syntax", () => {
  it("splits text and expressions, with $${ for a literal ${", () => {
    expect(splitInterpolation("a-${var.x}-$${y}")).toEqual({
      segments: [{ text: "a-" }, { expr: "var.x", offset: 2 }, { text: "-${y}" }],
    });
    expect(splitInterpolation("")).toEqual({ segments: [{ text: "" }] });
    expect(splitInterpolation("${var.x").error).toBe('unterminated reference "${var.x"');
    expect(splitInterpolation("${a${b}}").error).toBe('references cannot be nested: "${a${b}"');
  });

  it("parses each kind of expression", () => {
    expect(parseExpression("var.node_type")).toEqual({ type: "var", name: "node_type" });
    expect(parseExpression("env.HOST")).toEqual({ type: "env", name: "HOST" });
    expect(parseExpression("env.HOST:-http://localhost:8080")).toEqual({
      type: "env",
      name: "HOST",
      fallback: "http://localhost:8080",
    });
    expect(parseExpression("env.EMPTY:-")).toEqual({ type: "env", name: "EMPTY", fallback: "" });
    expect(parseExpression("resources.jobs.nightly.id")).toEqual({
      type: "resource",
      section: "jobs",
      name: "nightly",
      field: "id",
    });
    expect(parseExpression("environment.name")).toEqual({ type: "environment" });
    expect(parseExpression("project.name")).toEqual({ type: "project" });
    expect(parseExpression("resources.jobs.nightly")).toBe(
      'expected ${resources.<kind>.<name>.<field>}, got "${resources.jobs.nightly}"',
    );
    expect(parseExpression("env.1X")).toBe('"${env.1X}" is not a valid environment variable reference');
    expect(parseExpression("bundle.target")).toMatch(/^unknown reference "\$\{bundle.target\}"/);
  });
});

describe("placeholders", () => {
  it("serialise to the reference as written", () => {
    expect(JSON.stringify({ a: cluster })).toBe('{"a":"${resources.clusters.ml.id}"}');
    const t = new Template(["/Workspace", repo, "/${literal}"]);
    expect(String(t)).toBe("/Workspace${resources.repos.app.path}/$${literal}");
    expect(t.refs).toEqual([repo]);
    expect(new KeyVaultSecret("https://kv.vault.azure.net", "s").vaultUrl).toBe("https://kv.vault.azure.net/");
    expect(JSON.stringify(new KeyVaultSecret("kv", "s", "v1"))).toBe('"azure_key_vault(kv/s/v1)"');
  });

  it("are found and resolved by the engine's codec", () => {
    const spec = {
      existing_cluster_id: cluster,
      notebook_task: { notebook_path: new Template([repo, "/train"]) },
      tags: [cluster, "x"],
    };
    expect(collectRefs(spec)).toEqual([cluster, repo, cluster]);
    const values: Record<string, string> = {
      "databricks.cluster.ml.id": "0101-abc",
      "databricks.repo.app.path": "/Repos/ci/app",
    };
    const lookup = (r: Ref) => values[`${r.kind}.${r.name}.${r.field}`];
    expect(specCodec.resolveRefs(spec, lookup)).toEqual({
      existing_cluster_id: "0101-abc",
      notebook_task: { notebook_path: "/Repos/ci/app/train" },
      tags: ["0101-abc", "x"],
    });
    const unknown = Symbol("unknown");
    expect(resolveRefs({ p: new Template([repo, "/x"]) }, () => unknown)).toEqual({ p: unknown });
  });

  it("split secrets out of a spec for state and fingerprints", () => {
    const spec = {
      key: "k",
      string_value: Secret.from("canary-value-1234"),
      nested: { list: [Secret.from("another-secret-99")] },
    };
    const { clean, values } = specCodec.sensitive(spec);
    expect(clean).toEqual({ key: "k", nested: { list: [undefined] } });
    expect(values).toEqual({ string_value: "canary-value-1234", "nested.list.0": "another-secret-99" });
    expect(() => specCodec.sensitive({ v: new KeyVaultSecret("kv", "s") })).toThrow(/has not been fetched/);
  });

  it("fetch Key Vault secrets when asked", async () => {
    const spec = { string_value: new KeyVaultSecret("kv", "sp-secret"), other: [new KeyVaultSecret("kv", "b")] };
    const fetched = await replaceKeyVaultSecrets(spec, async (r) => Secret.from(`value-of-${r.secret}`));
    expect((fetched.string_value as unknown as Secret).reveal()).toBe("value-of-sp-secret");
    expect((fetched.other[0] as unknown as Secret).reveal()).toBe("value-of-b");
  });
});

describe("did you mean", () => {
  it("counts transpositions as one edit", () => {
    expect(editDistance("mian", "main")).toBe(1);
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
  });

  it("suggests close names only", () => {
    expect(closest("node_type", ["node_type_id", "driver_node_type_id"])).toBe("node_type_id");
    expect(closest("GITHUB", ["gitHub", "gitLab"])).toBe("gitHub");
    expect(closest("cluster", ["clusters", "cluster_policies"])).toBe("clusters");
    expect(closest("banana", ["name", "tasks", "tags"])).toBeUndefined();
    expect(closest("ab", ["xy"])).toBeUndefined();
  });
});
