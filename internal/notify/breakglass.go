package notify

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/domain"
)

// reviewAfterMails are the mails of a review after a bypass (app
// breakglass.go): its opening asks the members who may acknowledge it;
// its deadline passing (review_overdue) tells them again, and the member
// who bypassed (or whose token did), and the project's admins.
func (n *Notifier) reviewAfterMails(ctx context.Context, e domain.AuditEntry, cr *domain.ChangeRequest,
	title string, add func(memberID string, waitsOnThem bool, subject, intro string, actions []string) error) error {
	reviewers, err := n.reviewers(ctx, cr)
	if err != nil {
		return err
	}
	due := ""
	if cr.Bypass != nil {
		due = cr.Bypass.ReviewDueAt.UTC().Format(time.RFC1123)
	}
	bypasser := cr.RequesterMember
	if bypasser == "" {
		bypasser = cr.RequesterBehind
	}
	// the Acknowledge link, for everyone but who bypassed (the link is
	// checked again when it is used: domain.ChangeRequest.CheckAcknowledge)
	ack := func(id string) []string {
		if id == bypasser || id == cr.RequesterBehind {
			return nil
		}
		return []string{actionlink.Acknowledge}
	}
	if e.Action == domain.ActionRequestBypassed {
		intro := fmt.Sprintf("%s bypassed approval and applied %s directly. Their reason: %q. Please review the change and acknowledge it by %s.", cr.Requester, title, e.Reason, due)
		for _, r := range reviewers {
			if err := add(r, true, "Acknowledge a bypass: "+title, intro, ack(r)); err != nil {
				return err
			}
		}
		return nil
	}
	to := slices.Clone(reviewers)
	more := func(id string) {
		if id != "" && !slices.Contains(to, id) {
			to = append(to, id)
		}
	}
	more(bypasser)
	cursor := ""
	for {
		ms, next, err := n.store.ListMembers(ctx, domain.Page{Limit: domain.MaxPageLimit, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.RoleIn(cr.Project) == domain.RoleAdmin {
				more(m.ID)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	intro := fmt.Sprintf("Nobody has acknowledged the bypass %s by %s (reason: %q); it was due by %s. A reviewer other than the one who bypassed must acknowledge it.", title, cr.Requester, cr.Bypass.Reason, due)
	for _, id := range to {
		if err := add(id, id != bypasser, "Overdue: acknowledge a bypass: "+title, intro, ack(id)); err != nil {
			return err
		}
	}
	return nil
}
