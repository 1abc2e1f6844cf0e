package evaluate

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/eval"
)

// Sticky bucketing (issue 6): when it is on for a flag in an environment, a
// unit (the bucketing unit attribute's value, or the targeting key) keeps
// the variant it was first served, even when the weights, the rollout or the
// rules change later. Decisions:
//
//   - The first variant a unit is served by an allocation (a rule or the
//     default rule) is stored; being outside a rollout (the off variant) is
//     not, so raising a rollout still takes such users in.
//   - A stored variant is served before targeting is looked at (as
//     Amplitude's sticky bucketing does), except that a disabled flag serves
//     its off variant to everyone: the kill switch wins.
//   - A stored variant the flag no longer has is replaced by what the user
//     gets now.
//   - Assignments belong to an epoch, the flag's bucketing salt and creation
//     time: changing the salt (which needs approval) or re-creating the flag
//     starts them over. Turning sticky bucketing off and on again keeps them.
//   - Answers served from an assignment carry metadata {"sticky": true}; when
//     the assignment differs from what targeting gives now, the reason is
//     TARGETING_MATCH (the assignment is the targeting that matched).
//   - When the store cannot be read or written, the evaluation answers what
//     targeting gives now (logged): evaluation does not fail for it.
//
// Cost per evaluation of a sticky flag: none when this instance has already
// seen the unit's assignment (assignments are written once, so instances
// cache them, up to maxCachedAssignments); otherwise one eventually
// consistent read (on DynamoDB half a read unit), plus, the first time a unit
// is served, one conditional write (one write unit), plus one strongly
// consistent read when another instance assigned the unit in the meantime.
// A unit outside the rollout with nothing stored is remembered as such for
// the ruleset version and at most one refresh interval (an instance still on
// an older ruleset may assign it meanwhile): one read per unit, instance and
// interval. A bulk evaluation reads once per sticky flag it misses.

// maxCachedAssignments bounds the assignments an evaluator remembers, and
// apart from them the units it knows to be outside the rollout; a cache is
// emptied when it is full.
const maxCachedAssignments = 100_000

// AssignmentStore keeps sticky bucketing assignments (domain.AssignmentRepository).
type AssignmentStore interface {
	Assignment(ctx context.Context, k domain.AssignmentKey) (string, error)
	Assign(ctx context.Context, k domain.AssignmentKey, variant, replacing string) (string, error)
}

// epoch is what starts a flag's assignments over: its salt and creation time.
func epoch(f *domain.Flag) string {
	return f.BucketingSalt + "@" + strconv.FormatInt(f.CreatedAt.UnixNano(), 10)
}

// stick applies sticky bucketing to res, what flag key of rs gives c now.
// It says whether the answer comes from an assignment. On a store error it
// returns res and the error.
func (e *Evaluator) stick(ctx context.Context, rs *Compiled, key string, f *eval.Flag, c *eval.Context, res eval.Result) (eval.Result, bool, error) {
	if !f.Sticky() || res.Reason == eval.ReasonDisabled {
		return res, false, nil
	}
	unit, ok := f.Unit(c)
	if !ok {
		return res, false, nil
	}
	// the unit shares memory with the request body: a cached key must not
	// keep the body alive
	k := domain.AssignmentKey{Project: rs.Project, Environment: rs.Environment, Flag: key, Epoch: rs.epochs[key], Unit: strings.Clone(unit)}
	now := e.clock.Now()
	e.mu.Lock()
	seen, hit := e.assigned[k]
	if !hit {
		seen, hit = e.outside[k]
	}
	e.mu.Unlock()
	stored := seen.variant
	if hit && stored == "" && res.Off && seen.version == rs.Version && now.Before(seen.until) {
		return res, false, nil // outside the rollout, nothing stored: checked lately
	}
	if stored == "" {
		var err error
		if stored, err = e.store.Assignment(ctx, k); err != nil {
			return res, false, err
		}
	}
	replacing := ""
	if stored != "" {
		if r, ok := f.Variant(stored); ok {
			e.remember(k, assignment{variant: stored})
			return served(r, res), true, nil
		}
		replacing = stored // the flag no longer has it
	}
	if res.Off {
		if replacing == "" {
			e.remember(k, assignment{version: rs.Version, until: now.Add(e.refresh)})
		}
		return res, false, nil // outside the rollout: nothing to keep
	}
	winner, err := e.store.Assign(ctx, k, res.Variant, replacing)
	if err != nil {
		return res, false, err
	}
	e.remember(k, assignment{variant: winner})
	if r, ok := f.Variant(winner); ok {
		return served(r, res), true, nil
	}
	return res, false, nil // assigned by an instance with a newer ruleset: serve ours until we refresh
}

// served is the answer for the stored variant r when targeting now gives res.
func served(r, res eval.Result) eval.Result {
	if r.Variant == res.Variant && !res.Off {
		return res
	}
	r.Reason = eval.ReasonTargetingMatch
	return r
}

// assignment is what an evaluator remembers of a unit: its stored variant,
// or (variant "") that nothing was stored when it was outside the rollout of
// ruleset version, until a time.
type assignment struct {
	variant string
	version int64
	until   time.Time
}

// remember caches what was learnt of a unit. Stored assignments and units
// outside the rollout are cached apart, each bounded, so that many units
// outside a small rollout never push assignments out; an "outside" entry
// never replaces an assignment learnt meanwhile.
func (e *Evaluator) remember(k domain.AssignmentKey, a assignment) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a.variant == "" {
		if _, ok := e.assigned[k]; !ok {
			putBounded(e.outside, k, a, maxCachedAssignments)
		}
		return
	}
	delete(e.outside, k)
	putBounded(e.assigned, k, a, maxCachedAssignments)
}
