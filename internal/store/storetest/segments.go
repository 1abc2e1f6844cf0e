package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

func segmentTests() map[string]func(*testing.T, domain.Store) {
	return map[string]func(*testing.T, domain.Store){
		"SegmentLifecycle":               testSegmentLifecycle,
		"SegmentWritesAreAudited":        testSegmentWritesAreAudited,
		"SegmentRulesetVersion":          testSegmentRulesetVersion,
		"SegmentListAndProjects":         testSegmentListAndProjects,
		"SegmentConcurrentUpdates":       testSegmentConcurrentUpdates,
		"SegmentStaleVersionOneWinner":   testSegmentStaleVersionOneWinner,
		"SegmentDeleteRacesConfigWrite":  testSegmentDeleteRacesConfigWrite,
		"WritesNamingAGoneSegment":       testWritesNamingAGoneSegment,
		"SegmentWriteHoldsToItsDecision": testSegmentWriteHoldsToItsDecision,
	}
}

func newSegment(project, key string, included ...string) *domain.Segment {
	if included == nil {
		included = []string{}
	}
	return &domain.Segment{
		Project: project, Key: key, Name: key, Description: "who " + key + " is", Included: included, Excluded: []string{"user-0"},
		Rules:     []domain.SegmentRule{{Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIn, Values: []string{"NL", "BE"}}}}},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func segmentEntry(id string, action domain.AuditAction) domain.AuditEntry {
	return domain.AuditEntry{ID: id, At: t0, Actor: "member:m1", Action: action, Channel: "api", Project: "p"}
}

func rulesetVersion(t *testing.T, s domain.Store, project string) int64 {
	t.Helper()
	v, err := s.RulesetVersion(context.Background(), project)
	must(t, err)
	return v
}

