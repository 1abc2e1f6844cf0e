package domain_test

import (
	"reflect"
	"strings"
	"testing"

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
