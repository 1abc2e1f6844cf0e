package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/problem"
)

// The inbox and the change request pages.

func (c *Console) requestRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/{$}", handler: c.inbox},
		{Method: "GET", Pattern: "/requests", handler: c.requestList},
		{Method: "GET", Pattern: "/requests/{id}", handler: c.requestPage},
		{Method: "POST", Pattern: "/requests/{id}/review", handler: c.reviewSubmit},
		{Method: "POST", Pattern: "/requests/{id}/comment", handler: c.commentSubmit},
		{Method: "POST", Pattern: "/requests/{id}/apply", handler: c.applySubmit},
		{Method: "POST", Pattern: "/requests/{id}/withdraw", handler: c.withdrawSubmit},
		{Method: "POST", Pattern: "/requests/{id}/edit", handler: c.editSubmit},
		{Method: "POST", Pattern: "/requests/{id}/acknowledge", handler: c.acknowledgeSubmit},
	}
}

var _ = flash(map[string]string{
	"approved":     "You approved the request.",
	"rejected":     "You rejected the request.",
	"commented":    "Your comment is on the timeline.",
	"applied":      "The change is applied: it is live now.",
	"withdrawn":    "The request is withdrawn.",
	"edited":       "The request is edited. Approvals given before the edit no longer count.",
	"requested":    "Your change needs approval here, so it is now this change request. Reviewers have been notified.",
	"acknowledged": "You acknowledged the bypass: its review after is done.",
})

// allRequests lists every request that passes the filter, newest first.
func (c *Console) allRequests(ctx context.Context, p *app.Principal, f domain.CRFilter, limit int) ([]domain.ChangeRequest, error) {
	var out []domain.ChangeRequest
	page := domain.Page{Limit: domain.MaxPageLimit}
	if limit > 0 && limit < page.Limit {
		page.Limit = limit
	}
	for {
		items, next, err := c.svc.ListRequests(ctx, p, f, page)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" || (limit > 0 && len(out) >= limit) {
			break
		}
		page.Cursor = next
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// inboxView is the home page.
type inboxView struct {
	Waiting, Mine, Applied []domain.ChangeRequest
	// Acknowledge are the reviews after a bypass the viewer may acknowledge.
	Acknowledge []domain.ChangeRequest
	// MoreWaiting counts the requests waiting on the viewer beyond those
	// shown (the list shows inboxRows; /requests has them all).
	MoreWaiting int
}

// inboxRows is how many requests each list of the inbox shows.
const inboxRows = 50

func (c *Console) inbox(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ctx := r.Context()
	var in inboxView
	// The lists do not depend on each other: read them at the same time
	// (the waiting list is being read since the viewer was made).
	var reviewsAfter []domain.ChangeRequest
	readReviewsAfter := later(func() (err error) {
		reviewsAfter, err = c.allRequests(ctx, v.P, domain.CRFilter{Status: domain.StatusReviewAfter}, inboxRows)
		return err
	})
	readMine := later(func() (err error) {
		in.Mine, err = c.allRequests(ctx, v.P, domain.CRFilter{Requester: v.P.MemberID}, 20)
		return err
	})
	readApplied := later(func() (err error) {
		in.Applied, err = c.allRequests(ctx, v.P, domain.CRFilter{Status: domain.StatusApplied}, 10)
		return err
	})
	waiting, err := v.waitingList()
	for _, read := range []func() error{readReviewsAfter, readMine, readApplied} {
		err = errors.Join(err, read()) // every read is waited for before the page returns
	}
	if err != nil {
		return err
	}
	in.Waiting = waiting
	if len(in.Waiting) > inboxRows {
		in.MoreWaiting, in.Waiting = len(in.Waiting)-inboxRows, in.Waiting[:inboxRows]
	}
	for i := range reviewsAfter {
		if c.svc.MayAcknowledge(v.P, &reviewsAfter[i]) {
			in.Acknowledge = append(in.Acknowledge, reviewsAfter[i])
		}
	}
	return c.ok(w, v, "inbox", "Inbox", in)
}

// requestListView is the list of requests, by status, and only the
// overdue reviews after a bypass when Overdue.
type requestListView struct {
	Status   string
	Statuses []domain.CRStatus
	Overdue  bool
	Items    []domain.ChangeRequest
	Next     string // the next page's address, "" on the last
}

var crStatuses = []domain.CRStatus{domain.StatusPending, domain.StatusApproved, domain.StatusRejected, domain.StatusApplied, domain.StatusWithdrawn, domain.StatusExpired, domain.StatusReviewAfter}

func (c *Console) requestList(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q := r.URL.Query()
	st := domain.CRStatus(q.Get("status"))
	if st != "" && !containsStatus(st) {
		var val domain.Validation
		val.AddParameter("status", "must be one of pending, approved, rejected, applied, withdrawn, expired, review_after")
		return val.Err()
	}
	f := domain.CRFilter{Status: st, Project: q.Get("project")}
	overdue := q.Get("overdue") != ""
	if overdue {
		// the reviews after a bypass past their due time, on the service's clock
		f.Overdue, f.Now = &overdue, c.svc.Now()
	}
	items, next, err := c.svc.ListRequests(r.Context(), v.P, f, domain.Page{Limit: 50, Cursor: q.Get("cursor")})
	if err != nil {
		return err
	}
	view := requestListView{Status: string(st), Statuses: crStatuses, Overdue: overdue, Items: items}
	if next != "" {
		more := url.Values{"cursor": {next}}
		for _, k := range []string{"status", "project", "overdue"} {
			if q.Get(k) != "" {
				more.Set(k, q.Get(k))
			}
		}
		view.Next = "/requests?" + more.Encode()
	}
	title := "Change requests"
	if overdue {
		title = "Overdue reviews after a bypass"
	}
	return c.ok(w, v, "requests", title, view)
}

func containsStatus(s domain.CRStatus) bool {
	for _, x := range crStatuses {
		if x == s {
			return true
		}
	}
	return false
}

// requestView is the change request page.
type requestView struct {
	*app.RequestView
	Actions app.RequestActions
	Parts   []diffPart
	// Error is the refusal of the action just tried, shown above the page.
	Error string
	// Overdue: a review after a bypass past its due time, unacknowledged.
	Overdue bool
}

func (c *Console) requestPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.showRequest(w, r, v, http.StatusOK, "")
}

