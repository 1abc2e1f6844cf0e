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
	"net/http/httptest"
	"strings"
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
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return Response(rec), nil
	}
}

// Request builds the http.Request an API Gateway event describes.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
	}
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
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range ev.Headers {
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	if ev.RequestContext.RequestID != "" && req.Header.Get("X-Request-Id") == "" {
		req.Header.Set("X-Request-Id", ev.RequestContext.RequestID)
	}
	req.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	req.Host = req.Header.Get("Host")
	req.RequestURI = target
	req.ContentLength = int64(len(body))
	return req, nil
}

// Response turns a recorded response into the event API Gateway expects.
func Response(rec *httptest.ResponseRecorder) events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: rec.Code, Headers: map[string]string{}}
	for k, vs := range rec.Header() {
		if k == "Set-Cookie" {
			res.Cookies = append(res.Cookies, vs...)
			continue
		}
		res.Headers[k] = strings.Join(vs, ", ")
	}
	b := rec.Body.Bytes()
	if utf8.Valid(b) {
		res.Body = string(b)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(b)
		res.IsBase64Encoded = true
	}
	return res
}
