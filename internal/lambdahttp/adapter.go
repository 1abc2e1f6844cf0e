// Package lambdahttp serves an http.Handler to API Gateway HTTP API events
// (payload format 2.0), so Lambda and the local runtime run the same handler.
//
// awslabs/aws-lambda-go-api-proxy does this too, but its single module pulls
// in gin, echo, fiber, iris and more; this is the part we need.
package lambdahttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Handler adapts h to a Lambda handler for API Gateway HTTP API events.
//
// The adapter reuses what it builds a request of (header map, URL, body
// reader) and records the response in (status, header map, buffer) for a
// later event, through pools (each event in flight has its own): h must
// keep nothing of the request or the writer after it returns, as net/http
// asks of the writer. No handler of this module does (the console's
// background reads take the request's context and principal, not the
// request); TestEventsDoNotInheritEachOthersRequest checks the reuse.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		x := exchanges.Get().(*exchange)
		defer x.release()
		req, err := x.request(ctx, ev)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{
				StatusCode: http.StatusBadRequest,
				Headers:    map[string]string{"Content-Type": "application/problem+json"},
				Body:       `{"type":"https://countersign.dev/problems/malformed","title":"Bad Request","status":400,"code":"malformed","detail":"the request could not be read"}`,
			}, nil
		}
		rec := recorders.Get().(*recorder)
		rec.reset()
		h.ServeHTTP(rec, req)
		res := response(rec.code, rec.header, rec.body.Bytes())
		if rec.body.Cap() <= 64<<10 { // keep big buffers out of the pool
			recorders.Put(rec)
		}
		return res, nil
	}
}

// Request builds the http.Request an API Gateway event describes.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	return new(exchange).request(ctx, ev)
}

// exchange is what a request is built of, kept for the next event.
type exchange struct {
	url    url.URL
	header http.Header
	vals   []string
	body   bodyReader
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// release puts x back for the next event, unless the event was unusually
// large.
func (x *exchange) release() {
	if len(x.header) > 64 {
		return
	}
	clear(x.header)
	clear(x.vals)
	x.vals = x.vals[:0]
	x.url = url.URL{}
	x.body.Reset("")
	exchanges.Put(x)
}

func (x *exchange) request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	if ctx == nil {
		return nil, errors.New("nil context")
	}
	raw := ev.Body
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
		raw = string(b)
	}
	x.body.Reset(raw)
	path := ev.RawPath
	// a named stage's path begins with it (/prod/v1/…); the routes do not
	if st := ev.RequestContext.Stage; st != "" && st != "$default" {
		if rest, ok := strings.CutPrefix(path, "/"+st); ok && (rest == "" || rest[0] == '/') {
			path = rest
		}
	}
	if path == "" {
		path = "/"
	}
	target := path
	if ev.RawQueryString != "" {
		target += "?" + ev.RawQueryString
	}
	method := ev.RequestContext.HTTP.Method
	if !validMethod(method) {
		return nil, fmt.Errorf("event has no valid requestContext.http.method: %q", method)
	}
	u, err := x.requestURL(target)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	// API Gateway sends one value per (lower-case) header name: one map
	// and one backing array for the values instead of a Header.Set, and
	// its slice, per header.
	if x.header == nil {
		x.header = make(http.Header, len(ev.Headers)+2)
	}
	h := x.header
	add := func(k, v string) {
		x.vals = append(x.vals, v)
		h[k] = x.vals[len(x.vals)-1 : len(x.vals) : len(x.vals)]
	}
	for k, v := range ev.Headers {
		add(canonicalKey(k), v)
	}
	if len(ev.Cookies) > 0 {
		add("Cookie", strings.Join(ev.Cookies, "; "))
	}
	if id := ev.RequestContext.RequestID; id != "" && first(h, "X-Request-Id") == "" {
		add("X-Request-Id", id)
	}
	// what http.NewRequestWithContext would build from method and target,
	// without parsing a URL that needs none (requestURL)
	req := &http.Request{
		Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: &x.body, ContentLength: int64(len(raw)),
		Host: first(h, "Host"), RemoteAddr: ev.RequestContext.HTTP.SourceIP, RequestURI: target,
	}
	return req.WithContext(ctx), nil
}

// first is h.Get(key) of a canonical key, without canonicalising it again.
func first(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// validMethod says whether m is an HTTP method token (RFC 9110, 9.1), as
// http.NewRequest checks it.
func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodHead:
		return true
	case "":
		return false
	}
	for i := 0; i < len(m); i++ {
		if !tokenByte(m[i]) {
			return false
		}
	}
	return true
}

func tokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// requestURL is url.Parse(target) for a request target API Gateway sends.
// A path of plain characters (nothing escaped, nothing to escape) and a
// query without control characters or a fragment are taken as they are,
// which is what url.Parse makes of them (TestRequestURLIsURLParse); any
// other target goes through url.Parse.
func (x *exchange) requestURL(target string) (*url.URL, error) {
	path, query, hasQuery := strings.Cut(target, "?")
	if len(path) == 0 || path[0] != '/' || strings.HasPrefix(path, "//") {
		return url.Parse(target)
	}
	for i := 0; i < len(path); i++ {
		if !plainPath[path[i]] {
			return url.Parse(target)
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c < 0x20 || c == 0x7f || c == '#' {
			return url.Parse(target)
		}
	}
	x.url = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	return &x.url, nil
}

// plainPath says which bytes stand for themselves in a URL path: letters,
// digits and those of "-._~$&+,;=:@/", which url.URL.EscapedPath leaves
// as they are (it escapes the other sub-delimiters of RFC 3986, 3.3).
var plainPath = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~$&+,;=:@/", byte(c)) >= 0
	}
	return t
}()

