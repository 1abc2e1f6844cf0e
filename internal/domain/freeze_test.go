package domain

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones of the cases, wherever the tests run

	"pgregory.net/rapid"
)

// The cases here are about the daylight-saving changes of the zone
// database, which happen on fixed calendar days: the times are built from
// those days, and no clock compares them with anything (Window and Next
// take the instant they answer for).

// utc is a calendar time in UTC.
func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC) // calendar-free: see above
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := LoadTimeZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func recurring(start, end, tz string) *Freeze {
	return &Freeze{ID: "fz_1", Name: "Freeze", Start: start, End: end, TimeZone: tz, Scheduled: FreezeHold}
}

func oneOff(from, to time.Time) *Freeze {
	return &Freeze{ID: "fz_1", Name: "Freeze", From: &from, To: &to, Scheduled: FreezeHold}
}

func TestWallTime(t *testing.T) {
	berlin, ny := zone(t, "Europe/Berlin"), zone(t, "America/New_York")
	cases := []struct {
		name      string
		y         int
		m         time.Month
		d, h, min int
		loc       *time.Location
		want      time.Time
	}{
		{"Berlin, before the spring gap", 2026, 3, 29, 1, 59, berlin, utc(2026, 3, 29, 0, 59)},
		{"Berlin, the gap's first minute is its end", 2026, 3, 29, 2, 0, berlin, utc(2026, 3, 29, 1, 0)},
		{"Berlin, 02:30 in the gap is 03:00 CEST", 2026, 3, 29, 2, 30, berlin, utc(2026, 3, 29, 1, 0)},
		{"Berlin, 03:00 CEST", 2026, 3, 29, 3, 0, berlin, utc(2026, 3, 29, 1, 0)},
		{"Berlin, 03:01 CEST", 2026, 3, 29, 3, 1, berlin, utc(2026, 3, 29, 1, 1)},
		{"Berlin, before the autumn fold", 2026, 10, 25, 1, 59, berlin, utc(2026, 10, 24, 23, 59)},
		{"Berlin, 02:00 twice: the first (CEST)", 2026, 10, 25, 2, 0, berlin, utc(2026, 10, 25, 0, 0)},
		{"Berlin, 02:30 twice: the first (CEST)", 2026, 10, 25, 2, 30, berlin, utc(2026, 10, 25, 0, 30)},
		{"Berlin, 03:00 once (CET)", 2026, 10, 25, 3, 0, berlin, utc(2026, 10, 25, 2, 0)},
		{"New York, 02:30 in the spring gap is 03:00 EDT", 2026, 3, 8, 2, 30, ny, utc(2026, 3, 8, 7, 0)},
		{"New York, 01:30 twice: the first (EDT)", 2026, 11, 1, 1, 30, ny, utc(2026, 11, 1, 5, 30)},
		{"New York, 02:00 once (EST)", 2026, 11, 1, 2, 0, ny, utc(2026, 11, 1, 7, 0)},
		{"UTC", 2026, 3, 29, 2, 30, time.UTC, utc(2026, 3, 29, 2, 30)},
		{"Kolkata, never changes", 2026, 3, 29, 2, 30, zone(t, "Asia/Kolkata"), utc(2026, 3, 28, 21, 0)},
	}
	for _, c := range cases {
		got := wallTime(c.y, c.m, c.d, c.h, c.min, c.loc)
		if !got.Equal(c.want) {
			t.Errorf("%s: wallTime = %s, want %s", c.name, got.UTC(), c.want)
		}
		if got.Location() != c.loc {
			t.Errorf("%s: in %s, want %s", c.name, got.Location(), c.loc)
		}
	}
	// Away from the changes it is time.Date.
	for h := range 24 {
		want := time.Date(2026, 7, 1, h, 17, 0, 0, berlin) // calendar-free: a summer day
		if got := wallTime(2026, 7, 1, h, 17, berlin); !got.Equal(want) {
			t.Errorf("%02d:17 on a summer day: %s, want %s", h, got, want)
		}
	}
}

type window struct{ start, end time.Time }

func (w window) String() string {
	return fmt.Sprintf("%s → %s (%s)", w.start.UTC().Format(time.RFC3339), w.end.UTC().Format(time.RFC3339), w.end.Sub(w.start))
}

