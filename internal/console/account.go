package console

import (
	"net/http"

	"github.com/countersign/countersign/internal/domain"
)

// The signed-in member's own page: who they are, their session, and
// their e-mail opt-out.

func (c *Console) accountRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/account", handler: c.accountPage},
		{Method: "POST", Pattern: "/account/email", handler: c.emailSubmit},
	}
}

var _ = flash(map[string]string{
	"email-on":  "You will get e-mail about change requests again.",
	"email-off": "E-mail is off, except for requests that wait on your review.",
})

type accountView struct {
	Session *domain.Session
	Idle    string
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	sess, _, err := c.svc.CurrentSession(r.Context(), v.P)
	if err != nil {
		return err
	}
	idle, _ := c.svc.SessionLifetimes()
	return c.ok(w, v, "account", "Your account", accountView{Session: sess, Idle: inWords(idle)})
}

// emailSubmit turns the viewer's e-mail opt-out on or off.
func (c *Console) emailSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	optOut := r.PostForm.Get("email") == "off"
	version, err := formVersion(r)
	if err != nil {
		return err
	}
	if _, err := c.svc.UpdateMember(r.Context(), v.P, v.P.MemberID, version, func(m *domain.Member) error {
		m.EmailOptOut = optOut
		return nil
	}); err != nil {
		return err
	}
	key := "email-on"
	if optOut {
		key = "email-off"
	}
	return done(w, r, "/account", key)
}
