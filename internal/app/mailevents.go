package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/countersign/countersign/internal/domain"
)

// Bounces and complaints: SES reports what became of each message (the
// configuration set's events, on EventBridge; internal/mailevents reads
// them). A hard bounce or a complaint marks the member with that address
// suppressed: the notifier sends them nothing more (internal/notify), a
// request that waits on them says so (RequestView.UnreachableReviewers),
// and the requesters of such requests are told (the notifier mails them
// on the member.email_suppressed entry). An admin clears the suppression
// (UpdateMember, email_suppressed set to null), and a new address clears
// it.

// ActorSES is who a suppression is audited as.
const ActorSES = "system:ses"

// SES event types (the detail's eventType) and the bounce type of a hard
// bounce.
const (
	MailBounce          = "Bounce"
	MailComplaint       = "Complaint"
	MailBouncePermanent = "Permanent"
)

// MailEvent is one SES event about one message, as internal/mailevents
// parses it from EventBridge.
type MailEvent struct {
	Type          string    // the detail's eventType: Bounce, Complaint, Delivery, Reject, DeliveryDelay, …
	BounceType    string    // Permanent, Transient or Undetermined (bounces)
	BounceSubType string    // General, NoEmail, Suppressed, OnAccountSuppressionList, MailboxFull, … (bounces)
	FeedbackType  string    // abuse, not-spam, … (complaints; often empty)
	Recipients    []string  // the bounced or complaining recipients' addresses
	Diagnostic    string    // the first bounced recipient's diagnostic code, if any
	FeedbackID    string    // SES's id of the bounce or complaint
	MessageID     string    // SES's id of the message
	At            time.Time // when the bounce or complaint happened
}

// MailEventOutcome is what RecordMailEvent did.
type MailEventOutcome struct {
	// Suppressed are the members marked suppressed now.
	Suppressed []string
	// Already are the members that were suppressed before (a repeated
	// event, or a second bounce): left as they are.
	Already []string
	// Unknown are recipients no member has as address.
	Unknown []string
	// Ignored says why the event changes nothing ("" when it concerns
	// addresses).
	Ignored string
}

// Suppresses says whether the event stops mail to its recipients, and why:
// a hard bounce (bounceType Permanent, SES's suppression list included) or
// a complaint (not one whose feedback type says "not-spam").
func (ev MailEvent) Suppresses() (domain.SuppressionReason, bool) {
	switch {
	case ev.Type == MailBounce && ev.BounceType == MailBouncePermanent:
		return domain.SuppressedBounce, true
	case ev.Type == MailComplaint && !strings.EqualFold(ev.FeedbackType, "not-spam"):
		return domain.SuppressedComplaint, true
	}
	return "", false
}

// errSuppressedAlready: the member was suppressed before; nothing written.
var errSuppressedAlready = errors.New("suppressed already")

// RecordMailEvent records one SES event. A hard bounce or a complaint
// marks each member whose address is a recipient suppressed, with an audit
// entry (domain.ActionMemberEmailSuppressed, by ActorSES) in the same write;
// anything else (deliveries, transient bounces, delays, rejects) changes
// nothing. A member suppressed already is left alone, so an event
// delivered twice (EventBridge delivers at least once) writes once.
// Addresses no member has are ignored. It needs no principal: SES is the
// source, through the function EventBridge invokes.
func (s *Service) RecordMailEvent(ctx context.Context, ev MailEvent) (*MailEventOutcome, error) {
	out := &MailEventOutcome{}
	reason, ok := ev.Suppresses()
	if !ok {
		out.Ignored = ignoredMailEvent(ev)
		s.log.InfoContext(ctx, "mail event recorded, nothing to change", "type", ev.Type, "bounce_type", ev.BounceType, "message", ev.MessageID,
			"recipients", len(ev.Recipients), "why", out.Ignored)
		return out, nil
	}
	if len(ev.Recipients) == 0 {
		out.Ignored = "the event names no recipient"
		return out, nil
	}
	// Addresses are unique among members; reading them all is one query
	// of a small partition, and bounces are rare.
	var members []domain.Member
	if err := forEach(ctx, s.store.ListMembers, func(m domain.Member) error {
		members = append(members, m)
		return nil
	}); err != nil {
		return nil, err
	}
	at := ev.At
	if at.IsZero() {
		at = s.clock.Now()
	}
	sup := domain.Suppression{Reason: reason, At: at.UTC(), FeedbackID: ev.FeedbackID, Detail: suppressionDetail(ev, reason)}
	if err := s.suppressRecipients(ctx, matchRecipients(ev.Recipients, members), sup, ev.MessageID, out); err != nil {
		return out, err
	}
	s.log.InfoContext(ctx, "mail event recorded", "type", ev.Type, "reason", reason, "message", ev.MessageID, "feedback_id", ev.FeedbackID,
		"suppressed", out.Suppressed, "already", out.Already, "unknown_recipients", len(out.Unknown))
	return out, nil
}

