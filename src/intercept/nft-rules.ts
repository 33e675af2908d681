// The nftables rules, rendered as one `nft -f` script: a table of l7proxy's own (family inet,
// so IPv4 and IPv6 share one chain), four sets of enforced addresses, one prerouting chain.
//
// Why the chain sits at priority -90 (dstnat + 10): kube-proxy and every other DNAT run at
// dstnat (-100). Coming after them, the chain sees the real endpoint behind a Service VIP,
// so a client cannot bypass policy by dialling the VIP; the proxy's accepted socket then
// reports the endpoint (pod IP:port) as its local address, and conntrack still un-NATs the
// replies to the VIP the client dialled. (iptables' mangle table runs at -150, before
// DNAT: see iptables-rules.ts for what that costs.)
//
// Why the proxy's own upstream connections are never intercepted again: TPROXY only works
// in prerouting, and packets a local socket sends traverse output/postrouting, never this
// host's prerouting. What does come back through prerouting is handled first:
//   - replies to a transparent socket (an accepted client connection, or a source-preserving
//     upstream connection bound to the client's address) match `socket transparent 1`, get
//     the mark, and are routed to the local socket instead of being forwarded;
//   - replies to an ordinary upstream socket are conntrack's reply direction and are left
//     alone (without this, a reply from an egress-enforced server would be redirected);
//   - packets carrying excludeMark (the proxy's SO_MARK) return at once, which covers
//     anything that loops back into prerouting through lo.
//
// Fail closed: nftables' tproxy statement does not drop when no proxy listens (it just does
// not match), so a reject rule follows each redirect: with the proxy stopped, connections to
// or from enforced endpoints are reset instead of reaching their destination unchecked.
//
// Everything that is not TCP goes to the datagrams chain (nft-datagram-rules.ts), where the
// kernel enforces L3/L4 policy itself.

import { renderDnsPrerouting, renderDnsSetUpdate, renderDnsSets } from "./nft-dns-rules.js";
import { NFT_DATAGRAM_CHAIN, renderDatagramChains, renderDatagramSetUpdate, renderDatagramSets } from "./nft-datagram-rules.js";
import { type InterceptSpec, enforcedAddresses, hex, validateSpec } from "./rules-spec.js";

/** Priority of the prerouting chain: after dstnat (-100) so DNAT'd destinations are final. */
export const NFT_CHAIN_PRIORITY = -90;

const NFT_SETS = ["ingress4", "ingress6", "egress4", "egress6"] as const;

/** Replaces l7proxy's table as one transaction: create-if-missing, delete, define anew. */
export function renderNftScript(spec: InterceptSpec): string {
  validateSpec(spec);
  const mark = hex(spec.mark);
  const port = spec.proxyPort;
  const lines = [
    `# l7proxy interception rules (table inet ${spec.table}); applied atomically with nft -f`,
    // Declaring the table first makes the delete valid when it does not exist yet, so the
    // whole script is idempotent and replaces any older version in one step.
    `table inet ${spec.table} {}`,
    `delete table inet ${spec.table}`,
    `table inet ${spec.table} {`,
    ...renderSets(spec).map((line) => `  ${line}`),
    ...renderDatagramSets(spec).map((line) => `  ${line}`),
    ...renderDnsSets(spec).map((line) => `  ${line}`),
    `  chain prerouting {`,
    `    type filter hook prerouting priority ${NFT_CHAIN_PRIORITY}; policy accept;`,
    ...renderDnsPrerouting(spec).map((line) => `    ${line}`),
    // goto: when the datagrams chain returns, the packet is accepted (the base policy).
    `    meta l4proto != tcp goto ${NFT_DATAGRAM_CHAIN}`,
    `    socket transparent 1 meta mark set ${mark} accept`,
    `    ct direction reply return`,
    ...(spec.excludeMark !== undefined
      ? [`    meta mark & ${hex(spec.excludeMark)} == ${hex(spec.excludeMark)} return`]
      : []),
    `    meta l4proto tcp ip daddr @ingress4 tproxy ip to :${port} meta mark set ${mark} accept`,
    `    meta l4proto tcp ip6 daddr @ingress6 tproxy ip6 to :${port} meta mark set ${mark} accept`,
    `    meta l4proto tcp ip saddr @egress4 tproxy ip to :${port} meta mark set ${mark} accept`,
    `    meta l4proto tcp ip6 saddr @egress6 tproxy ip6 to :${port} meta mark set ${mark} accept`,
    `    meta l4proto tcp ip daddr @ingress4 reject with tcp reset`,
    `    meta l4proto tcp ip6 daddr @ingress6 reject with tcp reset`,
    `    meta l4proto tcp ip saddr @egress4 reject with tcp reset`,
    `    meta l4proto tcp ip6 saddr @egress6 reject with tcp reset`,
    `  }`,
    ...renderDatagramChains().map((line) => `  ${line}`),
    `}`,
  ];
  return `${lines.join("\n")}\n`;
}

/**
 * New contents for every set (the enforced addresses and the non-TCP rules), as one
 * transaction: packets see either the old or the new contents, never an empty set in
 * between. Fails if the table is not installed.
 */
export function renderNftSetUpdate(spec: InterceptSpec): string {
  validateSpec(spec);
  const addresses = enforcedAddresses(spec);
  const lines = [`# l7proxy: replace the enforced addresses in table inet ${spec.table}`];
  for (const name of NFT_SETS) {
    lines.push(`flush set inet ${spec.table} ${name}`);
    const elements = addresses[name];
    if (elements.length > 0) lines.push(`add element inet ${spec.table} ${name} { ${elements.join(", ")} }`);
  }
  lines.push(...renderDatagramSetUpdate(spec));
  lines.push(...renderDnsSetUpdate(spec));
  return `${lines.join("\n")}\n`;
}

/** Removes the table if it exists, and succeeds when it does not. */
export function renderNftDelete(spec: InterceptSpec): string {
  validateSpec(spec);
  return `table inet ${spec.table} {}\ndelete table inet ${spec.table}\n`;
}

function renderSets(spec: InterceptSpec): string[] {
  const addresses = enforcedAddresses(spec);
  return NFT_SETS.map((name) => {
    const type = name.endsWith("6") ? "ipv6_addr" : "ipv4_addr";
    const elements = addresses[name];
    // nft rejects an empty `elements = { }`, so an empty set has no elements clause.
    const body = elements.length > 0 ? `type ${type}; elements = { ${elements.join(", ")} }` : `type ${type};`;
    return `set ${name} { ${body} }`;
  });
}
