package domain_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
)

// direction is how one field of the approval settings moves: weaken makes
// settings weaker than base, strengthen stronger (each from a base of its
// own, so that the move is possible); identity and bookkeeping fields have
// neither.
type direction struct {
	base       func(*domain.ApprovalSettings)
	weaken     func(*domain.ApprovalSettings)
	strengthen func(*domain.ApprovalSettings)
	neither    string // why the field has no direction
}

// directions has an entry for every field of domain.ApprovalSettings: a new
// field without one fails TestEveryApprovalSettingsFieldHasADirection.
var directions = map[string][]direction{
	"Project":     {{neither: "identity: the settings' environment"}},
	"Environment": {{neither: "identity: the settings' environment"}},
	"Version":     {{neither: "bookkeeping"}},
	"UpdatedAt":   {{neither: "bookkeeping"}},
	"Required": {
		{weaken: func(a *domain.ApprovalSettings) { a.Required = domain.RequiredOff }},
		{base: func(a *domain.ApprovalSettings) { a.Required, a.Tags = domain.RequiredTags, []string{"x"} },
			weaken: func(a *domain.ApprovalSettings) { a.Required = domain.RequiredOff }, strengthen: func(a *domain.ApprovalSettings) { a.Required = domain.RequiredAll }},
	},
	"Tags": {{base: func(a *domain.ApprovalSettings) { a.Required, a.Tags = domain.RequiredTags, []string{"x", "y"} },
		weaken: func(a *domain.ApprovalSettings) { a.Tags = []string{"x"} }, strengthen: func(a *domain.ApprovalSettings) { a.Tags = []string{"x", "y", "z"} }}},
	"MinApprovals": {{weaken: func(a *domain.ApprovalSettings) { a.MinApprovals = 1 }, strengthen: func(a *domain.ApprovalSettings) { a.MinApprovals = 3 }}},
	"AllowSelfApproval": {{weaken: func(a *domain.ApprovalSettings) { a.AllowSelfApproval = true }},
		{base: func(a *domain.ApprovalSettings) { a.AllowSelfApproval = true }, strengthen: func(a *domain.ApprovalSettings) { a.AllowSelfApproval = false }}},
	"RejectionBlocksApply": {{weaken: func(a *domain.ApprovalSettings) { a.RejectionBlocksApply = false }},
		{base: func(a *domain.ApprovalSettings) { a.RejectionBlocksApply = false }, strengthen: func(a *domain.ApprovalSettings) { a.RejectionBlocksApply = true }}},
	"Reviewers": {{base: func(a *domain.ApprovalSettings) {
		a.Reviewers, a.DesignatedReviewers = domain.ReviewersDesignated, []string{"m1"}
	},
		weaken: func(a *domain.ApprovalSettings) {
			a.Reviewers, a.DesignatedReviewers = domain.ReviewersPeer, []string{}
		}},
		{strengthen: func(a *domain.ApprovalSettings) {
			a.Reviewers, a.DesignatedReviewers = domain.ReviewersDesignated, []string{"m1"}
		}}},
	"DesignatedReviewers": {{base: func(a *domain.ApprovalSettings) {
		a.Reviewers, a.DesignatedReviewers = domain.ReviewersDesignated, []string{"m1", "m2"}
	},
		weaken:     func(a *domain.ApprovalSettings) { a.DesignatedReviewers = []string{"m1"} },
		strengthen: func(a *domain.ApprovalSettings) { a.DesignatedReviewers = []string{"m1", "m2", "m3"} }}},
	"AutoApproveAfter": {{weaken: func(a *domain.ApprovalSettings) { a.AutoApproveAfter = domain.AutoApprove48h }},
		{base: func(a *domain.ApprovalSettings) { a.AutoApproveAfter = domain.AutoApprove48h },
			weaken: func(a *domain.ApprovalSettings) { a.AutoApproveAfter = domain.AutoApprove24h }, strengthen: func(a *domain.ApprovalSettings) { a.AutoApproveAfter = domain.AutoApproveNever }}},
	"ExpireAfter": {{base: func(a *domain.ApprovalSettings) { a.ExpireAfter = "72h" },
		weaken: func(a *domain.ApprovalSettings) { a.ExpireAfter = "168h" }, strengthen: func(a *domain.ApprovalSettings) { a.ExpireAfter = "24h" }},
		{base: func(a *domain.ApprovalSettings) { a.ExpireAfter = "72h" }, weaken: func(a *domain.ApprovalSettings) { a.ExpireAfter = "" }},
		{strengthen: func(a *domain.ApprovalSettings) { a.ExpireAfter = "72h" }}},
	"Apply": {{weaken: func(a *domain.ApprovalSettings) { a.Apply = domain.ApplyOnApproval }},
		{base: func(a *domain.ApprovalSettings) { a.Apply = domain.ApplyOnApproval }, strengthen: func(a *domain.ApprovalSettings) { a.Apply = domain.ApplyManual }}},
	"LockWhilePending": {{base: func(a *domain.ApprovalSettings) { a.LockWhilePending = true }, weaken: func(a *domain.ApprovalSettings) { a.LockWhilePending = false }},
		{strengthen: func(a *domain.ApprovalSettings) { a.LockWhilePending = true }}},
	"APITokenBypass": {{weaken: func(a *domain.ApprovalSettings) { a.APITokenBypass = true }},
		{base: func(a *domain.ApprovalSettings) { a.APITokenBypass = true }, strengthen: func(a *domain.ApprovalSettings) { a.APITokenBypass = false }}},
	"AllowUnapprovedScheduleDeletion": {{weaken: func(a *domain.ApprovalSettings) { a.AllowUnapprovedScheduleDeletion = true }},
		{base: func(a *domain.ApprovalSettings) { a.AllowUnapprovedScheduleDeletion = true },
			strengthen: func(a *domain.ApprovalSettings) { a.AllowUnapprovedScheduleDeletion = false }}},
	"ReviewAfterBypass": {{weaken: func(a *domain.ApprovalSettings) { a.ReviewAfterBypass = "48h" }, strengthen: func(a *domain.ApprovalSettings) { a.ReviewAfterBypass = "4h" }},
		{base: func(a *domain.ApprovalSettings) { a.ReviewAfterBypass = "12h" }, weaken: func(a *domain.ApprovalSettings) { a.ReviewAfterBypass = "" }},
		{base: func(a *domain.ApprovalSettings) { a.ReviewAfterBypass = "72h" }, strengthen: func(a *domain.ApprovalSettings) { a.ReviewAfterBypass = "" }}},
	"Bypass": {{weaken: func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m9"}} }},
		{base: func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{{MemberID: "m9"}} },
			strengthen: func(a *domain.ApprovalSettings) { a.Bypass = []domain.BypassGrant{} }}},
	"Require": {{base: func(a *domain.ApprovalSettings) { a.Require = []domain.TeamRequirement{{Team: "sre", Min: 2}} },
		weaken: func(a *domain.ApprovalSettings) { a.Require = []domain.TeamRequirement{} },
		strengthen: func(a *domain.ApprovalSettings) {
			a.Require = []domain.TeamRequirement{{Team: "sre", Min: 2}, {Team: "dba", Min: 1}}
		}},
		{base: func(a *domain.ApprovalSettings) { a.Require = []domain.TeamRequirement{{Team: "sre", Min: 2}} },
			weaken:     func(a *domain.ApprovalSettings) { a.Require = []domain.TeamRequirement{{Team: "sre", Min: 1}} },
			strengthen: func(a *domain.ApprovalSettings) { a.Require = []domain.TeamRequirement{{Team: "sre", Min: 3}} }}},
	"DistinctReviewers": {{base: func(a *domain.ApprovalSettings) { a.DistinctReviewers = true }, weaken: func(a *domain.ApprovalSettings) { a.DistinctReviewers = false }},
		{strengthen: func(a *domain.ApprovalSettings) { a.DistinctReviewers = true }}},
	"RequireMaintainer": {{base: func(a *domain.ApprovalSettings) { a.RequireMaintainer = true }, weaken: func(a *domain.ApprovalSettings) { a.RequireMaintainer = false }},
		{strengthen: func(a *domain.ApprovalSettings) { a.RequireMaintainer = true }}},
}

