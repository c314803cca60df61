/**
 * Which environment a generated pipeline plans or applies for an event: GitHub workflows' `on:` filters
 * and `if:` conditions evaluated with GitHub's own expression library (@actions/expressions), and the
 * Azure DevOps pipeline's triggers and stage conditions with a small evaluator of the functions it uses.
 * A job that runs `lakeforge ... apply` in a step whose condition holds (given a plan with changes)
 * applies its environment; otherwise it plans it.
 */
import { data, Evaluator, Lexer, Parser } from "@actions/expressions";
import { truthy } from "@actions/expressions/result";
import { parse as parseYaml } from "yaml";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

export interface Deployment {
  /** Workflow file (GitHub) or stage (Azure DevOps). */
  where: string;
  environment: string;
  operation: "plan" | "apply";
}

const LAKEFORGE_RUN = /lakeforge@\S*\s+(plan|apply)\b[^\n]*?--environment\s+([A-Za-z0-9_-]+)/g;

function lakeforgeCommands(script: string): { operation: "plan" | "apply"; environment: string }[] {
  return [...script.matchAll(LAKEFORGE_RUN)].map((m) => ({ operation: m[1] as "plan" | "apply", environment: m[2] as string }));
}

/** GitHub's filter patterns: `*` within a path segment, `**` across them. */
function ghMatch(pattern: string, name: string): boolean {
  const re = pattern
    .split("**")
    .map((part) =>
      part
        .split("*")
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join("[^/]*"),
    )
    .join(".*");
  return new RegExp(`^${re}$`).test(name);
}

// ---------------------------------------------------------------------------------------------
// GitHub Actions

export type GithubEvent =
  | { name: "push"; ref: string }
  | {
      name: "pull_request";
      action: "opened" | "synchronize" | "reopened" | "closed";
      base: string;
      merged?: boolean;
      fork?: boolean;
    }
  | { name: "workflow_dispatch"; ref: string; inputs: Record<string, string> };

const REPO = "example-org/ml-platform";

function evaluate(expression: string, context: Obj): boolean {
  const lexed = new Lexer(expression).lex();
  const expr = new Parser(lexed.tokens, Object.keys(context), []).parse();
  const ctx = JSON.parse(JSON.stringify(context), data.reviver) as data.Dictionary;
  return truthy(new Evaluator(expr, ctx).evaluate());
}

function triggered(on: Obj, event: GithubEvent): boolean {
  const trigger = on[event.name];
  if (trigger === undefined) return false;
  const filters = isObj(trigger) ? trigger : {};
  if (event.name === "push") {
    const [kind, name] = event.ref.startsWith("refs/tags/")
      ? ["tags", event.ref.slice("refs/tags/".length)]
      : ["branches", event.ref.slice("refs/heads/".length)];
    const patterns = filters[kind] as string[] | undefined;
    const other = filters[kind === "tags" ? "branches" : "tags"];
    if (patterns === undefined) return other === undefined;
    return patterns.some((p) => ghMatch(p, name));
  }
  if (event.name === "pull_request") {
    const types = (filters.types as string[] | undefined) ?? ["opened", "synchronize", "reopened"];
    if (!types.includes(event.action)) return false;
    const branches = filters.branches as string[] | undefined;
    return branches === undefined || branches.some((p) => ghMatch(p, event.base));
  }
  return true;
}

function githubContext(event: GithubEvent): Obj {
  if (event.name === "pull_request") {
    return {
      github: {
        event_name: "pull_request",
        ref: "refs/pull/7/merge",
        base_ref: event.base,
        head_ref: "feature/x",
        repository: REPO,
        event: {
          action: event.action,
          pull_request: {
            number: 7,
            merged: event.merged === true,
            head: { repo: { full_name: event.fork ? "someone/ml-platform" : REPO } },
          },
        },
      },
      inputs: {},
    };
  }
  return {
    github: { event_name: event.name, ref: event.ref, base_ref: "", repository: REPO, event: {} },
    inputs: event.name === "workflow_dispatch" ? event.inputs : {},
  };
}

