package domain

import (
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a 5-field cron expression (minute, hour, day of month, month,
// day of week; lists, ranges, steps, and month and day names), parsed by
// github.com/robfig/cron/v3's standard parser without its descriptors
// (@daily, @every) and without a time zone prefix (a freeze names its zone
// apart). The parser gives the fields as bit sets; the instants they match
// are computed here, in wall-clock terms in a given zone, so that what
// daylight saving does is said rather than left to time.Date:
//
//   - a wall time that does not exist (02:30 on the day clocks go forward)
//     is the instant the gap ends (03:00 in Europe/Berlin);
//   - a wall time that exists twice (02:30 on the day clocks go back) is its
//     first occurrence.
//
// So an expression matches the minutes of the wall clock, each at most once
// a day: during the repeated hour of a fall-back day nothing matches a
// second time.
type Schedule struct {
	expr                          string
	minute, hour, dom, month, dow uint64 // what matches: bit n for value n
	firstMinute, lastMinute       int
	firstHour, lastHour           int
}

// maxCronLength bounds a cron expression (bytes).
const maxCronLength = 100

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// starBit is robfig/cron's mark of a field written as * or ? (unrestricted).
const starBit = 1 << 63

// ParseSchedule parses a 5-field cron expression. Restricting both the day
// of month and the day of week is refused: cron then matches either of them
// (the OR rule), which surprises people.
func ParseSchedule(expr string) (s *Schedule, err error) {
	switch {
	case strings.TrimSpace(expr) == "":
		return nil, fmt.Errorf("is required")
	case len(expr) > maxCronLength:
		return nil, fmt.Errorf("must be at most %d characters", maxCronLength)
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		// robfig/cron would load the zone itself (and panics on "TZ=x"
		// alone); the freeze's time_zone says it.
		return nil, fmt.Errorf("must not name a time zone (time_zone does)")
	case strings.HasPrefix(strings.TrimSpace(expr), "@"):
		return nil, fmt.Errorf("must be five fields (minute hour day-of-month month day-of-week), not a descriptor such as @daily")
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("is not a cron expression")
		}
	}()
	parsed, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("is not a cron expression of five fields (minute hour day-of-month month day-of-week): %v", err)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("is not a cron expression of five fields (minute hour day-of-month month day-of-week)")
	}
	s = &Schedule{
		expr:   expr,
		minute: spec.Minute &^ starBit,
		hour:   spec.Hour &^ starBit,
		dom:    spec.Dom &^ starBit,
		month:  spec.Month &^ starBit,
		dow:    spec.Dow &^ starBit,
	}
	if spec.Dom&starBit == 0 && spec.Dow&starBit == 0 {
		return nil, fmt.Errorf("restricts both the day of month and the day of week, which cron would match as either one; write * in one of them")
	}
	if s.minute == 0 || s.hour == 0 || s.dom == 0 || s.month == 0 || s.dow == 0 {
		return nil, fmt.Errorf("matches no time")
	}
	s.firstMinute, s.lastMinute = bits.TrailingZeros64(s.minute), 63-bits.LeadingZeros64(s.minute)
	s.firstHour, s.lastHour = bits.TrailingZeros64(s.hour), 63-bits.LeadingZeros64(s.hour)
	return s, nil
}

// String is the expression as written.
func (s *Schedule) String() string { return s.expr }

// dayMatches reports whether the schedule matches some time of the calendar
// day y-m-d. With one day field unrestricted (ParseSchedule refuses both
// restricted) the other decides.
func (s *Schedule) dayMatches(y int, m time.Month, d int) bool {
	if s.month&(1<<uint(m)) == 0 {
		return false
	}
	if s.dom&(1<<uint(d)) == 0 {
		return false
	}
	wd := time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()
	return s.dow&(1<<uint(wd)) != 0
}

