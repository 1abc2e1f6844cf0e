// Package domain holds Countersign's entities, their rules and the
// repository interfaces that stores implement. It knows nothing of HTTP,
// DynamoDB or bbolt.
package domain

import (
	"encoding/json"
	"time"
)

// Project groups flags and environments.
type Project struct {
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Environment is one deployment target of a project. Protected environments
// are production-like; approval settings (a later capability) apply to them.
type Environment struct {
	Project   string `json:"project"`
	Key       string `json:"key"`
	Name      string `json:"name"`
	Protected bool   `json:"protected"`
	// AllowedOrigins are the web origins whose pages may call with the
	// environment's client keys (CORS; clientkey.go): exact origins, or
	// "*" alone.
	AllowedOrigins []string  `json:"allowed_origins,omitempty"`
	Version        int64     `json:"version"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// DefaultEnvironments are created with every new project.
func DefaultEnvironments() []Environment {
	return []Environment{
		{Key: "development", Name: "Development"},
		{Key: "staging", Name: "Staging"},
		{Key: "production", Name: "Production", Protected: true},
	}
}

// EvaluationMode says where a flag is evaluated.
type EvaluationMode string

const (
	EvaluationRemote EvaluationMode = "remote"
	EvaluationLocal  EvaluationMode = "local"
)

// OffVariantKey is reserved: it names the fallback, "no variant".
const OffVariantKey = "off"

// DefaultBucketingUnit is the attribute users are bucketed by unless a flag says otherwise.
const DefaultBucketingUnit = "user_id"

// Variant is one value a flag can serve.
type Variant struct {
	Key         string          `json:"key"`
	Value       json.RawMessage `json:"value"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
}

// Flag is defined once per project; how it is served is per environment
// (FlagConfig).
type Flag struct {
	Project        string         `json:"project"`
	Key            string         `json:"key"`
	Name           string         `json:"name"`
	Description    string         `json:"description"`
	Tags           []string       `json:"tags"`
	Maintainer     string         `json:"maintainer"`
	MaintainerTeam string         `json:"maintainer_team"` // a team (its key) that maintains the flag too
	BucketingUnit  string         `json:"bucketing_unit"`
	BucketingSalt  string         `json:"bucketing_salt"`
	EvaluationMode EvaluationMode `json:"evaluation_mode"`
	Variants       []Variant      `json:"variants"`
	Archived       bool           `json:"archived"`
	// ClientExposed: client keys (browsers, mobile apps) may evaluate the
	// flag; off by default (clientkey.go).
	ClientExposed bool      `json:"client_exposed,omitempty"`
	Version       int64     `json:"version"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// HasVariant reports whether key names one of the flag's variants.
func (f *Flag) HasVariant(key string) bool {
	for _, v := range f.Variants {
		if v.Key == key {
			return true
		}
	}
	return false
}

// HasTag reports whether the flag carries tag.
func (f *Flag) HasTag(tag string) bool {
	for _, t := range f.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// Weight is a relative share of a rule's users for one variant: weights 1
// and 4 send one user in five to the first variant.
type Weight struct {
	Variant string `json:"variant"`
	Weight  int    `json:"weight"`
}

// Allocation decides who of the users a rule (or the default rule) takes is
// served at all (Rollout, a percentage with up to two decimals) and which
// variant they get (Weights).
type Allocation struct {
	Rollout float64  `json:"rollout"`
	Weights []Weight `json:"weights"`
}

// Condition is one test on a user attribute.
type Condition struct {
	Attribute string   `json:"attribute"`
	Operator  Operator `json:"operator"`
	Values    []string `json:"values"`
}

// Rule is a targeting segment: all its conditions must hold.
type Rule struct {
	Name       string      `json:"name"`
	Conditions []Condition `json:"conditions"`
	Allocation
}

// FlagConfig is how a flag is served in one environment. A flag that was never
// configured in an environment has the zero-version default (DefaultFlagConfig).
type FlagConfig struct {
	Project         string     `json:"project"`
	Flag            string     `json:"flag"`
	Environment     string     `json:"environment"`
	Enabled         bool       `json:"enabled"`
	Rules           []Rule     `json:"rules"`
	DefaultRule     Allocation `json:"default_rule"`
	OffVariant      string     `json:"off_variant"`
	StickyBucketing bool       `json:"sticky_bucketing"`
	ExposureEvent   string     `json:"exposure_event"`
	Version         int64      `json:"version"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

// DefaultFlagConfig is what an environment serves before anyone configured
// the flag there: disabled, nobody in the rollout, the fallback as off variant.
func DefaultFlagConfig(f *Flag, env string) *FlagConfig {
	c := &FlagConfig{
		Project:     f.Project,
		Flag:        f.Key,
		Environment: env,
		Rules:       []Rule{},
		OffVariant:  OffVariantKey,
		DefaultRule: Allocation{Rollout: 0, Weights: []Weight{}},
	}
	if len(f.Variants) > 0 {
		c.DefaultRule.Weights = []Weight{{Variant: f.Variants[0].Key, Weight: 1}}
	}
	return c
}

// UsesVariant reports whether the config can serve variant key.
func (c *FlagConfig) UsesVariant(key string) bool {
	if c.OffVariant == key {
		return true
	}
	uses := func(a Allocation) bool {
		for _, w := range a.Weights {
			if w.Variant == key && w.Weight > 0 {
				return true
			}
		}
		return false
	}
	if uses(c.DefaultRule) {
		return true
	}
	for _, r := range c.Rules {
		if uses(r.Allocation) {
			return true
		}
	}
	return false
}

// Role is what a member or token may do. Each role includes those below it.
type Role string

const (
	// RoleNone grants nothing. It is a member's organisation role when they
	// work only in the projects their project roles name, and a project
	// role that keeps a member out of one project. Never a token's role.
	RoleNone    Role = "none"
	RoleViewer  Role = "viewer"  // read only
	RoleEditor  Role = "editor"  // may change flags and their targeting
	RoleManager Role = "manager" // may also change projects, environments and settings
	RoleAdmin   Role = "admin"   // may also manage members and service tokens
)

var roleRank = map[Role]int{RoleViewer: 1, RoleEditor: 2, RoleManager: 3, RoleAdmin: 4}

// Valid reports whether r is a role that grants something (RoleNone is
// not: see ValidForMember).
func (r Role) Valid() bool { return roleRank[r] > 0 }

// ValidForMember reports whether r may be a member's role, in the
// organisation or in a project: a role, or RoleNone.
func (r Role) ValidForMember() bool { return r == RoleNone || r.Valid() }

// AtLeast reports whether r includes min (RoleNone includes nothing).
func (r Role) AtLeast(min Role) bool { return roleRank[r] >= roleRank[min] && roleRank[r] > 0 }

// Below reports whether r grants less than other (RoleNone is below every
// role).
func (r Role) Below(other Role) bool { return roleRank[r] < roleRank[other] }

// Roles lists the roles that grant something, lowest first.
var Roles = []Role{RoleViewer, RoleEditor, RoleManager, RoleAdmin}

// MaxProjectRoles bounds a member's project roles.
const MaxProjectRoles = 100

// MaxTokenProjects bounds the projects a token may be limited to.
const MaxTokenProjects = 10

// Member is a person with a role in the organisation.
type Member struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  Role   `json:"role"`
	// Projects are the member's project roles: each replaces Role in its
	// project, up or down (RoleNone keeps them out). An organisation admin
	// is an admin everywhere, whatever these say.
	Projects map[string]Role `json:"-"`
	// EmailOptOut turns off e-mail, except for requests that wait on them.
	EmailOptOut bool `json:"email_opt_out"`
	// EmailSuppressed is set when mail to Email hard-bounced or drew a
	// complaint (SES events, app.RecordMailEvent): no mail is sent to the
	// address until an admin clears it or the address changes.
	EmailSuppressed *Suppression `json:"email_suppressed,omitempty"`
	Version         int64        `json:"version"`
	CreatedAt       time.Time    `json:"created_at"`
	UpdatedAt       time.Time    `json:"updated_at"`
}

// Token is an API token. Only the SHA-256 hash of its secret is stored.
// A member token acts with its member's current role, capped by Role when
// set; a service token (no member) with its own Role.
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	MemberID   string     `json:"member_id,omitempty"`
	Role       Role       `json:"role,omitempty"`
	Hash       string     `json:"hash"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// Projects limits the token to these projects (empty: every one).
	// Elsewhere, and for what belongs to no project, it has no role.
	Projects []string `json:"-"`
	// PendingRequest, while set, is the governance request whose apply
	// makes the token live (a service token with manager or admin rights
	// made while approvals are on): until then it never authenticates, as
	// the store keeps no hash entry for it (TokenRepository.ActivateToken).
	PendingRequest string `json:"pending_request,omitempty"`
}

// Pending reports whether the token waits for its governance request.
func (t *Token) Pending() bool { return t.PendingRequest != "" }

// RoleIn is m's role in project: admin for an organisation admin, else
// the project role when one is set, else the organisation role.
func (m *Member) RoleIn(project string) Role {
	if m.Role == RoleAdmin {
		return RoleAdmin
	}
	if r, ok := m.Projects[project]; ok {
		return r
	}
	return m.Role
}

// Service reports whether the token is a service token.
func (t *Token) Service() bool { return t.MemberID == "" }
