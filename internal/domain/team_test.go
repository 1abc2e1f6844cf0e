package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

func TestTeamValidate(t *testing.T) {
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("m_%d", i)
		}
		return out
	}
	ok := domain.Team{Key: "sre", Name: "SRE", Members: many(domain.MaxTeamMembers)}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a full team: %v", err)
	}
	if err := (&domain.Team{Key: "empty", Name: "Empty"}).Validate(); err != nil {
		t.Fatalf("a team without members: %v", err)
	}
	for _, c := range []struct {
		name    string
		team    domain.Team
		pointer string
	}{
		{"key not a slug", domain.Team{Key: "Not A Slug", Name: "x"}, "/key"},
		{"no key", domain.Team{Name: "x"}, "/key"},
		{"no name", domain.Team{Key: "x", Name: "  "}, "/name"},
		{"name too long", domain.Team{Key: "x", Name: strings.Repeat("n", 201)}, "/name"},
		{"too many members", domain.Team{Key: "x", Name: "x", Members: many(domain.MaxTeamMembers + 1)}, "/members"},
		{"a member twice", domain.Team{Key: "x", Name: "x", Members: []string{"m_a", "m_b", "m_a"}}, "/members/2"},
		{"an empty member", domain.Team{Key: "x", Name: "x", Members: []string{"m_a", ""}}, "/members/1"},
		{"a member id too long", domain.Team{Key: "x", Name: "x", Members: []string{strings.Repeat("m", 129)}}, "/members/0"},
	} {
		var de *domain.Error
		err := c.team.Validate()
		if !errors.As(err, &de) || de.Code != domain.CodeInvalid || len(de.Fields) != 1 || de.Fields[0].Pointer != c.pointer {
			t.Errorf("%s: want one problem at %s, got %v (%+v)", c.name, c.pointer, err, de)
		}
	}
}

func TestTeamErrors(t *testing.T) {
	if domain.ErrorCode(domain.ErrTooManyTeams) != domain.CodeConflict || domain.ErrorCode(domain.ErrTeamExists("sre")) != domain.CodeConflict ||
		!strings.Contains(domain.ErrTeamExists("sre").Error(), `"sre"`) {
		t.Fatalf("team errors: %v, %v", domain.ErrTooManyTeams, domain.ErrTeamExists("sre"))
	}
	team := domain.Team{Members: []string{"m_a"}}
	if !team.HasMember("m_a") || team.HasMember("m_b") {
		t.Fatal("HasMember")
	}
}
