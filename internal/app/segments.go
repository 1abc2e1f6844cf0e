package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/countersign/countersign/internal/domain"
)

// Segments are a project's reusable audiences (domain.Segment): targeting
// rules name them with in_segment / not_in_segment. Who may write flags
// (editors) may write segments; everyone who may read flags may read them.

// SegmentInput is what a client sends to create a segment. The key is made
// from the name when not given.
type SegmentInput struct {
	Key         string
	Name        string
	Description string
	Included    []string
	Excluded    []string
	Rules       []domain.SegmentRule
}

// SegmentUse is one place a segment is used: the stored targeting of Flag
// in Environment names it.
type SegmentUse struct {
	Flag        string
	Environment string
}

// CreateSegment creates a segment.
func (s *Service) CreateSegment(ctx context.Context, p *Principal, project string, in SegmentInput) (*domain.Segment, error) {
	if err := p.requireIn(project, domain.RoleEditor, "creating a segment"); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	seg := &domain.Segment{
		Project: project, Key: in.Key, Name: in.Name, Description: in.Description,
		Included: in.Included, Excluded: in.Excluded, Rules: in.Rules, CreatedAt: now, UpdatedAt: now,
	}
	if seg.Key == "" {
		seg.Key = domain.Slugify(in.Name)
		if seg.Key == "" && in.Name != "" {
			var v domain.Validation
			v.Add("/key", "cannot make a key from the name %q; give a key", in.Name)
			return nil, v.Err()
		}
	}
	fillSegment(seg)
	if err := seg.Validate(); err != nil {
		return nil, err
	}
	e := s.audit(p.Actor(), domain.ActionSegmentCreated, p.channel())
	e.Project, e.Segment, e.Version = project, seg.Key, 1
	e.Diff = &domain.Diff{Operations: json.RawMessage(`[]`), Summary: []string{fmt.Sprintf("segment %q created: %s", seg.Key, segmentSize(seg))}}
	if err := s.store.CreateSegment(ctx, seg, []domain.AuditEntry{e}); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "segment created", "project", project, "segment", seg.Key, "actor", p.Actor())
	return seg, nil
}

// GetSegment reads a segment.
func (s *Service) GetSegment(ctx context.Context, p *Principal, project, key string) (*domain.Segment, error) {
	if err := p.requireIn(project, domain.RoleViewer, "reading segments"); err != nil {
		return nil, err
	}
	return s.store.GetSegment(ctx, project, key)
}

// ListSegments lists a project's segments, in key order.
func (s *Service) ListSegments(ctx context.Context, p *Principal, project string, page domain.Page) ([]domain.Segment, string, error) {
	if err := p.requireIn(project, domain.RoleViewer, "reading segments"); err != nil {
		return nil, "", err
	}
	return s.store.ListSegments(ctx, project, page)
}

// UpdateSegment applies change to a segment (a whole replacement or a
// patch, as the caller's change does it), at the version the client read
// when expected is set (a stale one is 409). The key and the project cannot
// change. Where the targeting of gated environments uses the segment, the
// change opens a change request instead, under the strictest policy of
// those environments (the caller answers 202), unless a bypass skips them
// all; with opts.Draft it goes into that draft.
func (s *Service) UpdateSegment(ctx context.Context, p *Principal, project, key string, expected *int64, opts ChangeOptions, change func(*domain.Segment) error) (Outcome[domain.Segment], error) {
	if err := p.requireIn(project, domain.RoleEditor, "changing a segment"); err != nil {
		return Outcome[domain.Segment]{}, err
	}
	return decideAgain(func() (Outcome[domain.Segment], error) {
		return s.updateSegment(ctx, p, project, key, expected, opts, change)
	})
}

