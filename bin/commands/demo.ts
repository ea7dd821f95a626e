/** `nvlb demo`: the reference deployment with HTTP load through its four VIPs (examples/blue-red/demo.ts). */
export { main } from '../../examples/blue-red/demo'