func testSegmentLifecycle(t *testing.T, s domain.Store) {
	ctx := context.Background()
	wantCode(t, s.CreateSegment(ctx, newSegment("p", "beta"), nil), domain.CodeNotFound)
	newProject(t, s, "p")
	seg := newSegment("p", "beta", "user-1", "user-2")
	must(t, s.CreateSegment(ctx, seg, nil))
	if seg.Version != 1 {
		t.Fatalf("a new segment has version 1, got %d", seg.Version)
	}
	wantCode(t, s.CreateSegment(ctx, newSegment("p", "beta"), nil), domain.CodeConflict)

	got, err := s.GetSegment(ctx, "p", "beta")
	must(t, err)
	if got.Version != 1 || got.Name != "beta" || !slices.Equal(got.Included, []string{"user-1", "user-2"}) || !slices.Equal(got.Excluded, []string{"user-0"}) ||
		len(got.Rules) != 1 || got.Rules[0].Conditions[0].Operator != domain.OpIn || !got.CreatedAt.Equal(t0) {
		t.Fatalf("read back %+v", got)
	}
	_, err = s.GetSegment(ctx, "p", "nope")
	wantCode(t, err, domain.CodeNotFound)
	_, err = s.GetSegment(ctx, "nope", "beta")
	wantCode(t, err, domain.CodeNotFound)

	got, err = s.UpdateSegment(ctx, "p", "beta", func(seg *domain.Segment, _ *domain.SegmentWrite) error {
		seg.Included = append(seg.Included, "user-3")
		seg.Rules = []domain.SegmentRule{}
		return nil
	})
	must(t, err)
	if got.Version != 2 || len(got.Included) != 3 || len(got.Rules) != 0 {
		t.Fatalf("after update %+v", got)
	}
	_, err = s.UpdateSegment(ctx, "p", "nope", func(*domain.Segment, *domain.SegmentWrite) error { return nil })
	wantCode(t, err, domain.CodeNotFound)

	// an update function's error aborts the write, and is returned as is
	boom := errors.New("boom")
	if _, err := s.UpdateSegment(ctx, "p", "beta", func(seg *domain.Segment, a *domain.SegmentWrite) error {
		seg.Name = "changed"
		a.Record(segmentEntry("a-aborted", domain.ActionSegmentUpdated))
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("the update function's error: got %v", err)
	}
	if got, _ := s.GetSegment(ctx, "p", "beta"); got.Version != 2 || got.Name != "beta" {
		t.Fatalf("an aborted update wrote: %+v", got)
	}
	if _, err := s.GetOutbox(ctx, "a-aborted"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("an aborted update wrote its outbox item: %v", err)
	}

	// a project is not deleted under its segments
	wantCode(t, s.DeleteProject(ctx, "p", t0, nil), domain.CodeConflict)

	// a check's refusal deletes nothing
	v := rulesetVersion(t, s, "p")
	refused := domain.Errorf(domain.CodeConflict, "in use")
	if err := s.DeleteSegment(ctx, "p", "beta", v, func(*domain.Segment, *domain.Audit) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("the check's refusal: got %v", err)
	}
	wantCode(t, s.DeleteSegment(ctx, "p", "nope", v, func(*domain.Segment, *domain.Audit) error { return nil }), domain.CodeNotFound)
	var checked *domain.Segment
	must(t, s.DeleteSegment(ctx, "p", "beta", v, func(seg *domain.Segment, _ *domain.Audit) error { checked = seg; return nil }))
	if checked == nil || checked.Version != 2 {
		t.Fatalf("the check was given %+v, want the segment as stored", checked)
	}
	_, err = s.GetSegment(ctx, "p", "beta")
	wantCode(t, err, domain.CodeNotFound)
	wantCode(t, s.DeleteSegment(ctx, "p", "beta", rulesetVersion(t, s, "p"), func(*domain.Segment, *domain.Audit) error { return nil }), domain.CodeNotFound)

	// made again under the same key, it starts over
	must(t, s.CreateSegment(ctx, newSegment("p", "beta"), nil))
	if got, _ := s.GetSegment(ctx, "p", "beta"); got.Version != 1 || len(got.Included) != 0 {
		t.Fatalf("made again: %+v", got)
	}
	must(t, s.DeleteSegment(ctx, "p", "beta", rulesetVersion(t, s, "p"), func(*domain.Segment, *domain.Audit) error { return nil }))
	must(t, s.DeleteProject(ctx, "p", t0, nil))
}

// Every segment write carries its audit entries, each with its outbox
// item, in the same write.
func testSegmentWritesAreAudited(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateSegment(ctx, newSegment("p", "beta"), []domain.AuditEntry{segmentEntry("a-created", domain.ActionSegmentCreated)}))
	_, err := s.UpdateSegment(ctx, "p", "beta", func(seg *domain.Segment, a *domain.SegmentWrite) error {
		seg.Description = "changed"
		e := segmentEntry("a-updated", domain.ActionSegmentUpdated)
		e.At = t0.Add(time.Second)
		a.Record(e)
		return nil
	})
	must(t, err)
	must(t, s.DeleteSegment(ctx, "p", "beta", rulesetVersion(t, s, "p"), func(_ *domain.Segment, a *domain.Audit) error {
		e := segmentEntry("a-deleted", domain.ActionSegmentDeleted)
		e.At = t0.Add(2 * time.Second)
		a.Record(e)
		return nil
	}))
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{Project: "p"}, domain.Page{})
	must(t, err)
	var actions []domain.AuditAction
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	want := []domain.AuditAction{domain.ActionSegmentDeleted, domain.ActionSegmentUpdated, domain.ActionSegmentCreated}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit log: %v, want %v", actions, want)
	}
	for _, id := range []string{"a-created", "a-updated", "a-deleted"} {
		if ob, err := s.GetOutbox(ctx, id); err != nil || ob.State != domain.OutboxPending {
			t.Fatalf("outbox item of %s: %+v %v", id, ob, err)
		}
	}
}