func governedBase() *domain.ApprovalSettings {
	return &domain.ApprovalSettings{Project: "p", Environment: "production", Required: domain.RequiredAll, Tags: []string{}, MinApprovals: 2,
		RejectionBlocksApply: true, Reviewers: domain.ReviewersPeer, DesignatedReviewers: []string{}, AutoApproveAfter: domain.AutoApproveNever,
		Apply: domain.ApplyManual, Bypass: []domain.BypassGrant{}}
}

// Every field of the approval settings has a direction: each weakening is
// reported (with the field's pointer), each strengthening is not, so it
// applies directly.
func TestEveryApprovalSettingsFieldHasADirection(t *testing.T) {
	typ := reflect.TypeFor[domain.ApprovalSettings]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		ds, ok := directions[f.Name]
		if !ok {
			t.Errorf("ApprovalSettings.%s has no direction: say in directions whether changing it weakens or strengthens the rules", f.Name)
			continue
		}
		tag := "/" + strings.Split(f.Tag.Get("json"), ",")[0]
		var weakens, strengthens bool
		for _, d := range ds {
			if d.neither != "" {
				continue
			}
			before := governedBase()
			if d.base != nil {
				d.base(before)
			}
			clone := func() *domain.ApprovalSettings {
				c := *before
				return &c
			}
			if d.weaken != nil {
				weakens = true
				after := clone()
				d.weaken(after)
				got := domain.WeakenedFields(before, after)
				if len(got) == 0 || got[0].Pointer != tag {
					t.Errorf("%s weakened (%+v → %+v): reported %v, want %s", f.Name, fieldOf(before, f.Name), fieldOf(after, f.Name), got, tag)
				}
			}
			if d.strengthen != nil {
				strengthens = true
				after := clone()
				d.strengthen(after)
				if got := domain.WeakenedFields(before, after); len(got) != 0 {
					t.Errorf("%s strengthened (%+v → %+v): reported as weakening %v", f.Name, fieldOf(before, f.Name), fieldOf(after, f.Name), got)
				}
			}
		}
		if ds[0].neither == "" && (!weakens || !strengthens) {
			t.Errorf("%s: directions need a weakening and a strengthening", f.Name)
		}
	}
	// nothing changed: nothing weakens
	if got := domain.WeakenedFields(governedBase(), governedBase()); len(got) != 0 {
		t.Errorf("unchanged settings weaken: %v", got)
	}
}

