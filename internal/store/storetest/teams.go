package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

func teamTests() map[string]func(*testing.T, domain.Store) {
	return map[string]func(*testing.T, domain.Store){
		"TeamLifecycle":          testTeamLifecycle,
		"TeamWritesAreAudited":   testTeamWritesAreAudited,
		"TeamPagination":         testTeamPagination,
		"TeamLimit":              testTeamLimit,
		"TeamConcurrentUpdates":  testTeamConcurrentUpdates,
		"TeamStaleVersionWinner": testTeamStaleVersionOneWinner,
		"TeamDeleteRacesUpdate":  testTeamDeleteRacesUpdate,
		"TeamWriteGuarded":       testTeamWriteGuarded,
	}
}

func newTeam(key string, members ...string) *domain.Team {
	if members == nil {
		members = []string{}
	}
	return &domain.Team{Key: key, Name: "Team " + key, Members: members, CreatedAt: t0, UpdatedAt: t0}
}

func teamEntry(id string, action domain.AuditAction, team string) domain.AuditEntry {
	return domain.AuditEntry{ID: id, At: t0, Actor: "member:m1", Action: action, Channel: "api", Team: team}
}

func noTeamCheck(*domain.Team, *domain.Audit) error { return nil }

func testTeamLifecycle(t *testing.T, s domain.Store) {
	ctx := context.Background()
	teams, next, err := s.ListTeams(ctx, domain.Page{})
	must(t, err)
	if teams == nil || len(teams) != 0 || next != "" {
		t.Fatalf("no teams: %#v %q", teams, next)
	}
	team := newTeam("sre", "m_alice", "m_bob")
	must(t, s.CreateTeam(ctx, team, nil))
	if team.Version != 1 {
		t.Fatalf("a new team has version 1, got %d", team.Version)
	}
	err = s.CreateTeam(ctx, newTeam("sre"), nil)
	wantCode(t, err, domain.CodeConflict)
	if got, _ := s.GetTeam(ctx, "sre"); got == nil || len(got.Members) != 2 {
		t.Fatalf("a refused create changed the team: %+v", got)
	}

	got, err := s.GetTeam(ctx, "sre")
	must(t, err)
	if got.Version != 1 || got.Key != "sre" || got.Name != "Team sre" || !slices.Equal(got.Members, []string{"m_alice", "m_bob"}) ||
		!got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Fatalf("read back %+v", got)
	}
	_, err = s.GetTeam(ctx, "nope")
	wantCode(t, err, domain.CodeNotFound)

	later := t0.Add(time.Minute)
	got, err = s.UpdateTeam(ctx, "sre", func(team *domain.Team, _ *domain.Audit) error {
		team.Name = "Site reliability"
		team.Members = slices.DeleteFunc(team.Members, func(m string) bool { return m == "m_alice" })
		team.Members = append(team.Members, "m_carol")
		team.UpdatedAt = later
		return nil
	})
	must(t, err)
	if got.Version != 2 || got.Name != "Site reliability" || !slices.Equal(got.Members, []string{"m_bob", "m_carol"}) {
		t.Fatalf("after update %+v", got)
	}
	if got, _ := s.GetTeam(ctx, "sre"); got.Version != 2 || !slices.Equal(got.Members, []string{"m_bob", "m_carol"}) || !got.UpdatedAt.Equal(later) || !got.CreatedAt.Equal(t0) {
		t.Fatalf("read back after update %+v", got)
	}
	_, err = s.UpdateTeam(ctx, "nope", func(*domain.Team, *domain.Audit) error { return nil })
	wantCode(t, err, domain.CodeNotFound)

	// an update function's error aborts the write, and is returned as is
	boom := errors.New("boom")
	if _, err := s.UpdateTeam(ctx, "sre", func(team *domain.Team, a *domain.Audit) error {
		team.Name = "changed"
		a.Record(teamEntry("a-aborted", domain.ActionTeamUpdated, "sre"))
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("the update function's error: got %v", err)
	}
	if got, _ := s.GetTeam(ctx, "sre"); got.Version != 2 || got.Name != "Site reliability" {
		t.Fatalf("an aborted update wrote: %+v", got)
	}
	if _, err := s.GetOutbox(ctx, "a-aborted"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("an aborted update wrote its outbox item: %v", err)
	}

	// a check's refusal deletes nothing, and writes no audit entry
	refused := domain.Errorf(domain.CodeConflict, "in use")
	if err := s.DeleteTeam(ctx, "sre", func(_ *domain.Team, a *domain.Audit) error {
		a.Record(teamEntry("a-refused", domain.ActionTeamDeleted, "sre"))
		return refused
	}); !errors.Is(err, refused) {
		t.Fatalf("the check's refusal: got %v", err)
	}
	if got, err := s.GetTeam(ctx, "sre"); err != nil || got.Version != 2 {
		t.Fatalf("a refused delete deleted: %+v %v", got, err)
	}
	if _, err := s.GetOutbox(ctx, "a-refused"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("a refused delete wrote its outbox item: %v", err)
	}
	wantCode(t, s.DeleteTeam(ctx, "nope", noTeamCheck), domain.CodeNotFound)
	var checked *domain.Team
	must(t, s.DeleteTeam(ctx, "sre", func(team *domain.Team, _ *domain.Audit) error { checked = team; return nil }))
	if checked == nil || checked.Version != 2 || !slices.Equal(checked.Members, []string{"m_bob", "m_carol"}) {
		t.Fatalf("the check was given %+v, want the team as stored", checked)
	}
	_, err = s.GetTeam(ctx, "sre")
	wantCode(t, err, domain.CodeNotFound)
	wantCode(t, s.DeleteTeam(ctx, "sre", noTeamCheck), domain.CodeNotFound)
	_, err = s.UpdateTeam(ctx, "sre", func(*domain.Team, *domain.Audit) error { return nil })
	wantCode(t, err, domain.CodeNotFound)

	// made again under the same key, it starts over
	must(t, s.CreateTeam(ctx, newTeam("sre"), nil))
	if got, _ := s.GetTeam(ctx, "sre"); got.Version != 1 || len(got.Members) != 0 {
		t.Fatalf("made again: %+v", got)
	}
}

