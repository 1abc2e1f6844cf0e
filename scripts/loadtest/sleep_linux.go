//go:build linux

package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sleeper waits on a timerfd read through Go's poller. time.Sleep under a
// millisecond often wakes about a millisecond late on Linux (the runtime's
// netpoller waits in whole milliseconds when it has nothing else to do),
// which would count as latency at 30 000 requests a second; a timerfd
// wakes the poller itself, typically within tens of microseconds.
type sleeper struct {
	f  *os.File
	fd int // kept apart: f.Fd() would put the descriptor in blocking mode
}

func newSleeper() (*sleeper, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	return &sleeper{f: os.NewFile(uintptr(fd), "timerfd"), fd: fd}, nil
}

// Sleep waits d (more than 0).
func (s *sleeper) Sleep(d time.Duration) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	if err := unix.TimerfdSettime(s.fd, 0, &spec, nil); err != nil {
		time.Sleep(d)
		return
	}
	var expirations [8]byte
	if _, err := s.f.Read(expirations[:]); err != nil {
		time.Sleep(d)
	}
}

func (s *sleeper) Close() error { return s.f.Close() }