func fieldOf(a *domain.ApprovalSettings, name string) any {
	return reflect.ValueOf(a).Elem().FieldByName(name).Interface()
}

// Promotions to manager or admin, in the organisation or a project, need
// a second person; other role changes do not.
func TestWeakenedMember(t *testing.T) {
	m := func(role domain.Role, projects map[string]domain.Role) *domain.Member {
		return &domain.Member{Role: role, Projects: projects}
	}
	for _, c := range []struct {
		before, after *domain.Member
		want          []string
	}{
		{m(domain.RoleEditor, nil), m(domain.RoleManager, nil), []string{"/role"}},
		{m(domain.RoleViewer, nil), m(domain.RoleAdmin, nil), []string{"/role"}},
		{m(domain.RoleViewer, nil), m(domain.RoleEditor, nil), nil},
		{m(domain.RoleAdmin, nil), m(domain.RoleViewer, nil), nil},
		{m(domain.RoleManager, nil), m(domain.RoleAdmin, nil), []string{"/role"}},
		{m(domain.RoleViewer, nil), m(domain.RoleViewer, map[string]domain.Role{"shop": domain.RoleManager}), []string{"/project_roles/shop"}},
		{m(domain.RoleNone, map[string]domain.Role{"shop": domain.RoleEditor}), m(domain.RoleNone, map[string]domain.Role{"shop": domain.RoleAdmin}), []string{"/project_roles/shop"}},
		{m(domain.RoleManager, nil), m(domain.RoleManager, map[string]domain.Role{"shop": domain.RoleManager}), nil}, // held already
		{m(domain.RoleViewer, nil), m(domain.RoleViewer, map[string]domain.Role{"shop": domain.RoleEditor}), nil},
		// an override removed gives the organisation role back there
		{m(domain.RoleManager, map[string]domain.Role{"shop": domain.RoleViewer}), m(domain.RoleManager, nil), []string{"/project_roles/shop"}},
		{m(domain.RoleAdmin, nil), m(domain.RoleAdmin, map[string]domain.Role{"shop": domain.RoleViewer}), nil},
		{m(domain.RoleEditor, map[string]domain.Role{"shop": domain.RoleViewer}), m(domain.RoleEditor, nil), nil},
		{m(domain.RoleViewer, nil), m(domain.RoleAdmin, map[string]domain.Role{"shop": domain.RoleViewer}), []string{"/role"}},
	} {
		var got []string
		for _, f := range domain.WeakenedMember(c.before, c.after) {
			got = append(got, f.Pointer)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%+v → %+v: %v, want %v", c.before, c.after, got, c.want)
		}
	}
}

