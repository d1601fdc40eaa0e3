import { useState } from "preact/hooks";
import * as api from "../api";
import { Badge, Button, Card, Empty, ErrorNote, Loading, Page, Stat, StatusBadge } from "../components/ui";
import { MonthChart } from "../components/month-chart";
import { fmtAge, fmtBytes, fmtInt, fmtTime } from "../format";
import { refreshAll, setAppInfo, toast, useAppInfo, useLoad, useTimeZone } from "../state";

function FirstRun() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    setBusy(true);
    setError(null);
    try {
      const report = await api.loadDemo();
      toast({
        kind: "success",
        text: `Demo data loaded: ${fmtInt(report.conversations)} conversations, ${fmtInt(report.messages)} messages.`,
      });
      setAppInfo(await api.appInfo());
      refreshAll();
    } catch (e) {
      setError(api.errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card class="first-run">
      <Empty title="No chat data yet">
        <p>
          chatkeep is looking at an empty database. Point it at your chat service's database in{" "}
          <a href="#/settings">Settings</a> (<code>database_url</code>), import a JSONL file with{" "}
          <code>chatkeep import</code>, or load a demo set of 2,000 conversations to see how everything works.
        </p>
        <Button variant="primary" data-testid="load-demo" busy={busy} onClick={load}>
          {busy ? "Loading demo data…" : "Load demo data"}
        </Button>
        <ErrorNote message={error} />
      </Empty>
    </Card>
  );
}

function DatabaseCard(props: { info: api.AppInfo; stats: api.StorageStats | undefined }) {
  return (
    <Card title="Database">
      <dl class="facts">
        <dt>Engine</dt>
        <dd>{props.info.engine}</dd>
        <dt>Location</dt>
        <dd class="mono wrap">{props.info.database}</dd>
        <dt>Size</dt>
        <dd>
          {props.stats ? fmtBytes(props.stats.database.bytes) : "…"}
          {props.stats && props.stats.database.wal_bytes > 0 && (
            <span class="muted"> + {fmtBytes(props.stats.database.wal_bytes)} WAL</span>
          )}
        </dd>
        <dt>Time zone</dt>
        <dd>{props.info.timezone}</dd>
      </dl>
    </Card>
  );
}

function BackupCard() {
  const tz = useTimeZone();
  const list = useLoad(api.backupsList);
  const backups = list.data?.backups ?? [];
  const lastVerified = backups.find((b) => b.status === "verified");
  const failed = backups.filter((b) => b.status === "failed" || b.file_present === false);
  const latest = backups[0];
  const ageDays = lastVerified?.verified_at ? (Date.now() - new Date(lastVerified.verified_at).getTime()) / 86400000 : null;
  return (
    <Card title="Backups" actions={<a href="#/backups">All backups →</a>}>
      {list.error && <ErrorNote message={list.error} />}
      {!list.data && !list.error && <Loading />}
      {list.data && backups.length === 0 && (
        <Empty title="No backups yet">
          Make the first one on the <a href="#/backups">Backups</a> page; retention waits for a verified backup.
        </Empty>
      )}
      {list.data && backups.length > 0 && (
        <dl class="facts">
          <dt>Last verified</dt>
          <dd data-testid="last-verified-backup">
            {lastVerified ? (
              <>
                #{lastVerified.id} {lastVerified.kind}, verified {fmtTime(lastVerified.verified_at, tz)}{" "}
                <Badge tone={ageDays !== null && ageDays > 2 ? "warn" : "ok"}>{fmtAge(lastVerified.verified_at)}</Badge>
              </>
            ) : (
              <Badge tone="bad">none verified</Badge>
            )}
          </dd>
          <dt>Newest</dt>
          <dd>
            {latest && (
              <>
                #{latest.id} {latest.kind} {fmtTime(latest.created_at, tz)} <StatusBadge status={latest.status} />
              </>
            )}
          </dd>
          <dt>In catalog</dt>
          <dd>
            {backups.length} backups
            {failed.length > 0 && (
              <>
                {" "}
                <Badge tone="bad">{failed.length} failed or missing</Badge>
              </>
            )}
          </dd>
          <dt>Folder</dt>
          <dd class="mono wrap">{list.data.directory}</dd>
        </dl>
      )}
    </Card>
  );
}

