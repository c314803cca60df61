import { afterEach, describe, expect, it } from "vitest";
import { githubProvider } from "../../src/bootstrap/github/index.js";
import { BootstrapError, bootstrap, PreflightError } from "../../src/bootstrap/orchestrate.js";
import type { StateFile } from "../../src/engine/state.js";
import { type GithubFake, request, setup } from "./github-helpers.js";

let fake: GithubFake | undefined;

afterEach(async () => {
  expect(fake?.violations).toEqual([]);
  await fake?.stop();
  fake = undefined;
});

function memoryState() {
  const saved: string[] = [];
  let current: StateFile | undefined;
  return {
    saved,
    backend: {
      description: "memory",
      load: async () => current,
      save: async (s: StateFile) => {
        saved.push(JSON.stringify(s));
        current = JSON.parse(JSON.stringify(s)) as StateFile;
      },
      remove: async () => {
        current = undefined;
      },
    },
  };
}

describe("GitHub bootstrap through the orchestrator", () => {
  it("writes nothing when pre-flight fails", async () => {
    const s = await setup();
    fake = s.fake;
    const m = memoryState();
    const err = await bootstrap(
      githubProvider(),
      s.ctx(),
      request(s.canaries, { teams: [{ name: "ghosts", permission: "push" }] }),
      {
        state: m.backend,
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreflightError);
    expect(s.fake.requests.filter((r) => r.method !== "GET")).toEqual([]);
    expect(m.saved).toEqual([]);
  });

  it("rolls back to nothing after a failure at every write, leaking no secret", async () => {
    const s = await setup();
    fake = s.fake;
    const probe = memoryState();
    await bootstrap(githubProvider(), s.ctx(), request(s.canaries, { name: "probe" }), { state: probe.backend });
    const total = s.fake.writes();
    expect(total).toBeGreaterThan(20);

    let rolledBack = 0;
    for (let n = 0; n < total; n++) {
      const name = `rb-${n}`;
      const m = memoryState();
      s.fake.failAfterWrites(n, { status: 403 });
      const err = await bootstrap(githubProvider(), s.ctx(), request(s.canaries, { name }), { state: m.backend }).then(
        () => undefined,
        (e: unknown) => e,
      );
      s.fake.clearFaults();
      if (err === undefined) {
        // The engine completed a create whose follow-up write failed: a whole repository.
        expect(s.fake.repo("acme", name)?.environments.size).toBe(2);
        continue;
      }
      expect(err, `failure after ${n} writes`).toBeInstanceOf(BootstrapError);
      expect((err as BootstrapError).rolledBack).toBe(true);
      rolledBack++;
      expect(s.fake.repo("acme", name), `repository left after failing at write ${n + 1}`).toBeUndefined();
      const texts = [(err as Error).message, ...m.saved].join("\n");
      for (const c of Object.values(s.canaries)) expect(texts).not.toContain(c);
    }
    expect(rolledBack).toBeGreaterThan(total / 2);
  });
});