// Every segment write moves the project's ruleset version (and no other
// project's), and the ruleset of every environment holds the project's
// segments.
func testSegmentRulesetVersion(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	newProject(t, s, "p2")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	v := rulesetVersion(t, s, "p")
	other := rulesetVersion(t, s, "p2")
	moved := func(what string) {
		t.Helper()
		now := rulesetVersion(t, s, "p")
		if now <= v {
			t.Fatalf("%s did not move the ruleset version (%d, was %d)", what, now, v)
		}
		v = now
		if o := rulesetVersion(t, s, "p2"); o != other {
			t.Fatalf("%s moved another project's ruleset version", what)
		}
	}
	r, err := s.Ruleset(ctx, "p", "production")
	must(t, err)
	if r.Segments == nil || len(r.Segments) != 0 {
		t.Fatalf("a project without segments has an empty list of them: %#v", r.Segments)
	}
	must(t, s.CreateSegment(ctx, newSegment("p", "beta", "user-1"), nil))
	moved("creating a segment")
	must(t, s.CreateSegment(ctx, newSegment("p", "alpha"), nil))
	moved("creating another")
	_, err = s.UpdateSegment(ctx, "p", "beta", func(seg *domain.Segment, _ *domain.SegmentWrite) error {
		seg.Excluded = append(seg.Excluded, "user-9")
		return nil
	})
	must(t, err)
	moved("updating a segment")
	for _, env := range []string{"production", "staging"} {
		r, err := s.Ruleset(ctx, "p", env)
		must(t, err)
		if r.Version != v || len(r.Flags) != 1 || len(r.Segments) != 2 || r.Segments[0].Key != "alpha" || r.Segments[1].Key != "beta" ||
			r.Segments[1].Version != 2 || !slices.Equal(r.Segments[1].Excluded, []string{"user-0", "user-9"}) {
			t.Fatalf("%s ruleset: %+v", env, r)
		}
	}
	if r, err := s.Ruleset(ctx, "p2", "production"); err != nil || len(r.Segments) != 0 {
		t.Fatalf("another project's ruleset: %+v %v", r, err)
	}
	must(t, s.DeleteSegment(ctx, "p", "alpha", v, func(*domain.Segment, *domain.Audit) error { return nil }))
	moved("deleting a segment")
	r, err = s.Ruleset(ctx, "p", "production")
	must(t, err)
	if len(r.Segments) != 1 || r.Segments[0].Key != "beta" {
		t.Fatalf("the ruleset after the delete: %+v", r.Segments)
	}
}

// Segments are listed per project, in key order and in pages; a project
// never reaches another's segments, "p2"'s included (whose keys share the
// prefix "p").
func testSegmentListAndProjects(t *testing.T, s domain.Store) {
	ctx := context.Background()
	_, _, err := s.ListSegments(ctx, "p", domain.Page{})
	wantCode(t, err, domain.CodeNotFound)
	newProject(t, s, "p")
	newProject(t, s, "p2")
	segs, next, err := s.ListSegments(ctx, "p", domain.Page{})
	must(t, err)
	if segs == nil || len(segs) != 0 || next != "" {
		t.Fatalf("no segments: %#v %q", segs, next)
	}
	for _, k := range []string{"e", "c", "a", "d", "b"} {
		must(t, s.CreateSegment(ctx, newSegment("p", k), nil))
	}
	must(t, s.CreateSegment(ctx, newSegment("p2", "a"), nil))
	must(t, s.CreateSegment(ctx, newSegment("p2", "only-p2"), nil))
	var keys []string
	cursor := ""
	pages := 0
	for {
		segs, next, err := s.ListSegments(ctx, "p", domain.Page{Limit: 2, Cursor: cursor})
		must(t, err)
		pages++
		for _, seg := range segs {
			if seg.Project != "p" {
				t.Fatalf("project p lists %s/%s", seg.Project, seg.Key)
			}
			keys = append(keys, seg.Key)
		}
		if next == "" {
			break
		}
		if len(segs) != 2 {
			t.Fatalf("a page with a next cursor is full: %d", len(segs))
		}
		cursor = next
	}
	if fmt.Sprint(keys) != "[a b c d e]" || pages != 3 {
		t.Fatalf("p's segments: %v in %d pages", keys, pages)
	}
	_, err = s.GetSegment(ctx, "p", "only-p2")
	wantCode(t, err, domain.CodeNotFound)
	_, err = s.UpdateSegment(ctx, "p", "only-p2", func(*domain.Segment, *domain.SegmentWrite) error { return nil })
	wantCode(t, err, domain.CodeNotFound)
	wantCode(t, s.DeleteSegment(ctx, "p", "only-p2", rulesetVersion(t, s, "p"), func(*domain.Segment, *domain.Audit) error { return nil }), domain.CodeNotFound)
	segs, _, err = s.ListSegments(ctx, "p2", domain.Page{})
	must(t, err)
	if len(segs) != 2 || segs[0].Project != "p2" || segs[1].Key != "only-p2" {
		t.Fatalf("p2's segments: %+v", segs)
	}
	// the same key in two projects: two segments
	must(t, s.DeleteSegment(ctx, "p2", "a", rulesetVersion(t, s, "p2"), func(*domain.Segment, *domain.Audit) error { return nil }))
	if _, err := s.GetSegment(ctx, "p", "a"); err != nil {
		t.Fatalf("deleting p2's segment a took p's: %v", err)
	}
}

