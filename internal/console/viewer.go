package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// viewer is the signed-in member a page is rendered for.
type viewer struct {
	P       *app.Principal
	Member  *domain.Member
	CSRF    string // the session's CSRF token, for every form
	Path    string // the page's path (the navigation marks where you are)
	Waiting int    // requests waiting on the viewer's review (navigation count)
	Flash   string // what the last form did (?done=…), from a fixed list

	ctx     context.Context
	svc     *app.Service
	waiting []domain.ChangeRequest // what Waiting counts
	names   map[string]string      // member id → name, read once per page
}

func (c *Console) newViewer(ctx context.Context, p *app.Principal, r *http.Request) (*viewer, error) {
	sess, m, err := c.svc.CurrentSession(ctx, p)
	if err != nil {
		return nil, err
	}
	v := &viewer{P: p, Member: m, CSRF: sess.CSRFToken, Path: r.URL.Path, ctx: ctx, svc: c.svc,
		Flash: flashes[r.URL.Query().Get("done")]}
	waiting, err := c.waitingOn(ctx, p)
	if err != nil {
		return nil, err
	}
	v.Waiting, v.waiting = len(waiting), waiting
	return v, nil
}

// Can reports whether the viewer has at least role ("editor", "manager", "admin").
func (v *viewer) Can(role string) bool { return v.P.Role.AtLeast(domain.Role(role)) }

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