// updateSegment is one decision of UpdateSegment and its write, on a fresh
// read of the segment.
func (s *Service) updateSegment(ctx context.Context, p *Principal, project, key string, expected *int64, opts ChangeOptions, change func(*domain.Segment) error) (Outcome[domain.Segment], error) {
	var out Outcome[domain.Segment]
	cur, err := s.store.GetSegment(ctx, project, key)
	if err != nil {
		return out, err
	}
	if err := checkVersion("segment", expected, cur.Version); err != nil {
		return out, err
	}
	next := cloneSegment(cur)
	if err := change(next); err != nil {
		return out, err
	}
	if next.Key != cur.Key || next.Project != cur.Project {
		return out, immutable("/key", "a segment's key")
	}
	if opts.Draft != "" {
		out.Request, err = s.AddToDraft(ctx, p, opts.Draft, ChangeInput{Segment: key, ProposedSegment: next})
		return out, err
	}
	d, err := s.decideSegment(ctx, p, cur, next, opts)
	if err != nil {
		return out, err
	}
	if len(d.gates) > 0 && d.how == "" {
		out.Request, err = s.proposeSegment(ctx, p, cur, next, d, opts)
		return out, err
	}
	var calendar *int64
	if d.freeze, calendar, err = s.passFreeze(ctx, p, project, d.all, opts.BypassReason); err != nil {
		return out, err
	}
	if d.guard != nil {
		d.guard.Freezes = calendar
	}
	out.Applied, err = s.writeSegment(ctx, p, project, key, expected, d, opts, change)
	return out, err
}

// writeSegment writes a segment change directly, audited: no gated
// environment uses the segment, or d.how (a bypass) skips them all. The
// decision is made on reads; the write holds only while the settings and
// the project's ruleset version are still those it read (a config that
// started using the segment moved the version), else it is decided again.
func (s *Service) writeSegment(ctx context.Context, p *Principal, project, key string, expected *int64, d segmentDecision, opts ChangeOptions, change func(*domain.Segment) error) (*domain.Segment, error) {
	seg, err := s.store.UpdateSegment(ctx, project, key, func(seg *domain.Segment, audit *domain.SegmentWrite) error {
		audit.Settings, audit.RulesetVersion = d.guard, &d.ruleset
		if err := checkVersion("segment", expected, seg.Version); err != nil {
			return err
		}
		before := cloneSegment(seg)
		if err := change(seg); err != nil {
			return err
		}
		if seg.Key != before.Key || seg.Project != before.Project {
			return immutable("/key", "a segment's key")
		}
		seg.Version, seg.CreatedAt = before.Version, before.CreatedAt
		fillSegment(seg)
		if err := seg.Validate(); err != nil {
			return err
		}
		seg.UpdatedAt = s.clock.Now()
		e := s.audit(p.Actor(), domain.ActionSegmentUpdated, p.channel())
		if d.how != "" {
			e.Action, e.Reason = d.how, opts.BypassReason
		}
		frozenAudit(&e, d.freeze, opts.BypassReason)
		e.Project, e.Segment, e.Version = project, seg.Key, before.Version+1
		e.Diff = segmentDiff(before, seg)
		audit.Record(e)
		if opensReview(&e) {
			written := cloneSegment(seg)
			written.Version = e.Version
			// a segment change keeps its base's version only (its keys can be many)
			ch := domain.Change{Kind: domain.KindSegment, Segment: seg.Key, ProposedSegment: written, BaseVersion: before.Version}
			cr, opened, err := s.reviewAfter(p, project, ch, bypassGates(d.how, d.gates, d.freeze, d.all), opts.BypassReason, d.freeze, e.Version, e.Diff)
			if err != nil {
				return err
			}
			audit.Opens = cr
			audit.Record(opened)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "segment updated", "project", project, "segment", key, "version", seg.Version, "actor", p.Actor())
	return seg, nil
}

// maxDeleteAttempts bounds how often DeleteSegment looks at the segment's
// use again when configs were written while it looked.
const maxDeleteAttempts = 3

// DeleteSegment deletes a segment no targeting uses (409 naming a flag and
// environment that uses it). The store deletes only while the project's
// ruleset version is the one read before the configs were: a config write
// that starts using the segment meanwhile makes it look again.
func (s *Service) DeleteSegment(ctx context.Context, p *Principal, project, key string) error {
	if err := p.requireIn(project, domain.RoleEditor, "deleting a segment"); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := s.deleteSegment(ctx, p, project, key)
		if attempt < maxDeleteAttempts && errors.Is(err, domain.ErrRulesetMoved) {
			continue
		}
		if err != nil {
			return err
		}
		s.log.InfoContext(ctx, "segment deleted", "project", project, "segment", key, "actor", p.Actor())
		return nil
	}
}

func (s *Service) deleteSegment(ctx context.Context, p *Principal, project, key string) error {
	if _, err := s.store.GetSegment(ctx, project, key); err != nil {
		return err
	}
	version, err := s.store.RulesetVersion(ctx, project)
	if err != nil {
		return err
	}
	uses, err := s.segmentUsage(ctx, project, key)
	if err != nil {
		return err
	}
	if len(uses) > 0 {
		more := ""
		if len(uses) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(uses)-1)
		}
		return domain.Errorf(domain.CodeConflict, "segment %q is used by the targeting of flag %q in %s%s; remove it from there before deleting it",
			key, uses[0].Flag, uses[0].Environment, more)
	}
	return s.store.DeleteSegment(ctx, project, key, version, func(seg *domain.Segment, audit *domain.Audit) error {
		e := s.audit(p.Actor(), domain.ActionSegmentDeleted, p.channel())
		e.Project, e.Segment = project, seg.Key
		e.Diff = &domain.Diff{Operations: json.RawMessage(`[]`), Summary: []string{fmt.Sprintf("segment %q deleted (it had %s)", seg.Key, segmentSize(seg))}}
		audit.Record(e)
		return nil
	})
}

