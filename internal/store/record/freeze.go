package record

import (
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// Freeze is a change freeze as stored, an element of the calendar's list.
// Its time zone is stored by name and its times in UTC (RFC 3339).
type Freeze struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Reason       string     `json:"reason,omitempty"`
	Project      string     `json:"project,omitempty"`
	Environments []string   `json:"environments"`
	From         *time.Time `json:"from,omitempty"`
	To           *time.Time `json:"to,omitempty"`
	Start        string     `json:"start,omitempty"`
	End          string     `json:"end,omitempty"`
	TimeZone     string     `json:"time_zone,omitempty"`
	Scheduled    string     `json:"scheduled"`
	Version      int64      `json:"version,omitempty"`
	CreatedBy    string     `json:"created_by"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

func inUTC(t time.Time) time.Time { return t.UTC() }

func FromFreeze(f domain.Freeze) Freeze {
	return Freeze{
		ID: f.ID, Name: f.Name, Reason: f.Reason, Project: f.Project, Environments: f.Environments,
		From: optional(f.From, inUTC), To: optional(f.To, inUTC), Start: f.Start, End: f.End, TimeZone: f.TimeZone,
		Scheduled: string(f.Scheduled), Version: f.Version, CreatedBy: f.CreatedBy, CreatedAt: f.CreatedAt.UTC(), UpdatedAt: f.UpdatedAt.UTC(),
	}
}

func (r Freeze) Domain() domain.Freeze {
	return domain.Freeze{
		ID: r.ID, Name: r.Name, Reason: r.Reason, Project: r.Project, Environments: r.Environments,
		From: r.From, To: r.To, Start: r.Start, End: r.End, TimeZone: r.TimeZone,
		Scheduled: domain.FreezeSchedule(r.Scheduled), Version: r.Version, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// FreezeCalendar is the organisation's one item of freezes: DynamoDB's
// ORG/FREEZES (freezes, a list of maps, and version), bbolt's "freezes" key
// of its settings bucket.
type FreezeCalendar struct {
	Freezes []Freeze `json:"freezes"`
	Version int64    `json:"version"`
}

func FromFreezeCalendar(c domain.FreezeCalendar) FreezeCalendar {
	return FreezeCalendar{Freezes: each(c.Freezes, FromFreeze), Version: c.Version}
}

func (r FreezeCalendar) Domain() domain.FreezeCalendar {
	return domain.FreezeCalendar{Freezes: each(r.Freezes, Freeze.Domain), Version: r.Version}
}
