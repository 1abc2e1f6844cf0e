// Package notify delivers the outbox: for each audit entry, the e-mails to
// the people it concerns and one domain event. Each of these deliveries (one
// recipient's e-mail, or the event) is tried, retried with backoff and
// dead-lettered on its own, its state kept on the outbox item, so one
// recipient never holds up another and a retry sends only what is missing.
// Delivery is at least once: a crash between a send and its record sends
// that one message twice. Dead letters can be listed.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/notify/eventbus"
	"github.com/countersign/countersign/internal/notify/sesmail"
)

// Mailer sends one e-mail.
type Mailer interface {
	Send(ctx context.Context, m sesmail.Message) (string, error)
}

// Publisher publishes domain events.
type Publisher interface {
	Publish(ctx context.Context, events ...eventbus.Event) error
}

// Store is what the notifier reads and writes.
type Store interface {
	domain.OutboxRepository
	GetChangeRequest(ctx context.Context, id string) (*domain.ChangeRequest, error)
	GetMember(ctx context.Context, id string) (*domain.Member, error)
	ListMembers(ctx context.Context, page domain.Page) ([]domain.Member, string, error)
	// ListChangeRequests finds the pending requests that wait on a member
	// whose address was suppressed (suppressed.go).
	ListChangeRequests(ctx context.Context, filter domain.CRFilter, page domain.Page) ([]domain.ChangeRequest, string, error)
}

// Notifier delivers outbox items.
type Notifier struct {
	store   Store
	svc     *app.Service // issues action links
	mail    Mailer
	events  Publisher
	clock   clock.Clock
	log     *slog.Logger
	from    string
	baseURL string
}

// New builds a notifier. baseURL is where action links point (the API's
// public address); from is the sender address. log also carries the
// notifier's metrics (MailRefused, OutboxDeadLettered: CloudWatch embedded
// metric format, see internal/metrics), so on Lambda it is the function's
// JSON logger on stdout (config.Logger).
func New(store Store, svc *app.Service, mail Mailer, events Publisher, clk clock.Clock, log *slog.Logger, from, baseURL string) *Notifier {
	return &Notifier{store: store, svc: svc, mail: mail, events: events, clock: clk, log: log, from: from, baseURL: strings.TrimRight(baseURL, "/")}
}

// eventTypes name the domain event of each audit action that has one; an
// action not here is published under its own name.
var eventTypes = map[domain.AuditAction]string{
	domain.ActionRequestCreated:          eventbus.TypeChangeRequestCreated,
	domain.ActionRequestEdited:           eventbus.TypeChangeRequestEdited,
	domain.ActionRequestReviewed:         eventbus.TypeChangeRequestReviewed,
	domain.ActionRequestApproved:         eventbus.TypeChangeRequestApproved,
	domain.ActionRequestRejected:         eventbus.TypeChangeRequestRejected,
	domain.ActionRequestAutoApproved:     eventbus.TypeChangeRequestAutoApproved,
	domain.ActionRequestApplied:          eventbus.TypeChangeRequestApplied,
	domain.ActionRequestApplyConflict:    eventbus.TypeChangeRequestApplyConflict,
	domain.ActionRequestWithdrawn:        eventbus.TypeChangeRequestWithdrawn,
	domain.ActionRequestExpired:          eventbus.TypeChangeRequestExpired,
	domain.ActionFlagCreated:             eventbus.TypeFlagChanged,
	domain.ActionFlagUpdated:             eventbus.TypeFlagChanged,
	domain.ActionFlagDeleted:             eventbus.TypeFlagChanged,
	domain.ActionTargetingUpdated:        eventbus.TypeFlagChanged,
	domain.ActionBypass:                  eventbus.TypeFlagChanged,
	domain.ActionAPITokenBypass:          eventbus.TypeFlagChanged,
	domain.ActionSettingsUpdated:         eventbus.TypeSettingsChanged,
	domain.ActionApprovalSettingsUpdated: eventbus.TypeSettingsChanged,
	domain.ActionEnvironmentUpdated:      eventbus.TypeSettingsChanged,
}

// eventType names the domain event of an audit action.
func eventType(action domain.AuditAction) string {
	if t, ok := eventTypes[action]; ok {
		return t
	}
	return string(action)
}

