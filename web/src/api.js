// Calls to bv-api's console API. The session rides in an HttpOnly cookie; every call
// rejects with an Error carrying the HTTP status and the server's message.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, (data && data.error) || resp.statusText);
  }
  return data;
}

export const api = {
  me: () => call('GET', '/api/me'),
  login: (creds) => call('POST', '/api/login', creds),
  logout: () => call('POST', '/api/logout', {}),
  fleet: () => call('GET', '/api/fleet'),
  history: () => call('GET', '/api/history'),
  node: (id) => call('GET', `/api/nodes/${encodeURIComponent(id)}`),
  jobLog: (id, job, lines = 200) =>
    call('GET', `/api/nodes/${encodeURIComponent(id)}/jobs/${encodeURIComponent(job)}/logs?lines=${lines}`),
  catalog: () => call('GET', '/api/catalog'),
  create: (body) => call('POST', '/api/nodes', body),
  action: (id, action, body = {}) =>
    call('POST', `/api/nodes/${encodeURIComponent(id)}/${action}`, body),
};

// Server-sent fleet views; returns a function that closes the stream.
export function subscribe(onFleet, onError) {
  const source = new EventSource('/api/events');
  source.addEventListener('fleet', (e) => onFleet(JSON.parse(e.data)));
  source.onerror = () => onError && onError();
  return () => source.close();
}
