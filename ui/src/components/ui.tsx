// Small building blocks every page uses.

import type { ButtonHTMLAttributes, ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { fmtInt } from "../format";

export function Page(props: { name: string; title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="page" data-testid={`page-${props.name}`}>
      <header class="page-head">
        <h1>{props.title}</h1>
        {props.actions && <div class="page-actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  );
}

export function Card(props: { title?: ComponentChildren; actions?: ComponentChildren; class?: string; children: ComponentChildren }) {
  return (
    <div class={`card ${props.class ?? ""}`}>
      {(props.title || props.actions) && (
        <div class="card-head">
          {props.title && <h2>{props.title}</h2>}
          {props.actions && <div class="card-actions">{props.actions}</div>}
        </div>
      )}
      {props.children}
    </div>
  );
}

/** A headline number; `data-value` carries the raw number for scripts and tests. */
export function Stat(props: { label: string; value: number | null | undefined; testid?: string; hint?: ComponentChildren; text?: string }) {
  return (
    <div class="stat">
      <div class="stat-label">{props.label}</div>
      <div class="stat-value" data-testid={props.testid} data-value={props.value ?? ""}>
        {props.text ?? (props.value === undefined ? "…" : fmtInt(props.value))}
      </div>
      {props.hint && <div class="stat-hint">{props.hint}</div>}
    </div>
  );
}

export function Spinner(props: { label?: string }) {
  return (
    <span class="spinner-wrap" role="status">
      <span class="spinner" aria-hidden="true" />
      {props.label && <span>{props.label}</span>}
    </span>
  );
}

export function Loading() {
  return (
    <div class="loading">
      <Spinner label="Loading…" />
    </div>
  );
}

/** The core's message, as it is. */
export function ErrorNote(props: { message: string | null | undefined; testid?: string }) {
  if (!props.message) return null;
  return (
    <div class="error-note" role="alert" data-testid={props.testid}>
      {props.message}
    </div>
  );
}

export function Empty(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <div class="empty-title">{props.title}</div>
      {props.children && <div class="empty-text">{props.children}</div>}
    </div>
  );
}

export type Tone = "ok" | "warn" | "bad" | "info" | "muted";

export function Badge(props: { tone: Tone; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge badge-${props.tone}`} title={props.title}>
      {props.children}
    </span>
  );
}

/** The tone of a backup, job run or request status. */
export function statusTone(status: string): Tone {
  switch (status) {
    case "ok":
    case "verified":
    case "done":
    case "completed":
      return "ok";
    case "failed":
    case "missed":
    case "overdue":
      return "bad";
    case "running":
    case "in_progress":
    case "open":
      return "info";
    case "skipped":
    case "cancelled":
    case "due_soon":
      return "warn";
    default:
      return "muted";
  }
}

export function StatusBadge(props: { status: string }) {
  return <Badge tone={statusTone(props.status)}>{props.status.replace(/_/g, " ")}</Badge>;
}

export function Button(
  props: ButtonHTMLAttributes<HTMLButtonElement> & { busy?: boolean; variant?: "primary" | "danger" | "ghost" },
) {
  const { busy, variant, children, disabled, class: className, ...rest } = props;
  return (
    <button
      type="button"
      {...rest}
      class={`btn ${variant ? `btn-${variant}` : ""} ${String(className ?? "")}`}
      disabled={Boolean(disabled) || busy}
      aria-busy={busy ? "true" : undefined}
    >
      {busy && <span class="spinner spinner-small" aria-hidden="true" />}
      {children}
    </button>
  );
}

export function ProgressBar(props: { done: number; total: number; testid?: string; label?: string }) {
  const known = props.total > 0;
  const percent = known ? Math.min(100, Math.round((props.done / props.total) * 100)) : 0;
  return (
    <div class="progress" data-testid={props.testid}>
      <div
        class={`progress-track ${known ? "" : "progress-indeterminate"}`}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={known ? props.total : undefined}
        aria-valuenow={known ? props.done : undefined}
      >
        <div class="progress-fill" style={{ width: known ? `${percent}%` : undefined }} />
      </div>
      <div class="progress-text">
        {props.label ?? ""} {known ? `${fmtInt(props.done)} of ${fmtInt(props.total)} (${percent}%)` : "starting…"}
      </div>
    </div>
  );
}

/** A modal dialog; Escape or the backdrop closes it. */
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; actions: ComponentChildren }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") props.onClose();
    };
    document.addEventListener("keydown", onKey);
    box.current?.querySelector<HTMLElement>("button.btn-primary, button.btn-danger, input")?.focus();
    return () => document.removeEventListener("keydown", onKey);
  }, []);
  return (
    <div class="backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class="dialog" role="dialog" aria-modal="true" aria-label={props.title} ref={box}>
        <h2>{props.title}</h2>
        <div class="dialog-body">{props.children}</div>
        <div class="dialog-actions">{props.actions}</div>
      </div>
    </div>
  );
}

export function Field(props: { label: string; hint?: ComponentChildren; children: ComponentChildren; class?: string }) {
  return (
    <label class={`field ${props.class ?? ""}`}>
      <span class="field-label">{props.label}</span>
      {props.children}
      {props.hint && <span class="field-hint">{props.hint}</span>}
    </label>
  );
}
