import { main } from "../../src/cli/main.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the Lakeforge CLI in this process; returns its exit code and what it wrote on stdout and
 * stderr. With `env`, the run sees no `DATABRICKS_*` variable of the process but those of `env` (the
 * workspace it is pointed at), nor any variable named in `unset`; the environment is restored afterwards.
 */
export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; unset?: readonly string[] } = {},
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  const saved = { ...process.env };
  const isolate = opts.env !== undefined || opts.unset !== undefined;
  if (isolate) {
    for (const k of Object.keys(process.env)) if (k.startsWith("DATABRICKS_")) delete process.env[k];
    for (const k of opts.unset ?? []) delete process.env[k];
    Object.assign(process.env, opts.env ?? {});
  }
  const previous = process.exitCode;
  process.exitCode = undefined;
  try {
    const code = await main(["node", "lakeforge", ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    if (isolate) {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    process.exitCode = previous;
  }
}
