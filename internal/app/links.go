package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/domain"
)

// DefaultLinkTTL is how long an e-mail action link lives, unless the
// request's own deadline comes first.
const DefaultLinkTTL = 7 * 24 * time.Hour

// WithLinks gives the service the key that signs e-mail action links.
func (s *Service) WithLinks(signer *actionlink.Signer) *Service {
	s.links = signer
	return s
}

// IssueLink signs a link for member to act on revision rev of the request;
// it expires after DefaultLinkTTL or at the request's deadline, whichever
// comes first.
func (s *Service) IssueLink(cr *domain.ChangeRequest, member, action string) (string, time.Time, error) {
	if s.links == nil {
		return "", time.Time{}, errors.New("no action link key configured")
	}
	exp := s.clock.Now().Add(DefaultLinkTTL)
	if cr.ExpiresAt != nil && cr.ExpiresAt.Before(exp) {
		exp = *cr.ExpiresAt
	}
	tok := s.links.Issue(actionlink.Claims{Request: cr.ID, Revision: cr.Revision, Member: member, Action: action, Expires: exp.Unix()})
	return tok, exp, nil
}

// LinkState is what a link would do, for its confirmation page.
type LinkState struct {
	Claims  actionlink.Claims
	Member  *domain.Member
	Request *RequestView
	CSRF    string
}

var errLinkTampered = &domain.Error{Code: domain.CodeForbidden, Message: "this link is not one Countersign sent, or it was altered"}

// InspectLink checks a link without changing anything (GET must never act:
// mail scanners fetch links).
func (s *Service) InspectLink(ctx context.Context, token string) (*LinkState, error) {
	if s.links == nil {
		return nil, errLinkTampered
	}
	c, err := s.links.Parse(token)
	if err != nil {
		return nil, errLinkTampered
	}
	cr, err := s.store.GetChangeRequest(ctx, c.Request)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, errLinkTampered
	}
	if err != nil {
		return nil, err
	}
	m, err := s.store.GetMember(ctx, c.Member)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return nil, domain.Errorf(domain.CodeForbidden, "the member this link was sent to no longer exists")
	}
	if err != nil {
		return nil, err
	}
	if !principalOf(m, nil).sees(cr) {
		// the member may no longer read the request's project: the same
		// answer as a link to a request that does not exist
		return nil, errLinkTampered
	}
	if err := s.checkLink(cr, c, m); err != nil {
		return nil, err
	}
	v, err := s.view(ctx, cr)
	if err != nil {
		return nil, err
	}
	return &LinkState{Claims: c, Member: m, Request: v, CSRF: s.links.CSRF(token)}, nil
}

// checkLink says why a well-signed link cannot act now, if it cannot.
func (s *Service) checkLink(cr *domain.ChangeRequest, c actionlink.Claims, m *domain.Member) error {
	now := s.clock.Now()
	if slices.Contains(cr.UsedLinks, c.Nonce) {
		return domain.Errorf(domain.CodeConflict, "this link was already used; the request is now %s%s", cr.Status, decidedBy(cr))
	}
	if !now.Before(c.ExpiresAt()) {
		return domain.Errorf(domain.CodeGone, "this link expired on %s", c.ExpiresAt().Format(time.RFC1123))
	}
	if cr.Status == domain.StatusWithdrawn {
		return domain.Errorf(domain.CodeGone, "this link was revoked: the request was withdrawn%s", lastActor(cr, domain.EventWithdrawn))
	}
	if c.Revision != cr.Revision {
		return domain.Errorf(domain.CodeGone, "this link was revoked: the request was edited after it was sent (it is now at revision %d); a new e-mail went out", cr.Revision)
	}
	a := domain.Actor{MemberID: m.ID, Role: m.RoleIn(cr.Project)}
	switch c.Action {
	case actionlink.Approve, actionlink.Reject:
		if cr.Status != domain.StatusPending && !(cr.Status == domain.StatusApproved && cr.Policy.ReviewsAfterApproval()) {
			return domain.Errorf(domain.CodeConflict, "the request was already decided: it is %s%s", cr.Status, decidedBy(cr))
		}
		for _, r := range cr.Reviews {
			if r.Revision == cr.Revision && r.Reviewer == m.ID {
				return domain.Errorf(domain.CodeConflict, "you already reviewed this revision (%s)", r.Decision)
			}
		}
		if err := cr.CanReview(a); err != nil {
			return err
		}
	case actionlink.Acknowledge:
		if cr.Status != domain.StatusReviewAfter {
			return domain.Errorf(domain.CodeConflict, "the bypass needs no acknowledgement now: the request is %s%s", cr.Status, decidedBy(cr))
		}
		if err := cr.CheckAcknowledge(a); err != nil {
			return err
		}
	case actionlink.Apply:
		if cr.Status == domain.StatusApplied {
			return domain.Errorf(domain.CodeConflict, "the request was already applied%s", decidedBy(cr))
		}
		if err := cr.CheckApply(a, now); err != nil {
			return err
		}
	}
	return nil
}

func decidedBy(cr *domain.ChangeRequest) string {
	for i := len(cr.Timeline) - 1; i >= 0; i-- {
		e := cr.Timeline[i]
		if e.Type.Decides() {
			return fmt.Sprintf(" (%s by %s at %s)", e.Type, e.Actor, e.At.Format(time.RFC1123))
		}
	}
	return ""
}

func lastActor(cr *domain.ChangeRequest, typ domain.EventType) string {
	for i := len(cr.Timeline) - 1; i >= 0; i-- {
		if cr.Timeline[i].Type == typ {
			return " by " + cr.Timeline[i].Actor
		}
	}
	return ""
}

// ActOnLink performs a link's action (the confirmation page's POST): the
// same domain rules as the API, audited with channel email. The comment is
// required for reviews and acknowledgements, as in the API.
func (s *Service) ActOnLink(ctx context.Context, token, csrf, comment string) (*RequestView, error) {
	st, err := s.InspectLink(ctx, token)
	if err != nil {
		return nil, err
	}
	if !s.links.CheckCSRF(token, csrf) {
		return nil, domain.Errorf(domain.CodeForbidden, "the form does not belong to this link; open the link again")
	}
	p := principalOf(st.Member, nil)
	p.TokenID = "link"
	c := st.Claims
	check := func(cr *domain.ChangeRequest) error {
		if err := s.checkLink(cr, c, st.Member); err != nil {
			return err
		}
		cr.UsedLinks = append(cr.UsedLinks, c.Nonce)
		return nil
	}
	switch c.Action {
	case actionlink.Approve:
		return s.review(ctx, p, c.Request, domain.DecisionApprove, comment, ChannelEmail, check)
	case actionlink.Reject:
		return s.review(ctx, p, c.Request, domain.DecisionReject, comment, ChannelEmail, check)
	case actionlink.Acknowledge:
		return s.acknowledge(ctx, p, c.Request, comment, ChannelEmail, check)
	default:
		cr, _, err := s.apply(ctx, p.actorIn(st.Request.Project), c.Request, ChannelEmail, check)
		if err != nil {
			return nil, err
		}
		return s.view(ctx, cr)
	}
}
