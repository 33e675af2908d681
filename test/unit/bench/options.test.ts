import { describe, expect, test } from "vitest";
import { FULL, helpText, parseOptions, QUICK, SCENARIOS } from "../../../bench/load/options.js";

describe("parseOptions", () => {
  test("defaults are the full suite; --quick switches to the short preset", () => {
    const full = parseOptions([], "/out");
    expect(full).toMatchObject({ durationSec: FULL.durationSec, rounds: FULL.rounds, ruleCounts: [1, 100, 10_000], connections: [1, 64, 1000], outDir: "/out", json: null });
    expect(full.scenarios).toEqual([...SCENARIOS]);
    const quick = parseOptions(["--quick"], "/out");
    expect(quick).toMatchObject({ quick: true, durationSec: QUICK.durationSec, rounds: QUICK.rounds, telemetryRounds: QUICK.telemetryRounds });
    expect(full.telemetryRounds).toBe(FULL.telemetryRounds);
  });

  test("--quick leaves out the telemetry scenario unless it is asked for", () => {
    expect(parseOptions(["--quick"], "/out").scenarios).toEqual(SCENARIOS.filter((s) => s !== "telemetry"));
    expect(parseOptions(["--quick", "--scenarios", "telemetry"], "/out").scenarios).toEqual(["telemetry"]);
    expect(parseOptions([], "/out").scenarios).toContain("telemetry");
  });

  test("explicit values win over the preset", () => {
    const o = parseOptions(["--quick", "--duration", "5", "--rates", "500,2000", "--json", "/tmp/r.json", "--targets", "direct,haproxy"], "/out");
    expect(o).toMatchObject({ durationSec: 5, rates: [500, 2000], json: "/tmp/r.json", targets: ["direct", "haproxy"] });
  });

  test("bad values are refused with the option's name", () => {
    expect(() => parseOptions(["--body-sizes", "100"], "/out")).toThrow(/--body-sizes/);
    expect(() => parseOptions(["--targets", "nginx"], "/out")).toThrow(/--targets: 'nginx'/);
    expect(() => parseOptions(["--rules", "-1"], "/out")).toThrow(/--rules/);
    expect(() => parseOptions(["--rules", "1.5"], "/out")).toThrow(/--rules/);
    expect(() => parseOptions(["--duration", "abc"], "/out")).toThrow(/--duration/);
    expect(() => parseOptions(["--frobnicate"], "/out")).toThrow();
  });

  test("--help names every scenario and the options the issue lists", () => {
    const h = helpText();
    for (const s of SCENARIOS) expect(h).toContain(`  ${s}`);
    for (const flag of ["--duration", "--rates", "--connections", "--body-sizes", "--rules", "--targets", "--quick", "--json FILE", "--out DIR"]) expect(h).toContain(flag);
  });
});
