package main

import (
	"net/http"
	"net/http/httptest"
	pathpkg "path"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/console"
)

// The console routes its pages with a router of its own rather than a
// ServeMux (docs/benchmarks.md, "Fourth round"): for every path, it picks
// the pattern ServeMux picks among the same patterns, and ServeMux takes
// the patterns without a conflict.
func TestConsoleRouterPicksServeMuxsPattern(t *testing.T) {
	c := console.New(nil, nil, nil)
	mux := http.NewServeMux()
	seen := map[string]bool{}
	patterns := []string{"/assets/{name}"}
	for _, rt := range c.Routes() {
		if !seen[rt.Pattern] {
			seen[rt.Pattern] = true
			patterns = append(patterns, rt.Pattern)
		}
	}
	for _, p := range patterns {
		mux.Handle(p, http.NotFoundHandler()) // panics on a conflict
	}
	mux.Handle("/", http.NotFoundHandler())

	// paths: each pattern with its wildcards filled in several ways, with
	// a trailing slash, with a segment more or less
	fills := []string{"x", "new", "a%2Fb", "%7Bid%7D", "projects", "caf%C3%A9", "x.y"}
	var paths []string
	for _, p := range patterns {
		for _, f := range fills {
			filled := p
			for strings.Contains(filled, "{") && !strings.Contains(filled, "{$}") {
				i, j := strings.Index(filled, "{"), strings.Index(filled, "}")
				filled = filled[:i] + f + filled[j+1:]
			}
			filled = strings.ReplaceAll(filled, "{$}", "")
			paths = append(paths, filled, filled+"/", filled+"/more", strings.TrimSuffix(filled[:strings.LastIndex(filled, "/")+1], "/"))
		}
	}
	paths = append(paths, "/", "/nothing", "/assets", "/assets/", "/assets/a/b", "/members//invite", "/v1/projects", "/requests/x/../y")
	for _, path := range paths {
		clean := pathpkg.Clean(path)
		if strings.HasSuffix(path, "/") && clean != "/" {
			clean += "/"
		}
		if path != clean {
			continue // httpapi's ServeMux redirects to the clean path before the console sees it
		}
		r := httptest.NewRequest(http.MethodGet, "http://flags.example.com"+path, nil)
		_, want := mux.Handler(r)
		if want == "/" {
			want = ""
		}
		if got := c.Match(r.URL.EscapedPath()); got != want {
			t.Errorf("%s: the console's router picks %q, ServeMux %q", path, got, want)
		}
	}
	if len(paths) < 500 {
		t.Fatalf("only %d paths tried", len(paths))
	}
}