// ignoredMailEvent says why an event that suppresses nothing
// (MailEvent.Suppresses) changes nothing: MailEventOutcome.Ignored.
func ignoredMailEvent(ev MailEvent) string {
	switch {
	case ev.Type == MailBounce:
		return fmt.Sprintf("a %s bounce (%s): SES retried or gave up on this message only; the address stays", strings.ToLower(cmpOr(ev.BounceType, "undetermined")), ev.BounceSubType)
	case ev.Type == MailComplaint:
		return "a complaint whose feedback type is not-spam"
	default:
		return "a " + cmpOr(ev.Type, "mail") + " event changes no address"
	}
}

// suppressionDetail is the Suppression.Detail of an event that suppresses
// for reason: the bounce subtype or the complaint's feedback type, and the
// diagnostic, at most 500 bytes.
func suppressionDetail(ev MailEvent, reason domain.SuppressionReason) string {
	detail := ev.BounceSubType
	if reason == domain.SuppressedComplaint {
		detail = ev.FeedbackType
	}
	if ev.Diagnostic != "" && detail != "" {
		detail += ": " + ev.Diagnostic
	} else if ev.Diagnostic != "" {
		detail = ev.Diagnostic
	}
	for len(detail) > 500 { // a mail server's diagnostic has no bound
		_, size := utf8.DecodeLastRuneInString(detail)
		detail = detail[:len(detail)-size]
	}
	return detail
}

// mailRecipient is one recipient of an event and the members with that
// address (none when it is unknown).
type mailRecipient struct {
	addr    string
	members []domain.Member
}

// matchRecipients pairs each recipient address with the members who have
// it, in the event's order, skipping empty addresses and repeats of one
// (addresses compare as domain.EmailKey does).
func matchRecipients(recipients []string, members []domain.Member) []mailRecipient {
	var out []mailRecipient
	var seen []string
	for _, addr := range recipients {
		key := domain.EmailKey(addr)
		if key == "" || slices.Contains(seen, key) {
			continue
		}
		seen = append(seen, key)
		r := mailRecipient{addr: addr}
		for _, m := range members {
			if domain.SameEmail(m.Email, addr) {
				r.members = append(r.members, m)
			}
		}
		out = append(out, r)
	}
	return out
}

// suppressRecipients marks the members of each recipient suppressed (sup),
// and notes in out what became of each member and recipient. It stops at
// the first failed write.
func (s *Service) suppressRecipients(ctx context.Context, recipients []mailRecipient, sup domain.Suppression, messageID string, out *MailEventOutcome) error {
	for _, r := range recipients {
		if len(r.members) == 0 {
			out.Unknown = append(out.Unknown, r.addr)
			continue
		}
		for _, m := range r.members {
			sup := sup // each member its own copy
			err := s.suppress(ctx, m.ID, r.addr, &sup, messageID)
			switch {
			case errors.Is(err, errSuppressedAlready):
				out.Already = append(out.Already, m.ID)
			case domain.ErrorCode(err) == domain.CodeNotFound:
				// removed meanwhile: nobody to mark
			case err != nil:
				return err
			default:
				out.Suppressed = append(out.Suppressed, m.ID)
			}
		}
	}
	return nil
}

