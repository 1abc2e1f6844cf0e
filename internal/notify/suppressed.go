package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// Suppressed addresses (a hard bounce or a complaint, recorded from SES's
// events by app.RecordMailEvent): nothing is sent to them. A delivery to
// one is dead at once with the reason, without calling SES (which would
// only report another bounce, or refuse it from its suppression list). A
// request that waits on such a member tells its requester: when it asks
// for their review (the review request's entry), and when the member's
// address is suppressed while the request waits on them (the
// member.email_suppressed entry).

// suppressedError: the recipient's address is suppressed; not sent.
type suppressedError struct {
	addr string
	sup  *domain.Suppression
}

func (e *suppressedError) Error() string {
	s := fmt.Sprintf("not sent: mail to %s is suppressed since %s (%s", e.addr, e.sup.At.UTC().Format(time.RFC3339), e.sup.Reason)
	if e.sup.FeedbackID != "" {
		s += ", SES feedback id " + e.sup.FeedbackID
	}
	return s + "); an admin clears it on the member once the address works"
}

func suppressedErr(m *domain.Member) error {
	return &suppressedError{addr: m.Email, sup: m.EmailSuppressed}
}

// suppressionWhat says what happened to a member's mail, for a sentence:
// "mail to their address (b@example.com) bounced on 2 Jan 2026".
func suppressionWhat(m *domain.Member) string {
	day := m.EmailSuppressed.At.UTC().Format("2 Jan 2006")
	if m.EmailSuppressed.Reason == domain.SuppressedComplaint {
		return fmt.Sprintf("%s (%s) marked mail from Countersign as spam on %s", m.Name, m.Email, day)
	}
	return fmt.Sprintf("mail to %s (%s) bounced for good on %s", m.Name, m.Email, day)
}

// unreachableNotice is the mail telling cr's requester that the members
// in unreachable, whom the request waits on, get no mail; nil when the
// requester is one of them, is gone, or turned e-mail off. Its delivery
// key is the requester's with ":unreachable", apart from any other mail
// the same entry sends them.
func (n *Notifier) unreachableNotice(ctx context.Context, e domain.AuditEntry, cr *domain.ChangeRequest, unreachable []*domain.Member) (*mail, error) {
	if cr.RequesterMember == "" || slices.ContainsFunc(unreachable, func(m *domain.Member) bool { return m.ID == cr.RequesterMember }) {
		return nil, nil
	}
	req, err := n.store.GetMember(ctx, cr.RequesterMember)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if req.EmailOptOut {
		return nil, nil
	}
	whats := make([]string, len(unreachable))
	for i, m := range unreachable {
		whats[i] = suppressionWhat(m)
	}
	title := fmt.Sprintf("%q (%s)", cr.Title, place(cr))
	who := "a reviewer"
	if len(unreachable) > 1 {
		who = fmt.Sprintf("%d reviewers", len(unreachable))
	}
	intro := fmt.Sprintf("Your change request %s waits on %s who cannot get mail: %s. They were not told of the request and get no mail from Countersign "+
		"until an admin clears that on their member page. Ask them another way, or ask someone else to review it.", title, who, strings.Join(whats, "; "))
	msg, err := n.render(req, cr, e, "Cannot reach "+who+": "+title, intro, nil)
	if err != nil {
		return nil, err
	}
	return &mail{member: req, msg: msg, key: "email:" + req.ID + ":unreachable"}, nil
}

// unreachableNotices are the mails of a member.email_suppressed entry: to
// the requester of each pending request that waits on the member (one
// mail per request, keyed "email:<requester>:<request>"), unless the
// requester is that member. None when the member is gone or no longer
// suppressed.
func (n *Notifier) unreachableNotices(ctx context.Context, e domain.AuditEntry) ([]mail, error) {
	m, err := n.store.GetMember(ctx, e.Member)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if m.EmailSuppressed == nil {
		return nil, nil
	}
	var out []mail
	cursor := ""
	for {
		crs, next, err := n.store.ListChangeRequests(ctx, domain.CRFilter{Status: domain.StatusPending}, domain.Page{Limit: domain.MaxPageLimit, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for i := range crs {
			cr := &crs[i]
			if !slices.Contains(cr.WaitsOn(), m.ID) {
				continue
			}
			notice, err := n.unreachableNotice(ctx, e, cr, []*domain.Member{m})
			if err != nil {
				return nil, err
			}
			if notice != nil {
				notice.key = "email:" + notice.member.ID + ":" + cr.ID
				out = append(out, *notice)
			}
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}
