// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shared values refer to variables as ${var.*}
import { describe, expect, it } from "vitest";
import { Merger, NotShareable } from "../../../src/convert/merge.js";

const ENVS = ["development", "uat", "production"];

describe("Merger", () => {
  it("shares equal values and makes differing scalars variables, the most common value the default", () => {
    const m = new Merger(ENVS);
    const r = m.merge("clusters", "ml", [
      { cluster_name: "ml", num_workers: 2, spark_version: "15.4" },
      { cluster_name: "ml", num_workers: 2, spark_version: "15.4" },
      { cluster_name: "ml", num_workers: 8, spark_version: "15.4" },
    ]);
    expect(r).toEqual({
      shared: { cluster_name: "ml", num_workers: "${var.ml_num_workers}", spark_version: "15.4" },
      overrides: [undefined, undefined, undefined],
    });
    expect(m.variables.get("ml_num_workers")).toEqual({
      name: "ml_num_workers",
      description: "clusters.ml.num_workers: differs per environment.",
      default: 2,
      values: new Map([["production", 8]]),
    });
  });

  it("breaks ties with the earliest environment and keeps variable names unique", () => {
    const m = new Merger(["a", "b"]);
    m.reserve("ml_path");
    const r = m.merge("repos", "ml", [{ path: "/Repos/x/a" }, { path: "/Repos/x/b" }]);
    expect(r.shared).toEqual({ path: "${var.repos_ml_path}" });
    expect(m.variables.get("repos_ml_path")).toMatchObject({ default: "/Repos/x/a", values: new Map([["b", "/Repos/x/b"]]) });
  });

  it("overrides what some environments lack, removing it with null, and writes only what differs in mappings", () => {
    const m = new Merger(ENVS);
    const r = m.merge("clusters", "ml", [
      { spark_conf: { a: "1" }, autoscale: { min_workers: 1, max_workers: 4 } },
      { spark_conf: { a: "1" }, autoscale: { min_workers: 1, max_workers: 4 } },
      { num_workers: 3 },
    ]);
    expect(r).toEqual({
      shared: { spark_conf: { a: "1" }, autoscale: { min_workers: 1, max_workers: 4 } },
      overrides: [undefined, undefined, { spark_conf: null, autoscale: null, num_workers: 3 }],
    });
    const lists = m.merge("jobs", "j", [{ tags_list: ["a"] }, { tags_list: ["b", "c"] }, { tags_list: ["a"] }]);
    expect(lists).toEqual({ shared: { tags_list: ["a"] }, overrides: [undefined, { tags_list: ["b", "c"] }, undefined] });
  });

  it("merges job tasks item by item when every environment has the same task keys", () => {
    const m = new Merger(ENVS);
    const task = (path: string) => ({ task_key: "train", notebook_task: { notebook_path: path, source: "GIT" } });
    const r = m.merge("jobs", "train", [
      { name: "train", tasks: [task("a"), { task_key: "eval", max_retries: 1 }] },
      { name: "train", tasks: [task("a"), { task_key: "eval", max_retries: 1 }] },
      { name: "train", tasks: [task("b"), { task_key: "eval" }] },
    ]);
    expect(r).toEqual({
      shared: {
        name: "train",
        tasks: [
          { task_key: "train", notebook_task: { notebook_path: "${var.train_notebook_path}", source: "GIT" } },
          { task_key: "eval", max_retries: 1 },
        ],
      },
      overrides: [undefined, undefined, { tasks: [{ task_key: "eval", max_retries: null }] }],
    });
  });

  it("refuses to share jobs whose task keys differ (an override cannot drop another environment's task)", () => {
    const m = new Merger(ENVS);
    expect(() =>
      m.merge("jobs", "j", [
        { name: "j", tasks: [{ task_key: "a" }] },
        { name: "j", tasks: [{ task_key: "a" }] },
        { name: "j", tasks: [{ task_key: "a" }, { task_key: "b" }] },
      ]),
    ).toThrow(NotShareable);
  });

  it("never makes a variable of a secret source", () => {
    const m = new Merger(["a", "b"]);
    const r = m.merge("git_credentials", "github", [
      { personal_access_token: { from_env: "PAT_A" } },
      { personal_access_token: { from_env: "PAT_B" } },
    ]);
    expect(m.variables.size).toBe(0);
    expect(r).toEqual({
      shared: { personal_access_token: { from_env: "PAT_A" } },
      overrides: [undefined, { personal_access_token: { from_env: "PAT_B" } }],
    });
  });
});
