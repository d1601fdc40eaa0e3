import { useState } from "preact/hooks";
import * as api from "../api";
import { Badge, Button, Card, Dialog, Empty, ErrorNote, Field, Loading, Page, StatusBadge, type Tone } from "../components/ui";
import { daysUntil, fmtInt, fmtTime, today } from "../format";
import { attempt, refreshAll, toast, useLoad, useTimeZone } from "../state";

/** How close a request is to its deadline (the default `gdpr.due_soon_days` is 7). */
function deadline(r: api.GdprRequest, todayDay: string, tz: string | undefined): { tone: Tone; text: string } {
  if (r.status === "done" || r.status === "rejected") return { tone: "muted", text: fmtTime(r.due_at, tz).slice(0, 10) };
  const days = daysUntil(r.due_at, todayDay, tz);
  if (days < 0) return { tone: "bad", text: `overdue by ${-days} day${days === -1 ? "" : "s"}` };
  if (days === 0) return { tone: "bad", text: "due today" };
  if (days <= 7) return { tone: "warn", text: `due in ${days} day${days === 1 ? "" : "s"}` };
  return { tone: "ok", text: `due in ${days} days` };
}

function personName(s: api.Subject): string {
  const p = s.person;
  return p.display_name ? `${p.display_name} (${p.external_id})` : p.external_id;
}

