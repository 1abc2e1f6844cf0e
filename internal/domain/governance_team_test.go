package domain_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// teamDirections is, per field of domain.Team, how changing it moves the
// rules where a requirement or a flag's maintainer team names the team: a
// change that weakens (one more person may supply the team's approvals), one
// that does not, or why the field has no direction.
var teamDirections = map[string]struct {
	weaken, strengthen func(*domain.Team)
	neither            string
}{
	"Members": {
		weaken:     func(t *domain.Team) { t.Members = append(t.Members, "m_friend") },
		strengthen: func(t *domain.Team) { t.Members = t.Members[:1] }, // removing: fewer may approve
	},
	"Name":      {neither: "it names the team only"},
	"Key":       {neither: "identity: it never changes"},
	"Version":   {neither: "bookkeeping"},
	"CreatedAt": {neither: "bookkeeping"},
	"UpdatedAt": {neither: "bookkeeping"},
}

func teamBase() *domain.Team {
	return &domain.Team{Key: "sre", Name: "SRE", Members: []string{"m_alice", "m_bob"}, Version: 3}
}

const sreRequired = "the approval settings of shop/production require"

// Every field of a team has a direction: a new field fails until it says
// whether changing it lets more people approve for the team.
func TestEveryTeamFieldHasADirection(t *testing.T) {
	typ := reflect.TypeFor[domain.Team]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		d, ok := teamDirections[name]
		if !ok {
			t.Errorf("Team.%s has no direction: say in teamDirections whether changing it weakens a requirement naming the team", name)
			continue
		}
		if d.neither != "" {
			continue
		}
		if d.weaken == nil || d.strengthen == nil {
			t.Errorf("Team.%s: give a weakening and a strengthening, or say why neither", name)
			continue
		}
		moved := func(move func(*domain.Team)) (*domain.Team, *domain.Team) {
			before := teamBase()
			after := teamBase()
			move(after)
			return before, after
		}
		before, after := moved(d.weaken)
		if got := domain.WeakenedTeam(before, after, sreRequired); len(got) != 1 || got[0].Pointer != "/members" ||
			!strings.Contains(got[0].Detail, "m_friend") || !strings.Contains(got[0].Detail, "shop/production") {
			t.Errorf("%s weakened (%v → %v): reported %v", name, before.Members, after.Members, got)
		}
		if got := domain.WeakenedTeam(before, after, ""); len(got) != 0 {
			t.Errorf("%s weakened on a team nothing names: reported %v", name, got)
		}
		before, after = moved(d.strengthen)
		if got := domain.WeakenedTeam(before, after, sreRequired); len(got) != 0 {
			t.Errorf("%s strengthened (%v → %v): reported as weakening %v", name, before.Members, after.Members, got)
		}
	}
	renamed := teamBase()
	renamed.Name = "Site reliability"
	if got := domain.WeakenedTeam(teamBase(), renamed, sreRequired); len(got) != 0 {
		t.Errorf("a rename weakens: %v", got)
	}
}

// Replacing the member list weakens when it adds anyone, one entry per
// member added, whatever it removes: a swap is a weakening.
func TestWeakenedTeamSwap(t *testing.T) {
	after := teamBase()
	after.Members = []string{"m_carol", "m_dora"}
	got := domain.WeakenedTeam(teamBase(), after, sreRequired)
	if len(got) != 2 || !strings.Contains(got[0].Detail, "m_carol") || !strings.Contains(got[1].Detail, "m_dora") {
		t.Fatalf("a swap: %v", got)
	}
	after.Members = []string{"m_bob", "m_alice"} // reordered: nobody added
	if got := domain.WeakenedTeam(teamBase(), after, sreRequired); len(got) != 0 {
		t.Fatalf("a reorder: %v", got)
	}
}

// A team governance change concerns the members it adds (they may not
// approve it), not those already in the team; its diff shows the team's
// name and members only, and it is applied by a manager.
func TestTeamGovernanceChange(t *testing.T) {
	base := teamBase()
	next := teamBase()
	next.Members = []string{"m_alice", "m_friend"}
	g := &domain.GovernanceChange{What: domain.GovernTeam, Team: "sre", NewTeam: next, BaseTeam: base,
		Weakens: domain.WeakenedTeam(base, next, sreRequired)}
	if !g.Concerns("m_friend") || g.Concerns("m_alice") || g.Concerns("m_bob") || g.Concerns("") {
		t.Fatal("Concerns: only the member added")
	}
	if g.ApplyRole() != domain.RoleManager || g.BaseVersion() != 3 || g.Name() != `the members of team "sre"` {
		t.Fatalf("apply role %s, base version %d, name %q", g.ApplyRole(), g.BaseVersion(), g.Name())
	}
	if !slices.Contains(domain.GovernanceTargets, domain.GovernTeam) {
		t.Fatal("GovernTeam is not among the targets")
	}
	d, err := g.Diff(base)
	if err != nil {
		t.Fatal(err)
	}
	ops := string(d.Operations)
	if !strings.Contains(ops, "/members/1") || strings.Contains(ops, "version") || len(d.Summary) != 1 {
		t.Fatalf("diff %s, summary %v", ops, d.Summary)
	}
	moved := teamBase()
	moved.Name, moved.Version = "Renamed", 4
	if m, err := g.Moved(moved); err != nil || !strings.Contains(string(m.Operations), "/name") {
		t.Fatalf("moved: %+v %v", m, err)
	}
}
