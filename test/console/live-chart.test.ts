/**
 * The overview's chart moves while real traffic runs: the reference
 * deployment (namespaces, host emulators, VMs, nvlb on AF_PACKET), HTTP
 * requests from the client namespace through the Blue public VIP, and the
 * console in Chromium showing packets/s rise in the chart and on the VIPs and
 * pools pages. Needs root.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { deployForTest, KeepaliveClient, needsRoot } from '../e2e/helpers'
import { CHROMIUM, login, openBrowser, pollUntil } from './browser'

const skip = needsRoot || (existsSync(CHROMIUM) ? false : `needs ${CHROMIUM} (apt-get install chromium)`)

t.test('the live chart moves while traffic runs', { skip }, async (t) => {
  const d = await deployForTest(t)
  const { page, requests } = await openBrowser(t)
  await login(page, d.apiUrl, d.token)
  await page.goto(d.apiUrl + '/console/#/overview')
  const received = page.locator('#traffic-chart .legend-item[data-series="received"]')
  await received.waitFor()
  t.equal(Number(await received.getAttribute('data-value')), 0, 'no traffic yet: 0 packets/s')
  const lineBefore = await page.locator('#traffic-chart polyline[data-series="received"]').getAttribute('points').catch(() => null)

  const vip = d.vips.find((v) => v.name === 'blue-public')!
  const client = new KeepaliveClient(vip.fromNamespace, vip.url, 4)
  t.teardown(() => client.close())
  let running = true
  const traffic = (async () => {
    let answers = 0
    while (running) answers += (await client.request()).length
    return answers
  })()
  t.teardown(async () => {
    running = false
    await traffic.catch(() => undefined)
  })

  // Bounded poll for the condition: a point of the chart above zero.
  await pollUntil('packets/s above 0 in the chart', async () => Number(await received.getAttribute('data-value')) > 0, 60_000)
  const value = Number(await received.getAttribute('data-value'))
  t.ok(value > 0, `received: ${value} packets/s in the chart's legend`)
  // The chart is redrawn with every sample; the line rises once a sample after the first non-zero one is drawn.
  const line = page.locator('#traffic-chart polyline[data-series="received"]')
  const heights = async (): Promise<Set<number>> =>
    new Set(((await line.getAttribute('points').catch(() => null)) ?? '').split(' ').filter(Boolean).map((p) => Number(p.split(',')[1])))
  await pollUntil('the received line leaves zero', async () => (await heights()).size > 1, 60_000)
  const lineAfter = await line.getAttribute('points')
  t.not(lineAfter, lineBefore, 'the line moved')
  t.ok((await heights()).size > 1, 'the line is not flat')
  const flows = Number(await page.locator('#traffic-chart .legend-item[data-series="flows"]').getAttribute('data-value'))
  t.ok(flows > 0, `${flows} active flows`)

  await page.goto(d.apiUrl + '/console/#/vips')
  const pps = page.locator('tr[data-vip="blue-public"] td.pps')
  await pps.waitFor()
  await pollUntil('packets/s of blue-public above 0', async () => Number((await pps.textContent())!.replace(/,/g, '')) > 0)
  t.pass('the VIPs page shows packets/s of the blue-public rule')
  running = false
  const answers = await traffic
  t.ok(answers > 0, `${answers} HTTP answers through the VIP`)
  t.same(requests.filter((r) => !r.startsWith(d.apiUrl + '/')), [], 'every request of the pages went to the API')
})
