// Package sesmail sends Countersign's emails (to reviewers and requesters of
// change requests) through Amazon SES v2.
//
// A Sender sends one Message per SendEmail call as "simple" content: a
// subject, a plain-text part and an HTML part, all UTF-8. Send validates the
// message before it calls SES, and Classify tells a caller (a queue, a
// timer) what an error means: try again later, the message is refused for
// good, or sending is blocked for everyone until a person acts.
//
// The package is self-contained: it imports nothing from the rest of
// Countersign, so a caller maps its own notification into a Message.
package sesmail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// MaxRecipients is the most recipients SES accepts in one message.
const MaxRecipients = 50

// maxTagLength is the longest name or value SES accepts for a message tag.
const maxTagLength = 256

// charset is the character set of every part Send sends.
const charset = "UTF-8"

// ErrInvalidMessage is wrapped by every error Send returns for a message it
// refuses before calling SES. Such an error is never retryable.
var ErrInvalidMessage = errors.New("sesmail: invalid message")

// Message is one email: the same content to every address in To.
type Message struct {
	// From is the sender's address ("ops@example.com" or
	// "Countersign <ops@example.com>"); empty means the Sender's default. SES
	// requires the address (or its domain) to be a verified identity.
	From string
	// To holds the recipients' addresses: at least one, at most
	// MaxRecipients.
	To []string
	// Subject is the subject line (one line, no CR or LF).
	Subject string
	// Text and HTML are the plain-text and the HTML part; both are required,
	// so every mail client shows something sensible.
	Text string
	HTML string
	// ConfigurationSet names the SES configuration set (event publishing,
	// suppression, dedicated IPs); empty means the Sender's default, and no
	// configuration set if that is empty too.
	ConfigurationSet string
	// Tags become SES message tags, published with the sending events. Names
	// and values may hold only ASCII letters, digits, '_' and '-', at most
	// 256 of them.
	Tags map[string]string
}

// Sender sends Messages through an SES v2 client.
type Sender struct {
	client           *sesv2.Client
	from             string
	configurationSet string
}

var _ interface {
	Send(context.Context, Message) (string, error)
} = (*Sender)(nil)

// New returns a Sender that sends through client. from is the default From
// address and configurationSet the default configuration set (may be empty),
// both used when a Message leaves its own empty.
func New(client *sesv2.Client, from, configurationSet string) *Sender {
	return &Sender{client: client, from: from, configurationSet: configurationSet}
}

// Send sends m and returns the message ID SES assigned. A message that fails
// validation is refused without a call to SES, with an error wrapping
// ErrInvalidMessage; any other error is SES's or the network's, wrapped so
// that errors.As still finds the sesv2/types error. Every error is an
// *Error with its Class (Classify finds it).
func (s *Sender) Send(ctx context.Context, m Message) (string, error) {
	if s == nil || s.client == nil {
		return "", errors.New("sesmail: Sender has no SES client (use New)")
	}
	if m.From == "" {
		m.From = s.from
	}
	if m.ConfigurationSet == "" {
		m.ConfigurationSet = s.configurationSet
	}
	if err := validate(m); err != nil {
		// a bad recipient or part refuses this message; a bad sender every one
		class := Refused
		if a, perr := mail.ParseAddress(m.From); perr != nil || a.Address == "" {
			class = Blocked
		}
		return "", &Error{Class: class, Err: err}
	}
	out, err := s.client.SendEmail(ctx, input(m))
	if err != nil {
		return "", &Error{Class: classifyFor(err, m), Err: fmt.Errorf("sesmail: send %q from %s to %d recipient(s): %w", m.Subject, m.From, len(m.To), err)}
	}
	if out == nil || out.MessageId == nil || *out.MessageId == "" {
		return "", errors.New("sesmail: SES accepted the message but returned no message ID")
	}
	return *out.MessageId, nil
}

// input builds the SendEmail request for a validated message.
func input(m Message) *sesv2.SendEmailInput {
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From),
		Destination:      &types.Destination{ToAddresses: append([]string(nil), m.To...)},
		Content: &types.EmailContent{
			Simple: &types.Message{
				Subject: &types.Content{Data: aws.String(m.Subject), Charset: aws.String(charset)},
				Body: &types.Body{
					Text: &types.Content{Data: aws.String(m.Text), Charset: aws.String(charset)},
					Html: &types.Content{Data: aws.String(m.HTML), Charset: aws.String(charset)},
				},
			},
		},
	}
	if m.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(m.ConfigurationSet)
	}
	if len(m.Tags) > 0 {
		names := make([]string, 0, len(m.Tags))
		for name := range m.Tags {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			in.EmailTags = append(in.EmailTags, types.MessageTag{Name: aws.String(name), Value: aws.String(m.Tags[name])})
		}
	}
	return in
}

// validate reports every problem of m at once, in an error wrapping
// ErrInvalidMessage.
func validate(m Message) error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	switch {
	case strings.TrimSpace(m.From) == "":
		add("no From address (neither in the message nor the Sender's default)")
	default:
		if _, err := mail.ParseAddress(m.From); err != nil {
			add("From address %q: %v", m.From, err)
		}
	}
	switch {
	case len(m.To) == 0:
		add("no recipient")
	case len(m.To) > MaxRecipients:
		add("%d recipients; SES takes at most %d in one message", len(m.To), MaxRecipients)
	}
	for i, to := range m.To {
		if strings.TrimSpace(to) == "" {
			add("recipient %d is empty", i+1)
			continue
		}
		if _, err := mail.ParseAddress(to); err != nil {
			add("recipient %q: %v", to, err)
		}
	}
	switch {
	case strings.TrimSpace(m.Subject) == "":
		add("empty subject")
	case strings.ContainsAny(m.Subject, "\r\n"):
		add("subject has a line break")
	}
	if strings.TrimSpace(m.Text) == "" {
		add("empty text part")
	}
	if strings.TrimSpace(m.HTML) == "" {
		add("empty HTML part")
	}
	names := make([]string, 0, len(m.Tags))
	for name := range m.Tags {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !validTag(name) {
			add("tag name %q: want 1 to %d ASCII letters, digits, '_' or '-'", name, maxTagLength)
		}
		if value := m.Tags[name]; !validTag(value) {
			add("tag %s value %q: want 1 to %d ASCII letters, digits, '_' or '-'", name, value, maxTagLength)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidMessage, strings.Join(problems, "; "))
}

// validTag reports whether s is a valid SES message tag name or value.
func validTag(s string) bool {
	if s == "" || len(s) > maxTagLength {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}
