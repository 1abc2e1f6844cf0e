package domain

import (
	"slices"
	"time"
)

// SuppressionReason is why mail to an address stopped.
type SuppressionReason string

const (
	// SuppressedBounce: the recipient's mail server refused the address
	// for good (a hard bounce: SES bounceType Permanent).
	SuppressedBounce SuppressionReason = "bounce"
	// SuppressedComplaint: the recipient marked a mail as spam (an SES
	// complaint).
	SuppressedComplaint SuppressionReason = "complaint"
)

// Suppression says that mail to a member's address is not sent any more,
// and why. It is set from SES's events (app.RecordMailEvent); an admin
// clears it (the member's address works again), and a new address clears
// it.
type Suppression struct {
	Reason SuppressionReason `json:"reason"`
	// At is when SES reported it (the bounce's or complaint's time).
	At time.Time `json:"at"`
	// FeedbackID is SES's id of the bounce or complaint, which names it
	// in SES's records and support cases.
	FeedbackID string `json:"feedback_id,omitempty"`
	// Detail is what SES said: the bounce's subtype and the mail server's
	// diagnostic, or the complaint's feedback type.
	Detail string `json:"detail,omitempty"`
}

// Describe says what happened in a few words, for pages and mails:
// "mail to this address bounced" or "the recipient marked mail as spam".
func (s *Suppression) Describe() string {
	if s == nil {
		return ""
	}
	if s.Reason == SuppressedComplaint {
		return "the recipient marked mail from Countersign as spam"
	}
	return "mail to this address bounced"
}

// Valid reports whether r is a known reason.
func (r SuppressionReason) Valid() bool { return r == SuppressedBounce || r == SuppressedComplaint }

// WaitsOn lists the members a pending request waits on by name: the
// reviewers its requester asked (NotifyReviewers) and, when its policy
// designates reviewers, the designated ones, and the members of each
// requirement it is short of (Suppliers); not the requester, and not
// those who already reviewed the current revision. A request that is not
// pending waits on nobody. Everyone who may review a request that names
// nobody is not "waited on": any of them will do.
func (cr *ChangeRequest) WaitsOn() []string {
	if cr.Status != StatusPending {
		return nil
	}
	var out []string
	add := func(ids []string) {
		for _, id := range ids {
			if id == "" || id == cr.RequesterMember || slices.Contains(out, id) {
				continue
			}
			reviewed := false
			for _, r := range cr.Reviews {
				reviewed = reviewed || (r.Reviewer == id && r.Revision == cr.Revision)
			}
			if !reviewed {
				out = append(out, id)
			}
		}
	}
	add(cr.NotifyReviewers)
	if cr.Policy.Reviewers == ReviewersDesignated {
		add(cr.Policy.DesignatedReviewers)
	}
	add(cr.Suppliers()) // the members who can supply a requirement it is short of
	return out
}
