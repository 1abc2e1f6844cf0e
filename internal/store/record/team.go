package record

import (
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// Team is a named group of the organisation's members (their ids). Its
// members live in its one record (domain.MaxTeamMembers bounds them).
type Team struct {
	Key       string    `json:"key"`
	Name      string    `json:"name"`
	Members   []string  `json:"members"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func FromTeam(t domain.Team) Team {
	return Team{Key: t.Key, Name: t.Name, Members: t.Members, Version: t.Version, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

func (r Team) Domain() domain.Team {
	return domain.Team{Key: r.Key, Name: r.Name, Members: r.Members, Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}