// showRequest renders the request page, with a refusal when an action was
// refused (its status is the refusal's).
func (c *Console) showRequest(w http.ResponseWriter, r *http.Request, v *viewer, status int, refusal string) error {
	ctx := r.Context()
	rv, err := c.svc.GetRequest(ctx, v.P, r.PathValue("id"))
	if err != nil {
		return err
	}
	parts, err := c.requestDiff(ctx, v.P, rv)
	if err != nil {
		return err
	}
	view := requestView{RequestView: rv, Actions: c.svc.ActionsOn(v.P, rv), Parts: parts, Error: refusal, Overdue: rv.ReviewOverdue(c.svc.Now())}
	return c.render(w, v, status, "request", rv.Title, view)
}

// requestDiff is the request's changes as parts: before (the live state
// while the request is open, the state it was made against once it is
// final) and after (the proposal), each titled with its change's target
// when there are several.
func (c *Console) requestDiff(ctx context.Context, p *app.Principal, rv *app.RequestView) ([]diffPart, error) {
	var out []diffPart
	for i := range rv.Changes {
		parts, err := c.changeDiff(ctx, p, rv, &rv.Changes[i])
		if err != nil {
			return nil, err
		}
		if len(rv.Changes) > 1 {
			for j := range parts {
				parts[j].Title = rv.Changes[i].Target().String() + ": " + parts[j].Title
			}
		}
		out = append(out, parts...)
	}
	return out, nil
}

