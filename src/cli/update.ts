import type { Command } from "commander";
import { applyUpdate, changeDiff, optionsChanged, planUpdate } from "../template/project.js";
import { givenFlags, optionFlags } from "./init.js";
import type { Output } from "./output.js";

interface UpdateCommandOptions {
  dir: string;
  check?: boolean;
  force?: boolean;
  json?: boolean;
}

const LABEL = { add: "added", update: "updated", delete: "deleted", conflict: "CONFLICT" } as const;

export function updateCommand(program: Command, out: Output): void {
  const cmd = program
    .command("update")
    .description("re-render a project from its .lakeforge/project.json: show and apply the template's changes")
    .option("--dir <path>", "the project folder", ".")
    .option("--check", "change nothing; exit 1 when template-owned files differ from the template (for CI)")
    .option("--force", "also overwrite template-owned files changed locally (the conflicts)")
    .option("--json", "print the changes as JSON on stdout");
  optionFlags(cmd);
  cmd.addHelpText("after", "\nOption flags (as for lakeforge init) change the recorded options before re-rendering.");
  cmd.action((o: UpdateCommandOptions) => {
    const plan = planUpdate({ dir: o.dir, flags: givenFlags(cmd) });
    for (const w of plan.warnings) out.warn(w);
    if (o.json) {
      out.json({
        dir: plan.dir,
        template_version: { recorded: plan.manifest.template_version, current: plan.templateVersion },
        changes: plan.changes.map((c) => ({ path: c.path, kind: c.kind, ...(c.reason ? { reason: c.reason } : {}) })),
        modified_locally: plan.modified,
        applied: !o.check,
      });
    } else {
      for (const c of plan.changes) process.stdout.write(changeDiff(c));
    }
    if (o.check) {
      // Drift: any template-owned file that is not what the template renders, local edits included.
      const drifted = plan.changes.length + plan.modified.length;
      if (drifted > 0) {
        if (!o.json) {
          out.error(
            `${drifted} template-owned file${drifted === 1 ? " differs" : "s differ"} from template ${plan.next.template} ${plan.templateVersion}:`,
          );
          for (const c of plan.changes) out.info(`  ${LABEL[c.kind]}: ${c.path}${c.reason ? ` (${c.reason})` : ""}`);
          for (const path of plan.modified) out.info(`  modified locally: ${path}`);
          out.info("Run `lakeforge update` to apply the template's changes (local edits are kept unless --force).");
        }
        process.exitCode = 1;
      } else if (!o.json) {
        out.info(`Up to date with template ${plan.next.template} ${plan.templateVersion}.`);
      }
      return;
    }
    if (plan.changes.length === 0 && !optionsChanged(plan)) {
      if (!o.json) out.info(`Up to date with template ${plan.next.template} ${plan.templateVersion}.`);
      return;
    }
    const result = applyUpdate(plan, { force: o.force === true });
    if (o.json) {
      if (result.conflicts.length > 0) process.exitCode = 1;
      return;
    }
    for (const path of result.written) out.info(`  written: ${path}`);
    for (const path of result.deleted) out.info(`  deleted: ${path}`);
    for (const c of result.conflicts) out.warn(`conflict: ${c.path}: ${c.reason}; kept your version`);
    if (plan.modified.length > 0) out.info(`  kept ${plan.modified.length} file(s) you changed that the template did not`);
    if (result.conflicts.length > 0) {
      out.error(
        `${result.conflicts.length} conflict${result.conflicts.length === 1 ? "" : "s"}: merge the diff above by hand, or run \`lakeforge update --force\` to take the template's version`,
      );
      process.exitCode = 1;
      return;
    }
    out.info(`Updated to template ${plan.next.template} ${plan.templateVersion}.`);
  });
}
