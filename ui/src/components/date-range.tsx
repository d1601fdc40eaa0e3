// A date range: two typed YYYY-MM-DD fields kept in step with a range calendar (react-day-picker).

import { useEffect, useState } from "preact/hooks";
import { DayPicker, type DateRange } from "react-day-picker";
import "react-day-picker/style.css";
import { dateToDay, dayToDate, isDay, type Day } from "../format";

export interface DateRangeProps {
  from: Day;
  to: Day;
  onChange: (from: Day, to: Day) => void;
  /** The calendar shows no day after this one (today). */
  latest?: Day;
  fromTestId?: string;
  toTestId?: string;
}

function DayInput(props: { label: string; value: Day; onValid: (day: Day) => void; testid?: string }) {
  const [text, setText] = useState(props.value);
  useEffect(() => setText(props.value), [props.value]);
  const valid = isDay(text);
  return (
    <label class="field field-day">
      <span class="field-label">{props.label}</span>
      <input
        type="text"
        placeholder="YYYY-MM-DD"
        spellcheck={false}
        autoComplete="off"
        value={text}
        data-testid={props.testid}
        aria-invalid={valid ? undefined : "true"}
        class={valid ? "" : "invalid"}
        onInput={(e) => {
          const value = e.currentTarget.value;
          setText(value);
          if (isDay(value)) props.onValid(value.trim());
        }}
        onChange={(e) => {
          const value = e.currentTarget.value.trim();
          if (isDay(value)) props.onValid(value);
        }}
      />
      {!valid && <span class="field-hint error-text">Type a day as YYYY-MM-DD; the range keeps {props.value}.</span>}
    </label>
  );
}

export function DateRangePicker(props: DateRangeProps) {
  const selected: DateRange = { from: dayToDate(props.from), to: dayToDate(props.to) };
  const [month, setMonth] = useState<Date>(() => {
    const to = dayToDate(props.to);
    return new Date(to.getFullYear(), to.getMonth() - 1, 1);
  });

  // Follow typed or quick-range changes so the chosen range is in view.
  useEffect(() => {
    const to = dayToDate(props.to);
    const from = dayToDate(props.from);
    const first = month;
    const last = new Date(month.getFullYear(), month.getMonth() + 2, 0);
    if (to < first || to > last || from > last) setMonth(new Date(to.getFullYear(), to.getMonth() - 1, 1));
  }, [props.from, props.to]);

  const onSelect = (range: DateRange | undefined, triggerDate: Date) => {
    if (range?.from && range.to) {
      props.onChange(dateToDay(range.from), dateToDay(range.to));
    } else if (range?.from) {
      props.onChange(dateToDay(range.from), dateToDay(range.from));
    } else {
      props.onChange(dateToDay(triggerDate), dateToDay(triggerDate));
    }
  };

  const setFrom = (day: Day) => props.onChange(day, day > props.to ? day : props.to);
  const setTo = (day: Day) => props.onChange(day < props.from ? day : props.from, day);

  return (
    <div class="date-range">
      <div class="date-range-inputs">
        <DayInput label="From" value={props.from} onValid={setFrom} testid={props.fromTestId} />
        <span class="date-range-dash">–</span>
        <DayInput label="To" value={props.to} onValid={setTo} testid={props.toTestId} />
      </div>
      <DayPicker
        mode="range"
        numberOfMonths={2}
        selected={selected}
        onSelect={onSelect}
        month={month}
        onMonthChange={setMonth}
        weekStartsOn={1}
        showOutsideDays={false}
        {...(props.latest ? { disabled: { after: dayToDate(props.latest) }, endMonth: dayToDate(props.latest) } : {})}
      />
    </div>
  );
}
