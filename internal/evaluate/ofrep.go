package evaluate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/eval"
)

// OFREP error codes.
const (
	errFlagNotFound        = "FLAG_NOT_FOUND"
	errParse               = "PARSE_ERROR"
	errInvalidContext      = "INVALID_CONTEXT"
	errTargetingKeyMissing = "TARGETING_KEY_MISSING"
	errGeneral             = "GENERAL"
)

// Handler serves OFREP and the ruleset route over an evaluator.
type Handler struct {
	ev  *Evaluator
	log *slog.Logger
	mux *http.ServeMux
}

// NewHandler builds the evaluation HTTP handler:
//
//	POST /ofrep/v1/evaluate/flags/{key}   one flag
//	POST /ofrep/v1/evaluate/flags         every flag (ETag / If-None-Match → 304)
//	GET  /v1/projects/{project}/environments/{environment}/ruleset   the whole ruleset, for local evaluation
//
// All authenticate with an SDK key (Authorization: Bearer or X-API-Key)
// that opens exactly one environment of one project.
func NewHandler(ev *Evaluator, log *slog.Logger) *Handler {
	h := &Handler{ev: ev, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /ofrep/v1/evaluate/flags/{key}", h.single)
	h.mux.HandleFunc("POST /ofrep/v1/evaluate/flags", h.bulk)
	h.mux.HandleFunc("GET /v1/projects/{project}/environments/{environment}/ruleset", h.ruleset)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type failure struct {
	Key          string `json:"key,omitempty"`
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails,omitempty"`
}

type success struct {
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value,omitempty"` // absent: use the code default (the "off" fallback)
	Reason   string          `json:"reason"`
	Variant  string          `json:"variant"`
	Metadata map[string]any  `json:"metadata,omitempty"`
}

func (h *Handler) auth(w http.ResponseWriter, r *http.Request) *domain.SDKKey {
	secret := r.Header.Get("X-API-Key")
	if a := r.Header.Get("Authorization"); secret == "" && a != "" {
		if scheme, tok, ok := strings.Cut(a, " "); ok && strings.EqualFold(scheme, "Bearer") {
			secret = strings.TrimSpace(tok)
		}
	}
	k, err := h.ev.Authenticate(r.Context(), secret)
	if err != nil {
		if domain.ErrorCode(err) != domain.CodeUnauthenticated {
			h.log.ErrorContext(r.Context(), "SDK key lookup failed", "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"errorDetails": "internal error"})
			return nil
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="countersign-sdk"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"errorDetails": "send a valid SDK key as Authorization: Bearer <key> or X-API-Key"})
		return nil
	}
	return k
}

// readContext reads {"context": {...}}: PARSE_ERROR for bad JSON,
// INVALID_CONTEXT for a context that is not an object.
func readContext(r *http.Request) (*eval.Context, *failure) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	if err != nil {
		return nil, &failure{ErrorCode: errParse, ErrorDetails: "the body could not be read"}
	}
	var req struct {
		Context json.RawMessage `json:"context"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return nil, &failure{ErrorCode: errParse, ErrorDetails: "the body is not valid JSON"}
	}
	attrs := map[string]any{}
	if len(req.Context) > 0 && string(req.Context) != "null" {
		d := json.NewDecoder(bytes.NewReader(req.Context))
		d.UseNumber()
		if err := d.Decode(&attrs); err != nil {
			return nil, &failure{ErrorCode: errInvalidContext, ErrorDetails: "context must be a JSON object"}
		}
	}
	c := &eval.Context{Attributes: attrs}
	if tk, ok := attrs["targetingKey"]; ok {
		s, ok := tk.(string)
		if !ok {
			return nil, &failure{ErrorCode: errInvalidContext, ErrorDetails: "targetingKey must be a string"}
		}
		c.TargetingKey = s
	}
	return c, nil
}

func evaluateOne(f *eval.Flag, key string, c *eval.Context) (any, int) {
	res, err := f.Evaluate(c)
	if errors.Is(err, eval.ErrTargetingKeyMissing) {
		return failure{Key: key, ErrorCode: errTargetingKeyMissing, ErrorDetails: err.Error()}, http.StatusBadRequest
	}
	if err != nil {
		return failure{Key: key, ErrorCode: errGeneral, ErrorDetails: "the flag could not be evaluated"}, http.StatusBadRequest
	}
	return success{Key: key, Value: res.Value, Reason: string(res.Reason), Variant: res.Variant}, http.StatusOK
}

func (h *Handler) single(w http.ResponseWriter, r *http.Request) {
	k := h.auth(w, r)
	if k == nil {
		return
	}
	key := r.PathValue("key")
	c, fail := readContext(r)
	if fail != nil {
		fail.Key = key
		writeJSON(w, http.StatusBadRequest, fail)
		return
	}
	rs, err := h.ev.Ruleset(r.Context(), k.Project, k.Environment)
	if err != nil {
		h.log.ErrorContext(r.Context(), "ruleset unavailable", "project", k.Project, "environment", k.Environment, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"errorDetails": "the flags could not be read"})
		return
	}
	f, ok := rs.Flags[key]
	if !ok {
		writeJSON(w, http.StatusNotFound, failure{Key: key, ErrorCode: errFlagNotFound, ErrorDetails: "flag '" + key + "' was not found"})
		return
	}
	out, status := evaluateOne(f, key, c)
	writeJSON(w, status, out)
}

func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	k := h.auth(w, r)
	if k == nil {
		return
	}
	c, fail := readContext(r)
	if fail != nil {
		writeJSON(w, http.StatusBadRequest, fail)
		return
	}
	rs, err := h.ev.Ruleset(r.Context(), k.Project, k.Environment)
	if err != nil {
		h.log.ErrorContext(r.Context(), "ruleset unavailable", "project", k.Project, "environment", k.Environment, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"errorDetails": "the flags could not be read"})
		return
	}
	w.Header().Set("ETag", rs.ETag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == rs.ETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	flags := make([]any, 0, len(rs.Keys))
	for _, key := range rs.Keys {
		out, _ := evaluateOne(rs.Flags[key], key, c)
		flags = append(flags, out)
	}
	writeJSON(w, http.StatusOK, map[string]any{"flags": flags, "metadata": map[string]any{"version": rs.Version}})
}

func (h *Handler) ruleset(w http.ResponseWriter, r *http.Request) {
	k := h.auth(w, r)
	if k == nil {
		return
	}
	if r.PathValue("project") != k.Project || r.PathValue("environment") != k.Environment {
		writeJSON(w, http.StatusForbidden, map[string]string{"errorDetails": "this SDK key reads " + k.Project + "/" + k.Environment + " only"})
		return
	}
	rs, err := h.ev.Ruleset(r.Context(), k.Project, k.Environment)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"errorDetails": "the flags could not be read"})
		return
	}
	w.Header().Set("ETag", rs.ETag)
	if r.Header.Get("If-None-Match") == rs.ETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"project": k.Project, "environment": k.Environment, "version": rs.Version,
		"flags": rs.Raw.Flags, "configs": rs.Raw.Configs})
}
