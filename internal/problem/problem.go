// Package problem maps the service's error codes (domain.Code) to HTTP
// statuses, once, for every handler that answers with RFC 9457 problems:
// the API (internal/httpapi) and the OpenID Connect pages
// (internal/oidcauth).
package problem

import (
	"net/http"

	"github.com/countersign/countersign/internal/domain"
)

// Status is the one place an error code becomes an HTTP status.
func Status(code domain.Code) int {
	switch code {
	case domain.CodeInvalid:
		return http.StatusUnprocessableEntity
	case domain.CodeMalformed:
		return http.StatusBadRequest
	case domain.CodeNotFound:
		return http.StatusNotFound
	case domain.CodeConflict, domain.CodeFrozen:
		return http.StatusConflict
	case domain.CodeGone:
		return http.StatusGone
	case domain.CodeUnauthenticated:
		return http.StatusUnauthorized
	case domain.CodeForbidden:
		return http.StatusForbidden
	case domain.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case domain.CodeUnsupportedType:
		return http.StatusUnsupportedMediaType
	case domain.CodePrecondition:
		return http.StatusPreconditionRequired
	case domain.CodeRateLimited:
		return http.StatusTooManyRequests
	case domain.CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case domain.CodeProviderError:
		return http.StatusBadGateway
	case domain.CodeProviderDown:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