/** What one workflow file plans and applies for an event. */
export function githubDeployments(file: string, text: string, event: GithubEvent): Deployment[] {
  const doc = parseYaml(text) as Obj;
  if (!triggered(doc.on as Obj, event)) return [];
  const jobs = doc.jobs as Record<string, Obj>;
  const ran = new Map<string, boolean>();
  const context = githubContext(event);
  const runs = (id: string): boolean => {
    const known = ran.get(id);
    if (known !== undefined) return known;
    const job = jobs[id] as Obj;
    const needs = list(job.needs) as string[];
    const ok = needs.every(runs) && (job.if === undefined || evaluate(String(job.if), context));
    ran.set(id, ok);
    return ok;
  };
  const out: Deployment[] = [];
  for (const [id, job] of Object.entries(jobs)) {
    if (!runs(id)) continue;
    const stepContext = { ...context, steps: { plan: { outputs: { changes: "true" } } }, needs: {} };
    let applies = false;
    let environment: string | undefined;
    for (const step of list(job.steps) as Obj[]) {
      for (const c of lakeforgeCommands(String(step.run ?? ""))) {
        environment = c.environment;
        if (c.operation === "apply" && (step.if === undefined || evaluate(String(step.if), stepContext))) applies = true;
      }
    }
    if (environment) out.push({ where: file, environment, operation: applies ? "apply" : "plan" });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Azure DevOps

export type AdoEvent =
  | { reason: "IndividualCI"; branch: string }
  | { reason: "PullRequest"; target: string }
  | { reason: "Manual"; branch: string; parameters: Record<string, string> };

/** Azure DevOps branch filters: `*` matches anything, `/` included. */
const adoMatch = (pattern: string, name: string) =>
  new RegExp(
    `^${pattern
      .split("*")
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  ).test(name);

type Value = string | boolean;

/** The functions the generated conditions use, with Azure DevOps' semantics (case-insensitive comparisons). */
function adoEvaluate(
  expression: string,
  variables: Record<string, string>,
  deps: string[],
  states: Map<string, string>,
): boolean {
  let i = 0;
  const src = expression;
  const skip = () => {
    while (/\s/.test(src[i] ?? "")) i++;
  };
  const expect = (c: string) => {
    skip();
    if (src[i] !== c) throw new Error(`expected ${c} at ${i} in ${src}`);
    i++;
  };
  const str = (): string => {
    expect("'");
    let s = "";
    while (i < src.length) {
      if (src[i] === "'" && src[i + 1] === "'") {
        s += "'";
        i += 2;
      } else if (src[i] === "'") break;
      else s += src[i++];
    }
    i++;
    return s;
  };
  const value = (): Value => {
    skip();
    if (src[i] === "'") return str();
    const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(src.slice(i));
    if (!m) throw new Error(`unexpected ${src.slice(i)}`);
    const name = m[0];
    i += name.length;
    if (name === "variables") {
      expect("[");
      const key = str();
      expect("]");
      return variables[key] ?? "";
    }
    if (name === "true" || name === "false") return name === "true";
    expect("(");
    const args: Value[] = [];
    skip();
    if (src[i] !== ")") {
      for (;;) {
        args.push(value());
        skip();
        if (src[i] === ",") {
          i++;
          continue;
        }
        break;
      }
    }
    expect(")");
    const s = (v: Value | undefined) => String(v ?? "").toLowerCase();
    const depStates = () => deps.map((d) => states.get(d));
    switch (name) {
      case "and":
        return args.every((a) => a === true);
      case "or":
        return args.some((a) => a === true);
      case "not":
        return args[0] !== true;
      case "eq":
        return s(args[0]) === s(args[1]);
      case "in":
        return args.slice(1).some((a) => s(a) === s(args[0]));
      case "startsWith":
        return s(args[0]).startsWith(s(args[1]));
      case "succeeded":
        return depStates().every((x) => x === "Succeeded");
      case "failed":
        return depStates().some((x) => x === "Failed");
      case "canceled":
        return false;
      default:
        throw new Error(`function ${name} is not supported by the test evaluator`);
    }
  };
  const result = value();
  skip();
  if (i !== src.length) throw new Error(`trailing text in ${src}`);
  return result === true;
}

/** The stages of the pipeline as parsed YAML, with `${{ parameters.x }}` expanded for the run. */
export function adoStages(text: string, parameters: Record<string, string> = {}): Obj[] {
  const doc = parseYaml(text) as Obj;
  const defaults: Record<string, string> = {};
  for (const p of list(doc.parameters) as Obj[]) defaults[String(p.name)] = String(p.default);
  const values = { ...defaults, ...parameters };
  const expanded = text.replace(/\$\{\{\s*parameters\.([A-Za-z_]+)\s*\}\}/g, (_, n: string) => values[n] ?? "");
  return list((parseYaml(expanded) as Obj).stages) as Obj[];
}

/** What the Azure DevOps pipeline plans and applies for an event. */
export function adoDeployments(text: string, event: AdoEvent): Deployment[] {
  const doc = parseYaml(text) as Obj;
  if (event.reason === "IndividualCI") {
    const trigger = doc.trigger as Obj;
    const isTag = event.branch.startsWith("refs/tags/");
    const filter = (isTag ? trigger.tags : trigger.branches) as Obj | undefined;
    const name = event.branch.replace(/^refs\/(heads|tags)\//, "");
    if (!filter || !list(filter.include).some((p) => adoMatch(String(p), name))) return [];
  }
  if (event.reason === "PullRequest") {
    const pr = doc.pr as Obj;
    const name = event.target.replace(/^refs\/heads\//, "");
    if (!list((pr.branches as Obj).include).some((p) => adoMatch(String(p), name))) return [];
  }
  const stages = adoStages(text, event.reason === "Manual" ? event.parameters : {});
  const variables: Record<string, string> = {
    "Build.Reason": event.reason,
    "Build.SourceBranch": event.reason === "PullRequest" ? "refs/pull/7/merge" : event.branch,
    "System.PullRequest.TargetBranch": event.reason === "PullRequest" ? event.target : "",
    // Within a job: a plan with changes.
    "plan.changes": "true",
  };
  const states = new Map<string, string>();
  const out: Deployment[] = [];
  for (const stage of stages) {
    const name = String(stage.stage);
    const deps = stage.dependsOn === undefined ? [] : (list(stage.dependsOn) as string[]);
    const condition = String(stage.condition ?? "succeeded()");
    const run = adoEvaluate(condition, variables, deps, states);
    states.set(name, run ? "Succeeded" : "Skipped");
    if (!run) continue;
    for (const job of list(stage.jobs) as Obj[]) {
      const steps = job.deployment
        ? (list((((job.strategy as Obj).runOnce as Obj).deploy as Obj).steps) as Obj[])
        : (list(job.steps) as Obj[]);
      let environment: string | undefined;
      let applies = false;
      for (const step of steps) {
        const script = String(step.bash ?? ((step.inputs as Obj | undefined)?.inlineScript as string | undefined) ?? "");
        for (const c of lakeforgeCommands(script)) {
          environment = c.environment;
          const cond = step.condition === undefined ? true : adoEvaluate(String(step.condition), variables, [], new Map());
          if (c.operation === "apply" && cond) applies = true;
        }
      }
      if (environment) out.push({ where: name, environment, operation: applies ? "apply" : "plan" });
    }
  }
  return out;
}
