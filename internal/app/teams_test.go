package app_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// teamEntries are the audit entries naming team key, newest first.
func (w *world) teamEntries(key string) []domain.AuditEntry {
	w.t.Helper()
	var out []domain.AuditEntry
	cursor := ""
	for {
		entries, next, err := w.store.ListAudit(w.ctx, domain.AuditFilter{}, domain.Page{Limit: domain.MaxPageLimit, Cursor: cursor})
		if err != nil {
			w.t.Fatal(err)
		}
		for _, e := range entries {
			if e.Team == key {
				out = append(out, e)
			}
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

func TestTeamLifecycle(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		// who writes: managers and admins, nobody below
		in := app.TeamInput{Name: "Site Reliability", Members: []string{"m_alice", "m_bob"}}
		for _, p := range []*app.Principal{w.viewer, w.alice, w.service} {
			_, err := w.svc.CreateTeam(w.ctx, p, in)
			wantCodeOf(t, err, domain.CodeForbidden)
		}
		team, err := w.svc.CreateTeam(w.ctx, w.carol, in)
		if err != nil {
			t.Fatal(err)
		}
		if team.Key != "site-reliability" || team.Version != 1 || !slices.Equal(team.Members, []string{"m_alice", "m_bob"}) ||
			!team.CreatedAt.Equal(t0) || !team.UpdatedAt.Equal(t0) {
			t.Fatalf("created %+v", team)
		}
		_, err = w.svc.CreateTeam(w.ctx, w.admin, app.TeamInput{Key: "site-reliability", Name: "again"})
		wantCodeOf(t, err, domain.CodeConflict)
		empty, err := w.svc.CreateTeam(w.ctx, w.admin, app.TeamInput{Key: "ops", Name: "Ops"})
		if err != nil || empty.Members == nil || len(empty.Members) != 0 {
			t.Fatalf("a team without members: %+v %v", empty, err)
		}

		// what is refused: unknown members, members twice, a bad key, no name
		_, err = w.svc.CreateTeam(w.ctx, w.carol, app.TeamInput{Key: "qa", Name: "QA", Members: []string{"m_alice", "m_nobody"}})
		wantField(t, err, "/members/1")
		_, err = w.svc.CreateTeam(w.ctx, w.carol, app.TeamInput{Key: "qa", Name: "QA", Members: []string{"m_alice", "m_bob", "m_alice"}})
		wantField(t, err, "/members/2")
		_, err = w.svc.CreateTeam(w.ctx, w.carol, app.TeamInput{Key: "Not A Slug", Name: "QA"})
		wantField(t, err, "/key")
		_, err = w.svc.CreateTeam(w.ctx, w.carol, app.TeamInput{Key: "qa"})
		wantField(t, err, "/name")
		if _, err := w.svc.GetTeam(w.ctx, w.admin, "qa"); domain.ErrorCode(err) != domain.CodeNotFound {
			t.Fatalf("a refused team was written: %v", err)
		}

		// who reads: every member, an organisation role none included
		// (people need team names)
		nobody := w.member("nora", domain.RoleNone)
		for _, p := range []*app.Principal{nobody, w.viewer, w.alice, w.carol, w.admin, w.service} {
			got, err := w.svc.GetTeam(w.ctx, p, "site-reliability")
			if err != nil || got.Name != "Site Reliability" {
				t.Fatalf("read back %+v %v", got, err)
			}
			list, next, err := w.svc.ListTeams(w.ctx, p, domain.Page{})
			if err != nil || len(list) != 2 || next != "" || list[0].Key != "ops" || list[1].Key != "site-reliability" {
				t.Fatalf("list %+v %q %v", list, next, err)
			}
		}
		_, err = w.svc.GetTeam(w.ctx, nil, "site-reliability")
		wantCodeOf(t, err, domain.CodeForbidden)
		_, err = w.svc.GetTeam(w.ctx, w.viewer, "nope")
		wantCodeOf(t, err, domain.CodeNotFound)

		// changes: a patch, at a version
		w.clock.Advance(time.Minute)
		patch := app.TeamPatch{Name: ptr("SRE"), Members: ptr([]string{"m_bob", "m_carol"})}
		_, err = w.svc.UpdateTeam(w.ctx, w.viewer, "site-reliability", nil, patch.Apply)
		wantCodeOf(t, err, domain.CodeForbidden)
		_, err = w.svc.UpdateTeam(w.ctx, w.alice, "site-reliability", nil, patch.Apply)
		wantCodeOf(t, err, domain.CodeForbidden)
		_, err = w.svc.UpdateTeam(w.ctx, w.carol, "site-reliability", ptr(int64(7)), patch.Apply)
		wantCodeOf(t, err, domain.CodeConflict)
		out, err := w.svc.UpdateTeam(w.ctx, w.carol, "site-reliability", ptr(int64(1)), patch.Apply)
		if err != nil || out.Applied == nil {
			t.Fatalf("a team nothing names: %+v %v", out, err)
		}
		team = out.Applied
		if team.Version != 2 || team.Name != "SRE" || !slices.Equal(team.Members, []string{"m_bob", "m_carol"}) || !team.CreatedAt.Equal(t0) ||
			!team.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("after the patch %+v", team)
		}
		// a patch naming only the name leaves the members
		w.clock.Advance(time.Minute)
		out, err = w.svc.UpdateTeam(w.ctx, w.admin, "site-reliability", nil, app.TeamPatch{Name: ptr("Site reliability")}.Apply)
		team = out.Applied
		if err != nil || team.Version != 3 || !slices.Equal(team.Members, []string{"m_bob", "m_carol"}) {
			t.Fatalf("a name-only patch: %+v %v", team, err)
		}
		_, err = w.svc.UpdateTeam(w.ctx, w.carol, "site-reliability", nil, app.TeamPatch{Members: ptr([]string{"m_bob", "m_ghost"})}.Apply)
		wantField(t, err, "/members/1")
		_, err = w.svc.UpdateTeam(w.ctx, w.carol, "site-reliability", nil, func(t *domain.Team) error { t.Key = "other"; return nil })
		wantField(t, err, "/key")
		_, err = w.svc.UpdateTeam(w.ctx, w.carol, "nope", nil, patch.Apply)
		wantCodeOf(t, err, domain.CodeNotFound)
		if got, _ := w.svc.GetTeam(w.ctx, w.admin, "site-reliability"); got.Version != 3 {
			t.Fatalf("a refused change was written: %+v", got)
		}

		// deletes
		w.clock.Advance(time.Minute)
		wantCodeOf(t, w.svc.DeleteTeam(w.ctx, w.viewer, "site-reliability"), domain.CodeForbidden)
		wantCodeOf(t, w.svc.DeleteTeam(w.ctx, w.alice, "site-reliability"), domain.CodeForbidden)
		if err := w.svc.DeleteTeam(w.ctx, w.carol, "site-reliability"); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.GetTeam(w.ctx, w.viewer, "site-reliability")
		wantCodeOf(t, err, domain.CodeNotFound)
		wantCodeOf(t, w.svc.DeleteTeam(w.ctx, w.carol, "site-reliability"), domain.CodeNotFound)

		// every write is audited, naming the team; refused ones are not
		var actions []domain.AuditAction
		for _, e := range w.teamEntries("site-reliability") {
			actions = append(actions, e.Action)
			if e.Project != "" || e.Diff == nil || len(e.Diff.Summary) == 0 {
				t.Fatalf("entry %+v", e)
			}
		}
		want := []domain.AuditAction{domain.ActionTeamDeleted, domain.ActionTeamUpdated, domain.ActionTeamUpdated, domain.ActionTeamCreated}
		if !slices.Equal(actions, want) {
			t.Fatalf("audit of the team: %v, want %v", actions, want)
		}
		entries := w.teamEntries("site-reliability")
		created, patched := entries[3], entries[2]
		if created.Actor != w.carol.Actor() || created.Version != 1 || patched.Version != 2 ||
			!slices.Contains(patched.Diff.Summary, `team "site-reliability": 1 members added ("m_carol")`) ||
			!slices.Contains(patched.Diff.Summary, `team "site-reliability": 1 members removed ("m_alice")`) {
			t.Fatalf("created %+v, patched %+v", created, patched.Diff)
		}
	})
}

