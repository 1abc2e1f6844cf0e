package app

import (
	"context"
	"fmt"
	"slices"

	"github.com/countersign/countersign/internal/domain"
)

// A member demoted while their approval is pending: an approval counts only
// while its reviewer may still review. After a member's role is lowered
// (in the organisation or a project) or the member is removed, their
// reviews of open requests they may no longer review are voided
// (domain.ChangeRequest.VoidReviews): an approved request whose quorum no
// longer holds goes back to pending, audited change_request.review_voided.
// An apply checks its approvers again first (checkApprovers), so a
// demotion that commits before the apply reads the approvers is never
// applied with; one that commits between that read and the apply's write
// is the known window (docs/governance-design.md, "As built").

// voidReviews voids member id's reviews of the open requests they reviewed
// and may no longer review; m is the member as now written (nil when
// removed). Failures are logged: the apply-time check still holds.
func (s *Service) voidReviews(ctx context.Context, id string, m *domain.Member, why string) {
	var ids []string
	err := forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.ChangeRequest, string, error) {
		return s.store.ListChangeRequests(ctx, domain.CRFilter{Reviewer: id}, pg)
	}, func(cr domain.ChangeRequest) error {
		if cr.Status == domain.StatusPending || cr.Status == domain.StatusApproved || cr.Status == domain.StatusRejected {
			ids = append(ids, cr.ID)
		}
		return nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "listing a demoted member's reviews failed", "member", id, "err", err)
		return
	}
	for _, crID := range ids {
		_, err := s.store.UpdateChangeRequest(ctx, crID, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
			if mayStillReview(cr, id, m) {
				return errNothingToVoid
			}
			t, ok, err := cr.VoidReviews(id, why, s.clock.Now())
			if err != nil || !ok {
				return errNothingToVoid
			}
			e := s.entryOf(cr, t, ChannelSystem)
			e.Member, e.Reason = id, why
			w.Record(e)
			return nil
		})
		if err != nil && err != errNothingToVoid {
			s.log.ErrorContext(ctx, "voiding a demoted member's review failed", "member", id, "request", crID, "err", err)
		}
	}
}

var errNothingToVoid = &domain.Error{Code: domain.CodeConflict, Message: "nothing to void"}

// mayStillReview reports whether member id (m as now written, nil when
// removed) may still review cr.
func mayStillReview(cr *domain.ChangeRequest, id string, m *domain.Member) bool {
	if m == nil {
		return false
	}
	a := domain.Actor{MemberID: id, Role: m.RoleIn(cr.Project)}
	return a.Role.AtLeast(domain.RoleEditor) && (cr.Policy.Reviewers != domain.ReviewersAdmins || a.Role == domain.RoleAdmin)
}

// checkApprovers refuses to apply cr when one of its approvers may no
// longer review it (demoted or removed since), after voiding their
// reviews: the request needs another approval. Otherwise it answers the
// approvers as read, which the apply's write names (ApplyWrite's
// Approvers), so that a demotion committed between this check and that
// write refuses the write and the check runs again.
func (s *Service) checkApprovers(ctx context.Context, cr *domain.ChangeRequest) ([]domain.MemberVersion, error) {
	var read []domain.MemberVersion
	for _, r := range cr.Approvals() {
		m, err := s.store.GetMember(ctx, r.Reviewer)
		if err != nil && domain.ErrorCode(err) != domain.CodeNotFound {
			return nil, err
		}
		if err != nil {
			m = nil
		}
		if !mayStillReview(cr, r.Reviewer, m) {
			why := fmt.Sprintf("%s may no longer review this request", r.Reviewer)
			s.voidReviews(ctx, r.Reviewer, m, why)
			return nil, domain.Errorf(domain.CodeConflict, "%s; their approval no longer counts, and the request needs another one", why)
		}
		if !slices.ContainsFunc(read, func(v domain.MemberVersion) bool { return v.ID == m.ID }) {
			read = append(read, domain.MemberVersion{ID: m.ID, Version: m.Version})
		}
	}
	return read, nil
}