func wantWindow(t *testing.T, what string, f *Freeze, at time.Time, want window) {
	t.Helper()
	s, e, ok := f.Window(at)
	if !ok || !s.Equal(want.start) || !e.Equal(want.end) {
		t.Errorf("%s: Window(%s) = %v, %v, want %v", what, at.UTC().Format(time.RFC3339), window{s, e}, ok, want)
	}
}

func wantInactive(t *testing.T, what string, f *Freeze, at time.Time) {
	t.Helper()
	if s, e, ok := f.Window(at); ok {
		t.Errorf("%s: Window(%s) = %v, want none", what, at.UTC().Format(time.RFC3339), window{s, e})
	}
}

func TestWeekendFreezeAcrossDaylightSaving(t *testing.T) {
	f := recurring("0 16 * * fri", "0 8 * * mon", "Europe/Berlin")
	if err := f.Validate(utc(2026, 1, 1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	spring := window{utc(2026, 3, 27, 15, 0), utc(2026, 3, 30, 6, 0)}
	autumn := window{utc(2026, 10, 23, 14, 0), utc(2026, 10, 26, 7, 0)}
	if d := spring.end.Sub(spring.start); d != 63*time.Hour {
		t.Fatalf("spring window %s", d)
	}
	if d := autumn.end.Sub(autumn.start); d != 65*time.Hour {
		t.Fatalf("autumn window %s", d)
	}
	for _, at := range []time.Time{spring.start, utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 1, 30), spring.end.Add(-time.Nanosecond)} {
		wantWindow(t, "spring", f, at, spring)
	}
	for _, at := range []time.Time{autumn.start, utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30), autumn.end.Add(-time.Minute)} {
		wantWindow(t, "autumn", f, at, autumn)
	}
	wantInactive(t, "Friday before", f, spring.start.Add(-time.Nanosecond))
	wantInactive(t, "Monday after", f, spring.end)
	wantInactive(t, "midweek", f, utc(2026, 10, 21, 12, 0))

	if s, e, ok := f.Next(utc(2026, 3, 25, 0, 0)); !ok || !s.Equal(spring.start) || !e.Equal(spring.end) {
		t.Errorf("Next before the spring window: %v %v", window{s, e}, ok)
	}
	if s, _, ok := f.Next(spring.start); !ok || !s.Equal(utc(2026, 4, 3, 14, 0)) {
		t.Errorf("Next from a start is the week after (CEST): %s %v", s.UTC(), ok)
	}
	if s, e, ok := f.Next(utc(2026, 10, 22, 0, 0)); !ok || !s.Equal(autumn.start) || !e.Equal(autumn.end) {
		t.Errorf("Next before the autumn window: %v %v", window{s, e}, ok)
	}
	if s, _, _ := f.Window(utc(2026, 3, 28, 12, 0)); s.Location().String() != "Europe/Berlin" {
		t.Errorf("window times in %s, want the freeze's zone", s.Location())
	}
}

func TestNewYorkWeekendAcrossDaylightSaving(t *testing.T) {
	f := recurring("0 17 * * fri", "0 9 * * mon", "America/New_York")
	// Clocks go forward on Sunday 8 March 2026 and back on Sunday 1 November.
	wantWindow(t, "spring", f, utc(2026, 3, 8, 12, 0), window{utc(2026, 3, 6, 22, 0), utc(2026, 3, 9, 13, 0)})
	wantWindow(t, "autumn", f, utc(2026, 11, 1, 12, 0), window{utc(2026, 10, 30, 21, 0), utc(2026, 11, 2, 14, 0)})
}

func TestDailyWindowOnTheChangeDays(t *testing.T) {
	f := recurring("30 2 * * *", "30 3 * * *", "Europe/Berlin")
	if err := f.Validate(utc(2026, 1, 1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	// 02:30 does not exist on 29 March: the window starts at 03:00 CEST.
	gap := window{utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30)}
	wantWindow(t, "29 March", f, utc(2026, 3, 29, 1, 15), gap)
	wantInactive(t, "29 March, before", f, utc(2026, 3, 29, 0, 59))
	wantInactive(t, "29 March, after", f, gap.end)
	if s, e, ok := f.Next(utc(2026, 3, 28, 12, 0)); !ok || !s.Equal(gap.start) || !e.Equal(gap.end) {
		t.Errorf("Next: %v %v, want %v", window{s, e}, ok, gap)
	}
	// 02:30 exists twice on 25 October: the window starts at the first
	// (CEST) and ends at 03:30 CET, two hours later.
	fold := window{utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 30)}
	wantWindow(t, "25 October, first 02:30", f, fold.start, fold)
	wantWindow(t, "25 October, second 02:45", f, utc(2026, 10, 25, 1, 45), fold)
	wantInactive(t, "25 October, before", f, utc(2026, 10, 25, 0, 29))
	if s, _, ok := f.Next(utc(2026, 10, 24, 12, 0)); !ok || !s.Equal(fold.start) {
		t.Errorf("Next: %s %v, want %s", s.UTC(), ok, fold.start)
	}
	// The days around are an hour long.
	wantWindow(t, "28 March", f, utc(2026, 3, 28, 2, 0), window{utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 2, 30)})
	wantWindow(t, "26 October", f, utc(2026, 10, 26, 2, 0), window{utc(2026, 10, 26, 1, 30), utc(2026, 10, 26, 2, 30)})
}

