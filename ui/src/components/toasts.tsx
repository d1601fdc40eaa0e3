import { dismissToast, useToasts } from "../state";

/** Where toasts appear (bottom right); `data-testid="toast"`. */
export function Toasts() {
  const list = useToasts();
  return (
    <div class="toasts" data-testid="toast" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`} data-testid={t.testid} role={t.kind === "error" ? "alert" : "status"}>
          <div class="toast-body">
            <div class="toast-text">{t.text}</div>
            {t.detail && <div class="toast-detail">{t.detail}</div>}
          </div>
          {t.action && (
            <button type="button" class="btn btn-small" onClick={t.action.run}>
              {t.action.label}
            </button>
          )}
          <button type="button" class="toast-close" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
