import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { Badge, Button, Card, Dialog, Empty, ErrorNote, Field, Loading, Page, ProgressBar, Stat } from "../components/ui";
import { fmtInt, fmtTime } from "../format";
import { attempt, refreshAll, toast, useLoad, useTimeZone } from "../state";

/** Rows shown from the preview's per-conversation list; the full list stays in the CLI. */
const CONVERSATION_ROWS = 25;

function PreviewCard(props: { preview: ReturnType<typeof useLoad<api.RetentionReport>> }) {
  const { data, error } = props.preview;
  const tz = useTimeZone();
  return (
    <Card title="Preview: what a run would do now" actions={data && <span class="muted small">as of {fmtTime(data.at, tz)}</span>}>
      <ErrorNote message={error} />
      {!data && !error && <Loading />}
      {data && (
        <>
          <div class="stats stats-5">
            <Stat label="Expire now" value={data.expired.messages} testid="preview-expire-messages" hint={`${fmtInt(data.expired.conversations)} conversations`} />
            <Stat label="Purge now" value={data.purged.messages} testid="preview-purge-messages" hint={`after the ${data.policy.grace_period_days}-day grace period`} />
            <Stat label="Expire in 7 days" value={data.upcoming.next_7_days} testid="preview-upcoming-7" />
            <Stat label="Expire in 30 days" value={data.upcoming.next_30_days} testid="preview-upcoming-30" />
            <Stat label="Held back" value={data.blocked.held_messages} testid="preview-held-messages" hint={`${fmtInt(data.blocked.held_conversations)} conversations under legal hold`} />
          </div>
          <p class="muted small">
            Also: {fmtInt(data.archived.inactive_conversations)} inactive conversations archived,{" "}
            {fmtInt(data.archived.bot_sessions_closed)} idle bot sessions closed.
            {data.mode === "report_only" && " Auto-delete is off: a run only reports."}
          </p>
          {data.problems.length > 0 && (
            <ul class="problems">
              {data.problems.map((p) => (
                <li key={p} class="warn-text">
                  {p}
                </li>
              ))}
            </ul>
          )}
          <h3>Blocked months</h3>
          {data.blocked.months.length === 0 ? (
            <p class="muted">No purge is blocked.</p>
          ) : (
            <table class="table" data-testid="preview-blocked">
              <thead>
                <tr>
                  <th>Month</th>
                  <th class="num">Messages</th>
                  <th class="num">Conversations</th>
                  <th>Why</th>
                </tr>
              </thead>
              <tbody>
                {data.blocked.months.map((m) => (
                  <tr key={m.month}>
                    <td>{m.month}</td>
                    <td class="num">{fmtInt(m.messages)}</td>
                    <td class="num">{fmtInt(m.conversations)}</td>
                    <td>{m.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div class="grid-2">
            <div>
              <h3>By month</h3>
              <div class="scroll-y">
                <table class="table compact">
                  <thead>
                    <tr>
                      <th>Month</th>
                      <th class="num">Expire</th>
                      <th class="num">Purge</th>
                      <th class="num">Blocked</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.by_month.map((m) => (
                      <tr key={m.month}>
                        <td>{m.month}</td>
                        <td class="num">{fmtInt(m.expire_messages)}</td>
                        <td class="num">{fmtInt(m.purge_messages)}</td>
                        <td class="num">{m.blocked_messages > 0 ? <Badge tone="warn">{fmtInt(m.blocked_messages)}</Badge> : "0"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </div>
            <div>
              <h3>
                Most affected conversations{" "}
                {data.by_conversation.length > CONVERSATION_ROWS && (
                  <span class="muted small">
                    ({CONVERSATION_ROWS} of {fmtInt(data.by_conversation.length)}; all with <code>chatkeep retention preview</code>)
                  </span>
                )}
              </h3>
              <div class="scroll-y">
                <table class="table compact">
                  <thead>
                    <tr>
                      <th>Conversation</th>
                      <th>Policy</th>
                      <th class="num">Expire</th>
                      <th class="num">Purge</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.by_conversation.slice(0, CONVERSATION_ROWS).map((c) => (
                      <tr key={c.conversation}>
                        <td>
                          <div class="mono small">{c.conversation}</div>
                          {c.title && <div class="muted small">{c.title}</div>}
                        </td>
                        <td>{c.policy}</td>
                        <td class="num">{fmtInt(c.expire_messages)}</td>
                        <td class="num">{fmtInt(c.purge_messages)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </div>
          </div>
        </>
      )}
    </Card>
  );
}

function RunCard(props: { onDone: () => void }) {
  const [running, setRunning] = useState(false);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [report, setReport] = useState<api.RetentionReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState(false);

  useEffect(() => {
    const unlisten = api.onProgress((p) => {
      if (p.operation === "retention") setProgress({ done: p.done, total: p.total });
    });
    return () => void unlisten.then((f) => f());
  }, []);

  const run = async () => {
    setConfirm(false);
    setRunning(true);
    setError(null);
    setReport(null);
    setProgress({ done: 0, total: 0 });
    try {
      const r = await api.retentionRun();
      setReport(r);
      toast({
        kind: r.outcome === "failed" ? "error" : r.outcome === "cancelled" ? "info" : "success",
        text: `Retention run ${r.outcome}: ${fmtInt(r.expired.messages)} messages expired, ${fmtInt(r.purged.messages)} purged.`,
      });
      props.onDone();
    } catch (e) {
      setError(api.errorMessage(e));
    } finally {
      setRunning(false);
      setProgress(null);
    }
  };

  return (
    <Card title="Run retention now">
      <p class="muted">
        Expires what outlived its policy and purges what has been expired for longer than the grace period, in short
        batches. Held conversations are skipped; months without a verified backup are not purged. Cancel stops between
        batches, and the next run carries on.
      </p>
      <div class="form-actions">
        <Button variant="danger" data-testid="retention-run" busy={running} onClick={() => setConfirm(true)}>
          Run now
        </Button>
        {running && (
          <Button data-testid="retention-cancel" onClick={() => void attempt(() => api.cancel("retention"))}>
            Cancel
          </Button>
        )}
      </div>
      {running && progress && <ProgressBar testid="retention-progress" done={progress.done} total={progress.total} label="Working" />}
      <ErrorNote message={error} />
      {report && (
        <div class="result" data-testid="retention-result">
          Run {report.outcome}: {fmtInt(report.expired.messages)} messages and {fmtInt(report.expired.conversations)} conversations
          expired; {fmtInt(report.purged.messages)} messages and {fmtInt(report.purged.conversations)} conversations purged
          {report.blocked.months.length > 0 && <>; purge blocked for {report.blocked.months.map((m) => m.month).join(", ")}</>}.
          {report.problems.map((p) => (
            <div key={p} class="warn-text">
              {p}
            </div>
          ))}
        </div>
      )}
      {confirm && (
        <Dialog
          title="Run retention now?"
          onClose={() => setConfirm(false)}
          actions={
            <>
              <Button onClick={() => setConfirm(false)}>Cancel</Button>
              <Button variant="danger" data-testid="retention-run-confirm" onClick={run}>
                Run retention
              </Button>
            </>
          }
        >
          <p>
            This changes the live database: messages past their policy are marked expired (restorable during the grace
            period) and messages expired longer than the grace period are deleted for good. The preview above shows the
            numbers.
          </p>
        </Dialog>
      )}
    </Card>
  );
}

function PoliciesCard(props: { report: api.RetentionReport | undefined; onChanged: () => void }) {
  const groups = useLoad(api.policiesList);
  const [conversation, setConversation] = useState("");
  const [policy, setPolicy] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.policySet(conversation.trim(), policy.trim() || "default");
      toast({ kind: "success", text: `Policy of ${conversation.trim()} set to ${policy.trim() || "default"}.` });
      setConversation("");
      setPolicy("");
      groups.reload();
      props.onChanged();
    } catch (err) {
      setError(api.errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const defaultDays = props.report?.policy.default_days;
  return (
    <Card title="Policies">
      {props.report && (
        <p>
          Default: keep messages <strong>{defaultDays} days</strong>, then a grace period of{" "}
          <strong>{props.report.policy.grace_period_days} days</strong> before they are purged
          {props.report.policy.require_verified_backup ? ", and only once their month has a verified backup" : ""}. Change
          the default in <a href="#/settings">Settings</a>.
        </p>
      )}
      <ErrorNote message={groups.error} />
      {groups.data && (
        <table class="table compact">
          <thead>
            <tr>
              <th>Policy</th>
              <th class="num">Conversations</th>
            </tr>
          </thead>
          <tbody>
            {groups.data.map((g) => (
              <tr key={g.policy ?? "(default)"}>
                <td>{g.policy ?? <span class="muted">default{defaultDays !== undefined ? ` (${defaultDays}d)` : ""}</span>}</td>
                <td class="num">{fmtInt(g.conversations)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="inline-form wrap" onSubmit={save}>
        <Field label="Conversation id">
          <input type="text" data-testid="policy-conversation" value={conversation} required onInput={(e) => setConversation(e.currentTarget.value)} />
        </Field>
        <Field label="Policy" hint="7d, 12h, instant, forever, or default">
          <input type="text" data-testid="policy-value" value={policy} placeholder="default" onInput={(e) => setPolicy(e.currentTarget.value)} />
        </Field>
        <Button type="submit" data-testid="policy-save" busy={busy} disabled={!conversation.trim()}>
          Set policy
        </Button>
      </form>
      <ErrorNote message={error} testid="policy-error" />
    </Card>
  );
}

function RulesCard() {
  const rules = useLoad(api.rulesList);
  return (
    <Card title="Table rules">
      <ErrorNote message={rules.error} />
      {rules.data && rules.data.length === 0 && (
        <Empty title="No table rules">
          Rules delete rows of your own tables by age, e.g.{" "}
          <code>chatkeep retention rule add --table app_sessions --timestamp-column created_at --days 30 --strategy hard</code>{" "}
          or <code>[[retention.rules]]</code> in chatkeep.toml.
        </Empty>
      )}
      {rules.data && rules.data.length > 0 && (
        <table class="table">
          <thead>
            <tr>
              <th>Table</th>
              <th>Timestamp column</th>
              <th class="num">Days</th>
              <th>Strategy</th>
              <th>GDPR</th>
              <th class="num">Rows due</th>
            </tr>
          </thead>
          <tbody>
            {rules.data.map((r) => (
              <tr key={`${r.table}.${r.timestamp_column}`}>
                <td class="mono">{r.table}</td>
                <td class="mono">{r.timestamp_column}</td>
                <td class="num">{r.days}</td>
                <td>{r.strategy}</td>
                <td>{r.gdpr_sensitive ? "sensitive" : ""}</td>
                <td class="num">{fmtInt(r.rows)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function HoldsCard(props: { onChanged: () => void }) {
  const tz = useTimeZone();
  const [all, setAll] = useState(false);
  const holds = useLoad(() => api.holdsList(all), [all]);
  const [targetKind, setTargetKind] = useState<"conversation" | "user">("conversation");
  const [target, setTarget] = useState("");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [releasing, setReleasing] = useState<api.Hold | null>(null);
  const [releaseReason, setReleaseReason] = useState("");

  const add = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const id = target.trim();
      await api.holdAdd(targetKind === "conversation" ? id : null, targetKind === "user" ? id : null, reason.trim());
      toast({ kind: "success", text: `Legal hold placed on ${targetKind} ${id}.` });
      setTarget("");
      setReason("");
      holds.reload();
      props.onChanged();
    } catch (err) {
      setError(api.errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const release = async () => {
    const hold = releasing;
    if (!hold) return;
    const done = await attempt(() => api.holdRelease(hold.id, releaseReason.trim()));
    if (done !== undefined) {
      toast({ kind: "success", text: `Hold #${hold.id} released.` });
      setReleasing(null);
      setReleaseReason("");
      holds.reload();
      props.onChanged();
    }
  };

  return (
    <Card
      title="Legal holds"
      actions={
        <label class="check small">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} /> Show released
        </label>
      }
    >
      <p class="muted">A held conversation (or every conversation of a held user) is never expired or purged until the hold is released.</p>
      <ErrorNote message={holds.error} />
      {holds.data && holds.data.length === 0 && <p class="muted">No {all ? "" : "active "}holds.</p>}
      {holds.data && holds.data.length > 0 && (
        <table class="table">
          <thead>
            <tr>
              <th>#</th>
              <th>On</th>
              <th>Reason</th>
              <th>Placed</th>
              <th>Released</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {holds.data.map((h) => (
              <tr key={h.id} data-testid="hold-row" data-id={h.id}>
                <td>{h.id}</td>
                <td>
                  {h.target.kind} <span class="mono">{h.target.id}</span>
                </td>
                <td>{h.reason}</td>
                <td>
                  {fmtTime(h.created_at, tz)} <span class="muted small">by {h.placed_by}</span>
                </td>
                <td>{h.released_at ? `${fmtTime(h.released_at, tz)}${h.release_reason ? ` (${h.release_reason})` : ""}` : <Badge tone="warn">active</Badge>}</td>
                <td>
                  {!h.released_at && (
                    <Button class="btn-small" data-testid="hold-release" onClick={() => setReleasing(h)}>
                      Release…
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="inline-form wrap" onSubmit={add}>
        <Field label="Hold on">
          <select value={targetKind} data-testid="hold-kind" onChange={(e) => setTargetKind(e.currentTarget.value === "user" ? "user" : "conversation")}>
            <option value="conversation">Conversation</option>
            <option value="user">User (all their conversations)</option>
          </select>
        </Field>
        <Field label={targetKind === "user" ? "User id" : "Conversation id"}>
          <input type="text" data-testid="hold-target" value={target} required onInput={(e) => setTarget(e.currentTarget.value)} />
        </Field>
        <Field label="Reason" class="grow">
          <input type="text" data-testid="hold-reason" value={reason} required placeholder="litigation hold, case 2026-114" onInput={(e) => setReason(e.currentTarget.value)} />
        </Field>
        <Button type="submit" data-testid="hold-add" busy={busy} disabled={!target.trim() || !reason.trim()}>
          Place hold
        </Button>
      </form>
      <ErrorNote message={error} testid="hold-error" />
      {releasing && (
        <Dialog
          title={`Release hold #${releasing.id}`}
          onClose={() => setReleasing(null)}
          actions={
            <>
              <Button onClick={() => setReleasing(null)}>Cancel</Button>
              <Button variant="primary" data-testid="hold-release-confirm" onClick={release}>
                Release
              </Button>
            </>
          }
        >
          <p>
            Once released, {releasing.target.kind} <span class="mono">{releasing.target.id}</span> follows its retention
            policy again; what is past it expires at the next run.
          </p>
          <Field label="Why (kept in the audit log)">
            <input type="text" data-testid="hold-release-reason" value={releaseReason} placeholder="case closed" onInput={(e) => setReleaseReason(e.currentTarget.value)} />
          </Field>
        </Dialog>
      )}
    </Card>
  );
}

export function RetentionPage() {
  const preview = useLoad(api.retentionPreview);
  const changed = () => refreshAll();
  return (
    <Page name="retention" title="Retention">
      <PreviewCard preview={preview} />
      <RunCard onDone={changed} />
      <div class="grid-2">
        <PoliciesCard report={preview.data} onChanged={preview.reload} />
        <RulesCard />
      </div>
      <HoldsCard onChanged={preview.reload} />
    </Page>
  );
}
