package httpapi

import (
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// The team's view and the body its create route reads (views.go and
// inputs.go say why these are types of the API's own).

// TeamView is a named group of the organisation's members.
type TeamView struct {
	Key       string    `json:"key"`
	Name      string    `json:"name"`
	Members   []string  `json:"members"` // member ids; always a list
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func teamView(t *domain.Team) TeamView {
	return TeamView{Key: t.Key, Name: t.Name, Members: orEmpty(t.Members), Version: t.Version, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

func (v *TeamView) toDomain() domain.Team {
	return domain.Team{Key: v.Key, Name: v.Name, Members: v.Members, Version: v.Version, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

// teamInput is the body of POST /v1/teams.
type teamInput struct {
	Key     string   `json:"key"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

func (in *teamInput) toApp() app.TeamInput {
	return app.TeamInput{Key: in.Key, Name: in.Name, Members: in.Members}
}

var teamReadOnly = []string{"key", "created_at", "updated_at"}
