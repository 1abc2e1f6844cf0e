package httpapi

import (
	"reflect"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// The bodies the API reads, in types of its own: their json tags are the
// API's contract (with openapi.yaml), and strictUnmarshal refuses any
// member they do not name. Each converts to what the application takes.
// Bodies that may be a response sent back (a PUT of targeting or approval
// settings, a proposal) are the response's view with a version beside it.

// projectInput is the body of POST /v1/projects.
type projectInput struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

func (in *projectInput) toApp() app.ProjectInput {
	return app.ProjectInput{Key: in.Key, Name: in.Name, Description: in.Description}
}

// environmentInput is the body of POST /v1/projects/{project}/environments.
type environmentInput struct {
	Key       string `json:"key"`
	Name      string `json:"name"`
	Protected bool   `json:"protected"`
}

func (in *environmentInput) toApp() app.EnvironmentInput {
	return app.EnvironmentInput{Key: in.Key, Name: in.Name, Protected: in.Protected}
}

// flagInput is the body of POST /v1/projects/{project}/flags.
type flagInput struct {
	Key            string                `json:"key"`
	Name           string                `json:"name"`
	Description    string                `json:"description"`
	Tags           []string              `json:"tags"`
	Maintainer     string                `json:"maintainer"`
	MaintainerTeam string                `json:"maintainer_team"`
	BucketingUnit  string                `json:"bucketing_unit"`
	BucketingSalt  string                `json:"bucketing_salt"`
	EvaluationMode domain.EvaluationMode `json:"evaluation_mode"`
	Variants       []VariantView         `json:"variants"`
	ClientExposed  bool                  `json:"client_exposed"`
}

func (in *flagInput) toApp() app.FlagInput {
	return app.FlagInput{Key: in.Key, Name: in.Name, Description: in.Description, Tags: in.Tags, Maintainer: in.Maintainer, MaintainerTeam: in.MaintainerTeam,
		BucketingUnit: in.BucketingUnit, BucketingSalt: in.BucketingSalt, EvaluationMode: in.EvaluationMode,
		Variants: mapSlice(in.Variants, (*VariantView).toDomain), ClientExposed: in.ClientExposed}
}

// configPut is a whole targeting document. It may be a GET response sent
// back: project, flag and environment must then match the URL; updated_at is
// ignored; version (or If-Match) is required.
type configPut struct {
	FlagConfigView
	Version *int64 `json:"version"`
}

// promoteInput is the body of POST .../environments/{environment}/promote:
// the environment whose targeting the URL's environment gets.
type promoteInput struct {
	From string `json:"from"`
}

// promoteFlagsInput is the body of POST
// /v1/projects/{project}/environments/{environment}/promote: the
// environment whose targeting the flags named get in the URL's.
type promoteFlagsInput struct {
	From  string   `json:"from"`
	Flags []string `json:"flags"`
}

// memberInput is the body of POST /v1/members.
type memberInput struct {
	Email string      `json:"email"`
	Name  string      `json:"name"`
	Role  domain.Role `json:"role"`
	// ProjectRoles replace Role in their projects.
	ProjectRoles map[string]domain.Role `json:"project_roles"`
}

func (in *memberInput) toApp() app.MemberInput {
	return app.MemberInput{Email: in.Email, Name: in.Name, Role: in.Role, Projects: in.ProjectRoles}
}

// tokenInput is the body of POST /v1/tokens.
type tokenInput struct {
	Name    string      `json:"name"`
	Role    domain.Role `json:"role"`
	Service bool        `json:"service"`
	// Projects limits the token to these projects.
	Projects []string `json:"projects"`
}

func (in *tokenInput) toApp() app.TokenInput {
	return app.TokenInput{Name: in.Name, Role: in.Role, Service: in.Service, Projects: in.Projects}
}

// settingsPut is the body of PUT /v1/settings: the whole settings, which
// may be a GET response sent back (updated_at is ignored).
type settingsPut struct {
	Approvals bool       `json:"approvals"`
	Version   *int64     `json:"version"`
	UpdatedAt *time.Time `json:"updated_at"`
}

func (in *settingsPut) toApp() app.OrgSettingsInput {
	return app.OrgSettingsInput{Approvals: in.Approvals, Version: in.Version}
}

// approvalSettingsPut is a whole settings document; like targeting, a GET
// response sent back is accepted.
type approvalSettingsPut struct {
	ApprovalSettingsView
	Version *int64 `json:"version"`
}

// changeRequestInput is the body of POST /v1/change-requests.
type changeRequestInput struct {
	Project         string          `json:"project"`
	Flag            string          `json:"flag"`
	Environment     string          `json:"environment"`
	Title           string          `json:"title"`
	Description     string          `json:"description"`
	ProposedConfig  *FlagConfigView `json:"proposed_config"`
	ProposedFlag    *FlagView       `json:"proposed_flag"`
	Changes         []ChangeInput   `json:"changes"`
	Draft           bool            `json:"draft"`
	NotifyReviewers []string        `json:"notify_reviewers"`
	ApplyAt         *time.Time      `json:"apply_at"`
}

func (in *changeRequestInput) toApp() app.RequestInput {
	return app.RequestInput{Project: in.Project, Flag: in.Flag, Environment: in.Environment, Title: in.Title, Description: in.Description,
		ProposedConfig: mapPtr(in.ProposedConfig, (*FlagConfigView).toDomain), ProposedFlag: mapPtr(in.ProposedFlag, (*FlagView).toDomain),
		Changes: changeInputs(in.Changes), Draft: in.Draft, NotifyReviewers: in.NotifyReviewers, ApplyAt: in.ApplyAt}
}

// ChangeInput is one change of a request's body: the targeting of a flag in
// an environment (proposed_config) or the flag itself (proposed_flag).
type ChangeInput struct {
	Flag            string          `json:"flag,omitempty"`
	Environment     string          `json:"environment,omitempty"`
	Segment         string          `json:"segment,omitempty"`
	ProposedConfig  *FlagConfigView `json:"proposed_config,omitempty"`
	ProposedFlag    *FlagView       `json:"proposed_flag,omitempty"`
	ProposedSegment *SegmentView    `json:"proposed_segment,omitempty"`
}

func changeInputs(ins []ChangeInput) []app.ChangeInput {
	if ins == nil {
		return nil
	}
	out := make([]app.ChangeInput, len(ins))
	for i, in := range ins {
		out[i] = app.ChangeInput{Flag: in.Flag, Environment: in.Environment, Segment: in.Segment,
			ProposedConfig: mapPtr(in.ProposedConfig, (*FlagConfigView).toDomain), ProposedFlag: mapPtr(in.ProposedFlag, (*FlagView).toDomain),
			ProposedSegment: mapPtr(in.ProposedSegment, (*SegmentView).toDomain)}
	}
	return out
}

func changeInputOf(ch *domain.Change) ChangeInput {
	return ChangeInput{Flag: ch.Flag, Environment: ch.Environment, Segment: ch.Segment, ProposedConfig: mapPtr(ch.ProposedConfig, flagConfigView),
		ProposedFlag: mapPtr(ch.ProposedFlag, flagView), ProposedSegment: mapPtr(ch.ProposedSegment, segmentView)}
}

// crEditable is the part of a change request a PATCH may change; merge
// patches and JSON patches apply to it (version: the precondition). A
// one-change request shows its proposal as proposed_config or
// proposed_flag too; an edit changes that, or changes.
type crEditable struct {
	Title           string          `json:"title"`
	Description     string          `json:"description"`
	ProposedConfig  *FlagConfigView `json:"proposed_config,omitempty"`
	ProposedFlag    *FlagView       `json:"proposed_flag,omitempty"`
	Changes         []ChangeInput   `json:"changes"`
	NotifyReviewers []string        `json:"notify_reviewers"`
	ApplyAt         *time.Time      `json:"apply_at"`
	Version         int64           `json:"version"`
}

func crEditableOf(v *app.RequestView) crEditable {
	doc := crEditable{Title: v.Title, Description: v.Description, Changes: mapSlice(v.Changes, changeInputOf),
		NotifyReviewers: v.NotifyReviewers, ApplyAt: v.ApplyAt, Version: v.Version}
	if len(v.Changes) == 1 {
		doc.ProposedConfig, doc.ProposedFlag = mapPtr(v.Changes[0].ProposedConfig, flagConfigView), mapPtr(v.Changes[0].ProposedFlag, flagView)
	}
	return doc
}

// toApp is the edit the patched doc asks for, against orig, the document
// before the patch: changes when the patch changed them, else the
// one-change proposal.
func (doc *crEditable) toApp(orig *crEditable) app.EditInput {
	in := app.EditInput{Title: &doc.Title, Description: &doc.Description, NotifyReviewers: doc.NotifyReviewers, ApplyAt: doc.ApplyAt}
	if !reflect.DeepEqual(doc.Changes, orig.Changes) {
		in.Changes = changeInputs(doc.Changes)
		if in.Changes == nil {
			in.Changes = []app.ChangeInput{}
		}
		return in
	}
	in.ProposedConfig, in.ProposedFlag = mapPtr(doc.ProposedConfig, (*FlagConfigView).toDomain), mapPtr(doc.ProposedFlag, (*FlagView).toDomain)
	return in
}

// ReviewInput is the body of POST /v1/change-requests/{id}/reviews.
type ReviewInput struct {
	Decision domain.Decision `json:"decision"`
	Comment  string          `json:"comment"`
}

// commentInput is the body of POST /v1/change-requests/{id}/comments.
type commentInput struct {
	Comment string `json:"comment"`
}

// sdkKeyInput is the body of POST .../sdk-keys.
type sdkKeyInput struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "server" (default) or "client"
}