// Every team write carries its audit entries, each with its outbox item,
// in the same write; a write refused writes none.
func testTeamWritesAreAudited(t *testing.T, s domain.Store) {
	ctx := context.Background()
	must(t, s.CreateTeam(ctx, newTeam("sre", "m_alice"), []domain.AuditEntry{teamEntry("a-created", domain.ActionTeamCreated, "sre")}))
	// a refused create (the key is taken) writes no entry
	wantCode(t, s.CreateTeam(ctx, newTeam("sre"), []domain.AuditEntry{teamEntry("a-created-again", domain.ActionTeamCreated, "sre")}), domain.CodeConflict)
	_, err := s.UpdateTeam(ctx, "sre", func(team *domain.Team, a *domain.Audit) error {
		team.Members = append(team.Members, "m_bob")
		e := teamEntry("a-updated", domain.ActionTeamUpdated, "sre")
		e.At = t0.Add(time.Second)
		a.Record(e)
		return nil
	})
	must(t, err)
	must(t, s.DeleteTeam(ctx, "sre", func(_ *domain.Team, a *domain.Audit) error {
		e := teamEntry("a-deleted", domain.ActionTeamDeleted, "sre")
		e.At = t0.Add(2 * time.Second)
		a.Record(e)
		return nil
	}))
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{})
	must(t, err)
	var actions []domain.AuditAction
	for _, e := range entries {
		if e.Team != "sre" || e.Project != "" {
			t.Fatalf("entry %s names team %q, project %q", e.ID, e.Team, e.Project)
		}
		actions = append(actions, e.Action)
	}
	want := []domain.AuditAction{domain.ActionTeamDeleted, domain.ActionTeamUpdated, domain.ActionTeamCreated}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit log: %v, want %v", actions, want)
	}
	for _, id := range []string{"a-created", "a-updated", "a-deleted"} {
		ob, err := s.GetOutbox(ctx, id)
		if err != nil || ob.State != domain.OutboxPending || ob.Entry.Team != "sre" {
			t.Fatalf("outbox item of %s: %+v %v", id, ob, err)
		}
	}
	if _, err := s.GetOutbox(ctx, "a-created-again"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("a refused create wrote its outbox item: %v", err)
	}
}

// Teams are listed in key order and in pages.
func testTeamPagination(t *testing.T, s domain.Store) {
	ctx := context.Background()
	for _, k := range []string{"e", "c", "a", "d", "b"} {
		must(t, s.CreateTeam(ctx, newTeam(k), nil))
	}
	var keys []string
	cursor := ""
	pages := 0
	for {
		teams, next, err := s.ListTeams(ctx, domain.Page{Limit: 2, Cursor: cursor})
		must(t, err)
		pages++
		for _, team := range teams {
			keys = append(keys, team.Key)
		}
		if next == "" {
			break
		}
		if len(teams) != 2 {
			t.Fatalf("a page with a next cursor is full: %d", len(teams))
		}
		cursor = next
	}
	if fmt.Sprint(keys) != "[a b c d e]" || pages != 3 {
		t.Fatalf("teams: %v in %d pages", keys, pages)
	}
	teams, next, err := s.ListTeams(ctx, domain.Page{})
	must(t, err)
	if len(teams) != 5 || next != "" || teams[0].Key != "a" || teams[0].Version != 1 {
		t.Fatalf("one page of all: %+v %q", teams, next)
	}
	_, _, err = s.ListTeams(ctx, domain.Page{Cursor: "not a cursor!"})
	wantCode(t, err, domain.CodeInvalid)
}

