/**
 * Why the packet path dropped a frame. Every reason is counted; the names
 * (snake_case) are what /v1/stats, /metrics and `nvlb replay` print.
 */
export const DropReason = {
  TRUNCATED: 0,
  VLAN_DOUBLE_TAGGED: 1,
  NOT_IPV4: 2,
  BAD_IP_HEADER: 3,
  BAD_IP_CHECKSUM: 4,
  GRE_TRUNCATED: 5,
  GRE_CHECKSUM_PRESENT: 6,
  GRE_SEQUENCE_PRESENT: 7,
  GRE_KEY_ABSENT: 8,
  GRE_BAD_VERSION: 9,
  GRE_BAD_PROTOCOL: 10,
  VSID_OUT_OF_RANGE: 11,
  INNER_TAGGED: 12,
  INNER_NOT_IPV4: 13,
  UNKNOWN_VSID: 14,
  NO_VIP_RULE: 15,
  NO_BACKEND: 16,
  NO_FLOW: 17,
  WRONG_ROUTING_DOMAIN: 18,
  NO_LOOKUP_RECORD: 19,
  NEIGHBOR_UNRESOLVED: 20,
  NAT_PORTS_EXHAUSTED: 21,
  REVERSE_COLLISION: 22,
  FRAGMENT_NO_STATE: 23,
  ICMP_NO_FLOW: 24,
  ICMP_UNSUPPORTED: 25,
  PACKET_TOO_BIG: 26,
  TX_QUEUE_FULL: 27,
  ARP_IGNORED: 28,
  NOT_FOR_US: 29,
  NO_CONFIGURATION: 30,
  BAD_L4_HEADER: 31,
  OUTER_FRAGMENT: 32,
  NO_HEADROOM: 33,
  HAIRPIN_UNAVAILABLE: 34,
  SPOOFED_PROVIDER_ADDRESS: 35,
  WRONG_INTERFACE: 36,
  NOT_OUR_MAC: 37,
  CLIENT_MACS_FULL: 38,
  ICMP_RATE_LIMITED: 39,
  ICMP_FORGED: 40,
  RST_OUTSIDE_WINDOW: 41,
  BAD_SOURCE_MAC: 42,
} as const

export type DropReasonCode = (typeof DropReason)[keyof typeof DropReason]

export const DROP_REASON_COUNT = Object.keys(DropReason).length

/** Index → snake_case name. */
export const DROP_REASON_NAMES: readonly string[] = (() => {
  const names: string[] = []
  for (const [key, value] of Object.entries(DropReason)) names[value] = key.toLowerCase()
  return names
})()

/** What each reason means, for `--help`, the README and the metrics HELP text. */
export const DROP_REASON_HELP: Readonly<Record<string, string>> = {
  truncated: 'frame shorter than the headers it announces',
  vlan_double_tagged: 'more than one 802.1Q tag on the outer frame',
  not_ipv4: 'neither ARP nor IPv4 (IPv6 and other ethertypes are not handled yet)',
  bad_ip_header: 'IPv4 version, header length or total length is wrong',
  bad_ip_checksum: 'an IPv4 header checksum (outer, or inner of NVGRE) is wrong',
  gre_truncated: 'GRE header or inner Ethernet header cut short',
  gre_checksum_present: 'GRE C bit set (NVGRE forbids it)',
  gre_sequence_present: 'GRE S bit set (NVGRE forbids it)',
  gre_key_absent: 'GRE K bit clear: no VSID',
  gre_bad_version: 'GRE version or reserved bits not zero',
  gre_bad_protocol: 'GRE protocol type is not 0x6558 (transparent Ethernet bridging)',
  vsid_out_of_range: 'VSID outside 4096..16777214',
  inner_tagged: 'the inner Ethernet frame carries an 802.1Q tag',
  inner_not_ipv4: 'the inner frame is not IPv4',
  unknown_vsid: 'no lookup record or route defines this VSID',
  no_vip_rule: 'no VIP rule matches (VSID, VIP, protocol, port)',
  no_backend: 'the rule\'s pool has no active backend',
  no_flow: 'a packet from a backend side with no tracked flow',
  wrong_routing_domain: 'a reply from a VSID outside the flow\'s routing domain',
  no_lookup_record: 'no lookup record for the destination (VSID, CA)',
  neighbor_unresolved: 'next-hop MAC of a provider address not known yet (an ARP request was sent)',
  nat_ports_exhausted: 'no free source port for full NAT',
  reverse_collision: 'another flow already owns this reply 5-tuple',
  fragment_no_state: 'a non-first fragment whose datagram is not known',
  icmp_no_flow: 'an ICMP error quoting no tracked flow',
  icmp_unsupported: 'an ICMP message nvlb does not translate',
  packet_too_big: 'too big for the provider MTU: with DF set (ICMP fragmentation-needed sent), or NVGRE that arrived larger than it',
  tx_queue_full: 'more output frames than the transmit queue holds',
  arp_ignored: 'ARP not addressed to an address nvlb owns',
  not_for_us: 'IPv4 not addressed to a VIP or to nvlb',
  no_configuration: 'no configuration adopted yet',
  bad_l4_header: 'TCP/UDP/ICMP header truncated or malformed',
  outer_fragment: 'a fragmented outer (provider) IPv4 packet; NVGRE is not reassembled',
  no_headroom: 'the receive buffer has no room in front of the frame for the outer headers',
  hairpin_unavailable: 'a tenant VM addressed a public VIP, but node.externalAddress (its source NAT address) is not set',
  wrong_interface: 'NVGRE on the external interface, or plain IP or external-side ARP on the provider interface (when they are two interfaces)',
  not_our_mac: 'destination MAC is neither node.providerMac nor node.externalMac (nor broadcast, for ARP)',
  client_macs_full: 'a new public flow from a client-side MAC when the client-MAC table is full (never sent to 00:00:00:00:00:00)',
  icmp_rate_limited: 'an ICMP error nvlb would send (fragmentation-needed) was over the per-source rate (10/s, burst 20)',
  icmp_forged: 'a port or protocol unreachable for a tracked flow, not from the host the quoted packet was addressed to',
  spoofed_provider_address: 'NVGRE whose outer source PA is not the PA the lookup records give for the inner source CA (nor, for a reply, the PA of the flow\'s backend, nor a peer instance\'s PA)',
  bad_source_mac: 'source MAC 00:00:00:00:00:00 or a group (multicast, broadcast) address, which no sender owns: replies and neighbours would be sent there',
  rst_outside_window: 'a TCP RST for a tracked flow whose sequence number is more than about 1 MiB from where that direction of the connection is (the flow is kept)',
}