function UpcomingCard() {
  const preview = useLoad(api.retentionPreview);
  const upcoming = preview.data?.upcoming;
  const days = (upcoming?.days ?? []).filter((d) => d.messages > 0);
  return (
    <Card title="Upcoming deletions" actions={<a href="#/retention">Retention →</a>}>
      {preview.error && <ErrorNote message={preview.error} />}
      {!preview.data && !preview.error && <Loading />}
      {preview.data && upcoming && (
        <>
          <div class="stats stats-3">
            <Stat label="Expire now" value={preview.data.expired.messages} hint="messages past their policy" />
            <Stat label="Next 7 days" value={upcoming.next_7_days} hint="messages" />
            <Stat label="Next 30 days" value={upcoming.next_30_days} hint="messages" />
          </div>
          {days.length === 0 ? (
            <p class="muted">Nothing reaches the end of its retention in the next 30 days.</p>
          ) : (
            <div class="scroll-y short">
              <table class="table compact">
                <thead>
                  <tr>
                    <th>Expires on</th>
                    <th class="num">Messages</th>
                    <th>Purged from</th>
                  </tr>
                </thead>
                <tbody>
                  {days.map((d) => (
                    <tr key={d.date}>
                      <td>{d.date}</td>
                      <td class="num">{fmtInt(d.messages)}</td>
                      <td class="muted">{d.purged_from}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </Card>
  );
}

function JobsCard() {
  const tz = useTimeZone();
  const jobs = useLoad(api.jobsList);
  const history = useLoad(() => api.jobsHistory(null, 8));
  const troubled = (jobs.data?.jobs ?? []).filter((j) => j.failing || j.missed_last_7_days > 0);
  return (
    <Card title="Jobs" actions={<a href="#/jobs">Jobs →</a>}>
      <ErrorNote message={jobs.error ?? history.error} />
      {jobs.data?.schedule_paused && (
        <p>
          <Badge tone="warn">schedule paused</Badge> No job runs on schedule until it is resumed.
        </p>
      )}
      {troubled.length > 0 && (
        <ul class="problems">
          {troubled.map((j) => (
            <li key={j.job}>
              <strong>{j.job}</strong>{" "}
              {j.failing && (
                <>
                  <Badge tone="bad">failing</Badge> <span class="muted">{j.failing.error ?? ""}</span>
                </>
              )}
              {j.missed_last_7_days > 0 && (
                <>
                  {" "}
                  <Badge tone="warn">missed {j.missed_last_7_days}× in 7 days</Badge>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      {!history.data && !history.error && <Loading />}
      {history.data && history.data.length === 0 && (
        <p class="muted">No job has run yet. The schedule runs them while the app is open, or run one on the Jobs page.</p>
      )}
      {history.data && history.data.length > 0 && (
        <table class="table compact">
          <thead>
            <tr>
              <th>Job</th>
              <th>Started</th>
              <th>Status</th>
              <th>Trigger</th>
            </tr>
          </thead>
          <tbody>
            {history.data.map((r) => (
              <tr key={r.id}>
                <td>{r.job}</td>
                <td>{fmtTime(r.started_at, tz)}</td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td class="muted">{r.trigger}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

export function OverviewPage() {
  const info = useAppInfo();
  const stats = useLoad(api.stats);
  const s = stats.data;

  return (
    <Page name="overview" title="Overview">
      {!info && <Loading />}
      {info && !info.hasData && <FirstRun />}
      <ErrorNote message={stats.error} />
      <div class="stats stats-5">
        <Stat label="Conversations" value={s?.conversations.total} testid="stat-conversations" hint={s && `${fmtInt(s.conversations.active)} active · ${fmtInt(s.conversations.old)} old`} />
        <Stat label="Messages" value={s?.messages.total} testid="stat-messages" />
        <Stat label="Messages, last 30 days" value={s?.messages.last_30_days} testid="stat-messages-30d" />
        <Stat label="Tokens used" value={s?.messages.tokens_used} testid="stat-tokens" />
        <Stat label="Database size" value={s?.database.bytes} text={s ? fmtBytes(s.database.bytes) : "…"} testid="stat-database-bytes" />
      </div>
      <Card title="Messages per month">
        {!s && !stats.error && <Loading />}
        {s && s.per_month.length === 0 && <Empty title="No messages yet" />}
        {s && s.per_month.length > 0 && <MonthChart months={s.per_month} />}
      </Card>
      <div class="grid-2">
        {info && <DatabaseCard info={info} stats={s} />}
        <BackupCard />
        <UpcomingCard />
        <JobsCard />
      </div>
    </Page>
  );
}
