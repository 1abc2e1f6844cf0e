package httpapi

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/redirect"
)

// Sessions in the browser. The session cookie holds an opaque random secret
// (the store keeps its hash): HttpOnly, SameSite=Lax, Path=/, and Secure
// unless the base URL is plain http on a loopback host.
//
// A request with an Authorization header authenticates with that token
// and nothing else (no CSRF rules: browsers do not add that header on
// their own). Otherwise the session cookie does, and a cookie-authenticated
// request that may change something (any method but GET, HEAD and OPTIONS)
// must carry the session's CSRF token in X-CSRF-Token and, when it has an
// Origin header, come from Countersign's own origin (the base URL's, exactly;
// a request from another host name of the same server is refused) and not
// be marked Sec-Fetch-Site: cross-site. Else 403.

// Cookie names.
const (
	SessionCookie = "countersign_session"
	// signInCookie holds the nonce a sign-in link's form is tied to, so a
	// form posted from another site (which comes without it) signs nobody in.
	signInCookie = "countersign_signin"
)

// CSRFHeader carries a session's CSRF token.
const CSRFHeader = "X-CSRF-Token"

// HomePath is where a sign-in lands without a (safe) next: the console's
// home page.
const HomePath = "/"

// SetBaseURL tells the server its public address (COUNTERSIGN_BASE_URL): the
// origin cookie-authenticated writes must come from, and whether cookies
// are Secure. "" derives both from each request (its Host, and https when
// it came over TLS or X-Forwarded-Proto says so), for deployments whose
// address is not configured.
func (s *Server) SetBaseURL(raw string) error {
	if raw == "" {
		s.origin, s.secure = "", true
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("the base URL %q is not an http(s) address like https://flags.example.com", raw)
	}
	s.origin = u.Scheme + "://" + strings.ToLower(u.Host)
	s.secure = u.Scheme == "https" || !loopbackHost(u.Host)
	return nil
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ownOrigin is the origin browsers send for pages Countersign served.
func (s *Server) ownOrigin(r *http.Request) string {
	if s.origin != "" {
		return s.origin
	}
	return requestScheme(r) + "://" + strings.ToLower(r.Host)
}

func requestScheme(r *http.Request) string {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return "https"
	}
	return "http"
}

// cookieSecure says whether cookies get the Secure attribute.
func (s *Server) cookieSecure(r *http.Request) bool {
	if s.origin != "" {
		return s.secure
	}
	return requestScheme(r) == "https" || !loopbackHost(r.Host)
}

// StartSession hands a browser the session that just started (from an
// e-mailed link, or from OpenID Connect: internal/oidcauth calls it after
// app.Service.SignInOIDC): it sets the session cookie and ends the session
// of a cookie the browser brought, if any (a new sign-in never keeps or
// upgrades an old id). The caller answers the request (a 303 to
// SafeNext(next), usually).
func (s *Server) StartSession(w http.ResponseWriter, r *http.Request, ns *app.NewSession) {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" && c.Value != ns.Secret {
		s.svc.EndSession(r.Context(), c.Value, "replaced by a new sign-in in the same browser")
	}
	maxAge := int(ns.Session.ExpiresAt.Sub(s.svc.Now()) / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: ns.Secret, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cookieSecure(r)})
	w.Header().Set("Cache-Control", "no-store")
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cookieSecure(r)})
}

// SafeNext answers next when it is a path on this site ("/flags?x=1"), and
// HomePath otherwise: nothing absolute ("https://evil.example"),
// scheme-relative ("//evil.example", "/\evil.example"), with a scheme
// ("javascript:…") or with spaces or control characters (browsers drop
// tabs and newlines: "/\t/evil.example" is "//evil.example" to them). The
// same rules as oidcauth.SafeNext.
func SafeNext(next string) string {
	if local, ok := redirect.Local(next); ok {
		return local
	}
	return HomePath
}

// clientIP is the address the request came from: the peer locally, and on
// Lambda the source IP API Gateway saw (lambdahttp sets RemoteAddr from
// requestContext.http.sourceIp). Forwarding headers are not trusted.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

var (
	errCrossOrigin = &domain.Error{Code: domain.CodeForbidden, Message: "a signed-in browser's request from another site is refused: its Origin is not Countersign's own"}
	errCSRF        = &domain.Error{Code: domain.CodeForbidden, Message: "a change made with the session cookie needs the session's CSRF token in the X-CSRF-Token header (csrf_token of GET /v1/session); API clients use a token instead"}
)

// sameOrigin refuses a browser request that says it comes from another
// site: an Origin other than Countersign's own, or Sec-Fetch-Site:
// cross-site. A request without those headers (not from a browser, or an
// old one) passes: the CSRF token decides.
func (s *Server) sameOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && !strings.EqualFold(o, s.ownOrigin(r)) {
		return errCrossOrigin
	}
	if strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "cross-site") {
		return errCrossOrigin
	}
	return nil
}

// checkCSRF is the rule for cookie-authenticated requests that may change
// something: same origin, and the session's CSRF token.
func (s *Server) checkCSRF(r *http.Request, sent string, sess *domain.Session) error {
	if err := s.sameOrigin(r); err != nil {
		return err
	}
	if sess == nil || sent == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(sess.CSRFToken)) != 1 {
		return errCSRF
	}
	return nil
}

var errNoCredentials = &domain.Error{Code: domain.CodeUnauthenticated, Message: "send Authorization: Bearer <token>, or sign in at /login"}

// authenticate finds who is calling: the bearer token when there is an
// Authorization header, else the session cookie (with the CSRF rule for
// changes). A cookie whose session ended is cleared.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*app.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return nil, domain.Errorf(domain.CodeUnauthenticated, "send Authorization: Bearer <token>")
		}
		p, err := s.svc.Authenticate(r.Context(), strings.TrimSpace(token))
		if domain.ErrorCode(err) == domain.CodeUnauthenticated {
			if limited := s.svc.AuthenticationFailed(r.Context(), clientIP(r)); limited != nil {
				return nil, limited
			}
		}
		return p, err
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, errNoCredentials
	}
	p, err := s.svc.AuthenticateSession(r.Context(), c.Value)
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeUnauthenticated {
			s.clearSessionCookie(w, r)
		}
		return nil, err
	}
	if !safeMethod(r.Method) {
		if err := s.checkCSRF(r, r.Header.Get(CSRFHeader), p.Session()); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// BrowserSession is the session of the request's cookie, for the pages
// (which answer with pages, not problems; the console too); nil when there
// is none that works.
func (s *Server) BrowserSession(w http.ResponseWriter, r *http.Request) *app.Principal {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	p, err := s.svc.AuthenticateSession(r.Context(), c.Value)
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeUnauthenticated {
			s.clearSessionCookie(w, r)
		} else {
			s.log.ErrorContext(r.Context(), "reading the session failed", "err", err)
		}
		return nil
	}
	return p
}

// CheckFormCSRF is the rule for a page's form posted with the session
// cookie (the console's forms): same origin, and the session's CSRF token
// in the form.
func (s *Server) CheckFormCSRF(r *http.Request, sent string, p *app.Principal) error {
	if err := s.checkCSRF(r, sent, p.Session()); err != nil {
		if errors.Is(err, errCSRF) {
			return errFormCSRF
		}
		return err
	}
	return nil
}

var errFormCSRF = &domain.Error{Code: domain.CodeForbidden, Message: "this form is not from your current session (it is old, or another site sent it); nothing was done: reload the page and try again"}