func TestOneOffWindow(t *testing.T) {
	from, to := utc(2026, 12, 20, 0, 0), utc(2027, 1, 3, 0, 0)
	f := oneOff(from, to)
	if err := f.Validate(utc(2026, 1, 1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	wantWindow(t, "from", f, from, window{from, to})
	wantWindow(t, "inside", f, utc(2026, 12, 31, 23, 59), window{from, to})
	wantInactive(t, "before", f, from.Add(-time.Nanosecond))
	wantInactive(t, "to", f, to)
	if s, e, ok := f.Next(from.Add(-time.Hour)); !ok || !s.Equal(from) || !e.Equal(to) {
		t.Errorf("Next before: %v %v", window{s, e}, ok)
	}
	if _, _, ok := f.Next(from); ok {
		t.Error("Next once it started: a window")
	}
}

func fields(err error) map[string]string {
	var e *Error
	if !errors.As(err, &e) {
		return nil
	}
	out := map[string]string{}
	for _, f := range e.Fields {
		out[f.Pointer] = f.Detail
	}
	return out
}

func wantInvalid(t *testing.T, what string, err error, pointer, detail string) {
	t.Helper()
	if ErrorCode(err) != CodeInvalid {
		t.Errorf("%s: %v, want invalid", what, err)
		return
	}
	if d, ok := fields(err)[pointer]; !ok || !strings.Contains(d, detail) {
		t.Errorf("%s: fields %v, want %s: …%s…", what, fields(err), pointer, detail)
	}
}

func TestParseSchedule(t *testing.T) {
	for _, expr := range []string{"0 16 * * fri", "*/15 9-17 * * mon-fri", "0 0 1 jan,jul *", "30 2 * * *", "0 8 ? * MON", "5 4 */2 * *", "0 0 29 2 *"} {
		if _, err := ParseSchedule(expr); err != nil {
			t.Errorf("%q: %v", expr, err)
		}
	}
	for expr, detail := range map[string]string{
		"":                                      "required",
		"   ":                                   "required",
		"0 16 * *":                              "expected exactly 5 fields",
		"0 0 16 * * fri":                        "expected exactly 5 fields",
		"@daily":                                "descriptor",
		"@every 1h":                             "descriptor",
		"TZ=Europe/Berlin 0 16 * * *":           "time zone",
		"TZ=x":                                  "time zone",
		"CRON_TZ=UTC 0 16 * * *":                "time zone",
		"0 16 1 * mon":                          "both the day of month and the day of week",
		"0 16 1-31 * mon-fri":                   "both the day of month and the day of week",
		"61 * * * *":                            "above maximum",
		"0 24 * * *":                            "above maximum",
		"0 16 * * fri-mon":                      "beyond end of range",
		"0 16 * * someday":                      "not a cron expression",
		"*/0 * * * *":                           "positive",
		"0 0 31 2 *" + strings.Repeat(" ", 100): "at most 100",
	} {
		_, err := ParseSchedule(expr)
		if err == nil || !strings.Contains(err.Error(), detail) {
			t.Errorf("%q: %v, want …%s…", expr, err, detail)
		}
	}
}

// FuzzParseSchedule: the parser (robfig/cron's, with our checks) answers
// every input without panicking, and what it accepts has a time each year
// or none that Validate would have to refuse.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"0 16 * * fri", "TZ=x", "*/0 * * * *", "0 0 29 2 *", "1-5/2,7 */3 ? jan-mar sun"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := ParseSchedule(expr)
		if err != nil {
			return
		}
		from := utc(2026, 1, 1, 0, 0)
		if w, ok := s.firstAfter(from, true, time.UTC, freezeLookAhead); ok && w.Before(from) {
			t.Fatalf("%q: firstAfter %s before %s", expr, w, from)
		}
	})
}

