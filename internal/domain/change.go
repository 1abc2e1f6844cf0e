package domain

import (
	"fmt"
	"slices"
)

// KindSegment is a change to one of the project's segments.
const KindSegment CRKind = "segment"

// Change is one change a request proposes: the targeting of a flag in one
// environment, a flag's own fields, or a segment. It carries its base, the
// live state it was made on, so that apply can refuse it (and say what
// moved) when the live state moved on, change by change.
type Change struct {
	Kind        CRKind
	Flag        string // targeting and flag-level changes
	Environment string // targeting changes
	Segment     string // segment changes
	// The proposal: the whole new config, flag or segment.
	ProposedConfig  *FlagConfig
	ProposedFlag    *Flag
	ProposedSegment *Segment
	// The base: the live state the proposal was made on and its version. A
	// segment change keeps only the base's version (its keys can be large,
	// and the request is one item).
	BaseConfig  *FlagConfig
	BaseFlag    *Flag
	BaseVersion int64
	// Governance is a change to the rules (KindGovernance), with its base.
	Governance *GovernanceChange
}

// MaxChanges is the most changes a request holds: its apply is one
// DynamoDB transaction of at most 100 items, 2 for the request and the
// ruleset version and up to 6 per change (the live item, the flag's config
// sequence, the environment check, the lock, the audit entry and its
// outbox item): 2 + 6 × 16 = 98 (docs/multi-change-design.md).
const MaxChanges = 16

// ErrTooManyChanges refuses a request's 17th change.
// Its text names MaxChanges as a literal, so that it is laid out by the
// compiler, not formatted at every start (TestLimitMessagesNameTheLimits).
var ErrTooManyChanges = &Error{Code: CodeInvalid, Message: "a request holds at most 16 changes (its apply is one DynamoDB transaction)",
	Fields: []FieldError{{Pointer: "/changes", Detail: "at most 16 changes"}}}

// WriteAction is the audit action of a direct write of what a change of
// this kind changes.
func (k CRKind) WriteAction() AuditAction {
	switch k {
	case KindFlag:
		return ActionFlagUpdated
	case KindSegment:
		return ActionSegmentUpdated
	}
	return ActionTargetingUpdated
}

// Target is where a change lands: its kind and the flag, environment or
// segment it names. Two changes of one request never share a target.
type Target struct {
	Kind        CRKind
	Flag        string
	Environment string
	Segment     string
	Rule        string // a governance change's: what it changes, for people
}

// Target is where c lands.
func (c *Change) Target() Target {
	t := Target{Kind: c.Kind, Flag: c.Flag, Environment: c.Environment, Segment: c.Segment}
	if c.Governance != nil {
		t.Rule = c.Governance.Name()
	}
	return t
}

// String names the target for people: "payment-v2 in production", "flag
// payment-v2", "segment beta".
func (t Target) String() string {
	switch t.Kind {
	case KindTargeting:
		return fmt.Sprintf("%s in %s", t.Flag, t.Environment)
	case KindSegment:
		return "segment " + t.Segment
	case KindGovernance:
		return t.Rule
	}
	return "flag " + t.Flag
}

// Locks reports whether the change takes a pending lock (the flag's
// targeting in its environment, while lock_while_pending holds there).
func (t Target) Locks() bool { return t.Kind == KindTargeting }

// CheckBase refuses the change when the live state is at another version
// than its base, naming the change.
func (c *Change) CheckBase(live int64) *Error {
	if live == c.BaseVersion {
		return nil
	}
	e := ErrBaseChanged(c.BaseVersion, live)
	out := *e
	out.Message = fmt.Sprintf("%s changed since this request was made (request base version %d, live version %d); edit the request onto the current state, then it needs approval again",
		c.Target(), c.BaseVersion, live)
	return &out
}

// Subject sets the request's subject (Flag, Environment, Kind) from its
// first change.
func (cr *ChangeRequest) Subject() {
	if len(cr.Changes) == 0 {
		return
	}
	c := cr.Changes[0]
	cr.Kind, cr.Flag, cr.Environment = c.Kind, c.Flag, c.Environment
}

// Change returns the request's change at t, if any.
func (cr *ChangeRequest) Change(t Target) (*Change, bool) {
	for i := range cr.Changes {
		if cr.Changes[i].Target() == t {
			return &cr.Changes[i], true
		}
	}
	return nil, false
}

// Touches reports whether any change of the request is about flag (with env
// "" any environment) or, for env alone, in env.
func (cr *ChangeRequest) Touches(flag, env string) bool {
	for _, c := range cr.Changes {
		if (flag == "" || c.Flag == flag) && (env == "" || c.Environment == env) {
			return true
		}
	}
	return false
}

// Flags lists the flags the request's changes name, each once.
func (cr *ChangeRequest) Flags() []string {
	var out []string
	for _, c := range cr.Changes {
		if c.Flag != "" && !slices.Contains(out, c.Flag) {
			out = append(out, c.Flag)
		}
	}
	return out
}

// Environments lists the environments the request's targeting changes
// name, each once.
func (cr *ChangeRequest) Environments() []string {
	var out []string
	for _, c := range cr.Changes {
		if c.Environment != "" && !slices.Contains(out, c.Environment) {
			out = append(out, c.Environment)
		}
	}
	return out
}

// LockTargets are the targets whose pending locks the request takes.
func (cr *ChangeRequest) LockTargets() []Target {
	var out []Target
	for _, c := range cr.Changes {
		if t := c.Target(); t.Locks() {
			out = append(out, t)
		}
	}
	return out
}

// Proposed is what the change proposes against its base (nil when it keeps
// no base): the diff people read in mail.
func (c *Change) Proposed() (*Diff, error) {
	switch {
	case c.Kind == KindTargeting && c.BaseConfig != nil && c.ProposedConfig != nil:
		return ConfigDiff(c.BaseConfig, c.ProposedConfig)
	case c.Kind == KindFlag && c.BaseFlag != nil && c.ProposedFlag != nil:
		return FlagDiff(c.BaseFlag, c.ProposedFlag)
	case c.Kind == KindGovernance && c.Governance != nil:
		_, base := c.Governance.pair()
		return c.Governance.Diff(base)
	}
	return nil, nil
}

// Summary is what the request's changes propose, line by line, each line
// naming its change's target when there are several.
func (cr *ChangeRequest) Summary() []string {
	var out []string
	for i := range cr.Changes {
		d, err := cr.Changes[i].Proposed()
		if err != nil || d == nil {
			continue
		}
		for _, line := range d.Summary {
			if len(cr.Changes) > 1 {
				line = cr.Changes[i].Target().String() + ": " + line
			}
			out = append(out, line)
		}
	}
	return out
}
