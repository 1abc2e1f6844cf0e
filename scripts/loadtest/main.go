// Command loadtest puts HTTP/1.1 load on one OFREP route: for each
// connection count it keeps that many keep-alive connections busy with the
// same POST, for a bounded time and a bounded number of requests, and
// reports requests per second and the latency percentiles.
//
//	go run ./scripts/loadtest -url http://127.0.0.1:8080/ofrep/v1/evaluate/flags/new-checkout \
//	  -key cs_sdk_... -conns 1,16,64 -duration 10s -requests 1000000 [-rate 30000]
//
// Like wrk, it writes the request bytes itself and reads the answers with a
// minimal parser (status line, headers, Content-Length or chunked body): the
// Go HTTP client would cost the machine more than the server does, and on a
// small machine the load generator shares the cores with the server.
// Every answer must be 200 (others count as errors).
//
// Without -rate the load is closed: each connection sends its next request
// when the last is answered, so a run measures the most the pair of
// processes does and the latency at that load. Latency is from the
// request's first byte written to the answer's last byte read. At
// saturation it includes queueing that the load generator causes by taking
// CPU from the server.
//
// With -rate N the load is offered at N requests a second in total, spread
// evenly over the run's connections: connection i sends its k-th request
// at start + (k*conns + i)/N. A connection that is early sleeps until that
// time; one that is late (its previous answer came late, or its sleep
// overshot) sends at once, so the asked rate is kept on average as long as
// each connection's answers take less than conns/N on average (one request
// in flight per connection, no pipelining). Two latencies are reported:
// service latency as above, and latency from the scheduled send time to the
// answer's last byte, which counts the time a request waited behind a late
// answer (corrected for coordinated omission, as wrk2 does). Go's timers
// on Linux may wake up to about a millisecond late when the process is
// otherwise idle (the netpoller waits in whole milliseconds), so on Linux
// a connection sleeps on a timerfd read through the poller instead
// (sleep_linux.go), which wakes within tens of microseconds; elsewhere it
// uses time.Sleep. The sleeps are not topped up by spinning, because the
// generator shares the cores with the server. The oversleep is measured
// and printed per run: it is part of the scheduled-send latency, so that
// figure is an upper bound.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("url", "", "URL to POST to (http only)")
	key := flag.String("key", "", "SDK key, sent as Authorization: Bearer")
	body := flag.String("body", `{"context":{"targetingKey":"user-4711","country":"DE","plan":"pro","email":"ada@example.com","app_version":"3.2.1"}}`, "request body")
	conns := flag.String("conns", "1,16,64", "connection counts, one run each")
	duration := flag.Duration("duration", 10*time.Second, "how long each run lasts at most")
	requests := flag.Int64("requests", 1_000_000, "how many requests each run sends at most")
	rate := flag.Float64("rate", 0, "requests per second offered in total over a run's connections (0: closed loop, each connection sends when the last answer is in)")
	warmup := flag.Duration("warmup", time.Second, "load before each run that is not measured")
	timeout := flag.Duration("timeout", 5*time.Second, "a request taking longer fails the run")
	progress := flag.Duration("progress", 2*time.Second, "how often to print progress (0: never)")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "loadtest: -url is required")
		flag.Usage()
		os.Exit(2)
	}
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fatalf("-url must be an http:// URL: %q", *target)
	}
	if *rate < 0 || math.IsNaN(*rate) || math.IsInf(*rate, 0) {
		fatalf("-rate must be 0 (closed loop) or a positive number of requests a second, not %v", *rate)
	}
	var counts []int
	for _, s := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fatalf("-conns: %q is not a positive number", s)
		}
		counts = append(counts, n)
	}
	req := buildRequest(u, *key, *body)

	// one request first: the route answers 200 with a body
	status, answer, err := once(u.Host, req, *timeout)
	if err != nil || status != 200 {
		fatalf("the first request failed: status %d, %v: %s", status, err, answer)
	}
	fmt.Printf("POST %s -> 200 %s", *target, answer)
	if !bytes.HasSuffix(answer, []byte("\n")) {
		fmt.Println()
	}
	fmt.Printf("load generator: %d CPUs usable (GOMAXPROCS %d); the server runs on the same machine\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if *rate == 0 {
		fmt.Printf("each run: at most %s and %d requests, after %s of warm-up; each connection sends its next request when the last is answered\n\n",
			*duration, *requests, *warmup)
	} else {
		fmt.Printf("each run: at most %s and %d requests, after %s of warm-up at the same rate; %.0f requests a second in total, spread evenly over the connections; a connection that is late sends at once\n\n",
			*duration, *requests, *warmup, *rate)
	}

	var results []result
	failed := false
	for _, c := range counts {
		if *warmup > 0 {
			run(u.Host, req, c, *rate, *warmup, *requests, *timeout, 0, "")
		}
		r := run(u.Host, req, c, *rate, *duration, *requests, *timeout, *progress, fmt.Sprintf("%3d conns", c))
		results = append(results, r)
		if r.errors > 0 {
			failed = true
			fmt.Printf("%3d conns: %d errors, the first: %v\n", c, r.errors, r.firstErr)
		}
	}
	if *rate == 0 {
		fmt.Printf("\n%6s %10s %8s %8s %10s %9s %9s %9s %9s\n", "conns", "requests", "errors", "secs", "req/s", "p50", "p90", "p99", "max")
		for _, r := range results {
			fmt.Printf("%6d %10d %8d %8.2f %10.0f %9s %9s %9s %9s\n", r.conns, r.requests, r.errors, r.elapsed.Seconds(),
				r.perSecond(), ms(r.service.p50), ms(r.service.p90), ms(r.service.p99), ms(r.service.max))
		}
	} else {
		printRate(results, *rate)
	}
	if failed {
		os.Exit(1)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadtest: "+format+"\n", args...)
	os.Exit(1)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

func buildRequest(u *url.URL, key, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json\r\n", u.RequestURI(), u.Host)
	if key != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", key)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.Bytes()
}

// printRate prints the results of fixed-rate runs: per run one line of
// service latency and one of latency from the scheduled send, then how
// late the sends went out.
func printRate(results []result, rate float64) {
	fmt.Printf("\n%6s %10s %8s %8s %10s %10s  %-10s %9s %9s %9s %9s\n",
		"conns", "requests", "errors", "secs", "asked/s", "req/s", "latency", "p50", "p90", "p99", "max")
	short := false
	for _, r := range results {
		fmt.Printf("%6d %10d %8d %8.2f %10.0f %10.0f  %-10s %9s %9s %9s %9s\n", r.conns, r.requests, r.errors, r.elapsed.Seconds(),
			rate, r.perSecond(), "service", ms(r.service.p50), ms(r.service.p90), ms(r.service.p99), ms(r.service.max))
		fmt.Printf("%6s %10s %8s %8s %10s %10s  %-10s %9s %9s %9s %9s\n", "", "", "", "", "", "",
			"scheduled", ms(r.scheduled.p50), ms(r.scheduled.p90), ms(r.scheduled.p99), ms(r.scheduled.max))
		if r.perSecond() < 0.99*rate {
			short = true
		}
	}
	fmt.Println()
	fmt.Println("latency  service:   from the request's first byte written to the answer's last byte read")
	fmt.Println("         scheduled: from the request's scheduled send time to the answer's last byte read, so it")
	fmt.Println("                    includes waiting behind a late answer (corrected for coordinated omission, as wrk2)")
	fmt.Println("req/s: answers per second achieved; asked/s: the rate offered")
	fmt.Println()
	fmt.Println("pacing: how late requests went out after their scheduled time")
	fmt.Printf("%6s %10s %9s %9s %9s %9s  %10s %9s %9s %9s\n", "conns", "slept", "p50", "p90", "p99", "max", "were late", "p50", "p99", "max")
	for _, r := range results {
		o, l := r.overslept, r.late
		fmt.Printf("%6d %10d %9s %9s %9s %9s  %10d %9s %9s %9s\n", r.conns,
			o.n, o.ms(o.p50), o.ms(o.p90), o.ms(o.p99), o.ms(o.max), l.n, l.ms(l.p50), l.ms(l.p99), l.ms(l.max))
	}
	fmt.Println("slept: requests whose connection was early and slept until their time; the figures are how late the")
	fmt.Println("       timer woke it (the load generator's own error, part of the scheduled latency)")
	fmt.Println("were late: requests whose time had passed when the previous answer came in; sent at once")
	if short {
		fmt.Println("\nsome runs fell short of the asked rate (below 99 %): answers came later than the connections'")
		fmt.Println("intervals (conns/rate), requests queued behind them and those still queued at the end were not sent")
	}
}

// dist is a latency distribution.
type dist struct {
	n                  int64
	p50, p90, p99, max time.Duration
}

// ms is ms(x), or "-" when d is empty.
func (d dist) ms(x time.Duration) string {
	if d.n == 0 {
		return "-"
	}
	return ms(x)
}

// distOf sorts ds and summarises them.
func distOf(ds []time.Duration) dist {
	slices.Sort(ds)
	d := dist{n: int64(len(ds))}
	if len(ds) > 0 {
		pct := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
		d.p50, d.p90, d.p99, d.max = pct(0.50), pct(0.90), pct(0.99), ds[len(ds)-1]
	}
	return d
}

type result struct {
	conns            int
	requests, errors int64
	firstErr         error
	elapsed          time.Duration
	// service: first byte written to last byte read; scheduled (with a
	// rate): scheduled send time to last byte read
	service, scheduled dist
	// with a rate: how late the timer woke a connection that slept until
	// a request's time, and how late the requests were that were already
	// due when the previous answer came in
	overslept, late dist
}

func (r result) perSecond() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// latencies are one connection's measurements.
type latencies struct {
	service, scheduled, overslept, late []time.Duration
}

// run keeps conns connections busy until d passes or limit requests were
// sent, and measures them. With rate > 0 the connections send at rate
// requests a second in total instead of as fast as they are answered.
func run(host string, req []byte, conns int, rate float64, d time.Duration, limit int64, timeout, progress time.Duration, label string) result {
	var (
		sent, done, errs atomic.Int64
		firstErr         atomic.Value
		wg, dialed       sync.WaitGroup
		stop             atomic.Bool
		start, deadline  time.Time
	)
	begin := make(chan struct{})
	lat := make([]latencies, conns)
	dialed.Add(conns)
	for i := range conns {
		wg.Go(func() {
			fail := func(err error) {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			c, err := dial(host, timeout)
			dialed.Done()
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			<-begin // every connection is open; start and deadline are set
			var m latencies
			m.service = make([]time.Duration, 0, 4096)
			if rate == 0 {
				for !stop.Load() && sent.Add(1) <= limit {
					t0 := time.Now()
					if t0.After(deadline) {
						break
					}
					status, err := c.do(req, t0.Add(timeout))
					if err != nil {
						fail(err)
						return
					}
					if status != 200 {
						fail(fmt.Errorf("status %d", status))
					}
					m.service = append(m.service, time.Since(t0))
					done.Add(1)
				}
				lat[i] = m
				return
			}
			m.scheduled = make([]time.Duration, 0, 4096)
			defer func() { lat[i] = m }()
			sl, err := newSleeper()
			if err != nil {
				fail(err)
				return
			}
			defer sl.Close()
			// the k-th request of connection i is the (k*conns + i)-th of
			// the run, due at start + (k*conns + i)/rate
			for n := int64(i); n < limit && !stop.Load(); n += int64(conns) {
				due := start.Add(time.Duration(float64(n) / rate * float64(time.Second)))
				if due.After(deadline) {
					break
				}
				t0 := time.Now()
				if wait := due.Sub(t0); wait > 0 {
					sl.Sleep(wait)
					t0 = time.Now()
					m.overslept = append(m.overslept, t0.Sub(due))
				} else {
					m.late = append(m.late, -wait)
				}
				status, err := c.do(req, t0.Add(timeout))
				if err != nil {
					fail(err)
					return
				}
				if status != 200 {
					fail(fmt.Errorf("status %d", status))
				}
				t1 := time.Now()
				m.service = append(m.service, t1.Sub(t0))
				m.scheduled = append(m.scheduled, t1.Sub(due))
				done.Add(1)
			}
		})
	}
	dialed.Wait()
	start = time.Now()
	deadline = start.Add(d)
	close(begin)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	var tick <-chan time.Time
	if progress > 0 {
		t := time.NewTicker(progress)
		defer t.Stop()
		tick = t.C
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	last, lastAt := int64(0), start
loop:
	for {
		select {
		case <-finished:
			break loop
		case <-timer.C:
			stop.Store(true)
		case now := <-tick:
			n := done.Load()
			fmt.Printf("%s: %4.1fs %9d requests %9.0f req/s (last %s) %d errors\n", label, now.Sub(start).Seconds(), n,
				float64(n-last)/now.Sub(lastAt).Seconds(), progress, errs.Load())
			last, lastAt = n, now
		}
	}
	elapsed := time.Since(start)
	var service, scheduled, overslept, late []time.Duration
	for _, l := range lat {
		service = append(service, l.service...)
		scheduled = append(scheduled, l.scheduled...)
		overslept = append(overslept, l.overslept...)
		late = append(late, l.late...)
	}
	r := result{conns: conns, requests: int64(len(service)), errors: errs.Load(), elapsed: elapsed,
		service: distOf(service), scheduled: distOf(scheduled), overslept: distOf(overslept), late: distOf(late)}
	if e, ok := firstErr.Load().(error); ok {
		r.firstErr = e
	}
	return r
}

func once(host string, req []byte, timeout time.Duration) (int, []byte, error) {
	c, err := dial(host, timeout)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	c.keep = true
	status, err := c.do(req, time.Now().Add(timeout))
	return status, c.body, err
}

// conn is one keep-alive HTTP/1.1 connection.
type conn struct {
	net.Conn
	r    *bufio.Reader
	keep bool   // keep the last body
	body []byte // the last body, when keep
}

func dial(host string, timeout time.Duration) (*conn, error) {
	c, err := net.DialTimeout("tcp", host, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &conn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

var errProtocol = errors.New("malformed HTTP answer")

// do sends req and reads the answer to its end: the status.
func (c *conn) do(req []byte, deadline time.Time) (int, error) {
	if err := c.SetDeadline(deadline); err != nil {
		return 0, err
	}
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("%w: status line %q", errProtocol, line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("%w: status line %q", errProtocol, line)
	}
	length, chunked, closing := -1, false, false
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("%w: header %q", errProtocol, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, fmt.Errorf("%w: Content-Length %q", errProtocol, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	if c.keep {
		c.body = c.body[:0]
	}
	switch {
	case chunked:
		for {
			line, err := c.r.ReadSlice('\n')
			if err != nil {
				return 0, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimRight(line, "\r\n")), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("%w: chunk size %q", errProtocol, line)
			}
			if err := c.consume(int(n) + 2); err != nil { // the chunk and its CRLF
				return 0, err
			}
			if n == 0 {
				break
			}
		}
	case length >= 0:
		if err := c.consume(length); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("%w: no Content-Length", errProtocol)
	}
	if closing {
		return status, fmt.Errorf("the server closed the connection")
	}
	return status, nil
}

func (c *conn) consume(n int) error {
	if c.keep {
		b := make([]byte, n)
		if _, err := io.ReadFull(c.r, b); err != nil {
			return err
		}
		c.body = append(c.body, b...)
		return nil
	}
	_, err := c.r.Discard(n)
	return err
}
