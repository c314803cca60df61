import { invalid, type Router } from "../http.js";
import type { Workspace } from "../workspace.js";

/**
 * `POST /telemetry-ext`, where the Databricks CLI uploads usage events at the end of a command.
 * The local workspace accepts and discards them, answering as the real endpoint does: an
 * unanswered upload makes the CLI retry and wait up to three seconds before it exits.
 */
export function register(r: Router, _ws: Workspace): void {
  r.post("/telemetry-ext", (c) => {
    const logs = c.input.protoLogs ?? [];
    if (!Array.isArray(logs) || logs.some((l) => typeof l !== "string")) {
      throw invalid("protoLogs must be an array of JSON-encoded strings");
    }
    return { errors: [], numProtoSuccess: logs.length };
  });
}
