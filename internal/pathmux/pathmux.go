// Package pathmux routes a request by its path among patterns of literal
// segments and {name} wildcards, each matching one whole segment ("/{$}"
// matching "/" alone), and sets the wildcards' path values and the
// request's Pattern: what http.ServeMux does with such patterns, for the
// paths a ServeMux hands on (cleaned, redirected where ServeMux
// redirects). As in ServeMux, a literal segment is preferred to a
// wildcard at the same place, a wildcard matches no empty last segment
// (no trailing slash), and a path matching no pattern goes to Other.
//
// It exists for cold starts: ServeMux checks each registration against
// the others and records its caller (runtime.Caller), which was most of
// the api and console functions' work before their first event
// (docs/benchmarks.md, "Lambda binaries and cold start"). Tests compare
// its choices with ServeMux's over the api's and the console's patterns.
package pathmux

import (
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Router is a set of patterns and their handlers. The zero value is
// empty; Add patterns before serving.
type Router struct {
	routes []route
	shapes map[string]string // a pattern with its wildcards unnamed → the pattern
	// Other serves a path no pattern matches.
	Other http.Handler
}

type route struct {
	pattern string
	segs    []string // a literal segment, or a wildcard's name in braces
	h       http.Handler
}

// Add routes pattern to h. It panics, as ServeMux does, on a pattern that
// matches exactly the paths of one added before.
func (rt *Router) Add(pattern string, h http.Handler) {
	segs := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	if pattern == "/{$}" {
		segs = nil
	}
	var shape strings.Builder
	for _, s := range segs {
		if isWildcard(s) {
			s = "{}"
		}
		shape.WriteString("/" + s)
	}
	if prev, ok := rt.shapes[shape.String()]; ok {
		panic("pathmux: patterns " + prev + " and " + pattern + " match the same paths")
	}
	if rt.shapes == nil {
		rt.shapes = map[string]string{}
	}
	rt.shapes[shape.String()] = pattern
	rt.routes = append(rt.routes, route{pattern: pattern, segs: segs, h: h})
}

// Grow makes room for n more patterns, so that adding a route table costs
// no reallocation.
func (rt *Router) Grow(n int) {
	rt.routes = slices.Grow(rt.routes, n)
	if rt.shapes == nil {
		rt.shapes = make(map[string]string, n)
	}
}

func isWildcard(seg string) bool { return strings.HasPrefix(seg, "{") }

// Match is the pattern of the route of an (escaped) path, "" when none
// has it.
func (rt *Router) Match(escapedPath string) string {
	if r, _ := rt.match(escapedPath); r != nil {
		return r.pattern
	}
	return ""
}

// match is the route of the (escaped) path and the wildcards' names and
// values, or nil.
func (rt *Router) match(escapedPath string) (*route, []string) {
	var segs []string
	if escapedPath != "/" {
		segs = strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
		for i, seg := range segs {
			if u, err := url.PathUnescape(seg); err == nil {
				segs[i] = u
			}
		}
	}
	var best *route
	for i := range rt.routes {
		r := &rt.routes[i]
		if len(r.segs) != len(segs) {
			continue
		}
		ok := true
		for j, seg := range r.segs {
			last := j == len(segs)-1
			if isWildcard(seg) && !(last && segs[j] == "") || seg == segs[j] {
				continue
			}
			ok = false
			break
		}
		if ok && (best == nil || moreSpecific(r.segs, best.segs)) {
			best = r
		}
	}
	if best == nil {
		return nil, nil
	}
	var values []string
	for j, seg := range best.segs {
		if isWildcard(seg) {
			values = append(values, seg[1:len(seg)-1], segs[j])
		}
	}
	return best, values
}

// moreSpecific tells whether a has a literal segment where b, matching
// the same path, has its first wildcard of the two.
func moreSpecific(a, b []string) bool {
	for j := range a {
		if wa, wb := isWildcard(a[j]), isWildcard(b[j]); wa != wb {
			return wb
		}
	}
	return false
}

// Serve serves r with the handler of its path's route, and reports
// whether one had it (false: nothing was written).
func (rt *Router) Serve(w http.ResponseWriter, r *http.Request) bool {
	route, values := rt.match(r.URL.EscapedPath())
	if route == nil {
		return false
	}
	r.Pattern = route.pattern
	for i := 0; i < len(values); i += 2 {
		r.SetPathValue(values[i], values[i+1])
	}
	route.h.ServeHTTP(w, r)
	return true
}

// ServeHTTP serves r with the handler of its path's route, or Other.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !rt.Serve(w, r) {
		rt.Other.ServeHTTP(w, r)
	}
}

// RedirectAsServeMux answers what an http.ServeMux holding "/" and the
// subtrees given ("/v1/": patterns of literal segments ending in a slash)
// answers before it picks one of them, and reports whether it did: 400 to
// a request for "*"; a 307 from a subtree's path without its trailing
// slash to the subtree; 404 to a CONNECT whose path is not rooted; and,
// for any other method, a 307 from an
// escaped path that is not clean (a "." or ".." segment, a double slash)
// to the clean path, its trailing slash kept. After it, the request goes
// where its escaped path's prefix says, as the ServeMux would send it
// (TestRedirectAsServeMuxIsServeMuxs), without the ServeMux: registering
// its patterns (a runtime.Caller each) was a tenth of a millisecond of the
// api and console functions' cold starts.
func RedirectAsServeMux(w http.ResponseWriter, r *http.Request, subtrees ...string) bool {
	if r.RequestURI == "*" {
		if r.ProtoAtLeast(1, 1) {
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(http.StatusBadRequest)
		return true
	}
	escaped := r.URL.EscapedPath()
	p := escaped
	if r.Method != http.MethodConnect {
		p = cleanPath(escaped)
	} else if !strings.HasPrefix(p, "/") { // CONNECT's path is taken as it is: no pattern has it
		http.NotFound(w, r)
		return true
	}
	if !strings.HasSuffix(p, "/") && slices.ContainsFunc(subtrees, func(t string) bool { return subtree(p, t) == atRoot }) {
		u := &url.URL{Path: cleanPath(r.URL.Path) + "/", RawQuery: r.URL.RawQuery}
		http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
		return true
	}
	if p != escaped {
		u := &url.URL{Path: p, RawQuery: r.URL.RawQuery}
		http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
		return true
	}
	return false
}

// InSubtree says whether an escaped path is under tree ("/v1/": literal
// segments ending in a slash), its segments unescaped as ServeMux reads
// them ("/%761/x" is under "/v1/").
func InSubtree(escapedPath, tree string) bool {
	return subtree(escapedPath, tree) == under
}

// Where a path is, for a subtree.
const (
	outside = iota
	atRoot  // the subtree's path without its trailing slash
	under   // the subtree's path or below
)

func subtree(escapedPath, tree string) int {
	rest := escapedPath
	for _, lit := range strings.Split(strings.Trim(tree, "/"), "/") {
		seg, ok := strings.CutPrefix(rest, "/")
		if !ok {
			return outside
		}
		i := strings.IndexByte(seg, '/')
		if i < 0 {
			i = len(seg)
		}
		if u, err := url.PathUnescape(seg[:i]); err != nil && seg[:i] != lit || err == nil && u != lit {
			return outside
		}
		rest = seg[i:]
	}
	if rest == "" {
		return atRoot
	}
	return under
}

// cleanPath is p with "." and ".." segments and double slashes resolved,
// rooted, its trailing slash kept: what ServeMux redirects to.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}