// A governance request is reviewed by admins other than its requester,
// never auto-approved, and its quorum is capped at the admins who can
// review it.
func TestGovernancePolicy(t *testing.T) {
	strict := domain.Policy{MinApprovals: 3, AllowSelfApproval: true, AutoApproveAfter: domain.AutoApprove24h, Reviewers: domain.ReviewersDesignated,
		DesignatedReviewers: []string{"m1"}, Apply: domain.ApplyOnApproval, Environments: []string{"production"}}
	p, capped := domain.GovernancePolicy(strict, 2)
	if !capped || p.MinApprovals != 2 || p.AllowSelfApproval || p.AutoApproveAfter != domain.AutoApproveNever || p.Reviewers != domain.ReviewersAdmins ||
		len(p.DesignatedReviewers) != 0 || p.Apply != domain.ApplyManual {
		t.Fatalf("policy %+v (capped %v)", p, capped)
	}
	if p, capped := domain.GovernancePolicy(domain.Policy{}, 0); p.MinApprovals != 1 || capped {
		t.Fatalf("no protected environment: %+v", p)
	}
	cr := &domain.ChangeRequest{Requester: "member:m_req", RequesterMember: "m_req", Policy: p,
		Changes: []domain.Change{{Kind: domain.KindGovernance, Governance: &domain.GovernanceChange{What: domain.GovernMember, Member: "m_prom"}}}}
	for _, c := range []struct {
		a    domain.Actor
		want *domain.Error
	}{
		{domain.Actor{MemberID: "m_req", Role: domain.RoleAdmin}, domain.ErrSelfReview},
		{domain.Actor{MemberID: "m_prom", Role: domain.RoleAdmin}, domain.ErrSelfReview},
		{domain.Actor{MemberID: "m_mgr", Role: domain.RoleManager}, domain.ErrAdminsReview},
		{domain.Actor{MemberID: "m_adm", Role: domain.RoleAdmin}, nil},
	} {
		if err := cr.CanReview(c.a); (c.want == nil) != (err == nil) || (c.want != nil && err != error(c.want)) {
			t.Errorf("%+v: %v, want %v", c.a, err, c.want)
		}
	}
}

// freezeDirection is how one field of a freeze moves: weaken narrows what
// it freezes from base, strengthen widens it, neutral changes nothing
// frozen (each from a base of its own); identity and bookkeeping fields
// have none.
type freezeDirection struct {
	base                        func(*domain.Freeze)
	weaken, strengthen, neutral func(*domain.Freeze)
	neither                     string // why the field has no direction
	why                         string // why a field lacks a weakening or a strengthening
}

// freezeNow is when the freeze directions are decided: a recurring base
// freezes every day from 16:00 to 08:00 Berlin time, a one-off base from a
// day after it to three days after it.
var freezeNow = clocktest.At(0, 12, 0, 0)

func hoursFrom(h int) *time.Time {
	t := freezeNow.Add(time.Duration(h) * time.Hour)
	return &t
}

func oneOffBase(f *domain.Freeze) {
	f.Start, f.End, f.TimeZone, f.From, f.To = "", "", "", hoursFrom(24), hoursFrom(72)
}

