// The console shell: sign-in, navigation (hash routes), the live fleet stream, actions with
// confirmation, and a polite live region that reads changes out to screen readers.
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, subscribe } from './api.js';
import { Catalog } from './catalog.jsx';
import { Confirm } from './confirm.jsx';
import { Hosts } from './hosts.jsx';
import { NodeDetail } from './node.jsx';
import { Nodes } from './nodes.jsx';
import { Overview } from './overview.jsx';
import './style.css';

function useRoute() {
  const read = () => (location.hash.replace(/^#/, '') || '/').split('/').filter(Boolean);
  const [route, setRoute] = useState(read());
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

function Login({ onDone }) {
  const [error, setError] = useState('');
  const [useToken, setUseToken] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const creds = useToken
      ? { token: form.get('token') }
      : { email: form.get('email'), password: form.get('password') };
    try {
      onDone(await api.login(creds));
    } catch (err) {
      setError(err.message);
    }
  };
  return (
    <main id="main" class="login">
      <h1>Blockvisor console</h1>
      <form onSubmit={submit} aria-labelledby="login-title">
        <h2 id="login-title">Sign in</h2>
        {useToken ? (
          <div class="field">
            <label for="token">API token</label>
            <input id="token" name="token" type="password" autocomplete="off" required />
          </div>
        ) : (
          <>
            <div class="field">
              <label for="email">Email</label>
              <input id="email" name="email" type="email" autocomplete="username" required />
            </div>
            <div class="field">
              <label for="password">Password</label>
              <input id="password" name="password" type="password" autocomplete="current-password" required />
            </div>
          </>
        )}
        {error && <p role="alert" class="error">{error}</p>}
        <div class="buttons">
          <button type="submit">Sign in</button>
          <button type="button" class="link" onClick={() => { setError(''); setUseToken(!useToken); }}>
            {useToken ? 'Use email and password' : 'Use an API token'}
          </button>
        </div>
      </form>
    </main>
  );
}

const NAV = [
  ['/', 'Overview'],
  ['/nodes', 'Nodes'],
  ['/hosts', 'Hosts'],
  ['/catalog', 'Catalog'],
];

const CONFIRM = {
  stop: 'Stop',
  restart: 'Restart',
  upgrade: 'Upgrade',
  delete: 'Delete',
};

function describe(node, action) {
  const name = node.display_name || node.name;
  switch (action) {
    case 'stop': return `Stop ${name}? Its services stop until you start it again.`;
    case 'restart': return `Restart ${name}? Its services are stopped and started again.`;
    case 'upgrade': return `Upgrade ${name} to the newest build of ${node.protocol} ${node.variant}? The node restarts.`;
    default: return `Delete ${name}? Its container and data are removed from ${node.host_name}. This cannot be undone.`;
  }
}

function Console({ me, onLogout }) {
  const route = useRoute();
  const [fleet, setFleet] = useState(null);
  const [message, setMessage] = useState('');
  const [live, setLive] = useState(true);
  const [confirm, setConfirm] = useState(null);
  const previous = useRef(null);
  const heading = useRef(null);

  const announce = useCallback((text) => setMessage(text), []);
  const [toast, setToast] = useState('');
  useEffect(() => {
    setToast(message);
    const t = setTimeout(() => setToast(''), 6000);
    return () => clearTimeout(t);
  }, [message]);

  useEffect(() => {
    api.fleet().then(setFleet, () => {});
    return subscribe(
      (f) => {
        setLive(true);
        const before = previous.current;
        if (before) {
          const changes = [];
          for (const n of f.nodes) {
            const old = before.nodes.find((o) => o.id === n.id);
            const name = n.display_name || n.name;
            if (old && old.state !== n.state) changes.push(`${name} is now ${n.state}`);
            if (old && n.alerts.length > old.alerts.length) changes.push(`${name} has a new alert: ${n.alerts[n.alerts.length - 1].message}`);
          }
          if (changes.length) setMessage(changes.join('. '));
        }
        previous.current = f;
        setFleet(f);
      },
      () => setLive(false),
    );
  }, []);

  // Moving to another page moves focus to its heading for screen reader users.
  useEffect(() => {
    const h = document.querySelector('main h1');
    if (h && heading.current !== route.join('/')) {
      h.setAttribute('tabindex', '-1');
      h.focus();
    }
    heading.current = route.join('/');
  }, [route, fleet !== null]);

  const run = async (node, action) => {
    try {
      await api.action(node.id, action);
      announce(`${CONFIRM[action] || 'Start'} requested for ${node.display_name || node.name}`);
    } catch (err) {
      announce(`Could not ${action} ${node.name}: ${err.message}`);
    }
  };
  const act = (node, action) => {
    if (CONFIRM[action]) {
      setConfirm({ node, action, title: `${CONFIRM[action]} node`, text: describe(node, action), confirm: CONFIRM[action] });
    } else {
      run(node, action);
    }
  };

  const path = `/${route[0] || ''}`;
  let page = <p>Loading…</p>;
  if (fleet) {
    if (route[0] === 'nodes' && route[1]) page = <NodeDetail id={route[1]} fleet={fleet} act={act} canWrite={me.can_write} />;
    else if (route[0] === 'nodes') page = <Nodes fleet={fleet} act={act} canWrite={me.can_write} />;
    else if (route[0] === 'hosts') page = <Hosts fleet={fleet} />;
    else if (route[0] === 'catalog') page = <Catalog fleet={fleet} canWrite={me.can_write} announce={announce} />;
    else page = <Overview fleet={fleet} />;
  }
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>Skip to content</a>
      <header>
        <span class="brand">Blockvisor</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([href, label]) => (
              <li>
                <a href={`#${href}`} aria-current={path === href ? 'page' : undefined}>{label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <span class={`live ${live ? 'on' : 'off'}`} role="status">{live ? 'Live' : 'Reconnecting…'}</span>
        <span class="who">{me.email || 'token'}</span>
        <button type="button" class="link" onClick={async () => { await api.logout(); onLogout(); }}>Sign out</button>
      </header>
      <main id="main" tabindex="-1">{page}</main>
      <div class="sr-only" aria-live="polite" aria-atomic="true" id="announcer">{message}</div>
      {toast && <div class="toast" aria-hidden="true">{toast}</div>}
      <Confirm
        request={confirm}
        onDone={(ok) => {
          const c = confirm;
          setConfirm(null);
          if (ok && c) run(c.node, c.action);
        }}
      />
    </>
  );
}

function App() {
  const [me, setMe] = useState(undefined);
  useEffect(() => {
    api.me().then(setMe, () => setMe(null));
  }, []);
  if (me === undefined) return <p>Loading…</p>;
  if (me === null) return <Login onDone={setMe} />;
  return <Console me={me} onLogout={() => setMe(null)} />;
}

render(<App />, document.getElementById('app'));
