package app

import (
	"context"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// segmentProposal proposes a segment of the project. It needs approval
// under the strictest policy of the gated environments whose targeting
// uses the segment: a segment change changes what users see wherever a
// rule names it.
type segmentProposal struct{}

// segmentChange proposes next for the segment live (its base: its version
// only, the keys can be many).
func segmentChange(live, next *domain.Segment) domain.Change {
	return domain.Change{Kind: domain.KindSegment, Segment: live.Key, ProposedSegment: next, BaseVersion: live.Version}
}

func (segmentProposal) read(ctx context.Context, s *Service, project string, ch *domain.Change) (live, error) {
	seg, err := s.store.GetSegment(ctx, project, ch.Segment)
	return live{segment: seg}, err
}

func (segmentProposal) of(l *domain.Live, ch *domain.Change) live {
	return live{segment: l.Segments[ch.Segment]}
}

func (segmentProposal) version(l live) int64 { return l.segment.Version }

func (segmentProposal) diff(ch *domain.Change, l live) (*domain.Diff, error) {
	return segmentDiff(l.segment, ch.ProposedSegment), nil
}

// moved: a segment change keeps its base's version only.
func (segmentProposal) moved(*domain.Change, live) (*domain.Diff, error) { return nil, nil }

func (segmentProposal) prepare(_ context.Context, _ *Service, ch domain.Change, l live, ptr string) (domain.Change, error) {
	next := *ch.ProposedSegment
	keepSegmentIdentity(&next, l.segment)
	fillSegment(&next)
	if err := next.Validate(); err != nil {
		return domain.Change{}, prefixed(err, ptr+"/proposed_segment")
	}
	return segmentChange(l.segment, &next), nil
}

// gates are those of the gated environments whose targeting names the
// segment, for the flag whose targeting does.
func (segmentProposal) gates(ctx context.Context, s *Service, org *domain.OrgSettings, ch *domain.Change, l live) ([]gate, error) {
	gated, _, err := s.segmentGates(ctx, org, l.segment)
	return gated, err
}

// segmentGates are the gates of every flag and environment whose targeting
// uses seg (all), and of those the gated ones, each environment once.
func (s *Service) segmentGates(ctx context.Context, org *domain.OrgSettings, seg *domain.Segment) (gated, all []gate, err error) {
	uses, err := s.segmentUsage(ctx, seg.Project, seg.Key)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range uses {
		f, err := s.store.GetFlag(ctx, seg.Project, u.Flag)
		if err != nil {
			return nil, nil, err
		}
		g, err := s.gateFor(ctx, org, f, seg.Project, u.Environment)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, g)
		if g.gated && !slices.ContainsFunc(gated, func(o gate) bool { return o.env == g.env }) {
			gated = append(gated, g)
		}
	}
	return gated, all, nil
}

func (segmentProposal) beforeApply(context.Context, *Service, string, *domain.Change) error {
	return nil
}

func (segmentProposal) applyTo(ch *domain.Change, l live, now time.Time, w *domain.ApplyWrite) (*domain.Diff, int64, error) {
	seg := l.segment
	next := *ch.ProposedSegment
	keepSegmentIdentity(&next, seg)
	next.UpdatedAt = now
	if err := next.Validate(); err != nil {
		return nil, 0, domain.Errorf(domain.CodeConflict, "the proposal for %s is no longer a valid segment; edit the request", ch.Target())
	}
	d := segmentDiff(seg, &next)
	version := seg.Version + 1
	*seg = next
	w.Segments = append(w.Segments, seg)
	return d, version, nil
}

func keepSegmentIdentity(next, live *domain.Segment) {
	next.Project, next.Key, next.Version, next.CreatedAt, next.UpdatedAt = live.Project, live.Key, live.Version, live.CreatedAt, live.UpdatedAt
}

// segmentDecision is how a segment change goes: the gated environments
// that use the segment, the bypass that skips them all (how), if any, and
// what the decision read (the settings, and the ruleset version before the
// configs that use the segment), which a direct write holds to.
type segmentDecision struct {
	gates   []gate
	all     []gate // every environment using the segment, gated or not (what a freeze holds)
	how     domain.AuditAction
	freeze  string // the freeze a bypass passes (passFreeze)
	guard   *domain.SettingsGuard
	ruleset int64
}

// decideSegment decides a change of cur into next: it needs approval where
// gated environments use the segment, unless p's bypass skips them all.
func (s *Service) decideSegment(ctx context.Context, p *Principal, cur, next *domain.Segment, opts ChangeOptions) (segmentDecision, error) {
	var d segmentDecision
	org, err := s.store.GetOrgSettings(ctx)
	if err != nil {
		return d, err
	}
	if d.ruleset, err = s.store.RulesetVersion(ctx, cur.Project); err != nil {
		return d, err
	}
	var all []gate
	if d.gates, all, err = s.segmentGates(ctx, org, cur); err != nil {
		return d, err
	}
	d.guard, d.all = settingsGuard(org, all...), all
	for i, g := range d.gates {
		h, err := bypass(p, g, opts.BypassReason)
		if err != nil {
			return d, err
		}
		if h == "" || (i > 0 && h != d.how) {
			d.how = "" // one bypass must skip every gated environment
			break
		}
		d.how = h
	}
	return d, nil
}

// proposeSegment opens the request of a segment change that needs approval
// where d's environments use the segment.
func (s *Service) proposeSegment(ctx context.Context, p *Principal, cur, next *domain.Segment, d segmentDecision, opts ChangeOptions) (*RequestView, error) {
	ch, err := (segmentProposal{}).prepare(ctx, s, segmentChange(cur, next), live{segment: cur}, "")
	if err != nil {
		return nil, err
	}
	diff := segmentDiff(cur, ch.ProposedSegment)
	if diff.Empty() {
		var v domain.Validation
		v.Add("/proposed_segment", "the proposal changes nothing")
		return nil, v.Err()
	}
	cr := &domain.ChangeRequest{Project: cur.Project, Changes: []domain.Change{ch}}
	return s.openRequest(ctx, p, cr, prepared{changes: cr.Changes, diffs: []*domain.Diff{diff}, gates: d.gates}, opts)
}