// suppress marks member id's address suppressed, if it still is addr and
// not suppressed yet, with its audit entry.
func (s *Service) suppress(ctx context.Context, id, addr string, sup *domain.Suppression, messageID string) error {
	_, err := s.store.WriteMember(ctx, id, func(m *domain.Member, w *domain.MemberWrite) error {
		if !domain.SameEmail(m.Email, addr) {
			return domain.NotFound("member with address", addr) // the address changed meanwhile
		}
		if m.EmailSuppressed != nil {
			return errSuppressedAlready
		}
		m.EmailSuppressed = sup
		m.UpdatedAt = s.clock.Now()
		e := s.audit(ActorSES, domain.ActionMemberEmailSuppressed, ChannelSystem)
		e.Member, e.Version = m.ID, m.Version+1
		e.Reason = suppressionReason(m.Email, sup, messageID)
		w.Record(e)
		return nil
	})
	return err
}

// suppressionReason is the audit entry's reason of a suppression.
func suppressionReason(addr string, sup *domain.Suppression, messageID string) string {
	var b strings.Builder
	if sup.Reason == domain.SuppressedComplaint {
		fmt.Fprintf(&b, "%s marked mail from Countersign as spam (an SES complaint)", addr)
	} else {
		fmt.Fprintf(&b, "mail to %s bounced for good (an SES hard bounce)", addr)
	}
	if sup.Detail != "" {
		fmt.Fprintf(&b, ": %s", sup.Detail)
	}
	b.WriteString("; no more mail is sent to it until an admin clears the suppression")
	if sup.FeedbackID != "" {
		fmt.Fprintf(&b, "; SES feedback id %s", sup.FeedbackID)
	}
	if messageID != "" {
		fmt.Fprintf(&b, ", message %s", messageID)
	}
	return b.String()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// UnreachableReviewer is a member a request waits on whose address is
// suppressed: they get no mail about it.
type UnreachableReviewer struct {
	MemberID    string              `json:"member_id"`
	Email       string              `json:"email"`
	Name        string              `json:"name"`
	Suppression *domain.Suppression `json:"suppression"`
}

// unreachableReviewers are the members cr waits on (domain.WaitsOn) whose
// addresses are suppressed. Members removed meanwhile are left out.
func (s *Service) unreachableReviewers(ctx context.Context, cr *domain.ChangeRequest) ([]UnreachableReviewer, error) {
	var out []UnreachableReviewer
	for _, id := range cr.WaitsOn() {
		m, err := s.store.GetMember(ctx, id)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m.EmailSuppressed != nil {
			out = append(out, UnreachableReviewer{MemberID: m.ID, Email: m.Email, Name: m.Name, Suppression: m.EmailSuppressed})
		}
	}
	return out, nil
}

// checkSuppressionChange decides what an update does to the member's mail
// suppression (orig as read, m as changed): a new address clears it; only
// admins clear it otherwise; nobody sets or changes one. It answers the
// audit reason of a clearing ("" when nothing was cleared).
func checkSuppressionChange(p *Principal, orig, m *domain.Member) (string, error) {
	if !domain.SameEmail(m.Email, orig.Email) {
		if orig.EmailSuppressed == nil {
			m.EmailSuppressed = nil
			return "", nil
		}
		m.EmailSuppressed = nil
		return fmt.Sprintf("the address changed from %s, whose mail was suppressed (%s %s): the new one gets mail",
			orig.Email, orig.EmailSuppressed.Reason, orig.EmailSuppressed.At.UTC().Format(time.DateOnly)), nil
	}
	switch {
	case m.EmailSuppressed == nil && orig.EmailSuppressed == nil:
		return "", nil
	case m.EmailSuppressed == nil:
		if !p.OrgRole().AtLeast(domain.RoleAdmin) {
			return "", domain.Errorf(domain.CodeForbidden, "only admins clear a mail suppression")
		}
		return fmt.Sprintf("mail suppression of %s cleared (it was a %s on %s, SES feedback id %s): mail is sent to it again",
			m.Email, orig.EmailSuppressed.Reason, orig.EmailSuppressed.At.UTC().Format(time.DateOnly), cmpOr(orig.EmailSuppressed.FeedbackID, "none")), nil
	case orig.EmailSuppressed == nil || !sameSuppression(orig.EmailSuppressed, m.EmailSuppressed):
		var v domain.Validation
		v.Add("/email_suppressed", "is set by SES's bounce and complaint events only; an admin may clear it (null)")
		return "", v.Err()
	}
	return "", nil
}

func sameSuppression(a, b *domain.Suppression) bool {
	return a.Reason == b.Reason && a.At.Equal(b.At) && a.FeedbackID == b.FeedbackID && a.Detail == b.Detail
}
