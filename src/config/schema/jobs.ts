import { z } from "zod";
import {
  bool,
  type Ctx,
  exactlyOne,
  int,
  lifecycle,
  nonEmpty,
  nonNegInt,
  permissions,
  posInt,
  str,
  strList,
  strMap,
  uniqueBy,
  unknownName,
} from "./common.js";
import { libraries, newCluster } from "./compute.js";

/** Jobs API 2.2 job settings, with the field names of the API and of bundle YAML. */

const source = () =>
  z.enum(["WORKSPACE", "GIT"]).optional().describe("Where the file is: the workspace or the job's git_source.");

const addresses = () => z.array(z.string().min(1)).optional();

const emailNotifications = z.strictObject({
  on_start: addresses(),
  on_success: addresses(),
  on_failure: addresses(),
  on_duration_warning_threshold_exceeded: addresses(),
  on_streaming_backlog_exceeded: addresses(),
  no_alert_for_skipped_runs: bool().optional(),
});

const webhooks = () => z.array(z.strictObject({ id: nonEmpty() })).optional();
const webhookNotifications = z.strictObject({
  on_start: webhooks(),
  on_success: webhooks(),
  on_failure: webhooks(),
  on_duration_warning_threshold_exceeded: webhooks(),
  on_streaming_backlog_exceeded: webhooks(),
});

const notificationSettings = z.strictObject({
  no_alert_for_skipped_runs: bool().optional(),
  no_alert_for_canceled_runs: bool().optional(),
  alert_on_last_attempt: bool().optional(),
});

const health = z.strictObject({
  rules: z.array(
    z.strictObject({
      metric: z.enum([
        "RUN_DURATION_SECONDS",
        "STREAMING_BACKLOG_BYTES",
        "STREAMING_BACKLOG_RECORDS",
        "STREAMING_BACKLOG_SECONDS",
        "STREAMING_BACKLOG_FILES",
      ]),
      op: z.enum(["GREATER_THAN"]),
      value: int(),
    }),
  ),
});

const subscriber = z
  .strictObject({ user_name: nonEmpty().optional(), destination_id: nonEmpty().optional() })
  .superRefine(exactlyOne(["user_name", "destination_id"], "a subscriber"));

// -------------------------------------------------------------------------------------------------
// Task types

const notebookTask = z.strictObject({
  notebook_path: nonEmpty().describe("Workspace path of the notebook (or path in the repository with source: GIT)."),
  base_parameters: strMap().optional(),
  source: source(),
  warehouse_id: nonEmpty().optional(),
});

const sparkPythonTask = z.strictObject({
  python_file: nonEmpty(),
  parameters: strList().optional(),
  source: source(),
});

const pythonWheelTask = z.strictObject({
  package_name: nonEmpty(),
  entry_point: nonEmpty(),
  parameters: strList().optional(),
  named_parameters: strMap().optional(),
});

const sparkJarTask = z.strictObject({
  main_class_name: nonEmpty(),
  parameters: strList().optional(),
  jar_uri: nonEmpty().optional(),
  run_as_repl: bool().optional(),
});

const sparkSubmitTask = z.strictObject({ parameters: strList().optional() });

const pipelineTask = z.strictObject({ pipeline_id: nonEmpty(), full_refresh: bool().optional() });

const sqlTask = z
  .strictObject({
    warehouse_id: nonEmpty(),
    parameters: strMap().optional(),
    query: z.strictObject({ query_id: nonEmpty() }).optional(),
    dashboard: z
      .strictObject({
        dashboard_id: nonEmpty(),
        subscriptions: z.array(subscriber).optional(),
        custom_subject: str().optional(),
        pause_subscriptions: bool().optional(),
      })
      .optional(),
    alert: z
      .strictObject({
        alert_id: nonEmpty(),
        subscriptions: z.array(subscriber).optional(),
        pause_subscriptions: bool().optional(),
      })
      .optional(),
    file: z.strictObject({ path: nonEmpty(), source: source() }).optional(),
  })
  .superRefine(exactlyOne(["query", "dashboard", "alert", "file"], "a SQL task"));

