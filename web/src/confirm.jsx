// A modal confirmation on the native <dialog>: focus moves into it, Escape cancels, and
// focus returns to the button that opened it.
import { useEffect, useRef } from 'preact/hooks';

export function Confirm({ request, onDone }) {
  const dialog = useRef(null);
  useEffect(() => {
    const d = dialog.current;
    if (request && d && !d.open) d.showModal();
    if (!request && d && d.open) d.close();
  }, [request]);
  const finish = (ok) => {
    dialog.current.close();
    onDone(ok);
  };
  return (
    <dialog
      ref={dialog}
      aria-labelledby="confirm-title"
      aria-describedby="confirm-text"
      onCancel={(e) => {
        e.preventDefault();
        finish(false);
      }}
    >
      {request && (
        <form method="dialog" onSubmit={(e) => { e.preventDefault(); finish(true); }}>
          <h2 id="confirm-title">{request.title}</h2>
          <p id="confirm-text">{request.text}</p>
          <div class="buttons">
            <button type="button" onClick={() => finish(false)} autofocus>Cancel</button>
            <button type="submit" class="danger">{request.confirm}</button>
          </div>
        </form>
      )}
    </dialog>
  );
}
