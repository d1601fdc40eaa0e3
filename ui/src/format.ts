// How numbers, sizes and times read on the dashboard.

const integer = new Intl.NumberFormat("en-US");

export function fmtInt(n: number | null | undefined): string {
  return n === null || n === undefined ? "–" : integer.format(n);
}

export function fmtBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** `2026-11-23T09:46:11.345Z` as `2026-11-23 10:46` in the given zone (the app's). */
export function fmtTime(iso: string | null | undefined, timeZone?: string): string {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const parts = partsIn(date, timeZone);
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

/** How long ago, in the largest unit that fits: `5 min ago`, `3 h ago`, `12 days ago`. */
export function fmtAge(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return "never";
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((now.getTime() - then) / 1000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  let text: string;
  if (s < 60) text = "less than a minute";
  else if (s < 3600) text = `${Math.floor(s / 60)} min`;
  else if (s < 86400 * 2) text = `${Math.floor(s / 3600)} h`;
  else text = `${Math.floor(s / 86400)} days`;
  return future ? `in ${text}` : `${text} ago`;
}

interface DateParts {
  year: string;
  month: string;
  day: string;
  hour: string;
  minute: string;
}

function partsIn(date: Date, timeZone?: string): DateParts {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
  } catch {
    format = new Intl.DateTimeFormat("en-CA", {
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
  }
  const out: DateParts = { year: "", month: "", day: "", hour: "", minute: "" };
  for (const part of format.formatToParts(date)) {
    if (part.type in out) out[part.type as keyof DateParts] = part.value;
  }
  return out;
}

// ---------------------------------------------------------------- calendar days

/** A calendar day as `YYYY-MM-DD`. */
export type Day = string;

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether `text` is a real calendar day written `YYYY-MM-DD`. */
export function isDay(text: string): boolean {
  const m = DAY_RE.exec(text.trim());
  if (!m) return false;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return date.getUTCFullYear() === Number(m[1]) && date.getUTCMonth() === Number(m[2]) - 1 && date.getUTCDate() === Number(m[3]);
}

/** Today in the given time zone. */
export function today(timeZone?: string): Day {
  const p = partsIn(new Date(), timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}

/** A day as a local-midnight Date (what the date picker works with). */
export function dayToDate(day: Day): Date {
  const [y, m, d] = day.split("-").map(Number) as [number, number, number];
  return new Date(y, m - 1, d);
}

export function dateToDay(date: Date): Day {
  const y = String(date.getFullYear()).padStart(4, "0");
  const m = String(date.getMonth() + 1).padStart(2, "0");
  const d = String(date.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

export function addDays(day: Day, n: number): Day {
  const date = dayToDate(day);
  date.setDate(date.getDate() + n);
  return dateToDay(date);
}

/** The quick ranges of the export form, from `todayDay` in the app's zone. */
export function quickRange(kind: "last-month" | "last-30-days" | "this-year", todayDay: Day): [Day, Day] {
  const [y, m] = todayDay.split("-").map(Number) as [number, number];
  switch (kind) {
    case "last-month": {
      const first = new Date(y, m - 2, 1);
      const last = new Date(y, m - 1, 0);
      return [dateToDay(first), dateToDay(last)];
    }
    case "last-30-days":
      return [addDays(todayDay, -29), todayDay];
    case "this-year":
      return [`${y}-01-01`, todayDay];
  }
}

/** The last `count` months before the current one, newest first, as `YYYY-MM`. */
export function recentMonths(todayDay: Day, count: number): string[] {
  const [y, m] = todayDay.split("-").map(Number) as [number, number];
  const months: string[] = [];
  for (let i = 1; i <= count; i += 1) {
    const date = new Date(y, m - 1 - i, 1);
    months.push(`${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}`);
  }
  return months;
}

/** Days from `todayDay` to `iso`'s day (negative when past). */
export function daysUntil(iso: string, todayDay: Day, timeZone?: string): number {
  const p = partsIn(new Date(iso), timeZone);
  const target = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day));
  const [y, m, d] = todayDay.split("-").map(Number) as [number, number, number];
  return Math.round((target - Date.UTC(y, m - 1, d)) / 86400000);
}

/** A JSON object stored as text (summaries, details, counts), or null when it is not one. */
export function parseObject(text: string | null | undefined): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** `{"a":1,"b":"x"}` as `a 1 · b x`. */
export function describeObject(text: string | null | undefined): string {
  const object = parseObject(text);
  if (!object) return text ?? "";
  return Object.entries(object)
    .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(" · ");
}
