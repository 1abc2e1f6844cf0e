package app

import (
	"github.com/countersign/countersign/internal/domain"
)

// ChannelConsole marks what people did in the web console.
const ChannelConsole = "console"

// RequestActions says what a principal may do with a change request now:
// nil where allowed, else the refusal the write would give. The console
// offers the allowed actions and shows the others disabled with the
// refusal's message; the writes enforce the same rules whatever is shown.
type RequestActions struct {
	Review, Apply, Withdraw, Edit, Comment error
	// Acknowledge is the review after a bypass's acknowledgement
	// (domain.ChangeRequest.CheckAcknowledge).
	Acknowledge error
}

// ActionsOn answers RequestActions for p on the request in v.
func (s *Service) ActionsOn(p *Principal, v *RequestView) RequestActions {
	now := s.clock.Now()
	a := p.actorIn(v.Project)
	out := RequestActions{
		Review:      v.CheckReview(a, now),
		Apply:       v.ApplyRefusal(a, now),
		Withdraw:    v.CheckWithdraw(a, now),
		Edit:        p.requireIn(v.Project, domain.RoleEditor, "editing change requests"),
		Comment:     p.requireIn(v.Project, domain.RoleViewer, "commenting"),
		Acknowledge: v.CheckAcknowledge(a),
	}
	if out.Edit == nil {
		out.Edit = v.CheckEdit(a, now)
	}
	if out.Comment == nil {
		out.Comment = v.CheckComment(a)
	}
	return out
}

// MayAcknowledge reports whether p may acknowledge the review after a
// bypass that cr is (and it awaits that).
func (s *Service) MayAcknowledge(p *Principal, cr *domain.ChangeRequest) bool {
	return cr.CheckAcknowledge(p.actorIn(cr.Project)) == nil
}

// WaitsOn reports whether the request waits on p's review: it is pending
// and p may review it and has not yet.
func (s *Service) WaitsOn(p *Principal, cr *domain.ChangeRequest) bool {
	return cr.Status == domain.StatusPending && cr.CheckReview(p.actorIn(cr.Project), s.clock.Now()) == nil
}
