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
// request with a valid server key never touches the limiter, so the hot
// path is unchanged, and a flood of bad keys costs no store write. On
// Lambda each instance counts on its own.
const (
	MaxAuthFailures   = 30
	AuthFailureWindow = time.Minute
	maxTrackedClients = 10000
)

// Requests with a client key (public by design) are limited per key and
// client address: past MaxClientRequests in ClientRequestWindow they answer
// 429 with Retry-After. A browser polling every 30 s sends 2 a minute, so
// the limit leaves room for a few hundred browsers behind one address (an
// office, a carrier's NAT). The count is in memory, per instance: on
// Lambda each instance counts on its own, so a client spread over n
// instances may send up to n times as much (the function's reserved
// concurrency bounds n). Server keys are not counted.
const (
	MaxClientRequests   = 600
	ClientRequestWindow = time.Minute
)

// MaxClientBody bounds the request body (the evaluation context) a client
// key may send: a browser's or app's context is a few attributes; larger
// bodies answer 413 before anything is evaluated. Server keys may send up
// to maxBody.
const MaxClientBody = 8 << 10

type windowCount struct {
	n      int
	resets time.Time
}

// windowLimiter counts events per client in fixed windows, in memory, for
// at most maxTrackedClients clients (then it starts over).
type windowLimiter struct {
	max    int
	window time.Duration

	mu      sync.Mutex
	clients map[string]windowCount
}

// hit counts an event of client at now and says how long it must wait when
// it is over the limit (0: not over).
func (l *windowLimiter) hit(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil {
		l.clients = map[string]windowCount{}
	}
	c := l.clients[client]
	if !now.Before(c.resets) {
		c = windowCount{resets: now.Add(l.window)}
	}
	c.n++
	putBounded(l.clients, client, c, maxTrackedClients)
	if c.n <= l.max {
		return 0
	}
	return c.resets.Sub(now)
}

// blocked says how long client must wait when it has used up the limit
// at now, as the next event would be over it (0: it would not be), without
// counting one.
func (l *windowLimiter) blocked(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[client]
	if !ok || !now.Before(c.resets) || c.n < l.max {
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