// segmentUsage is every flag and environment whose stored targeting names
// segment key (in an in_segment or not_in_segment condition), in flag then
// environment order: the configs of each environment, read with the
// environment's ruleset (archived flags' included: they can be restored).
func (s *Service) segmentUsage(ctx context.Context, project, key string) ([]SegmentUse, error) {
	var out []SegmentUse
	err := forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Environment, string, error) {
		return s.store.ListEnvironments(ctx, project, pg)
	}, func(env domain.Environment) error {
		r, err := s.store.Ruleset(ctx, project, env.Key)
		if err != nil {
			return err
		}
		for i := range r.Configs {
			if slices.Contains(r.Configs[i].SegmentsUsed(), key) {
				out = append(out, SegmentUse{Flag: r.Configs[i].Flag, Environment: env.Key})
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b SegmentUse) int {
		if c := strings.Compare(a.Flag, b.Flag); c != 0 {
			return c
		}
		return strings.Compare(a.Environment, b.Environment)
	})
	return out, err
}

// checkSegmentsExist refuses (422) targeting that names a segment the
// project does not have: each such value is named by its pointer,
// ptr + /rules/<i>/conditions/<j>/values/<k>.
func (s *Service) checkSegmentsExist(ctx context.Context, project string, c *domain.FlagConfig, ptr string) error {
	exists := map[string]bool{}
	var v domain.Validation
	for i, r := range c.Rules {
		for j, cond := range r.Conditions {
			if !cond.Operator.NamesSegments() {
				continue
			}
			for k, name := range cond.Values {
				ok, seen := exists[name]
				if !seen {
					_, err := s.store.GetSegment(ctx, project, name)
					switch {
					case err == nil:
						ok = true
					case domain.ErrorCode(err) != domain.CodeNotFound:
						return err
					}
					exists[name] = ok
				}
				if !ok {
					v.Add(fmt.Sprintf("%s/rules/%d/conditions/%d/values/%d", ptr, i, j, k), "segment %q does not exist in project %q", name, project)
				}
			}
		}
	}
	return v.Err()
}