const dbtTask = z.strictObject({
  commands: z.array(nonEmpty()).min(1, { error: "needs at least one dbt command" }),
  project_directory: str().optional(),
  profiles_directory: str().optional(),
  schema: str().optional(),
  catalog: str().optional(),
  warehouse_id: nonEmpty().optional(),
  source: source(),
});

const runJobTask = z.strictObject({
  job_id: int().describe(`The job to run, usually \`\${resources.jobs.<name>.id}\`.`),
  job_parameters: strMap().optional(),
  notebook_params: strMap().optional(),
  python_params: strList().optional(),
  python_named_params: strMap().optional(),
  jar_params: strList().optional(),
  spark_submit_params: strList().optional(),
  sql_params: strMap().optional(),
  dbt_commands: strList().optional(),
  pipeline_params: z.strictObject({ full_refresh: bool().optional() }).optional(),
});

const conditionTask = z.strictObject({
  op: z.enum(["EQUAL_TO", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL", "NOT_EQUAL"]),
  left: z.string(),
  right: z.string(),
});

const cleanRoomsNotebookTask = z.strictObject({
  clean_room_name: nonEmpty(),
  notebook_name: nonEmpty(),
  etag: str().optional(),
  notebook_base_parameters: strMap().optional(),
});

const dashboardTask = z.strictObject({
  dashboard_id: nonEmpty(),
  warehouse_id: nonEmpty().optional(),
  subscription: z
    .strictObject({
      custom_subject: str().optional(),
      paused: bool().optional(),
      subscribers: z.array(subscriber).optional(),
    })
    .optional(),
});

const powerBiTask = z.strictObject({
  connection_resource_name: nonEmpty().optional(),
  warehouse_id: nonEmpty().optional(),
  refresh_after_update: bool().optional(),
  power_bi_model: z
    .strictObject({
      workspace_name: nonEmpty().optional(),
      model_name: nonEmpty().optional(),
      storage_mode: z.enum(["DIRECT_QUERY", "IMPORT", "DUAL"]).optional(),
      authentication_method: z.enum(["OAUTH", "PAT"]).optional(),
      overwrite_existing: bool().optional(),
    })
    .optional(),
  tables: z
    .array(
      z.strictObject({
        catalog: nonEmpty().optional(),
        schema: nonEmpty().optional(),
        name: nonEmpty().optional(),
        storage_mode: z.enum(["DIRECT_QUERY", "IMPORT", "DUAL"]).optional(),
      }),
    )
    .optional(),
});

const dbtCloudTask = z.strictObject({
  connection_resource_name: nonEmpty().optional(),
  dbt_cloud_job_id: int().optional(),
});

const genAiComputeTask = z.strictObject({
  dl_runtime_image: nonEmpty(),
  command: str().optional(),
  training_script_path: str().optional(),
  yaml_parameters: str().optional(),
  yaml_parameters_file_path: str().optional(),
  mlflow_experiment_name: str().optional(),
  source: source(),
  compute: z.strictObject({ num_gpus: posInt(), gpu_node_pool_id: str().optional(), gpu_type: str().optional() }).optional(),
});

const taskTypes = {
  notebook_task: notebookTask.optional(),
  spark_python_task: sparkPythonTask.optional(),
  python_wheel_task: pythonWheelTask.optional(),
  spark_jar_task: sparkJarTask.optional(),
  spark_submit_task: sparkSubmitTask.optional(),
  pipeline_task: pipelineTask.optional(),
  sql_task: sqlTask.optional(),
  dbt_task: dbtTask.optional(),
  run_job_task: runJobTask.optional(),
  condition_task: conditionTask.optional(),
  clean_rooms_notebook_task: cleanRoomsNotebookTask.optional(),
  dashboard_task: dashboardTask.optional(),
  power_bi_task: powerBiTask.optional(),
  dbt_cloud_task: dbtCloudTask.optional(),
  gen_ai_compute_task: genAiComputeTask.optional(),
};

export const TASK_TYPES = [...Object.keys(taskTypes), "for_each_task"] as const;
const COMPUTE_KEYS = ["existing_cluster_id", "new_cluster", "job_cluster_key", "environment_key"] as const;

const taskFields = {
  task_key: z
    .string()
    .regex(/^[\w\-.]{1,100}$/, { error: "a task key has 1 to 100 letters, digits, `_`, `-` or `.`" })
    .describe("Unique name of the task within the job; overrides merge tasks by it."),
  description: str().optional(),
  depends_on: z.array(z.strictObject({ task_key: nonEmpty(), outcome: z.enum(["true", "false"]).optional() })).optional(),
  run_if: z
    .enum(["ALL_SUCCESS", "AT_LEAST_ONE_SUCCESS", "NONE_FAILED", "ALL_DONE", "AT_LEAST_ONE_FAILED", "ALL_FAILED"])
    .optional(),
  existing_cluster_id: nonEmpty().optional().describe(`An all-purpose cluster, usually \`\${resources.clusters.<name>.id}\`.`),
  new_cluster: newCluster.optional(),
  job_cluster_key: nonEmpty().optional(),
  environment_key: nonEmpty().optional(),
  libraries: libraries().optional(),
  timeout_seconds: nonNegInt().optional(),
  max_retries: int().optional(),
  min_retry_interval_millis: nonNegInt().optional(),
  retry_on_timeout: bool().optional(),
  email_notifications: emailNotifications.optional(),
  webhook_notifications: webhookNotifications.optional(),
  notification_settings: notificationSettings.optional(),
  health: health.optional(),
  disabled: bool().optional(),
  ...taskTypes,
};

function taskChecks(types: readonly string[]) {
  return (v: Record<string, unknown>, ctx: Ctx) => {
    exactlyOne(types, "a task")(v, ctx);
    exactlyOne(COMPUTE_KEYS, "a task", true)(v, ctx);
  };
}

/** The task a for-each task runs for every input (it cannot itself be a for-each task). */
const innerTask = z
  .strictObject(taskFields)
  .superRefine(taskChecks(Object.keys(taskTypes)))
  .meta({ id: "for_each_inner_task", description: "The task a for-each task runs for every input." });

const forEachTask = z.strictObject({
  inputs: nonEmpty().describe("A JSON array (or a reference to one) with one item per iteration."),
  task: innerTask,
  concurrency: posInt().optional(),
});

export const task = z
  .strictObject({ ...taskFields, for_each_task: forEachTask.optional() })
  .superRefine(taskChecks(TASK_TYPES))
  .meta({ id: "task", description: "A task of a job: a task key, compute and exactly one task type." });

const jobCluster = z.strictObject({
  job_cluster_key: z
    .string()
    .regex(/^[\w\-.]{1,100}$/, { error: "a job cluster key has 1 to 100 letters, digits, `_`, `-` or `.`" }),
  new_cluster: newCluster,
});

const jobParameter = z.strictObject({
  name: z.string().regex(/^[\w\-.]+$/, { error: "a parameter name has letters, digits, `_`, `-` or `.`" }),
  default: z.string({ error: 'expected a string (quote numbers and booleans: "10")' }),
});

const jobEnvironment = z.strictObject({
  environment_key: nonEmpty(),
  spec: z
    .strictObject({
      client: str().optional(),
      environment_version: str().optional(),
      dependencies: strList().optional(),
      java_dependencies: strList().optional(),
    })
    .optional(),
});

const pauseStatus = () => z.enum(["PAUSED", "UNPAUSED"]).optional();

const trigger = z
  .strictObject({
    pause_status: pauseStatus(),
    file_arrival: z
      .strictObject({
        url: nonEmpty(),
        min_time_between_triggers_seconds: nonNegInt().optional(),
        wait_after_last_change_seconds: nonNegInt().optional(),
      })
      .optional(),
    periodic: z.strictObject({ interval: posInt(), unit: z.enum(["HOURS", "DAYS", "WEEKS"]) }).optional(),
    table_update: z
      .strictObject({
        table_names: z.array(nonEmpty()).min(1),
        condition: z.enum(["ANY_UPDATED", "ALL_UPDATED"]).optional(),
        min_time_between_triggers_seconds: nonNegInt().optional(),
        wait_after_last_change_seconds: nonNegInt().optional(),
      })
      .optional(),
  })
  .superRefine(exactlyOne(["file_arrival", "periodic", "table_update"], "a trigger"));

const GIT_PROVIDERS_JOB = [
  "gitHub",
  "bitbucketCloud",
  "azureDevOpsServices",
  "gitHubEnterprise",
  "bitbucketServer",
  "gitLab",
  "gitLabEnterpriseEdition",
  "awsCodeCommit",
] as const;

const gitSource = z
  .strictObject({
    git_url: nonEmpty(),
    git_provider: z.enum(GIT_PROVIDERS_JOB),
    git_branch: nonEmpty().optional(),
    git_tag: nonEmpty().optional(),
    git_commit: nonEmpty().optional(),
    sparse_checkout: z.strictObject({ patterns: strList() }).optional(),
  })
  .superRefine(exactlyOne(["git_branch", "git_tag", "git_commit"], "a git source"));

export const JOB_LEVELS = ["CAN_VIEW", "CAN_MANAGE_RUN", "IS_OWNER", "CAN_MANAGE"] as const;

type TaskLike = {
  task_key: string;
  depends_on?: { task_key: string }[];
  job_cluster_key?: string;
  environment_key?: string;
  for_each_task?: { task: { job_cluster_key?: string; environment_key?: string } };
};

function jobChecks(
  v: { tasks?: TaskLike[]; job_clusters?: { job_cluster_key: string }[]; environments?: { environment_key: string }[] },
  ctx: Ctx,
) {
  const tasks = v.tasks ?? [];
  const taskKeys = new Set(tasks.map((t) => t.task_key));
  const clusterKeys = new Set((v.job_clusters ?? []).map((c) => c.job_cluster_key));
  const envKeys = new Set((v.environments ?? []).map((e) => e.environment_key));
  tasks.forEach((t, i) => {
    t.depends_on?.forEach((d, j) => {
      if (!taskKeys.has(d.task_key)) unknownName(ctx, ["tasks", i, "depends_on", j, "task_key"], "task", d.task_key, taskKeys);
      else if (d.task_key === t.task_key) {
        ctx.addIssue({
          code: "custom",
          message: "a task cannot depend on itself",
          path: ["tasks", i, "depends_on", j, "task_key"],
        });
      }
    });
    const check = (key: string | undefined, path: (string | number)[]) => {
      if (key !== undefined && !clusterKeys.has(key)) unknownName(ctx, path, "job cluster", key, clusterKeys);
    };
    const checkEnv = (key: string | undefined, path: (string | number)[]) => {
      if (key !== undefined && !envKeys.has(key)) unknownName(ctx, path, "environment", key, envKeys);
    };
    check(t.job_cluster_key, ["tasks", i, "job_cluster_key"]);
    checkEnv(t.environment_key, ["tasks", i, "environment_key"]);
    check(t.for_each_task?.task.job_cluster_key, ["tasks", i, "for_each_task", "task", "job_cluster_key"]);
    checkEnv(t.for_each_task?.task.environment_key, ["tasks", i, "for_each_task", "task", "environment_key"]);
  });
  // A cycle among depends_on: the job would never start.
  const index = new Map(tasks.map((t, i) => [t.task_key, i]));
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  let reported = false;
  const visit = (key: string) => {
    if (reported) return;
    const s = state.get(key);
    if (s === 2) return;
    if (s === 1) {
      const cycle = [...stack.slice(stack.indexOf(key)), key];
      ctx.addIssue({
        code: "custom",
        message: `tasks depend on each other in a cycle: ${cycle.join(" -> ")}`,
        path: ["tasks", index.get(key) as number, "depends_on"],
      });
      reported = true;
      return;
    }
    state.set(key, 1);
    stack.push(key);
    const t = tasks[index.get(key) as number];
    for (const d of t?.depends_on ?? []) if (index.has(d.task_key) && d.task_key !== key) visit(d.task_key);
    stack.pop();
    state.set(key, 2);
  };
  for (const t of tasks) visit(t.task_key);
}

export const job = z
  .strictObject({
    name: nonEmpty().describe("Name of the job; Lakeforge finds an existing job by it."),
    description: str().optional(),
    tags: strMap().optional(),
    tasks: z
      .array(task)
      .superRefine(uniqueBy((t: { task_key: string }) => t.task_key, "task_key", "task key"))
      .optional()
      .describe("The job's tasks; environment overrides merge them by task_key."),
    job_clusters: z
      .array(jobCluster)
      .superRefine(uniqueBy((c: { job_cluster_key: string }) => c.job_cluster_key, "job_cluster_key", "job cluster key"))
      .optional()
      .describe("Clusters shared by the job's tasks; overrides merge them by job_cluster_key."),
    parameters: z
      .array(jobParameter)
      .superRefine(uniqueBy((p: { name: string }) => p.name, "name", "parameter"))
      .optional()
      .describe("Job parameters; overrides merge them by name."),
    environments: z
      .array(jobEnvironment)
      .superRefine(uniqueBy((e: { environment_key: string }) => e.environment_key, "environment_key", "environment key"))
      .optional()
      .describe("Serverless environments; overrides merge them by environment_key."),
    schedule: z
      .strictObject({
        quartz_cron_expression: nonEmpty(),
        timezone_id: nonEmpty(),
        pause_status: pauseStatus(),
      })
      .optional(),
    trigger: trigger.optional(),
    continuous: z
      .strictObject({ pause_status: pauseStatus(), task_retry_mode: z.enum(["NEVER", "ON_FAILURE"]).optional() })
      .optional(),
    email_notifications: emailNotifications.optional(),
    webhook_notifications: webhookNotifications.optional(),
    notification_settings: notificationSettings.omit({ alert_on_last_attempt: true }).optional(),
    timeout_seconds: nonNegInt().optional(),
    health: health.optional(),
    max_concurrent_runs: posInt().optional(),
    queue: z.strictObject({ enabled: bool() }).optional(),
    run_as: z
      .strictObject({ user_name: nonEmpty().optional(), service_principal_name: nonEmpty().optional() })
      .superRefine(exactlyOne(["user_name", "service_principal_name"], "run_as"))
      .optional(),
    git_source: gitSource.optional(),
    format: z.enum(["SINGLE_TASK", "MULTI_TASK"]).optional(),
    edit_mode: z.enum(["UI_LOCKED", "EDITABLE"]).optional(),
    deployment: z.strictObject({ kind: z.enum(["BUNDLE"]), metadata_file_path: str().optional() }).optional(),
    budget_policy_id: nonEmpty().optional(),
    usage_policy_id: nonEmpty().optional(),
    performance_target: z.enum(["PERFORMANCE_OPTIMIZED", "STANDARD"]).optional(),
    permissions: permissions(JOB_LEVELS).optional(),
    ...lifecycle,
  })
  .superRefine((v, ctx) => {
    exactlyOne(["schedule", "trigger", "continuous"], "a job", true)(v, ctx);
    jobChecks(v, ctx);
  })
  .meta({ id: "job", description: "A job (Jobs API 2.2 settings)." });

/** Arrays of a job merged item by item in environment overrides. */
export const JOB_KEYED_ARRAYS: Record<string, string> = {
  tasks: "task_key",
  job_clusters: "job_cluster_key",
  parameters: "name",
  environments: "environment_key",
};
