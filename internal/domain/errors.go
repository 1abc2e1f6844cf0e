package domain

import (
	"errors"
	"fmt"
	"time"
)

// Code is the stable vocabulary of errors the service speaks. The HTTP layer
// maps each code to a status in exactly one place (httpapi.statusFor); nothing
// else decides a status.
type Code string

const (
	CodeInvalid          Code = "invalid"               // the request is well formed but its content is not acceptable
	CodeMalformed        Code = "malformed"             // the body is not valid JSON (or not the expected shape)
	CodeNotFound         Code = "not_found"             // the resource does not exist
	CodeConflict         Code = "conflict"              // the resource changed (stale version) or already exists
	CodeGone             Code = "gone"                  // it existed but can no longer be used (an expired or revoked link)
	CodeUnauthenticated  Code = "unauthenticated"       // missing or wrong credentials
	CodeForbidden        Code = "forbidden"             // authenticated, but not allowed
	CodeTooLarge         Code = "too_large"             // body over the limit
	CodeUnsupportedType  Code = "unsupported_type"      // content type not accepted
	CodePrecondition     Code = "precondition_required" // a replacing write must say which version it replaces
	CodeRateLimited      Code = "rate_limited"          // too many requests of this kind; retry after Error.RetryAfter
	CodeInternal         Code = "internal"              // anything else; its detail never reaches a client
	CodeMethodNotAllowed Code = "method_not_allowed"    // the route exists, the method does not
	CodeProviderError    Code = "provider_error"        // the OpenID provider refused or failed a call it should have answered
	CodeProviderDown     Code = "provider_unavailable"  // the OpenID provider cannot be reached now
	CodeFrozen           Code = "frozen"                // a change freeze holds the environment (Error.Freeze names it)
)

// FreezeRef names the freeze that refused a change, and until when it holds.
type FreezeRef struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Until time.Time `json:"until"`
}

// FieldError names one bad field: a body field by its JSON pointer (RFC
// 6901), or a query parameter or header by its name.
type FieldError struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Detail    string `json:"detail"`
}

// Error is an error the service means to tell a client about. Message is
// written for a human and is safe to show; wrapped causes are not.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// CurrentVersion is set on version conflicts so the client can re-read.
	CurrentVersion int64
	// RetryAfter is set on rate_limited errors: how long until the limit
	// lets the request through again.
	RetryAfter time.Duration
	// Freeze is set on frozen errors: the freeze in force.
	Freeze *FreezeRef
	cause  error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.cause }

// Errorf builds an *Error with a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap keeps cause for logs while the client sees only message.
func Wrap(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, cause: cause}
}

// NotFound reports a missing resource of the given kind.
func NotFound(kind, key string) *Error {
	return Errorf(CodeNotFound, "%s %q not found", kind, key)
}

// StaleVersion reports that the client wrote against an old version.
func StaleVersion(kind string, expected, current int64) *Error {
	return &Error{
		Code:           CodeConflict,
		Message:        fmt.Sprintf("%s was changed: you sent version %d, the current version is %d; read it again and retry", kind, expected, current),
		CurrentVersion: current,
	}
}

// ErrContention is returned by stores when a conditional write lost a race with
// another writer. Stores retry internally; callers see it only when retries
// ran out.
var ErrContention = &Error{Code: CodeConflict, Message: "the resource was changed by another request at the same time; retry"}

// RateLimited reports that too many requests of one kind came in; the
// limit lets them through again after retryAfter.
func RateLimited(retryAfter time.Duration, format string, args ...any) *Error {
	return &Error{Code: CodeRateLimited, Message: fmt.Sprintf(format, args...), RetryAfter: retryAfter}
}

// ErrorCode returns the code of err, CodeInternal for errors that are not *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Validation collects field errors; Err returns nil when there are none.
type Validation struct {
	Fields []FieldError
}

// Add records a problem with the field at pointer.
func (v *Validation) Add(pointer, format string, args ...any) {
	v.Fields = append(v.Fields, FieldError{Pointer: pointer, Detail: fmt.Sprintf(format, args...)})
}

// AddParameter records a problem with a query parameter or header.
func (v *Validation) AddParameter(name, format string, args ...any) {
	v.Fields = append(v.Fields, FieldError{Parameter: name, Detail: fmt.Sprintf(format, args...)})
}

// Err returns an invalid *Error listing every field, or nil.
func (v *Validation) Err() error {
	if len(v.Fields) == 0 {
		return nil
	}
	msg := v.Fields[0].Detail
	if len(v.Fields) > 1 {
		msg = fmt.Sprintf("%s (and %d more problems)", msg, len(v.Fields)-1)
	}
	return &Error{Code: CodeInvalid, Message: msg, Fields: v.Fields}
}
