// The complete field set of CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy (cilium.io/v2,
// CRD schema of Cilium 1.19, ../shared/conformance/cilium-crds-v1.19-dev/), including fields
// l7proxy does not enforce, so that every typo is caught. Both kinds share one schema.
// test/conformance/crd-field-set.test.ts compares this tree with the CRD's, field by field.

import RE2 from "re2";
import { checkCidr } from "../net/ip.js";
import { KAFKA_MAX_INT16, kafkaApiKeyName, ruleApiKey, ruleApiVersion } from "../match/kafka/api-keys.js";
import { KAFKA_MAX_TOPIC_LENGTH, KAFKA_TOPIC_CHARS } from "./kafka.js";
import { checkCiliumPort } from "./ports.js";
import { re2Error } from "./regex.js";
import { anyValue, arr, bool, int, map, obj, str, type ObjectShape, type Shape, type ValueProblem } from "./shape.js";

// CRD patterns are Go (RE2) regexes; RE2 keeps them linear on hostile input.
const LABEL_VALUE = new RE2("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$");
const FQDN_NAME = new RE2("^([-a-zA-Z0-9_]+[.]?)+$");
const FQDN_PATTERN = new RE2("^([-a-zA-Z0-9_*]+[.]?)+$");
const DNS_SUBDOMAIN = new RE2("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
// The 1.19 CRD allows '*' only as a leading "*." or "**."; Cilium 1.20 accepts it inside
// labels too (its connectivity tests use "f*.example.com"), and so do we.
const SERVER_NAME = new RE2("^(\\*\\*\\.)?([-a-zA-Z0-9_*]+\\.?)+$");
const NO_CONTROL_CHARS = new RE2("^\\PC*$");
const ICMP_TYPE_NAMES = new Set(
  (
    "EchoReply DestinationUnreachable Redirect Echo RouterAdvertisement RouterSelection TimeExceeded " +
    "ParameterProblem Timestamp TimestampReply Photuris ExtendedEchoRequest ExtendedEchoReply PacketTooBig " +
    "EchoRequest MulticastListenerQuery MulticastListenerReport MulticastListenerDone RouterSolicitation " +
    "NeighborSolicitation NeighborAdvertisement RedirectMessage RouterRenumbering ICMPNodeInformationQuery " +
    "ICMPNodeInformationResponse InverseNeighborDiscoverySolicitation InverseNeighborDiscoveryAdvertisement " +
    "HomeAgentAddressDiscoveryRequest HomeAgentAddressDiscoveryReply MobilePrefixSolicitation " +
    "MobilePrefixAdvertisement DuplicateAddressRequestCodeSuffix DuplicateAddressConfirmationCodeSuffix"
  ).split(" "),
);

// Cilium 1.19's CRD allows VRRP and IGMP; 1.20 adds the rest (Cilium's own example
// examples/policies/host/allow-extended-protocols.yaml uses them). All need Cilium's
// --enable-extended-ip-protocols and carry no ports.
export const EXTENDED_PROTOCOLS = ["VRRP", "IGMP", "GRE", "IPIP", "IPV6", "ESP", "AH"] as const;

const ENTITIES = [
  "all", "world", "cluster", "host", "init", "ingress", "unmanaged", "remote-node", "health", "none", "kube-apiserver",
] as const;
const PORT_PROTOCOLS = ["TCP", "UDP", "SCTP", "ANY", ...EXTENDED_PROTOCOLS] as const;

const cidrCheck = (v: string): ValueProblem | undefined => {
  const parsed = checkCidr(v);
  return typeof parsed === "string" ? { code: "L7P_ERR_POLICY_CIDR", message: parsed } : undefined;
};

const regexCheck = (v: string): ValueProblem | undefined => {
  const err = re2Error(v);
  return err === undefined ? undefined : { code: "L7P_ERR_POLICY_REGEX", message: `invalid RE2 regex: ${err}` };
};

const labelSelector: ObjectShape = obj({
  matchExpressions: arr(
    obj(
      {
        key: str({ minLength: 1 }),
        operator: str({ enum: ["In", "NotIn", "Exists", "DoesNotExist"] }),
        values: arr(str()),
      },
      ["key", "operator"],
    ),
  ),
  matchLabels: map(
    str({ maxLength: 63, pattern: LABEL_VALUE, patternHint: "a label value: letters, digits, '-', '_', '.', starting and ending alphanumeric" }),
  ),
});

const cidr = str({ check: cidrCheck });

const cidrRule = obj({
  cidr,
  cidrGroupRef: str({ maxLength: 253, pattern: DNS_SUBDOMAIN, patternHint: "a lower-case DNS subdomain name" }),
  cidrGroupSelector: labelSelector,
  except: arr(cidr),
});

const icmps = arr(
  obj({
    fields: arr(
      obj(
        {
          family: str({ enum: ["IPv4", "IPv6"] }),
          type: {
            kind: "int-or-string",
            check: (v) => {
              if (typeof v === "number") {
                return v >= 0 && v <= 255 ? undefined : { code: "L7P_ERR_POLICY_SCHEMA", message: `ICMP type ${v} is out of range 0..255` };
              }
              if (/^(\d|[1-9]\d|1\d\d|2[0-4]\d|25[0-5])$/.test(v) || ICMP_TYPE_NAMES.has(v)) return undefined;
              return { code: "L7P_ERR_POLICY_SCHEMA", message: `invalid ICMP type ${JSON.stringify(v)}: must be 0..255 or an ICMP message name such as EchoRequest` };
            },
          },
        },
        ["type"],
      ),
      { maxItems: 40 },
    ),
  }),
);

const authentication = obj({ mode: str({ enum: ["disabled", "required", "test-always-fail"] }) }, ["mode"]);

const groups = arr(
  obj({
    aws: obj({
      labels: map(str()),
      region: str(),
      securityGroupsIds: arr(str()),
      securityGroupsNames: arr(str()),
    }),
  }),
);

const portProtocol = obj({
  endPort: int({ min: 0, max: 65535, rangeCode: "L7P_ERR_POLICY_PORT" }),
  port: str({ check: checkCiliumPort }),
  protocol: str({ enum: PORT_PROTOCOLS }),
});

const secretRef = obj({ name: str(), namespace: str() }, ["name"]);
const tls = obj({ certificate: str(), privateKey: str(), secret: secretRef, trustedCA: str() }, ["secret"]);

const fqdnSelector = obj({
  matchName: str({ maxLength: 255, pattern: FQDN_NAME, patternHint: "a DNS name: letters, digits, '-', '_' and '.'" }),
  matchPattern: str({ maxLength: 255, pattern: FQDN_PATTERN, patternHint: "a DNS pattern: letters, digits, '-', '_', '.' and '*'" }),
});

const httpRule = obj({
  headerMatches: arr(
    obj(
      {
        mismatch: str({ enum: ["LOG", "ADD", "DELETE", "REPLACE"] }),
        name: str({ minLength: 1 }),
        secret: secretRef,
        value: str(),
      },
      ["name"],
    ),
  ),
  headers: arr(str()),
  host: str({ check: regexCheck }),
  method: str({ check: regexCheck }),
  path: str({ check: regexCheck }),
});

function unknownApiKey(v: string): string {
  const name = /^\d+$/.test(v) ? kafkaApiKeyName(Number(v)) : undefined;
  const hint = name === undefined ? "use a name such as produce, fetch, metadata, createtopics (plural)" : `Cilium takes names, not numbers: use ${name}`;
  return `unknown Kafka apiKey ${JSON.stringify(v)}: ${hint}`;
}

const kafkaRule = obj({
  apiKey: str({
    check: (v) => (ruleApiKey(v) === undefined ? { code: "L7P_ERR_POLICY_SCHEMA", message: unknownApiKey(v) } : undefined),
  }),
  apiVersion: str({
    check: (v) =>
      ruleApiVersion(v) === undefined
        ? { code: "L7P_ERR_POLICY_SCHEMA", message: `invalid Kafka apiVersion ${JSON.stringify(v)}: must be a decimal number 0..${KAFKA_MAX_INT16}` }
        : undefined,
  }),
  clientID: str(),
  role: str({ enum: ["produce", "consume"] }),
  topic: str({
    maxLength: KAFKA_MAX_TOPIC_LENGTH,
    check: (v) =>
      v === "" || KAFKA_TOPIC_CHARS.test(v)
        ? undefined
        : { code: "L7P_ERR_POLICY_SCHEMA", message: `invalid Kafka topic ${JSON.stringify(v)}: only letters, digits, '.', '_' and '-' are allowed` },
  }),
});

const l7Rules = obj({
  dns: arr(fqdnSelector),
  http: arr(httpRule),
  kafka: arr(kafkaRule),
  l7: arr(map(str())),
  l7proto: str(),
});

const portRule = obj({
  listener: obj(
    {
      envoyConfig: obj({ kind: str({ enum: ["CiliumEnvoyConfig", "CiliumClusterwideEnvoyConfig"] }), name: str({ minLength: 1 }) }, ["name"]),
      name: str({ minLength: 1 }),
      priority: int({ min: 1, max: 100 }),
    },
    ["envoyConfig", "name"],
  ),
  originatingTLS: tls,
  ports: arr(portProtocol, { maxItems: 40 }),
  rules: l7Rules,
  serverNames: arr(str({ maxLength: 255, pattern: SERVER_NAME, patternHint: "a server name: letters, digits, '-', '_', '.', and '*' wildcards" }), { minItems: 1 }),
  terminatingTLS: tls,
});

const portDenyRule = obj({ ports: arr(portProtocol, { maxItems: 40 }) });

const selectors = arr(labelSelector);

const toServices = arr(
  obj({
    k8sService: obj({ namespace: str(), serviceName: str() }),
    k8sServiceSelector: obj({ namespace: str(), selector: labelSelector }, ["selector"]),
  }),
);

const obsoletePeerFields = { auth: "replaced by authentication.mode" };

const ingressCommon: Record<string, Shape> = {
  fromCIDR: arr(cidr),
  fromCIDRSet: arr(cidrRule),
  fromEndpoints: selectors,
  fromEntities: arr(str({ enum: ENTITIES })),
  fromGroups: groups,
  fromNodes: selectors,
  fromRequires: selectors,
  icmps,
};

const egressCommon: Record<string, Shape> = {
  icmps,
  toCIDR: arr(cidr),
  toCIDRSet: arr(cidrRule),
  toEndpoints: selectors,
  toEntities: arr(str({ enum: ENTITIES })),
  toGroups: groups,
  toNodes: selectors,
  toRequires: selectors,
  toServices,
};

const ciliumRuleShape: ObjectShape = obj({
  description: str(),
  egress: arr({ ...obj({ ...egressCommon, authentication, toFQDNs: arr(fqdnSelector), toPorts: arr(portRule) }), obsolete: obsoletePeerFields }),
  egressDeny: arr(obj({ ...egressCommon, toPorts: arr(portDenyRule) })),
  enableDefaultDeny: obj({ egress: bool, ingress: bool }),
  endpointSelector: labelSelector,
  ingress: arr({ ...obj({ ...ingressCommon, authentication, toPorts: arr(portRule) }), obsolete: obsoletePeerFields }),
  ingressDeny: arr(obj({ ...ingressCommon, toPorts: arr(portDenyRule) })),
  labels: arr(obj({ key: str(), source: str(), value: str() }, ["key"])),
  log: obj({ value: str({ maxLength: 32, pattern: NO_CONTROL_CHARS, patternHint: "no control characters" }) }),
  nodeSelector: labelSelector,
});

export const ciliumPolicyShape: ObjectShape = obj({
  apiVersion: str(),
  kind: str(),
  metadata: { kind: "object", fields: {}, open: true },
  spec: ciliumRuleShape,
  specs: arr(ciliumRuleShape),
  status: anyValue,
});
