// k6 run -e BASE_URL=http://127.0.0.1:8000 -e USERS=1000 bench/k6/status.js
// GET /status for users reserved in setup().
import http from 'k6/http';
import { check } from 'k6';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const USERS = Number(__ENV.USERS || 1000);

export const options = {
  scenarios: {
    status: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 5000), timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: 200, maxVUs: 2000,
    },
  },
};

export function setup() {
  for (let i = 0; i < USERS; i++) {
    http.post(`${BASE}/reserve`, JSON.stringify({ user_id: `k6s-${i}` }), {
      headers: { 'Content-Type': 'application/json' },
      responseCallback: http.expectedStatuses(200, 409),
    });
  }
}

export default function () {
  const user = `k6s-${Math.floor(Math.random() * USERS)}`;
  const res = http.get(`${BASE}/status/${user}`, {
    responseCallback: http.expectedStatuses(200, 404),
  });
  check(res, { 'answered': (r) => r.status === 200 || r.status === 404 });
}
