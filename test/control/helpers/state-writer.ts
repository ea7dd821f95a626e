/**
 * Child process of the kill -9 test: applies an endless stream of changes of
 * varying size (so that compactions happen too) through the journal store into
 * the directory given as argv[2], and prints `saved <generation>` after each
 * change has returned.
 */
import { JournalStore } from '../../../lib/control/journal-store'
import { changesBetween } from '../../../lib/control/store'
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
  const store = await JournalStore.open(process.argv[2]!)
  const loaded = await store.load()
  // Validated up front, so that the loop spends its time in the store and a kill lands mid-write.
  const configs = [0, 1500, 10, 800, 3000, 50].map((size) => validateConfig(configWithBackends(size)))
  let previous: unknown = loaded?.config
  for (let generation = (loaded?.revision ?? 0) + 1; ; generation++) {
    const next = configs[generation % configs.length]!
    await store.apply(changesBetween(previous as never, next), generation - 1)
    previous = next
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