func (in *sdkKeyInput) toApp() app.SDKKeyInput { return app.SDKKeyInput{Name: in.Name, Kind: in.Kind} }

// rotateSDKKeyInput is the body of POST .../sdk-keys/{key}/rotate.
type rotateSDKKeyInput struct {
	OldKeyExpiresAt *time.Time `json:"old_key_expires_at"`
}

func (in *rotateSDKKeyInput) toApp() app.RotateSDKKeyInput {
	return app.RotateSDKKeyInput{OldKeyExpiresAt: in.OldKeyExpiresAt}
}

// freezeInput is the body of POST /v1/freezes.
type freezeInput struct {
	Name         string                `json:"name"`
	Reason       string                `json:"reason"`
	Project      string                `json:"project"`
	Environments []string              `json:"environments"`
	From         *time.Time            `json:"from"`
	To           *time.Time            `json:"to"`
	Start        string                `json:"start"`
	End          string                `json:"end"`
	TimeZone     string                `json:"time_zone"`
	Scheduled    domain.FreezeSchedule `json:"scheduled"`
}

func (in *freezeInput) toApp() app.FreezeInput {
	return app.FreezeInput{Name: in.Name, Reason: in.Reason, Project: in.Project, Environments: in.Environments, From: in.From, To: in.To,
		Start: in.Start, End: in.End, TimeZone: in.TimeZone, Scheduled: in.Scheduled}
}

var freezeReadOnly = []string{"id", "active", "next_window", "created_by", "created_at", "updated_at"}
