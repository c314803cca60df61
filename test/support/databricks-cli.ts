import { join } from "node:path";

/**
 * The environment for running the official Databricks CLI against a local workspace: the parent's
 * environment minus any Databricks settings, so nothing from the machine running the suite leaks in.
 */
export function isolatedCliEnv(opts: { home: string; url: string; token: string }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("DATABRICKS_")) env[k] = v;
  return {
    ...env,
    HOME: opts.home,
    DATABRICKS_HOST: opts.url,
    DATABRICKS_TOKEN: opts.token,
    // A file that does not exist: no profile of the machine can be picked up.
    DATABRICKS_CONFIG_FILE: join(opts.home, "no-such-databrickscfg"),
    DATABRICKS_CLI_DISABLE_TELEMETRY: "1",
    // Every run asks the workspace instead of reusing a cached current user.
    DATABRICKS_CACHE_ENABLED: "false",
    DATABRICKS_BUNDLE_ENGINE: "direct",
    NO_COLOR: "1",
  };
}
