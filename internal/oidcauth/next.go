package oidcauth

import "github.com/countersign/countersign/internal/redirect"

// SafeNext returns next when it is a same-origin relative path ("/x",
// "/v1/session?x=1"), and "/" otherwise: no scheme ("https:", "javascript:"),
// no host ("//evil.example"), no backslash (browsers read "/\evil.example"
// as "//evil.example"), no control character or space (browsers drop tabs and
// newlines, so "/\t/evil.example" is "//evil.example" to them), nothing
// longer than 1 KiB.
func SafeNext(next string) string {
	if local, ok := redirect.Local(next); ok {
		return local
	}
	return "/"
}
