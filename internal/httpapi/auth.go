package httpapi

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"sync"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// How people get in, over HTTP: the pages (/login, /signin/{token},
// /logout; the console, internal/console, is what they get into), which work without JavaScript, and the API's side
// (POST /v1/auth/email-link, /v1/session, a member's sessions and
// invitation). Like the e-mail action links, GET of a sign-in link changes
// nothing (mail scanners fetch links); only its form's POST signs in.

//go:embed pages/*.html
var pageFiles embed.FS

// pageTemplate parses a page on its first use: parsing at package
// initialisation would add to every cold start of the api function, most of
// whose invocations render no page.
func pageTemplate(name string) func() *template.Template {
	return sync.OnceValue(func() *template.Template {
		return template.Must(template.ParseFS(pageFiles, "pages/layout.html", "pages/"+name+".html"))
	})
}

var (
	loginTemplate   = pageTemplate("login")
	signInTemplate  = pageTemplate("signin")
	messageTemplate = pageTemplate("message")
)

// pageView is what a page shows.
type pageView struct {
	Title, Message string
	LoginLink      bool           // message pages: offer a new link
	Email          string         // login: the address typed
	Provider       string         // login: the OpenID provider's name, when configured
	ProviderURL    string         // login: where its button leads
	Next           string         // login, sign-in: where to go afterwards
	Member         *domain.Member // sign-in
	CSRF           string         // sign-in: the form token
}

func (s *Server) writePage(w http.ResponseWriter, status int, t *template.Template, v pageView) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer browsers send
	// "Origin: null" on the forms' POSTs, which the origin check refuses;
	// the link in the address never leaves for another site either way.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	return t.ExecuteTemplate(w, "layout", v)
}

// RenderSignInError answers a refused sign-in with a page, its status
// following the error's code (410 for links that no longer work, 403 for
// refused identities, 429 with Retry-After for limits). For
// internal/oidcauth too.
func (s *Server) RenderSignInError(w http.ResponseWriter, r *http.Request, err error) {
	var de *domain.Error
	if !errors.As(err, &de) {
		s.log.ErrorContext(r.Context(), "sign-in failed", "err", err, "request_id", requestID(r.Context()))
		de = &domain.Error{Code: domain.CodeInternal, Message: "something went wrong on our side; try again later (request " + requestID(r.Context()) + ")"}
	}
	titles := map[domain.Code]string{domain.CodeGone: "This sign-in link can no longer be used", domain.CodeForbidden: "Not signed in",
		domain.CodeRateLimited: "Please wait", domain.CodeInvalid: "Not done", domain.CodeNotFound: "Not found"}
	title := titles[de.Code]
	if title == "" {
		title = "Error"
	}
	if de.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfter(de.RetryAfter))
	}
	_ = s.writePage(w, statusFor(de.Code), messageTemplate(), pageView{Title: title, Message: de.Message, LoginLink: de.Code == domain.CodeGone || de.Code == domain.CodeForbidden})
}

// ---- /login ----

// loginView is the login page's view: the form, and the provider's
// button when one is configured.
func (s *Server) loginView(r *http.Request, message, email string) pageView {
	v := pageView{Title: "Sign in to Countersign", Message: message, Email: email}
	next := r.URL.Query().Get("next")
	if next != "" && SafeNext(next) == next {
		v.Next = next
	}
	if s.provider != nil {
		v.Provider, v.ProviderURL = s.provider.Name(), s.provider.LoginURL(SafeNext(next))
	}
	return v
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, _ *app.Principal) error {
	v := s.loginView(r, "", "")
	if r.URL.Query().Get("signed_out") != "" {
		v.Message = "You are signed out."
	}
	return s.writePage(w, http.StatusOK, loginTemplate(), v)
}

// linkOnItsWay is the one answer to every accepted request for a sign-in
// link, member or not.
const linkOnItsWay = "If that address belongs to a member of this Countersign, a sign-in link is on its way to it. The link works once, for 72 hours."

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request, _ *app.Principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return s.writePage(w, statusFor(domain.CodeMalformed), loginTemplate(), s.loginView(r, "The form could not be read; try again.", ""))
	}
	email := r.PostForm.Get("email")
	err := s.svc.RequestSignInLink(r.Context(), email, clientIP(r))
	if domain.ErrorCode(err) == domain.CodeInvalid {
		return s.writePage(w, statusFor(domain.CodeInvalid), loginTemplate(), s.loginView(r, "Enter an e-mail address like ada@example.com.", email))
	}
	if err != nil {
		s.RenderSignInError(w, r, err)
		return nil
	}
	return s.writePage(w, http.StatusAccepted, messageTemplate(), pageView{Title: "Check your inbox", Message: linkOnItsWay})
}

// EmailLinkInput is the body of POST /v1/auth/email-link.
type EmailLinkInput struct {
	Email string `json:"email"`
}

// Accepted answers a request whose work happens later (a mail).
type Accepted struct {
	Status string `json:"status"`
	Detail string `json:"detail"`
}

func (s *Server) requestEmailLink(w http.ResponseWriter, r *http.Request, _ *app.Principal) error {
	var in EmailLinkInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.svc.RequestSignInLink(r.Context(), in.Email, clientIP(r)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, Accepted{Status: "accepted", Detail: linkOnItsWay})
}

