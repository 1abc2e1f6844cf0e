package console

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// viewer is the signed-in member a page is rendered for.
type viewer struct {
	P      *app.Principal
	Member *domain.Member
	CSRF   string // the session's CSRF token, for every form
	Path   string // the page's path (the navigation marks where you are)
	Flash  string // what the last form did (?done=…), from a fixed list

	// project is the project whose page this is: the route's {project}
	// ("" on the organisation's pages). Can decides with the viewer's role
	// there, so every page under /projects/{project} offers what the
	// service would accept from them in that project, without a page
	// having to say so.
	project string

	ctx context.Context
	svc *app.Service
	c   *Console
	log *slog.Logger

	// the pending requests, read once, alongside the page's own reads (a
	// GET starts the read at once): what waits on the viewer's review is
	// among them, and pages show their pending badges from them
	waitOnce sync.Once
	waitDone chan struct{}
	pending  []domain.ChangeRequest
	waitErr  error
	names    map[string]string // member id → name, read once per page
}

func (c *Console) newViewer(ctx context.Context, p *app.Principal, r *http.Request) (*viewer, error) {
	sess, m, err := c.svc.CurrentSession(ctx, p)
	if err != nil {
		return nil, err
	}
	v := &viewer{P: p, Member: m, CSRF: sess.CSRFToken, Path: r.URL.Path, ctx: ctx, svc: c.svc,
		Flash: flashes[r.URL.Query().Get("done")], project: r.PathValue("project")}
	v.c, v.log = c, c.log
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		v.startWaiting()
	}
	return v, nil
}

func (v *viewer) startWaiting() {
	v.waitOnce.Do(func() {
		v.waitDone = make(chan struct{})
		go func() {
			defer close(v.waitDone)
			v.pending, v.waitErr = v.c.allRequests(v.ctx, v.P, domain.CRFilter{Status: domain.StatusPending}, 0)
		}()
	})
}

// pendingList is the pending requests that pass the filter (its status
// is pending whatever it says).
func (v *viewer) pendingList(f domain.CRFilter) ([]domain.ChangeRequest, error) {
	v.startWaiting()
	<-v.waitDone
	if v.waitErr != nil {
		return nil, v.waitErr
	}
	f.Status = domain.StatusPending
	var out []domain.ChangeRequest
	for i := range v.pending {
		if f.Matches(&v.pending[i]) {
			out = append(out, v.pending[i])
		}
	}
	return out, nil
}

// waitingList is the requests waiting on the viewer's review: pending,
// and the viewer may review them and has not yet.
func (v *viewer) waitingList() ([]domain.ChangeRequest, error) {
	all, err := v.pendingList(domain.CRFilter{})
	if err != nil {
		return nil, err
	}
	var out []domain.ChangeRequest
	for i := range all {
		if v.svc.WaitsOn(v.P, &all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// Waiting counts the requests waiting on the viewer's review, for the
// navigation (0 when they could not be read: the page still shows).
func (v *viewer) Waiting() int {
	list, err := v.waitingList()
	if err != nil {
		v.log.ErrorContext(v.ctx, "reading the requests waiting on a member failed", "member", v.P.MemberID, "err", err)
		return 0
	}
	return len(list)
}

// Overdue reports whether a request is a review after a bypass past its
// due time, unacknowledged, by the service's clock.
func (v *viewer) Overdue(cr domain.ChangeRequest) bool { return cr.ReviewOverdue(v.svc.Now()) }

// Can reports whether the viewer has at least role ("editor", "manager",
// "admin") where the page is: in its project on a project's page (their
// project role, or their organisation role where they have none there),
// in the organisation elsewhere. The roles are the service's own
// (app.Principal.RoleIn and OrgRole), the ones it authorises with.
func (v *viewer) Can(role string) bool { return v.role().AtLeast(domain.Role(role)) }

// role is the viewer's role where the page is (see Can).
func (v *viewer) role() domain.Role {
	if v.project != "" {
		return v.P.RoleIn(v.project)
	}
	return v.P.OrgRole()
}

// Name is a member's name for an actor ("member:m_1", or a bare id);
// tokens and the system are named as such.
func (v *viewer) Name(actor string) string {
	id, isMember := strings.CutPrefix(actor, "member:")
	if !isMember && strings.Contains(actor, ":") {
		kind, rest, _ := strings.Cut(actor, ":")
		switch kind {
		case "system":
			return "Countersign (" + strings.ReplaceAll(rest, "-", " ") + ")"
		case "token":
			return "API token " + rest
		}
		return actor
	}
	if v.names == nil {
		v.names = map[string]string{}
		page := domain.Page{Limit: domain.MaxPageLimit}
		for {
			ms, next, err := v.svc.ListMembers(v.ctx, v.P, page)
			if err != nil {
				break
			}
			for _, m := range ms {
				name := m.Name
				if name == "" {
					name = m.Email
				}
				v.names[m.ID] = name
			}
			if next == "" {
				break
			}
			page.Cursor = next
		}
	}
	if n, ok := v.names[id]; ok {
		return n
	}
	return id
}

// IsMe reports whether an actor or member id is the viewer.
func (v *viewer) IsMe(actor string) bool {
	return actor == v.P.MemberID || actor == "member:"+v.P.MemberID
}

// flashes are the messages a form's redirect may ask the next page to
// show (?done=key): a fixed list, so that a link cannot make a page say
// anything else.
var flashes = map[string]string{}

// flash registers messages; each file registers its own.
func flash(m map[string]string) map[string]string {
	for k, v := range m {
		flashes[k] = v
	}
	return m
}
