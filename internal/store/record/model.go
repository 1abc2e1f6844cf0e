package record

import (
	"encoding/json"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

type Project struct {
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func FromProject(p domain.Project) Project {
	return Project{Key: p.Key, Name: p.Name, Description: p.Description, Version: p.Version, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (r Project) Domain() domain.Project {
	return domain.Project{Key: r.Key, Name: r.Name, Description: r.Description, Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type Environment struct {
	Project   string    `json:"project"`
	Key       string    `json:"key"`
	Name      string    `json:"name"`
	Protected bool      `json:"protected"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// AllowedOrigins: absent when none (environments made before client keys).
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
}

func FromEnvironment(e domain.Environment) Environment {
	return Environment{Project: e.Project, Key: e.Key, Name: e.Name, Protected: e.Protected, Version: e.Version, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		AllowedOrigins: e.AllowedOrigins}
}

func (r Environment) Domain() domain.Environment {
	return domain.Environment{Project: r.Project, Key: r.Key, Name: r.Name, Protected: r.Protected, Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		AllowedOrigins: r.AllowedOrigins}
}

// Variant's Value is stored as it was given: JSON text in the embedded
// store, binary (B) in DynamoDB.
type Variant struct {
	Key         string          `json:"key"`
	Value       json.RawMessage `json:"value"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
}

func FromVariant(v domain.Variant) Variant {
	return Variant{Key: v.Key, Value: v.Value, Name: v.Name, Description: v.Description}
}

func (r Variant) Domain() domain.Variant {
	return domain.Variant{Key: r.Key, Value: r.Value, Name: r.Name, Description: r.Description}
}

type Flag struct {
	Project        string    `json:"project"`
	Key            string    `json:"key"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	Tags           []string  `json:"tags"`
	Maintainer     string    `json:"maintainer"`
	MaintainerTeam string    `json:"maintainer_team,omitempty"`
	BucketingUnit  string    `json:"bucketing_unit"`
	BucketingSalt  string    `json:"bucketing_salt"`
	EvaluationMode string    `json:"evaluation_mode"`
	Variants       []Variant `json:"variants"`
	Archived       bool      `json:"archived"`
	Version        int64     `json:"version"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	ClientExposed  bool      `json:"client_exposed,omitempty"` // absent: not exposed (flags made before client keys)
}

func FromFlag(f domain.Flag) Flag {
	return Flag{
		Project: f.Project, Key: f.Key, Name: f.Name, Description: f.Description, Tags: f.Tags, Maintainer: f.Maintainer, MaintainerTeam: f.MaintainerTeam,
		BucketingUnit: f.BucketingUnit, BucketingSalt: f.BucketingSalt, EvaluationMode: string(f.EvaluationMode),
		Variants: each(f.Variants, FromVariant), Archived: f.Archived, Version: f.Version, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt,
		ClientExposed: f.ClientExposed,
	}
}

func (r Flag) Domain() domain.Flag {
	return domain.Flag{
		Project: r.Project, Key: r.Key, Name: r.Name, Description: r.Description, Tags: r.Tags, Maintainer: r.Maintainer, MaintainerTeam: r.MaintainerTeam,
		BucketingUnit: r.BucketingUnit, BucketingSalt: r.BucketingSalt, EvaluationMode: domain.EvaluationMode(r.EvaluationMode),
		Variants: each(r.Variants, Variant.Domain), Archived: r.Archived, Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		ClientExposed: r.ClientExposed,
	}
}

type Weight struct {
	Variant string `json:"variant"`
	Weight  int    `json:"weight"`
}

func FromWeight(w domain.Weight) Weight { return Weight{Variant: w.Variant, Weight: w.Weight} }

func (r Weight) Domain() domain.Weight { return domain.Weight{Variant: r.Variant, Weight: r.Weight} }

type Allocation struct {
	Rollout float64  `json:"rollout"`
	Weights []Weight `json:"weights"`
}

func FromAllocation(a domain.Allocation) Allocation {
	return Allocation{Rollout: a.Rollout, Weights: each(a.Weights, FromWeight)}
}

func (r Allocation) Domain() domain.Allocation {
	return domain.Allocation{Rollout: r.Rollout, Weights: each(r.Weights, Weight.Domain)}
}

type Condition struct {
	Attribute string   `json:"attribute"`
	Operator  string   `json:"operator"`
	Values    []string `json:"values"`
}

func FromCondition(c domain.Condition) Condition {
	return Condition{Attribute: c.Attribute, Operator: string(c.Operator), Values: c.Values}
}

func (r Condition) Domain() domain.Condition {
	return domain.Condition{Attribute: r.Attribute, Operator: domain.Operator(r.Operator), Values: r.Values}
}

// Rule embeds its allocation, as the domain's does: its fields are stored
// beside the rule's own.
type Rule struct {
	Name       string      `json:"name"`
	Conditions []Condition `json:"conditions"`
	Allocation
}

func FromRule(r domain.Rule) Rule {
	return Rule{Name: r.Name, Conditions: each(r.Conditions, FromCondition), Allocation: FromAllocation(r.Allocation)}
}

func (r Rule) Domain() domain.Rule {
	return domain.Rule{Name: r.Name, Conditions: each(r.Conditions, Condition.Domain), Allocation: r.Allocation.Domain()}
}

type FlagConfig struct {
	Project         string     `json:"project"`
	Flag            string     `json:"flag"`
	Environment     string     `json:"environment"`
	Enabled         bool       `json:"enabled"`
	Rules           []Rule     `json:"rules"`
	DefaultRule     Allocation `json:"default_rule"`
	OffVariant      string     `json:"off_variant"`
	StickyBucketing bool       `json:"sticky_bucketing"`
	ExposureEvent   string     `json:"exposure_event"`
	Version         int64      `json:"version"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

func FromFlagConfig(c domain.FlagConfig) FlagConfig {
	return FlagConfig{
		Project: c.Project, Flag: c.Flag, Environment: c.Environment, Enabled: c.Enabled, Rules: each(c.Rules, FromRule),
		DefaultRule: FromAllocation(c.DefaultRule), OffVariant: c.OffVariant, StickyBucketing: c.StickyBucketing,
		ExposureEvent: c.ExposureEvent, Version: c.Version, UpdatedAt: c.UpdatedAt,
	}
}

func (r FlagConfig) Domain() domain.FlagConfig {
	return domain.FlagConfig{
		Project: r.Project, Flag: r.Flag, Environment: r.Environment, Enabled: r.Enabled, Rules: each(r.Rules, Rule.Domain),
		DefaultRule: r.DefaultRule.Domain(), OffVariant: r.OffVariant, StickyBucketing: r.StickyBucketing,
		ExposureEvent: r.ExposureEvent, Version: r.Version, UpdatedAt: r.UpdatedAt,
	}
}