func TestValidateFreeze(t *testing.T) {
	now := utc(2026, 5, 5, 10, 0)
	valid := recurring("0 16 * * fri", "0 8 * * mon", "Europe/Berlin")
	valid.Project, valid.Environments = "checkout", []string{"production", "staging"}
	if err := valid.Validate(now); err != nil {
		t.Fatal(err)
	}
	check := func(what string, edit func(f *Freeze), pointer, detail string) {
		t.Helper()
		f := *valid
		f.Environments = append([]string(nil), valid.Environments...)
		edit(&f)
		wantInvalid(t, what, f.Validate(now), pointer, detail)
	}
	check("no name", func(f *Freeze) { f.Name = " " }, "/name", "required")
	check("long name", func(f *Freeze) { f.Name = strings.Repeat("n", maxName+1) }, "/name", "at most")
	check("long reason", func(f *Freeze) { f.Reason = strings.Repeat("r", maxFreezeReason+1) }, "/reason", "at most")
	check("bad project", func(f *Freeze) { f.Project = "Not A Key" }, "/project", "project key")
	check("bad environment", func(f *Freeze) { f.Environments[1] = "Prod!" }, "/environments/1", "environment key")
	check("environment twice", func(f *Freeze) { f.Environments[1] = "production" }, "/environments/1", "twice")
	check("too many environments", func(f *Freeze) {
		f.Environments = nil
		for i := range MaxEnvironmentsPerProject + 1 {
			f.Environments = append(f.Environments, fmt.Sprintf("e%d", i))
		}
	}, "/environments", "at most")
	check("no schedule setting", func(f *Freeze) { f.Scheduled = "" }, "/scheduled", `"hold"`)
	check("unknown schedule setting", func(f *Freeze) { f.Scheduled = "skip" }, "/scheduled", `"fail"`)
	check("unknown zone", func(f *Freeze) { f.TimeZone = "Europe/Atlantis" }, "/time_zone", "not a time zone")
	check("the machine's zone", func(f *Freeze) { f.TimeZone = "Local" }, "/time_zone", "IANA")
	check("no zone", func(f *Freeze) { f.TimeZone = "" }, "/time_zone", "required")
	check("bad start", func(f *Freeze) { f.Start = "0 16 * *" }, "/start", "5 fields")
	check("bad end", func(f *Freeze) { f.End = "0 8 1 * mon" }, "/end", "both the day")
	check("start without end", func(f *Freeze) { f.End = "" }, "/end", "required")
	check("both kinds", func(f *Freeze) { f.From, f.To = &now, &now }, "/start", "not both")
	check("neither kind", func(f *Freeze) { f.Start, f.End, f.TimeZone = "", "", "" }, "/from", "needs from and to")
	check("start never", func(f *Freeze) { f.Start = "0 0 30 2 *" }, "/start", "matches no time")
	// The 31-day limit.
	check("two months", func(f *Freeze) { f.Start, f.End = "0 0 1 1 *", "0 0 1 3 *" }, "/end", "at most 31 days")
	// Windows from each day to the next 31st: 26 days in May, 61 from 31 May.
	check("to the next 31st", func(f *Freeze) { f.Start, f.End = "0 0 * * *", "0 0 31 * *" }, "/end", "at most 31 days")
	// A month from the 1st to the 1st is 31 days and an hour across the
	// autumn change.
	check("October", func(f *Freeze) { f.Start, f.End = "0 0 1 * *", "0 0 1 * *" }, "/end", "at most 31 days")
	// Only some windows are long: from 1 February to 1 April, once a year.
	check("long in winter", func(f *Freeze) { f.Start, f.End = "0 0 1 2,6 *", "0 0 1 4,7 *" }, "/end", "at most 31 days")
	for _, ok := range [][2]string{{"0 0 1 * *", "0 0 28 * *"}, {"0 0 1 1 *", "0 0 2 1 *"}, {"* * * * *", "* * * * *"}, {"0 0 29 2 *", "0 0 1 3 *"}} {
		f := *valid
		f.Start, f.End = ok[0], ok[1]
		if err := f.Validate(now); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}

	from, to := utc(2026, 6, 1, 0, 0), utc(2026, 7, 2, 0, 0)
	if err := oneOff(from, to).Validate(now); err != nil {
		t.Errorf("31 days: %v", err)
	}
	wantInvalid(t, "31 days and a minute", oneOff(from, to.Add(time.Minute)).Validate(now), "/to", "at most 31 days")
	wantInvalid(t, "to before from", oneOff(to, from).Validate(now), "/to", "after from")
	wantInvalid(t, "empty", oneOff(from, from).Validate(now), "/to", "after from")
	f := oneOff(from, to)
	f.To = nil
	wantInvalid(t, "from alone", f.Validate(now), "/to", "required")
	f = oneOff(from, to)
	f.TimeZone = "Europe/Berlin" // for display
	if err := f.Validate(now); err != nil {
		t.Errorf("one-off with a zone: %v", err)
	}
	f.TimeZone = "Mars/Olympus"
	wantInvalid(t, "one-off with an unknown zone", f.Validate(now), "/time_zone", "not a time zone")
}

