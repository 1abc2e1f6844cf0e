// Package redirect decides which "next" addresses sign-in flows follow:
// only paths on this site, so that a link cannot send someone who signs in
// to another site (an open redirect).
package redirect

import (
	"net/url"
	"strings"
)

// maxLen bounds a next path (the OpenID flow cookie carries it).
const maxLen = 1024

// Local returns next when it is a path on this site ("/flags?x=1"), and
// false for anything a browser or a proxy could take to another host:
// "//host", "/\host", a scheme, control or invisible characters, and paths
// whose decoded form starts with "//" or "/\".
func Local(next string) (string, bool) {
	if next == "" || len(next) > maxLen || next[0] != '/' {
		return "", false
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "", false
	}
	for _, r := range next {
		if r <= ' ' || r == 0x7f || r == '\\' || r == '\u2028' || r == '\u2029' || r == '\ufeff' {
			return "", false
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	if strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/\\") || strings.ContainsRune(u.Path, '\\') {
		return "", false
	}
	return next, true
}