func (c *Console) changeDiff(ctx context.Context, p *app.Principal, rv *app.RequestView, ch *domain.Change) ([]diffPart, error) {
	// a review after a bypass is open, but its change is live already:
	// it shows the state before the bypass against what it wrote
	againstLive := rv.Open() && rv.Status != domain.StatusReviewAfter
	switch ch.Kind {
	case domain.KindTargeting:
		before := ch.BaseConfig
		if againstLive {
			live, err := c.svc.GetFlagConfig(ctx, p, rv.Project, ch.Flag, ch.Environment)
			if err == nil {
				before = live
			} else if domain.ErrorCode(err) != domain.CodeNotFound {
				return nil, err
			}
		}
		return configParts(before, ch.ProposedConfig), nil
	case domain.KindFlag:
		before := ch.BaseFlag
		if againstLive {
			live, err := c.svc.GetFlag(ctx, p, rv.Project, ch.Flag)
			if err == nil {
				before = live
			} else if domain.ErrorCode(err) != domain.CodeNotFound {
				return nil, err
			}
		}
		return flagParts(before, ch.ProposedFlag), nil
	case domain.KindGovernance:
		return governanceParts(ch.Governance), nil
	}
	return nil, nil
}

// governanceParts shows a change to the rules: each field that weakens
// them, as it was and as proposed.
func governanceParts(g *domain.GovernanceChange) []diffPart {
	if g == nil {
		return nil
	}
	var parts []diffPart
	for _, w := range g.Weakens {
		before, after, _ := strings.Cut(w.Detail, " → ")
		if after == "" {
			before, after = "", w.Detail
		}
		parts = appendPart(parts, part(g.Name()+": "+strings.TrimPrefix(w.Pointer, "/"), []string{before}, []string{after}))
	}
	return parts
}

// act runs an action on the request and redirects to it with a message;
// a refusal shows the request page again, with the refusal and its status.
func (c *Console) act(w http.ResponseWriter, r *http.Request, v *viewer, flashKey string, do func(id string) error) error {
	id := r.PathValue("id")
	if err := do(id); err != nil {
		var de *domain.Error
		if !errors.As(err, &de) || de.Code == domain.CodeNotFound {
			return err
		}
		return c.showRequest(w, r, v, problem.Status(de.Code), de.Message)
	}
	return done(w, r, "/requests/"+id, flashKey)
}

func (c *Console) reviewSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d := domain.Decision(r.PostForm.Get("decision"))
	key := map[domain.Decision]string{domain.DecisionApprove: "approved", domain.DecisionReject: "rejected"}[d]
	return c.act(w, r, v, key, func(id string) error {
		_, err := c.svc.Review(r.Context(), v.P, id, d, r.PostForm.Get("comment"), app.ChannelConsole)
		return err
	})
}

func (c *Console) commentSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.act(w, r, v, "commented", func(id string) error {
		_, err := c.svc.Comment(r.Context(), v.P, id, r.PostForm.Get("comment"))
		return err
	})
}

func (c *Console) applySubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.act(w, r, v, "applied", func(id string) error {
		_, err := c.svc.Apply(r.Context(), v.P, id)
		return err
	})
}

func (c *Console) withdrawSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.act(w, r, v, "withdrawn", func(id string) error {
		_, err := c.svc.Withdraw(r.Context(), v.P, id)
		return err
	})
}

// acknowledgeSubmit acknowledges the review after a bypass, with the
// form's comment.
func (c *Console) acknowledgeSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.act(w, r, v, "acknowledged", func(id string) error {
		_, err := c.svc.Acknowledge(r.Context(), v.P, id, r.PostForm.Get("comment"), app.ChannelConsole)
		return err
	})
}

// editSubmit changes the request's title and description, against the
// version the form was rendered from (a stale form is refused).
func (c *Console) editSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.act(w, r, v, "edited", func(id string) error {
		version, err := formVersion(r)
		if err != nil {
			return err
		}
		title, desc := r.PostForm.Get("title"), r.PostForm.Get("description")
		_, err = c.svc.EditRequest(r.Context(), v.P, id, version, app.EditInput{Title: &title, Description: &desc})
		return err
	})
}

// formVersion reads the form's "version" field: the version of what the
// form was rendered from, so that a write over a newer state is refused.
func formVersion(r *http.Request) (*int64, error) {
	raw := r.PostForm.Get("version")
	if raw == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		var v domain.Validation
		v.Add("/version", "must be the version the page showed")
		return nil, v.Err()
	}
	return &n, nil
}