// deliveries are what entry e owes now: the event and the e-mails. gone
// says why a recipient owed at the first attempt may be missing from them
// now.
func (n *Notifier) deliveries(ctx context.Context, e domain.AuditEntry) (out []delivery, gone string, err error) {
	gone = "no longer concerned (removed, e-mail turned off, or no longer a reviewer)"
	out = []delivery{{key: "event", send: func(ctx context.Context) error {
		ev := eventbus.Event{ID: e.ID, Type: eventType(e.Action), Time: e.At, Project: e.Project, Flag: e.Flag, Environment: e.Environment,
			ChangeRequest: e.ChangeRequest, Actor: e.Actor, Detail: map[string]any{"action": e.Action}}
		if e.Diff != nil {
			ev.Summary = e.Diff.Summary
		}
		if e.Reason != "" {
			ev.Detail["reason"] = e.Reason
		}
		if len(e.Approvers) > 0 {
			ev.Detail["approvers"] = e.Approvers
		}
		if e.Decision != "" {
			ev.Detail["decision"] = e.Decision
		}
		if e.SDKKey != "" {
			ev.Detail["sdk_key"] = e.SDKKey
		}
		if e.Member != "" {
			ev.Detail["member"] = e.Member
		}
		if e.Freeze != "" {
			ev.Detail["freeze"] = e.Freeze
		}
		return n.events.Publish(ctx, ev)
	}}}
	if purpose, ok := signInMails[e.Action]; ok && e.Member != "" && n.mail != nil {
		m, err := n.store.GetMember(ctx, e.Member)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return out, "the member was removed", nil // removed meanwhile: no link for them
		}
		if err != nil {
			return nil, "", err
		}
		return append(out, delivery{key: "email:" + m.ID, send: func(ctx context.Context) error {
			if m.EmailSuppressed != nil {
				return suppressedErr(m) // the link is not even issued
			}
			msg, err := n.signInMail(ctx, e, m, purpose)
			if domain.ErrorCode(err) == domain.CodeNotFound {
				return &goneError{"the member was removed"}
			}
			if err != nil {
				return err
			}
			_, err = n.mail.Send(ctx, msg)
			return err
		}}), "", nil
	}
	if e.Action == domain.ActionMemberEmailSuppressed && e.Member != "" && n.mail != nil {
		mails, err := n.unreachableNotices(ctx, e)
		if err != nil {
			return nil, "", err
		}
		return append(out, mailDeliveries(n, mails)...), "no longer concerned (the request moved on, or the suppression was cleared)", nil
	}
	if e.Action == domain.ActionBypass && e.Freeze != "" && n.mail != nil {
		mails, err := n.freezeBypassMails(ctx, e)
		if err != nil {
			return nil, "", err
		}
		return append(out, mailDeliveries(n, mails)...), gone, nil
	}
	if e.ChangeRequest == "" || n.mail == nil {
		return out, gone, nil
	}
	cr, err := n.store.GetChangeRequest(ctx, e.ChangeRequest)
	if err != nil {
		return nil, "", err
	}
	if reviewActions[e.Action] && cr.Status != awaited(e.Action) {
		gone = "the change request is " + string(cr.Status) + " now"
	}
	mails, err := n.emails(ctx, e, cr)
	if err != nil {
		return nil, "", err
	}
	return append(out, mailDeliveries(n, mails)...), gone, nil
}

// mailDeliveries are the deliveries of mails: each one's key is its
// recipient's ("email:<member>", or the mail's own key), and a recipient
// whose address is suppressed is not sent to (suppressedError).
func mailDeliveries(n *Notifier, mails []mail) []delivery {
	out := make([]delivery, 0, len(mails))
	for _, m := range mails {
		key := m.key
		if key == "" {
			key = "email:" + m.member.ID
		}
		out = append(out, delivery{key: key, send: func(ctx context.Context) error {
			if m.member.EmailSuppressed != nil {
				return suppressedErr(m.member)
			}
			_, err := n.mail.Send(ctx, m.msg)
			return err
		}})
	}
	return out
}

