package app

import (
	"context"
	"fmt"
	"slices"

	"github.com/countersign/countersign/internal/domain"
)

// Promote gives environment target the targeting flag has in environment
// from (enabled, rules, default rule, off variant, sticky bucketing,
// exposure event): a targeting write like any other (ChangeFlagConfig), so
// where target needs approval it opens a change request whose diff is
// against target's current targeting, and applies directly where it does
// not. The request is based on target's version when it is opened: a newer
// change to target makes it stale (its apply is refused) rather than
// reverted. A title not given says what is promoted.
func (s *Service) Promote(ctx context.Context, p *Principal, project, flag, target, from string, expected *int64, opts ChangeOptions) (Outcome[domain.FlagConfig], error) {
	var out Outcome[domain.FlagConfig]
	if err := p.requireIn(project, domain.RoleEditor, "promoting targeting"); err != nil {
		return out, err
	}
	var v domain.Validation
	switch {
	case from == "":
		v.Add("/from", "name the environment whose targeting to promote")
	case from == target:
		v.Add("/from", "is the environment promoted to; name another one")
	}
	if err := v.Err(); err != nil {
		return out, err
	}
	if _, err := s.store.GetEnvironment(ctx, project, from); domain.ErrorCode(err) == domain.CodeNotFound {
		v.Add("/from", "project %q has no environment %q", project, from)
		return out, v.Err()
	} else if err != nil {
		return out, err
	}
	_, src, err := s.store.GetFlagConfig(ctx, project, flag, from)
	if err != nil {
		return out, err
	}
	if opts.Title == "" {
		opts.Title = fmt.Sprintf("Promote %s from %s to %s", flag, from, target)
	}
	return s.ChangeFlagConfig(ctx, p, project, flag, target, expected, opts, func(c *domain.FlagConfig) error {
		next := promoted(src)
		next.Project, next.Flag, next.Environment, next.Version, next.UpdatedAt = c.Project, c.Flag, c.Environment, c.Version, c.UpdatedAt
		*c = next
		return nil
	})
}

// promoted is a copy of src's targeting that shares nothing with it.
func promoted(src *domain.FlagConfig) domain.FlagConfig {
	c := *src
	c.Rules = slices.Clone(src.Rules)
	for i, r := range c.Rules {
		c.Rules[i].Conditions = slices.Clone(r.Conditions)
		for j, cond := range c.Rules[i].Conditions {
			c.Rules[i].Conditions[j].Values = slices.Clone(cond.Values)
		}
		c.Rules[i].Weights = slices.Clone(r.Weights)
	}
	c.DefaultRule.Weights = slices.Clone(src.DefaultRule.Weights)
	return c
}

// PromoteFlags proposes, as one change request, the targeting each of
// flags has in environment from for environment target: one change per
// flag whose targeting differs there (a flag already alike is left out;
// none differing is 422). The request is under target's policy, also
// where target needs no approval (a promotion of several flags is one
// reviewed step, applied together or not at all); with opts.Draft the
// changes go into that draft instead.
func (s *Service) PromoteFlags(ctx context.Context, p *Principal, project, target, from string, flags []string, opts ChangeOptions) (*RequestView, error) {
	if err := p.requireIn(project, domain.RoleEditor, "promoting targeting"); err != nil {
		return nil, err
	}
	if err := s.checkPromotion(ctx, project, target, from, flags); err != nil {
		return nil, err
	}
	var ins []ChangeInput
	for _, flag := range flags {
		in, alike, err := s.promotionOf(ctx, project, flag, target, from)
		if err != nil {
			return nil, err
		}
		if !alike {
			ins = append(ins, in)
		}
	}
	if len(ins) == 0 {
		var v domain.Validation
		v.Add("/flags", "every flag named already has %s's targeting in %s: nothing to promote", from, target)
		return nil, v.Err()
	}
	if opts.Draft != "" {
		var v *RequestView
		for _, in := range ins {
			var err error
			if v, err = s.AddToDraft(ctx, p, opts.Draft, in); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
	if opts.Title == "" {
		opts.Title = fmt.Sprintf("Promote %d flags from %s to %s", len(ins), from, target)
	}
	return s.CreateRequest(ctx, p, RequestInput{Project: project, Title: opts.Title, Changes: ins, NotifyReviewers: opts.NotifyReviewers})
}

// checkPromotion checks a promotion's environments and flags (1 to
// domain.MaxChanges, each once).
func (s *Service) checkPromotion(ctx context.Context, project, target, from string, flags []string) error {
	var v domain.Validation
	switch {
	case from == "":
		v.Add("/from", "name the environment whose targeting to promote")
	case from == target:
		v.Add("/from", "is the environment promoted to; name another one")
	}
	switch {
	case len(flags) == 0:
		v.Add("/flags", "name the flags to promote")
	case len(flags) > domain.MaxChanges:
		v.Add("/flags", "at most %d flags: a request holds at most %d changes", domain.MaxChanges, domain.MaxChanges)
	}
	for i, f := range flags {
		if slices.Index(flags, f) != i {
			v.Add(fmt.Sprintf("/flags/%d", i), "flag %q is named twice", f)
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	if _, err := s.store.GetEnvironment(ctx, project, from); domain.ErrorCode(err) == domain.CodeNotFound {
		v.Add("/from", "project %q has no environment %q", project, from)
		return v.Err()
	} else if err != nil {
		return err
	}
	_, err := s.store.GetEnvironment(ctx, project, target)
	return err
}

// promotionOf is the change promoting flag's targeting in from to target,
// and whether target's is alike already.
func (s *Service) promotionOf(ctx context.Context, project, flag, target, from string) (ChangeInput, bool, error) {
	_, src, err := s.store.GetFlagConfig(ctx, project, flag, from)
	if err != nil {
		return ChangeInput{}, false, err
	}
	_, dst, err := s.store.GetFlagConfig(ctx, project, flag, target)
	if err != nil {
		return ChangeInput{}, false, err
	}
	next := promoted(src)
	keepIdentity(&next, dst)
	d, err := domain.ConfigDiff(dst, &next)
	if err != nil {
		return ChangeInput{}, false, err
	}
	return ChangeInput{Flag: flag, Environment: target, ProposedConfig: &next}, d.Empty(), nil
}
