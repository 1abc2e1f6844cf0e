package record

import (
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// SegmentRule is one way into a segment; its conditions are stored as a
// targeting rule's are.
type SegmentRule struct {
	Conditions []Condition `json:"conditions"`
}

func FromSegmentRule(r domain.SegmentRule) SegmentRule {
	return SegmentRule{Conditions: each(r.Conditions, FromCondition)}
}

func (r SegmentRule) Domain() domain.SegmentRule {
	return domain.SegmentRule{Conditions: each(r.Conditions, Condition.Domain)}
}

// Segment is a project's reusable audience. Its included and excluded keys
// live in its one record (domain.MaxSegmentKeyBytes bounds them, well
// within DynamoDB's 400 KB item).
type Segment struct {
	Project     string        `json:"project"`
	Key         string        `json:"key"`
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Included    []string      `json:"included"`
	Excluded    []string      `json:"excluded"`
	Rules       []SegmentRule `json:"rules"`
	Version     int64         `json:"version"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

func FromSegment(s domain.Segment) Segment {
	return Segment{
		Project: s.Project, Key: s.Key, Name: s.Name, Description: s.Description, Included: s.Included, Excluded: s.Excluded,
		Rules: each(s.Rules, FromSegmentRule), Version: s.Version, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
}

func (r Segment) Domain() domain.Segment {
	return domain.Segment{
		Project: r.Project, Key: r.Key, Name: r.Name, Description: r.Description, Included: r.Included, Excluded: r.Excluded,
		Rules: each(r.Rules, SegmentRule.Domain), Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}