// fillSegment gives a segment's lists their empty values, as stored and
// shown ([] rather than null).
func fillSegment(seg *domain.Segment) {
	if seg.Included == nil {
		seg.Included = []string{}
	}
	if seg.Excluded == nil {
		seg.Excluded = []string{}
	}
	if seg.Rules == nil {
		seg.Rules = []domain.SegmentRule{}
	}
	for i := range seg.Rules {
		if seg.Rules[i].Conditions == nil {
			seg.Rules[i].Conditions = []domain.Condition{}
		}
		for j := range seg.Rules[i].Conditions {
			if seg.Rules[i].Conditions[j].Values == nil {
				seg.Rules[i].Conditions[j].Values = []string{}
			}
		}
	}
}

func cloneSegment(seg *domain.Segment) *domain.Segment {
	c := *seg
	c.Included, c.Excluded = slices.Clone(seg.Included), slices.Clone(seg.Excluded)
	c.Rules = make([]domain.SegmentRule, len(seg.Rules))
	for i, r := range seg.Rules {
		c.Rules[i].Conditions = make([]domain.Condition, len(r.Conditions))
		for j, cond := range r.Conditions {
			cond.Values = slices.Clone(cond.Values)
			c.Rules[i].Conditions[j] = cond
		}
	}
	return &c
}

func segmentSize(seg *domain.Segment) string {
	return fmt.Sprintf("%d included keys, %d excluded keys, %d rules", len(seg.Included), len(seg.Excluded), len(seg.Rules))
}

// segmentDoc is what a segment's audit diff compares: its labels and rules.
// The included and excluded keys (up to domain.MaxSegmentKeys) are summed
// up as counts and a few keys instead, so that an audit entry stays small.
type segmentDoc struct {
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Rules       []segmentRuleDoc `json:"rules"`
}

type segmentRuleDoc struct {
	Conditions []domain.Condition `json:"conditions"`
}

func segmentDocOf(seg *domain.Segment) segmentDoc {
	d := segmentDoc{Name: seg.Name, Description: seg.Description, Rules: make([]segmentRuleDoc, len(seg.Rules))}
	for i, r := range seg.Rules {
		d.Rules[i].Conditions = r.Conditions
	}
	return d
}

// segmentDiff is the audit diff of a segment change: RFC 6902 operations
// of its labels and rules, and a summary that names the segment, with the
// keys added to and removed from its included and excluded lists (counts,
// and at most a few of them).
func segmentDiff(before, after *domain.Segment) *domain.Diff {
	d, err := domain.AnyDiff(segmentDocOf(before), segmentDocOf(after))
	if err != nil {
		d = &domain.Diff{Operations: json.RawMessage(`[]`)}
	}
	summary := []string{}
	for _, line := range d.Summary {
		summary = append(summary, fmt.Sprintf("segment %q: %s", after.Key, line))
	}
	for _, l := range []struct {
		name          string
		before, after []string
	}{{"included", before.Included, after.Included}, {"excluded", before.Excluded, after.Excluded}} {
		added, removed := keysDiff(l.before, l.after)
		if len(added) > 0 {
			summary = append(summary, fmt.Sprintf("segment %q: %d keys added to %s%s", after.Key, len(added), l.name, someKeys(added)))
		}
		if len(removed) > 0 {
			summary = append(summary, fmt.Sprintf("segment %q: %d keys removed from %s%s", after.Key, len(removed), l.name, someKeys(removed)))
		}
	}
	d.Summary = summary
	return d
}

func keysDiff(before, after []string) (added, removed []string) {
	was := make(map[string]bool, len(before))
	for _, k := range before {
		was[k] = true
	}
	is := make(map[string]bool, len(after))
	for _, k := range after {
		is[k] = true
		if !was[k] {
			added = append(added, k)
		}
	}
	for _, k := range before {
		if !is[k] {
			removed = append(removed, k)
		}
	}
	return added, removed
}

// someKeys shows the first few keys of a list.
func someKeys(keys []string) string {
	const shown = 5
	q := make([]string, 0, shown)
	for _, k := range keys[:min(len(keys), shown)] {
		q = append(q, fmt.Sprintf("%q", k))
	}
	more := ""
	if len(keys) > shown {
		more = ", …"
	}
	return " (" + strings.Join(q, ", ") + more + ")"
}
