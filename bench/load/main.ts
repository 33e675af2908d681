// `npm run bench`: builds the topology, runs the planned measurements in interleaved rounds,
// prints the table, and writes results.json, results.svg and bench/RESULTS.md.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isRoot } from "../../src/netns/exec.js";
import { BenchEnv, l7proxyHasUpstreamOption } from "./env/bench-env.js";
import { measure, warmUp, type MeasureContext, type Run } from "./measure.js";
import { helpText, parseOptions, type BenchOptions } from "./options.js";
import { estimateSeconds, planCells, plannedTargets, roundOrder, roundsOf, type Cell } from "./plan.js";
import { repoPath } from "./repo-root.js";
import { describeMachine, machineInfo } from "./report/machine.js";
import { Progress } from "./report/progress.js";
import { resultsSection, updateResultsMd } from "./report/results-md.js";
import { renderChart } from "./report/svg-chart.js";
import { textTable } from "./report/table.js";
import { cellResult, scalingLines, telemetryCostLines, type CellResult } from "./results.js";
import { median } from "./stats.js";

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseOptions(argv, repoPath("bench", "out"));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\nRun 'npm run bench -- --help' for usage.\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(helpText());
    return 0;
  }
  if (!isRoot()) {
    process.stderr.write("bench: needs root (it creates network namespaces and interception rules)\n");
    return 2;
  }
  const notes: string[] = [];
  if (opts.targets.some((t) => t.startsWith("l7proxy-lo")) && !l7proxyHasUpstreamOption()) {
    opts.targets = opts.targets.filter((t) => !t.startsWith("l7proxy-lo"));
    notes.push("l7proxy-lo skipped: `l7proxy run` has no `--upstream HOST:PORT` (plain listener with a fixed upstream) yet.");
  }
  const cells = planCells(opts);
  const targets = plannedTargets(cells, opts);
  const total = cells.reduce((n, c) => n + c.targets.length * roundsOf(c, opts), 0);
  const progress = new Progress(total, estimateSeconds(cells, opts));
  for (const n of notes) progress.note(n);
  const machine = await machineInfo();
  progress.note(`bench: ${cells.length} measurements x ${opts.rounds} rounds (telemetry: ${opts.telemetryRounds}) on ${describeMachine(machine)}`);

  const env = new BenchEnv({
    tag: `lb${process.pid % 1_000_000}`,
    proxyCpus: opts.pin ? "1" : null,
    clientCpus: opts.pin ? "0" : null,
    targets,
    l7proxyNodeArgs: opts.l7proxyNodeArgs,
    scaleN: opts.scaleN,
    logDir: opts.outDir,
  });
  await mkdir(opts.outDir, { recursive: true });
  const results: CellResult[] = [];
  const started = new Date();
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    progress.note("bench: interrupted; finishing the current run and cleaning up");
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await env.setup();
    for (const ruleCount of [...new Set(cells.map((c) => c.ruleCount))]) {
      if (interrupted) break;
      progress.note(`bench: starting proxies with ${ruleCount} HTTP rule(s)`);
      await env.loadRuleCount(ruleCount);
      for (const target of targets) {
        if (target.startsWith("direct")) continue;
        progress.note(`bench: warming up ${target}`);
        await warmUp(await env.activate(target), measureContext(env, opts));
      }
      for (const cell of cells.filter((c) => c.ruleCount === ruleCount)) {
        if (interrupted) break;
        results.push(await runCell(env, cell, opts, progress, () => interrupted));
      }
    }
  } finally {
    progress.end();
    await env.teardown().catch((err: unknown) => process.stderr.write(`bench: cleanup: ${(err as Error).message}\n`));
  }

  const pressure = median(results.flatMap((r) => r.runs.map((x) => x.cpuPressure ?? Number.NaN)));
  if (Number.isFinite(pressure)) {
    notes.push(`Machine load: in a median run, some task was waiting for a CPU ${pressure.toFixed(0)}% of the time (PSI cpu some avg10); figures from a busy shared machine are noisy.`);
  }
  notes.push(...telemetryCostLines(results));
  notes.push(...scalingLines(results, opts.scaleN));
  process.stdout.write(`\n${textTable(results)}`);
  for (const n of notes) process.stdout.write(`${n}\n`);
  process.stdout.write(
    "\n×direct/×haproxy: rps ratio on throughput rows (higher is better), p99 ratio on latency rows (lower is better); +p99: p99 added over direct.\n",
  );
  await mkdir(opts.outDir, { recursive: true });
  const json = opts.json ?? join(opts.outDir, "results.json");
  await mkdir(dirname(json), { recursive: true });
  await writeFile(json, `${JSON.stringify({ startedAt: started.toISOString(), machine, options: opts, notes, results }, null, 2)}\n`);
  const svg = renderChart(results, `${started.toISOString()} · ${machine.cpuModel}, ${machine.cores} cores · ${opts.quick ? "--quick" : "full"}`);
  await writeFile(join(opts.outDir, "results.svg"), svg);
  process.stdout.write(`\nresults: ${json}\nchart:   ${join(opts.outDir, "results.svg")}\n`);
  if (opts.updateResults && !interrupted) {
    const md = repoPath("bench", "RESULTS.md");
    const existing = await readFile(md, "utf8").catch(() => "");
    await writeFile(md, updateResultsMd(existing, resultsSection(results, machine, opts, started, notes)));
    await writeFile(repoPath("bench", "results.svg"), svg);
    process.stdout.write(`updated: ${md}\n`);
  }
  return interrupted ? 130 : 0;
}

function measureContext(env: BenchEnv, opts: BenchOptions): MeasureContext {
  return { scratchDir: env.dir, clientCpus: opts.pin ? "0" : null, warmupSec: opts.warmupSec, durationSec: opts.durationSec, cellWarmup: !opts.quick, namespaces: env.namespaces };
}

// Rounds interleave the targets (A B C, B C A, C A B, ...) so slow drifts of a shared machine
// hit every target alike, and no target always runs first or after the same neighbour;
// medians over the rounds are reported. A telemetry round starts its proxies afresh: two
// processes of the same build differ by a few percent (JIT and heap layout), as much as the
// cost being measured, so each round samples new processes and rounds are compared in pairs.
async function runCell(env: BenchEnv, cell: Cell, opts: BenchOptions, progress: Progress, stop: () => boolean): Promise<CellResult> {
  const runs: Run[] = [];
  const rounds = roundsOf(cell, opts);
  for (let round = 0; round < rounds && !stop(); round++) {
    if (cell.telemetry && round > 0) {
      for (const target of cell.targets) {
        progress.status(`${cell.key}  restarting ${target}  round ${round + 1}/${rounds}`);
        await env.restart(target);
        await warmUp(await env.activate(target), measureContext(env, opts));
      }
    }
    for (const target of roundOrder(cell.targets, round)) {
      if (stop()) break;
      progress.step(`${cell.key}  ${target}  round ${round + 1}/${rounds}`);
      try {
        const addr = await env.activate(target);
        runs.push(
          await measure(target, round, cell, addr, measureContext(env, opts)),
        );
      } catch (err) {
        progress.note(`bench: ${cell.key} ${target}: ${(err as Error).message.split("\n").slice(0, 6).join("\n  ")}`);
      }
    }
  }
  return cellResult(cell, runs);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
