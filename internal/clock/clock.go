// Package clock is the one source of time for the whole service, so that
// tests and local development runs can move it.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// System is the real clock, in UTC.
type System struct{}

// Now returns the current time in UTC.
func (System) Now() time.Time { return time.Now().UTC() }

// Manual is a clock that moves only when told to, from a starting point, or
// that follows the real clock with an offset (development runs).
type Manual struct {
	mu     sync.Mutex
	offset time.Duration
	fixed  *time.Time
}

// NewOffset returns a clock that runs with real time, shifted by any
// Advance or Set.
func NewOffset() *Manual { return &Manual{} }

// NewOffsetBy returns a clock that runs with real time, shifted by d (a
// development run restarting where its clock was moved to).
func NewOffsetBy(d time.Duration) *Manual { return &Manual{offset: d} }

// Offset is how far an offset clock runs ahead of real time (behind when
// negative).
func (m *Manual) Offset() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offset
}

// NewFixed returns a clock that stands still at t until moved.
func NewFixed(t time.Time) *Manual {
	t = t.UTC()
	return &Manual{fixed: &t}
}

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fixed != nil {
		return *m.fixed
	}
	return time.Now().UTC().Add(m.offset)
}

// Advance moves the clock forward by d (d must be positive to move forward).
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fixed != nil {
		t := m.fixed.Add(d)
		m.fixed = &t
		return
	}
	m.offset += d
}

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fixed != nil {
		t = t.UTC()
		m.fixed = &t
		return
	}
	m.offset = time.Until(t)
}