// Concurrent updates of one segment all land: none is lost.
func testSegmentConcurrentUpdates(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateSegment(ctx, newSegment("p", "beta"), nil))
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateSegment(ctx, "p", "beta", func(seg *domain.Segment, _ *domain.SegmentWrite) error {
				seg.Included = append(seg.Included, fmt.Sprintf("user-%d", i))
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	seg, err := s.GetSegment(ctx, "p", "beta")
	must(t, err)
	if len(seg.Included) != n || seg.Version != 1+n {
		t.Fatalf("lost updates: %d included keys (want %d), version %d (want %d)", len(seg.Included), n, seg.Version, 1+n)
	}
}

// Two writers replacing a segment at the version they read (the API's PUT
// with If-Match): one wins, the other is told of the conflict, and what the
// winner wrote is what is stored, whole.
func testSegmentStaleVersionOneWinner(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateSegment(ctx, newSegment("p", "beta"), nil))
	const n = 2
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, results[i] = s.UpdateSegment(ctx, "p", "beta", func(seg *domain.Segment, a *domain.SegmentWrite) error {
				if seg.Version != 1 {
					return domain.StaleVersion("segment", 1, seg.Version)
				}
				seg.Name = fmt.Sprintf("writer %d", i)
				seg.Included = []string{fmt.Sprintf("only-%d", i)}
				e := segmentEntry(fmt.Sprintf("a-writer-%d", i), domain.ActionSegmentUpdated)
				e.At = t0.Add(time.Duration(i) * time.Second)
				a.Record(e)
				return nil
			})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("two writers at version 1 both won")
			}
			winner = i
		case domain.ErrorCode(err) != domain.CodeConflict:
			t.Fatalf("writer %d: want a conflict, got %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer won: %v", results)
	}
	seg, err := s.GetSegment(ctx, "p", "beta")
	must(t, err)
	if seg.Version != 2 || seg.Name != fmt.Sprintf("writer %d", winner) || !slices.Equal(seg.Included, []string{fmt.Sprintf("only-%d", winner)}) {
		t.Fatalf("stored %+v, want writer %d's whole segment", seg, winner)
	}
	for i := range n {
		_, err := s.GetOutbox(ctx, fmt.Sprintf("a-writer-%d", i))
		if i == winner {
			must(t, err)
		} else {
			wantCode(t, err, domain.CodeNotFound)
		}
	}
}

