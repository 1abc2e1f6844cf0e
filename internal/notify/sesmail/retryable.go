package sesmail

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
)

// Class is what a failed send means for the message and for the others: the
// decision a queue makes on it. Every mail adapter (SES here, SMTP in
// smtpmail) classifies its errors into these.
type Class int

const (
	// Transient: a later attempt at the same message may succeed without
	// anyone acting (throttling, a quota, the service failing, the network).
	// Retry it later, with backoff.
	Transient Class = iota + 1
	// Refused: this message (its recipient, or its content) is refused for
	// good; the same message fails again. Do not retry it; the others are
	// not concerned.
	Refused
	// Blocked: nothing can be sent, to anyone, until a person acts: the
	// sender is not verified, sending is paused or suspended, the
	// configuration or the credentials are wrong. Not this recipient's
	// fault: keep the message and retry it later, as a transient one, so
	// that it leaves once the cause is fixed.
	Blocked
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Refused:
		return "refused"
	case Blocked:
		return "blocked"
	}
	return "unknown"
}

// Error is a send error with its class. Send returns one for every failure
// of a message it tried; errors.As still finds the SDK's error inside.
type Error struct {
	Class Class
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// MailClass reports the class; Classify finds it through any wrapping (the
// SMTP adapter's errors have the same method).
func (e *Error) MailClass() Class { return e.Class }

// classified is an error that knows its class.
type classified interface{ MailClass() Class }

// Classify tells what a send error means (see Class):
//
// Transient (retry later):
//   - SES throttling and quotas: TooManyRequestsException,
//     LimitExceededException (the sending-rate and daily quotas), and the
//     generic throttling codes;
//   - SES-side failures: InternalServiceErrorException,
//     ConcurrentModificationException, any server fault, HTTP 429 and 5xx;
//   - network failures: refused or reset connections, timeouts, temporary
//     DNS failures, and a context deadline that expired while sending (SES
//     may or may not have sent the mail, so a retry can duplicate it).
//
// Refused (this message, for good; not retried):
//   - MessageRejected that does not name the sender (in the SES sandbox: the
//     recipient is not verified; else e.g. a virus);
//   - BadRequestException (SES finds this request invalid);
//   - ErrInvalidMessage (Send refused the message before calling SES: an
//     address that does not parse, an empty part).
//
// Blocked (everyone, until a person acts; kept and retried later):
//   - MessageRejected naming the sender (its identity is not verified: Send
//     knows the sender and tells the two apart), and
//     MailFromDomainNotVerifiedException;
//   - the account: AccountSuspendedException, SendingPausedException;
//   - the configuration: NotFoundException (e.g. an unknown configuration
//     set), access denied and any other 4xx answer, a host name that does
//     not resolve, missing credentials, a canceled context, and every error
//     Classify does not recognise.
//
// The SDK has already retried the quick transient cases (3 attempts by
// default) before Send returns. nil is not an error: Classify(nil) is 0.
func Classify(err error) Class {
	if err == nil {
		return 0
	}
	var c classified
	if errors.As(err, &c) {
		return c.MailClass()
	}
	if errors.Is(err, ErrInvalidMessage) {
		return Refused
	}
	if errors.Is(err, context.Canceled) {
		return Blocked
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Transient
	}

	// SES's modelled errors first: they say the most.
	switch {
	case as[*types.MessageRejected](err), as[*types.BadRequestException](err):
		return Refused
	case as[*types.MailFromDomainNotVerifiedException](err),
		as[*types.AccountSuspendedException](err),
		as[*types.SendingPausedException](err),
		as[*types.NotFoundException](err):
		return Blocked
	case as[*types.TooManyRequestsException](err),
		as[*types.LimitExceededException](err),
		as[*types.InternalServiceErrorException](err),
		as[*types.ConcurrentModificationException](err):
		return Transient
	}

	// The SDK's own verdict: connection errors, 500/502/503/504, throttling
	// and timeout error codes are retryable; a canceled request is not.
	switch retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) {
	case aws.TrueTernary:
		return Transient
	case aws.FalseTernary:
		return Blocked
	}

	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultServer {
		return Transient
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		if code := status.HTTPStatusCode(); code == http.StatusTooManyRequests || code >= 500 {
			return Transient
		}
	}
	return Blocked
}

// classifyFor is Classify for an error of sending m: a MessageRejected
// that names m's sender is about the sender (in the sandbox, or before its
// identity is verified, SES lists the unverified identities: "Email address
// is not verified. The following identities failed the check in region
// EU-WEST-1: sender@example.com, ..."), so it blocks every message, not
// only this one.
func classifyFor(err error, m Message) Class {
	c := Classify(err)
	var rejected *types.MessageRejected
	if c == Refused && errors.As(err, &rejected) {
		if from, perr := mail.ParseAddress(m.From); perr == nil && from.Address != "" &&
			strings.Contains(strings.ToLower(rejected.ErrorMessage()), strings.ToLower(from.Address)) {
			return Blocked
		}
	}
	return c
}

// Retryable reports whether a later attempt at the same Send may succeed
// without anyone acting: Classify(err) == Transient. A Blocked error is not
// retryable in this sense, though a queue should keep its message (see
// Class).
func Retryable(err error) bool {
	return Classify(err) == Transient
}

// as reports whether err's chain holds an error of type T.
func as[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}
