// Command loadtest puts HTTP/1.1 load on one OFREP route: for each
// connection count it keeps that many keep-alive connections busy with the
// same POST, for a bounded time and a bounded number of requests, and
// reports requests per second and the latency percentiles.
//
//	go run ./scripts/loadtest -url http://127.0.0.1:8080/ofrep/v1/evaluate/flags/new-checkout \
//	  -key cs_sdk_... -conns 1,16,64 -duration 10s -requests 1000000
//
// Like wrk, it writes the request bytes itself and reads the answers with a
// minimal parser (status line, headers, Content-Length or chunked body): the
// Go HTTP client would cost the machine more than the server does, and on a
// small machine the load generator shares the cores with the server.
// Latency is from the request's first byte written to the answer's last byte
// read; every answer must be 200 (others count as errors).
//
// The load is closed: each connection sends its next request when the last
// is answered, so a run measures the most the pair of processes does and
// the latency at that load. (No fixed-rate mode: Go's timers sleep about a
// millisecond at the least, too coarse to pace 30 000 requests a second.)
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
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
	fmt.Printf("each run: at most %s and %d requests, after %s of warm-up; each connection sends its next request when the last is answered\n\n",
		*duration, *requests, *warmup)

	var results []result
	failed := false
	for _, c := range counts {
		if *warmup > 0 {
			run(u.Host, req, c, *warmup, *requests, *timeout, 0, "")
		}
		r := run(u.Host, req, c, *duration, *requests, *timeout, *progress, fmt.Sprintf("%3d conns", c))
		results = append(results, r)
		if r.errors > 0 {
			failed = true
			fmt.Printf("%3d conns: %d errors, the first: %v\n", c, r.errors, r.firstErr)
		}
	}
	fmt.Printf("\n%6s %10s %8s %8s %10s %9s %9s %9s %9s\n", "conns", "requests", "errors", "secs", "req/s", "p50", "p90", "p99", "max")
	for _, r := range results {
		fmt.Printf("%6d %10d %8d %8.2f %10.0f %9s %9s %9s %9s\n", r.conns, r.requests, r.errors, r.elapsed.Seconds(),
			float64(r.requests)/r.elapsed.Seconds(), ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max))
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

type result struct {
	conns              int
	requests, errors   int64
	firstErr           error
	elapsed            time.Duration
	p50, p90, p99, max time.Duration
}

// run keeps conns connections busy until d passes or limit requests were
// sent, and measures them.
func run(host string, req []byte, conns int, d time.Duration, limit int64, timeout, progress time.Duration, label string) result {
	var (
		sent, done, errs atomic.Int64
		firstErr         atomic.Value
		wg               sync.WaitGroup
		stop             atomic.Bool
	)
	lat := make([][]time.Duration, conns)
	start := time.Now()
	deadline := start.Add(d)
	for i := range conns {
		wg.Go(func() {
			fail := func(err error) {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			c, err := dial(host, timeout)
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			mine := make([]time.Duration, 0, 4096)
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
				mine = append(mine, time.Since(t0))
				done.Add(1)
			}
			lat[i] = mine
		})
	}
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
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := result{conns: conns, requests: int64(len(all)), errors: errs.Load(), elapsed: elapsed}
	if e, ok := firstErr.Load().(error); ok {
		r.firstErr = e
	}
	if len(all) > 0 {
		pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
		r.p50, r.p90, r.p99, r.max = pct(0.50), pct(0.90), pct(0.99), all[len(all)-1]
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
