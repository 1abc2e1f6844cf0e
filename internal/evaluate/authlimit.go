package evaluate

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Failed SDK key authentications are limited per client address: past
// MaxAuthFailures in a window, a failing request answers 429 with
// Retry-After instead of 401. Only failures are counted, in memory: a
// request with a valid key never touches the limiter, so the hot path is
// unchanged, and a flood of bad keys costs no store write. On Lambda each
// instance counts on its own.
const (
	MaxAuthFailures   = 30
	AuthFailureWindow = time.Minute
	maxTrackedClients = 10000
)

type failureCount struct {
	n      int
	resets time.Time
}

type authLimiter struct {
	mu      sync.Mutex
	clients map[string]failureCount
}

// fail counts a failed authentication from client at now and says how long
// it must wait when it is over the limit (0: not over).
func (l *authLimiter) fail(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil {
		l.clients = map[string]failureCount{}
	}
	c := l.clients[client]
	if !now.Before(c.resets) {
		c = failureCount{resets: now.Add(AuthFailureWindow)}
	}
	c.n++
	putBounded(l.clients, client, c, maxTrackedClients)
	if c.n <= MaxAuthFailures {
		return 0
	}
	return c.resets.Sub(now)
}

// clientAddress is the address a request came from (on Lambda, API
// Gateway's source IP, which lambdahttp puts in RemoteAddr).
func clientAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// retryAfter is a wait in whole seconds, at least one.
func retryAfter(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}
