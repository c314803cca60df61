import type { Command } from "commander";
import { UserError } from "../lib/errors.js";
import { startWorkspace, WorkspaceLockedError } from "../workspace/server.js";
import type { Output } from "./output.js";

interface ServeOptions {
  port: string;
  host: string;
  dataDir: string;
  ephemeral?: boolean;
  printProfile?: string | boolean;
  json?: boolean;
  clusterStartDelay: string;
  servingUpdateDelay: string;
  requestLog?: string;
  python?: string;
}

export function workspaceCommand(program: Command, out: Output): void {
  const ws = program.command("workspace").description("the local Databricks-compatible workspace");
  ws.command("serve")
    .description("start the local workspace and serve until interrupted")
    .option("--port <port>", "TCP port (0 picks a free one)", "8421")
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--data-dir <dir>", "where state is kept", ".lakeforge/workspace")
    .option("--ephemeral", "keep state in memory only")
    .option("--print-profile [name]", "print a ~/.databrickscfg profile for this workspace on stdout")
    .option("--json", "print {url, token, data_dir, pid} as one JSON line on stdout once ready")
    .option("--cluster-start-delay <ms>", "milliseconds a cluster stays PENDING before RUNNING", "0")
    .option("--serving-update-delay <ms>", "milliseconds a serving endpoint's new config stays IN_PROGRESS", "0")
    .option("--request-log <file>", "append every request to this file as JSON lines")
    .option("--python <path>", "Python interpreter job tasks run on (default: LAKEFORGE_RUNTIME_PYTHON, else python3)")
    .action(async (o: ServeOptions) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port: ${o.port} is not a port number`);
      const delay = Number(o.clusterStartDelay);
      if (!Number.isFinite(delay) || delay < 0)
        throw new UserError(`--cluster-start-delay: ${o.clusterStartDelay} is not a number of milliseconds`);
      const servingDelay = Number(o.servingUpdateDelay);
      if (!Number.isFinite(servingDelay) || servingDelay < 0)
        throw new UserError(`--serving-update-delay: ${o.servingUpdateDelay} is not a number of milliseconds`);
      let running: Awaited<ReturnType<typeof startWorkspace>>;
      try {
        running = await startWorkspace({
          port,
          host: o.host,
          dataDir: o.dataDir,
          ephemeral: o.ephemeral === true,
          clusterStartDelayMs: delay,
          servingUpdateDelayMs: servingDelay,
          ...(o.requestLog ? { requestLogFile: o.requestLog } : {}),
          ...(o.python ? { runs: { python: o.python } } : {}),
          log: (line) => out.warn(line),
        });
      } catch (e) {
        if (e instanceof WorkspaceLockedError) {
          throw new UserError(
            e.message,
            e.url ? `use the running workspace at ${e.url}, or pass another --data-dir` : "pass another --data-dir",
          );
        }
        if ((e as NodeJS.ErrnoException).code === "EADDRINUSE") {
          throw new UserError(`port ${port} on ${o.host} is already in use`, "pass --port 0 to pick a free port");
        }
        throw e;
      }
      out.info(`${out.bold("Lakeforge workspace")} listening on ${running.url}`);
      out.info(`  data: ${running.dataDir ?? "in memory (--ephemeral)"}`);
      out.info(`  user: admin@lakeforge.local`);
      out.info(`  export DATABRICKS_HOST=${running.url}`);
      out.info(`  export DATABRICKS_TOKEN=${running.token}`);
      if (o.printProfile !== undefined) {
        const name = typeof o.printProfile === "string" ? o.printProfile : "lakeforge";
        process.stdout.write(`[${name}]\nhost  = ${running.url}\ntoken = ${running.token}\n`);
      }
      if (o.json) out.json({ url: running.url, token: running.token, data_dir: running.dataDir ?? null, pid: process.pid });
      await new Promise<void>((resolve) => {
        const stop = () => {
          out.info("stopping the workspace");
          running.stop().then(resolve, resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
