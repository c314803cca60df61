import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from "@actions/workflow-parser";
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { azurePipelines, githubWorkflows, loadStrategy, type Strategy } from "../../src/pipelines/index.js";
import { ACTIONLINT, actionlint, HAVE_ACTIONLINT } from "../support/actionlint.js";
import { adoStages } from "./simulate.js";

const ROOT = resolve(import.meta.dirname, "../..");
const EXAMPLE = join(ROOT, "examples/platform");
if (!HAVE_ACTIONLINT) console.warn(`Skipping actionlint on the generated workflows: ${ACTIONLINT} is missing (npm run setup).`);

type Obj = Record<string, unknown>;
const work = mkdtempSync(join(tmpdir(), "lakeforge-pipelines-lint-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A configuration with every kind of environment: local, remote, with Azure infrastructure, with secrets. */
function variant(method: string): Strategy {
  const dir = join(work, method);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "lakeforge.yaml"),
    [
      "project: { name: variant }",
      "environments:",
      "  development: { workspace: local }",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a lakeforge.yaml reference, not a JavaScript template
      "  uat: { workspace: { host: '${env.UAT_HOST}' } }",
      "  preproduction: { workspace: { host: https://adb-2.2.azuredatabricks.net } }",
      "  production: { workspace: { host: https://adb-3.3.azuredatabricks.net } }",
      "resources:",
      "  secret_scopes:",
      "    s: { name: s, secrets: { k: { from_env: SP_SECRET } } }",
      "pipelines:",
      `  auth: { method: ${method} }`,
      "  environments:",
      "    production: { name: prod-protected, reviewers: [example-org/platform-leads] }",
      "",
    ].join("\n"),
  );
  return loadStrategy(dir);
}

const strategies: [string, Strategy][] = [
  ["examples/platform", loadStrategy(EXAMPLE)],
  ["azure-oidc", variant("azure-oidc")],
  ["databricks-oidc", variant("databricks-oidc")],
  ["databricks-m2m", variant("databricks-m2m")],
];

describe("GitHub workflows", () => {
  const files = strategies.flatMap(([name, s]) => githubWorkflows(s).map((f) => ({ name: `${name}/${f.path}`, ...f, s })));

  it.each(files.map((f) => [f.name, f] as const))("GitHub's workflow parser accepts %s", async (_, f) => {
    const parsed = parseWorkflow({ name: f.path, content: f.content }, new NoOperationTraceWriter());
    expect(parsed.context.errors.getErrors().map(String)).toEqual([]);
    const template = await convertWorkflowTemplate(parsed.context, parsed.value as NonNullable<typeof parsed.value>);
    expect((template.errors ?? []).map((e) => e.Message)).toEqual([]);
    expect(template.jobs.length).toBeGreaterThan(1);
  });

  it.skipIf(!HAVE_ACTIONLINT)(
    "pass actionlint",
    async () => {
      const dir = join(work, "actionlint");
      mkdirSync(dir, { recursive: true });
      const names = new Map<string, string>();
      files.forEach((f, i) => {
        const name = `w${i}.yml`;
        names.set(name, f.name);
        writeFileSync(join(dir, name), f.content);
      });
      const r = await actionlint([...names.keys()], dir);
      const findings = r.findings.map(
        (e) => `${names.get(e.filepath.split("/").pop() as string)}:${e.line}: ${e.message} [${e.kind}]`,
      );
      expect(findings, r.stderr).toEqual([]);
      expect(r.code).toBe(0);
    },
    300_000,
  );

  it.each(strategies)("%s: least permissions, OIDC only where needed, protected environments, serialised applies", (_, s) => {
    for (const f of githubWorkflows(s)) {
      const doc = parseYaml(f.content) as Obj;
      expect(doc.permissions, f.path).toEqual({});
      for (const [id, job] of Object.entries(doc.jobs as Record<string, Obj>)) {
        const perms = job.permissions as Obj;
        expect(perms.contents, `${f.path} ${id}`).toBe("read");
        const env = s.environments.find((e) => e.platformName === job.environment);
        const login = JSON.stringify(job.steps).includes("azure/login") || JSON.stringify(job.steps).includes("github-oidc");
        expect(perms["id-token"] === "write", `${f.path} ${id} id-token`).toBe(login);
        expect(Object.keys(perms).filter((k) => !["contents", "id-token", "pull-requests"].includes(k))).toEqual([]);
        if (perms["pull-requests"] !== undefined) expect(f.path, `${id} writes pull requests`).toContain("plan");
        if (!env) continue;
        if (!f.path.includes("plan")) {
          expect(job.concurrency, `${f.path} ${id}`).toEqual({ group: `lakeforge-${env.name}`, "cancel-in-progress": false });
        }
      }
    }
    const deploy = parseYaml(githubWorkflows(s)[1]?.content ?? "") as Obj;
    const prod = (deploy.jobs as Record<string, Obj>)[`apply-${s.deploy.tag}`] as Obj;
    expect(prod.needs).toBe("release-tag");
    const prodEnv = s.environments.find((e) => e.name === s.deploy.tag);
    expect(prod.environment).toBe(prodEnv?.platformName);
  });
});

