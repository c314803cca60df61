import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Imports its JSON schemas without import attributes, which Node 20 refuses: let Vite load it.
    server: { deps: { inline: ["@actions/workflow-parser"] } },
  },
});
