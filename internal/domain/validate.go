package domain

import (
	"fmt"
	"maps"
	"math"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"encoding/json"
)

// Operator is a condition's comparison.
type Operator string

// Operators, as a user of Amplitude or LaunchDarkly would expect them.
const (
	OpIs          Operator = "is"
	OpIsNot       Operator = "is_not"
	OpContains    Operator = "contains"
	OpNotContains Operator = "not_contains"
	OpStartsWith  Operator = "starts_with"
	OpEndsWith    Operator = "ends_with"
	OpIn          Operator = "in"
	OpNotIn       Operator = "not_in"
	OpGT          Operator = "gt"
	OpGTE         Operator = "gte"
	OpLT          Operator = "lt"
	OpLTE         Operator = "lte"
	OpSemverEq    Operator = "semver_eq"
	OpSemverGT    Operator = "semver_gt"
	OpSemverLT    Operator = "semver_lt"
	OpBefore      Operator = "before"
	OpAfter       Operator = "after"
	OpExists      Operator = "exists"
)

// valueKind says what a condition's values must parse as.
type valueKind int

const (
	kindString valueKind = iota
	kindNumber
	kindSemver
	kindDate
	kindNone
	kindSegment // segment keys (ValidKey); whether they exist is the app's check, against the store
)

var operators = map[Operator]valueKind{
	OpIs: kindString, OpIsNot: kindString, OpContains: kindString, OpNotContains: kindString,
	OpStartsWith: kindString, OpEndsWith: kindString, OpIn: kindString, OpNotIn: kindString,
	OpGT: kindNumber, OpGTE: kindNumber, OpLT: kindNumber, OpLTE: kindNumber,
	OpSemverEq: kindSemver, OpSemverGT: kindSemver, OpSemverLT: kindSemver,
	OpBefore: kindDate, OpAfter: kindDate, OpExists: kindNone,
	OpInSegment: kindSegment, OpNotInSegment: kindSegment,
}

// Operators lists every supported operator, for documentation and errors.
func Operators() []Operator {
	return []Operator{OpIs, OpIsNot, OpContains, OpNotContains, OpStartsWith, OpEndsWith, OpIn, OpNotIn,
		OpGT, OpGTE, OpLT, OpLTE, OpSemverEq, OpSemverGT, OpSemverLT, OpBefore, OpAfter, OpExists, OpInSegment, OpNotInSegment}
}

