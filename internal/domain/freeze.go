package domain

import (
	"context"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// FreezeSchedule says what a scheduled apply does when it falls in a freeze.
type FreezeSchedule string

const (
	FreezeHold FreezeSchedule = "hold" // the apply waits for the end of the freeze
	FreezeFail FreezeSchedule = "fail" // the schedule fails, naming the freeze
)

// Freeze is a change freeze: a window during which nothing applies in its
// environments (docs/governance-design.md, "Change freezes"). It is one-off
// (From, To) or recurring (Start, End, TimeZone), not both. A recurring
// window runs from an instant Start matches to the first instant after it
// that End matches, both read on the wall clock of TimeZone (see Schedule
// for what daylight saving does to them).
type Freeze struct {
	ID     string // "fz_…"
	Name   string
	Reason string
	// Project is the project frozen, "" for every project.
	Project string
	// Environments are the environments frozen (of Project, or of every
	// project), empty for all of them.
	Environments []string
	// From and To bound a one-off freeze: From <= t < To.
	From, To *time.Time
	// Start and End are a recurring freeze's 5-field cron expressions.
	Start, End string
	// TimeZone is the IANA zone Start and End are read in ("Europe/Berlin");
	// a one-off freeze may name one for display.
	TimeZone  string
	Scheduled FreezeSchedule
	// Version counts the freeze's own writes (1 when created), for a
	// client's If-Match; the calendar's Version guards the item.
	Version   int64
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// FreezeCalendar is every freeze of the organisation, stored as one item.
// Version is 0 while it was never written.
type FreezeCalendar struct {
	Freezes []Freeze
	Version int64
}

// Limits of freezes.
const (
	// MaxFreezes is how many freezes a calendar holds.
	MaxFreezes = 100
	// MaxFreezeWindow is the longest window of a freeze.
	MaxFreezeWindow = 31 * 24 * time.Hour
	// MaxFreezeCalendarBytes bounds the text of a calendar (names, reasons,
	// environments...), so that its one item stays well within DynamoDB's
	// 400 KB.
	MaxFreezeCalendarBytes = 300_000
	maxFreezeReason        = 1000
	// freezeLookBack is how far Window looks back for a window's start (a
	// window is at most MaxFreezeWindow long).
	freezeLookBack = 32
	// freezeLookAhead is how far Next looks ahead for a start: four years
	// and a day find a yearly start, even on 29 February.
	freezeLookAhead = 4*366 + 1
	// freezeCheckAhead is how far Validate checks windows ahead, and
	// freezeChecks how many it checks at most (three at least).
	freezeCheckAhead = 366 * 24 * time.Hour
	freezeChecks     = 1000
	// freezeChain bounds how many windows Active chains.
	freezeChain = 64
)

// Recurring reports whether the freeze is recurring (it has Start or End).
func (f *Freeze) Recurring() bool { return f.Start != "" || f.End != "" }

// Location is the freeze's time zone, UTC when it names none.
func (f *Freeze) Location() (*time.Location, error) {
	if f.TimeZone == "" {
		return time.UTC, nil
	}
	return LoadTimeZone(f.TimeZone)
}

// Covers reports whether the freeze freezes environment env of project.
func (f *Freeze) Covers(project, env string) bool {
	if f.Project != "" && f.Project != project {
		return false
	}
	return len(f.Environments) == 0 || slices.Contains(f.Environments, env)
}

// Validate checks a freeze on its own. now is when the freeze is written:
// the windows of a recurring freeze are computed from it (every window
// starting within a year, a thousand at most, three at least) and each must
// last at most MaxFreezeWindow.
func (f *Freeze) Validate(now time.Time) error {
	var v Validation
	checkName(&v, "/name", f.Name, true)
	if utf8.RuneCountInString(f.Reason) > maxFreezeReason {
		v.Add("/reason", "must be at most %d characters", maxFreezeReason)
	}
	if f.Project != "" && !ValidKey(f.Project) {
		v.Add("/project", "must be a project key (lower-case letters, digits and dashes), or absent for every project")
	}
	if len(f.Environments) > MaxEnvironmentsPerProject {
		v.Add("/environments", "at most %d environments (none for all of them)", MaxEnvironmentsPerProject)
	}
	for i, e := range f.Environments {
		switch {
		case !ValidKey(e):
			v.Add(fmt.Sprintf("/environments/%d", i), "must be an environment key (lower-case letters, digits and dashes)")
		case slices.Contains(f.Environments[:i], e):
			v.Add(fmt.Sprintf("/environments/%d", i), "%s is listed twice", e)
		}
	}
	switch f.Scheduled {
	case FreezeHold, FreezeFail:
	default:
		v.Add("/scheduled", "must be %q (a scheduled apply waits for the end of the freeze) or %q (it fails)", FreezeHold, FreezeFail)
	}
	var loc *time.Location
	switch {
	case f.TimeZone != "":
		var err error
		if loc, err = LoadTimeZone(f.TimeZone); err != nil {
			v.Add("/time_zone", "%v", err)
		}
	case f.Recurring():
		v.Add("/time_zone", "is required for a recurring freeze (an IANA name such as Europe/Berlin)")
	}
	oneOff := f.From != nil || f.To != nil
	switch {
	case oneOff && f.Recurring():
		v.Add("/start", "a freeze is one-off (from, to) or recurring (start, end, time_zone), not both")
	case oneOff:
		f.validateOneOff(&v)
	case f.Recurring():
		f.validateRecurring(&v, loc, now)
	default:
		v.Add("/from", "a freeze needs from and to (one-off) or start, end and time_zone (recurring)")
	}
	return v.Err()
}

func (f *Freeze) validateOneOff(v *Validation) {
	switch {
	case f.From == nil:
		v.Add("/from", "is required with to")
	case f.To == nil:
		v.Add("/to", "is required with from")
	case !f.From.Before(*f.To):
		v.Add("/to", "must be after from")
	case f.To.Sub(*f.From) > MaxFreezeWindow:
		v.Add("/to", "a freeze lasts at most 31 days (this one %s)", f.To.Sub(*f.From).Round(time.Minute))
	}
}

func (f *Freeze) validateRecurring(v *Validation, loc *time.Location, now time.Time) {
	start, err := ParseSchedule(f.Start)
	if err != nil {
		v.Add("/start", "%v", err)
	}
	end, err := ParseSchedule(f.End)
	if err != nil {
		v.Add("/end", "%v", err)
	}
	if start == nil || end == nil || loc == nil {
		return
	}
	t := now
	for i := 0; i < freezeChecks; i++ {
		s, ok := start.firstAfter(t, true, loc, freezeLookAhead)
		if !ok {
			if i == 0 {
				v.Add("/start", "matches no time in the next four years")
			}
			return
		}
		if i >= 3 && s.Sub(now) > freezeCheckAhead {
			return
		}
		e, ok := end.firstAfter(s, false, loc, freezeLookBack)
		if !ok || e.Sub(s) > MaxFreezeWindow {
			v.Add("/end", "a freeze lasts at most 31 days, and the window starting %s would not end within them", s.Format("Mon 2006-01-02 15:04 MST"))
			return
		}
		t = e
	}
}

// schedules are a recurring freeze's parsed expressions and zone; false
// for a one-off freeze, or one that is not valid.
func (f *Freeze) schedules() (start, end *Schedule, loc *time.Location, ok bool) {
	if !f.Recurring() {
		return nil, nil, nil, false
	}
	var err1, err2, err3 error
	start, err1 = ParseSchedule(f.Start)
	end, err2 = ParseSchedule(f.End)
	loc, err3 = f.Location()
	return start, end, loc, err1 == nil && err2 == nil && err3 == nil && f.TimeZone != ""
}

// endOf is the end of the recurring window that starts at s: the first
// instant after s that end matches. A window Validate would refuse (no end
// within MaxFreezeWindow) is cut at MaxFreezeWindow.
func endOf(end *Schedule, s time.Time, loc *time.Location) time.Time {
	if e, ok := end.firstAfter(s, false, loc, freezeLookBack); ok && e.Sub(s) <= MaxFreezeWindow {
		return e
	}
	return s.Add(MaxFreezeWindow)
}

// Window is the window of the freeze in force at at: start <= at < end.
// For a recurring freeze it is the window of the latest start at or before
// at (looking back day by day, at most 32 days). Times are in the freeze's
// zone (a one-off freeze's as stored). Zero times and false when the
// freeze is not in force at at (or is not valid).
func (f *Freeze) Window(at time.Time) (start, end time.Time, active bool) {
	if !f.Recurring() {
		if f.From != nil && f.To != nil && !at.Before(*f.From) && at.Before(*f.To) {
			return *f.From, *f.To, true
		}
		return time.Time{}, time.Time{}, false
	}
	st, en, loc, ok := f.schedules()
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	s, ok := st.latestAtOrBefore(at, loc, freezeLookBack)
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	if e := endOf(en, s, loc); at.Before(e) {
		return s, e, true
	}
	return time.Time{}, time.Time{}, false
}

// Next is the freeze's next window starting after at (strictly); false when
// there is none (a one-off freeze that started, a recurring one whose start
// matches nothing in the next four years).
func (f *Freeze) Next(at time.Time) (start, end time.Time, ok bool) {
	if !f.Recurring() {
		if f.From != nil && f.To != nil && f.From.After(at) {
			return *f.From, *f.To, true
		}
		return time.Time{}, time.Time{}, false
	}
	st, en, loc, ok := f.schedules()
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	s, ok := st.firstAfter(at, false, loc, freezeLookAhead)
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	return s, endOf(en, s, loc), true
}

// Freeze returns the freeze of the calendar with that id, nil if none.
func (c *FreezeCalendar) Freeze(id string) *Freeze {
	for i := range c.Freezes {
		if c.Freezes[i].ID == id {
			return &c.Freezes[i]
		}
	}
	return nil
}

// Validate checks what a calendar holds as a whole (each freeze is checked
// by its own Validate): at most MaxFreezes freezes, of distinct ids, whose
// text stays within MaxFreezeCalendarBytes. Its refusals are conflicts:
// the freeze written is fine, the calendar has no room for it.
func (c *FreezeCalendar) Validate() error {
	if n := len(c.Freezes); n > MaxFreezes {
		return Errorf(CodeConflict, "the organisation has at most %d freezes (this would make %d); delete one first", MaxFreezes, n)
	}
	size := 0
	for i := range c.Freezes {
		f := &c.Freezes[i]
		for _, g := range c.Freezes[:i] {
			if g.ID == f.ID {
				return Errorf(CodeConflict, "freeze %s exists already", f.ID)
			}
		}
		size += freezeBytes(f)
	}
	if size > MaxFreezeCalendarBytes {
		return Errorf(CodeConflict, "the freezes of the organisation would hold %d bytes of names, reasons and environments, over the limit of %d; shorten or delete some", size, MaxFreezeCalendarBytes)
	}
	return nil
}

// freezeBytes estimates the bytes a freeze takes in its stored form.
func freezeBytes(f *Freeze) int {
	n := 250 + len(f.ID) + len(f.Name) + len(f.Reason) + len(f.Project) + len(f.Start) + len(f.End) +
		len(f.TimeZone) + len(f.Scheduled) + len(f.CreatedBy)
	for _, e := range f.Environments {
		n += 4 + len(e)
	}
	return n
}

// Active answers the freeze in force at at for any of envs in project (a
// freeze of Project "" covers every project; one without Environments
// every environment), and until when changes there stay frozen: windows
// that touch or overlap are chained, those of other freezes covering envs
// included (at most 64 windows ahead; until is then the end of the 64th).
// The freeze answered is, of those in force at at, the one whose own
// window ends last (the first in the calendar on a tie). No envs: false.
func (c *FreezeCalendar) Active(project string, envs []string, at time.Time) (f *Freeze, until time.Time, ok bool) {
	var covering []*Freeze
	for i := range c.Freezes {
		g := &c.Freezes[i]
		if slices.ContainsFunc(envs, func(e string) bool { return g.Covers(project, e) }) {
			covering = append(covering, g)
		}
	}
	for _, g := range covering {
		if _, end, active := g.Window(at); active && (f == nil || end.After(until)) {
			f, until = g, end
		}
	}
	if f == nil {
		return nil, time.Time{}, false
	}
	for range freezeChain {
		next := until
		for _, g := range covering {
			if _, end, active := g.Window(until); active && end.After(next) {
				next = end
			}
		}
		if !next.After(until) {
			break
		}
		until = next
	}
	return f, until, true
}

// FreezeRepository stores the organisation's freeze calendar, one item.
type FreezeRepository interface {
	// GetFreezes returns the calendar, empty with version 0 when it was
	// never written.
	GetFreezes(ctx context.Context) (*FreezeCalendar, error)
	// UpdateFreezes is the read-modify-write of the calendar: fn changes it
	// (adds, edits, removes freezes) and records audit entries, written in
	// the same atomic write. The calendar is written with the read version
	// + 1, only if it did not change meanwhile (a race reads again and
	// calls fn again); an error from fn writes nothing. A request fn names
	// in Audit.Applies is written in the same atomic write.
	UpdateFreezes(ctx context.Context, fn func(*FreezeCalendar, *Audit) error) (*FreezeCalendar, error)
}
