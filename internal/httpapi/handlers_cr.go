package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// Headers that shape a write which may become a change request.
const (
	headerBypassReason    = "Countersign-Bypass-Reason"    // apply directly with a bypass grant; the reason is audited
	headerChangeTitle     = "Countersign-Change-Title"     // title of the request a gated write opens
	headerNotifyReviewers = "Countersign-Notify-Reviewers" // comma-separated member ids to ask
)

func changeOptions(r *http.Request) app.ChangeOptions {
	o := app.ChangeOptions{
		Title:        strings.TrimSpace(r.Header.Get(headerChangeTitle)),
		BypassReason: strings.TrimSpace(r.Header.Get(headerBypassReason)),
	}
	for _, id := range strings.Split(r.Header.Get(headerNotifyReviewers), ",") {
		if id = strings.TrimSpace(id); id != "" {
			o.NotifyReviewers = append(o.NotifyReviewers, id)
		}
	}
	return o
}

// notifyHeaderErrors names the header for reviewer errors of a gated write
// (the app reports them as body fields, as POST /v1/change-requests has them).
func notifyHeaderErrors(err error) error {
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeInvalid {
		return err
	}
	out := *de
	out.Fields = make([]domain.FieldError, len(de.Fields))
	for i, f := range de.Fields {
		if strings.HasPrefix(f.Pointer, "/notify_reviewers/") {
			f = domain.FieldError{Parameter: headerNotifyReviewers, Detail: f.Detail}
		}
		out.Fields[i] = f
	}
	return &out
}

// writeProposed answers a gated write: 202 with the change request it opened.
func writeProposed(w http.ResponseWriter, v *app.RequestView) error {
	w.Header().Set("Location", "/v1/change-requests/"+esc(v.ID))
	return writeVersioned(w, http.StatusAccepted, v.Version, v)
}

// ---- settings ----

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	o, err := s.svc.GetOrgSettings(r.Context(), p)
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, o.Version, o)
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in struct {
		app.OrgSettingsInput
		UpdatedAt *time.Time `json:"updated_at"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	expected, err := requiredVersion(r, in.Version, "settings")
	if err != nil {
		return err
	}
	o, err := s.svc.UpdateOrgSettings(r.Context(), p, expected, in.OrgSettingsInput)
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, o.Version, o)
}

func (s *Server) getApprovalSettings(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	a, err := s.svc.GetApprovalSettings(r.Context(), p, r.PathValue("project"), r.PathValue("environment"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, a.Version, a)
}

// approvalSettingsPut is a whole settings document; like targeting, a GET
// response sent back is accepted.
type approvalSettingsPut struct {
	domain.ApprovalSettings
	Version *int64 `json:"version"`
}

func (s *Server) putApprovalSettings(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in approvalSettingsPut
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	expected, err := requiredVersion(r, in.Version, "approval settings")
	if err != nil {
		return err
	}
	project, env := r.PathValue("project"), r.PathValue("environment")
	if err := matchesURL([3]string{"project", in.Project, project}, [3]string{"environment", in.Environment, env}); err != nil {
		return err
	}
	a, err := s.svc.UpdateApprovalSettings(r.Context(), p, project, env, expected, &in.ApprovalSettings)
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, a.Version, a)
}

// ---- change requests ----

func (s *Server) listChangeRequests(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := domain.CRFilter{
		Status: domain.CRStatus(q.Get("status")), Project: q.Get("project"), Flag: q.Get("flag"),
		Environment: q.Get("environment"), Requester: q.Get("requester"), Reviewer: q.Get("reviewer"),
	}
	switch f.Status {
	case "", domain.StatusPending, domain.StatusApproved, domain.StatusRejected, domain.StatusWithdrawn, domain.StatusExpired, domain.StatusApplied:
	default:
		var v domain.Validation
		v.AddParameter("status", "must be one of pending, approved, rejected, withdrawn, expired, applied")
		return v.Err()
	}
	items, next, err := s.svc.ListRequests(r.Context(), p, f, pg)
	if err != nil {
		return err
	}
	return writeList(w, items, next)
}

func (s *Server) createChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in app.RequestInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	v, err := s.svc.CreateRequest(r.Context(), p, in)
	if err != nil {
		return err
	}
	return created(w, "/v1/change-requests/"+esc(v.ID), v.Version, v)
}

func (s *Server) getChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	v, err := s.svc.GetRequest(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, v.Version, v)
}

// crEditable is the part of a change request a PATCH may change; merge
// patches and JSON patches apply to it (version: the precondition).
type crEditable struct {
	Title           string             `json:"title"`
	Description     string             `json:"description"`
	ProposedConfig  *domain.FlagConfig `json:"proposed_config,omitempty"`
	ProposedFlag    *domain.Flag       `json:"proposed_flag,omitempty"`
	NotifyReviewers []string           `json:"notify_reviewers"`
	ApplyAt         *time.Time         `json:"apply_at"`
	Version         int64              `json:"version"`
}

func (s *Server) patchChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	patch, err := readPatch(w, r)
	if err != nil {
		return err
	}
	expected, err := expectedVersion(r, nil)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	cur, err := s.svc.GetRequest(r.Context(), p, id)
	if err != nil {
		return err
	}
	if expected != nil && *expected != cur.Version {
		return domain.StaleVersion("change request", *expected, cur.Version)
	}
	doc := crEditable{Title: cur.Title, Description: cur.Description, ProposedConfig: cur.ProposedConfig, ProposedFlag: cur.ProposedFlag,
		NotifyReviewers: cur.NotifyReviewers, ApplyAt: cur.ApplyAt, Version: cur.Version}
	if err := applyPatch(patch, "change request", &doc); err != nil {
		return err
	}
	if doc.ApplyAt == nil && cur.ApplyAt != nil {
		var v domain.Validation
		v.Add("/apply_at", "a schedule cannot be removed by an edit; withdraw the request instead")
		return v.Err()
	}
	in := app.EditInput{Title: &doc.Title, Description: &doc.Description, ProposedConfig: doc.ProposedConfig, ProposedFlag: doc.ProposedFlag,
		NotifyReviewers: doc.NotifyReviewers, ApplyAt: doc.ApplyAt}
	if in.NotifyReviewers == nil {
		in.NotifyReviewers = []string{}
	}
	v, err := s.svc.EditRequest(r.Context(), p, id, &cur.Version, in)
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, v.Version, v)
}

// ReviewInput is the body of POST /v1/change-requests/{id}/reviews.
type ReviewInput struct {
	Decision domain.Decision `json:"decision"`
	Comment  string          `json:"comment"`
}

func (s *Server) reviewChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in ReviewInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	v, err := s.svc.Review(r.Context(), p, r.PathValue("id"), in.Decision, in.Comment, app.ChannelAPI)
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, v.Version, v)
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, err := s.svc.Comments(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	// Comments live in the request (at most a few hundred): the cursor is
	// the position of the next one.
	pg = pg.Normalize()
	start := 0
	if pg.Cursor != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(pg.Cursor, "c"))
		if err != nil || n < 0 || n > len(items) || !strings.HasPrefix(pg.Cursor, "c") {
			var v domain.Validation
			v.AddParameter("cursor", "the cursor is not one this service gave out")
			return v.Err()
		}
		start = n
	}
	end := min(start+pg.Limit, len(items))
	next := ""
	if end < len(items) {
		next = "c" + strconv.Itoa(end)
	}
	return writeList(w, items[start:end], next)
}

func (s *Server) addComment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in struct {
		Comment string `json:"comment"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	e, err := s.svc.Comment(r.Context(), p, r.PathValue("id"), in.Comment)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, e)
}

