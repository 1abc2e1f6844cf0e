package notify

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/countersign/countersign/internal/domain"
)

// The HTML parts of the mails are written with the two functions below
// rather than html/template: executing a template calls methods by name
// (reflect.Value.MethodByName), and a program that can do that keeps every
// exported method of every type it converts to an interface, the AWS SDK
// clients' every operation included. Without it the notifier function's
// binary is about half the size and starts faster (docs/benchmarks.md,
// "Fourth round"). They escape exactly as html/template does in the two
// contexts the mails use (TestHTMLEscapingMatchesTemplate).

// htmlText appends s escaped for HTML text (and quoted attribute values):
// html/template's escaping in those contexts.
func htmlText(b *strings.Builder, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case 0:
			r = "\uFFFD"
		case '"':
			r = "&#34;"
		case '&':
			r = "&amp;"
		case '\'':
			r = "&#39;"
		case '+':
			r = "&#43;"
		case '<':
			r = "&lt;"
		case '>':
			r = "&gt;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(r)
		last = i + 1
	}
	b.WriteString(s[last:])
}

// htmlURL appends s as html/template writes it into a quoted href
// attribute: a URL of another scheme than http, https or mailto becomes
// "#ZgotmplZ", the bytes a URL may not hold are percent-encoded, and the
// result is escaped for the attribute.
func htmlURL(b *strings.Builder, s string) {
	if scheme, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(scheme, "/") &&
		!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") && !strings.EqualFold(scheme, "mailto") {
		b.WriteString("#ZgotmplZ")
		return
	}
	var n strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$&*+,/:;=?@[]-._~", c) >= 0:
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			// a valid escape stays (not at the very end: html/template's quirk)
		default:
			fmt.Fprintf(&n, "%%%02x", c)
			continue
		}
		n.WriteByte(c)
	}
	htmlText(b, n.String())
}

// mailHTML is the HTML part of a mail about a change request.
func mailHTML(intro string, cr *domain.ChangeRequest, dues []due, summary []string, links []link) string {
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html><body style=\"font-family: sans-serif; max-width: 40em\">\n<p>")
	htmlText(&b, intro)
	b.WriteString("</p>\n<table>\n<tr><td>Flag</td><td><b>")
	htmlText(&b, cr.Flag)
	b.WriteString("</b> in project ")
	htmlText(&b, cr.Project)
	b.WriteString("</td></tr>\n<tr><td>Environment</td><td>")
	htmlText(&b, envName(cr))
	b.WriteString("</td></tr>\n<tr><td>Requester</td><td>")
	htmlText(&b, cr.Requester)
	b.WriteString("</td></tr>\n<tr><td>Status</td><td>")
	htmlText(&b, string(cr.Status))
	b.WriteString(" (revision ")
	b.WriteString(strconv.Itoa(cr.Revision))
	b.WriteString(")</td></tr>\n")
	for _, d := range dues {
		b.WriteString("<tr><td>")
		htmlText(&b, d.Name)
		b.WriteString("</td><td>")
		htmlText(&b, d.At)
		b.WriteString("</td></tr>")
	}
	b.WriteString("\n</table>\n")
	if len(summary) > 0 {
		b.WriteString("<p>What it changes:</p><ul>")
		for _, s := range summary {
			b.WriteString("<li>")
			htmlText(&b, s)
			b.WriteString("</li>")
		}
		b.WriteString("</ul>")
	}
	b.WriteString("\n")
	for _, l := range links {
		b.WriteString("<p><a href=\"")
		htmlURL(&b, l.URL)
		b.WriteString("\">")
		htmlText(&b, l.Label)
		b.WriteString("</a> (you confirm on the next page; the link expires ")
		htmlText(&b, l.Expires)
		b.WriteString(")</p>")
	}
	b.WriteString("\n</body></html>")
	return b.String()
}

// signInMailHTML is the HTML part of an invitation or a sign-in link: v
// holds its Intro, URL, Label, Expires and Outro.
func signInMailHTML(v map[string]string) string {
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html><body style=\"font-family: sans-serif; max-width: 40em\">\n<p>")
	htmlText(&b, v["Intro"])
	b.WriteString("</p>\n<p><a href=\"")
	htmlURL(&b, v["URL"])
	b.WriteString("\">")
	htmlText(&b, v["Label"])
	b.WriteString("</a></p>\n<p>The link works once, until ")
	htmlText(&b, v["Expires"])
	b.WriteString("; you confirm on the page it opens. ")
	htmlText(&b, v["Outro"])
	b.WriteString("</p>\n</body></html>")
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
