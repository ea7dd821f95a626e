/** `nvlb demo`: the reference deployment with HTTP load through its four VIPs (examples/blue-red/demo.ts); with --instances N, several instances behind a BGP router (examples/ha/demo.ts). */
import { main as single } from '../../examples/blue-red/demo'
import { main as several } from '../../examples/ha/demo'

export function main(argv: string[]): Promise<number> {
  return argv.some((a) => a === '--instances' || a.startsWith('--instances=')) ? several(argv) : single(argv)
}
