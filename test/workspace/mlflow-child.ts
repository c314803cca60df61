// Entry point of a separate workspace process for the orphan test: starts a workspace, starts its
// MLflow tracking server, prints {"url", "mlflowPid"} and waits to be killed.
import { mlflowBackend } from "../../src/workspace/mlflow/backend.js";
import { startWorkspace } from "../../src/workspace/server.js";

const python = process.argv[2] as string;
const w = await startWorkspace({ ephemeral: true, port: 0, mlflowPython: python });
await mlflowBackend(w.workspace).ready();
process.stdout.write(`${JSON.stringify({ url: w.url, mlflowPid: mlflowBackend(w.workspace).server.pid })}\n`);
setInterval(() => {}, 60_000);
