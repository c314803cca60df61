import { describe, expect, it } from "vitest";
import { DatabricksClient, isAlreadyExists, isNotFound, parseDatabricksError } from "../../../src/clients/databricks/index.js";
import { RemoteError } from "../../../src/clients/http.js";
import { fakeClock, json, type Step, scriptedFetch } from "./fakes.js";

function client(steps: Step[]) {
  const { fetch, calls } = scriptedFetch(steps);
  const clock = fakeClock();
  const c = new DatabricksClient({
    host: "https://adb-1.2.azuredatabricks.net/",
    auth: async () => ({ authorization: "Bearer t" }),
    fetch,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0,
  });
  return { c, calls };
}

const query = (url: string) => Object.fromEntries(new URL(url).searchParams);

describe("DatabricksClient pagination", () => {
  it("follows next_page_token with page_token", async () => {
    const { c, calls } = client([
      json(200, { jobs: [{ job_id: 1 }, { job_id: 2 }], next_page_token: "p2" }),
      json(200, { jobs: [{ job_id: 3 }], next_page_token: "p3" }),
      json(200, { jobs: [{ job_id: 4 }] }),
    ]);
    const ids = (await c.listAll<{ job_id: number }>("/api/2.2/jobs/list", { limit: 2 }, "jobs")).map((j) => j.job_id);
    expect(ids).toEqual([1, 2, 3, 4]);
    expect(calls.map((x) => query(x.url))).toEqual([
      { limit: "2" },
      { limit: "2", page_token: "p2" },
      { limit: "2", page_token: "p3" },
    ]);
  });

  it("stops on an empty next_page_token and on a repeated token", async () => {
    const a = client([json(200, { clusters: [{ id: "a" }], next_page_token: "" })]);
    expect(await a.c.listAll("/api/2.1/clusters/list", {}, "clusters")).toHaveLength(1);
    const b = client([
      json(200, { clusters: [{ id: "a" }], next_page_token: "same" }),
      json(200, { clusters: [{ id: "b" }], next_page_token: "same" }),
    ]);
    expect(await b.c.listAll("/api/2.1/clusters/list", {}, "clusters")).toHaveLength(2);
    expect(b.calls).toHaveLength(2);
  });

  it("follows has_more with offset", async () => {
    const { c, calls } = client([
      json(200, { jobs: [{ job_id: 1 }, { job_id: 2 }], has_more: true }),
      json(200, { jobs: [{ job_id: 3 }, { job_id: 4 }], has_more: true }),
      json(200, { jobs: [{ job_id: 5 }], has_more: false }),
    ]);
    const all = await c.listAll("/api/2.1/jobs/list", { limit: 2 }, "jobs");
    expect(all).toHaveLength(5);
    expect(calls.map((x) => query(x.url).offset)).toEqual([undefined, "2", "4"]);
  });

  it("follows SCIM startIndex/totalResults", async () => {
    const { c, calls } = client([
      json(200, { Resources: [{ id: "1" }, { id: "2" }], totalResults: 5, startIndex: 1, itemsPerPage: 2 }),
      json(200, { Resources: [{ id: "3" }, { id: "4" }], totalResults: 5, startIndex: 3, itemsPerPage: 2 }),
      json(200, { Resources: [{ id: "5" }], totalResults: 5, startIndex: 5, itemsPerPage: 1 }),
    ]);
    const all = await c.listAll("/api/2.0/preview/scim/v2/Groups", { count: 2 }, "Resources");
    expect(all).toHaveLength(5);
    expect(calls.map((x) => query(x.url).startIndex)).toEqual([undefined, "3", "5"]);
  });

  it("pages a POST search with the token in the body", async () => {
    const { c, calls } = client([json(200, { runs: [{ id: 1 }], next_page_token: "n" }), json(200, { runs: [{ id: 2 }] })]);
    const all = await c.listAll("/api/2.0/mlflow/runs/search", { experiment_ids: ["1"] }, "runs", { method: "POST" });
    expect(all).toHaveLength(2);
    expect(calls.map((x) => JSON.parse(x.body as string))).toEqual([
      { experiment_ids: ["1"] },
      { experiment_ids: ["1"], page_token: "n" },
    ]);
  });

  it("treats a page without the items key as empty, and honours an explicit style", async () => {
    const a = client([json(200, {})]);
    expect(await a.c.listAll("/api/2.0/secrets/scopes/list", {}, "scopes")).toEqual([]);
    const b = client([json(200, { items: [1], has_more: true, next_page_token: "ignored" }), json(200, { items: [2] })]);
    expect(await b.c.listAll("/x", {}, "items", { style: "offset" })).toEqual([1, 2]);
    expect(query(b.calls[1]?.url as string)).toEqual({ offset: "1" });
  });
});

