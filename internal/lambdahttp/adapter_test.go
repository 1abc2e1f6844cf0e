package lambdahttp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// The targets requestURL reads itself, and those it leaves to url.Parse.
var targetSeeds = []string{
	"/", "/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/new-checkout", "/v1/projects/shop/flags?limit=5&cursor=abc",
	"/v1/x?", "/a/b;c=d/@me:1!$&'()*+,=~", "/a%2Fb", "/caf%C3%A9", "/café", "/a b", "/a?b c", "/a?b#c", "/a#b",
	"//evil.example/x", "/a?\x7f", "/a\x00", "/a?q=%zz", "/%zz", "*", "", "a/b", "/a/../b", "/./a", "/a\\b", "/a\"b",
	"/a|b", "/a^b", "/a`b", "/a{b}", "/a[b]", "/a<b>", "/a?x=[1]&y={2}",
}

func sameURL(t *testing.T, target string) {
	t.Helper()
	want, wantErr := url.Parse(target)
	got, err := new(exchange).requestURL(target)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("requestURL(%q): error %v, url.Parse says %v", target, err, wantErr)
	}
	if err != nil {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("requestURL(%q) = %#v, url.Parse gives %#v", target, *got, *want)
	}
}

func TestRequestURLIsURLParse(t *testing.T) {
	for _, target := range targetSeeds {
		sameURL(t, target)
	}
	for c := range 256 { // every byte in a path and in a query
		sameURL(t, "/a"+string(rune(c))+"b")
		sameURL(t, "/a"+string([]byte{byte(c)})+"b")
		sameURL(t, "/a?b"+string([]byte{byte(c)})+"c")
	}
}

func FuzzRequestURL(f *testing.F) {
	for _, s := range targetSeeds {
		f.Add(s)
	}
	f.Fuzz(sameURL)
}

// headerNames are the names API Gateway sends lower-case, the usual ones
// that canonicalKey answers from its switch and some it does not.
var headerNames = []string{
	"accept", "accept-encoding", "accept-language", "authorization", "cache-control", "content-encoding",
	"content-length", "content-type", "cookie", "host", "if-match", "if-none-match", "if-modified-since",
	"origin", "referer", "user-agent", "via", "x-amz-date", "x-amzn-trace-id", "x-api-key", "x-forwarded-for",
	"x-forwarded-port", "x-forwarded-proto", "x-request-id", "sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site",
	"access-control-request-method", "access-control-request-headers", "x-change-request", "dnt", "x-a_b", "a b", "",
}

func TestCanonicalKeyIsTextprotos(t *testing.T) {
	for _, k := range headerNames {
		if got, want := canonicalKey(k), textproto.CanonicalMIMEHeaderKey(k); got != want {
			t.Errorf("canonicalKey(%q) = %q, textproto says %q", k, got, want)
		}
	}
}

func FuzzCanonicalKey(f *testing.F) {
	for _, k := range headerNames {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if got, want := canonicalKey(k), textproto.CanonicalMIMEHeaderKey(k); got != want {
			t.Fatalf("canonicalKey(%q) = %q, textproto says %q", k, got, want)
		}
	})
}