func (s *Server) applyChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	v, err := s.svc.Apply(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, v.Version, v)
}

func (s *Server) withdrawChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	v, err := s.svc.Withdraw(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, v.Version, v)
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := domain.AuditFilter{Project: q.Get("project"), Flag: q.Get("flag"), Environment: q.Get("environment"), Actor: q.Get("actor")}
	var v domain.Validation
	for name, dst := range map[string]**time.Time{"from": &f.From, "to": &f.To} {
		if raw := q.Get(name); raw != "" {
			t, err := time.Parse(time.RFC3339, raw)
			if err != nil {
				v.AddParameter(name, "must be an RFC 3339 date-time like 2026-01-02T15:04:05Z")
				continue
			}
			*dst = &t
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	items, next, err := s.svc.ListAudit(r.Context(), p, f, pg)
	if err != nil {
		return err
	}
	return writeList(w, items, next)
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	return listed(w, r, func(pg domain.Page) ([]domain.OutboxItem, string, error) {
		return s.svc.ListDeadLetters(r.Context(), p, pg)
	})
}

// SDKKeyView is an SDK key as clients see it: never its hash; the secret
// only in the response that created it.
type SDKKeyView struct {
	ID          string     `json:"id"`
	Project     string     `json:"project"`
	Environment string     `json:"environment"`
	Name        string     `json:"name"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	ReplacedBy  string     `json:"replaced_by,omitempty"`
	Replaces    string     `json:"replaces,omitempty"`
	Key         string     `json:"key,omitempty"`
}

func sdkKeyView(k *domain.SDKKey) SDKKeyView {
	return SDKKeyView{ID: k.ID, Project: k.Project, Environment: k.Environment, Name: k.Name, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt,
		RevokedAt: k.RevokedAt, ExpiresAt: k.ExpiresAt, ReplacedBy: k.ReplacedBy, Replaces: k.Replaces}
}

// RotatedSDKKeyView is a rotation's answer: the new key with its secret
// (shown only here) and the old key as it now is.
type RotatedSDKKeyView struct {
	SDKKeyView
	Old SDKKeyView `json:"old"`
}

func (s *Server) listSDKKeys(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := s.svc.ListSDKKeys(r.Context(), p, r.PathValue("project"), r.PathValue("environment"), pg)
	if err != nil {
		return err
	}
	views := make([]SDKKeyView, len(items))
	for i := range items {
		views[i] = sdkKeyView(&items[i])
	}
	return writeList(w, views, next)
}

func (s *Server) createSDKKey(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in app.SDKKeyInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	k, err := s.svc.CreateSDKKey(r.Context(), p, r.PathValue("project"), r.PathValue("environment"), in)
	if err != nil {
		return err
	}
	v := sdkKeyView(k.SDKKey)
	v.Key = k.Secret
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) rotateSDKKey(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in app.RotateSDKKeyInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	k, err := s.svc.RotateSDKKey(r.Context(), p, r.PathValue("project"), r.PathValue("environment"), r.PathValue("key"), in)
	if err != nil {
		return err
	}
	v := RotatedSDKKeyView{SDKKeyView: sdkKeyView(k.SDKKey), Old: sdkKeyView(k.Old)}
	v.Key = k.Secret
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) deleteSDKKey(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	if err := s.svc.RevokeSDKKey(r.Context(), p, r.PathValue("project"), r.PathValue("environment"), r.PathValue("key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
