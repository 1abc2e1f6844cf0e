package app

import (
	"context"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// live is the live state a change request's proposal is made on: the flag
// and, for targeting, its config in the request's environment.
type live struct {
	flag   *domain.Flag
	config *domain.FlagConfig
}

// A proposal is what one kind of change request proposes, and how it meets
// the live state: read, diffed, rebased by an edit, applied. proposalOf picks
// it by the request's kind; the use cases call it and never branch on the
// kind themselves.
type proposal interface {
	// covers reports whether cr's policy draws on environment env's
	// approval settings.
	covers(cr *domain.ChangeRequest, env string) bool
	// read reads the live state of cr's proposal.
	read(ctx context.Context, s *Service, cr *domain.ChangeRequest) (live, error)
	// version is the live version cr's base is checked against.
	version(l live) int64
	// diff is what applying would change: from the live state to the proposal.
	diff(cr *domain.ChangeRequest, l live) (*domain.Diff, error)
	// moved is what changed in the live state since cr's base (nil when
	// the request keeps no base).
	moved(cr *domain.ChangeRequest, l live) (*domain.Diff, error)
	// accepts refuses an edit that proposes the other kind of change.
	accepts(in EditInput) error
	// revise prepares an edit's proposal (in's, else cr's own) against the
	// live state: the revision to write, refused when it is not valid.
	revise(ctx context.Context, s *Service, cr *domain.ChangeRequest, in EditInput, l live) (revision, error)
	// beforeApply checks, on reads, what the store's apply write cannot see.
	beforeApply(ctx context.Context, s *Service, cr *domain.ChangeRequest) error
	// applyTo writes the proposal onto the live state, inside the store's
	// apply write, and names in w the live state the store is to write:
	// the diff it made and the new live version.
	applyTo(cr *domain.ChangeRequest, l live, now time.Time, w *domain.ApplyWrite) (*domain.Diff, int64, error)
}

// revision is an edit's new proposal, with its base.
type revision struct {
	config    *domain.FlagConfig // a targeting proposal
	flag      *domain.Flag       // a flag-level proposal
	base      int64              // the live version it is made on
	rebase    func(cr *domain.ChangeRequest)
	tightened *domain.Policy // a stricter policy the edit needs, if any
}

// targetingRequest is a new request's proposal of next for the targeting of
// l (its base).
func targetingRequest(l live, next *domain.FlagConfig) *domain.ChangeRequest {
	return &domain.ChangeRequest{Kind: domain.KindTargeting, Environment: next.Environment, ProposedConfig: next, BaseConfig: l.config, BaseVersion: l.config.Version}
}

// flagRequest is a new request's proposal of next for the flag f (its base).
func flagRequest(f, next *domain.Flag) *domain.ChangeRequest {
	return &domain.ChangeRequest{Kind: domain.KindFlag, ProposedFlag: next, BaseFlag: cloneFlag(f), BaseVersion: f.Version}
}

func proposalOf(cr *domain.ChangeRequest) proposal {
	if cr.Kind == domain.KindFlag {
		return flagProposal{}
	}
	return targetingProposal{}
}

// targetingProposal proposes a flag's config in one environment.
type targetingProposal struct{}

func (targetingProposal) covers(cr *domain.ChangeRequest, env string) bool {
	return cr.Environment == env
}

func (targetingProposal) read(ctx context.Context, s *Service, cr *domain.ChangeRequest) (live, error) {
	f, c, err := s.store.GetFlagConfig(ctx, cr.Project, cr.Flag, cr.Environment)
	return live{flag: f, config: c}, err
}

func (targetingProposal) version(l live) int64 { return l.config.Version }

func (targetingProposal) diff(cr *domain.ChangeRequest, l live) (*domain.Diff, error) {
	return domain.ConfigDiff(l.config, cr.ProposedConfig)
}

func (targetingProposal) moved(cr *domain.ChangeRequest, l live) (*domain.Diff, error) {
	if cr.BaseConfig == nil {
		return nil, nil
	}
	return domain.ConfigDiff(cr.BaseConfig, l.config)
}

func (targetingProposal) accepts(in EditInput) error {
	var v domain.Validation
	if in.ProposedFlag != nil {
		v.Add("/proposed_flag", "this request proposes targeting; send proposed_config")
	}
	return v.Err()
}

func (targetingProposal) revise(_ context.Context, _ *Service, cr *domain.ChangeRequest, in EditInput, l live) (revision, error) {
	next := *cr.ProposedConfig
	if in.ProposedConfig != nil {
		next = *in.ProposedConfig
	}
	keepIdentity(&next, l.config)
	if err := prepareConfig(&next, l.flag, "/proposed_config"); err != nil {
		return revision{}, err
	}
	return revision{config: &next, base: l.config.Version, rebase: func(cr *domain.ChangeRequest) { cr.BaseConfig = l.config }}, nil
}

func (targetingProposal) beforeApply(context.Context, *Service, *domain.ChangeRequest) error {
	return nil
}

func (targetingProposal) applyTo(cr *domain.ChangeRequest, l live, now time.Time, w *domain.ApplyWrite) (*domain.Diff, int64, error) {
	f, c := l.flag, l.config
	next := *cr.ProposedConfig
	keepIdentity(&next, c)
	next.UpdatedAt = now
	if err := prepareConfig(&next, f, "/proposed_config"); err != nil {
		return nil, 0, domain.Errorf(domain.CodeConflict, "the proposal no longer fits the flag (its variants changed); edit the request")
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
	w.Config = c
	return d, version, nil
}

// flagProposal proposes the flag's own fields that affect serving.
type flagProposal struct{}

// covers: a flag-level request's policy is the strictest of the
// environments the change mattered in.
func (flagProposal) covers(cr *domain.ChangeRequest, env string) bool {
	return slices.Contains(cr.Policy.Environments, env)
}

func (flagProposal) read(ctx context.Context, s *Service, cr *domain.ChangeRequest) (live, error) {
	f, err := s.store.GetFlag(ctx, cr.Project, cr.Flag)
	return live{flag: f}, err
}

func (flagProposal) version(l live) int64 { return l.flag.Version }

func (flagProposal) diff(cr *domain.ChangeRequest, l live) (*domain.Diff, error) {
	return domain.FlagDiff(l.flag, cr.ProposedFlag)
}

func (flagProposal) moved(cr *domain.ChangeRequest, l live) (*domain.Diff, error) {
	if cr.BaseFlag == nil {
		return nil, nil
	}
	return domain.FlagDiff(cr.BaseFlag, l.flag)
}

func (flagProposal) accepts(in EditInput) error {
	var v domain.Validation
	if in.ProposedConfig != nil {
		v.Add("/proposed_config", "this request proposes a flag-level change; send proposed_flag")
	}
	return v.Err()
}

func (flagProposal) revise(ctx context.Context, s *Service, cr *domain.ChangeRequest, in EditInput, l live) (revision, error) {
	f := l.flag
	next := *cr.ProposedFlag
	if in.ProposedFlag != nil {
		next = *in.ProposedFlag
	}
	keepFlagIdentity(&next, f)
	if err := next.Validate(); err != nil {
		return revision{}, prefixed(err, "/proposed_flag")
	}
	if err := s.checkServedVariants(ctx, f, &next); err != nil {
		return revision{}, err
	}
	r := revision{flag: &next, base: f.Version, rebase: func(cr *domain.ChangeRequest) { cr.BaseFlag = cloneFlag(f) }}
	// The edit may reach environments the request did not: its policy
	// becomes the strictest of what it had and what the new proposal needs.
	org, err := s.store.GetOrgSettings(ctx)
	if err != nil {
		return revision{}, err
	}
	critical, err := s.criticalEnvironments(ctx, org, f, &next)
	if err != nil {
		return revision{}, err
	}
	if len(critical) > 0 {
		strict := domain.Strictest([]domain.Policy{cr.Policy, policyOver(critical)})
		r.tightened = &strict
	}
	return r, nil
}

// beforeApply: a flag-level proposal must not drop a variant some
// environment serves; the store's apply function sees no configs.
func (flagProposal) beforeApply(ctx context.Context, s *Service, cr *domain.ChangeRequest) error {
	if cr.Status != domain.StatusApproved {
		return nil
	}
	live, err := s.store.GetFlag(ctx, cr.Project, cr.Flag)
	if err != nil {
		return nil // the apply write says why
	}
	return s.checkServedVariants(ctx, live, cr.ProposedFlag)
}

func (flagProposal) applyTo(cr *domain.ChangeRequest, l live, now time.Time, w *domain.ApplyWrite) (*domain.Diff, int64, error) {
	f := l.flag
	next := *cr.ProposedFlag
	keepFlagIdentity(&next, f)
	next.UpdatedAt = now
	if err := next.Validate(); err != nil {
		return nil, 0, domain.Errorf(domain.CodeConflict, "the proposal is no longer a valid flag; edit the request")
	}
	d, err := domain.FlagDiff(f, &next)
	if err != nil {
		return nil, 0, err
	}
	version := f.Version + 1
	*f = next
	w.Flag = f
	return d, version, nil
}
