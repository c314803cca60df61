import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { data, Evaluator, Lexer, Parser } from "@actions/expressions";
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from "@actions/workflow-parser";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { startGithubFake } from "../fakes/github/server.js";
import { ACTIONLINT, actionlint, HAVE_ACTIONLINT } from "../support/actionlint.js";
import { actionYaml, masksComeFirst, printedLines, ROOT, runAction } from "./helpers.js";

const WORKFLOW = join(ROOT, "examples", "workflows", "init-use-case.yml");
if (!HAVE_ACTIONLINT) console.warn(`Skipping actionlint on the example workflow: ${ACTIONLINT} is missing (npm run setup).`);

const work = mkdtempSync(join(tmpdir(), "lakeforge-action-workflow-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Obj = Record<string, unknown>;
const text = readFileSync(WORKFLOW, "utf8");
const doc = parse(text) as {
  on: { workflow_dispatch: { inputs: Record<string, { type: string; default?: unknown; required?: boolean }> } };
  jobs: Record<string, { steps: Obj[] }>;
};
const steps = Object.values(doc.jobs).flatMap((j) => j.steps);
const lakeforgeStep = steps.find((s) => typeof s.uses === "string" && /\/lakeforge@/.test(s.uses)) as
  | { uses: string; with: Record<string, string> }
  | undefined;

/** A plain value as expression data. */
function toData(v: unknown): data.ExpressionData {
  if (typeof v === "boolean") return new data.BooleanData(v);
  if (typeof v === "number") return new data.NumberData(v);
  if (typeof v === "string") return new data.StringData(v);
  if (v && typeof v === "object")
    return new data.Dictionary(...Object.entries(v).map(([key, value]) => ({ key, value: toData(value) })));
  return new data.Null();
}

/** Evaluates `${{ ... }}` in a `with:` value the way the runner does (GitHub's own expression engine). */
function evaluate(value: string, contexts: Obj): string {
  const names = Object.keys(contexts);
  const ctx = toData(contexts) as data.Dictionary;
  return value.replace(/\$\{\{(.*?)\}\}/g, (_m, expr: string) => {
    const lexed = new Lexer(expr.trim()).lex();
    const tree = new Parser(lexed.tokens, names, []).parse();
    return new Evaluator(tree, ctx).evaluate().coerceString();
  });
}

describe("the example use-case workflow", () => {
  it.skipIf(!HAVE_ACTIONLINT)(
    "passes actionlint",
    async () => {
      const r = await actionlint([WORKFLOW], ROOT);
      const findings = r.findings.map((e) => `${e.line}: ${e.message} [${e.kind}]`);
      expect(findings, r.stderr).toEqual([]);
      expect(r.code).toBe(0);
    },
    120_000,
  );

  it("passes GitHub's workflow parser, runs the action pinned by a tag, and passes only inputs action.yml declares", async () => {
    const parsed = parseWorkflow({ name: "init-use-case.yml", content: text }, new NoOperationTraceWriter());
    expect(parsed.context.errors.getErrors().map(String)).toEqual([]);
    const template = await convertWorkflowTemplate(parsed.context, parsed.value as NonNullable<typeof parsed.value>);
    expect((template.errors ?? []).map((e) => e.Message)).toEqual([]);
    expect(template.jobs.length).toBe(1);

    expect(lakeforgeStep?.uses).toMatch(/^[\w.-]+\/lakeforge@v\d+\.\d+\.\d+$/);
    const declared = Object.keys(actionYaml().inputs);
    expect(Object.keys(lakeforgeStep?.with ?? {}).filter((k) => !declared.includes(k))).toEqual([]);
    expect(lakeforgeStep?.with.command).toBe("init");
    // The dispatch inputs of the workflow it replaces, by their names.
    const dispatch = doc.on.workflow_dispatch.inputs;
    for (const name of [
      "project_name",
      "github_contributor_group",
      "github_admins_group",
      "model_schema",
      "include_feature_store",
    ]) {
      expect(dispatch[name], name).toBeDefined();
      expect(lakeforgeStep?.with[name], name).toBe(`\${{ inputs.${name} }}`);
    }
    // Secrets reach the action as inputs only (never on a command line).
    for (const [name, value] of Object.entries(lakeforgeStep?.with ?? {})) {
      if (/secrets\./.test(value) && /_secret$|_token$/.test(name))
        expect(actionYaml().inputs[name]?.description, name).toMatch(/secret/);
    }
  });

  it("bootstraps a use case when dispatched, with the organisation's variables and secrets", async () => {
    const fake = await startGithubFake();
    try {
      fake.addUser("octo");
      fake.addOrg("acme");
      fake.addTeam("acme", "data-science");
      fake.addTeam("acme", "platform-admins");
      const token = `ghp_CANARYTOKEN${randomBytes(12).toString("hex")}`;
      fake.addToken(token, "octo");
      const staging = `canary-staging-${randomBytes(8).toString("hex")}`;
      const prod = `canary-prod-${randomBytes(8).toString("hex")}`;
      const dispatch = doc.on.workflow_dispatch.inputs;
      const inputs: Obj = Object.fromEntries(Object.entries(dispatch).map(([k, v]) => [k, v.default ?? null]));
      Object.assign(inputs, {
        project_name: "fraud-model",
        github_contributor_group: "data-science",
        github_admins_group: "platform-admins",
        include_feature_store: true,
      });
      const contexts = {
        inputs,
        github: { repository_owner: "acme" },
        vars: {
          DATABRICKS_STAGING_WORKSPACE_HOST: "https://adb-1111.11.azuredatabricks.net",
          DATABRICKS_STAGING_CLIENT_ID: "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d",
        },
        // The older workflow kept plain values as secrets: still read from there.
        secrets: {
          LAKEFORGE_BOOTSTRAP_TOKEN: token,
          DATABRICKS_PROD_WORKSPACE_HOST: "https://adb-2222.22.azuredatabricks.net",
          DATABRICKS_PROD_CLIENT_ID: "6d1f5b0c-8a52-4d7e-9c1a-2b3c4d5e6f70",
          DATABRICKS_STAGING_CLIENT_SECRET: staging,
          DATABRICKS_PROD_CLIENT_SECRET: prod,
        },
      };
      const withInputs = Object.fromEntries(
        Object.entries(lakeforgeStep?.with ?? {}).map(([k, v]) => [k, evaluate(String(v), contexts)]),
      );
      expect(withInputs).toMatchObject({ org: "acme", model_schema: "ml", include_feature_store: "true", dry_run: "false" });

      const r = await runAction(work, withInputs, { GITHUB_API_URL: fake.url, LAKEFORGE_GITHUB_THROTTLE: "off" });
      expect(r.code, r.stdout).toBe(0);
      expect(masksComeFirst(r.stdout)).toBe(true);
      for (const secret of [token, staging, prod]) {
        expect(printedLines(r.stdout).join("\n").includes(secret)).toBe(false);
        expect((r.stderr + r.summary + JSON.stringify(r.outputs)).includes(secret)).toBe(false);
      }
      const repo = fake.repo("acme", "fraud-model");
      expect(repo?.private).toBe(true);
      expect(Object.fromEntries(repo?.teams ?? [])).toEqual({ "data-science": "push", "platform-admins": "admin" });
      expect(fake.decryptSecret("acme", "fraud-model", "prod", "DATABRICKS_CLIENT_SECRET")).toBe(prod);
      expect(repo?.environments.get("prod")?.variables.get("DATABRICKS_HOST")?.value).toBe(
        "https://adb-2222.22.azuredatabricks.net",
      );
      expect(repo?.git.file("refs/heads/main", "resources/feature-engineering-job.yml")).toBeDefined();
      expect(r.outputs.repository_url).toBe(`${fake.url.replace(/\/$/, "")}/acme/fraud-model`);
      expect(fake.violations).toEqual([]);
    } finally {
      await fake.stop();
    }
  });
});
