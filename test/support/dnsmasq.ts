// The tests' resolver lives with the other network-namespace tools (the DNS demo uses it too).
export { Dnsmasq, type DnsmasqQuery } from "../../src/netns/dnsmasq.js";
