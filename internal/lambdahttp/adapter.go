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
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Handler adapts h to a Lambda handler for API Gateway HTTP API events.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		req, err := Request(ctx, ev)
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
	raw := ev.Body
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
		raw = string(b)
	}
	body := &bodyReader{}
	body.Reset(raw)
	path := ev.RawPath
	if st := ev.RequestContext.Stage; st != "" && st != "$default" {
		path = strings.TrimPrefix(path, "/"+st)
	}
	if path == "" {
		path = "/"
	}
	target := path
	if ev.RawQueryString != "" {
		target += "?" + ev.RawQueryString
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		return nil, fmt.Errorf("event has no requestContext.http.method")
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	// API Gateway sends one value per (lower-case) header name: one map
	// sized for them and one backing array for the values instead of a
	// Header.Set, and its slice, per header.
	h := make(http.Header, len(ev.Headers)+2)
	vals := make([]string, 0, len(ev.Headers))
	for k, v := range ev.Headers {
		vals = append(vals, v)
		h[canonicalKey(k)] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	req.Header = h
	if len(ev.Cookies) > 0 {
		h.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	if ev.RequestContext.RequestID != "" && h.Get("X-Request-Id") == "" {
		h.Set("X-Request-Id", ev.RequestContext.RequestID)
	}
	req.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	req.Host = h.Get("Host")
	req.RequestURI = target
	req.ContentLength = int64(len(raw))
	return req, nil
}

// bodyReader is a request body: a reader of the event's body that needs no
// wrapping to be closed (an io.ReadCloser, so http.NewRequest keeps it as
// it is and leaves GetBody, a client's concern, nil).
type bodyReader struct{ strings.Reader }

func (*bodyReader) Close() error { return nil }

// canonicalKeys maps the lower-case names API Gateway sends of the usual
// headers to their canonical form, what textproto.CanonicalMIMEHeaderKey
// gives, without its work; other names are canonicalised as they come.
var canonicalKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control", "Content-Encoding",
		"Content-Length", "Content-Type", "Cookie", "Host", "If-Match", "If-None-Match", "If-Modified-Since",
		"Origin", "Referer", "User-Agent", "Via", "X-Amz-Date", "X-Amzn-Trace-Id", "X-Api-Key", "X-Forwarded-For",
		"X-Forwarded-Port", "X-Forwarded-Proto", "X-Request-Id", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
	} {
		m[strings.ToLower(k)] = textproto.CanonicalMIMEHeaderKey(k)
	}
	return m
}()

func canonicalKey(k string) string {
	if c, ok := canonicalKeys[k]; ok {
		return c
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
