// k6 run -e BASE_URL=http://127.0.0.1:8000 bench/k6/reserve.js
// Constant arrival rate of POST /reserve with fresh user ids.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8000';

export const options = {
  scenarios: {
    reserve: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 2000), timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: 200, maxVUs: 2000,
    },
  },
  thresholds: { http_req_failed: ['rate<0.01'] },
};

export default function () {
  const user = `k6-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  const res = http.post(`${BASE}/reserve`, JSON.stringify({ user_id: user }), {
    headers: { 'Content-Type': 'application/json' },
    responseCallback: http.expectedStatuses(200, 409),
  });
  check(res, { 'reserved, queued or sold out': (r) => r.status === 200 || r.status === 409 });
}
