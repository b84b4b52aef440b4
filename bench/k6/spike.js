// k6 run -e BASE_URL=http://127.0.0.1:8000 bench/k6/spike.js
// A sale opening: arrivals ramp from 0 to a peak in seconds, every user
// reserves once and polls status until reserved or sold out.
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8000';

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: 0, timeUnit: '1s',
      preAllocatedVUs: 500, maxVUs: 5000,
      stages: [
        { target: Number(__ENV.PEAK || 5000), duration: '5s' },
        { target: Number(__ENV.PEAK || 5000), duration: '20s' },
        { target: 0, duration: '5s' },
      ],
    },
  },
};

export default function () {
  const user = `k6x-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  const res = http.post(`${BASE}/reserve`, JSON.stringify({ user_id: user }), {
    headers: { 'Content-Type': 'application/json' },
    responseCallback: http.expectedStatuses(200, 409),
  });
  check(res, { 'answered': (r) => r.status === 200 || r.status === 409 });
  if (res.status !== 200 || res.json('status') === 'reserved') return;
  for (let i = 0; i < 10; i++) {
    sleep(1);
    const s = http.get(`${BASE}/status/${user}`, { responseCallback: http.expectedStatuses(200, 404) });
    if (s.status !== 200 || s.json('status') === 'reserved') return;
  }
}
