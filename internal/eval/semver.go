package eval

// version is a parsed semantic version: the parts are substrings of the
// text parsed, so parsing allocates nothing. The grammar and the ordering
// are those of golang.org/x/mod/semver (which the first implementation
// called after prefixing "v"), with the "v" optional: "1.2.3", "v1.2.3",
// and the shorthands "1" and "1.2" (= 1.0.0, 1.2.0); build metadata is
// ignored. semver_test.go checks both agree.
type version struct {
	major, minor, patch, prerelease string
}

// parseVersion parses s, with or without a leading "v".
func parseVersion(s string) (v version, ok bool) {
	if s != "" && s[0] == 'v' {
		s = s[1:]
	}
	v.major, s, ok = parseNumber(s)
	if !ok {
		return
	}
	if s == "" {
		v.minor, v.patch = "0", "0"
		return
	}
	if s[0] != '.' {
		return v, false
	}
	v.minor, s, ok = parseNumber(s[1:])
	if !ok {
		return
	}
	if s == "" {
		v.patch = "0"
		return
	}
	if s[0] != '.' {
		return v, false
	}
	v.patch, s, ok = parseNumber(s[1:])
	if !ok {
		return
	}
	if s != "" && s[0] == '-' {
		v.prerelease, s, ok = parsePrerelease(s)
		if !ok {
			return
		}
	}
	if s != "" && s[0] == '+' {
		if !validBuild(s) {
			return v, false
		}
		s = ""
	}
	return v, s == ""
}

func parseNumber(s string) (t, rest string, ok bool) {
	if s == "" || s[0] < '0' || '9' < s[0] {
		return
	}
	i := 1
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if s[0] == '0' && i != 1 {
		return
	}
	return s[:i], s[i:], true
}

// parsePrerelease reads "-ident(.ident)*" up to a "+" or the end.
func parsePrerelease(s string) (t, rest string, ok bool) {
	i, start := 1, 1
	for i < len(s) && s[i] != '+' {
		if !isIdentChar(s[i]) && s[i] != '.' {
			return
		}
		if s[i] == '.' {
			if start == i || isBadNum(s[start:i]) {
				return
			}
			start = i + 1
		}
		i++
	}
	if start == i || isBadNum(s[start:i]) {
		return
	}
	return s[:i], s[i:], true
}

// validBuild says whether s is "+ident(.ident)*".
func validBuild(s string) bool {
	i, start := 1, 1
	for i < len(s) {
		if !isIdentChar(s[i]) && s[i] != '.' {
			return false
		}
		if s[i] == '.' {
			if start == i {
				return false
			}
			start = i + 1
		}
		i++
	}
	return start != i
}

func isIdentChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
}

func isBadNum(s string) bool {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i == len(s) && i > 1 && s[0] == '0'
}

func isNum(s string) bool {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i == len(s)
}

// compare is -1, 0 or +1 as v is lower than, equal to or higher than w.
func (v *version) compare(w *version) int {
	if c := compareDecimal(v.major, w.major); c != 0 {
		return c
	}
	if c := compareDecimal(v.minor, w.minor); c != 0 {
		return c
	}
	if c := compareDecimal(v.patch, w.patch); c != 0 {
		return c
	}
	return comparePrerelease(v.prerelease, w.prerelease)
}

func compareDecimal(x, y string) int {
	switch {
	case x == y:
		return 0
	case len(x) != len(y):
		if len(x) < len(y) {
			return -1
		}
		return +1
	case x < y:
		return -1
	}
	return +1
}

// comparePrerelease orders "-a.b.c" identifiers as semver 2.0.0 says: no
// prerelease is higher than any; numeric identifiers compare numerically
// and below alphanumeric ones; a longer list wins when all before are equal.
func comparePrerelease(x, y string) int {
	if x == y {
		return 0
	}
	if x == "" {
		return +1
	}
	if y == "" {
		return -1
	}
	for x != "" && y != "" {
		x, y = x[1:], y[1:] // skip - or .
		var dx, dy string
		dx, x = nextIdent(x)
		dy, y = nextIdent(y)
		if dx != dy {
			ix, iy := isNum(dx), isNum(dy)
			if ix != iy {
				if ix {
					return -1
				}
				return +1
			}
			if ix {
				if c := compareDecimal(dx, dy); c != 0 {
					return c
				}
			}
			if dx < dy {
				return -1
			}
			return +1
		}
	}
	if x == "" {
		return -1
	}
	return +1
}

func nextIdent(s string) (ident, rest string) {
	i := 0
	for i < len(s) && s[i] != '.' {
		i++
	}
	return s[:i], s[i:]
}