// A delete is told the ruleset version its caller read before it looked at
// the configs; a config write (or any other flag, config or segment write)
// that committed since makes the delete refuse with ErrRulesetMoved and
// write nothing.
func testSegmentDeleteRacesConfigWrite(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	must(t, s.CreateSegment(ctx, newSegment("p", "beta"), nil))
	read := rulesetVersion(t, s, "p")
	// meanwhile a config write starts using the segment
	_, err := s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = true
		c.Rules = []domain.Rule{{Name: "beta", Conditions: []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"beta"}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}}
		return nil
	})
	must(t, err)
	err = s.DeleteSegment(ctx, "p", "beta", read, func(_ *domain.Segment, a *domain.Audit) error {
		a.Record(segmentEntry("a-stale-delete", domain.ActionSegmentDeleted))
		return nil
	})
	if !errors.Is(err, domain.ErrRulesetMoved) || domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("a delete at a stale ruleset version: want ErrRulesetMoved, got %v", err)
	}
	if _, err := s.GetSegment(ctx, "p", "beta"); err != nil {
		t.Fatalf("the refused delete deleted: %v", err)
	}
	if _, err := s.GetOutbox(ctx, "a-stale-delete"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("the refused delete wrote its audit entry: %v", err)
	}
	if v := rulesetVersion(t, s, "p"); v != read+1 {
		t.Fatalf("the refused delete moved the ruleset version: %d, want %d", v, read+1)
	}
	// a version from the future is as stale
	wantCode(t, s.DeleteSegment(ctx, "p", "beta", read+5, func(*domain.Segment, *domain.Audit) error { return nil }), domain.CodeConflict)

	// concurrently: a delete at the version read and config writes racing it;
	// either the delete refuses or it committed before every config write
	// (which then moved the version past the delete's)
	for round := range 8 {
		key := fmt.Sprintf("race-%d", round)
		must(t, s.CreateSegment(ctx, newSegment("p", key), nil))
		read := rulesetVersion(t, s, "p")
		var wg sync.WaitGroup
		var delErr error
		wg.Go(func() {
			delErr = s.DeleteSegment(ctx, "p", key, read, func(*domain.Segment, *domain.Audit) error { return nil })
		})
		wg.Go(func() {
			_, err := s.UpdateFlagConfig(ctx, "p", "f", "staging", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
				c.Enabled = !c.Enabled
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		_, getErr := s.GetSegment(ctx, "p", key)
		switch {
		case delErr == nil && domain.ErrorCode(getErr) == domain.CodeNotFound:
			if v := rulesetVersion(t, s, "p"); v != read+2 {
				t.Fatalf("round %d: the delete and the config write both committed, version %d (want %d)", round, v, read+2)
			}
		case errors.Is(delErr, domain.ErrRulesetMoved) && getErr == nil:
		default:
			t.Fatalf("round %d: delete %v, segment afterwards %v", round, delErr, getErr)
		}
	}
}

// The other half of the delete race: a config write, or an apply, that
// names a segment (ConfigWrite.Segments, ApplyWrite.Requires) deleted since
// the application checked it is refused (domain.ErrSegmentGone) and writes
// nothing; one naming a segment that exists writes.
func testWritesNamingAGoneSegment(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	must(t, s.CreateSegment(ctx, newSegment("p", "beta"), nil))
	must(t, s.CreateSegment(ctx, newSegment("p", "gone"), nil))
	must(t, s.DeleteSegment(ctx, "p", "gone", rulesetVersion(t, s, "p"), func(*domain.Segment, *domain.Audit) error { return nil }))
	naming := func(keys ...string) func(*domain.Flag, *domain.FlagConfig, *domain.ConfigWrite) error {
		return func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
			c.Enabled = true
			w.Segments = keys
			w.Record(segmentEntry(fmt.Sprintf("a-config-%d", len(keys)), domain.ActionTargetingUpdated))
			return nil
		}
	}
	_, err := s.UpdateFlagConfig(ctx, "p", "f", "production", naming("beta", "gone"))
	if !errors.Is(err, domain.ErrSegmentGone("gone")) && (domain.ErrorCode(err) != domain.CodeConflict || !strings.Contains(err.Error(), `"gone"`)) {
		t.Fatalf("a config write naming a deleted segment: want ErrSegmentGone naming it, got %v", err)
	}
	if _, c, _ := s.GetFlagConfig(ctx, "p", "f", "production"); c.Version != 0 {
		t.Fatalf("the refused config write wrote: v%d", c.Version)
	}
	if _, err := s.GetOutbox(ctx, "a-config-2"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("the refused config write wrote its audit entry: %v", err)
	}
	c, err := s.UpdateFlagConfig(ctx, "p", "f", "production", naming("beta"))
	if err != nil || c.Version != 1 {
		t.Fatalf("a config write naming an existing segment: %+v %v", c, err)
	}

	// an apply whose configs name a deleted segment
	cr := newRequest("cr-seg", "staging", t0)
	must(t, s.CreateChangeRequest(ctx, cr, false, nil))
	approve(t, s, "cr-seg")
	apply := func(requires ...string) error {
		_, err := s.ApplyChangeRequest(ctx, "cr-seg", func(cr *domain.ChangeRequest, l *domain.Live, w *domain.ApplyWrite) error {
			c := l.Configs[cr.Changes[0].Target()]
			c.Enabled = true
			w.Configs, w.Requires, w.Applied = []*domain.FlagConfig{c}, requires, true
			return only(cr.MarkApplied(domain.Actor{MemberID: "m3", Role: domain.RoleEditor}, c.Version+1, "api", t0))
		})
		return err
	}
	if err := apply("beta", "gone"); domain.ErrorCode(err) != domain.CodeConflict || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("an apply naming a deleted segment: want a conflict naming it, got %v", err)
	}
	if got, _ := s.GetChangeRequest(ctx, "cr-seg"); got.Status != domain.StatusApproved {
		t.Fatalf("the refused apply wrote the request: %s", got.Status)
	}
	must(t, apply("beta"))
	if _, c, _ := s.GetFlagConfig(ctx, "p", "f", "staging"); c.Version != 1 || !c.Enabled {
		t.Fatalf("the apply naming an existing segment: %+v", c)
	}
}

