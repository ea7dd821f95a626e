import t from 'tap'
import { idleTimeout, nextTcpState, TCP_CLOSING_TIMEOUT, TCP_RESET_TIMEOUT, TCP_SYN_TIMEOUT } from '../../lib/dataplane/flow-state'
import { FLOW_CLOSING, FLOW_DATAGRAM, FLOW_ESTABLISHED, FLOW_NEW, FLOW_RESET } from '../../lib/dataplane/flow-table'
import { TCP_FLAG_ACK, TCP_FLAG_FIN, TCP_FLAG_RST, TCP_FLAG_SYN } from '../../lib/packet/tcp'

t.test('TCP flags move a flow through its states', async (t) => {
  t.equal(nextTcpState(FLOW_NEW, TCP_FLAG_SYN), FLOW_NEW)
  t.equal(nextTcpState(FLOW_NEW, TCP_FLAG_SYN | TCP_FLAG_ACK), FLOW_NEW, 'a SYN-ACK does not establish')
  t.equal(nextTcpState(FLOW_NEW, TCP_FLAG_ACK), FLOW_ESTABLISHED)
  t.equal(nextTcpState(FLOW_ESTABLISHED, TCP_FLAG_FIN | TCP_FLAG_ACK), FLOW_CLOSING)
  t.equal(nextTcpState(FLOW_ESTABLISHED, TCP_FLAG_RST), FLOW_RESET)
  t.equal(nextTcpState(FLOW_RESET, TCP_FLAG_FIN), FLOW_RESET, 'a reset stays reset')
  t.equal(nextTcpState(FLOW_CLOSING, TCP_FLAG_ACK), FLOW_CLOSING)
})

t.test('idle timeouts by state', async (t) => {
  t.equal(idleTimeout(FLOW_ESTABLISHED, 240), 240)
  t.equal(idleTimeout(FLOW_DATAGRAM, 60), 60)
  t.equal(idleTimeout(FLOW_ESTABLISHED, -1), TCP_SYN_TIMEOUT, 'rule gone')
  t.equal(idleTimeout(FLOW_NEW, 240), TCP_SYN_TIMEOUT)
  t.equal(idleTimeout(FLOW_CLOSING, 240), TCP_CLOSING_TIMEOUT)
  t.equal(idleTimeout(FLOW_RESET, 240), TCP_RESET_TIMEOUT)
})
