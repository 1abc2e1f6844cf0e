package app

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/countersign/countersign/internal/domain"
)

// FlagInput is what a client sends to create a flag. Key, bucketing unit,
// salt and evaluation mode have defaults.
type FlagInput struct {
	Key            string                `json:"key"`
	Name           string                `json:"name"`
	Description    string                `json:"description"`
	Tags           []string              `json:"tags"`
	Maintainer     string                `json:"maintainer"`
	BucketingUnit  string                `json:"bucketing_unit"`
	BucketingSalt  string                `json:"bucketing_salt"`
	EvaluationMode domain.EvaluationMode `json:"evaluation_mode"`
	Variants       []domain.Variant      `json:"variants"`
}

// CreateFlag creates a flag. Its key is made from its name when not given.
func (s *Service) CreateFlag(ctx context.Context, p *Principal, project string, in FlagInput) (*domain.Flag, error) {
	if err := p.require(domain.RoleEditor, "creating a flag"); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	f := &domain.Flag{
		Project: project, Key: in.Key, Name: in.Name, Description: in.Description, Tags: in.Tags,
		Maintainer: in.Maintainer, BucketingUnit: in.BucketingUnit, BucketingSalt: in.BucketingSalt,
		EvaluationMode: in.EvaluationMode, Variants: in.Variants, CreatedAt: now, UpdatedAt: now,
	}
	if f.Key == "" {
		f.Key = domain.Slugify(in.Name)
		if f.Key == "" && in.Name != "" {
			var v domain.Validation
			v.Add("/key", "cannot make a key from the name %q; give a key", in.Name)
			return nil, v.Err()
		}
	}
	if f.Tags == nil {
		f.Tags = []string{}
	}
	if f.Maintainer == "" {
		f.Maintainer = p.MemberID
	}
	if f.BucketingUnit == "" {
		f.BucketingUnit = domain.DefaultBucketingUnit
	}
	if f.BucketingSalt == "" {
		f.BucketingSalt = randomString(5)
	}
	if f.EvaluationMode == "" {
		f.EvaluationMode = domain.EvaluationRemote
	}
	for i := range f.Variants {
		if len(f.Variants[i].Value) == 0 {
			f.Variants[i].Value, _ = json.Marshal(f.Variants[i].Key)
		}
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkMaintainer(ctx, f.Maintainer); err != nil {
		return nil, err
	}
	if err := s.store.CreateFlag(ctx, f); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "flag created", "project", project, "flag", f.Key, "actor", p.Actor())
	return f, nil
}

func (s *Service) checkMaintainer(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	_, err := s.store.GetMember(ctx, id)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		var v domain.Validation
		v.Add("/maintainer", "no member has id %q", id)
		return v.Err()
	}
	return err
}

// GetFlag reads a flag.
func (s *Service) GetFlag(ctx context.Context, p *Principal, project, key string) (*domain.Flag, error) {
	if err := p.require(domain.RoleViewer, "reading flags"); err != nil {
		return nil, err
	}
	return s.store.GetFlag(ctx, project, key)
}

// ListFlags lists a project's flags.
func (s *Service) ListFlags(ctx context.Context, p *Principal, project string, filter domain.FlagFilter, page domain.Page) ([]domain.Flag, string, error) {
	if err := p.require(domain.RoleViewer, "reading flags"); err != nil {
		return nil, "", err
	}
	return s.store.ListFlags(ctx, project, filter, page)
}