// latestAtOrBefore is the latest instant the schedule matches in loc at or
// before t, looking back at most days calendar days; false if none.
func (s *Schedule) latestAtOrBefore(t time.Time, loc *time.Location, days int) (time.Time, bool) {
	lt := t.In(loc)
	// From the day after t's: a wall time of the next day can come before t
	// when clocks go back over midnight.
	day := time.Date(lt.Year(), lt.Month(), lt.Day()+1, 12, 0, 0, 0, time.UTC)
	for i := 0; i <= days+1; i++ {
		y, m, d := day.AddDate(0, 0, -i).Date()
		if !s.dayMatches(y, m, d) || wallTime(y, m, d, s.firstHour, s.firstMinute, loc).After(t) {
			continue
		}
		for h := s.lastHour; h >= s.firstHour; h-- {
			if s.hour&(1<<uint(h)) == 0 || wallTime(y, m, d, h, s.firstMinute, loc).After(t) {
				continue
			}
			for min := s.lastMinute; min >= s.firstMinute; min-- {
				if s.minute&(1<<uint(min)) == 0 {
					continue
				}
				if w := wallTime(y, m, d, h, min, loc); !w.After(t) {
					return w, true
				}
			}
		}
	}
	return time.Time{}, false
}

// firstAfter is the first instant the schedule matches in loc after t (at
// or after t with inclusive), looking at most days calendar days ahead;
// false if none.
func (s *Schedule) firstAfter(t time.Time, inclusive bool, loc *time.Location, days int) (time.Time, bool) {
	later := func(w time.Time) bool { return w.After(t) || inclusive && w.Equal(t) }
	lt := t.In(loc)
	// From the day before t's, for the same reason as latestAtOrBefore.
	day := time.Date(lt.Year(), lt.Month(), lt.Day()-1, 12, 0, 0, 0, time.UTC)
	for i := 0; i <= days+1; i++ {
		y, m, d := day.AddDate(0, 0, i).Date()
		if !s.dayMatches(y, m, d) || !later(wallTime(y, m, d, s.lastHour, s.lastMinute, loc)) {
			continue
		}
		for h := s.firstHour; h <= s.lastHour; h++ {
			if s.hour&(1<<uint(h)) == 0 || !later(wallTime(y, m, d, h, s.lastMinute, loc)) {
				continue
			}
			for min := s.firstMinute; min <= s.lastMinute; min++ {
				if s.minute&(1<<uint(min)) == 0 {
					continue
				}
				if w := wallTime(y, m, d, h, min, loc); later(w) {
					return w, true
				}
			}
		}
	}
	return time.Time{}, false
}

// wallTime is the instant the wall clock of loc shows y-m-d h:min, resolved
// explicitly where time.Date leaves the choice open: the earliest instant at
// which the wall clock shows that time or a later one. So a wall time that
// exists twice (clocks going back) is its first occurrence, and one that
// does not exist (clocks going forward) is the end of the gap: 02:30 on
// 2026-03-29 in Europe/Berlin is 03:00 CEST (01:00Z). The result is in loc.
func wallTime(y int, m time.Month, d, h, min int, loc *time.Location) time.Time {
	naive := time.Date(y, m, d, h, min, 0, 0, time.UTC) // the wall time, read as if in UTC
	// Walk the zone's periods (spans of one offset) from well before the
	// wall time: offsets are within a day of UTC, so the first period
	// holds or precedes every instant showing it.
	t := naive.Add(-48 * time.Hour).In(loc)
	for range 16 {
		start, end := t.ZoneBounds()
		_, offset := t.Zone()
		c := naive.Add(-time.Duration(offset) * time.Second) // the instant showing it under this offset
		if !start.IsZero() && c.Before(start) {
			// The period begins with its wall clock already past the
			// time: the time was skipped, and the gap ends here.
			return start.In(loc)
		}
		if end.IsZero() || c.Before(end) {
			return c.In(loc)
		}
		t = end.In(loc)
	}
	return time.Date(y, m, d, h, min, 0, 0, loc) // not reached: no zone changes sixteen times in four days
}

// locations caches time zones by name: time.LoadLocation reads the zone
// database each time. Failures are not cached, and the cache is bounded
// (the database has some 600 names).
var locations struct {
	sync.Mutex
	m map[string]*time.Location
}

// LoadTimeZone loads an IANA time zone by name ("Europe/Berlin", "UTC").
// "" and "Local" (the machine's zone) are refused.
func LoadTimeZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%q is not an IANA time zone name", name)
	}
	locations.Lock()
	loc, ok := locations.m[name]
	locations.Unlock()
	if ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not a time zone name this service knows (an IANA name such as Europe/Berlin)", name)
	}
	locations.Lock()
	if locations.m == nil {
		locations.m = map[string]*time.Location{}
	}
	if len(locations.m) < 2000 {
		locations.m[name] = loc
	}
	locations.Unlock()
	return loc, nil
}
