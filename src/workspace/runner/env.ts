import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Python environments of task runs.
 *
 * Tasks run on a runtime interpreter (option `python` of the workspace, else `LAKEFORGE_RUNTIME_PYTHON`,
 * else `python3` on the PATH) that stands for the Databricks Runtime: it should provide pyspark and
 * what the runtime ships. A task with libraries (PyPI packages, wheels, requirements files, a
 * serverless environment's dependencies, `%pip install` cells) runs in a virtual environment built
 * once per distinct set of requirements and kept under `<cache>/envs/<hash>`: a venv without pip
 * whose `site-packages` holds a `.pth` file naming the runtime interpreter's own site-packages, so
 * what the runtime provides is seen as installed and not downloaded again; pip (the runtime's, with
 * `--python`) installs only what is missing or pinned differently, into the venv.
 */

/** The folder holding the `lakeforge_runtime` Python package (shipped with Lakeforge as `runtime/`). */
export function runtimeShimDir(): string {
  // src/workspace/runner/env.ts and dist/workspace/runner/env.js are both three levels below the package root.
  return resolve(dirname(fileURLToPath(import.meta.url)), "../../../runtime");
}

export function defaultRuntimePython(configured?: string): string {
  return configured || process.env.LAKEFORGE_RUNTIME_PYTHON || "python3";
}

export class EnvironmentError extends Error {
  constructor(
    message: string,
    readonly log: string,
  ) {
    super(message);
  }
}

interface RuntimeInfo {
  sitePackages: string[];
  version: string;
}

const runtimeInfos = new Map<string, Promise<RuntimeInfo>>();
const builds = new Map<string, Promise<string>>();

function run(file: string, args: string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: pipEnv() }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolvePromise({ code, output: `${stdout}${stderr}${error && !stderr ? String(error.message) : ""}` });
    });
  });
}

/** The environment pip runs in: no Databricks credentials, no prompts. */
function pipEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("DATABRICKS_") || k === "LAKEFORGE_WORKSPACE_TOKEN" || k === "PYTHONPATH") continue;
    env[k] = v;
  }
  env.PIP_DISABLE_PIP_VERSION_CHECK = "1";
  env.PIP_NO_INPUT = "1";
  return env;
}

async function runtimeInfo(python: string): Promise<RuntimeInfo> {
  let info = runtimeInfos.get(python);
  if (!info) {
    info = (async () => {
      const script =
        "import json, site, sys; print(json.dumps({'site': [p for p in site.getsitepackages() if p.endswith('-packages')], 'version': '%d.%d' % sys.version_info[:2]}))";
      const r = await run(python, ["-c", script], 60_000);
      if (r.code !== 0) throw new EnvironmentError(`The runtime interpreter ${python} does not start`, r.output);
      const parsed = JSON.parse(r.output.trim().split("\n").at(-1) ?? "{}") as { site: string[]; version: string };
      return { sitePackages: parsed.site, version: parsed.version };
    })();
    runtimeInfos.set(python, info);
    info.catch(() => runtimeInfos.delete(python));
  }
  return info;
}

/** The key an environment is cached under: the runtime interpreter and the requirement lines (local files by content). */
export function environmentKey(python: string, requirements: string[]): string {
  const h = createHash("sha256").update(python).update("\0");
  for (const line of requirements) {
    h.update(line).update("\0");
    const file = localFileOf(line);
    if (file && existsSync(file)) h.update(readFileSync(file));
  }
  return h.digest("hex").slice(0, 24);
}

/** The local file a requirement line names (`-r file`, a wheel path), if any. */
function localFileOf(line: string): string | undefined {
  const m = /^(?:-r|--requirement)\s+(\S+)$/.exec(line);
  if (m) return m[1];
  if (line.startsWith("/") && /\.(whl|tar\.gz|zip)$/.test(line)) return line;
  return undefined;
}

/**
 * The interpreter a task with these requirements runs on: the runtime itself when there are none,
 * else the cached environment for them (built on first use). `log` receives pip's output.
 */
export async function pythonFor(
  runtime: string,
  requirements: string[],
  cacheDir: string,
  log: (text: string) => void,
): Promise<string> {
  if (requirements.length === 0) return runtime;
  const key = environmentKey(runtime, requirements);
  const dir = join(cacheDir, "envs", key);
  const python = join(dir, "bin", "python");
  if (existsSync(join(dir, ".ready"))) return python;
  let build = builds.get(key);
  if (!build) {
    build = buildEnvironment(runtime, requirements, dir, log).finally(() => builds.delete(key));
    builds.set(key, build);
  } else {
    log("Waiting for the environment another task is building\n");
  }
  return build;
}

async function buildEnvironment(
  runtime: string,
  requirements: string[],
  dir: string,
  log: (text: string) => void,
): Promise<string> {
  const info = await runtimeInfo(runtime);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  log(`Building the task environment ${dir}\n`);
  const venv = await run(runtime, ["-m", "venv", "--without-pip", dir], 120_000);
  if (venv.code !== 0) throw new EnvironmentError("Could not create the task's virtual environment", venv.output);
  const site = join(dir, "lib", `python${info.version}`, "site-packages");
  mkdirSync(site, { recursive: true });
  writeFileSync(join(site, "_lakeforge_runtime.pth"), `${info.sitePackages.join("\n")}\n`);
  const python = join(dir, "bin", "python");
  const args = ["-m", "pip", "--python", python, "install", "--disable-pip-version-check", "--no-input"];
  for (const line of requirements) {
    const m = /^(-r|--requirement|-e|--editable)\s+(.+)$/.exec(line);
    if (m) args.push(m[1] as string, m[2] as string);
    else args.push(line);
  }
  const pip = await run(runtime, args, 30 * 60_000);
  log(pip.output);
  if (pip.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const last = pip.output.trim().split("\n").filter(Boolean).at(-1) ?? "";
    throw new EnvironmentError(`Library installation failed: ${last}`, pip.output);
  }
  writeFileSync(join(dir, "requirements.txt"), `${requirements.join("\n")}\n`);
  writeFileSync(join(dir, ".ready"), new Date().toISOString());
  return python;
}
