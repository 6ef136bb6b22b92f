// The node list: filters by protocol, host, tag and state, and the row actions.
import { useState } from 'preact/hooks';
import { age, num } from './format.js';

function uniq(list) {
  return [...new Set(list)].filter(Boolean).sort();
}

function Select({ id, label, value, options, onChange }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">All</option>
        {options.map((o) => (
          <option value={o}>{o}</option>
        ))}
      </select>
    </div>
  );
}

export function StateBadge({ state }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}

export function NodeActions({ node, act, canWrite }) {
  if (!canWrite) return null;
  const running = node.next_state === 'running';
  const label = node.display_name || node.name;
  return (
    <div class="actions" role="group" aria-label={`Actions for ${label}`}>
      {running ? (
        <button type="button" onClick={() => act(node, 'stop')}>Stop<span class="sr-only"> {label}</span></button>
      ) : (
        <button type="button" onClick={() => act(node, 'start')}>Start<span class="sr-only"> {label}</span></button>
      )}
      <button type="button" onClick={() => act(node, 'restart')}>Restart<span class="sr-only"> {label}</span></button>
      <button type="button" onClick={() => act(node, 'upgrade')}>Upgrade<span class="sr-only"> {label}</span></button>
      <button type="button" class="danger" onClick={() => act(node, 'delete')}>Delete<span class="sr-only"> {label}</span></button>
    </div>
  );
}

export function Nodes({ fleet, act, canWrite }) {
  const [f, setF] = useState({ protocol: '', host: '', tag: '', state: '' });
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const nodes = fleet.nodes.filter(
    (n) =>
      (!f.protocol || n.protocol === f.protocol) &&
      (!f.host || n.host_name === f.host) &&
      (!f.tag || n.tags.includes(f.tag)) &&
      (!f.state || n.state === f.state),
  );
  return (
    <section aria-labelledby="nodes-title">
      <h1 id="nodes-title">Nodes</h1>
      <form class="filters" role="search" aria-label="Filter nodes" onSubmit={(e) => e.preventDefault()}>
        <Select id="f-protocol" label="Protocol" value={f.protocol} options={uniq(fleet.nodes.map((n) => n.protocol))} onChange={set('protocol')} />
        <Select id="f-host" label="Host" value={f.host} options={uniq(fleet.nodes.map((n) => n.host_name))} onChange={set('host')} />
        <Select id="f-tag" label="Tag" value={f.tag} options={uniq(fleet.nodes.flatMap((n) => n.tags))} onChange={set('tag')} />
        <Select id="f-state" label="State" value={f.state} options={uniq(fleet.nodes.map((n) => n.state))} onChange={set('state')} />
      </form>
      <table id="nodes">
        <caption>
          {nodes.length} of {fleet.nodes.length} nodes
        </caption>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Protocol</th>
            <th scope="col">Host</th>
            <th scope="col">State</th>
            <th scope="col">Health</th>
            <th scope="col">Height</th>
            <th scope="col">Block age</th>
            <th scope="col">Jobs</th>
            <th scope="col">Alerts</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((n) => (
            <tr key={n.id} data-node-id={n.id} data-node-name={n.name}>
              <th scope="row">
                <a href={`#/nodes/${n.id}`}>{n.display_name || n.name}</a>
                {n.tags.map((t) => (
                  <span class="tag">{t}</span>
                ))}
              </th>
              <td>
                {n.protocol} <span class="muted">{n.variant} {n.version}</span>
              </td>
              <td>{n.host_name}</td>
              <td class="node-state">
                <StateBadge state={n.state} />
                {n.next_state !== n.state && n.next_state !== 'unspecified' && (
                  <span class="muted"> → {n.next_state}</span>
                )}
              </td>
              <td>{n.protocol_health || '–'}</td>
              <td class="num">{num(n.height)}</td>
              <td class="num">{age(n.block_age_secs)}</td>
              <td>{n.jobs.map((j) => `${j.name}: ${j.status}`).join(', ') || '–'}</td>
              <td class="node-alerts">
                {n.alerts.length === 0 ? (
                  '–'
                ) : (
                  <ul class="alerts">
                    {n.alerts.map((a) => (
                      <li class="alert">
                        <strong>{a.kind}</strong> {a.message}
                      </li>
                    ))}
                  </ul>
                )}
              </td>
              <td>
                <NodeActions node={n} act={act} canWrite={canWrite} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