// freezeDirections has an entry for every field of domain.Freeze: a new
// field without one fails TestEveryFreezeFieldHasADirection.
var freezeDirections = map[string][]freezeDirection{
	"ID":        {{neither: "identity"}},
	"Version":   {{neither: "bookkeeping"}},
	"CreatedBy": {{neither: "bookkeeping"}},
	"CreatedAt": {{neither: "bookkeeping"}},
	"UpdatedAt": {{neither: "bookkeeping"}},
	"Name":      {{neutral: func(f *domain.Freeze) { f.Name = "Renamed" }, why: "documentation: freezes nothing"}},
	"Reason":    {{neutral: func(f *domain.Freeze) { f.Reason = "quarter end" }, why: "documentation: freezes nothing"}},
	"Project": {
		{weaken: func(f *domain.Freeze) { f.Project = "q" }, strengthen: func(f *domain.Freeze) { f.Project = "" }},
		{base: func(f *domain.Freeze) { f.Project = "" }, weaken: func(f *domain.Freeze) { f.Project = "p" }},
	},
	"Environments": {
		{weaken: func(f *domain.Freeze) { f.Environments = []string{"production"} },
			strengthen: func(f *domain.Freeze) { f.Environments = []string{"production", "staging", "dev"} }},
		{strengthen: func(f *domain.Freeze) { f.Environments = []string{} }},
		{base: func(f *domain.Freeze) { f.Environments = []string{} }, weaken: func(f *domain.Freeze) { f.Environments = []string{"staging"} }},
	},
	"From": {{base: oneOffBase, weaken: func(f *domain.Freeze) { f.From = hoursFrom(48) }, strengthen: func(f *domain.Freeze) { f.From = hoursFrom(2) }}},
	"To":   {{base: oneOffBase, weaken: func(f *domain.Freeze) { f.To = hoursFrom(60) }, strengthen: func(f *domain.Freeze) { f.To = hoursFrom(96) }}},
	"Start": {{weaken: func(f *domain.Freeze) { f.Start = "0 18 * * *" }, strengthen: func(f *domain.Freeze) { f.Start = "0 14 * * *" }},
		{neutral: func(f *domain.Freeze) { f.Start = "0 16 * * 0-6" }}},
	"End": {{weaken: func(f *domain.Freeze) { f.End = "0 6 * * *" }, strengthen: func(f *domain.Freeze) { f.End = "0 10 * * *" }}},
	"TimeZone": {
		{weaken: func(f *domain.Freeze) { f.TimeZone = "UTC" }, why: "a zone moves the windows, it never only widens them"},
		{base: oneOffBase, neutral: func(f *domain.Freeze) { f.TimeZone = "Europe/Berlin" }},
	},
	"Scheduled": {
		{base: func(f *domain.Freeze) { f.Scheduled = domain.FreezeFail }, weaken: func(f *domain.Freeze) { f.Scheduled = domain.FreezeHold }},
		{strengthen: func(f *domain.Freeze) { f.Scheduled = domain.FreezeFail }},
	},
}

func freezeBase() *domain.Freeze {
	return &domain.Freeze{ID: "fz_1", Name: "Nightly", Project: "p", Environments: []string{"production", "staging"},
		Start: "0 16 * * *", End: "0 8 * * *", TimeZone: "Europe/Berlin", Scheduled: domain.FreezeHold, Version: 3}
}

// Every field of a freeze has a direction: each narrowing is reported
// (with the field's pointer), each widening and each change of what is
// not frozen is not, so it applies directly.
func TestEveryFreezeFieldHasADirection(t *testing.T) {
	typ := reflect.TypeFor[domain.Freeze]()
	pointers := map[string]string{"Project": "/project", "Environments": "/environments", "From": "/from", "To": "/to",
		"Start": "/start", "End": "/end", "TimeZone": "/time_zone", "Scheduled": "/scheduled"}
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		ds, ok := freezeDirections[name]
		if !ok {
			t.Errorf("Freeze.%s has no direction: say in freezeDirections whether changing it narrows or widens the freeze", name)
			continue
		}
		var weakens, strengthens bool
		why := ""
		for _, d := range ds {
			why += d.why
			if d.neither != "" {
				continue
			}
			before := freezeBase()
			if d.base != nil {
				d.base(before)
			}
			if err := before.Validate(freezeNow); err != nil {
				t.Fatalf("%s: the base is not a valid freeze: %v", name, err)
			}
			moved := func(move func(*domain.Freeze)) (*domain.Freeze, []domain.FieldError) {
				after := *before
				after.Environments = slices.Clone(before.Environments)
				move(&after)
				if err := after.Validate(freezeNow); err != nil {
					t.Fatalf("%s: the change is not a valid freeze: %v", name, err)
				}
				return &after, domain.WeakenedFreeze(before, &after, freezeNow)
			}
			if d.weaken != nil {
				weakens = true
				after, got := moved(d.weaken)
				if len(got) == 0 || got[0].Pointer != pointers[name] {
					t.Errorf("%s narrowed (%+v → %+v): reported %v, want %s", name, before, after, got, pointers[name])
				}
			}
			if d.strengthen != nil {
				strengthens = true
				if after, got := moved(d.strengthen); len(got) != 0 {
					t.Errorf("%s widened (%+v → %+v): reported as weakening %v", name, before, after, got)
				}
			}
			if d.neutral != nil {
				if after, got := moved(d.neutral); len(got) != 0 {
					t.Errorf("%s changed (%+v → %+v), nothing frozen less: reported as weakening %v", name, before, after, got)
				}
			}
		}
		if ds[0].neither == "" && why == "" && (!weakens || !strengthens) {
			t.Errorf("%s: directions need a weakening and a strengthening, or say why not", name)
		}
	}
	if got := domain.WeakenedFreeze(freezeBase(), freezeBase(), freezeNow); len(got) != 0 {
		t.Errorf("an unchanged freeze weakens: %v", got)
	}
}

