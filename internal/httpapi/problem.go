package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/problem"
)

// statusFor is problem.Status: the one place an error code becomes an HTTP
// status, shared with the OpenID Connect pages.
func statusFor(code domain.Code) int { return problem.Status(code) }

const codeMethodNotAllowed = domain.CodeMethodNotAllowed

// Problem is an RFC 9457 problem document with Countersign's extensions.
type Problem struct {
	Type           string           `json:"type"`
	Title          string           `json:"title"`
	Status         int              `json:"status"`
	Detail         string           `json:"detail"`
	Code           domain.Code      `json:"code"`
	Instance       string           `json:"instance,omitempty"`
	Errors         []FieldErrorView `json:"errors,omitempty"`
	CurrentVersion *int64           `json:"current_version,omitempty"`
	Freeze         *FreezeRefView   `json:"freeze,omitempty"`
	RequestID      string           `json:"request_id,omitempty"`
}

// ProblemTypeBase prefixes problem type URIs; each code has its own.
const ProblemTypeBase = "https://countersign.dev/problems/"

// writeError turns any error into a problem response. Only *domain.Error
// messages reach the client; anything else is logged and reported as an
// internal error with the request id to quote.
func writeError(ctx context.Context, w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var de *domain.Error
	if !errors.As(err, &de) {
		if errors.Is(err, context.Canceled) {
			log.InfoContext(ctx, "request cancelled", "err", err)
		} else {
			log.ErrorContext(ctx, "request failed", "err", err)
		}
		de = &domain.Error{Code: domain.CodeInternal, Message: "something went wrong on our side; quote the request id when you report it"}
	} else if de.Code == domain.CodeInternal || de.Unwrap() != nil {
		log.WarnContext(ctx, "request refused", "code", de.Code, "err", err)
	}
	status := statusFor(de.Code)
	p := Problem{
		Type:      ProblemTypeBase + string(de.Code),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    de.Message,
		Code:      de.Code,
		Instance:  r.URL.Path,
		Errors:    mapSlice(de.Fields, fieldErrorView),
		RequestID: requestID(ctx),
	}
	if de.Code == domain.CodeConflict && de.CurrentVersion > 0 {
		v := de.CurrentVersion
		p.CurrentVersion = &v
		w.Header().Set("ETag", etag(v))
	}
	if de.Freeze != nil {
		p.Freeze = &FreezeRefView{ID: de.Freeze.ID, Name: de.Freeze.Name, Until: de.Freeze.Until}
	}
	if de.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfter(de.RetryAfter))
	}
	if shownCheck != nil {
		shownCheck(p)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p)
}

// FreezeRefView names the freeze of a frozen problem.
type FreezeRefView struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Until time.Time `json:"until"`
}

// retryAfter is a Retry-After value: whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
