package sesmail

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
)

// Retryable reports whether a later attempt at the same Send may succeed,
// i.e. whether a caller should keep the email queued rather than give up on
// it. The SDK has already retried the quick cases (by default 3 attempts)
// before Send returns, so a true here means "try again later".
//
// Retryable (transient):
//   - SES throttling and quotas: TooManyRequestsException,
//     LimitExceededException (SES's sending-rate and daily quotas; the SDK
//     counts it as throttling too), and the generic throttling codes;
//   - SES-side failures: InternalServiceErrorException,
//     ConcurrentModificationException, any server fault, HTTP 429 and 5xx;
//   - network failures: refused or reset connections, timeouts, temporary
//     DNS failures, and a context deadline that expired while sending (SES
//     may or may not have sent the mail, so a retry can duplicate it).
//
// Permanent (the same message will fail again until a person acts):
//   - the message itself: ErrInvalidMessage (refused before calling SES),
//     MessageRejected (e.g. a virus, or an unverified address in the
//     sandbox), BadRequestException, NotFoundException (e.g. an unknown
//     configuration set), MailFromDomainNotVerifiedException;
//   - the account: AccountSuspendedException, SendingPausedException;
//   - any other 4xx answer, a canceled context, and errors Retryable does
//     not recognise (bad configuration, missing credentials).
func Retryable(err error) bool {
	if err == nil || errors.Is(err, ErrInvalidMessage) {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}

	// SES's modelled errors first: they say the most.
	switch {
	case as[*types.MessageRejected](err),
		as[*types.MailFromDomainNotVerifiedException](err),
		as[*types.AccountSuspendedException](err),
		as[*types.SendingPausedException](err),
		as[*types.BadRequestException](err),
		as[*types.NotFoundException](err):
		return false
	case as[*types.TooManyRequestsException](err),
		as[*types.LimitExceededException](err),
		as[*types.InternalServiceErrorException](err),
		as[*types.ConcurrentModificationException](err):
		return true
	}

	// The SDK's own verdict: connection errors, 500/502/503/504, throttling
	// and timeout error codes are retryable; a canceled request is not.
	switch retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) {
	case aws.TrueTernary:
		return true
	case aws.FalseTernary:
		return false
	}

	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultServer {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		code := status.HTTPStatusCode()
		return code == http.StatusTooManyRequests || code >= 500
	}
	return false
}

// as reports whether err's chain holds an error of type T.
func as[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}
