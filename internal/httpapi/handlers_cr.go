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
	headerChangeRequest   = "X-Change-Request"             // the draft request the write proposes its change into
)

func changeOptions(r *http.Request) app.ChangeOptions {
	o := app.ChangeOptions{
		Title:        strings.TrimSpace(r.Header.Get(headerChangeTitle)),
		BypassReason: strings.TrimSpace(r.Header.Get(headerBypassReason)),
		Draft:        strings.TrimSpace(r.Header.Get(headerChangeRequest)),
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
	return writeVersioned(w, http.StatusAccepted, v.Version, requestView(v))
}

// writeRequest answers with a change request where it stands.
func writeRequest(w http.ResponseWriter, v *app.RequestView) error {
	return writeVersioned(w, http.StatusOK, v.Version, requestView(v))
}

// ---- settings ----

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	o, err := s.svc.GetOrgSettings(r.Context(), p)
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, o.Version, orgSettingsView(o))
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in settingsPut
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	expected, err := requiredVersion(r, in.Version, "settings")
	if err != nil {
		return err
	}
	o, err := s.svc.UpdateOrgSettings(r.Context(), p, expected, in.toApp())
	if err != nil {
		return err
	}
	return writeOutcome(w, o, orgSettingsView, func(o *domain.OrgSettings) int64 { return o.Version })
}

func (s *Server) getApprovalSettings(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	a, err := s.svc.GetApprovalSettings(r.Context(), p, r.PathValue("project"), r.PathValue("environment"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, a.Version, approvalSettingsView(a))
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
	next := in.ApprovalSettingsView.toDomain()
	a, err := s.svc.UpdateApprovalSettings(r.Context(), p, project, env, expected, &next)
	if err != nil {
		return err
	}
	return writeOutcome(w, a, approvalSettingsView, func(a *domain.ApprovalSettings) int64 { return a.Version })
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
	case "", domain.StatusPending, domain.StatusApproved, domain.StatusRejected, domain.StatusWithdrawn, domain.StatusExpired, domain.StatusApplied,
		domain.StatusReviewAfter:
	default:
		var v domain.Validation
		v.AddParameter("status", "must be one of pending, approved, rejected, withdrawn, expired, applied, review_after")
		return v.Err()
	}
	// overdue is judged on the service's clock (the one the timers use)
	if f.Overdue, err = boolParam(r, "overdue"); err != nil {
		return err
	}
	f.Now = s.svc.Now()
	items, next, err := s.svc.ListRequests(r.Context(), p, f, pg)
	if err != nil {
		return err
	}
	return writeList(w, mapSlice(items, changeRequestView), next)
}

func (s *Server) createChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in changeRequestInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	v, err := s.svc.CreateRequest(r.Context(), p, in.toApp())
	if err != nil {
		return err
	}
	return created(w, "/v1/change-requests/"+esc(v.ID), v.Version, requestView(v))
}

func (s *Server) getChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	v, err := s.svc.GetRequest(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeRequest(w, v)
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
	orig := crEditableOf(cur)
	doc := crEditableOf(cur)
	if err := applyPatch(patch, "change request", &doc); err != nil {
		return err
	}
	if doc.ApplyAt == nil && cur.ApplyAt != nil {
		var v domain.Validation
		v.Add("/apply_at", "a schedule cannot be removed by an edit; withdraw the request instead")
		return v.Err()
	}
	in := doc.toApp(&orig)
	if in.NotifyReviewers == nil {
		in.NotifyReviewers = []string{}
	}
	v, err := s.svc.EditRequest(r.Context(), p, id, &cur.Version, in)
	if err != nil {
		return err
	}
	return writeRequest(w, v)
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
	return writeRequest(w, v)
}

// acknowledgeChangeRequest acknowledges the review after a bypass: another
// member who may review it says they looked (breakglass.go).
func (s *Server) acknowledgeChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in commentInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	v, err := s.svc.Acknowledge(r.Context(), p, r.PathValue("id"), in.Comment, app.ChannelAPI)
	if err != nil {
		return err
	}
	return writeRequest(w, v)
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
	return writeList(w, mapSlice(items[start:end], timelineEventView), next)
}

func (s *Server) addComment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in commentInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	e, err := s.svc.Comment(r.Context(), p, r.PathValue("id"), in.Comment)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, mapPtr(e, timelineEventView))
}

func (s *Server) applyChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	v, err := s.svc.Apply(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeRequest(w, v)
}

func (s *Server) submitChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	v, err := s.svc.Submit(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeRequest(w, v)
}

// removeChange removes change n (0 for the first) of a request: from a
// draft, or, after submission, as an edit (a new revision).
func (s *Server) removeChange(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 || n >= domain.MaxChanges {
		return domain.NotFound("change", r.PathValue("n"))
	}
	v, err := s.svc.RemoveChange(r.Context(), p, r.PathValue("id"), n)
	if err != nil {
		return err
	}
	return writeRequest(w, v)
}

func (s *Server) withdrawChangeRequest(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	v, err := s.svc.Withdraw(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeRequest(w, v)
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := domain.AuditFilter{Project: q.Get("project"), Flag: q.Get("flag"), Environment: q.Get("environment"), Segment: q.Get("segment"), Actor: q.Get("actor")}
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
	return writeList(w, mapSlice(items, auditEntryView), next)
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	return listed(w, r, func(pg domain.Page) ([]domain.OutboxItem, string, error) {
		return s.svc.ListDeadLetters(r.Context(), p, pg)
	}, outboxItemView)
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
	return writeList(w, mapSlice(items, sdkKeyView), next)
}

func (s *Server) createSDKKey(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in sdkKeyInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	k, err := s.svc.CreateSDKKey(r.Context(), p, r.PathValue("project"), r.PathValue("environment"), in.toApp())
	if err != nil {
		return err
	}
	v := sdkKeyView(k.SDKKey)
	v.Key = k.Secret
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) rotateSDKKey(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in rotateSDKKeyInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	k, err := s.svc.RotateSDKKey(r.Context(), p, r.PathValue("project"), r.PathValue("environment"), r.PathValue("key"), in.toApp())
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
