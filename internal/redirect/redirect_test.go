package redirect_test

import (
	"testing"

	"github.com/countersign/countersign/internal/redirect"
)

func TestLocal(t *testing.T) {
	for next, ok := range map[string]bool{
		"/": true, "/v1/session": true, "/flags?tag=a&x=%2F": true, "/a/b#c": true,
		"": false, "flags": false, "//evil.example": false, "/\\evil.example": false, "/%5Cevil.example": false,
		"/%2F%2Fevil.example": false, "/%2f/evil.example": false, "https://evil.example/": false, "javascript:alert(1)": false,
		"/\tevil": false, "/a\nb": false, "/a b": false, "/\u2028": false, "\\\\evil.example": false,
	} {
		got, gotOK := redirect.Local(next)
		if gotOK != ok || (ok && got != next) {
			t.Errorf("Local(%q) = %q, %v; want accepted %v", next, got, gotOK, ok)
		}
	}
}