func TestFreezeCalendarValidate(t *testing.T) {
	var c FreezeCalendar
	for i := range MaxFreezes {
		c.Freezes = append(c.Freezes, Freeze{ID: fmt.Sprintf("fz_%d", i), Name: "n"})
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Freeze("fz_7") != &c.Freezes[7] || c.Freeze("fz_x") != nil {
		t.Error("Freeze by id")
	}
	more := c
	more.Freezes = append(append([]Freeze(nil), c.Freezes...), Freeze{ID: "fz_x"})
	if ErrorCode(more.Validate()) != CodeConflict {
		t.Errorf("%d freezes: %v", len(more.Freezes), more.Validate())
	}
	twice := FreezeCalendar{Freezes: []Freeze{{ID: "fz_1"}, {ID: "fz_1"}}}
	if ErrorCode(twice.Validate()) != CodeConflict {
		t.Errorf("an id twice: %v", twice.Validate())
	}
	big := FreezeCalendar{}
	for i := range MaxFreezes {
		big.Freezes = append(big.Freezes, Freeze{ID: fmt.Sprintf("fz_%d", i), Reason: strings.Repeat("😀", maxFreezeReason)})
	}
	if ErrorCode(big.Validate()) != CodeConflict {
		t.Errorf("%d bytes of reasons: %v", MaxFreezes*4*maxFreezeReason, big.Validate())
	}
}

func TestActive(t *testing.T) {
	day := utc(2026, 6, 10, 0, 0)
	h := func(n int) time.Time { return day.Add(time.Duration(n) * time.Hour) }
	one := func(id, project string, from, to int, envs ...string) Freeze {
		f := *oneOff(h(from), h(to))
		f.ID, f.Name, f.Project, f.Environments = id, id, project, envs
		return f
	}
	c := &FreezeCalendar{Freezes: []Freeze{
		one("fz_a", "checkout", 10, 12, "production"),
		one("fz_b", "", 12, 14),                          // touches fz_a: every project and environment
		one("fz_c", "checkout", 13, 17, "production"),    // overlaps fz_b
		one("fz_d", "checkout", 17, 18, "staging"),       // touches fz_c, in another environment
		one("fz_e", "billing", 9, 20, "production"),      // another project
		one("fz_f", "checkout", 20, 22, "production"),    // apart
		one("fz_g", "checkout", 11, 13, "qa", "staging"), // ends later than fz_a
	}}
	cases := []struct {
		what    string
		project string
		envs    []string
		at      int
		id      string
		until   int
	}{
		{"a chain across three freezes", "checkout", []string{"production"}, 11, "fz_a", 17},
		{"from the middle of the chain", "checkout", []string{"production"}, 13, "fz_c", 17},
		{"the second link, for another project", "shop", []string{"production"}, 12, "fz_b", 14},
		{"the environments of the change together", "checkout", []string{"production", "staging"}, 11, "fz_g", 18},
		{"the other project's freeze", "billing", []string{"production"}, 10, "fz_e", 20},
		{"a later window apart", "checkout", []string{"production"}, 21, "fz_f", 22},
		{"no freeze yet", "checkout", []string{"production"}, 9, "", 0},
		{"between windows", "checkout", []string{"production"}, 18, "", 0},
		{"an environment no freeze names, at the end", "checkout", []string{"dev"}, 14, "", 0},
		{"an environment only the freeze of all names", "checkout", []string{"dev"}, 12, "fz_b", 14},
		{"no environments", "checkout", nil, 11, "", 0},
	}
	for _, tc := range cases {
		f, until, ok := c.Active(tc.project, tc.envs, h(tc.at))
		switch {
		case tc.id == "" && ok:
			t.Errorf("%s: %s until %s, want none", tc.what, f.ID, until)
		case tc.id != "" && (!ok || f.ID != tc.id || !until.Equal(h(tc.until))):
			var id string
			if f != nil {
				id = f.ID
			}
			t.Errorf("%s: %q until %s (%v), want %s until %s", tc.what, id, until, ok, tc.id, h(tc.until))
		}
	}
}

func TestActiveChainsRecurringWindows(t *testing.T) {
	weekend := *recurring("0 16 * * fri", "0 8 * * mon", "Europe/Berlin")
	weekend.ID = "fz_weekend"
	monday := *recurring("0 8 * * mon", "0 12 * * mon", "Europe/Berlin")
	monday.ID = "fz_monday"
	c := &FreezeCalendar{Freezes: []Freeze{weekend, monday}}
	f, until, ok := c.Active("p", []string{"production"}, utc(2026, 10, 24, 12, 0))
	if !ok || f.ID != "fz_weekend" || !until.Equal(utc(2026, 10, 26, 11, 0)) {
		t.Errorf("weekend then Monday morning: %v until %s (%v)", f, until.UTC(), ok)
	}
	// A freeze that never ends: every window touches the next. The chain
	// stops after freezeChain windows.
	always := *recurring("0 8 * * *", "0 8 * * *", "Europe/Berlin")
	c = &FreezeCalendar{Freezes: []Freeze{always}}
	at := utc(2026, 6, 10, 12, 0)
	if _, until, ok := c.Active("p", []string{"production"}, at); !ok || until.Sub(at) < 60*24*time.Hour || until.Sub(at) > 70*24*time.Hour {
		t.Errorf("a freeze that never ends: until %s (%v)", until.UTC(), ok)
	}
}

// TestWindowProperties: for random instants, a window in force holds the
// instant, lasts at most 31 days, starts at an instant Start matches and
// is the one Next gives from just before its start.
func TestWindowProperties(t *testing.T) {
	freezes := []*Freeze{
		recurring("0 16 * * fri", "0 8 * * mon", "Europe/Berlin"),
		recurring("30 2 * * *", "30 3 * * *", "Europe/Berlin"),
		recurring("*/20 1-3 * * sun", "10 2,3 * * *", "America/New_York"),
		recurring("0 0 1 * *", "0 0 15 * *", "Australia/Lord_Howe"),
		recurring("45 23 * * *", "15 0 * * *", "America/Santiago"),
		recurring("0 9 * * mon-fri", "0 17 * * mon-fri", "Asia/Kolkata"),
	}
	base := utc(2025, 1, 1, 0, 0)
	rapid.Check(t, func(rt *rapid.T) {
		f := freezes[rapid.IntRange(0, len(freezes)-1).Draw(rt, "freeze")]
		at := base.Add(time.Duration(rapid.Int64Range(0, int64(3*365*24*time.Hour)).Draw(rt, "offset")))
		s, e, ok := f.Window(at)
		if ok {
			if at.Before(s) || !at.Before(e) {
				rt.Fatalf("%s: Window(%s) = %s → %s does not hold it", f.Start, at, s, e)
			}
			if e.Sub(s) > MaxFreezeWindow || !s.Before(e) {
				rt.Fatalf("%s: window %s → %s", f.Start, s, e)
			}
			if s2, e2, ok := f.Next(s.Add(-time.Nanosecond)); !ok || !s2.Equal(s) || !e2.Equal(e) {
				rt.Fatalf("%s: Next before %s = %s → %s", f.Start, s, s2, e2)
			}
		}
		ns, ne, ok := f.Next(at)
		if !ok || !ns.After(at) || !ns.Before(ne) {
			rt.Fatalf("%s: Next(%s) = %s → %s, %v", f.Start, at, ns, ne, ok)
		}
		if ws, we, wok := f.Window(ns); !wok || !ws.Equal(ns) || !we.Equal(ne) {
			rt.Fatalf("%s: Window at the next start %s = %s → %s, %v", f.Start, ns, ws, we, wok)
		}
		// Nothing starts between at and the next start.
		if mid := at.Add(ns.Sub(at) / 2); ok {
			if ws, _, wok := f.Window(mid); wok && ws.After(at) {
				rt.Fatalf("%s: a window starts at %s, between %s and Next's %s", f.Start, ws, at, ns)
			}
		}
	})
}