describe("Azure DevOps pipeline", () => {
  const ado = strategies.filter(([name]) => name !== "databricks-oidc");

  it.each(ado)("%s: stages, deployment jobs in environments, groups, service connections, conditions", (_, s) => {
    const [file] = azurePipelines(s);
    const text = file?.content ?? "";
    const doc = parseYaml(text) as Obj;
    expect(doc.lockBehavior).toBe("sequential");
    expect((doc.trigger as Obj).branches).toEqual({ include: [s.mainBranch, s.releaseBranch] });
    expect((doc.trigger as Obj).tags).toEqual({ include: [s.tags] });
    const stages = adoStages(text);
    const names = stages.map((st) => st.stage as string);
    expect(new Set(names).size).toBe(names.length);
    for (const st of stages) {
      expect(st.stage as string).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
      expect(typeof st.condition).toBe("string");
      for (const d of [st.dependsOn].flat())
        if (d !== undefined) expect(names.slice(0, names.indexOf(st.stage as string))).toContain(d);
    }
    for (const env of s.environments) {
      const apply = stages.find((st) => st.stage === `apply_${env.name}`) as Obj;
      const plan = stages.find((st) => st.stage === `plan_${env.name}`) as Obj;
      expect(apply, env.name).toBeDefined();
      expect(plan, env.name).toBeDefined();
      const job = (apply.jobs as Obj[])[0] as Obj;
      expect(job.deployment).toBe("apply");
      expect(job.environment).toBe(env.platformName);
      const steps = (((job.strategy as Obj).runOnce as Obj).deploy as Obj).steps as Obj[];
      expect(steps[0]).toEqual({ checkout: "self" });
      for (const step of steps) {
        const keys = ["bash", "task", "checkout"].filter((k) => k in step);
        expect(keys.length, JSON.stringify(step)).toBe(1);
        if (step.task === "AzureCLI@2") {
          const inputs = step.inputs as Obj;
          expect(inputs.azureSubscription).toBe(env.serviceConnection);
          expect(inputs.addSpnToEnvironment).toBe(true);
          expect(inputs.scriptType).toBe("bash");
        }
      }
      const signIn = env.azure || (env.remote && s.auth === "azure-oidc");
      expect(
        steps.some((st) => st.task === "AzureCLI@2"),
        env.name,
      ).toBe(signIn);
      const group = (apply.variables as Obj[] | undefined)?.[0]?.group;
      const wantsGroup = env.variables.length + env.secrets.length > 0 || (env.remote && s.auth === "databricks-m2m");
      expect(group, env.name).toBe(wantsGroup ? env.variableGroup : undefined);
      expect(apply.condition as string).toContain(`eq('${s.deploy.main}', '${env.name}')`.replace(s.deploy.main, "development"));
    }
    const prod = stages.find((st) => st.stage === `apply_${s.deploy.tag}`) as Obj;
    expect(prod.dependsOn).toBe("release_tag");
    const pre = stages.find((st) => st.stage === `apply_${s.deploy.release[1]}`) as Obj;
    expect(pre.dependsOn).toBe(`apply_${s.deploy.release[0]}`);
  });

  it("refuses databricks-oidc, which Azure DevOps cannot use", () => {
    const s = strategies.find(([n]) => n === "databricks-oidc")?.[1] as Strategy;
    expect(() => azurePipelines(s)).toThrow(/databricks-oidc is for GitHub Actions/);
  });
});

describe("secrets", () => {
  it.each(strategies)("%s: no tracing, secrets only in step environments, never on a command line", (name, s) => {
    const files = [...githubWorkflows(s), ...(name === "databricks-oidc" ? [] : azurePipelines(s))];
    for (const f of files) {
      expect(f.content, f.path).not.toMatch(/set -x|set -o xtrace|bash -x/);
      const lines = f.content.split("\n");
      lines.forEach((line, i) => {
        if (/\$\{\{\s*secrets\./.test(line)) {
          // `NAME: ${{ secrets.NAME }}` under a step's env:, nothing else.
          expect(line, `${f.path}:${i + 1}`).toMatch(/^\s+[A-Z_][A-Z0-9_]*: \$\{\{ secrets\.[A-Za-z0-9_]+ \}\}$/);
          let j = i;
          while (j > 0 && !/^\s+env:$/.test(lines[j] as string)) j--;
          expect(lines[j], `${f.path}:${i + 1} is not in an env block`).toMatch(/^\s+env:$/);
        }
      });
      for (const secret of s.environments.flatMap((e) => e.secrets)) {
        // The secret's variable is never expanded in a script, only passed through the environment.
        expect(f.content, f.path).not.toMatch(new RegExp(`\\$\\{?${secret.env}\\b`));
      }
    }
    for (const v of s.environments.flatMap((e) => e.secrets)) expect(v.platform).not.toMatch(/^GITHUB_/);
  });
});
