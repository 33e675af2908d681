import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // End-to-end tests build network namespaces with unique names, so files may run in
    // parallel; two workers match the two cores CI machines have.
    maxWorkers: 2,
  },
});
