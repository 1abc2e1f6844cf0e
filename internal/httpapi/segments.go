package httpapi

import (
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// The segment's view and the bodies its routes read (views.go and
// inputs.go say why these are types of the API's own).

// SegmentRuleView is one way into a segment: all its conditions hold.
type SegmentRuleView struct {
	Conditions []ConditionView `json:"conditions"`
}

func segmentRuleView(r *domain.SegmentRule) SegmentRuleView {
	return SegmentRuleView{Conditions: mapSlice(r.Conditions, conditionView)}
}

func (v *SegmentRuleView) toDomain() domain.SegmentRule {
	return domain.SegmentRule{Conditions: mapSlice(v.Conditions, (*ConditionView).toDomain)}
}

// SegmentView is a project's reusable audience.
type SegmentView struct {
	Project     string            `json:"project"`
	Key         string            `json:"key"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Included    []string          `json:"included"`
	Excluded    []string          `json:"excluded"`
	Rules       []SegmentRuleView `json:"rules"`
	Version     int64             `json:"version"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func segmentView(s *domain.Segment) SegmentView {
	return SegmentView{Project: s.Project, Key: s.Key, Name: s.Name, Description: s.Description, Included: s.Included, Excluded: s.Excluded,
		Rules: mapSlice(s.Rules, segmentRuleView), Version: s.Version, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

func (v *SegmentView) toDomain() domain.Segment {
	return domain.Segment{Project: v.Project, Key: v.Key, Name: v.Name, Description: v.Description, Included: v.Included, Excluded: v.Excluded,
		Rules: mapSlice(v.Rules, (*SegmentRuleView).toDomain), Version: v.Version, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

func segmentVersion(s *domain.Segment) int64 { return s.Version }

// segmentInput is the body of POST /v1/projects/{project}/segments.
type segmentInput struct {
	Key         string            `json:"key"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Included    []string          `json:"included"`
	Excluded    []string          `json:"excluded"`
	Rules       []SegmentRuleView `json:"rules"`
}

func (in *segmentInput) toApp() app.SegmentInput {
	return app.SegmentInput{Key: in.Key, Name: in.Name, Description: in.Description, Included: in.Included, Excluded: in.Excluded,
		Rules: mapSlice(in.Rules, (*SegmentRuleView).toDomain)}
}

// segmentPut is a whole segment. It may be a GET response sent back:
// project and key must then match the URL; created_at and updated_at are
// ignored; version (or If-Match) is required.
type segmentPut struct {
	SegmentView
	Version *int64 `json:"version"`
}

var segmentReadOnly = []string{"project", "key", "created_at", "updated_at"}
