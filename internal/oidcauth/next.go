package oidcauth

import (
	"net/url"
	"strings"
)

// SafeNext returns next when it is a same-origin relative path ("/x",
// "/v1/session?x=1"), and "/" otherwise: no scheme ("https:", "javascript:"),
// no host ("//evil.example"), no backslash (browsers read "/\evil.example"
// as "//evil.example"), no control character or space (browsers drop tabs and
// newlines, so "/\t/evil.example" is "//evil.example" to them), nothing
// longer than 1 KiB.
func SafeNext(next string) string {
	if next == "" || len(next) > maxNextLen || next[0] != '/' {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	for _, r := range next {
		if r <= ' ' || r == 0x7f || r == '\\' || r == '\u2028' || r == '\u2029' || r == '\ufeff' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	// A path whose decoded form starts with "//" stays a path in the
	// Location header, but some proxies decode it: refuse that too.
	if strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/\\") {
		return "/"
	}
	return next
}