// reviewActions are the entries whose mail asks for a review: sent only
// while the request is pending.
var reviewActions = map[domain.AuditAction]bool{domain.ActionRequestCreated: true, domain.ActionRequestSubmitted: true, domain.ActionRequestEdited: true,
	domain.ActionRequestApprovalsRevoked: true, domain.ActionRequestBypassed: true}

// awaited is the status in which a review action's mail still asks for
// something: pending, or review_after for a bypass's acknowledgement.
func awaited(a domain.AuditAction) domain.CRStatus {
	if a == domain.ActionRequestBypassed {
		return domain.StatusReviewAfter
	}
	return domain.StatusPending
}

type mail struct {
	member *domain.Member
	msg    sesmail.Message
	key    string // the delivery's key when it is not "email:<member>"
}

// emails decides who hears of an entry, and what they read.
func (n *Notifier) emails(ctx context.Context, e domain.AuditEntry, cr *domain.ChangeRequest) ([]mail, error) {
	var out []mail
	var unreachable []*domain.Member // reviewers the request waits on whose address is suppressed
	waits := cr.WaitsOn()
	add := func(memberID string, waitsOnThem bool, subject, intro string, actions []string) error {
		m, err := n.store.GetMember(ctx, memberID)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		if m.EmailOptOut && !waitsOnThem {
			return nil
		}
		if m.EmailSuppressed != nil && waitsOnThem && slices.Contains(waits, m.ID) {
			unreachable = append(unreachable, m)
		}
		msg, err := n.render(m, cr, e, subject, intro, actions)
		if err != nil {
			return err
		}
		out = append(out, mail{member: m, msg: msg})
		return nil
	}
	title := fmt.Sprintf("%q (%s)", cr.Title, place(cr))
	switch e.Action {
	case domain.ActionRequestCreated, domain.ActionRequestSubmitted, domain.ActionRequestEdited, domain.ActionRequestApprovalsRevoked:
		if cr.Status != domain.StatusPending {
			return nil, nil
		}
		reviewers, err := n.reviewers(ctx, cr)
		if err != nil {
			return nil, err
		}
		verb := map[domain.AuditAction]string{domain.ActionRequestCreated: "asks for your review", domain.ActionRequestSubmitted: "asks for your review",
			domain.ActionRequestEdited:           "was edited and needs your review again",
			domain.ActionRequestApprovalsRevoked: "needs your review again"}[e.Action]
		for _, r := range reviewers {
			if err := add(r, true, "Review requested: "+title, "Change request "+title+" "+verb+".", []string{actionlink.Approve, actionlink.Reject}); err != nil {
				return nil, err
			}
		}
		// the requester hears that some of them cannot be reached
		if len(unreachable) > 0 && cr.RequesterMember != "" {
			notice, err := n.unreachableNotice(ctx, e, cr, unreachable)
			if err != nil {
				return nil, err
			}
			if notice != nil {
				out = append(out, *notice)
			}
		}
	case domain.ActionRequestBypassed, domain.ActionRequestReviewOverdue:
		if cr.Status != domain.StatusReviewAfter {
			return nil, nil
		}
		if err := n.reviewAfterMails(ctx, e, cr, title, add); err != nil {
			return nil, err
		}
	case domain.ActionRequestReviewed, domain.ActionRequestApproved, domain.ActionRequestRejected, domain.ActionRequestAutoApproved, domain.ActionRequestApplied,
		domain.ActionRequestApplyConflict, domain.ActionRequestExpired, domain.ActionRequestScheduleFailed, domain.ActionRequestHeld, domain.ActionRequestAcknowledged:
		if cr.RequesterMember == "" {
			return nil, nil
		}
		what := strings.ReplaceAll(strings.TrimPrefix(string(e.Action), "change_request."), "_", " ")
		intro := fmt.Sprintf("Your change request %s: %s by %s.", title, what, e.Actor)
		if e.Decision != "" {
			what = map[string]string{"approve": "approved", "reject": "rejected"}[e.Decision]
			if e.Action == domain.ActionRequestReviewed {
				what = "reviewed (" + e.Decision + ")"
			}
			intro = fmt.Sprintf("Your change request %s: %s by %s, who wrote: %q", title, what, e.Actor, e.Reason)
		} else if e.Reason != "" {
			intro += " " + e.Reason
		}
		var actions []string
		if cr.Status == domain.StatusApproved && cr.Policy.Apply == domain.ApplyManual && cr.ApplyAt == nil &&
			(e.Action == domain.ActionRequestApproved || e.Action == domain.ActionRequestAutoApproved) {
			actions = []string{actionlink.Apply}
		}
		if err := add(cr.RequesterMember, false, strings.ToUpper(what[:1])+what[1:]+": "+title, intro, actions); err != nil {
			return nil, err
		}
	case domain.ActionRequestCommented:
		for _, m := range e.Mentions {
			if slices.Contains(e.MentionsNotMailed, m) {
				continue // over domain.MaxMentionMailsPerHour: decided when the comment was written
			}
			if err := add(m, false, "You were mentioned: "+title, fmt.Sprintf("%s mentioned you on %s: %q", e.Actor, title, e.Reason), nil); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// place says where a request changes things: "<flag> in <environment>"
// for one change of a flag, else its first change's target and how many
// more there are.
func place(cr *domain.ChangeRequest) string {
	if len(cr.Changes) == 1 && cr.Kind != domain.KindSegment {
		return fmt.Sprintf("%s in %s", cr.Flag, envName(cr))
	}
	if len(cr.Changes) == 0 {
		return "no changes yet"
	}
	out := cr.Changes[0].Target().String()
	if n := len(cr.Changes) - 1; n > 0 {
		out += fmt.Sprintf(" and %d more", n)
	}
	return out
}

func envName(cr *domain.ChangeRequest) string {
	if cr.Environment == "" {
		return "every environment it serves"
	}
	return cr.Environment
}

// reviewers are the members the requester asked and those who can supply
// a requirement the request is short of (a team's, the maintainers'), or,
// when the requester asked nobody, everyone who may review the request;
// only those who can supply a requirement when the overall quorum needs
// no more than the requirements do.
func (n *Notifier) reviewers(ctx context.Context, cr *domain.ChangeRequest) ([]string, error) {
	suppliers := cr.Suppliers()
	if len(cr.NotifyReviewers) > 0 {
		out := slices.Clone(cr.NotifyReviewers)
		for _, m := range suppliers {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
		return out, nil
	}
	teamsOnly := len(suppliers) > 0 && !cr.ShortBeyondRequirements()
	var out []string
	cursor := ""
	for {
		ms, next, err := n.store.ListMembers(ctx, domain.Page{Limit: domain.MaxPageLimit, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if cr.CanReview(domain.Actor{MemberID: m.ID, Role: m.RoleIn(cr.Project)}) == nil && (!teamsOnly || slices.Contains(suppliers, m.ID)) {
				out = append(out, m.ID)
			}
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

type link struct{ Label, URL, Expires string }
type due struct{ Name, At string }

func (n *Notifier) render(m *domain.Member, cr *domain.ChangeRequest, e domain.AuditEntry, subject, intro string, actions []string) (sesmail.Message, error) {
	summary := cr.Summary()
	var dues []due
	for _, d := range []struct {
		name string
		at   *time.Time
	}{{"Auto-approves at", cr.AutoApproveAt}, {"Expires at", cr.ExpiresAt}, {"Scheduled for", cr.ApplyAt}, {"Frozen until", cr.HeldUntil}} {
		if d.at != nil {
			dues = append(dues, due{d.name, d.at.UTC().Format(time.RFC1123)})
		}
	}
	if len(cr.Policy.Requirements) > 0 { // what teams or maintainers it still needs
		for _, m := range cr.Missing() {
			dues = append(dues, due{"Missing", m})
		}
	}
	var links []link
	for _, a := range actions {
		tok, exp, err := n.svc.IssueLink(cr, m.ID, a)
		if err != nil {
			return sesmail.Message{}, &permanentError{err}
		}
		label := map[string]string{actionlink.Approve: "Approve", actionlink.Reject: "Reject (need changes)", actionlink.Apply: "Apply now",
			actionlink.Acknowledge: "Acknowledge"}[a]
		links = append(links, link{Label: label, URL: n.baseURL + "/a/" + tok, Expires: exp.UTC().Format(time.RFC1123)})
	}
	var text strings.Builder
	if len(cr.Changes) == 1 && cr.Kind != domain.KindSegment {
		fmt.Fprintf(&text, "%s\n\nFlag: %s (project %s)\nEnvironment: %s\n", intro, cr.Flag, cr.Project, envName(cr))
	} else {
		fmt.Fprintf(&text, "%s\n\nProject: %s\nChanges:\n", intro, cr.Project)
		for i := range cr.Changes {
			fmt.Fprintf(&text, "  - %s\n", cr.Changes[i].Target())
		}
	}
	fmt.Fprintf(&text, "Requester: %s\nStatus: %s (revision %d)\n", cr.Requester, cr.Status, cr.Revision)
	for _, d := range dues {
		fmt.Fprintf(&text, "%s: %s\n", d.Name, d.At)
	}
	if len(summary) > 0 {
		text.WriteString("\nWhat it changes:\n")
		for _, s := range summary {
			fmt.Fprintf(&text, "  - %s\n", s)
		}
	}
	for _, l := range links {
		fmt.Fprintf(&text, "\n%s: %s\n(you confirm on the next page; the link expires %s)\n", l.Label, l.URL, l.Expires)
	}
	html := mailHTML(intro, cr, dues, summary, links)
	return sesmail.Message{From: n.from, To: []string{m.Email}, Subject: subject, Text: text.String(), HTML: html,
		Tags: map[string]string{"action": strings.ReplaceAll(string(e.Action), ".", "_")}}, nil
}

// signInMails are the entries whose mail carries a sign-in link, and the
// link's purpose.
var signInMails = map[domain.AuditAction]domain.LinkPurpose{
	domain.ActionMemberInvited:       domain.LinkInvitation,
	domain.ActionSignInLinkRequested: domain.LinkSignIn,
}

// signInMail is an invitation, or a sign-in link someone asked for. The
// link is issued now, at send time (replacing the member's link of that
// purpose), so no secret is ever kept in an audit entry or the outbox; a
// retried delivery issues a new one and only the last mail's link works.
func (n *Notifier) signInMail(ctx context.Context, e domain.AuditEntry, m *domain.Member, purpose domain.LinkPurpose) (sesmail.Message, error) {
	tok, exp, err := n.svc.IssueSignInLink(ctx, m.ID, purpose)
	if err != nil { // not_found: the member was removed meanwhile
		return sesmail.Message{}, err
	}
	v := map[string]string{"URL": n.baseURL + "/signin/" + tok, "Expires": exp.UTC().Format(time.RFC1123)}
	var subject string
	if purpose == domain.LinkInvitation {
		subject = "You are invited to Countersign"
		v["Label"] = "Accept the invitation and sign in"
		v["Intro"] = fmt.Sprintf("%s added you to Countersign, where changes to feature flags are countersigned, as %s (%s).", n.actorName(ctx, e.Actor), m.Role, m.Email)
		v["Outro"] = "Afterwards you can ask for a new sign-in link at " + n.baseURL + "/login whenever you need one."
	} else {
		subject = "Your sign-in link for Countersign"
		v["Label"] = "Sign in"
		v["Intro"] = fmt.Sprintf("Someone, hopefully you, asked for a link to sign in to Countersign as %s.", m.Email)
		v["Outro"] = "If it was not you, ignore this mail: nothing happens without the link."
	}
	text := fmt.Sprintf("%s\n\n%s: %s\n(the link works once, until %s; you confirm on the page it opens)\n\n%s\n", v["Intro"], v["Label"], v["URL"], v["Expires"], v["Outro"])
	return sesmail.Message{From: n.from, To: []string{m.Email}, Subject: subject, Text: text, HTML: signInMailHTML(v),
		Tags: map[string]string{"action": strings.ReplaceAll(string(e.Action), ".", "_")}}, nil
}

// actorName names who did something for a mail: a member's name, or
// "Countersign" for the system.
func (n *Notifier) actorName(ctx context.Context, actor string) string {
	if id, ok := strings.CutPrefix(actor, "member:"); ok {
		if m, err := n.store.GetMember(ctx, id); err == nil {
			return m.Name
		}
		return "An admin"
	}
	if actor == app.ActorBootstrap {
		return "Countersign's installation"
	}
	return "An admin"
}