// Removing a member from the organisation takes them out of every team,
// each change audited; teams without them are left as they are.
func TestDeleteMemberLeavesTeams(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		for _, in := range []app.TeamInput{
			{Key: "sre", Name: "SRE", Members: []string{"m_alice", "m_bob"}},
			{Key: "ops", Name: "Ops", Members: []string{"m_bob"}},
			{Key: "dev", Name: "Dev", Members: []string{"m_alice"}},
		} {
			w.must(w.svc.CreateTeam(w.ctx, w.carol, in))
		}
		w.clock.Advance(time.Minute)
		if err := w.svc.DeleteMember(w.ctx, w.admin, "m_bob"); err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{"sre": {"m_alice"}, "ops": {}, "dev": {"m_alice"}}
		for key, members := range want {
			team, err := w.svc.GetTeam(w.ctx, w.admin, key)
			if err != nil || !slices.Equal(team.Members, members) {
				t.Fatalf("team %s after m_bob left: %+v %v (want members %v)", key, team, err, members)
			}
			entries := w.teamEntries(key)
			if key == "dev" {
				if team.Version != 1 || len(entries) != 1 {
					t.Fatalf("a team without m_bob was changed: %+v, %d entries", team, len(entries))
				}
				continue
			}
			if team.Version != 2 || len(entries) != 2 {
				t.Fatalf("team %s: %+v, %d entries", key, team, len(entries))
			}
			e := entries[0]
			if e.Action != domain.ActionTeamUpdated || e.Actor != w.admin.Actor() || e.Member != "m_bob" || e.Reason == "" || e.Version != 2 {
				t.Fatalf("the entry of m_bob leaving %s: %+v", key, e)
			}
		}
	})
}

// Managers adding members to one team at once: every member added lands
// (each looked up before the write that adds them), none is lost.
func TestConcurrentTeamUpdatesAllLand(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.must(w.svc.CreateTeam(w.ctx, w.carol, app.TeamInput{Key: "sre", Name: "SRE"}))
		const n = 6
		var want []string
		for i := range n {
			want = append(want, w.member(fmt.Sprintf("racer%d", i), domain.RoleViewer).MemberID)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = w.svc.UpdateTeam(w.ctx, w.carol, "sre", nil, func(t *domain.Team) error {
					t.Members = append(t.Members, want[i])
					return nil
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("adding %s: %v", want[i], err)
			}
		}
		team, err := w.svc.GetTeam(w.ctx, w.viewer, "sre")
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(slices.Values(team.Members)); !slices.Equal(got, want) || team.Version != 1+n {
			t.Fatalf("members %v (want %v), version %d (want %d)", got, want, team.Version, 1+n)
		}
	})
}
