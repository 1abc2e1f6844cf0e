package record

import "github.com/countersign/countersign/internal/domain"

// GovernanceChange is a change to the rules held by a governance request:
// what it changes, and one pair of proposal and base.
type GovernanceChange struct {
	What         string            `json:"what"`
	Project      string            `json:"project,omitempty"`
	Environment  string            `json:"environment,omitempty"`
	Member       string            `json:"member,omitempty"`
	Token        string            `json:"token,omitempty"`
	Freeze       string            `json:"freeze,omitempty"`
	Team         string            `json:"team,omitempty"`
	Org          *OrgSettings      `json:"org,omitempty"`
	BaseOrg      *OrgSettings      `json:"base_org,omitempty"`
	Settings     *ApprovalSettings `json:"settings,omitempty"`
	BaseSettings *ApprovalSettings `json:"base_settings,omitempty"`
	Env          *Environment      `json:"env,omitempty"`
	BaseEnv      *Environment      `json:"base_env,omitempty"`
	Person       *Member           `json:"person,omitempty"`
	BasePerson   *Member           `json:"base_person,omitempty"`
	NewToken     *Token            `json:"new_token,omitempty"`
	NewFreeze    *Freeze           `json:"new_freeze,omitempty"`
	BaseFreeze   *Freeze           `json:"base_freeze,omitempty"`
	NewTeam      *Team             `json:"new_team,omitempty"`
	BaseTeam     *Team             `json:"base_team,omitempty"`
	Weakens      []Weakening       `json:"weakens,omitempty"`
}

// Weakening is why a governance change needs a second person: a field's
// pointer and what changed.
type Weakening struct {
	Pointer   string `json:"pointer"`
	Parameter string `json:"parameter,omitempty"`
	Detail    string `json:"detail"`
}

func FromWeakening(f domain.FieldError) Weakening {
	return Weakening{Pointer: f.Pointer, Parameter: f.Parameter, Detail: f.Detail}
}

func (r Weakening) Domain() domain.FieldError {
	return domain.FieldError{Pointer: r.Pointer, Parameter: r.Parameter, Detail: r.Detail}
}

func FromGovernanceChange(g domain.GovernanceChange) GovernanceChange {
	r := GovernanceChange{
		What: string(g.What), Project: g.Project, Environment: g.Environment, Member: g.Member, Token: g.Token, Freeze: g.Freeze,
		Org: optional(g.Org, FromOrgSettings), BaseOrg: optional(g.BaseOrg, FromOrgSettings),
		Settings: optional(g.Settings, FromApprovalSettings), BaseSettings: optional(g.BaseSettings, FromApprovalSettings),
		Env: optional(g.Env, FromEnvironment), BaseEnv: optional(g.BaseEnv, FromEnvironment),
		Person: optional(g.Person, FromMember), BasePerson: optional(g.BasePerson, FromMember),
		NewToken: optional(g.NewToken, FromToken), NewFreeze: optional(g.NewFreeze, FromFreeze), BaseFreeze: optional(g.BaseFreeze, FromFreeze),
		Team: g.Team, NewTeam: optional(g.NewTeam, FromTeam), BaseTeam: optional(g.BaseTeam, FromTeam),
	}
	for _, w := range g.Weakens {
		r.Weakens = append(r.Weakens, FromWeakening(w))
	}
	return r
}

func (r GovernanceChange) Domain() domain.GovernanceChange {
	g := domain.GovernanceChange{
		What: domain.GovernanceTarget(r.What), Project: r.Project, Environment: r.Environment, Member: r.Member, Token: r.Token, Freeze: r.Freeze,
		Org: optional(r.Org, OrgSettings.Domain), BaseOrg: optional(r.BaseOrg, OrgSettings.Domain),
		Settings: optional(r.Settings, ApprovalSettings.Domain), BaseSettings: optional(r.BaseSettings, ApprovalSettings.Domain),
		Env: optional(r.Env, Environment.Domain), BaseEnv: optional(r.BaseEnv, Environment.Domain),
		Person: optional(r.Person, Member.Domain), BasePerson: optional(r.BasePerson, Member.Domain),
		NewToken: optional(r.NewToken, Token.Domain), NewFreeze: optional(r.NewFreeze, Freeze.Domain), BaseFreeze: optional(r.BaseFreeze, Freeze.Domain),
		Team: r.Team, NewTeam: optional(r.NewTeam, Team.Domain), BaseTeam: optional(r.BaseTeam, Team.Domain),
	}
	for _, w := range r.Weakens {
		g.Weakens = append(g.Weakens, w.Domain())
	}
	return g
}
