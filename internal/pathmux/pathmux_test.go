package pathmux_test

import (
	"net/http"
	"net/http/httptest"
	pathpkg "path"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/console"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/pathmux"
)

// For every path, the router picks the pattern ServeMux picks among the
// same patterns, and ServeMux takes the patterns without a conflict: the
// JSON API's and the pages' patterns (httpapi), and the console's.
func TestRouterPicksServeMuxsPattern(t *testing.T) {
	var api []string
	for _, rt := range httpapi.New(nil, nil).Routes() {
		api = append(api, rt.Pattern)
	}
	cons := []string{"/assets/{name}"}
	for _, rt := range console.New(nil, nil, nil).Routes() {
		cons = append(cons, rt.Pattern)
	}
	// literal and wildcard segments competing, each order of adding them
	synthetic := []string{"/x/{a}", "/x/new", "/x/{a}/{b}", "/x/new/{b}", "/{$}", "/y/{a}/c", "/y/{a}/{b}"}
	reversed := slices.Clone(synthetic)
	slices.Reverse(reversed)
	for name, patterns := range map[string][]string{"httpapi": api, "console": cons, "synthetic": synthetic, "reversed": reversed} {
		t.Run(name, func(t *testing.T) { comparePicks(t, patterns) })
	}
}

func comparePicks(t *testing.T, all []string) {
	mux := http.NewServeMux()
	var rt pathmux.Router
	seen := map[string]bool{}
	var patterns []string
	for _, p := range all {
		if !seen[p] {
			seen[p] = true
			patterns = append(patterns, p)
			mux.Handle(p, http.NotFoundHandler()) // panics on a conflict
			rt.Add(p, http.NotFoundHandler())
		}
	}
	mux.Handle("/", http.NotFoundHandler())

	// paths: each pattern with its wildcards filled in several ways, with
	// a trailing slash, with a segment more or less
	fills := []string{"x", "new", "a%2Fb", "%7Bid%7D", "projects", "caf%C3%A9", "x.y", "flags", "z", "c"}
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
	paths = append(paths, "/", "/nothing", "/assets", "/assets/", "/assets/a/b", "/members//invite", "/v1/projects", "/requests/x/../y", "/v1/", "/v1/nothing")
	tried := 0
	for _, path := range paths {
		clean := pathpkg.Clean(path)
		if strings.HasSuffix(path, "/") && clean != "/" {
			clean += "/"
		}
		if path != clean {
			continue // the ServeMux in front redirects to the clean path before the router sees it
		}
		tried++
		r := httptest.NewRequest(http.MethodGet, "http://flags.example.com"+path, nil)
		_, want := mux.Handler(r)
		if want == "/" {
			want = ""
		}
		if got := rt.Match(r.URL.EscapedPath()); got != want {
			t.Errorf("%s: the router picks %q, ServeMux %q", path, got, want)
		}
	}
	if tried < 20*len(patterns) {
		t.Fatalf("only %d paths tried", tried)
	}
}

// A route's wildcards become the request's path values, and its pattern
// the request's Pattern; a path no route has goes to Other.
func TestRouterSetsPathValues(t *testing.T) {
	var rt pathmux.Router
	var got []string
	rt.Add("/v1/projects/{project}/flags/{flag}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Pattern, r.PathValue("project"), r.PathValue("flag"))
	}))
	rt.Other = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = append(got, "other") })
	rt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/projects/shop/flags/a%2Fb", nil))
	rt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/projects/shop/flags/", nil))
	want := []string{"/v1/projects/{project}/flags/{flag}", "shop", "a/b", "other"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Two patterns matching the same paths are refused, as ServeMux refuses
// them.
func TestRouterRefusesPatternsOfTheSamePaths(t *testing.T) {
	var rt pathmux.Router
	rt.Add("/v1/flags/{flag}", http.NotFoundHandler())
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	rt.Add("/v1/flags/{key}", http.NotFoundHandler())
}
