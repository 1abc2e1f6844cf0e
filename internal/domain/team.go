package domain

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Team is a named group of the organisation's members (their ids). Teams
// belong to no project. Approval settings require approvals from teams,
// and a flag's maintainer team counts for its maintainers: while approvals
// are on, adding members to such a team needs a second person
// (WeakenedTeam).
type Team struct {
	Key       string
	Name      string
	Members   []string // member ids, each once, in the order given
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Limits of teams: a team's members live in its one item, and every team
// is read when approval settings name teams.
const (
	MaxTeams        = 100 // teams of the organisation
	MaxTeamMembers  = 100 // members of one team
	maxTeamMemberID = 128 // bytes of one member id
)

// Validate checks a team on its own (whether its members exist is the
// application's check, against the store).
func (t *Team) Validate() error {
	var v Validation
	if !ValidKey(t.Key) {
		v.Add("/key", "must be lowercase letters, digits and dashes, starting with a letter or digit, at most 63 characters")
	}
	checkName(&v, "/name", t.Name, true)
	if len(t.Members) > MaxTeamMembers {
		v.Add("/members", "a team has at most %d members (it has %d)", MaxTeamMembers, len(t.Members))
	}
	seen := make(map[string]int, len(t.Members))
	for i, m := range t.Members {
		ptr := fmt.Sprintf("/members/%d", i)
		first, dup := seen[m]
		switch {
		case strings.TrimSpace(m) == "":
			v.Add(ptr, "a member id must not be empty")
		case len(m) > maxTeamMemberID:
			v.Add(ptr, "a member id is at most %d bytes", maxTeamMemberID)
		case dup:
			v.Add(ptr, "member %q is already listed (/members/%d)", m, first)
		}
		if !dup {
			seen[m] = i
		}
	}
	return v.Err()
}

// TeamTerms is what a team says, without its key and bookkeeping: its name
// and its members (what an audit diff and a governance change compare).
type TeamTerms struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// Terms is t's name and members.
func (t *Team) Terms() *TeamTerms { return &TeamTerms{Name: t.Name, Members: t.Members} }

// HasMember reports whether member id is in the team.
func (t *Team) HasMember(id string) bool { return slices.Contains(t.Members, id) }

// ErrTooManyTeams is CreateTeam's conflict when the organisation has
// MaxTeams teams already.
var ErrTooManyTeams = &Error{Code: CodeConflict, Message: "the organisation has 100 teams, the most it may have; delete one first"} // TestLimitMessagesNameTheLimits

// ErrTeamExists is CreateTeam's conflict when the key is taken.
func ErrTeamExists(key string) *Error {
	return Errorf(CodeConflict, "team %q already exists", key)
}

// TeamRepository stores the organisation's teams. Every write (create,
// update, delete) writes its audit entries, with their outbox items, in the
// same atomic write.
type TeamRepository interface {
	// CreateTeam writes a new team (Version 1): conflict if the key is
	// taken (ErrTeamExists) or the organisation has MaxTeams teams
	// (ErrTooManyTeams).
	CreateTeam(ctx context.Context, t *Team, audit []AuditEntry) error
	// GetTeam: not_found without the team.
	GetTeam(ctx context.Context, key string) (*Team, error)
	// ListTeams lists the teams in key order, paginated as projects are.
	ListTeams(ctx context.Context, page Page) ([]Team, string, error)
	// UpdateTeam is the read-modify-write of a team: fn changes the team
	// (its version check included: a client's stale version is fn's
	// StaleVersion) and records audit entries; the store writes it with
	// the read version + 1 only if it did not change meanwhile (a lost
	// race reads again and calls fn again; ErrContention when it keeps
	// losing). An error from fn aborts the write and is returned as is.
	// In the same atomic write: the request fn's Audit.Applies names,
	// conditioned on its version (ErrRequestMoved otherwise, writing
	// nothing), and the check of the settings its Audit.Guard names
	// (ErrContention when they moved, writing nothing).
	UpdateTeam(ctx context.Context, key string, fn func(t *Team, audit *Audit) error) (*Team, error)
	// DeleteTeam deletes the team if check (given the team as it is)
	// returns nil, only while the team is still as check saw it (a race
	// reads again and checks again); not_found without the team.
	DeleteTeam(ctx context.Context, key string, check func(t *Team, audit *Audit) error) error
}
