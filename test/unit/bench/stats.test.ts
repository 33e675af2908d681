import { describe, expect, test } from "vitest";
import { median, medianInterval, percentile, ratio, summarize } from "../../../bench/load/stats.js";

describe("percentile (nearest rank)", () => {
  const sorted = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
  test("p50, p99, p99.9 and max of 1..1000", () => {
    expect([percentile(sorted, 50), percentile(sorted, 99), percentile(sorted, 99.9), percentile(sorted, 100)]).toEqual([500, 990, 999, 1000]);
  });
  test("a single sample is every percentile; none is NaN", () => {
    expect(percentile([7], 99.9)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe("summarize", () => {
  test("sorts unsorted samples and reports mean and max", () => {
    const s = summarize(Float64Array.from([5, 1, 4, 2, 3]));
    expect(s).toEqual({ count: 5, p50: 3, p90: 5, p99: 5, p999: 5, max: 5, mean: 3 });
  });
});

describe("median", () => {
  test("odd and even counts; non-finite values ignored", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 5])).toBe(5);
    expect(median([])).toBeNaN();
  });
});

describe("ratio", () => {
  test("is NaN when a side is missing or zero", () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeNaN();
    expect(ratio(undefined, 2)).toBeNaN();
  });
});

describe("medianInterval", () => {
  test("order statistics from the binomial distribution: 10 values give the 2nd and 9th", () => {
    expect(medianInterval([10, 1, 9, 2, 8, 3, 7, 4, 6, 5])).toEqual({ low: 2, high: 9, exact: true });
  });
  test("6 values are the fewest with a 95% interval (min and max, 96.9%); 5 return the range", () => {
    expect(medianInterval([1, 2, 3, 4, 5, 6])).toEqual({ low: 1, high: 6, exact: true });
    expect(medianInterval([1, 2, 3, 4, 5])).toEqual({ low: 1, high: 5, exact: false });
  });
  test("20 values give the 6th and 15th (Binomial(20, 1/2) <= 5 has probability 2.1%)", () => {
    expect(medianInterval(Array.from({ length: 20 }, (_, i) => i + 1))).toEqual({ low: 6, high: 15, exact: true });
  });
  test("no values: NaN", () => {
    expect(medianInterval([]).low).toBeNaN();
  });
});
