import type { JsonObject } from "../http.js";

/** Job runs as the workspace keeps them (collection `job_runs`, one record per job run). */

export type LifeCycleState =
  | "QUEUED"
  | "PENDING"
  | "RUNNING"
  | "TERMINATING"
  | "TERMINATED"
  | "SKIPPED"
  | "INTERNAL_ERROR"
  | "BLOCKED"
  | "WAITING_FOR_RETRY";

export type ResultState =
  | "SUCCESS"
  | "SUCCESS_WITH_FAILURES"
  | "FAILED"
  | "TIMEDOUT"
  | "CANCELED"
  | "EXCLUDED"
  | "UPSTREAM_FAILED"
  | "UPSTREAM_CANCELED"
  | "MAXIMUM_CONCURRENT_RUNS_REACHED";

export interface RunState {
  life_cycle_state: LifeCycleState;
  result_state?: ResultState;
  state_message: string;
  user_cancelled_or_timedout: boolean;
  queue_reason?: string;
}

export interface TaskRun {
  run_id: number;
  task_key: string;
  attempt_number: number;
  /** The task's settings as defined in the job (references unresolved). */
  settings: JsonObject;
  state: RunState;
  /** Termination code of the `status` object. */
  code?: string;
  start_time: number;
  end_time: number;
  setup_duration: number;
  execution_duration: number;
  cleanup_duration: number;
  /** Task values set with `dbutils.jobs.taskValues.set`. */
  values?: Record<string, unknown>;
  /** Blob hash of the captured stdout/stderr, once the task ended. */
  logs?: string;
  logs_truncated?: boolean;
  /** `dbutils.notebook.exit` value (notebook tasks). */
  result?: string;
  error?: string;
  error_trace?: string;
  /** Condition tasks: the resolved operands and the outcome ("true"/"false"). */
  condition?: { left: string; right: string; outcome: string };
  /** Run job tasks: the run of the other job. */
  child_run_id?: number;
}

export interface JobParameter {
  name: string;
  default?: string;
  value: string;
}

export interface JobRun {
  run_id: number;
  job_id?: number;
  run_name: string;
  run_type: "JOB_RUN" | "SUBMIT_RUN" | "WORKFLOW_RUN";
  trigger: string;
  creator_user_name: string;
  /** Who the tasks run as. */
  run_as: { kind: "user" | "service_principal"; id: string; name: string };
  state: RunState;
  code?: string;
  created_time: number;
  start_time: number;
  end_time: number;
  /** Milliseconds spent QUEUED. */
  queue_duration?: number;
  /** Snapshot of the job settings the run executes. */
  settings: JsonObject;
  job_parameters: JobParameter[];
  overriding_parameters?: JsonObject;
  tasks: TaskRun[];
  /** Earlier attempts of tasks and task runs replaced by a repair (for `get-output` by their run id). */
  history: TaskRun[];
  repair_history: JsonObject[];
  repair_count: number;
  parent_run_id?: number;
  /** Id of the token the tasks use (revoked when the run ends). */
  token_id?: string;
  idempotency_token?: string;
}

export const ACTIVE: ReadonlySet<LifeCycleState> = new Set([
  "QUEUED",
  "PENDING",
  "RUNNING",
  "TERMINATING",
  "BLOCKED",
  "WAITING_FOR_RETRY",
]);
export const isActive = (s: RunState) => ACTIVE.has(s.life_cycle_state);

/** The newer `status` object of runs and task runs, derived from the state. */
export function statusOf(state: RunState, code: string | undefined): JsonObject {
  const life = state.life_cycle_state;
  const v2 =
    life === "QUEUED"
      ? "QUEUED"
      : life === "PENDING" || life === "WAITING_FOR_RETRY"
        ? "PENDING"
        : life === "BLOCKED"
          ? "BLOCKED"
          : life === "RUNNING"
            ? "RUNNING"
            : life === "TERMINATING"
              ? "TERMINATING"
              : "TERMINATED";
  const out: JsonObject = { state: v2 };
  if (life === "QUEUED") {
    out.queue_details = { code: "ACTIVE_RUNS_LIMIT_REACHED", message: state.state_message };
  }
  if (v2 === "TERMINATED") {
    const c = code ?? terminationCode(state);
    out.termination_details = { code: c, type: terminationType(c), message: state.state_message };
  }
  return out;
}

function terminationCode(state: RunState): string {
  if (state.life_cycle_state === "INTERNAL_ERROR") return "INTERNAL_ERROR";
  switch (state.result_state) {
    case "SUCCESS":
      return "SUCCESS";
    case "SUCCESS_WITH_FAILURES":
      return "SUCCESS_WITH_FAILURES";
    case "CANCELED":
    case "UPSTREAM_CANCELED":
      return "CANCELED";
    case "EXCLUDED":
      return "SKIPPED";
    case "MAXIMUM_CONCURRENT_RUNS_REACHED":
      return "MAX_CONCURRENT_RUNS_EXCEEDED";
    default:
      return "RUN_EXECUTION_ERROR";
  }
}

function terminationType(code: string): string {
  if (code === "INTERNAL_ERROR") return "INTERNAL_ERROR";
  if (["SUCCESS", "SUCCESS_WITH_FAILURES", "CANCELED", "USER_CANCELED", "SKIPPED"].includes(code)) return "SUCCESS";
  return "CLIENT_ERROR";
}
