package eval

import (
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// parseVersion and compare agree with golang.org/x/mod/semver (given a "v"
// prefix, as the first implementation added) on validity and order.
func TestVersionMatchesXModSemver(t *testing.T) {
	versions := []string{
		"", "v", "1", "1.2", "1.2.3", "v1.2.3", "vv1.2.3", "01.2.3", "1.02.3", "1.2.03", "1.2.3.4", "1.2.", "1..3", "a.b.c",
		"0.0.0", "0.0.1", "1.10.0", "1.9.0", "10.0.0", "2.0.0", "1.2.3-beta", "1.2.3-beta.2", "1.2.3-beta.11", "1.2.3-alpha",
		"1.2.3-alpha.1", "1.2.3-alpha.beta", "1.2.3-rc.1", "1.2.3-0", "1.2.3-00", "1.2.3-01", "1.2.3-1.0", "1.2.3-", "1.2.3-a..b",
		"1.2.3+build", "1.2.3+build.5", "1.2.3-rc.1+build", "1.2.3+", "1.2.3+a..b", "1.2.3+b@d", "1.2.3-x_y", "1.4.2", "v1.4.2",
		"1.2.3-alpha-1", "1.2.3-alpha.-", "99999999999999999999.0.0", "1.2.3 ", " 1.2.3",
	}
	for _, a := range versions {
		va, okA := parseVersion(a)
		ca := a
		if !strings.HasPrefix(ca, "v") {
			ca = "v" + ca
		}
		if want := semver.IsValid(ca); okA != want {
			t.Errorf("parseVersion(%q) ok = %v, x/mod says %v", a, okA, want)
			continue
		}
		if !okA {
			continue
		}
		for _, b := range versions {
			vb, okB := parseVersion(b)
			if !okB {
				continue
			}
			cb := b
			if !strings.HasPrefix(cb, "v") {
				cb = "v" + cb
			}
			if got, want := va.compare(&vb), semver.Compare(ca, cb); got != want {
				t.Errorf("compare(%q, %q) = %d, x/mod says %d", a, b, got, want)
			}
		}
	}
}
