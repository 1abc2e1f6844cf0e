package evaluate

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/problem"
)

// Client keys in browsers (issue 17). A client key is public: it reads the
// flags exposed to clients and nothing else, and browsers may use it from
// the origins its environment allows (CORS). Server keys get no CORS
// headers at all: a browser page can never read an answer to one.
//
// A preflight (OPTIONS) carries no key, so it is answered for the origins
// some environment allows (the store's origin index, cached for the refresh
// interval); the request that follows is answered with
// Access-Control-Allow-Origin only when its key's environment allows the
// origin, and refused (403, nothing evaluated) otherwise. Requests without
// an Origin (mobile apps, servers, curl) are served: the allowlist keeps
// other sites' pages from using a key, it is not access control, which is
// why a client key reads only exposed flags.

// corsRequestHeaders are the request headers OFREP clients send: the key
// (either header), the JSON body's type and the bulk ETag.
const corsRequestHeaders = "Authorization, X-API-Key, Content-Type, If-None-Match"

// corsExposedHeaders are the answer headers a page may read: the bulk
// ETag (the OFREP web provider polls with it) and a 429's Retry-After.
const corsExposedHeaders = "ETag, Retry-After"

// preflightMaxAge is how long (seconds) a browser may reuse a preflight's
// answer; Chromium caps it at 2 hours.
const preflightMaxAge = "7200"

// allowOrigin lets a page of origin read the answer.
func allowOrigin(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposedHeaders)
}

// admitClient checks a request with client key k before anything is read or
// evaluated, and returns the key's compiled ruleset, or nil after answering:
// 403 for a page whose origin the environment does not allow (without CORS
// headers, so the page learns nothing), 429 past the rate limit of the key
// and client address. Every answer to a client key varies on Origin.
func (h *Handler) admitClient(w http.ResponseWriter, r *http.Request, k *domain.SDKKey) *Compiled {
	w.Header().Set("Vary", "Origin")
	rs := h.compiledFor(w, r, k)
	if rs == nil {
		return nil
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if !domain.OriginAllowedBy(rs.Origins, origin) {
			writeJSON(w, http.StatusForbidden, map[string]string{"errorDetails": "this origin may not use the environment's client keys; add it to the environment's allowed_origins"})
			return nil
		}
		allowOrigin(w.Header(), origin)
	}
	if wait := h.clientRequests.hit(k.ID+" "+clientAddress(r), h.ev.clock.Now()); wait > 0 {
		w.Header().Set("Retry-After", retryAfter(wait))
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"errorDetails": "too many requests with this client key from this address; try again later"})
		return nil
	}
	return rs
}

// corsForFailure lets a page read a failed authentication's answer (401)
// when some environment allows its origin, so that a browser app with a
// revoked or mistyped client key sees why instead of a network error.
func (h *Handler) corsForFailure(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	w.Header().Set("Vary", "Origin")
	if ok, err := h.ev.OriginAllowed(r.Context(), origin); err == nil && ok {
		allowOrigin(w.Header(), origin)
	}
}

// preflight answers a browser's CORS preflight of an OFREP route: allowed
// for an origin some environment allows, with the method and headers OFREP
// needs; refused (403 without CORS headers) for any other origin, "null"
// included. An OPTIONS request that is not a preflight gets the allowed
// methods. Preflights carry no key, so refused ones count as failed key
// checks of their address: past MaxAuthFailures a window, 429 without a
// look at the origin index (a flood of made-up origins costs no reads).
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	origin, method := r.Header.Get("Origin"), r.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		hd.Set("Allow", "OPTIONS, POST")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	addr, now := clientAddress(r), h.ev.clock.Now()
	if wait := h.failures.blocked(addr, now); wait > 0 {
		hd.Set("Retry-After", retryAfter(wait))
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	ok, err := h.ev.OriginAllowed(r.Context(), origin)
	if err != nil {
		h.log.ErrorContext(r.Context(), "origin index unavailable", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if !ok || method != http.MethodPost {
		h.failures.hit(addr, now)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Allow-Methods", http.MethodPost)
	hd.Set("Access-Control-Allow-Headers", corsRequestHeaders)
	hd.Set("Access-Control-Max-Age", preflightMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// problemDoc is an RFC 9457 problem, as the API writes them.
type problemDoc struct {
	Type     string      `json:"type"`
	Title    string      `json:"title"`
	Status   int         `json:"status"`
	Detail   string      `json:"detail"`
	Code     domain.Code `json:"code"`
	Instance string      `json:"instance"`
}

// writeProblem answers an RFC 9457 problem of code.
func writeProblem(w http.ResponseWriter, r *http.Request, code domain.Code, detail string) {
	status := problem.Status(code)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problemDoc{Type: "https://countersign.dev/problems/" + string(code), Title: http.StatusText(status), Status: status,
		Detail: detail, Code: code, Instance: r.URL.Path})
}

// tooLarge says a body is over limit.
func tooLarge(limit int) string {
	if limit == MaxClientBody {
		return "the body is larger than " + strconv.Itoa(MaxClientBody>>10) + " KiB, the most a client key may send"
	}
	return "the body is larger than " + strconv.Itoa(limit>>10) + " KiB"
}