// A segment write decided on a ruleset version and on settings
// (SegmentWrite) commits only while both are still those: a config write
// in between (which may have started using the segment) or a settings
// change makes it ErrContention, and nothing is written.
func testSegmentWriteHoldsToItsDecision(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	must(t, s.CreateSegment(ctx, newSegment("p", "beta"), nil))
	org, err := s.GetOrgSettings(ctx)
	must(t, err)
	guard := &domain.SettingsGuard{Org: org.Version}
	read := rulesetVersion(t, s, "p")
	_, err = s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = true
		return nil
	})
	must(t, err)
	write := func(v int64, g *domain.SettingsGuard) error {
		_, err := s.UpdateSegment(ctx, "p", "beta", func(seg *domain.Segment, w *domain.SegmentWrite) error {
			seg.Description = fmt.Sprintf("at %d", v)
			w.RulesetVersion, w.Settings = &v, g
			w.Record(segmentEntry(fmt.Sprintf("a-seg-%d", v), domain.ActionSegmentUpdated))
			return nil
		})
		return err
	}
	if err := write(read, guard); !errors.Is(err, domain.ErrContention) {
		t.Fatalf("a segment write at a ruleset version since moved: want contention, got %v", err)
	}
	if seg, _ := s.GetSegment(ctx, "p", "beta"); seg.Version != 1 {
		t.Fatalf("the refused write wrote: v%d", seg.Version)
	}
	if _, err := s.GetOutbox(ctx, fmt.Sprintf("a-seg-%d", read)); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("the refused write wrote its audit entry: %v", err)
	}
	stale := &domain.SettingsGuard{Org: org.Version + 1}
	if err := write(rulesetVersion(t, s, "p"), stale); !errors.Is(err, domain.ErrContention) {
		t.Fatalf("a segment write on settings since changed: want contention, got %v", err)
	}
	now := rulesetVersion(t, s, "p")
	must(t, write(now, guard))
	if seg, _ := s.GetSegment(ctx, "p", "beta"); seg.Version != 2 || seg.Description != fmt.Sprintf("at %d", now) {
		t.Fatalf("the write on what it read: %+v", seg)
	}
	if v := rulesetVersion(t, s, "p"); v != now+1 {
		t.Fatalf("the ruleset version after the segment write: %d, want %d", v, now+1)
	}
}
