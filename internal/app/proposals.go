package app

import (
	"context"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// live is the live state one change is made on: the flag and, for
// targeting, its config in the change's environment.
type live struct {
	flag    *domain.Flag
	config  *domain.FlagConfig
	segment *domain.Segment
	rule    any // a governance change's: the live settings, environment or member
}

// A proposal is what one kind of change proposes, and how it meets the
// live state: read, diffed, prepared (validated, with its base), gated,
// applied. proposalOf picks it by the change's kind; the use cases call it
// and never branch on the kind themselves.
type proposal interface {
	// read reads the live state of ch.
	read(ctx context.Context, s *Service, project string, ch *domain.Change) (live, error)
	// of is ch's part of the live state an apply read.
	of(l *domain.Live, ch *domain.Change) live
	// version is the live version ch's base is checked against.
	version(l live) int64
	// diff is what applying would change: from the live state to the proposal.
	diff(ch *domain.Change, l live) (*domain.Diff, error)
	// moved is what changed in the live state since ch's base (nil when
	// the change keeps no base).
	moved(ch *domain.Change, l live) (*domain.Diff, error)
	// prepare readies ch's proposal against l: filled, validated (pointers
	// under ptr), with l as its base; refused when it is not valid.
	prepare(ctx context.Context, s *Service, ch domain.Change, l live, ptr string) (domain.Change, error)
	// gates are the environments whose approval settings ch's policy draws
	// on: a targeting change's environment, a flag change's gated
	// environments where it matters.
	gates(ctx context.Context, s *Service, org *domain.OrgSettings, ch *domain.Change, l live) ([]gate, error)
	// beforeApply checks, on reads, what the store's apply write cannot see.
	beforeApply(ctx context.Context, s *Service, project string, ch *domain.Change) error
	// applyTo writes ch's proposal onto the live state, inside the store's
	// apply write, and names in w the live state the store is to write:
	// the diff it made and the new live version.
	applyTo(ch *domain.Change, l live, now time.Time, w *domain.ApplyWrite) (*domain.Diff, int64, error)
}

func proposalOf(ch *domain.Change) proposal {
	switch ch.Kind {
	case domain.KindFlag:
		return flagProposal{}
	case domain.KindSegment:
		return segmentProposal{}
	case domain.KindGovernance:
		return governanceProposal{}
	}
	return targetingProposal{}
}

// targetingChange proposes next for the targeting of l (its base).
func targetingChange(l live, next *domain.FlagConfig) domain.Change {
	return domain.Change{Kind: domain.KindTargeting, Flag: next.Flag, Environment: next.Environment, ProposedConfig: next, BaseConfig: l.config, BaseVersion: l.config.Version}
}

// flagChange proposes next for the flag f (its base).
func flagChange(f, next *domain.Flag) domain.Change {
	return domain.Change{Kind: domain.KindFlag, Flag: f.Key, ProposedFlag: next, BaseFlag: cloneFlag(f), BaseVersion: f.Version}
}

// targetingProposal proposes a flag's config in one environment.
type targetingProposal struct{}

func (targetingProposal) read(ctx context.Context, s *Service, project string, ch *domain.Change) (live, error) {
	f, c, err := s.store.GetFlagConfig(ctx, project, ch.Flag, ch.Environment)
	return live{flag: f, config: c}, err
}

func (targetingProposal) of(l *domain.Live, ch *domain.Change) live {
	return live{flag: l.Flags[ch.Flag], config: l.Configs[ch.Target()]}
}

func (targetingProposal) version(l live) int64 { return l.config.Version }

func (targetingProposal) diff(ch *domain.Change, l live) (*domain.Diff, error) {
	return domain.ConfigDiff(l.config, ch.ProposedConfig)
}

func (targetingProposal) moved(ch *domain.Change, l live) (*domain.Diff, error) {
	if ch.BaseConfig == nil {
		return nil, nil
	}
	return domain.ConfigDiff(ch.BaseConfig, l.config)
}

func (targetingProposal) prepare(ctx context.Context, s *Service, ch domain.Change, l live, ptr string) (domain.Change, error) {
	next := *ch.ProposedConfig
	keepIdentity(&next, l.config)
	if err := prepareConfig(&next, l.flag, ptr+"/proposed_config"); err != nil {
		return domain.Change{}, err
	}
	if err := s.checkSegmentsExist(ctx, l.flag.Project, &next, ptr+"/proposed_config"); err != nil {
		return domain.Change{}, err
	}
	if l.flag.Archived {
		return domain.Change{}, domain.Errorf(domain.CodeConflict, "flag %q is archived; restore it (PATCH archived=false) before proposing changes", l.flag.Key)
	}
	return targetingChange(l, &next), nil
}

func (targetingProposal) gates(ctx context.Context, s *Service, org *domain.OrgSettings, ch *domain.Change, l live) ([]gate, error) {
	g, err := s.gateFor(ctx, org, l.flag, l.flag.Project, ch.Environment)
	return []gate{g}, err
}

func (targetingProposal) beforeApply(context.Context, *Service, string, *domain.Change) error {
	return nil
}

func (targetingProposal) applyTo(ch *domain.Change, l live, now time.Time, w *domain.ApplyWrite) (*domain.Diff, int64, error) {
	f, c := l.flag, l.config
	next := *ch.ProposedConfig
	keepIdentity(&next, c)
	next.UpdatedAt = now
	if err := prepareConfig(&next, f, "/proposed_config"); err != nil {
		return nil, 0, domain.Errorf(domain.CodeConflict, "the proposal for %s no longer fits the flag (its variants changed); edit the request", ch.Target())
	}
	if f.Archived {
		return nil, 0, domain.Errorf(domain.CodeConflict, "flag %q is archived; restore it before applying", f.Key)
	}
	d, err := domain.ConfigDiff(c, &next)
	if err != nil {
		return nil, 0, err
	}
	version := c.Version + 1
	*c = next
	w.Configs = append(w.Configs, c)
	w.Requires = append(w.Requires, next.SegmentsUsed()...)
	return d, version, nil
}

// flagProposal proposes the flag's own fields that affect serving.
type flagProposal struct{}

func (flagProposal) read(ctx context.Context, s *Service, project string, ch *domain.Change) (live, error) {
	f, err := s.store.GetFlag(ctx, project, ch.Flag)
	return live{flag: f}, err
}

func (flagProposal) of(l *domain.Live, ch *domain.Change) live { return live{flag: l.Flags[ch.Flag]} }

func (flagProposal) version(l live) int64 { return l.flag.Version }

func (flagProposal) diff(ch *domain.Change, l live) (*domain.Diff, error) {
	return domain.FlagDiff(l.flag, ch.ProposedFlag)
}

func (flagProposal) moved(ch *domain.Change, l live) (*domain.Diff, error) {
	if ch.BaseFlag == nil {
		return nil, nil
	}
	return domain.FlagDiff(ch.BaseFlag, l.flag)
}

func (flagProposal) prepare(ctx context.Context, s *Service, ch domain.Change, l live, ptr string) (domain.Change, error) {
	f := l.flag
	next := *ch.ProposedFlag
	keepFlagIdentity(&next, f)
	if err := next.Validate(); err != nil {
		return domain.Change{}, prefixed(err, ptr+"/proposed_flag")
	}
	if next.Maintainer != f.Maintainer {
		if err := s.checkMaintainer(ctx, next.Maintainer); err != nil {
			return domain.Change{}, prefixed(err, ptr+"/proposed_flag")
		}
	}
	if next.MaintainerTeam != f.MaintainerTeam {
		if err := s.checkMaintainerTeam(ctx, next.MaintainerTeam); err != nil {
			return domain.Change{}, prefixed(err, ptr+"/proposed_flag")
		}
	}
	if f.Archived && next.Archived {
		return domain.Change{}, domain.Errorf(domain.CodeConflict, "flag %q is archived; restore it (PATCH archived=false) before proposing changes", f.Key)
	}
	if err := s.checkServedVariants(ctx, f, &next); err != nil {
		return domain.Change{}, err
	}
	return flagChange(f, &next), nil
}

// gates: a flag-level change's policy is the strictest of the gated
// environments where the change matters.
func (flagProposal) gates(ctx context.Context, s *Service, org *domain.OrgSettings, ch *domain.Change, l live) ([]gate, error) {
	return s.criticalEnvironments(ctx, org, l.flag, ch.ProposedFlag)
}

// beforeApply: a flag-level proposal must not drop a variant some
// environment serves; the store's apply function sees no configs.
func (flagProposal) beforeApply(ctx context.Context, s *Service, project string, ch *domain.Change) error {
	live, err := s.store.GetFlag(ctx, project, ch.Flag)
	if err != nil {
		return nil // the apply write says why
	}
	return s.checkServedVariants(ctx, live, ch.ProposedFlag)
}

func (flagProposal) applyTo(ch *domain.Change, l live, now time.Time, w *domain.ApplyWrite) (*domain.Diff, int64, error) {
	f := l.flag
	next := *ch.ProposedFlag
	keepFlagIdentity(&next, f)
	next.UpdatedAt = now
	if err := next.Validate(); err != nil {
		return nil, 0, domain.Errorf(domain.CodeConflict, "the proposal for %s is no longer a valid flag; edit the request", ch.Target())
	}
	d, err := domain.FlagDiff(f, &next)
	if err != nil {
		return nil, 0, err
	}
	version := f.Version + 1
	*f = next
	w.Flags = append(w.Flags, f)
	return d, version, nil
}
