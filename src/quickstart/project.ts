import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { localProvider } from "../bootstrap/local/provider.js";
import { forgePaths } from "../bootstrap/local/store.js";
import { bootstrap } from "../bootstrap/orchestrate.js";
import { requestFromProject } from "../bootstrap/request.js";
import { hasChanges } from "../engine/types.js";
import { UserError } from "../lib/errors.js";
import { resolveOptions } from "../template/input.js";
import {
  applyUpdate,
  buildManifest,
  initProject,
  MANIFEST_PATH,
  manifestText,
  optionsChanged,
  planUpdate,
  readManifest,
  renderProject,
} from "../template/project.js";

/**
 * The quickstart's project: `lakeforge init quickstart-demo` with the default options, its `dev`
 * target pointed at the local workspace, and its repository on a local forge. A second run renders
 * in memory and writes only what changed (the workspace URL when its port changed, a newer
 * template), as `lakeforge update` does; files changed by hand are kept.
 */

export const PROJECT_NAME = "quickstart-demo";

export interface ProjectOutcome {
  dir: string;
  action: "created" | "updated" | "unchanged";
  /** Files written by an update. */
  written: string[];
  /** Files changed by hand that the template would change: kept. */
  conflicts: string[];
  repository: string;
  /** Whether the forge repository changed. */
  forgeChanged: boolean;
}

export async function ensureProject(o: {
  dir: string;
  forgeDir: string;
  host: string;
  progress: (line: string) => void;
}): Promise<ProjectOutcome> {
  const hostFlag: [string, string] = ["--target", `dev.host=${o.host}`];
  let action: ProjectOutcome["action"] = "unchanged";
  let written: string[] = [];
  let conflicts: string[] = [];
  if (existsSync(join(o.dir, MANIFEST_PATH))) {
    const plan = planUpdate({ dir: o.dir, flags: [hostFlag] });
    if (plan.changes.length > 0 || optionsChanged(plan)) {
      const result = applyUpdate(plan);
      written = [...result.written, ...result.deleted];
      conflicts = result.conflicts.map((c) => c.path);
      action = "updated";
      o.progress(`Updated ${PROJECT_NAME} in ${o.dir} (${written.length} file(s) written)`);
      for (const c of conflicts) o.progress(`  kept your change to ${c} (the template would change it)`);
    } else o.progress(`Project ${PROJECT_NAME} in ${o.dir} is current`);
  } else {
    if (existsSync(o.dir) && readdirSync(o.dir).length > 0) {
      throw new UserError(
        `${o.dir} exists, is not empty and holds no ${MANIFEST_PATH}`,
        "pass another --dir, or remove that folder",
      );
    }
    const { answers } = resolveOptions({ flags: [["--project-name", PROJECT_NAME], hostFlag] });
    const result = initProject(o.dir, answers);
    action = "created";
    o.progress(
      `Rendered ${PROJECT_NAME} (template ${result.manifest.template} ${result.manifest.template_version}, ${result.files.length} files) into ${o.dir}`,
    );
  }

  // The repository on the local forge: converged on every run (nothing is written when it matches).
  const manifest = readManifest(o.dir);
  const files = renderProject(manifest.options);
  const byPath = new Map(files.map((f) => [f.path, f.content]));
  byPath.set(MANIFEST_PATH, Buffer.from(manifestText(buildManifest(manifest.options, files))));
  const { request } = requestFromProject(manifest.options, byPath, {});
  const outcome = await bootstrap(localProvider(), { forgeDir: o.forgeDir }, request, {});
  const repository = forgePaths(o.forgeDir, request.name).repo;
  const forgeChanged = hasChanges(outcome.plan);
  o.progress(`${forgeChanged ? "Created or updated" : "Unchanged:"} the repository ${repository} on the local forge`);
  return { dir: o.dir, action, written, conflicts, repository, forgeChanged };
}