/** What is stored about a person, shown before anything is done to them. */
function SubjectCard(props: { subject: api.Subject }) {
  const { person, counts, matched_by, blockers } = props.subject;
  const rows: [string, number][] = [
    ["messages they sent", counts.messages],
    ["read receipts", counts.message_reads],
    ["conversations they take part in", counts.conversations],
    ["conversations they own", counts.conversations_owned],
    ["active legal holds", counts.active_holds],
    ["requests about them", counts.requests],
  ];
  return (
    <div class="subject" data-testid="gdpr-subject" data-user={person.id} data-messages={counts.messages}>
      <div class="subject-name">
        <strong>{person.display_name ?? "(no name)"}</strong> <span class="mono">{person.external_id}</span>{" "}
        <span class="muted small">chatkeep user #{person.id}</span>
        {person.anonymized_at && <Badge tone="muted">anonymized</Badge>}
      </div>
      <div class="muted small">
        {[person.email, person.phone].filter(Boolean).join(" · ") || "no email or phone stored"} — matched by{" "}
        {matched_by.join(", ").replace(/_/g, " ")}
      </div>
      <table class="table compact">
        <tbody>
          {rows.map(([label, n]) => (
            <tr key={label}>
              <td>{label}</td>
              <td class="num">{fmtInt(n)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {blockers.length > 0 && (
        <div class="error-note" role="alert">
          Legal holds forbid erasing this person:{" "}
          {blockers.map((b) => `${b.hold !== null ? `hold #${b.hold} on ` : ""}${b.what} (${b.reason})`).join("; ")}. Release
          the hold on the Retention page first.
        </div>
      )}
    </div>
  );
}

/** Find the person, check the matches, then record the request. */
function NewRequest(props: { onRecorded: (r: api.GdprRequest) => void }) {
  const [text, setText] = useState("");
  const [found, setFound] = useState<api.Subject | null>(null);
  const [kind, setKind] = useState<"access" | "erasure">("access");
  const [received, setReceived] = useState("");
  const [notes, setNotes] = useState("");
  const [busy, setBusy] = useState<"find" | "record" | null>(null);
  const [error, setError] = useState<string | null>(null);

  const find = async (e?: Event) => {
    e?.preventDefault();
    setBusy("find");
    setError(null);
    setFound(null);
    try {
      setFound(await api.gdprFind(text));
    } catch (err) {
      setError(api.errorMessage(err));
    } finally {
      setBusy(null);
    }
  };
  const record = async () => {
    setBusy("record");
    setError(null);
    try {
      const request = await api.gdprRequestNew(kind, text, received.trim() || null, notes.trim() || null);
      toast({ kind: "success", text: `Recorded ${request.kind} request #${request.id}, due ${request.due_at.slice(0, 10)}.` });
      setFound(null);
      setText("");
      setNotes("");
      setReceived("");
      props.onRecorded(request);
    } catch (err) {
      setError(api.errorMessage(err));
    } finally {
      setBusy(null);
    }
  };

  return (
    <Card title="New request">
      <form class="inline-form wrap" onSubmit={find}>
        <Field label="Who" class="grow" hint="Their user id in the chat service, email address or phone number (or id:N for chatkeep's own id).">
          <input
            data-testid="gdpr-find-input"
            value={text}
            placeholder="u-1042, ana@example.org, +49 30 1234567"
            onInput={(e) => {
              setText(e.currentTarget.value);
              setFound(null);
            }}
          />
        </Field>
        <Button type="submit" busy={busy === "find"} disabled={!text.trim()} data-testid="gdpr-find">
          Find
        </Button>
      </form>
      <ErrorNote message={error} testid="gdpr-error" />
      {found && (
        <>
          <SubjectCard subject={found} />
          <div class="form-grid">
            <Field label="Kind">
              <select data-testid="gdpr-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as "access" | "erasure")}>
                <option value="access">access (a copy of their data)</option>
                <option value="erasure">erasure (delete or anonymize them)</option>
              </select>
            </Field>
            <Field label="Received" hint="YYYY-MM-DD; empty for today. The answer is due one month later.">
              <input value={received} placeholder="today" onInput={(e) => setReceived(e.currentTarget.value)} />
            </Field>
            <Field label="Notes" hint="How it arrived and how their identity was checked.">
              <input value={notes} onInput={(e) => setNotes(e.currentTarget.value)} />
            </Field>
          </div>
          <div class="form-actions">
            <Button variant="primary" busy={busy === "record"} onClick={record} data-testid="gdpr-record">
              Record request for {personName(found)}
            </Button>
          </div>
        </>
      )}
    </Card>
  );
}

/** Erasure, after the person, their counts and the strategy have been shown and their id typed. */
function EraseDialog(props: { request: api.GdprRequest; onClose: () => void; onDone: (r: api.ErasureReport) => void }) {
  const { request } = props;
  const subject = useLoad(() => api.gdprFind(`id:${request.subject_user_id ?? 0}`), [request.id]);
  const [strategy, setStrategy] = useState<"delete" | "anonymize">("delete");
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const s = subject.data;
  const ready = s !== undefined && s.blockers.length === 0 && typed.trim() === s.person.external_id;

  const erase = async () => {
    if (!s) return;
    setBusy(true);
    setError(null);
    try {
      props.onDone(await api.gdprErase({ request: request.id }, strategy, s.person.id));
    } catch (err) {
      setError(api.errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      title={`Erase: request #${request.id}`}
      onClose={() => !busy && props.onClose()}
      actions={
        <>
          <Button onClick={props.onClose} disabled={busy}>
            Cancel
          </Button>
          <Button variant="danger" busy={busy} disabled={!ready} onClick={erase} data-testid="gdpr-erase-confirm">
            Erase {s ? s.person.external_id : ""}
          </Button>
        </>
      }
    >
      <ErrorNote message={subject.error} />
      {!s && !subject.error && <Loading />}
      {s && (
        <>
          <SubjectCard subject={s} />
          <Field label="Strategy">
            <select data-testid="gdpr-strategy" value={strategy} onChange={(e) => setStrategy(e.currentTarget.value as "delete" | "anonymize")}>
              <option value="delete">delete: their messages and read receipts go; conversations left empty go too</option>
              <option value="anonymize">anonymize: their identity becomes a pseudonym; message bodies as gdpr.anonymize_bodies says</option>
            </select>
          </Field>
          <p>
            {strategy === "delete" ? (
              <>
                This <strong>deletes</strong> {fmtInt(s.counts.messages)} messages and {fmtInt(s.counts.message_reads)} read
                receipts of {personName(s)}, and their user row.
              </>
            ) : (
              <>
                This <strong>replaces</strong> the name, email and phone of {personName(s)} with a pseudonym; their{" "}
                {fmtInt(s.counts.messages)} messages stay under it.
              </>
            )}{" "}
            It happens in one transaction, cannot be undone, and is recorded in the erasure ledger so restores of older backups
            erase them again. Backups made before today still hold them until pruned.
          </p>
          <Field label={`Type ${s.person.external_id} to confirm`}>
            <input data-testid="gdpr-erase-typed" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} autocomplete="off" />
          </Field>
        </>
      )}
      <ErrorNote message={error} testid="gdpr-erase-error" />
    </Dialog>
  );
}

/** The proof an erasure left: what was there, what was done, and the queries that now return zero. */
function CertificateDialog(props: { certificate: api.Certificate; onClose: () => void }) {
  const c = props.certificate;
  const tz = useTimeZone();
  const zero = c.checks.every((k) => k.result === 0);
  return (
    <Dialog
      title={`Completion certificate: request #${c.request}`}
      onClose={props.onClose}
      actions={
        <Button variant="primary" onClick={props.onClose}>
          Close
        </Button>
      }
    >
      <div data-testid="gdpr-certificate" data-all-zero={String(zero)}>
        <p>
          <Badge tone={zero ? "ok" : "bad"}>{zero ? "no personal rows remain" : "rows remain"}</Badge> Erased by{" "}
          <strong>{c.strategy}</strong> at {fmtTime(c.erased_at, tz)}; erasure-ledger entry #{c.ledger_entry}
          {c.pseudonym && (
            <>
              ; pseudonym <span class="mono">{c.pseudonym}</span>
            </>
          )}
          {c.bodies && <>; message bodies {c.bodies}</>}.
        </p>
        <table class="table compact">
          <thead>
            <tr>
              <th>Check</th>
              <th class="num">Rows</th>
            </tr>
          </thead>
          <tbody>
            {c.checks.map((k) => (
              <tr key={k.what} title={k.query}>
                <td>{k.what}</td>
                <td class="num">
                  <Badge tone={k.result === 0 ? "ok" : "bad"}>{fmtInt(k.result)}</Badge>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p class="small" data-testid="gdpr-certificate-changed">
          <strong>Changed:</strong> {changes(c.rows).join(", ") || "nothing"}
          {c.scrubbed && <>; scrubbed from bodies: {changes(c.scrubbed).join(", ")}</>}.
        </p>
        <p class="small">
          <strong>Residue in the database file:</strong> {c.residue.secure_delete}
          {c.residue.wal_checkpoint && <> {c.residue.wal_checkpoint}</>}
        </p>
        {c.survives && <Survivors survives={c.survives} />}
        <p class="muted small">Hover a check to see its query. {c.note}</p>
      </div>
    </Dialog>
  );
}

/** What stays outside the live database after an erasure, so the certificate never claims more than it did. */
function Survivors(props: { survives: api.Survives }) {
  const s = props.survives;
  const tz = useTimeZone();
  return (
    <div class="small" data-testid="gdpr-certificate-survives">
      <p>
        <strong>Outside the live database:</strong>{" "}
        {s.backups.length === 0
          ? "no backups were made before the erasure."
          : `${fmtInt(s.backups.length)} ${s.backups.length === 1 ? "backup" : "backups"} made before it may hold this person; a restore erases them again (erasure ledger).`}
      </p>
      {s.backups.length > 0 && (
        <ul>
          {s.backups.map((b) => (
            <li key={b.id}>
              #{b.id} <span class="mono">{b.file}</span>: kept until about {b.kept_until} by the backup generations
            </li>
          ))}
        </ul>
      )}
      {s.exports.length > 0 && (
        <>
          <p>Files exported before it may hold their data; chatkeep cannot reach them:</p>
          <ul>
            {s.exports.map((e) => (
              <li key={`${e.at}${e.path}`}>
                {fmtTime(e.at, tz)} {e.what} <span class="mono">{e.path}</span>
              </li>
            ))}
            {s.more_exports > 0 && <li>and {fmtInt(s.more_exports)} older exports (see the audit log)</li>}
          </ul>
        </>
      )}
      <p>
        {s.mentions === 0
          ? "No other person's message quotes their email address or phone number."
          : s.mentions_scrubbed === s.mentions
            ? `${fmtInt(s.mentions)} messages of other people quoted their email address or phone number: replaced with [erased].`
            : `${fmtInt(s.mentions)} messages of other people quote their email address or phone number and were kept (gdpr.scrub_mentions replaces them).`}
      </p>
    </div>
  );
}

/** `{deleted: {messages: 3}, references_redacted: 1}` as ["3 messages deleted", "1 references redacted"]. */
function changes(rows: Record<string, unknown> | null | undefined, suffix = ""): string[] {
  return Object.entries(rows ?? {}).flatMap(([what, n]) => {
    const label = what.replace(/_/g, " ");
    if (typeof n === "number") return n === 0 ? [] : [`${fmtInt(n)} ${label}${suffix}`];
    if (n && typeof n === "object") return changes(n as Record<string, unknown>, ` ${label}`);
    return [];
  });
}

/** Extend (months and a reason) or reject (a reason): the person must be told why. */
function ReasonDialog(props: { request: api.GdprRequest; action: "extend" | "reject"; onClose: () => void }) {
  const { request, action } = props;
  const [months, setMonths] = useState(2);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const r =
        action === "extend"
          ? await api.gdprRequestExtend(request.id, months, reason)
          : await api.gdprRequestReject(request.id, reason);
      toast({ kind: "success", text: action === "extend" ? `Request #${r.id} is now due ${r.due_at.slice(0, 10)}.` : `Request #${r.id} rejected.` });
      refreshAll();
      props.onClose();
    } catch (err) {
      setError(api.errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={`${action === "extend" ? "Extend" : "Reject"} request #${request.id}`}
      onClose={() => !busy && props.onClose()}
      actions={
        <>
          <Button onClick={props.onClose} disabled={busy}>
            Cancel
          </Button>
          <Button
            variant={action === "reject" ? "danger" : "primary"}
            busy={busy}
            disabled={!reason.trim()}
            onClick={submit}
            data-testid="gdpr-reason-confirm"
          >
            {action === "extend" ? "Extend" : "Reject"}
          </Button>
        </>
      }
    >
      {action === "extend" && (
        <Field label="Further months" hint="The law allows at most two further months in all.">
          <select value={months} onChange={(e) => setMonths(Number(e.currentTarget.value))}>
            <option value={1}>1</option>
            <option value={2}>2</option>
          </select>
        </Field>
      )}
      <Field label="Reason" hint="The person must be told why.">
        <input data-testid="gdpr-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      <ErrorNote message={error} />
    </Dialog>
  );
}

type Open =
  | { kind: "erase"; request: api.GdprRequest }
  | { kind: "extend" | "reject"; request: api.GdprRequest }
  | { kind: "certificate"; certificate: api.Certificate };

export function GdprPage() {
  const tz = useTimeZone();
  const [all, setAll] = useState(false);
  const requests = useLoad(() => api.gdprRequests(all), [all]);
  const [open, setOpen] = useState<Open | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const todayDay = today(tz);

  const exportAccess = async (r: api.GdprRequest) => {
    setBusy(`export-${r.id}`);
    try {
      const target = { request: r.id };
      const name = await api.gdprExportFileName(target);
      const to = await api.pickSavePath(name);
      if (!to) return;
      const report = await attempt(() => api.gdprExport(target, to));
      if (report) {
        toast({
          kind: "success",
          testid: "gdpr-export-toast",
          text: `Request #${r.id} answered: ${fmtInt(report.messages)} messages in ${fmtInt(report.conversations)} conversations.`,
          detail: `${report.file} (SHA-256 ${report.sha256.slice(0, 16)}…)`,
          action: { label: "Show in folder", run: () => void attempt(() => api.showInFolder(report.file)) },
        });
        refreshAll();
      }
    } finally {
      setBusy(null);
    }
  };
  const start = async (r: api.GdprRequest) => {
    setBusy(`start-${r.id}`);
    if (await attempt(() => api.gdprRequestStart(r.id))) refreshAll();
    setBusy(null);
  };
  const certificate = async (r: api.GdprRequest) => {
    const shown = r.certificate ?? (await attempt(() => api.gdprRequestShow(r.id)))?.certificate;
    if (shown) setOpen({ kind: "certificate", certificate: shown });
  };

  return (
    <Page name="gdpr" title="GDPR requests">
      <p class="muted">
        Access and erasure requests, due one calendar month after receipt (gdpr.deadline_months). The daily gdpr job notifies
        requests that are due soon or overdue. The same steps are in the command line as <code>chatkeep gdpr</code>.
      </p>
      <NewRequest onRecorded={() => (all ? requests.reload() : refreshAll())} />
      <Card
        title="Requests"
        actions={
          <label class="check small">
            <input type="checkbox" data-testid="gdpr-all" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} /> Include done and rejected
          </label>
        }
      >
        <ErrorNote message={requests.error} />
        {!requests.data && !requests.error && <Loading />}
        {requests.data && requests.data.length === 0 && (
          <Empty title={all ? "No requests recorded" : "No open requests"}>
            Record one above: find the person, check what is stored about them, then record an access or erasure request.
          </Empty>
        )}
        {requests.data && requests.data.length > 0 && (
          <table class="table">
            <thead>
              <tr>
                <th>#</th>
                <th>Kind</th>
                <th>Subject</th>
                <th>Received</th>
                <th>Due</th>
                <th>Status</th>
                <th>Notes</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {requests.data.map((r) => {
                const d = deadline(r, todayDay, tz);
                const pending = r.status === "open" || r.status === "in_progress";
                return (
                  <tr key={r.id} data-testid="gdpr-row" data-id={r.id} data-status={r.status}>
                    <td>{r.id}</td>
                    <td>{r.kind}</td>
                    <td class="mono">{r.subject}</td>
                    <td>{fmtTime(r.received_at, tz).slice(0, 10)}</td>
                    <td>
                      <Badge tone={d.tone}>{d.text}</Badge>
                      {r.extended_reason && <div class="muted small">extended: {r.extended_reason}</div>}
                    </td>
                    <td>
                      <StatusBadge status={r.status} />
                      {r.completed_at && <div class="muted small">{fmtTime(r.completed_at, tz)}</div>}
                    </td>
                    <td class="small">
                      {r.rejected_reason ?? r.notes ?? ""}
                      {r.artifact_path && <div class="mono muted">{r.artifact_path}</div>}
                    </td>
                    <td class="row-actions">
                      {pending && r.status === "open" && (
                        <Button class="btn-small" busy={busy === `start-${r.id}`} onClick={() => start(r)}>
                          Start
                        </Button>
                      )}
                      {pending && r.kind === "access" && (
                        <Button class="btn-small" variant="primary" busy={busy === `export-${r.id}`} onClick={() => exportAccess(r)} data-testid="gdpr-export">
                          Export…
                        </Button>
                      )}
                      {pending && r.kind === "erasure" && (
                        <Button class="btn-small" variant="danger" onClick={() => setOpen({ kind: "erase", request: r })} data-testid="gdpr-erase">
                          Erase…
                        </Button>
                      )}
                      {pending && (
                        <>
                          <Button class="btn-small" onClick={() => setOpen({ kind: "extend", request: r })}>
                            Extend
                          </Button>
                          <Button class="btn-small" onClick={() => setOpen({ kind: "reject", request: r })}>
                            Reject
                          </Button>
                        </>
                      )}
                      {r.kind === "erasure" && r.status === "done" && (
                        <Button class="btn-small" onClick={() => certificate(r)} data-testid="gdpr-certificate-open">
                          Certificate
                        </Button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>
      {open?.kind === "erase" && (
        <EraseDialog
          request={open.request}
          onClose={() => setOpen(null)}
          onDone={(report) => {
            toast({ kind: "success", text: `Request #${report.request.id} done: ${report.certificate.strategy} completed.` });
            refreshAll();
            setOpen({ kind: "certificate", certificate: report.certificate });
          }}
        />
      )}
      {(open?.kind === "extend" || open?.kind === "reject") && (
        <ReasonDialog request={open.request} action={open.kind} onClose={() => setOpen(null)} />
      )}
      {open?.kind === "certificate" && <CertificateDialog certificate={open.certificate} onClose={() => setOpen(null)} />}
    </Page>
  );
}
