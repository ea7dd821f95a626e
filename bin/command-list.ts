/** The sub-commands of `nvlb`, each in bin/commands/<name>.ts, with one line of help. */
export const COMMANDS: Record<string, string> = {
  run: 'start the control plane, admin API and packet path',
  replay: 'feed a pcap through one engine: replay --config CONFIG.json IN.pcap OUT.pcap',
  demo: 'bring up the reference deployment (two tenants in network namespaces) and drive traffic through it',
  host: 'run the NVGRE host emulator (the Hyper-V host role)',
  bench: 'run a benchmark: bench pipeline|api|e2e|wire|health|control [--json]',
  config: 'show or replace the whole configuration through the admin API',
  vip: 'list, show, create, update or delete VIPs through the admin API',
  pool: 'list, show, create, update or delete pools through the admin API',
  backend: 'add, change (state, weight) or remove a pool backend through the admin API',
  policy: 'lookup records and customer routes; import PowerShell exports',
  simulate: 'which VIP rule and backend would take a flow, and why',
  stats: 'packet, flow and drop counters',
  health: "backends' health as probes see it: state, since, last error, latency",
  instances: 'the nvlb instances sharing the configuration (etcd): addresses, generation, readiness',
  completion: 'print a shell completion script: completion bash',
}

export const COMMAND_NAMES = Object.keys(COMMANDS)
