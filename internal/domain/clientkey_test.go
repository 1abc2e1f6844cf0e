package domain_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// An allowed origin is an origin exactly as browsers send it; anything a
// browser would never send, or that would match more than one site, is
// refused with the reason.
func TestCheckOrigin(t *testing.T) {
	for _, ok := range []string{"https://shop.example.com", "http://localhost:5173", "https://shop.example.com:8443", "http://127.0.0.1:8080",
		"https://xn--bcher-kva.example", "http://[::1]:3000"} {
		if why := domain.CheckOrigin(ok); why != "" {
			t.Errorf("%q refused: %s", ok, why)
		}
	}
	for _, bad := range []string{"", "null", "*", "shop.example.com", "https://shop.example.com/", "https://shop.example.com/app", "https://shop.example.com?x=1",
		"https://shop.example.com#x", "https://user@shop.example.com", "HTTPS://shop.example.com", "https://Shop.Example.com", "https://shop.example.com:443",
		"http://shop.example.com:80", "ftp://shop.example.com", "https://*.example.com", "javascript:alert(1)", "https://", "file:///tmp/x"} {
		if domain.CheckOrigin(bad) == "" {
			t.Errorf("%q accepted", bad)
		}
	}
}

// "*" only alone, no duplicates, at most MaxAllowedOrigins: each problem at
// its index.
func TestAllowedOriginsValidation(t *testing.T) {
	env := func(origins ...string) error {
		e := &domain.Environment{Project: "p", Key: "production", Name: "Production", AllowedOrigins: origins}
		return e.Validate()
	}
	if err := env("*"); err != nil {
		t.Fatalf(`"*" alone: %v`, err)
	}
	if err := env("https://a.example", "http://localhost:5173"); err != nil {
		t.Fatal(err)
	}
	pointers := func(err error) []string {
		var de *domain.Error
		if !errors.As(err, &de) {
			return nil
		}
		var out []string
		for _, f := range de.Fields {
			out = append(out, f.Pointer)
		}
		return out
	}
	if got := pointers(env("https://a.example", "*", "https://a.example")); !slices.Equal(got, []string{"/allowed_origins/1", "/allowed_origins/2"}) {
		t.Fatalf(`"*" among others and a duplicate: %v`, got)
	}
	many := make([]string, domain.MaxAllowedOrigins+1)
	for i := range many {
		many[i] = "https://a" + string(rune('a'+i)) + ".example"
	}
	if got := pointers(env(many...)); !slices.Equal(got, []string{"/allowed_origins"}) {
		t.Fatalf("too many: %v", got)
	}
}

// "null" is never allowed, "*" allows every other origin, and the match is
// exact.
func TestOriginAllowedBy(t *testing.T) {
	allowed := []string{"https://shop.example.com"}
	for origin, want := range map[string]bool{"https://shop.example.com": true, "https://shop.example.com.evil.test": false, "null": false, "": false,
		"http://shop.example.com": false, "https://shop.example.com:443": false, "https://SHOP.example.com": false} {
		if got := domain.OriginAllowedBy(allowed, origin); got != want {
			t.Errorf("%q: %v, want %v", origin, got, want)
		}
	}
	if !domain.OriginAllowedBy([]string{"*"}, "https://anything.test") || domain.OriginAllowedBy([]string{"*"}, "null") {
		t.Error(`"*"`)
	}
	added, removed := domain.OriginChanges([]string{"a", "b"}, []string{"b", "c", "c"})
	if !slices.Equal(added, []string{"c"}) || !slices.Equal(removed, []string{"a"}) {
		t.Errorf("changes: +%v -%v", added, removed)
	}
}

// Exposing a flag always shows; hiding one shows where it serves something.
func TestExposureChangeShows(t *testing.T) {
	hidden, exposed := &domain.Flag{}, &domain.Flag{ClientExposed: true}
	off := &domain.FlagConfig{OffVariant: domain.OffVariantKey}
	on := &domain.FlagConfig{Enabled: true, OffVariant: domain.OffVariantKey}
	offServing := &domain.FlagConfig{OffVariant: "control"}
	switch {
	case !hidden.ExposureChangeShows(exposed, off):
		t.Error("exposing a flag that serves nothing")
	case exposed.ExposureChangeShows(hidden, off):
		t.Error("hiding a flag that serves nothing")
	case !exposed.ExposureChangeShows(hidden, on), !exposed.ExposureChangeShows(hidden, offServing):
		t.Error("hiding a served flag")
	case exposed.ExposureChangeShows(exposed, on):
		t.Error("no change")
	}
}
