// The catalog: protocols, variants and image builds; creating a node from an image.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { bytes } from './format.js';

function CreateDialog({ image, hosts, onClose, onCreated }) {
  const dialog = useRef(null);
  const [error, setError] = useState('');
  useEffect(() => {
    if (image && !dialog.current.open) dialog.current.showModal();
  }, [image]);
  const close = () => {
    dialog.current.close();
    setError('');
    onClose();
  };
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const tags = String(form.get('tags') || '').split(/[\s,]+/).filter(Boolean);
    try {
      const nodes = await api.create({
        image_id: image.image_id,
        host_id: form.get('host') || null,
        display_name: form.get('name') || null,
        tags,
      });
      close();
      onCreated(nodes);
    } catch (err) {
      setError(err.message);
    }
  };
  return (
    <dialog ref={dialog} aria-labelledby="create-title" onCancel={(e) => { e.preventDefault(); close(); }}>
      {image && (
        <form onSubmit={submit}>
          <h2 id="create-title">New {image.label} node</h2>
          <div class="field">
            <label for="c-host">Host</label>
            <select id="c-host" name="host">
              <option value="">Least loaded</option>
              {hosts.map((h) => <option value={h.id}>{h.name}</option>)}
            </select>
          </div>
          <div class="field">
            <label for="c-name">Display name (optional)</label>
            <input id="c-name" name="name" />
          </div>
          <div class="field">
            <label for="c-tags">Tags (comma-separated, lower-kebab-case)</label>
            <input id="c-tags" name="tags" />
          </div>
          {error && <p role="alert" class="error">{error}</p>}
          <div class="buttons">
            <button type="button" onClick={close}>Cancel</button>
            <button type="submit">Create node</button>
          </div>
        </form>
      )}
    </dialog>
  );
}

export function Catalog({ fleet, canWrite, announce }) {
  const [catalog, setCatalog] = useState(null);
  const [error, setError] = useState('');
  const [creating, setCreating] = useState(null);
  useEffect(() => {
    api.catalog().then(setCatalog, (e) => setError(e.message));
  }, []);
  if (error) return <p role="alert">{error}</p>;
  if (!catalog) return <p>Loading…</p>;
  return (
    <section aria-labelledby="catalog-title">
      <h1 id="catalog-title">Catalog</h1>
      {catalog.length === 0 && <p>No protocols yet: publish one with <code>nib protocol push</code>.</p>}
      {catalog.map((p) => (
        <article aria-labelledby={`p-${p.key}`}>
          <h2 id={`p-${p.key}`}>{p.name} <span class="muted">({p.key})</span></h2>
          {p.description && <p>{p.description}</p>}
          {p.variants.map((v) => (
            <table>
              <caption>Variant {v.variant}</caption>
              <thead>
                <tr><th scope="col">Version</th><th scope="col">Build</th><th scope="col">Needs</th><th scope="col"><span class="sr-only">Create</span></th></tr>
              </thead>
              <tbody>
                {v.images.map((i) => {
                  const label = `${p.key} ${v.variant} ${i.semantic_version} build ${i.build_version}`;
                  return (
                    <tr>
                      <th scope="row">{i.semantic_version}</th>
                      <td class="num">{i.build_version}</td>
                      <td>{i.min_cpu_cores} CPU, {bytes(i.min_memory_bytes)} RAM, {bytes(i.min_disk_bytes)} disk</td>
                      <td>
                        {canWrite && (
                          <button type="button" onClick={() => setCreating({ ...i, label })}>
                            Create node<span class="sr-only"> from {label}</span>
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          ))}
        </article>
      ))}
      <CreateDialog
        image={creating}
        hosts={fleet.hosts}
        onClose={() => setCreating(null)}
        onCreated={(nodes) => announce(`Created ${nodes.map((n) => n.name).join(', ')}`)}
      />
    </section>
  );
}
