import { describe, expect, test } from "vitest";
import { parseRunConfig } from "../../../src/config/run-config.js";
import { workerExecArgv } from "../../../src/control/worker-pool.js";

describe("worker processes' Node.js flags", () => {
  test("semi-space-mb 0 keeps the primary's flags as they are", () => {
    expect(workerExecArgv(["--enable-source-maps"], 0)).toEqual(["--enable-source-maps"]);
  });

  test("semi-space-mb sets both semi-space bounds, replacing the primary's own", () => {
    expect(workerExecArgv(["--max-semi-space-size=64", "--trace-gc", "--min-semi-space-size", "2"], 16)).toEqual([
      "--trace-gc",
      "--min-semi-space-size=16",
      "--max-semi-space-size=16",
    ]);
  });

  test("the options are in the configuration schema with their defaults", () => {
    const c = parseRunConfig([], {}, () => 4);
    expect(c.semiSpaceMb).toBe(0);
    expect(c.listenBacklog).toBe(65535);
    expect(parseRunConfig(["--listen-backlog", "4096", "--semi-space-mb", "32"], {}).listenBacklog).toBe(4096);
    expect(() => parseRunConfig(["--listen-backlog", "0"], {})).toThrow(/listen-backlog/);
  });
});
