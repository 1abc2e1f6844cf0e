package notify

import (
	"context"
	"fmt"
	"strings"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/notify/sesmail"
)

// freezeBypassMails tell the reviewers of the environments a bypass passed
// a change freeze in (app.FreezeBypassReviewers) that it did: a bypass
// during a freeze is what the freeze's people most need to hear of.
func (n *Notifier) freezeBypassMails(ctx context.Context, e domain.AuditEntry) ([]mail, error) {
	ids, err := n.svc.FreezeBypassReviewers(ctx, &e)
	if err != nil {
		return nil, err
	}
	what := e.Flag
	switch {
	case e.Segment != "":
		what = "segment " + e.Segment
	case e.Flag != "" && e.Environment != "":
		what = fmt.Sprintf("%s in %s", e.Flag, e.Environment)
	case e.Flag != "":
		what = "flag " + e.Flag
	}
	subject := fmt.Sprintf("Freeze bypassed: %s (project %s)", what, e.Project)
	intro := fmt.Sprintf("%s changed %s in project %s during change freeze %s, with their bypass grant. Their reason: %q", e.Actor, what, e.Project, e.Freeze, e.Reason)
	var text strings.Builder
	fmt.Fprintf(&text, "%s\n\nProject: %s\n", intro, e.Project)
	if e.Environment != "" {
		fmt.Fprintf(&text, "Environment: %s\n", e.Environment)
	}
	fmt.Fprintf(&text, "Freeze: %s\n", e.Freeze)
	var summary []string
	if e.Diff != nil {
		summary = e.Diff.Summary
	}
	if len(summary) > 0 {
		text.WriteString("\nWhat it changed:\n")
		for _, s := range summary {
			fmt.Fprintf(&text, "  - %s\n", s)
		}
	}
	var html strings.Builder
	html.WriteString("<!doctype html>\n<html><body style=\"font-family: sans-serif; max-width: 40em\">\n<p>")
	htmlText(&html, intro)
	html.WriteString("</p>\n")
	if len(summary) > 0 {
		html.WriteString("<ul>\n")
		for _, s := range summary {
			html.WriteString("<li>")
			htmlText(&html, s)
			html.WriteString("</li>\n")
		}
		html.WriteString("</ul>\n")
	}
	html.WriteString("</body></html>")
	var out []mail
	for _, id := range ids {
		m, err := n.store.GetMember(ctx, id)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m.EmailOptOut {
			continue
		}
		out = append(out, mail{member: m, msg: sesmail.Message{From: n.from, To: []string{m.Email}, Subject: subject, Text: text.String(), HTML: html.String(),
			Tags: map[string]string{"action": "freeze_bypass"}}})
	}
	return out, nil
}
