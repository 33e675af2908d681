// ISO 8601 times for flow records, cheaply. `new Date(ms).toISOString()` costs a few µs in a
// busy proxy (cold next to the data path) and records want one per millisecond they are
// written in; everything up to the second changes once a second, so only that part is
// formatted by Date, and the milliseconds are appended.

export class IsoTime {
  private lastMs = Number.NaN;
  private lastIso = "";
  private second = Number.NaN;
  /** "YYYY-MM-DDTHH:MM:SS." of `second`. */
  private secondPrefix = "";

  /** The same string as new Date(ms).toISOString(), for ms since the epoch (not before 1970). */
  format(ms: number): string {
    if (ms === this.lastMs) return this.lastIso;
    const milli = ms % 1000;
    const second = ms - milli;
    if (second !== this.second) {
      this.second = second;
      this.secondPrefix = new Date(second).toISOString().slice(0, 20);
    }
    this.lastMs = ms;
    this.lastIso = `${this.secondPrefix}${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z`;
    return this.lastIso;
  }
}