// The organisation has at most domain.MaxTeams teams: the next create is
// refused, also when creates race for the last places, and a delete makes
// room again.
func testTeamLimit(t *testing.T, s domain.Store) {
	ctx := context.Background()
	for i := range domain.MaxTeams - 2 {
		must(t, s.CreateTeam(ctx, newTeam(fmt.Sprintf("t%03d", i)), nil))
	}
	// four creates race for the last two places
	const racers = 4
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { errs[i] = s.CreateTeam(ctx, newTeam(fmt.Sprintf("racer-%d", i)), nil) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, domain.ErrTooManyTeams):
			t.Fatalf("racer %d: want success or ErrTooManyTeams, got %v", i, err)
		}
	}
	if won != 2 {
		t.Fatalf("%d of %d racers for the last 2 places won: %v", won, racers, errs)
	}
	err := s.CreateTeam(ctx, newTeam("one-too-many"), []domain.AuditEntry{teamEntry("a-too-many", domain.ActionTeamCreated, "one-too-many")})
	if !errors.Is(err, domain.ErrTooManyTeams) {
		t.Fatalf("team %d: want ErrTooManyTeams, got %v", domain.MaxTeams+1, err)
	}
	if _, err := s.GetTeam(ctx, "one-too-many"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("the refused team was written: %v", err)
	}
	if _, err := s.GetOutbox(ctx, "a-too-many"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("the refused create wrote its outbox item: %v", err)
	}
	// a key taken is told as such, at the limit too
	if err := s.CreateTeam(ctx, newTeam("t000"), nil); !errors.Is(err, domain.ErrTeamExists("t000")) && domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("a taken key at the limit: %v", err)
	}
	must(t, s.DeleteTeam(ctx, "t042", noTeamCheck))
	must(t, s.CreateTeam(ctx, newTeam("one-more"), nil))
	if err := s.CreateTeam(ctx, newTeam("and-another"), nil); !errors.Is(err, domain.ErrTooManyTeams) {
		t.Fatalf("over the limit again: want ErrTooManyTeams, got %v", err)
	}
}

// Concurrent updates of one team, each adding its own member, all land:
// none is lost.
func testTeamConcurrentUpdates(t *testing.T, s domain.Store) {
	ctx := context.Background()
	must(t, s.CreateTeam(ctx, newTeam("sre"), nil))
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateTeam(ctx, "sre", func(team *domain.Team, a *domain.Audit) error {
				team.Members = append(team.Members, fmt.Sprintf("m_%d", i))
				e := teamEntry(fmt.Sprintf("a-add-%d", i), domain.ActionTeamUpdated, "sre")
				e.At = t0.Add(time.Duration(i) * time.Second)
				a.Record(e)
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	team, err := s.GetTeam(ctx, "sre")
	must(t, err)
	got := slices.Sorted(slices.Values(team.Members))
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("m_%d", i))
	}
	if !slices.Equal(got, want) || team.Version != 1+n {
		t.Fatalf("lost updates: members %v (want %v), version %d (want %d)", got, want, team.Version, 1+n)
	}
	for i := range n {
		if _, err := s.GetOutbox(ctx, fmt.Sprintf("a-add-%d", i)); err != nil {
			t.Fatalf("the audit entry of update %d: %v", i, err)
		}
	}
}

// Two writers replacing a team at the version they read: one wins, the
// other is told of the conflict, and the winner's team is stored whole.
func testTeamStaleVersionOneWinner(t *testing.T, s domain.Store) {
	ctx := context.Background()
	must(t, s.CreateTeam(ctx, newTeam("sre"), nil))
	const n = 2
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, results[i] = s.UpdateTeam(ctx, "sre", func(team *domain.Team, a *domain.Audit) error {
				if team.Version != 1 {
					return domain.StaleVersion("team", 1, team.Version)
				}
				team.Name = fmt.Sprintf("writer %d", i)
				team.Members = []string{fmt.Sprintf("only-%d", i)}
				e := teamEntry(fmt.Sprintf("a-writer-%d", i), domain.ActionTeamUpdated, "sre")
				e.At = t0.Add(time.Duration(i) * time.Second)
				a.Record(e)
				return nil
			})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("two writers at version 1 both won")
			}
			winner = i
		case domain.ErrorCode(err) != domain.CodeConflict:
			t.Fatalf("writer %d: want a conflict, got %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer won: %v", results)
	}
	team, err := s.GetTeam(ctx, "sre")
	must(t, err)
	if team.Version != 2 || team.Name != fmt.Sprintf("writer %d", winner) || !slices.Equal(team.Members, []string{fmt.Sprintf("only-%d", winner)}) {
		t.Fatalf("stored %+v, want writer %d's whole team", team, winner)
	}
	for i := range n {
		_, err := s.GetOutbox(ctx, fmt.Sprintf("a-writer-%d", i))
		if i == winner {
			must(t, err)
		} else {
			wantCode(t, err, domain.CodeNotFound)
		}
	}
}