describe("Databricks error mapping", () => {
  it("maps {error_code, message} to a RemoteError naming the request", async () => {
    const { c } = client([json(400, { error_code: "INVALID_PARAMETER_VALUE", message: "Job 123 does not exist." })]);
    const err = (await c.get("/api/2.2/jobs/get", { job_id: 123 }).catch((e) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.message).toBe("databricks GET /api/2.2/jobs/get: 400 INVALID_PARAMETER_VALUE: Job 123 does not exist.");
    expect(err).toMatchObject({ provider: "databricks", status: 400, code: "INVALID_PARAMETER_VALUE" });
    expect(isNotFound(err)).toBe(true);
  });

  it("reads SCIM, OAuth, legacy and HTML error bodies", () => {
    expect(parseDatabricksError(404, { schemas: [], detail: "Group not found", status: "404" }, "")).toEqual({
      code: "NOT_FOUND",
      message: "Group not found",
    });
    expect(parseDatabricksError(401, { error: "invalid_client", error_description: "Client authentication failed" }, "")).toEqual(
      {
        code: "invalid_client",
        message: "Client authentication failed",
      },
    );
    expect(parseDatabricksError(500, { error: "Something broke" }, "")).toEqual({
      code: "INTERNAL_ERROR",
      message: "Something broke",
    });
    expect(parseDatabricksError(502, undefined, "<html><body><h1>Bad Gateway</h1></body></html>")).toStrictEqual({
      message: "Bad Gateway",
    });
    expect(parseDatabricksError(403, undefined, "")).toEqual({ code: "PERMISSION_DENIED", message: "HTTP 403" });
  });

  it("recognises not-found and already-exists answers", () => {
    const e = (status: number, code: string, message: string) =>
      new RemoteError({ provider: "databricks", kind: "http", method: "GET", path: "/x", status, code, remoteMessage: message });
    expect(isNotFound(e(404, "RESOURCE_DOES_NOT_EXIST", "Scope x does not exist!"))).toBe(true);
    expect(isNotFound(e(400, "INVALID_PARAMETER_VALUE", "Cluster abc does not exist"))).toBe(true);
    expect(isNotFound(e(400, "INVALID_PARAMETER_VALUE", "limit must be positive"))).toBe(false);
    expect(isAlreadyExists(e(400, "RESOURCE_ALREADY_EXISTS", "Scope x already exists"))).toBe(true);
    expect(isAlreadyExists(e(409, "RESOURCE_CONFLICT", "Group with name x already exists."))).toBe(true);
    expect(isAlreadyExists(e(409, "RESOURCE_CONFLICT", "concurrent update"))).toBe(false);
    expect(isNotFound(new Error("x"))).toBe(false);
  });

  it("retries the messages the SDKs treat as transient, for idempotent requests", async () => {
    const { c, calls } = client([
      json(400, { error_code: "INVALID_STATE", message: "ClusterNotReadyException: try later" }),
      json(200, { ok: true }),
    ]);
    await expect(c.get("/api/2.1/clusters/get", { cluster_id: "x" })).resolves.toEqual({ ok: true });
    expect(calls).toHaveLength(2);
  });

  it("returns {} for an empty answer and sends JSON bodies", async () => {
    const { c, calls } = client([new Response(null, { status: 200 }), json(200, {})]);
    await expect(c.post("/api/2.0/secrets/scopes/create", { scope: "s" })).resolves.toEqual({});
    await c.delete("/api/2.0/permissions/x", { a: 1 });
    expect(calls[0]?.body).toBe('{"scope":"s"}');
    expect(calls[1]?.init.method).toBe("DELETE");
    expect(calls[0]?.url.startsWith("https://adb-1.2.azuredatabricks.net/api/2.0/")).toBe(true);
  });
});