// ---- /signin/{token} ----

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request, _ *app.Principal) error {
	token := r.PathValue("token")
	st, err := s.svc.CheckSignInLink(r.Context(), token)
	if err != nil {
		s.RenderSignInError(w, r, err)
		return nil
	}
	// The form is tied to the link and to a nonce in a cookie of this
	// browser: a POST from another site comes without the cookie.
	nonce := app.NewNonce()
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Value: nonce, Path: "/signin/", MaxAge: 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cookieSecure(r)})
	v := pageView{Title: "Sign in to Countersign", Member: st.Member, CSRF: s.svc.SignInFormToken(token, nonce)}
	if st.Purpose == domain.LinkInvitation {
		v.Title = "Welcome to Countersign"
	}
	if next := r.URL.Query().Get("next"); next != "" && SafeNext(next) == next {
		v.Next = next
	}
	return s.writePage(w, http.StatusOK, signInTemplate(), v)
}

var errSignInForm = &domain.Error{Code: domain.CodeForbidden, Message: "this form does not belong to this link in this browser; open the link from the e-mail again"}

func (s *Server) signInSubmit(w http.ResponseWriter, r *http.Request, _ *app.Principal) error {
	token := r.PathValue("token")
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.RenderSignInError(w, r, domain.Errorf(domain.CodeInvalid, "the form could not be read"))
		return nil
	}
	if err := s.sameOrigin(r); err != nil {
		s.RenderSignInError(w, r, err)
		return nil
	}
	// A link that no longer works says so (410) before the form is looked at.
	if _, err := s.svc.CheckSignInLink(r.Context(), token); err != nil {
		s.RenderSignInError(w, r, err)
		return nil
	}
	nonce := ""
	if c, err := r.Cookie(signInCookie); err == nil {
		nonce = c.Value
	}
	if !s.svc.CheckSignInFormToken(token, nonce, r.PostForm.Get("csrf")) {
		s.RenderSignInError(w, r, errSignInForm)
		return nil
	}
	ns, err := s.svc.SignInWithLink(r.Context(), token, r.UserAgent())
	if err != nil {
		s.RenderSignInError(w, r, err)
		return nil
	}
	s.StartSession(w, r, ns)
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Value: "", Path: "/signin/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cookieSecure(r)})
	http.Redirect(w, r, SafeNext(r.PostForm.Get("next")), http.StatusSeeOther)
	return nil
}

// ---- /logout ----

func (s *Server) logoutSubmit(w http.ResponseWriter, r *http.Request, _ *app.Principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.RenderSignInError(w, r, domain.Errorf(domain.CodeInvalid, "the form could not be read"))
		return nil
	}
	p := s.BrowserSession(w, r)
	if p == nil { // signed out already
		http.Redirect(w, r, "/login?signed_out=1", http.StatusSeeOther)
		return nil
	}
	if err := s.checkCSRF(r, r.PostForm.Get("csrf"), p.Session()); err != nil {
		s.RenderSignInError(w, r, err)
		return nil
	}
	if err := s.svc.SignOut(r.Context(), p); err != nil {
		s.RenderSignInError(w, r, err)
		return nil
	}
	s.clearSessionCookie(w, r)
	http.Redirect(w, r, "/login?signed_out=1", http.StatusSeeOther)
	return nil
}

// ---- OpenID Connect ----

// SignInProvider is sign-in through an outside identity provider (OpenID
// Connect: *oidcauth.Handler). The login page shows a "Sign in with
// <Name>" link to LoginURL(next), and the server hands GET
// /auth/oidc/login and /auth/oidc/callback to it. The provider's flow ends
// with app.Service.SignInOIDC, StartSession and a redirect (the wiring in
// internal/setup).
type SignInProvider interface {
	http.Handler
	Name() string
	LoginURL(next string) string
}

// SetSignInProvider turns on sign-in through an identity provider.
func (s *Server) SetSignInProvider(p SignInProvider) { s.provider = p }

var errNoProvider = &domain.Error{Code: domain.CodeNotFound, Message: "sign-in through an identity provider is not configured here; ask for an e-mail link at /login"}

func (s *Server) oidc(w http.ResponseWriter, r *http.Request, _ *app.Principal) error {
	if s.provider == nil {
		s.RenderSignInError(w, r, errNoProvider)
		return nil
	}
	s.provider.ServeHTTP(w, r)
	return nil
}

// ---- the API's side ----

func (s *Server) getSession(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	sess, m, err := s.svc.CurrentSession(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, currentSessionView(sess, m))
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	if err := s.svc.SignOut(r.Context(), p); err != nil {
		return err
	}
	s.clearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listMemberSessions(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	items, next, err := s.svc.ListMemberSessions(r.Context(), p, r.PathValue("member"), pg)
	if err != nil {
		return err
	}
	return writeList(w, mapSlice(items, func(x *domain.Session) SessionView { return sessionView(x, x.ID == p.SessionID) }), next)
}

func (s *Server) deleteMemberSession(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	id := r.PathValue("session")
	if err := s.svc.RevokeMemberSession(r.Context(), p, r.PathValue("member"), id); err != nil {
		return err
	}
	if id == p.SessionID {
		s.clearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) inviteMember(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	if err := s.svc.Invite(r.Context(), p, r.PathValue("member")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, Accepted{Status: "accepted",
		Detail: "a new invitation is on its way; the link sent before no longer works"})
}
