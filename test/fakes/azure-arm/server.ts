import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * A local Azure Resource Manager for tests, driven by the official `@azure/arm-*` clients over HTTPS
 * (their bearer-token policy refuses plain HTTP; the certificate here is a throwaway for 127.0.0.1).
 *
 * It follows ARM's long-running-operation protocol: a subscription-scope deployment PUT answers 201
 * with `Azure-AsyncOperation`, `Location` and `Retry-After`, and the operation is polled until it
 * Succeeded or Failed (with the inner error); a what-if POST answers 202 with `Location` and its
 * result lists the changes against the resources the fake holds; a resource group DELETE is polled the
 * same way. Requests are checked: api-versions are those published for each type, template bodies
 * have the template structure. Faults: 429 throttling with `Retry-After`, a failing deployment.
 */

const here = dirname(fileURLToPath(import.meta.url));
export const FAKE_ARM_CA = readFileSync(join(here, "cert.pem"), "utf8");
const KEY = readFileSync(join(here, "key.pem"), "utf8");

/** Published api-versions (a subset) of the types the fake accepts. */
const KNOWN_API_VERSIONS: Record<string, string[]> = {
  "microsoft.resources/deployments": ["2021-04-01", "2022-09-01", "2024-03-01", "2025-04-01", "2026-06-01"],
  "microsoft.resources/resourcegroups": ["2021-04-01", "2022-09-01", "2024-03-01", "2025-04-01"],
  "microsoft.databricks/workspaces": ["2018-04-01", "2023-02-01", "2024-05-01"],
  "microsoft.databricks/accessconnectors": ["2022-10-01-preview", "2023-05-01", "2024-05-01"],
  "microsoft.keyvault/vaults": ["2023-07-01", "2024-11-01", "2025-05-01"],
  "microsoft.storage/storageaccounts": ["2023-05-01", "2024-01-01", "2025-01-01", "2025-06-01", "2025-08-01"],
  "microsoft.storage/storageaccounts/blobservices/containers": [
    "2023-05-01",
    "2024-01-01",
    "2025-01-01",
    "2025-06-01",
    "2025-08-01",
  ],
  "microsoft.operationalinsights/workspaces": ["2020-08-01", "2022-10-01", "2023-09-01"],
  "microsoft.insights/components": ["2020-02-02"],
  "microsoft.insights/diagnosticsettings": ["2017-05-01-preview", "2021-05-01-preview"],
  "microsoft.authorization/roleassignments": ["2020-04-01-preview", "2022-04-01"],
  "microsoft.managedidentity/userassignedidentities": ["2023-01-31", "2024-11-30"],
  "microsoft.managedidentity/userassignedidentities/federatedidentitycredentials": ["2023-01-31", "2024-11-30"],
  "microsoft.network/networksecuritygroups": ["2023-09-01", "2024-05-01"],
  "microsoft.network/virtualnetworks": ["2023-09-01", "2024-05-01"],
};

export interface StoredResource {
  id: string;
  type: string;
  name: string;
  location?: string;
  tags?: Record<string, string>;
  sku?: unknown;
  kind?: string;
  identity?: Record<string, unknown>;
  properties: Record<string, unknown>;
}

interface Operation {
  kind: "deployment" | "whatif" | "delete";
  polls: number;
  status: "Running" | "Succeeded" | "Failed";
  error?: ArmError;
  result?: unknown;
  run: () => void;
}

interface ArmError {
  code: string;
  message: string;
  target?: string;
  details?: ArmError[];
}

interface DeploymentRecord {
  id: string;
  name: string;
  location: string;
  state: "Accepted" | "Running" | "Succeeded" | "Failed";
  template: Record<string, unknown>;
  outputs?: Record<string, { type: string; value: unknown }>;
  error?: ArmError;
  operations: { id: string; resourceId: string; type: string; name: string; state: string; message?: unknown }[];
  timestamp: string;
}

export interface LoggedRequest {
  method: string;
  path: string;
  apiVersion?: string;
  status: number;
  authorized: boolean;
}