// bodyReader is a request body: a reader of the event's body that needs no
// wrapping to be closed (an io.ReadCloser, as the body of a request made
// by http.NewRequest would be; GetBody, a client's concern, stays nil).
type bodyReader struct{ strings.Reader }

func (*bodyReader) Close() error { return nil }

// canonicalKey is textproto.CanonicalMIMEHeaderKey(k). The lower-case
// names API Gateway sends of the usual headers are answered from a switch,
// without its work (TestCanonicalKeyIsTextprotos).
func canonicalKey(k string) string {
	switch k {
	case "accept":
		return "Accept"
	case "accept-encoding":
		return "Accept-Encoding"
	case "accept-language":
		return "Accept-Language"
	case "authorization":
		return "Authorization"
	case "cache-control":
		return "Cache-Control"
	case "content-encoding":
		return "Content-Encoding"
	case "content-length":
		return "Content-Length"
	case "content-type":
		return "Content-Type"
	case "cookie":
		return "Cookie"
	case "host":
		return "Host"
	case "if-match":
		return "If-Match"
	case "if-none-match":
		return "If-None-Match"
	case "if-modified-since":
		return "If-Modified-Since"
	case "origin":
		return "Origin"
	case "referer":
		return "Referer"
	case "user-agent":
		return "User-Agent"
	case "via":
		return "Via"
	case "x-amz-date":
		return "X-Amz-Date"
	case "x-amzn-trace-id":
		return "X-Amzn-Trace-Id"
	case "x-api-key":
		return "X-Api-Key"
	case "x-forwarded-for":
		return "X-Forwarded-For"
	case "x-forwarded-port":
		return "X-Forwarded-Port"
	case "x-forwarded-proto":
		return "X-Forwarded-Proto"
	case "x-request-id":
		return "X-Request-Id"
	case "sec-fetch-dest":
		return "Sec-Fetch-Dest"
	case "sec-fetch-mode":
		return "Sec-Fetch-Mode"
	case "sec-fetch-site":
		return "Sec-Fetch-Site"
	case "access-control-request-method":
		return "Access-Control-Request-Method"
	case "access-control-request-headers":
		return "Access-Control-Request-Headers"
	}
	return textproto.CanonicalMIMEHeaderKey(k)
}

// response turns a recorded response into the event API Gateway expects.
func response(code int, header http.Header, b []byte) events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: code, Headers: make(map[string]string, len(header))}
	for k, vs := range header {
		if k == "Set-Cookie" {
			res.Cookies = append(res.Cookies, vs...)
			continue
		}
		res.Headers[k] = strings.Join(vs, ", ")
	}
	if utf8.Valid(b) {
		res.Body = string(b)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(b)
		res.IsBase64Encoded = true
	}
	return res
}

// recorder is the part of httptest.ResponseRecorder the adapter needs, the
// same behaviour (status 200 unless written, Content-Type sniffed from the
// first write when unset, the live header map, no body for 1xx, 204 and
// 304), reused through a pool: a Lambda instance answers one request after
// another, and the buffers and header map need not be garbage each time.
type recorder struct {
	code        int
	header      http.Header
	body        bytes.Buffer
	wroteHeader bool
}

var recorders = sync.Pool{New: func() any { return &recorder{header: make(http.Header)} }}

func (rw *recorder) reset() {
	rw.code = http.StatusOK
	rw.wroteHeader = false
	rw.body.Reset()
	clear(rw.header)
}

func (rw *recorder) Header() http.Header { return rw.header }

func (rw *recorder) WriteHeader(code int) {
	if rw.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	rw.code = code
	rw.wroteHeader = true
}

func (rw *recorder) writeHeader(b []byte, s string) {
	if rw.wroteHeader {
		return
	}
	_, hasType := rw.header["Content-Type"]
	if !hasType && rw.header.Get("Transfer-Encoding") == "" {
		if b == nil {
			if len(s) > 512 {
				s = s[:512]
			}
			b = []byte(s)
		}
		rw.header.Set("Content-Type", http.DetectContentType(b))
	}
	rw.WriteHeader(http.StatusOK)
}

func (rw *recorder) Write(b []byte) (int, error) {
	rw.writeHeader(b, "")
	rw.body.Write(b)
	if !bodyAllowed(rw.code) {
		return 0, http.ErrBodyNotAllowed
	}
	return len(b), nil
}

func (rw *recorder) WriteString(s string) (int, error) {
	rw.writeHeader(nil, s)
	rw.body.WriteString(s)
	if !bodyAllowed(rw.code) {
		return 0, http.ErrBodyNotAllowed
	}
	return len(s), nil
}

// Flush implements http.Flusher, as the recorder did: the whole response
// goes out at the end anyway.
func (rw *recorder) Flush() {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199 || status == http.StatusNoContent || status == http.StatusNotModified)
}
