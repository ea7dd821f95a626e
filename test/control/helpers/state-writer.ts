/**
 * Child process of the kill -9 test: saves an endless stream of configurations
 * of varying size through the Store into the directory given as argv[2], and
 * prints `saved <generation>` after each save has returned.
 */
import { Store } from '../../../lib/control/store'
import { validateConfig } from '../../../lib/control/config-validate'
import { referenceConfig } from '../reference-config'

/** The reference deployment plus `extra` backends in the blue web pool. */
export function configWithBackends(extra: number): any {
  const doc = referenceConfig()
  for (let i = 0; i < extra; i++) {
    const address = `10.1.${100 + (i >> 8)}.${i & 255}`
    doc.lookupRecords.push({
      customerAddress: address,
      virtualSubnetId: 5001,
      providerAddress: `192.168.6.${4 + (i % 4)}`,
      macAddress: `00155D${(i >> 16).toString(16).padStart(2, '0')}${((i >> 8) & 255).toString(16).padStart(2, '0')}${(i & 255).toString(16).padStart(2, '0')}`.toUpperCase(),
      customerId: 'blue',
    })
    doc.pools[0].backends.push({ virtualSubnetId: 5001, address, weight: 1 + (i % 3) })
  }
  return doc
}

async function main(): Promise<void> {
  const store = await Store.open(process.argv[2]!)
  const start = (await store.load())?.generation ?? 0
  // Validated up front, so that the loop spends its time in Store.save and a kill lands mid-save.
  const configs = [0, 1500, 10, 800, 3000, 50].map((size) => validateConfig(configWithBackends(size)))
  for (let generation = start + 1; ; generation++) {
    await store.save({ generation, config: configs[generation % configs.length]! })
    process.stdout.write(`saved ${generation}\n`)
  }
}

// Run by the kill -9 test with a directory; loaded any other way (e.g. by `tap test/control/`) it does nothing.
if (require.main === module && process.argv[2] !== undefined) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