export interface FakeArm {
  url: string;
  tenantId: string;
  resources: Map<string, StoredResource>;
  requests: LoggedRequest[];
  /** The next `n` requests answer 429 with `Retry-After: seconds`. */
  throttle(n: number, seconds?: number): void;
  /** The next deployment fails on its first resource of `type` with this error. */
  failNextDeployment(type: string, error: { code: string; message: string }): void;
  /** `Retry-After` of long-running operations, in seconds (default 0). */
  setRetryAfter(seconds: number): void;
  /**
   * What `workspaceUrl` Databricks workspaces created from now on get (and so the template output
   * `${azure.databricks.url}`), e.g. a running local workspace's `http://127.0.0.1:<port>`; by default
   * an `adb-<id>.<n>.azuredatabricks.net` host name, as Azure gives.
   */
  setWorkspaceUrl(url: string | ((workspaceName: string) => string) | undefined): void;
  /** Changes a stored resource behind Lakeforge's back. */
  mutate(id: string, change: (r: StoredResource) => void): void;
  stop(): Promise<void>;
}

const lower = (s: string) => s.toLowerCase();

export interface FakeArmOptions {
  /** Initial `setWorkspaceUrl`. */
  workspaceUrl?: string | ((workspaceName: string) => string);
}

export async function startFakeArm(options: FakeArmOptions = {}): Promise<FakeArm> {
  const tenantId = "72f988bf-0000-4000-8000-00000000fa4e";
  const resources = new Map<string, StoredResource>();
  const deployments = new Map<string, DeploymentRecord>();
  const operations = new Map<string, Operation>();
  const requests: LoggedRequest[] = [];
  let throttled = 0;
  let throttleSeconds = 1;
  let retryAfter = 0;
  let failure: { type: string; error: { code: string; message: string } } | undefined;
  let counter = 1000;
  let base = "";
  let workspaceUrl = options.workspaceUrl;

  const get = (id: string) => resources.get(lower(id));
  const put = (r: StoredResource) => resources.set(lower(r.id), r);

  const server: Server = createServer({ key: KEY, cert: FAKE_ARM_CA }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", base);
      const log: LoggedRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        apiVersion: url.searchParams.get("api-version") ?? undefined,
        status: 0,
        authorized: /^Bearer \S+$/.test(req.headers.authorization ?? ""),
      };
      requests.push(log);
      const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
        log.status = status;
        res.writeHead(status, { "content-type": "application/json", "x-ms-request-id": randomUUID(), ...headers });
        res.end(body === undefined ? "" : JSON.stringify(body));
      };
      const fail = (status: number, code: string, message: string) => send(status, { error: { code, message } });
      if (!log.authorized)
        return fail(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
      if (throttled > 0) {
        throttled--;
        return send(
          429,
          { error: { code: "TooManyRequests", message: "The request is being throttled." } },
          { "retry-after": String(throttleSeconds) },
        );
      }
      let body: unknown;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined;
      } catch {
        return fail(400, "InvalidRequestContent", "The request content is not valid JSON.");
      }
      try {
        route(req, url, body, send, fail);
      } catch (e) {
        fail(500, "InternalServerError", (e as Error).message);
      }
    });
  });

  const lro = (op: Operation) => {
    const id = randomUUID();
    operations.set(id, op);
    return id;
  };

  function route(
    req: IncomingMessage,
    url: URL,
    body: unknown,
    send: (s: number, b?: unknown, h?: Record<string, string>) => void,
    fail: (s: number, c: string, m: string) => void,
  ) {
    const p = url.pathname;
    const api = url.searchParams.get("api-version");
    let m = /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.Resources\/deployments\/([^/]+)(\/whatIf|\/operations)?$/i.exec(p);
    if (m) {
      if (!api || !KNOWN_API_VERSIONS["microsoft.resources/deployments"]?.includes(api)) {
        return fail(400, "InvalidApiVersionParameter", `The api-version '${api}' is invalid.`);
      }
      const [, sub, name, suffix] = m as unknown as [string, string, string, string | undefined];
      const depId = `/subscriptions/${sub}/providers/Microsoft.Resources/deployments/${name}`;
      if (suffix?.toLowerCase() === "/whatif" && req.method === "POST") {
        const problem = checkDeploymentBody(body);
        if (problem) return fail(400, "InvalidTemplate", problem);
        const props = (body as { properties: { template: Record<string, unknown> } }).properties;
        const opId = lro({ kind: "whatif", polls: 0, status: "Running", run: () => {} });
        const op = operations.get(opId) as Operation;
        op.run = () => {
          op.result = { status: "Succeeded", properties: { changes: whatIf(sub, props.template) } };
          op.status = "Succeeded";
        };
        return send(202, undefined, {
          location: `${base}/subscriptions/${sub}/providers/Microsoft.Resources/operationResults/${opId}?api-version=${api}`,
          "retry-after": String(retryAfter),
        });
      }
      if (suffix?.toLowerCase() === "/operations" && req.method === "GET") {
        const d = deployments.get(lower(depId));
        if (!d) return fail(404, "DeploymentNotFound", `Deployment '${name}' could not be found.`);
        return send(200, { value: d.operations.map((o) => operationBody(depId, o)) });
      }
      if (suffix) return fail(405, "MethodNotAllowed", "method not allowed");
      if (req.method === "GET") {
        const d = deployments.get(lower(depId));
        if (!d) return fail(404, "DeploymentNotFound", `Deployment '${name}' could not be found.`);
        return send(200, deploymentBody(d));
      }
      if (req.method === "PUT") {
        const problem = checkDeploymentBody(body, true);
        if (problem) return fail(400, "InvalidTemplate", problem);
        const b = body as { location: string; properties: { template: Record<string, unknown> } };
        const d: DeploymentRecord = {
          id: depId,
          name,
          location: b.location,
          state: "Accepted",
          template: b.properties.template,
          operations: [],
          timestamp: new Date().toISOString(),
        };
        deployments.set(lower(depId), d);
        const opId = lro({ kind: "deployment", polls: 0, status: "Running", run: () => {} });
        const op = operations.get(opId) as Operation;
        op.run = () => {
          const result = execute(sub, d);
          d.state = result.error ? "Failed" : "Succeeded";
          if (result.error) d.error = result.error;
          else d.outputs = result.outputs;
          op.status = d.state;
          if (result.error) op.error = result.error;
        };
        const status = `${base}/subscriptions/${sub}/providers/Microsoft.Resources/deployments/${name}/operationStatuses/${opId}?api-version=${api}`;
        return send(201, deploymentBody(d), {
          "azure-asyncoperation": status,
          location: `${base}/subscriptions/${sub}/providers/Microsoft.Resources/deployments/${name}/operationResults/${opId}?api-version=${api}`,
          "retry-after": String(retryAfter),
        });
      }
      return fail(405, "MethodNotAllowed", "method not allowed");
    }
    m = /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.Resources\/deployments\/([^/]+)\/operationStatuses\/([^/]+)$/i.exec(p);
    if (m && req.method === "GET") {
      const op = operations.get(m[3] as string);
      if (!op) return fail(404, "NotFound", "operation not found");
      advance(op);
      return send(
        200,
        { status: op.status, ...(op.error ? { error: op.error } : {}) },
        op.status === "Running" ? { "retry-after": String(retryAfter) } : {},
      );
    }
    m = /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.Resources\/(deployments\/[^/]+\/)?operationResults\/([^/]+)$/i.exec(p);
    if (m && req.method === "GET") {
      const op = operations.get(m[3] as string);
      if (!op) return fail(404, "NotFound", "operation not found");
      advance(op);
      if (op.status === "Running")
        return send(202, undefined, { location: `${base}${p}${url.search}`, "retry-after": String(retryAfter) });
      if (op.kind === "whatif") return send(200, op.result);
      if (op.kind === "delete") return send(200);
      const d = [...deployments.values()].find((x) => p.includes(`/deployments/${x.name}/`));
      return send(200, d ? deploymentBody(d) : {});
    }
    // The SDK lists a resource group's deployment operations on the classic route (no provider segment).
    m =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/(?:providers\/Microsoft\.Resources\/)?deployments\/([^/]+)\/operations$/i.exec(
        p,
      );
    if (m && req.method === "GET") {
      if (!api || !KNOWN_API_VERSIONS["microsoft.resources/deployments"]?.includes(api)) {
        return fail(400, "InvalidApiVersionParameter", `The api-version '${api}' is invalid.`);
      }
      const d = deployments.get(
        lower(`/subscriptions/${m[1]}/resourceGroups/${m[2]}/providers/Microsoft.Resources/deployments/${m[3]}`),
      );
      if (!d) return fail(404, "DeploymentNotFound", `Deployment '${m[3]}' could not be found.`);
      return send(200, { value: d.operations.map((o) => operationBody(d.id, o)) });
    }
    m = /^\/subscriptions\/([^/]+)\/resourcegroups$/i.exec(p);
    if (m && req.method === "GET") {
      const filter = url.searchParams.get("$filter") ?? "";
      const tag = /tagName eq '([^']+)' and tagValue eq '([^']+)'/.exec(filter);
      const groups = [...resources.values()].filter(
        (r) =>
          r.type === "Microsoft.Resources/resourceGroups" &&
          r.id.toLowerCase().startsWith(`/subscriptions/${(m as RegExpExecArray)[1]}/`.toLowerCase()) &&
          (!tag || r.tags?.[tag[1] as string] === tag[2]),
      );
      return send(200, { value: groups.map(resourceGroupBody) });
    }
    m = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)$/i.exec(p);
    if (m) {
      const id = `/subscriptions/${m[1]}/resourceGroups/${m[2]}`;
      const rg = get(id);
      if (req.method === "GET" || req.method === "HEAD") {
        return rg
          ? send(200, resourceGroupBody(rg))
          : fail(404, "ResourceGroupNotFound", `Resource group '${m[2]}' could not be found.`);
      }
      if (req.method === "DELETE") {
        if (!rg) return send(204);
        const opId = lro({
          kind: "delete",
          polls: 0,
          status: "Running",
          run: () => {
            for (const k of [...resources.keys()]) if (k === lower(id) || k.startsWith(`${lower(id)}/`)) resources.delete(k);
          },
        });
        const op = operations.get(opId) as Operation;
        const inner = op.run;
        op.run = () => {
          inner();
          op.status = "Succeeded";
        };
        return send(202, undefined, {
          location: `${base}/subscriptions/${m[1]}/providers/Microsoft.Resources/operationResults/${opId}?api-version=${api}`,
          "retry-after": String(retryAfter),
        });
      }
    }
    return fail(404, "NotFound", `no route for ${req.method} ${p}`);
  }

  /** Operations run after one poll that reports Running, as ARM's do. */
  function advance(op: Operation) {
    op.polls++;
    if (op.status === "Running" && op.polls > 1) op.run();
  }

  function deploymentBody(d: DeploymentRecord) {
    return {
      id: d.id,
      name: d.name,
      type: "Microsoft.Resources/deployments",
      location: d.location,
      properties: {
        provisioningState: d.state,
        timestamp: d.timestamp,
        mode: "Incremental",
        ...(d.outputs ? { outputs: d.outputs } : {}),
        ...(d.error ? { error: d.error } : {}),
      },
    };
  }

  function operationBody(depId: string, o: DeploymentRecord["operations"][number]) {
    return {
      id: `${depId}/operations/${o.id}`,
      operationId: o.id,
      properties: {
        provisioningOperation: "Create",
        provisioningState: o.state,
        timestamp: new Date().toISOString(),
        targetResource: { id: o.resourceId, resourceType: o.type, resourceName: o.name },
        ...(o.message ? { statusMessage: { status: o.state, error: o.message } } : {}),
      },
    };
  }

  function resourceGroupBody(r: StoredResource) {
    return {
      id: r.id,
      name: r.name,
      type: "Microsoft.Resources/resourceGroups",
      location: r.location,
      tags: r.tags ?? {},
      properties: { provisioningState: "Succeeded" },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Templates

  function checkDeploymentBody(body: unknown, needLocation = false): string | undefined {
    if (!body || typeof body !== "object") return "the request body must be a deployment object";
    const b = body as Record<string, unknown>;
    if (typeof b.location !== "string" || b.location === "") return "a subscription-scope deployment needs a location";
    const props = b.properties as Record<string, unknown> | undefined;
    if (!props || typeof props !== "object") return "the deployment has no properties";
    if (props.mode !== "Incremental" && props.mode !== "Complete") return `invalid deployment mode '${String(props.mode)}'`;
    if (props.templateLink) return "templateLink is not supported by this endpoint";
    void needLocation;
    return checkTemplate(props.template, "subscriptionDeploymentTemplate.json", "template");
  }

  function checkTemplate(t: unknown, schema: string, where: string): string | undefined {
    if (!t || typeof t !== "object") return `${where}: the template must be an object`;
    const tpl = t as Record<string, unknown>;
    if (typeof tpl.$schema !== "string" || !tpl.$schema.includes(schema)) return `${where}.$schema: expected a ${schema} schema`;
    if (tpl.contentVersion !== "1.0.0.0") return `${where}.contentVersion: expected 1.0.0.0`;
    if (!Array.isArray(tpl.resources)) return `${where}.resources: expected an array`;
    const names = new Set<string>();
    for (const [i, r] of (tpl.resources as Record<string, unknown>[]).entries()) {
      const at = `${where}.resources[${i}]`;
      if (typeof r.type !== "string" || typeof r.name !== "string" || typeof r.apiVersion !== "string") {
        return `${at}: type, name and apiVersion are required`;
      }
      const known = KNOWN_API_VERSIONS[lower(r.type)];
      if (!known) return `${at}: resource type '${r.type}' is not supported`;
      if (!known.includes(r.apiVersion)) return `${at}: api-version '${r.apiVersion}' is not valid for '${r.type}'`;
      if (r.dependsOn !== undefined && (!Array.isArray(r.dependsOn) || r.dependsOn.some((d) => typeof d !== "string"))) {
        return `${at}.dependsOn: expected an array of strings`;
      }
      const key = `${lower(r.type)}|${lower(String(r.scope ?? ""))}|${lower(r.name)}`;
      if (names.has(key)) return `${at}: resource '${r.name}' is defined more than once`;
      names.add(key);
      if (lower(r.type) === "microsoft.resources/deployments") {
        const p = r.properties as Record<string, unknown> | undefined;
        if (!p || (p.mode !== "Incremental" && p.mode !== "Complete")) return `${at}.properties.mode: Incremental or Complete`;
        const problem = checkTemplate(p.template, "deploymentTemplate.json", `${at}.properties.template`);
        if (problem) return problem;
      }
    }
    for (const [k, o] of Object.entries((tpl.outputs ?? {}) as Record<string, { type?: string; value?: unknown }>)) {
      if (typeof o.type !== "string" || o.value === undefined) return `${where}.outputs.${k}: type and value are required`;
    }
    return undefined;
  }

  interface Desired {
    id: string;
    resource: Record<string, unknown>;
    rg?: string;
  }

  /** The resources a subscription-scope template makes, with their ids, nested deployments expanded. */
  function desired(sub: string, template: Record<string, unknown>): Desired[] {
    const out: Desired[] = [];
    for (const r of template.resources as Record<string, unknown>[]) {
      const type = String(r.type);
      if (lower(type) === "microsoft.resources/resourcegroups") {
        out.push({ id: `/subscriptions/${sub}/resourceGroups/${r.name}`, resource: r });
      } else if (lower(type) === "microsoft.resources/deployments") {
        const rg = String(r.resourceGroup);
        const inner = (r.properties as { template: { resources: Record<string, unknown>[] } }).template;
        for (const x of inner.resources) out.push({ id: idOf(sub, rg, x), resource: x, rg });
      } else out.push({ id: idOf(sub, undefined, r), resource: r });
    }
    return out;
  }

  function idOf(sub: string, rg: string | undefined, r: Record<string, unknown>): string {
    const [ns, ...types] = String(r.type).split("/");
    const names = String(r.name).split("/");
    const tail = `providers/${ns}/${types.map((t, i) => `${t}/${names[i]}`).join("/")}`;
    if (typeof r.scope === "string") return `${r.scope}/${tail}`;
    return rg ? `/subscriptions/${sub}/resourceGroups/${rg}/${tail}` : `/subscriptions/${sub}/${tail}`;
  }

  /** Evaluates the expressions the fake understands; others come back as `undefined`. */
  function evaluate(v: unknown): unknown {
    if (typeof v === "string" && v.startsWith("[") && v.endsWith("]") && !v.startsWith("[[")) {
      const expr = v.slice(1, -1);
      if (expr === "subscription().tenantId") return tenantId;
      const m = /^reference\('([^']+)', '([^']+)'(, 'Full')?\)\.(.+)$/.exec(expr);
      if (m) {
        const dep = deployments.get(lower(m[1] as string));
        const target = get(m[1] as string) ?? (dep ? { properties: { outputs: dep.outputs } } : undefined);
        if (!target) return undefined;
        let cur: unknown = m[3] ? target : target.properties;
        for (const seg of (m[4] as string).split(".")) cur = (cur as Record<string, unknown> | undefined)?.[seg];
        return cur;
      }
      return undefined;
    }
    if (Array.isArray(v)) return v.map(evaluate);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, evaluate(x)]));
    return v;
  }

  function materialise(d: Desired, existing: StoredResource | undefined): StoredResource {
    const r = d.resource;
    const type = String(r.type);
    const props = (evaluate(r.properties ?? {}) as Record<string, unknown>) ?? {};
    const name = String(r.name).split("/").pop() as string;
    const out: StoredResource = {
      id: d.id,
      type,
      name,
      ...(r.location ? { location: String(r.location) } : {}),
      ...(r.tags ? { tags: r.tags as Record<string, string> } : {}),
      ...(r.sku ? { sku: r.sku } : {}),
      ...(r.kind ? { kind: String(r.kind) } : {}),
      properties: { ...props },
    };
    const n = ++counter;
    const t = lower(type);
    const keep = (k: string, make: () => unknown) => {
      out.properties[k] = existing?.properties[k] ?? make();
    };
    if (t === "microsoft.databricks/workspaces") {
      keep("workspaceId", () => `${4000000000000000 + n}`);
      keep("workspaceUrl", () =>
        workspaceUrl === undefined
          ? `adb-${4000000000000000 + n}.${n % 20}.azuredatabricks.net`
          : typeof workspaceUrl === "string"
            ? workspaceUrl
            : workspaceUrl(name),
      );
    }
    if (t === "microsoft.keyvault/vaults") keep("vaultUri", () => `https://${name}.vault.azure.net/`);
    if (t === "microsoft.storage/storageaccounts") {
      keep("primaryEndpoints", () => ({
        dfs: `https://${name}.dfs.core.windows.net/`,
        blob: `https://${name}.blob.core.windows.net/`,
      }));
    }
    if (t === "microsoft.managedidentity/userassignedidentities") {
      keep("clientId", () => randomUUID());
      keep("principalId", () => randomUUID());
      keep("tenantId", () => tenantId);
    }
    if (r.identity) {
      out.identity = existing?.identity ?? { ...(r.identity as object), principalId: randomUUID(), tenantId };
    }
    out.properties.provisioningState = "Succeeded";
    return out;
  }

  function execute(sub: string, d: DeploymentRecord): { outputs?: DeploymentRecord["outputs"]; error?: ArmError } {
    const f = failure;
    failure = undefined;
    const nested: DeploymentRecord[] = [];
    for (const r of d.template.resources as Record<string, unknown>[]) {
      if (lower(String(r.type)) === "microsoft.resources/deployments") {
        const rg = String(r.resourceGroup);
        const id = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Resources/deployments/${r.name}`;
        const inner: DeploymentRecord = {
          id,
          name: String(r.name),
          location: d.location,
          state: "Running",
          template: (r.properties as { template: Record<string, unknown> }).template,
          operations: [],
          timestamp: new Date().toISOString(),
        };
        deployments.set(lower(id), inner);
        nested.push(inner);
      }
    }
    for (const item of desired(sub, d.template)) {
      const type = String(item.resource.type);
      const owner = item.rg ? (nested.find((x) => x.id.includes(`/resourceGroups/${item.rg}/`)) ?? d) : d;
      if (item.rg && !get(`/subscriptions/${sub}/resourceGroups/${item.rg}`)) {
        const error = { code: "ResourceGroupNotFound", message: `Resource group '${item.rg}' could not be found.` };
        return {
          error: { code: "DeploymentFailed", message: "At least one resource deployment operation failed.", details: [error] },
        };
      }
      if (f && lower(type) === lower(f.type)) {
        owner.operations.push({
          id: String(++counter),
          resourceId: item.id,
          type,
          name: String(item.resource.name),
          state: "Failed",
          message: f.error,
        });
        owner.state = "Failed";
        return {
          error: {
            code: "DeploymentFailed",
            message: "At least one resource deployment operation failed. Please list deployment operations for details.",
            details: [{ ...f.error, target: item.id }],
          },
        };
      }
      const existing = get(item.id);
      put(materialise(item, existing));
      owner.operations.push({
        id: String(++counter),
        resourceId: item.id,
        type,
        name: String(item.resource.name),
        state: "Succeeded",
      });
    }
    const evalOutputs = (tpl: Record<string, unknown>) =>
      Object.fromEntries(
        Object.entries((tpl.outputs ?? {}) as Record<string, { type: string; value: unknown }>).map(([k, o]) => [
          k,
          { type: o.type, value: evaluate(o.value) },
        ]),
      );
    for (const n of nested) {
      n.outputs = evalOutputs(n.template);
      n.state = "Succeeded";
    }
    return { outputs: evalOutputs(d.template) };
  }

  function whatIf(sub: string, template: Record<string, unknown>) {
    const changes: Record<string, unknown>[] = [];
    const seen = new Set<string>();
    const groups = new Set<string>();
    for (const item of desired(sub, template)) {
      seen.add(lower(item.id));
      if (item.rg) groups.add(lower(`/subscriptions/${sub}/resourceGroups/${item.rg}`));
      if (lower(String(item.resource.type)) === "microsoft.resources/resourcegroups") groups.add(lower(item.id));
      const existing = get(item.id);
      const after = { ...item.resource, properties: evaluate(item.resource.properties ?? {}) };
      if (!existing) {
        changes.push({ resourceId: item.id, changeType: "Create", after });
        continue;
      }
      const delta: Record<string, unknown>[] = [];
      const compare = (want: unknown, have: unknown, path: string) => {
        if (want === undefined) return;
        if (want && typeof want === "object" && !Array.isArray(want)) {
          for (const [k, v] of Object.entries(want))
            compare(v, (have as Record<string, unknown> | undefined)?.[k], path ? `${path}.${k}` : k);
          return;
        }
        if (JSON.stringify(want) !== JSON.stringify(have)) {
          delta.push({ path, propertyChangeType: have === undefined ? "Create" : "Modify", before: have, after: want });
        }
      };
      compare(after.properties, existing.properties, "properties");
      compare(item.resource.tags, existing.tags, "tags");
      compare(item.resource.sku, existing.sku, "sku");
      const before = {
        id: existing.id,
        type: existing.type,
        name: existing.name,
        tags: existing.tags,
        properties: existing.properties,
      };
      changes.push(
        delta.length > 0
          ? { resourceId: item.id, changeType: "Modify", before, after, delta }
          : { resourceId: item.id, changeType: "NoChange", before, after },
      );
    }
    for (const r of resources.values()) {
      if (seen.has(lower(r.id))) continue;
      if ([...groups].some((g) => lower(r.id).startsWith(`${g}/`))) changes.push({ resourceId: r.id, changeType: "Ignore" });
    }
    return changes;
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    tenantId,
    resources,
    requests,
    throttle: (n, seconds = 1) => {
      throttled = n;
      throttleSeconds = seconds;
    },
    failNextDeployment: (type, error) => {
      failure = { type, error };
    },
    setRetryAfter: (s) => {
      retryAfter = s;
    },
    setWorkspaceUrl: (url) => {
      workspaceUrl = url;
    },
    mutate: (id, change) => {
      const r = get(id);
      if (!r) throw new Error(`no resource ${id}`);
      change(r);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
