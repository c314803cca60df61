import { type Command, Option } from "commander";
import { generatePipelines, PLATFORMS, type Platform } from "../pipelines/index.js";
import type { Output } from "./output.js";

interface GenerateCommandOptions {
  platform: Platform;
  config: string;
  out?: string;
  check?: boolean;
  json?: boolean;
}

export function pipelinesCommand(program: Command, out: Output): void {
  const pipelines = program.command("pipelines").description("the platform repository's CI/CD for lakeforge plan and apply");
  pipelines
    .command("generate")
    .description(
      "write the GitHub Actions workflows or the Azure DevOps pipeline from the `pipelines:` section of lakeforge.yaml",
    )
    .addOption(new Option("--platform <platform>", "CI/CD platform").choices([...PLATFORMS]).makeOptionMandatory())
    .option("-C, --config <path>", "lakeforge.yaml or the folder holding it", ".")
    .option("--out <dir>", "repository root the files are written under (default: the configuration's folder)")
    .option("--check", "write nothing; exit 1 listing the files that differ from what the configuration generates")
    .option("--json", "machine-readable result on stdout")
    .action((o: GenerateCommandOptions) => {
      const result = generatePipelines({
        config: o.config,
        platform: o.platform,
        ...(o.out ? { out: o.out } : {}),
        check: o.check === true,
      });
      if (o.json) {
        out.json({
          platform: o.platform,
          out: result.outDir,
          files: result.files.map((f) => ({ path: f.path, status: f.status })),
          drifted: result.drifted,
          written: !o.check,
          settings: result.settings.environments,
        });
      }
      if (o.check) {
        if (result.drifted.length > 0) {
          if (!o.json) {
            out.error(
              `${result.drifted.length} pipeline file${result.drifted.length === 1 ? " differs" : "s differ"} from what lakeforge.yaml generates:`,
            );
            for (const f of result.files.filter((x) => x.status !== "unchanged")) {
              out.info(`  ${f.status === "created" ? "missing" : "changed"}: ${f.path}`);
            }
            out.info(`Run \`lakeforge pipelines generate --platform ${o.platform}\` and commit the result.`);
          }
          process.exitCode = 1;
        } else if (!o.json)
          out.info(`Pipelines are current (${result.files.length} file${result.files.length === 1 ? "" : "s"}).`);
        return;
      }
      if (o.json) return;
      for (const f of result.files) out.info(`  ${f.status}: ${f.path}`);
      out.info("");
      out.info(o.platform === "github" ? "Repository settings the workflows need:" : "Project settings the pipeline needs:");
      for (const e of result.settings.environments) {
        const approval = e.approval
          ? `required reviewers${e.reviewers.length > 0 ? `: ${e.reviewers.join(", ")}` : ""}`
          : "no approval";
        out.info(`  environment ${e.platformEnvironment} (${approval})`);
        if (e.variables.length > 0) out.info(`    variables: ${e.variables.join(", ")}`);
        if (e.secrets.length > 0) out.info(`    secrets: ${e.secrets.join(", ")}`);
        if (e.variableGroup) out.info(`    variable group: ${e.variableGroup}`);
        if (e.serviceConnection) out.info(`    service connection (workload identity federation): ${e.serviceConnection}`);
        if (e.federatedSubject) out.info(`    federated credential subject: ${e.federatedSubject}`);
      }
    });
}
