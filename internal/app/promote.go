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
	if err := p.require(domain.RoleEditor, "promoting targeting"); err != nil {
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
