package pathmux_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/countersign/countersign/internal/pathmux"
)

// prefixMux is what internal/httpapi had in front of its router: a
// ServeMux of "/v1/" and "/".
func prefixMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("v1")) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("root")) })
	return mux
}

// prefixServer is what it has now: RedirectAsServeMux, then the prefix.
func prefixServer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pathmux.RedirectAsServeMux(w, r, "/v1/") {
			return
		}
		if pathmux.InSubtree(r.URL.EscapedPath(), "/v1/") {
			_, _ = w.Write([]byte("v1"))
			return
		}
		_, _ = w.Write([]byte("root"))
	})
}

var cleanSeeds = []string{
	"/", "", "*", "/v1", "/v1/", "/v1/flags", "/v1/../x", "/v1/./flags/", "/a/./b", "/a/../../b", "//a", "/a//b/", "/.",
	"/..", "/./", "/a/b/..", "/a/b/../", "/a%2F..%2Fb", "/a%2f../b", "/v1%2F../x", "/caf%C3%A9/../x", "/a?x=1", "/a/../b?x=1&y=%2F",
	"/a/..?", "/v1//projects", "/x/%2e%2e/y", "/a b/../c", "a/b", "/v1?q", "/v1/..",
	"/%761", "/%761/x", "/%76%31/", "/%76%31", "/%2Fv1/x", "/v%31/", "/v1%2F", "/v1%2Fx", "/%zz/x", "/v1/%zz",
}

func sameAnswer(t *testing.T, method, target string) {
	t.Helper()
	u, err := url.ParseRequestURI(target)
	if target == "*" {
		u, err = &url.URL{Path: "*"}, nil
	}
	if target == "" {
		u, err = &url.URL{}, nil
	}
	if err != nil {
		return
	}
	mk := func() *http.Request {
		return &http.Request{Method: method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Host: "countersign.example"}
	}
	want, got := httptest.NewRecorder(), httptest.NewRecorder()
	prefixMux().ServeHTTP(want, mk())
	prefixServer().ServeHTTP(got, mk())
	if got.Code != want.Code || got.Body.String() != want.Body.String() ||
		got.Header().Get("Location") != want.Header().Get("Location") || got.Header().Get("Connection") != want.Header().Get("Connection") {
		t.Fatalf("%s %q: got %d %v %q, ServeMux %d %v %q", method, target, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
	}
}

// Whatever the path, RedirectAsServeMux and a prefix answer what a ServeMux
// of "/v1/" and "/" answers: the same redirects (status, Location, body),
// the same 400, the same handler.
func TestRedirectAsServeMuxIsServeMuxs(t *testing.T) {
	for _, method := range []string{"GET", "HEAD", "POST", "DELETE", "CONNECT", "OPTIONS"} {
		for _, target := range cleanSeeds {
			sameAnswer(t, method, target)
		}
	}
}

func FuzzRedirectAsServeMux(f *testing.F) {
	for _, s := range cleanSeeds {
		f.Add(false, s)
		f.Add(true, s)
	}
	f.Fuzz(func(t *testing.T, connect bool, target string) {
		method := "GET"
		if connect {
			method = "CONNECT"
		}
		sameAnswer(t, method, target)
	})
}
