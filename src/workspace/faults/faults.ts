import { randomBytes } from "node:crypto";
import { invalid } from "../http.js";

/**
 * Fault injection and rate limiting for tests and benchmarks, configured through
 * `/__lakeforge/faults` and `/__lakeforge/rate-limits`.
 *
 * A fault rule matches by method and path glob (`*` within a segment, `**` across segments) and
 * fires for its first `count` matches, or with `probability` on each match:
 *  - `status`: answer that status (with `error_code`, `message`, `retry_after`) without running the handler;
 *  - `latency_ms`: wait, then handle normally;
 *  - `drop`: destroy the connection without answering (a reset);
 *  - `apply_then_status`: run the handler (the change is made) and then answer that status: a lost response.
 */
export interface FaultRule {
  id: string;
  method: string;
  path: string;
  count?: number;
  probability?: number;
  status?: number;
  error_code?: string;
  message?: string;
  retry_after?: number;
  latency_ms?: number;
  drop?: boolean;
  apply_then_status?: number;
  /** How many times the rule has fired. */
  fired: number;
}

export interface RateLimitRule {
  id: string;
  method: string;
  path: string;
  /** Requests per second allowed (token bucket refill rate). */
  rate: number;
  /** Bucket size; defaults to `rate`. */
  burst?: number;
  tokens: number;
  updated: number;
  limited: number;
}

export type FaultDecision =
  | { kind: "none"; latencyMs: number }
  | { kind: "status"; latencyMs: number; status: number; errorCode: string; message: string; retryAfter?: number }
  | { kind: "drop"; latencyMs: number }
  | { kind: "apply_then_status"; latencyMs: number; status: number };

export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === "*") {
      if (glob[i + 1] === "*") {
        source += ".*";
        i++;
      } else source += "[^/]*";
    } else if (ch === "?") source += "[^/]";
    else source += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

interface Compiled<T> {
  rule: T;
  re: RegExp;
}

const methodMatches = (rule: string, method: string) => rule === "*" || rule.toUpperCase() === method;

export class Faults {
  private faults: Compiled<FaultRule>[] = [];
  private limits: Compiled<RateLimitRule>[] = [];

  addFault(input: Record<string, unknown>): FaultRule {
    const rule: FaultRule = {
      id: randomBytes(6).toString("hex"),
      method: typeof input.method === "string" ? input.method.toUpperCase() : "*",
      path: typeof input.path === "string" ? input.path : "**",
      fired: 0,
    };
    for (const key of ["count", "probability", "status", "retry_after", "latency_ms", "apply_then_status"] as const) {
      const v = input[key];
      if (v === undefined) continue;
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw invalid(`fault ${key} must be a non-negative number`);
      rule[key] = v;
    }
    if (typeof input.error_code === "string") rule.error_code = input.error_code;
    if (typeof input.message === "string") rule.message = input.message;
    if (input.drop === true) rule.drop = true;
    const effects = [rule.status !== undefined, rule.drop === true, rule.apply_then_status !== undefined].filter(Boolean).length;
    if (effects > 1) throw invalid("a fault rule takes at most one of status, drop, apply_then_status");
    if (effects === 0 && rule.latency_ms === undefined)
      throw invalid("a fault rule needs status, drop, apply_then_status or latency_ms");
    if (rule.probability !== undefined && rule.probability > 1) throw invalid("probability must be between 0 and 1");
    this.faults.push({ rule, re: globToRegExp(rule.path) });
    return rule;
  }

  addRateLimit(input: Record<string, unknown>): RateLimitRule {
    const rate = input.rate;
    if (typeof rate !== "number" || !(rate > 0)) throw invalid("rate must be a positive number of requests per second");
    const burst = typeof input.burst === "number" && input.burst > 0 ? input.burst : undefined;
    const rule: RateLimitRule = {
      id: randomBytes(6).toString("hex"),
      method: typeof input.method === "string" ? input.method.toUpperCase() : "*",
      path: typeof input.path === "string" ? input.path : "**",
      rate,
      ...(burst !== undefined ? { burst } : {}),
      tokens: burst ?? rate,
      updated: Date.now(),
      limited: 0,
    };
    this.limits.push({ rule, re: globToRegExp(rule.path) });
    return rule;
  }

  listFaults(): FaultRule[] {
    return this.faults.map((f) => f.rule);
  }

  listRateLimits(): RateLimitRule[] {
    return this.limits.map((l) => l.rule);
  }

  removeFault(id: string): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.rule.id !== id);
    return this.faults.length < before;
  }

  removeRateLimit(id: string): boolean {
    const before = this.limits.length;
    this.limits = this.limits.filter((l) => l.rule.id !== id);
    return this.limits.length < before;
  }

  clear(): void {
    this.faults = [];
    this.limits = [];
  }

  get active(): boolean {
    return this.faults.length > 0 || this.limits.length > 0;
  }

  /** Seconds until a request is allowed, or 0 when it may proceed (and is counted). */
  rateLimit(method: string, path: string): number {
    const now = Date.now();
    for (const { rule, re } of this.limits) {
      if (!methodMatches(rule.method, method) || !re.test(path)) continue;
      const capacity = rule.burst ?? rule.rate;
      rule.tokens = Math.min(capacity, rule.tokens + ((now - rule.updated) / 1000) * rule.rate);
      rule.updated = now;
      if (rule.tokens >= 1) {
        rule.tokens -= 1;
        continue;
      }
      rule.limited++;
      return Math.max(1, Math.ceil((1 - rule.tokens) / rule.rate));
    }
    return 0;
  }

  decide(method: string, path: string): FaultDecision {
    let latencyMs = 0;
    for (const { rule, re } of this.faults) {
      if (!methodMatches(rule.method, method) || !re.test(path)) continue;
      if (rule.count !== undefined && rule.fired >= rule.count) continue;
      if (rule.probability !== undefined && Math.random() >= rule.probability) continue;
      rule.fired++;
      if (rule.latency_ms) latencyMs += rule.latency_ms;
      if (rule.drop) return { kind: "drop", latencyMs };
      if (rule.apply_then_status !== undefined) return { kind: "apply_then_status", latencyMs, status: rule.apply_then_status };
      if (rule.status !== undefined) {
        return {
          kind: "status",
          latencyMs,
          status: rule.status,
          errorCode: rule.error_code ?? defaultCode(rule.status),
          message: rule.message ?? `Injected fault: ${rule.status}`,
          ...(rule.retry_after !== undefined ? { retryAfter: rule.retry_after } : {}),
        };
      }
    }
    return { kind: "none", latencyMs };
  }
}

function defaultCode(status: number): string {
  if (status === 429) return "REQUEST_LIMIT_EXCEEDED";
  if (status === 503) return "TEMPORARILY_UNAVAILABLE";
  if (status === 404) return "RESOURCE_DOES_NOT_EXIST";
  if (status === 403) return "PERMISSION_DENIED";
  if (status === 409) return "RESOURCE_CONFLICT";
  if (status >= 500) return "INTERNAL_ERROR";
  return "INVALID_PARAMETER_VALUE";
}