// UpdateFlag applies change to a flag. The key is immutable, and a variant
// that any environment serves cannot be removed.
func (s *Service) UpdateFlag(ctx context.Context, p *Principal, project, key string, expected *int64, change func(*domain.Flag) error) (*domain.Flag, error) {
	if err := p.require(domain.RoleEditor, "changing a flag"); err != nil {
		return nil, err
	}
	// A new maintainer must be a member. The store's update function must not
	// read other entities, so try the change on a copy first to learn it.
	if cur, err := s.store.GetFlag(ctx, project, key); err == nil {
		probe := cloneFlag(cur)
		if change(probe) == nil && probe.Maintainer != cur.Maintainer {
			if err := s.checkMaintainer(ctx, probe.Maintainer); err != nil {
				return nil, err
			}
		}
	}
	f, err := s.store.UpdateFlag(ctx, project, key, func(f *domain.Flag, configs []domain.FlagConfig) error {
		if err := checkVersion("flag", expected, f.Version); err != nil {
			return err
		}
		orig := *f
		orig.Variants = slices.Clone(f.Variants)
		if err := change(f); err != nil {
			return err
		}
		if f.Key != orig.Key || f.Project != orig.Project {
			return immutable("/key", "a flag's key")
		}
		if f.Tags == nil {
			f.Tags = []string{}
		}
		if err := f.Validate(); err != nil {
			return err
		}
		for _, c := range configs {
			for _, v := range orig.Variants {
				if !f.HasVariant(v.Key) && c.UsesVariant(v.Key) {
					return domain.Errorf(domain.CodeConflict,
						"variant %q is served in environment %q; change that environment's targeting before removing or renaming it", v.Key, c.Environment)
				}
			}
		}
		f.UpdatedAt = s.clock.Now()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "flag updated", "project", project, "flag", key, "version", f.Version, "actor", p.Actor())
	return f, nil
}

// ArchiveFlag archives a flag (DELETE without hard).
func (s *Service) ArchiveFlag(ctx context.Context, p *Principal, project, key string) (*domain.Flag, error) {
	return s.UpdateFlag(ctx, p, project, key, nil, func(f *domain.Flag) error {
		f.Archived = true
		return nil
	})
}

// DeleteFlag deletes an archived flag and its configs for good.
func (s *Service) DeleteFlag(ctx context.Context, p *Principal, project, key string) error {
	if err := p.require(domain.RoleManager, "deleting a flag for good"); err != nil {
		return err
	}
	err := s.store.DeleteFlag(ctx, project, key, func(f *domain.Flag) error {
		if !f.Archived {
			return domain.Errorf(domain.CodeConflict, "flag %q is not archived; archive it first (DELETE without hard=true)", key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "flag deleted", "project", project, "flag", key, "actor", p.Actor())
	return nil
}

// GetFlagConfig reads a flag's targeting in one environment.
func (s *Service) GetFlagConfig(ctx context.Context, p *Principal, project, flag, env string) (*domain.FlagConfig, error) {
	if err := p.require(domain.RoleViewer, "reading targeting"); err != nil {
		return nil, err
	}
	_, c, err := s.store.GetFlagConfig(ctx, project, flag, env)
	return c, err
}

// UpdateFlagConfig applies change to a flag's targeting in one environment.
func (s *Service) UpdateFlagConfig(ctx context.Context, p *Principal, project, flag, env string, expected *int64, change func(*domain.FlagConfig) error) (*domain.FlagConfig, error) {
	if err := p.require(domain.RoleEditor, "changing targeting"); err != nil {
		return nil, err
	}
	c, err := s.store.UpdateFlagConfig(ctx, project, flag, env, func(f *domain.Flag, c *domain.FlagConfig) error {
		if err := checkVersion("targeting", expected, c.Version); err != nil {
			return err
		}
		orig := *c
		if err := change(c); err != nil {
			return err
		}
		if c.Project != orig.Project || c.Flag != orig.Flag || c.Environment != orig.Environment {
			return immutable("/environment", "the project, flag and environment of targeting")
		}
		if c.OffVariant == "" {
			c.OffVariant = domain.OffVariantKey
		}
		if c.Rules == nil {
			c.Rules = []domain.Rule{}
		}
		for i := range c.Rules {
			if c.Rules[i].Conditions == nil {
				c.Rules[i].Conditions = []domain.Condition{}
			}
			for j := range c.Rules[i].Conditions {
				if c.Rules[i].Conditions[j].Values == nil {
					c.Rules[i].Conditions[j].Values = []string{}
				}
			}
			if c.Rules[i].Weights == nil {
				c.Rules[i].Weights = []domain.Weight{}
			}
		}
		if c.DefaultRule.Weights == nil {
			c.DefaultRule.Weights = []domain.Weight{}
		}
		c.UpdatedAt = s.clock.Now()
		if err := c.Validate(f); err != nil {
			return err
		}
		if f.Archived {
			return domain.Errorf(domain.CodeConflict, "flag %q is archived; restore it (PATCH archived=false) before changing its targeting", f.Key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "targeting updated", "project", project, "flag", flag, "environment", env, "version", c.Version, "actor", p.Actor())
	return c, nil
}

func cloneFlag(f *domain.Flag) *domain.Flag {
	c := *f
	c.Tags = slices.Clone(f.Tags)
	c.Variants = make([]domain.Variant, len(f.Variants))
	for i, v := range f.Variants {
		v.Value = slices.Clone(v.Value)
		c.Variants[i] = v
	}
	return &c
}