// Deleting a freeze weakens the rules while it is, or will be, in force;
// a one-off freeze whose window ended freezes nothing any more, and
// changing or deleting it weakens nothing.
func TestWeakenedFreezeDeletedOrEnded(t *testing.T) {
	live := freezeBase()
	if got := domain.WeakenedFreeze(live, nil, freezeNow); len(got) != 1 || !strings.Contains(got[0].Detail, "deleted") {
		t.Errorf("deleting a freeze in force: %v", got)
	}
	ended := freezeBase()
	ended.Start, ended.End, ended.TimeZone, ended.From, ended.To = "", "", "", hoursFrom(-72), hoursFrom(-24)
	if got := domain.WeakenedFreeze(ended, nil, freezeNow); len(got) != 0 {
		t.Errorf("deleting a freeze that ended: %v", got)
	}
	shorter := *ended
	shorter.To, shorter.Environments = hoursFrom(-48), []string{"production"}
	if got := domain.WeakenedFreeze(ended, &shorter, freezeNow); len(got) != 0 {
		t.Errorf("narrowing a freeze that ended: %v", got)
	}
	// in force now: ending it earlier weakens, even to a time still ahead
	running := freezeBase()
	running.Start, running.End, running.TimeZone, running.From, running.To = "", "", "", hoursFrom(-1), hoursFrom(24)
	earlier := *running
	earlier.To = hoursFrom(1)
	if got := domain.WeakenedFreeze(running, &earlier, freezeNow); len(got) != 1 || got[0].Pointer != "/to" {
		t.Errorf("ending a running freeze earlier: %v", got)
	}
	// one-off → recurring that freezes every instant of the old window: wider
	daily := *running
	daily.From, daily.To, daily.Start, daily.End, daily.TimeZone = nil, nil, "0 0 * * *", "0 0 * * *", "UTC"
	if err := daily.Validate(freezeNow); err != nil {
		t.Fatal(err)
	}
	if got := domain.WeakenedFreeze(running, &daily, freezeNow); len(got) != 0 {
		t.Errorf("a freeze of every day in place of one window: %v", got)
	}
}

// A service token with the manager or admin role needs a second person; a
// lower one, or a member's token (capped at its member's rights), does not.
func TestWeakenedToken(t *testing.T) {
	for _, c := range []struct {
		tok  domain.Token
		want bool
	}{
		{domain.Token{Role: domain.RoleAdmin}, true},
		{domain.Token{Role: domain.RoleManager, Projects: []string{"shop"}}, true},
		{domain.Token{Role: domain.RoleEditor}, false},
		{domain.Token{Role: domain.RoleViewer, Projects: []string{"shop"}}, false},
		{domain.Token{Role: domain.RoleAdmin, MemberID: "m_1"}, false},
	} {
		if got := domain.WeakenedToken(&c.tok); (len(got) > 0) != c.want {
			t.Errorf("%+v: %v, want weakening %v", c.tok, got, c.want)
		}
	}
}

// What moved in a rule since a governance change's base is the diff from
// the base to the live rule (what the request's conflict names).
func TestGovernanceChangeMoved(t *testing.T) {
	base := freezeBase()
	g := &domain.GovernanceChange{What: domain.GovernFreeze, Freeze: base.ID, BaseFreeze: base}
	live := *base
	live.Environments, live.Version = []string{"production"}, base.Version+1
	d, err := g.Moved(&live)
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(d.Summary, " "); !strings.Contains(s, "/environments") || strings.Contains(s, "/version") {
		t.Errorf("moved: %v", d.Summary)
	}
	if d, err := g.Moved(base); err != nil || len(d.Summary) != 0 {
		t.Errorf("nothing moved: %v %v", d, err)
	}
}

// A freeze of every minute compared with one of every other minute ends
// its comparison within its bounds, and narrows (a comparison it cannot
// finish needs a second person too).
func TestWeakenedFreezeComparisonIsBounded(t *testing.T) {
	dense := &domain.Freeze{ID: "fz_1", Name: "Dense", Environments: []string{}, Start: "* * * * *", End: "* * * * *", TimeZone: "UTC", Scheduled: domain.FreezeHold}
	sparse := *dense
	sparse.Start = "*/2 * * * *"
	if got := domain.WeakenedFreeze(dense, &sparse, freezeNow); len(got) == 0 {
		t.Fatal("fewer windows reported as no weakening")
	}
	if got := domain.WeakenedFreeze(dense, dense, freezeNow); len(got) != 0 {
		t.Fatalf("the same freeze: %v", got)
	}
}
