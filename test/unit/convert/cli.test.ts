import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { copyFixture, DATABRICKS_CONFIGS, FIXTURE_CANARIES, PIPELINE_PARAM, runCli, tempDir } from "./helpers.js";

describe("lakeforge convert dstoolkit", () => {
  it("writes lakeforge.yaml and reports variables to set and what it did not convert on stderr", async () => {
    const out = join(tempDir(), "lakeforge.yaml");
    const r = await runCli(["convert", "dstoolkit", PIPELINE_PARAM, "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    const text = readFileSync(out, "utf8");
    expect((parse(text) as { project: { name: string } }).project.name).toBe("pipeline-param");
    const lines = r.stderr.split("\n");
    expect(lines[0]).toBe(
      `Wrote ${out}: 4 environment(s) (development, uat, preproduction, production), 6 resource(s) (5 shared), 4 variable(s).`,
    );
    expect(lines).toContain("Set these environment variables before `lakeforge plan` / `apply`:");
    expect(lines).toContain(
      "  PAT_GITHUB (secret): personal access token of the gitHub git credentials (as the accelerator's pipelines set it)",
    );
    expect(lines).toContain(`warning: 17 item(s) not converted (also listed at the top of ${out}):`);
    expect(r.stderr).toMatch(
      / {2}- RBAC_Assignments\[0\] \(development, uat, preproduction, production\): Azure role assignment/,
    );
    expect(r.stderr).toContain("    at Pipeline_Param/Development.json:9:30, Pipeline_Param/UAT.json:9:30");
    for (const canary of FIXTURE_CANARIES) {
      expect(text).not.toContain(canary);
      expect(r.stderr).not.toContain(canary);
    }
  });

  it("refuses to overwrite a file unless --force", async () => {
    const out = join(tempDir(), "lakeforge.yaml");
    writeFileSync(out, "# mine\n");
    const refused = await runCli(["convert", "dstoolkit", DATABRICKS_CONFIGS, "-o", out]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `error: ${out} already exists\n  hint: pass --force to overwrite it, or --out to write elsewhere\n`,
    );
    expect(readFileSync(out, "utf8")).toBe("# mine\n");
    const forced = await runCli(["convert", "dstoolkit", DATABRICKS_CONFIGS, "-o", out, "--force"]);
    expect(forced.code).toBe(0);
    expect(readFileSync(out, "utf8")).toMatch(/^# Converted by `lakeforge convert dstoolkit`/);
  });

  it("--json puts the report on stdout; --workspace-host sets a workspace", async () => {
    const out = join(tempDir(), "lakeforge.yaml");
    const r = await runCli([
      "convert",
      "dstoolkit",
      DATABRICKS_CONFIGS,
      "--out",
      out,
      "--json",
      "--project",
      "platform",
      "--workspace-host",
      "development=local",
      "--workspace-host",
      "Production=https://adb-1234567890123456.7.azuredatabricks.net",
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      out,
      layout: "databricks_configs",
      environments: ["development", "sandbox", "uat", "production"],
      variables: ["repos_folder", "ml_cluster_spark_version", "dstoolkit_mlops_databricks_path"],
      problems: [],
    });
    expect(report.not_converted).toHaveLength(4);
    expect(report.environment_variables.map((v: { name: string }) => v.name)).toEqual([
      "ARM_CLIENT_ID",
      "SANDBOX_DATABRICKS_HOST",
      "UAT_DATABRICKS_HOST",
      "PAT_GITHUB",
      "PAT_GITHUB_PROD",
    ]);
    const doc = parse(readFileSync(out, "utf8"));
    expect(doc.project.name).toBe("platform");
    expect(doc.environments.development.workspace).toBe("local");
    expect(doc.environments.production.workspace).toEqual({ host: "https://adb-1234567890123456.7.azuredatabricks.net" });
  });

  it("bad input: one located line and exit 1, nothing written", async () => {
    const out = join(tempDir(), "lakeforge.yaml");
    const missing = await runCli(["convert", "dstoolkit", "no/such/dir", "--out", out]);
    expect(missing).toMatchObject({ code: 1, stdout: "" });
    expect(missing.stderr).toBe(
      "error: no/such/dir: no such folder\n  hint: give the repository folder holding the parameter files\n",
    );

    const dir = copyFixture(PIPELINE_PARAM);
    const file = join(dir, ".github", "workflows", "Pipeline_Param", "Production.json");
    writeFileSync(file, readFileSync(file, "utf8").replace('"Location":  "uksouth",', '"Location":  uksouth,'));
    const malformed = await runCli(["convert", "dstoolkit", dir, "--out", out]);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(
      /^error: \S*\.github\/workflows\/Pipeline_Param\/Production\.json:3:18: malformed JSON: expected a value, found 'u'\n/,
    );

    const badHost = await runCli(["convert", "dstoolkit", DATABRICKS_CONFIGS, "--out", out, "--workspace-host", "uat"]);
    expect(badHost.code).toBe(1);
    expect(badHost.stderr).toBe("error: --workspace-host uat: expected <environment>=<url> or <environment>=local\n");
    expect(existsSync(out)).toBe(false);
  });
});