// The patterns of keys and values. Each is compiled at its first use, not
// at package initialisation: every process links this package, and the
// evaluate function, for one, never validates (docs/benchmarks.md, "Lambda
// binaries and cold start").
var (
	slugRe      = compileLazily(`^[a-z0-9][a-z0-9-]{0,62}$`)
	flagKeyRe   = compileLazily(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	variantRe   = compileLazily(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	attributeRe = compileLazily(`^[A-Za-z_$][A-Za-z0-9_.$-]{0,127}$`)
	decimalRe   = compileLazily(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)
	semverRe    = compileLazily(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$`)
)

// lazyRegexp is a regular expression compiled once, at its first use.
type lazyRegexp func() *regexp.Regexp

func compileLazily(expr string) lazyRegexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// MatchString reports whether s matches the expression.
func (re lazyRegexp) MatchString(s string) bool { return re().MatchString(s) }

// Limits keep single items well under DynamoDB's 400 KB and transactions
// under 100 items.
const (
	MaxEnvironmentsPerProject = 50
	MaxVariants               = 50
	MaxRules                  = 100
	MaxConditionsPerRule      = 50
	MaxValuesPerCondition     = 500
	MaxTags                   = 20
	maxName                   = 200
	maxDescription            = 2000
)

// MaxJSONDepth bounds how deeply the JSON the service takes nests arrays and
// objects: the API refuses a body nested deeper before parsing it for real
// (httpapi.MaxJSONDepth is this), and what a patch builds out of several
// bodies is held to it by validation (MaxVariantValueDepth). The deepest
// document of the API's own shape is a config, five levels; the rest is room
// for variant values.
const MaxJSONDepth = 32

// variantValueNesting is how many arrays and objects enclose a variant's
// value in the deepest body that can carry it: a JSON Patch (the array, an
// operation) replacing a change request's editable part (the object, its
// proposed_flag, the variants, the variant). A flag document encloses it in
// three (the flag, the variants, the variant).
const variantValueNesting = 6

// MaxVariantValueDepth bounds how deeply a variant's value nests (a scalar
// is 0 deep, [1] is 1, {"a":[1]} is 2): 26, so that a stored flag (29 at
// most) and any body that sends a stored flag back, whole or patched, stay
// within MaxJSONDepth. Flag.Validate enforces it, whichever way the value
// was built: one body, several JSON Patch operations, a merge patch, the
// console's form.
const MaxVariantValueDepth = MaxJSONDepth - variantValueNesting

// Slugify makes a key from a human name: "New Checkout Flow" → "new-checkout-flow".
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}

func checkName(v *Validation, ptr, name string, required bool) {
	switch {
	case required && strings.TrimSpace(name) == "":
		v.Add(ptr, "is required")
	case utf8.RuneCountInString(name) > maxName:
		v.Add(ptr, "must be at most %d characters", maxName)
	}
}

func checkDescription(v *Validation, ptr, d string) {
	if utf8.RuneCountInString(d) > maxDescription {
		v.Add(ptr, "must be at most %d characters", maxDescription)
	}
}

// ValidKey reports whether s can be a project or environment key.
func ValidKey(s string) bool { return slugRe.MatchString(s) }

// Validate checks a project.
func (p *Project) Validate() error {
	var v Validation
	if !slugRe.MatchString(p.Key) {
		v.Add("/key", "must be lower-case letters, digits and dashes, starting with a letter or digit, at most 63 characters")
	}
	checkName(&v, "/name", p.Name, true)
	checkDescription(&v, "/description", p.Description)
	return v.Err()
}

// Validate checks an environment.
func (e *Environment) Validate() error {
	var v Validation
	if !slugRe.MatchString(e.Key) {
		v.Add("/key", "must be lower-case letters, digits and dashes, starting with a letter or digit, at most 63 characters")
	}
	checkName(&v, "/name", e.Name, true)
	validateOrigins(&v, e.AllowedOrigins)
	return v.Err()
}

// Validate checks a flag on its own (not against its configs).
func (f *Flag) Validate() error {
	var v Validation
	if !flagKeyRe.MatchString(f.Key) {
		v.Add("/key", "must be letters, digits, '_', '.' or '-', starting with a letter or digit, at most 128 characters")
	}
	checkName(&v, "/name", f.Name, true)
	checkDescription(&v, "/description", f.Description)
	if len(f.Tags) > MaxTags {
		v.Add("/tags", "at most %d tags", MaxTags)
	}
	seenTag := map[string]bool{}
	for i, t := range f.Tags {
		switch {
		case !slugRe.MatchString(t):
			v.Add(fmt.Sprintf("/tags/%d", i), "a tag must be lower-case letters, digits and dashes")
		case seenTag[t]:
			v.Add(fmt.Sprintf("/tags/%d", i), "duplicate tag %q", t)
		}
		seenTag[t] = true
	}
	if f.MaintainerTeam != "" && !ValidKey(f.MaintainerTeam) {
		v.Add("/maintainer_team", "must be a team's key")
	}
	if !attributeRe.MatchString(f.BucketingUnit) {
		v.Add("/bucketing_unit", "must be an attribute name such as user_id")
	}
	if n := utf8.RuneCountInString(f.BucketingSalt); n < 4 || n > 64 {
		v.Add("/bucketing_salt", "must be 4 to 64 characters")
	}
	if f.EvaluationMode != EvaluationRemote && f.EvaluationMode != EvaluationLocal {
		v.Add("/evaluation_mode", "must be %q or %q", EvaluationRemote, EvaluationLocal)
	}
	if len(f.Variants) == 0 {
		v.Add("/variants", "a flag needs at least one variant")
	}
	if len(f.Variants) > MaxVariants {
		v.Add("/variants", "at most %d variants", MaxVariants)
	}
	seen := map[string]bool{}
	for i, vr := range f.Variants {
		ptr := fmt.Sprintf("/variants/%d", i)
		switch {
		case strings.EqualFold(vr.Key, OffVariantKey):
			v.Add(ptr+"/key", "%q is reserved: it names the fallback served to users outside the rollout", OffVariantKey)
		case !variantRe.MatchString(vr.Key):
			v.Add(ptr+"/key", "must be letters, digits, '_', '.' or '-', at most 64 characters")
		case seen[vr.Key]:
			v.Add(ptr+"/key", "duplicate variant key %q", vr.Key)
		}
		seen[vr.Key] = true
		if len(vr.Value) == 0 || !json.Valid(vr.Value) {
			v.Add(ptr+"/value", "is required and must be JSON")
		} else if d := jsonDepth(vr.Value); d > MaxVariantValueDepth {
			v.Add(ptr+"/value", "nests arrays and objects %d deep; a variant's value may nest at most %d deep", d, MaxVariantValueDepth)
		}
		checkName(&v, ptr+"/name", vr.Name, false)
		checkDescription(&v, ptr+"/description", vr.Description)
	}
	return v.Err()
}

// Validate checks a config against the flag it configures.
func (c *FlagConfig) Validate(f *Flag) error {
	var v Validation
	if c.OffVariant != OffVariantKey && !f.HasVariant(c.OffVariant) {
		v.Add("/off_variant", "must be %q (the fallback) or one of the flag's variants", OffVariantKey)
	}
	if utf8.RuneCountInString(c.ExposureEvent) > maxName {
		v.Add("/exposure_event", "must be at most %d characters", maxName)
	}
	if len(c.Rules) > MaxRules {
		v.Add("/rules", "at most %d rules", MaxRules)
	}
	for i, r := range c.Rules {
		ptr := fmt.Sprintf("/rules/%d", i)
		checkName(&v, ptr+"/name", r.Name, false)
		if len(r.Conditions) > MaxConditionsPerRule {
			v.Add(ptr+"/conditions", "at most %d conditions", MaxConditionsPerRule)
		}
		for j, cond := range r.Conditions {
			cond.validate(&v, fmt.Sprintf("%s/conditions/%d", ptr, j))
		}
		r.Allocation.validate(&v, ptr, f)
	}
	c.DefaultRule.validate(&v, "/default_rule", f)
	return v.Err()
}

func (a Allocation) validate(v *Validation, ptr string, f *Flag) {
	if a.Rollout < 0 || a.Rollout > 100 || math.IsNaN(a.Rollout) {
		v.Add(ptr+"/rollout", "must be a percentage from 0 to 100")
	} else if hundredths := a.Rollout * 100; math.Abs(hundredths-math.Round(hundredths)) > 1e-6 {
		v.Add(ptr+"/rollout", "at most two decimals (0.01 %% steps)")
	}
	total := 0
	seen := map[string]bool{}
	for i, w := range a.Weights {
		wp := fmt.Sprintf("%s/weights/%d", ptr, i)
		switch {
		case !f.HasVariant(w.Variant):
			v.Add(wp+"/variant", "%q is not a variant of flag %q", w.Variant, f.Key)
		case seen[w.Variant]:
			v.Add(wp+"/variant", "variant %q appears twice", w.Variant)
		}
		seen[w.Variant] = true
		if w.Weight < 0 || w.Weight > 1_000_000 {
			v.Add(wp+"/weight", "must be an integer from 0 to 1000000")
		}
		total += w.Weight
	}
	if a.Rollout > 0 && total == 0 {
		v.Add(ptr+"/weights", "a rollout above 0 %% needs at least one variant with a positive weight")
	}
}

// validate checks a condition on its own. For in_segment and not_in_segment
// the attribute is the one whose value is looked up in the segments'
// included and excluded keys (targetingKey, user_id, ...), and the values
// are segment keys; whether those segments exist is checked against the
// store, not here.
func (c Condition) validate(v *Validation, ptr string) {
	if !attributeRe.MatchString(c.Attribute) {
		v.Add(ptr+"/attribute", "must be an attribute name such as country or app_version")
	}
	kind, ok := operators[c.Operator]
	if !ok {
		v.Add(ptr+"/operator", "unknown operator %q; one of %v", c.Operator, Operators())
		return
	}
	if kind == kindNone {
		if len(c.Values) != 0 {
			v.Add(ptr+"/values", "operator %q takes no values", c.Operator)
		}
		return
	}
	if len(c.Values) == 0 {
		v.Add(ptr+"/values", "operator %q needs at least one value", c.Operator)
	}
	if len(c.Values) > MaxValuesPerCondition {
		v.Add(ptr+"/values", "at most %d values", MaxValuesPerCondition)
	}
	for i, val := range c.Values {
		vp := fmt.Sprintf("%s/values/%d", ptr, i)
		switch kind {
		case kindNumber:
			// ParseFloat takes "NaN", "Inf" and hex floats too, which no
			// comparison makes sense with: only a finite decimal number
			if n, err := strconv.ParseFloat(val, 64); err != nil || math.IsNaN(n) || math.IsInf(n, 0) || !decimalRe.MatchString(val) {
				v.Add(vp, "operator %q compares numbers: %q is not a finite decimal number like 42 or -1.5", c.Operator, val)
			}
		case kindSemver:
			if !semverRe.MatchString(val) {
				v.Add(vp, "operator %q compares versions: %q is not a semantic version like 1.2.3", c.Operator, val)
			}
		case kindDate:
			if _, err := time.Parse(time.RFC3339, val); err != nil {
				v.Add(vp, "operator %q compares dates: %q is not an RFC 3339 date-time like 2026-01-02T15:04:05Z", c.Operator, val)
			}
		case kindSegment:
			if !ValidKey(val) {
				v.Add(vp, "operator %q names segments: %q is not a segment key (lower-case letters, digits and dashes)", c.Operator, val)
			}
		}
	}
}

// Validate checks a member.
func (m *Member) Validate() error {
	var v Validation
	if a, err := mail.ParseAddress(m.Email); err != nil || a.Address != m.Email {
		v.Add("/email", "must be a plain e-mail address like ada@example.com")
	} else if !isASCII(m.Email) {
		// Addresses are how people sign in; letters that look like others
		// (ſ for s, K for K) would let one member pass for another.
		v.Add("/email", "must be written in ASCII letters (no look-alike letters such as ſ or K)")
	}
	checkName(&v, "/name", m.Name, true)
	if !m.Role.ValidForMember() {
		v.Add("/role", "must be one of admin, manager, editor, viewer, none")
	}
	checkProjectRoles(&v, m.Projects)
	return v.Err()
}

// checkProjectRoles checks a member's project roles (under
// /project_roles).
func checkProjectRoles(v *Validation, roles map[string]Role) {
	if len(roles) > MaxProjectRoles {
		v.Add("/project_roles", "at most %d project roles", MaxProjectRoles)
	}
	for _, p := range slices.Sorted(maps.Keys(roles)) {
		if !ValidKey(p) {
			v.Add("/project_roles/"+p, "%q is not a project key (lower-case letters, digits and dashes)", p)
		} else if !roles[p].ValidForMember() {
			v.Add("/project_roles/"+p, "must be one of admin, manager, editor, viewer, none")
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// EmailKey is the one form in which e-mail addresses are compared: trimmed,
// with ASCII letters in lower case. Only ASCII case is folded: Unicode
// folding (strings.EqualFold, strings.ToLower) makes look-alikes such as
// "ſam" and "sam" equal. Member addresses are ASCII (Member.Validate), so a
// non-ASCII address never matches a member.
func EmailKey(addr string) string {
	b := []byte(strings.TrimSpace(addr))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// SameEmail reports whether a and b are the same address (EmailKey).
func SameEmail(a, b string) bool { return EmailKey(a) == EmailKey(b) }

// jsonDepth is how deeply valid JSON nests arrays and objects: 0 for a
// scalar, 1 for [1] or {}, 2 for [[1]] or {"a":{}}. One pass over the bytes,
// no allocation: validation runs on every flag write, inside the store's
// transaction.
func jsonDepth(b []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte (\" included); \uXXXX's digits are plain
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth--
		}
	}
	return deepest
}
