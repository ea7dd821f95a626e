/** `npm run demo` (without --once) tells where the console is and the token to log in with. */
import t from 'tap'
import { usageInfo } from '../../examples/blue-red/demo'

t.test('the demo prints the console URL and the token', async (t) => {
  const text = usageInfo({ prefix: 'nv1', apiUrl: 'http://169.254.77.2:8573', token: 'tok-123' })
  t.match(text, /console: http:\/\/169\.254\.77\.2:8573\/console\//)
  t.match(text, /token:\s+tok-123/)
})
