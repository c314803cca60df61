import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../lib/errors.js";
import { ML_PROJECT_TEMPLATE } from "../template/render.js";

/**
 * The runtime interpreter of the quickstart: the Python that job tasks run on (it stands for the
 * Databricks Runtime) and that runs the workspace's MLflow tracking server. In order:
 *
 * 1. `--python <path>` (the `python` option);
 * 2. `LAKEFORGE_RUNTIME_PYTHON`;
 * 3. a virtual environment under `<quickstart dir>/runtime`, built once from PyPI with what the
 *    runtime provides on Databricks, pinned as the ML project template pins it for local work
 *    (pyspark, pandas, NumPy, Arrow from `requirements-dev.txt`) plus `mlflow` (pinned as in
 *    `requirements.txt`) for the tracking server. It is rebuilt only when those pins change.
 *
 * The project's own requirements are not installed here: the workspace's job runner builds the
 * project's task environment on top of this interpreter (cached between runs).
 */

export interface RuntimeOptions {
  /** `--python`. */
  python?: string;
  /** Where a runtime venv is built when none is configured. */
  venvDir: string;
  env?: NodeJS.ProcessEnv;
  /** The interpreter that creates the venv. Default `python3`. */
  basePython?: string;
  progress: (line: string) => void;
}

export interface RuntimeInterpreter {
  python: string;
  /** Where it came from. */
  source: "option" | "env" | "venv";
  /** True when this call built the venv. */
  built: boolean;
}

const RUNTIME_PACKAGES = ["pyspark", "pandas", "numpy", "pyarrow"];
const MARKER = ".lakeforge-runtime";

/** The pinned requirements of the runtime venv, read from the ML project template. */
export function runtimePins(templateDir: string = ML_PROJECT_TEMPLATE): string[] {
  const pins = new Map<string, string>();
  for (const file of ["requirements-dev.txt", "requirements.txt"]) {
    for (const raw of readFileSync(join(templateDir, file), "utf8").split("\n")) {
      const line = raw.replace(/#.*/, "").trim();
      const m = /^([A-Za-z0-9_.-]+)\s*==\s*(\S+)$/.exec(line);
      if (!m) continue;
      const name = (m[1] as string).toLowerCase();
      if (RUNTIME_PACKAGES.includes(name) || name === "mlflow") pins.set(name, `${name}==${m[2]}`);
    }
  }
  for (const name of [...RUNTIME_PACKAGES, "mlflow"]) {
    if (!pins.has(name)) throw new Error(`the ML project template pins no version of ${name}`);
  }
  return [...pins.values()].sort();
}

const venvPython = (dir: string) => join(dir, "bin", "python");

export async function ensureRuntimeInterpreter(o: RuntimeOptions): Promise<RuntimeInterpreter> {
  const env = o.env ?? process.env;
  if (o.python) return { python: checked(o.python, "--python"), source: "option", built: false };
  const fromEnv = env.LAKEFORGE_RUNTIME_PYTHON?.trim();
  if (fromEnv) return { python: checked(fromEnv, "LAKEFORGE_RUNTIME_PYTHON"), source: "env", built: false };

  const pins = runtimePins();
  const want = createHash("sha256").update(pins.join("\n")).digest("hex");
  const python = venvPython(o.venvDir);
  const marker = join(o.venvDir, MARKER);
  if (existsSync(python) && existsSync(marker) && readFileSync(marker, "utf8").trim() === want) {
    return { python, source: "venv", built: false };
  }
  const base = o.basePython ?? "python3";
  const version = spawnSync(base, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" });
  if (version.status !== 0) {
    throw new UserError(
      `${base} does not run: the quickstart needs Python >= 3.10 to build its runtime interpreter`,
      "install Python 3 (with the venv module), or point LAKEFORGE_RUNTIME_PYTHON at an interpreter with pyspark and mlflow",
    );
  }
  const [major, minor] = version.stdout.trim().split(".").map(Number);
  if ((major ?? 0) < 3 || ((major ?? 0) === 3 && (minor ?? 0) < 10)) {
    throw new UserError(`${base} is Python ${version.stdout.trim()}: the quickstart needs Python >= 3.10`);
  }
  o.progress(`Building the runtime interpreter in ${o.venvDir} (once; ${pins.join(", ")})`);
  rmSync(o.venvDir, { recursive: true, force: true });
  await step(base, ["-m", "venv", o.venvDir], o.progress, "could not create the runtime venv");
  await step(
    python,
    ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", ...pins],
    o.progress,
    "could not install the runtime's packages from PyPI",
  );
  writeFileSync(marker, `${want}\n`);
  return { python, source: "venv", built: true };
}

function checked(python: string, where: string): string {
  const probe = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('pyspark') and u.find_spec('mlflow') else 3)";
  const r = spawnSync(python, ["-c", probe], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new UserError(
      `${where}: ${python} has no pyspark or no mlflow`,
      "use an interpreter with the ML project's requirements-dev.txt installed, or unset it to let the quickstart build one",
    );
  }
  return python;
}

/** Runs a command, passing its notable lines to `progress` (pip's "Collecting", "Installing", ...). */
function step(file: string, args: string[], progress: (line: string) => void, what: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env: pipEnv() });
    const tail: string[] = [];
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (/^(Collecting|Installing collected|Successfully installed)/.test(line)) progress(`  ${line.slice(0, 160)}`);
    };
    let buffered = "";
    const feed = (d: Buffer) => {
      buffered += d.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const l of lines) if (l.trim()) onLine(l.trim());
    };
    child.stdout.on("data", feed);
    child.stderr.on("data", feed);
    child.once("error", (e) => reject(new UserError(`${what}: ${e.message}`)));
    child.once("close", (code) => {
      if (buffered.trim()) onLine(buffered.trim());
      if (code === 0) resolvePromise();
      else reject(new UserError(`${what} (exit code ${code})`, tail.slice(-10).join("\n  ")));
    });
  });
}

/** pip runs without Databricks credentials in its environment, and asks nothing. */
function pipEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("DATABRICKS_")) env[k] = v;
  env.PIP_DISABLE_PIP_VERSION_CHECK = "1";
  env.PIP_NO_INPUT = "1";
  return env;
}

/** pyspark needs a Java runtime: checked up front, so the first task does not fail on it. */
export function checkJava(env: NodeJS.ProcessEnv = process.env): void {
  const java = env.JAVA_HOME ? join(env.JAVA_HOME, "bin", "java") : "java";
  const r = spawnSync(java, ["-version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new UserError(
      `${java} does not run: the pipeline's Spark needs Java 17 or later`,
      "install a Java 17 runtime (e.g. openjdk-17-jre-headless) or set JAVA_HOME",
    );
  }
}