// A delete whose check refuses a team with members races updates that
// empty or fill the team: the delete either saw the team empty (and no
// update committed after it) or refused. The check always judged the team
// as the delete removed it.
func testTeamDeleteRacesUpdate(t *testing.T, s domain.Store) {
	ctx := context.Background()
	for round := range 6 {
		key := fmt.Sprintf("race-%d", round)
		must(t, s.CreateTeam(ctx, newTeam(key), nil))
		var wg sync.WaitGroup
		var delErr, updErr error
		notEmpty := domain.Errorf(domain.CodeConflict, "the team has members")
		wg.Go(func() {
			delErr = s.DeleteTeam(ctx, key, func(team *domain.Team, _ *domain.Audit) error {
				if len(team.Members) > 0 {
					return notEmpty
				}
				return nil
			})
		})
		wg.Go(func() {
			_, updErr = s.UpdateTeam(ctx, key, func(team *domain.Team, _ *domain.Audit) error {
				team.Members = append(team.Members, "m_late")
				return nil
			})
		})
		wg.Wait()
		team, getErr := s.GetTeam(ctx, key)
		switch {
		case delErr == nil && domain.ErrorCode(getErr) == domain.CodeNotFound:
			// deleted empty: the update came first and lost to the
			// delete's check (impossible: it would have members), or
			// after, and found no team
			if updErr == nil || domain.ErrorCode(updErr) != domain.CodeNotFound {
				t.Fatalf("round %d: the team was deleted but the update says %v", round, updErr)
			}
		case errors.Is(delErr, notEmpty) && getErr == nil:
			if updErr != nil || !slices.Equal(team.Members, []string{"m_late"}) {
				t.Fatalf("round %d: the delete refused, the update: %v, team %+v", round, updErr, team)
			}
		default:
			t.Fatalf("round %d: delete %v, update %v, team afterwards %+v %v", round, delErr, updErr, team, getErr)
		}
	}
}

// testTeamWriteGuarded: a team write told the organisation settings its
// decision read (domain.Audit's Guard: approvals were off) writes nothing,
// neither the team nor its audit entry, and answers ErrContention once
// they moved, so that members added to a required team with approvals off
// never commit after approvals are switched on; guarded on the settings as
// they are, it commits.
func testTeamWriteGuarded(t *testing.T, s domain.Store) {
	ctx := context.Background()
	must(t, s.CreateTeam(ctx, newTeam("sre", "m_alice"), nil))
	o, err := s.GetOrgSettings(ctx)
	must(t, err)
	read := o.Version
	_, err = s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, _ *domain.Audit) error { o.Approvals = true; return nil })
	must(t, err)
	write := func(org int64, id string) error {
		_, err := s.UpdateTeam(ctx, "sre", func(team *domain.Team, a *domain.Audit) error {
			team.Members = append(team.Members, "m_friend")
			a.Guard = &domain.SettingsGuard{Org: org}
			a.Record(teamEntry(id, domain.ActionTeamUpdated, "sre"))
			return nil
		})
		return err
	}
	if err := write(read, "a-guard-stale"); !errors.Is(err, domain.ErrContention) {
		t.Fatalf("a team write guarded by settings that moved: %v, want ErrContention", err)
	}
	if team, err := s.GetTeam(ctx, "sre"); err != nil || team.Version != 1 || team.HasMember("m_friend") {
		t.Fatalf("a refused write changed the team: %+v %v", team, err)
	}
	if _, err := s.GetOutbox(ctx, "a-guard-stale"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("a refused write left its outbox item: %v", err)
	}
	must(t, write(read+1, "a-guard-current"))
	if team, err := s.GetTeam(ctx, "sre"); err != nil || team.Version != 2 || !team.HasMember("m_friend") {
		t.Fatalf("the guarded write: %+v %v", team, err)
	}
	if _, err := s.GetOutbox(ctx, "a-guard-current"); err != nil {
		t.Fatalf("the guarded write's outbox item: %v", err)
	}
}
