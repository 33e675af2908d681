import { describe, expect, test } from "vitest";
import { counterDelta, parseNetstat } from "../../../../bench/load/env/net-counters.js";

const NETSTAT = `TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPTimeouts TCPSynRetrans TCPBacklogDrop TCPReqQFullDrop
TcpExt: 0 12 15 3 40 1 2
IpExt: InNoRoutes InTruncatedPkts
IpExt: 0 0
`;

describe("kernel TCP counters", () => {
  test("TcpExt values are read by name from /proc/net/netstat", () => {
    expect(parseNetstat(NETSTAT)).toEqual({ ListenOverflows: 12, ListenDrops: 15, TCPSynRetrans: 40, TCPTimeouts: 3, TCPReqQFullDrop: 2, TCPBacklogDrop: 1 });
  });

  test("an unreadable or foreign text counts nothing; deltas subtract per counter", () => {
    const zero = parseNetstat("");
    expect(Object.values(zero).every((v) => v === 0)).toBe(true);
    expect(counterDelta(zero, parseNetstat(NETSTAT)).TCPSynRetrans).toBe(40);
  });
});
