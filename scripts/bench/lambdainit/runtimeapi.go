package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// runtimeAPI is a fake Lambda Runtime API
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): what
// the Lambda service serves a function's process at AWS_LAMBDA_RUNTIME_API.
// It serves one process at a time (the current run): it notes when the
// process first asks for an event (GET .../invocation/next, the end of its
// init), hands it the run's event if it has one and takes the answer, and
// otherwise holds the request open, as Lambda does while no event waits.
type runtimeAPI struct {
	addr string // host:port, the value of AWS_LAMBDA_RUNTIME_API
	srv  *http.Server

	mu  sync.Mutex
	cur *run
}

// run is one start of one process.
type run struct {
	event []byte // answered to the first /next; nil: hold it

	next     chan time.Time // the first GET /next
	initErr  chan string    // POST /init/error
	response chan string    // POST /invocation/{id}/response or /error
	done     chan struct{}  // closed when the run ends: held requests return

	mu    sync.Mutex
	nexts int
}

const requestID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"

func newRuntimeAPI() (*runtimeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &runtimeAPI{addr: ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", a.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", a.handleAnswer("response"))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", a.handleAnswer("error"))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", a.handleInitError)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

func (a *runtimeAPI) Close() error { return a.srv.Close() }

// begin makes r the current run.
func (a *runtimeAPI) begin(event []byte) *run {
	r := &run{event: event, next: make(chan time.Time, 1), initErr: make(chan string, 1), response: make(chan string, 1), done: make(chan struct{})}
	a.mu.Lock()
	a.cur = r
	a.mu.Unlock()
	return r
}

// end ends the current run.
func (a *runtimeAPI) end(r *run) {
	a.mu.Lock()
	if a.cur == r {
		a.cur = nil
	}
	a.mu.Unlock()
	close(r.done)
}

func (a *runtimeAPI) current() *run {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

func (a *runtimeAPI) handleNext(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	r := a.current()
	if r == nil {
		http.Error(w, "no run", http.StatusInternalServerError)
		return
	}
	r.mu.Lock()
	r.nexts++
	first := r.nexts == 1
	r.mu.Unlock()
	if first {
		r.next <- at
	}
	if first && r.event != nil {
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", requestID)
		h.Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(10*time.Second).UnixMilli()))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:bench")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(r.event)
		return
	}
	select { // no event for this process: hold the request, as Lambda does
	case <-r.done:
	case <-req.Context().Done():
	}
	http.Error(w, "the run ended", http.StatusGone)
}

func (a *runtimeAPI) handleAnswer(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r := a.current()
		if r == nil || req.PathValue("id") != requestID {
			http.Error(w, "unknown invocation", http.StatusBadRequest)
			return
		}
		select {
		case r.response <- kind + ": " + string(body):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (a *runtimeAPI) handleInitError(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r := a.current(); r != nil {
		select {
		case r.initErr <- strings.TrimSpace(string(body)):
		default:
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

// awsTrap stands in for every AWS endpoint: the functions run with
// HTTPS_PROXY and HTTP_PROXY pointing here, so that any call their init
// makes to AWS (DynamoDB, SES, Secrets Manager, ...) arrives here, is
// refused, and is counted. (The Runtime API is on loopback, which Go never
// proxies, and aws-lambda-go's client uses no proxy anyway.)
type awsTrap struct {
	addr string
	srv  *http.Server

	mu    sync.Mutex
	calls []string
}

func newAWSTrap() (*awsTrap, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &awsTrap{addr: ln.Addr().String()}
	t.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		t.calls = append(t.calls, r.Method+" "+r.Host+r.URL.Path)
		t.mu.Unlock()
		http.Error(w, "the lambdainit harness refuses every AWS call", http.StatusForbidden)
	})}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

func (t *awsTrap) Close() error { return t.srv.Close() }

// take returns the calls made since the last take.
func (t *awsTrap) take() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.calls
	t.calls = nil
	return c
}

var errTimeout = errors.New("timed out")
