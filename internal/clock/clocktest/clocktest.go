// Package clocktest gives every test its one fixed time.
//
// Tests run the code under test on a fixed clock (clock.NewFixed) so that
// what they assert does not move with the calendar. A test that mixes that
// clock with the wall clock (time.Now) passed only while today happened to
// be close to the fixed date, and failed weeks later. To make that mistake
// fail at once instead, every fixed clock starts from Epoch, which lies
// decades away from any day the suite runs on: a time taken from the wall
// clock is then far outside every window the code accepts (a grace period,
// a link's lifetime, an auto-approval delay), on the first run, and the gap
// only grows with the years. TestNoCalendarDatesInTests keeps the repository
// free of fixed dates that do not come from here.
//
// COUNTERSIGN_TEST_EPOCH (a date, 2027-06-01, or an RFC 3339 time) moves
// Epoch, to run the suite with the service clock on another day, past or
// future.
package clocktest

import (
	"fmt"
	"os"
	"time"

	"github.com/countersign/countersign/internal/clock"
)

// DefaultEpoch is Epoch when COUNTERSIGN_TEST_EPOCH is unset: midnight UTC
// on Sunday 4 November 2001, a quarter of a century before the suite was
// first run on this rule.
var DefaultEpoch = time.Date(2001, 11, 4, 0, 0, 0, 0, time.UTC)

// Epoch is day 0 of every test's fixed clock.
var Epoch = epoch()

func epoch() time.Time {
	v := os.Getenv("COUNTERSIGN_TEST_EPOCH")
	if v == "" {
		return DefaultEpoch
	}
	for _, layout := range []string{time.DateOnly, time.RFC3339Nano} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC()
		}
	}
	panic(fmt.Sprintf("COUNTERSIGN_TEST_EPOCH=%q is neither a date (2027-06-01) nor an RFC 3339 time", v))
}

// At is the time day days after Epoch, at hh:mm:ss UTC.
func At(day, hh, mm, ss int) time.Time {
	return Epoch.AddDate(0, 0, day).Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second)
}

// Clock is a fixed clock standing at At(day, hh, mm, 0), to be moved by the
// test with Advance or Set.
func Clock(day, hh, mm int) *clock.Manual {
	return clock.NewFixed(At(day, hh, mm, 0))
}

// Stamp formats t as the stores' sortable keys do (RFC 3339 with nine
// fractional digits, UTC).
func Stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}