func TestValidMethodIsNewRequests(t *testing.T) {
	// "" is GET to http.NewRequest; an event without a method is refused
	if validMethod("") {
		t.Error(`validMethod("") = true`)
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND", "get", "M-SEARCH", "GE T", "GET\n", "GÉT", "A(B", "A/B", "A:B"} {
		_, err := http.NewRequest(m, "/", nil)
		if got, want := validMethod(m), err == nil; got != want {
			t.Errorf("validMethod(%q) = %v, http.NewRequest says %v (%v)", m, got, want, err)
		}
	}
}

// readEvent reads a sample event of events/.
func readEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestRequestIsNewRequests: the request built for each sample event is
// what http.NewRequestWithContext builds of its method, target, headers
// and body.
func TestRequestIsNewRequests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "apigw-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "invocation")
	for _, f := range files {
		ev := readEvent(t, filepath.Base(f))
		ev.Cookies = []string{"a=1", "b=2"}
		got, err := Request(ctx, ev)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		target := ev.RawPath
		if ev.RawQueryString != "" {
			target += "?" + ev.RawQueryString
		}
		body := ev.Body
		if ev.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(ev.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = string(b)
		}
		want, err := http.NewRequestWithContext(ctx, ev.RequestContext.HTTP.Method, target, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		want.Header = http.Header{}
		for k, v := range ev.Headers {
			want.Header.Set(k, v)
		}
		want.Header.Set("Cookie", "a=1; b=2")
		if want.Header.Get("X-Request-Id") == "" && ev.RequestContext.RequestID != "" {
			want.Header.Set("X-Request-Id", ev.RequestContext.RequestID)
		}
		want.Host, want.RemoteAddr, want.RequestURI = want.Header.Get("Host"), ev.RequestContext.HTTP.SourceIP, target
		want.GetBody = nil
		switch {
		case got.Method != want.Method, *got.URL != *want.URL, got.Proto != want.Proto, got.ProtoMajor != want.ProtoMajor,
			got.ProtoMinor != want.ProtoMinor, got.Host != want.Host, got.RemoteAddr != want.RemoteAddr,
			got.RequestURI != want.RequestURI, got.ContentLength != want.ContentLength:
			t.Errorf("%s: request\n%+v\nwant\n%+v", f, got, want)
		case !reflect.DeepEqual(got.Header, want.Header):
			t.Errorf("%s: header %v, want %v", f, got.Header, want.Header)
		case got.Context().Value(ctxKey{}) != "invocation":
			t.Errorf("%s: the request does not carry the invocation's context", f)
		}
		gotBody, _ := io.ReadAll(got.Body)
		if string(gotBody) != body {
			t.Errorf("%s: body %q, want %q", f, gotBody, body)
		}
	}
}

// TestEventsDoNotInheritEachOthersRequest: the adapter reuses what it
// builds requests of; an event sees its own headers, URL and body only,
// never those of the event before.
func TestEventsDoNotInheritEachOthersRequest(t *testing.T) {
	type seen struct {
		Header http.Header
		URL    string
		Body   string
	}
	var got seen
	maps := map[uintptr]bool{} // the header maps the events came with
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Header.Clone(), r.URL.String(), string(b)}
		maps[reflect.ValueOf(r.Header).Pointer()] = true
		r.Header.Set("X-Added-By-Handler", "1")
		w.Header().Set("X-Seen", r.URL.Path)
	}))
	first := readEvent(t, "apigw-update-targeting.json")
	first.Cookies = []string{"session=abc"}
	second := readEvent(t, "apigw-healthz.json")
	ctx := context.Background()
	const rounds = 50
	for range rounds {
		if _, err := h(ctx, first); err != nil {
			t.Fatal(err)
		}
		if got.Body == "" || got.Header.Get("Cookie") != "session=abc" {
			t.Fatalf("first event: %+v", got)
		}
		res, err := h(ctx, second)
		if err != nil {
			t.Fatal(err)
		}
		want := http.Header{}
		for k, v := range second.Headers {
			want.Set(k, v)
		}
		if second.RequestContext.RequestID != "" && want.Get("X-Request-Id") == "" {
			want.Set("X-Request-Id", second.RequestContext.RequestID)
		}
		if !reflect.DeepEqual(got.Header, want) || got.Body != second.Body || got.URL != second.RawPath {
			t.Fatalf("second event saw %+v\nwant header %v, body %q, URL %q", got, want, second.Body, second.RawPath)
		}
		if res.Headers["X-Seen"] != second.RawPath {
			t.Fatalf("second answer %v", res.Headers)
		}
	}
	// the maps were reused (so the checks above saw reuse): 100 events
	// one after another take them from the pool, which drops some of what
	// it is given only under the race detector and a garbage collection
	if len(maps) > rounds {
		t.Fatalf("%d header maps for %d events: the adapter does not reuse them", len(maps), 2*rounds)
	}
}

// A named stage's prefix is taken off the path, whole segments only.
func TestStageIsTakenOffThePath(t *testing.T) {
	for _, c := range []struct{ stage, raw, want string }{
		{"prod", "/prod/v1/projects", "/v1/projects"},
		{"prod", "/prod", "/"},
		{"prod", "/products/x", "/products/x"},
		{"prod", "/v1/prod", "/v1/prod"},
		{"$default", "/$default/x", "/$default/x"},
		{"", "/x", "/x"},
	} {
		ev := readEvent(t, "apigw-healthz.json")
		ev.RequestContext.Stage, ev.RawPath = c.stage, c.raw
		r, err := Request(context.Background(), ev)
		if err != nil || r.URL.Path != c.want {
			t.Errorf("stage %q, path %q: %v %v, want %q", c.stage, c.raw, r.URL, err, c.want)
		}
	}
}

// A nil context is refused, as http.NewRequestWithContext refuses it.
func TestNilContextRefused(t *testing.T) {
	if _, err := Request(nil, readEvent(t, "apigw-healthz.json")); err == nil {
		t.Fatal("no error")
	}
}

// TestMalformedEventsAnswer400: an event that names no method, an invalid
// one, or a body that is not base64 while it says so gets 400, not a
// panic or a request.
func TestMalformedEventsAnswer400(t *testing.T) {
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the handler ran for %s %s", r.Method, r.URL)
	}))
	for name, mutate := range map[string]func(*events.APIGatewayV2HTTPRequest){
		"no method":      func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.HTTP.Method = "" },
		"invalid method": func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.HTTP.Method = "GE T" },
		"bad base64":     func(ev *events.APIGatewayV2HTTPRequest) { ev.IsBase64Encoded, ev.Body = true, "%%%" },
		"control char":   func(ev *events.APIGatewayV2HTTPRequest) { ev.RawPath = "/a\x00b" },
	} {
		ev := readEvent(t, "apigw-create-flag.json")
		mutate(&ev)
		res, err := h(context.Background(), ev)
		if err != nil || res.StatusCode != http.StatusBadRequest || !strings.Contains(res.Body, `"code":"malformed"`) {
			t.Errorf("%s: %d %v %s", name, res.StatusCode, err, res.Body)
		}
	}
}
