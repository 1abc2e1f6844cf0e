package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

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
	ev             *Evaluator
	log            *slog.Logger
	mux            *http.ServeMux
	failures       windowLimiter // failed key checks per client address
	clientRequests windowLimiter // requests per client key and client address
}

// NewHandler builds the evaluation HTTP handler:
//
//	POST    /ofrep/v1/evaluate/flags/{key}   one flag
//	POST    /ofrep/v1/evaluate/flags         every flag (ETag / If-None-Match → 304)
//	OPTIONS /ofrep/v1/evaluate/flags[/{key}] browsers' CORS preflights (cors.go)
//	GET     /v1/projects/{project}/environments/{environment}/ruleset   the whole ruleset, for local evaluation
//
// All authenticate with an SDK key (Authorization: Bearer or X-API-Key)
// that opens exactly one environment of one project. A client key (public:
// browsers, mobile apps) evaluates the flags exposed to clients only, from
// the origins its environment allows, rate-limited; it cannot read the
// ruleset (cors.go).
func NewHandler(ev *Evaluator, log *slog.Logger) *Handler {
	h := &Handler{ev: ev, log: log, mux: http.NewServeMux(),
		failures:       windowLimiter{max: MaxAuthFailures, window: AuthFailureWindow},
		clientRequests: windowLimiter{max: MaxClientRequests, window: ClientRequestWindow}}
	h.mux.HandleFunc(singlePattern, h.single)
	h.mux.HandleFunc(bulkPattern, h.bulk)
	h.mux.HandleFunc("OPTIONS "+singlePrefix+"{key}", h.preflight)
	h.mux.HandleFunc("OPTIONS "+bulkPath, h.preflight)
	h.mux.HandleFunc("GET /v1/projects/{project}/environments/{environment}/ruleset", h.ruleset)
	return h
}

// The OFREP routes as the mux would match them, without its search: POST,
// a path with nothing to clean or unescape, and (single) a key that is one
// path segment.
const (
	bulkPath      = "/ofrep/v1/evaluate/flags"
	singlePrefix  = bulkPath + "/"
	bulkPattern   = "POST " + bulkPath
	singlePattern = "POST " + singlePrefix + "{key}"
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.RawPath == "" && r.RequestURI != "*" {
		if p := r.URL.Path; p == bulkPath {
			r.Pattern = bulkPattern
			h.bulk(w, r)
			return
		} else if key, ok := strings.CutPrefix(p, singlePrefix); ok && key != "" && key != "." && key != ".." && strings.IndexByte(key, '/') < 0 {
			r.Pattern = singlePattern
			h.evaluateSingle(w, r, key)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type failure struct {
	Key          string `json:"key,omitempty"`
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails,omitempty"`
	status       int    // set only where the error code does not say it (413)
}

// httpStatus is the status the OFREP specification gives the error code:
// 404 for FLAG_NOT_FOUND, 400 for the others.
func (f *failure) httpStatus() int {
	switch {
	case f.status != 0:
		return f.status
	case f.ErrorCode == errFlagNotFound:
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

func writeFailure(w http.ResponseWriter, f *failure) { writeJSON(w, f.httpStatus(), f) }

// compiledFor is the ruleset k opens, or nil after answering 500 (logged).
func (h *Handler) compiledFor(w http.ResponseWriter, r *http.Request, k *domain.SDKKey) *Compiled {
	rs, err := h.ev.Ruleset(r.Context(), k.Project, k.Environment)
	if err != nil {
		h.log.ErrorContext(r.Context(), "ruleset unavailable", "project", k.Project, "environment", k.Environment, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"errorDetails": "the flags could not be read"})
		return nil
	}
	return rs
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
		if wait := h.failures.hit(clientAddress(r), h.ev.clock.Now()); wait > 0 {
			w.Header().Set("Retry-After", retryAfter(wait))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"errorDetails": "too many requests with keys that are not valid from this address; try again later"})
			return nil
		}
		h.corsForFailure(w, r)
		w.Header().Set("WWW-Authenticate", `Bearer realm="countersign-sdk"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"errorDetails": "send a valid SDK key as Authorization: Bearer <key> or X-API-Key"})
		return nil
	}
	return k
}

// maxBody bounds what is read of a request body.
const maxBody = 256 << 10

var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readContext reads {"context": {...}} of at most limit bytes: PARSE_ERROR
// for bad JSON (413 when larger), INVALID_CONTEXT for a context that is not
// an object.
func readContext(r *http.Request, limit int) (*eval.Context, *failure) {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<10 {
			bodyBuffers.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, int64(limit)+1)); err != nil {
		return nil, &failure{ErrorCode: errParse, ErrorDetails: "the body could not be read"}
	}
	body := buf.Bytes()
	if len(body) > limit {
		return nil, &failure{ErrorCode: errParse, ErrorDetails: tooLarge(limit), status: http.StatusRequestEntityTooLarge}
	}
	attrs, ok := parseContextFast(string(body))
	if !ok {
		var fail *failure
		if attrs, fail = parseContext(body); fail != nil {
			return nil, fail
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

// parseContext reads the attributes of a request body with encoding/json,
// numbers as json.Number.
func parseContext(body []byte) (map[string]any, *failure) {
	var req struct {
		Context json.RawMessage `json:"context"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return nil, &failure{ErrorCode: errParse, ErrorDetails: "the body is not valid JSON"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &failure{ErrorCode: errParse, ErrorDetails: "the body must hold exactly one JSON object"}
	}
	attrs := map[string]any{}
	if len(req.Context) > 0 && string(req.Context) != "null" {
		d := json.NewDecoder(bytes.NewReader(req.Context))
		d.UseNumber()
		if err := d.Decode(&attrs); err != nil {
			return nil, &failure{ErrorCode: errInvalidContext, ErrorDetails: "context must be a JSON object"}
		}
	}
	return attrs, nil
}

// parseContextFast reads the usual body, {"context": {...}} whose
// attributes are strings without escapes, numbers, booleans or null,
// without reflection and with one pass. It gives exactly what parseContext
// gives for such a body; for anything else (escapes, nested values, other
// top-level members, trailing data, invalid JSON) it says !ok and the
// caller asks parseContext. The names and strings it returns share b's
// memory: one copy of the body instead of one per string.
func parseContextFast(b string) (map[string]any, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	attrs := map[string]any{}
	if i < len(b) && b[i] == '}' { // {}: no context
		return attrs, skipSpace(b, i+1) == len(b)
	}
	name, i, ok := scanString(b, i)
	if !ok || name != "context" {
		return nil, false
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return nil, false
	}
	switch i = skipSpace(b, i+1); {
	case i < len(b) && b[i] == '{':
		if i, ok = scanAttributes(b, i+1, attrs); !ok {
			return nil, false
		}
	case len(b)-i >= 4 && b[i:i+4] == "null":
		i += 4
	default:
		return nil, false
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != '}' {
		return nil, false
	}
	return attrs, skipSpace(b, i+1) == len(b)
}

// scanAttributes reads the members of an object from just after its '{'
// into attrs, and returns the offset after its '}'.
func scanAttributes(b string, i int, attrs map[string]any) (int, bool) {
	if i = skipSpace(b, i); i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		name, j, ok := scanString(b, i)
		if !ok {
			return 0, false
		}
		if i = skipSpace(b, j); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i = skipSpace(b, i+1); i >= len(b) {
			return 0, false
		}
		switch c := b[i]; {
		case c == '"':
			var s string
			if s, i, ok = scanString(b, i); !ok {
				return 0, false
			}
			attrs[name] = s
		case c == '-' || c >= '0' && c <= '9':
			j := scanNumber(b, i)
			if j < 0 {
				return 0, false
			}
			attrs[name] = json.Number(b[i:j])
			i = j
		case len(b)-i >= 4 && b[i:i+4] == "true":
			attrs[name] = true
			i += 4
		case len(b)-i >= 5 && b[i:i+5] == "false":
			attrs[name] = false
			i += 5
		case len(b)-i >= 4 && b[i:i+4] == "null":
			attrs[name] = nil
			i += 4
		default: // objects, arrays, anything else
			return 0, false
		}
		if i = skipSpace(b, i); i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case '}':
			return i + 1, true
		case ',':
			i = skipSpace(b, i+1)
		default:
			return 0, false
		}
	}
}

func skipSpace(b string, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString reads a string without escapes starting at b[i] == '"' and
// returns it and the offset after its closing quote. Control characters,
// escapes and invalid UTF-8 are left to encoding/json.
func scanString(b string, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s := b[i+1 : j]
			if !ascii && !utf8.ValidString(s) {
				return "", 0, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", 0, false
}

// scanNumber returns the offset after the JSON number at b[i], or -1.
func scanNumber(b string, i int) int {
	digits := func(i int) int {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// evaluateOne appends the answer of flag key of rs for c, as encoding/json
// would encode the success or failure object, and says which status it is.
// A sticky flag's answer goes through its assignment (sticky.go).
func (h *Handler) evaluateOne(ctx context.Context, dst []byte, rs *Compiled, key string, f *eval.Flag, c *eval.Context) ([]byte, int, error) {
	fail := func(code, details string) ([]byte, int, error) {
		fl := failure{Key: key, ErrorCode: code, ErrorDetails: details}
		return appendFailure(dst, fl), fl.httpStatus(), nil
	}
	if f == nil { // its targeting does not compile (Compiled.Broken)
		h.log.ErrorContext(ctx, "flag not servable", "project", rs.Project, "environment", rs.Environment, "flag", key, "err", rs.Broken[key])
		return fail(errGeneral, "the flag could not be evaluated")
	}
	res, err := f.Evaluate(c)
	if errors.Is(err, eval.ErrTargetingKeyMissing) {
		return fail(errTargetingKeyMissing, err.Error())
	}
	if err != nil {
		return fail(errGeneral, "the flag could not be evaluated")
	}
	var meta map[string]any
	if f.Sticky() {
		var stuck bool
		res, stuck, err = h.ev.stick(ctx, rs, key, f, c, res)
		if err != nil {
			h.log.WarnContext(ctx, "sticky assignment unavailable: serving current targeting", "project", rs.Project, "environment", rs.Environment, "flag", key, "err", err)
		}
		if stuck {
			meta = stickyMeta
		}
	}
	dst, err = appendSuccess(dst, success{Key: key, Value: res.Value, Reason: string(res.Reason), Variant: res.Variant, Metadata: meta})
	return dst, http.StatusOK, err
}

// stickyMeta marks an answer served from a sticky bucketing assignment.
var stickyMeta = map[string]any{"sticky": true}

// The answers are appended by hand, byte for byte what encoding/json
// writes for success and failure (tests compare the two): reflection would
// cost more than the evaluation.

var outBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeAnswer sends what fill appends to an empty buffer, with the status
// fill says, followed by a
// newline as json.Encoder ends its output. When fill fails (a stored value
// that is not JSON, which validation prevents), the body is empty, as it
// was when json.Encoder refused to encode.
func writeAnswer(w http.ResponseWriter, fill func([]byte) ([]byte, int, error)) {
	bp := outBuffers.Get().(*[]byte)
	b, status, err := fill((*bp)[:0])
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err == nil {
		_, _ = w.Write(append(b, '\n'))
	}
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		outBuffers.Put(bp)
	}
}

func appendSuccess(dst []byte, s success) ([]byte, error) {
	if s.Metadata != nil {
		b, err := json.Marshal(s)
		return append(dst, b...), err
	}
	dst = append(dst, `{"key":`...)
	dst = appendString(dst, s.Key)
	if len(s.Value) > 0 {
		dst = append(dst, `,"value":`...)
		var err error
		if dst, err = appendRaw(dst, s.Value); err != nil {
			return dst, err
		}
	}
	dst = append(dst, `,"reason":`...)
	dst = appendString(dst, s.Reason)
	dst = append(dst, `,"variant":`...)
	dst = appendString(dst, s.Variant)
	return append(dst, '}'), nil
}

func appendFailure(dst []byte, f failure) []byte {
	dst = append(dst, '{')
	if f.Key != "" {
		dst = append(dst, `"key":`...)
		dst = appendString(dst, f.Key)
		dst = append(dst, ',')
	}
	dst = append(dst, `"errorCode":`...)
	dst = appendString(dst, f.ErrorCode)
	if f.ErrorDetails != "" {
		dst = append(dst, `,"errorDetails":`...)
		dst = appendString(dst, f.ErrorDetails)
	}
	return append(dst, '}')
}

// plainJSON says whether c is printable ASCII that encoding/json writes
// as it is, inside a string or a value: not an escape, quote or HTML
// character (encoding/json escapes <, > and &).
func plainJSON(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// appendString appends s as a JSON string: as it is when it needs no
// escaping, else as encoding/json escapes it.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON(s[i]) {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendRaw appends a variant's JSON value: as it is when it is valid and
// compact printable ASCII without HTML characters, else as encoding/json
// compacts and escapes it.
func appendRaw(dst []byte, v json.RawMessage) ([]byte, error) {
	for _, c := range v {
		if c == ' ' || !plainJSON(c) && c != '"' && c != '\\' {
			b, err := json.Marshal(v)
			return append(dst, b...), err
		}
	}
	if !json.Valid(v) {
		_, err := json.Marshal(v)
		return dst, err
	}
	return append(dst, v...), nil
}

func (h *Handler) single(w http.ResponseWriter, r *http.Request) {
	h.evaluateSingle(w, r, r.PathValue("key"))
}

func (h *Handler) evaluateSingle(w http.ResponseWriter, r *http.Request, key string) {
	k := h.auth(w, r)
	if k == nil {
		return
	}
	var rs *Compiled
	limit := maxBody
	if k.Client() {
		if rs = h.admitClient(w, r, k); rs == nil {
			return
		}
		limit = MaxClientBody
	}
	c, fail := readContext(r, limit)
	if fail != nil {
		fail.Key = key
		writeFailure(w, fail)
		return
	}
	if rs == nil {
		if rs = h.compiledFor(w, r, k); rs == nil {
			return
		}
	}
	f, ok := rs.Flags[key]
	// a flag not exposed to clients answers a client key exactly as a
	// missing one: same status, same body (no enumeration of flag keys)
	if !ok && rs.Broken[key] == nil || k.Client() && !rs.clientExposed[key] {
		writeFailure(w, &failure{Key: key, ErrorCode: errFlagNotFound, ErrorDetails: "flag '" + key + "' was not found"})
		return
	}
	writeAnswer(w, func(dst []byte) ([]byte, int, error) { return h.evaluateOne(r.Context(), dst, rs, key, f, c) })
}

func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	k := h.auth(w, r)
	if k == nil {
		return
	}
	var rs *Compiled
	limit := maxBody
	if k.Client() {
		if rs = h.admitClient(w, r, k); rs == nil {
			return
		}
		limit = MaxClientBody
	}
	c, fail := readContext(r, limit)
	if fail != nil {
		writeFailure(w, fail)
		return
	}
	if rs == nil {
		if rs = h.compiledFor(w, r, k); rs == nil {
			return
		}
	}
	keys := rs.Keys
	if k.Client() {
		keys = rs.ClientKeys // the others do not exist for a client key
	}
	// {"flags":[...],"metadata":{"version":N}}, as encoding/json writes the
	// map. The ETag is of this answer, so it depends on the context as much
	// as on the ruleset: a client that sends another context (or whose
	// sticky assignment was made meanwhile) with an old ETag gets the new
	// answer, never a 304 meant for someone else.
	bp := outBuffers.Get().(*[]byte)
	defer putBuffer(bp)
	dst := append((*bp)[:0], `{"flags":[`...)
	for i, key := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, _, err = h.evaluateOne(r.Context(), dst, rs, key, rs.Flags[key], c); err != nil {
			*bp = dst
			h.log.ErrorContext(r.Context(), "bulk answer not encodable", "project", k.Project, "environment", k.Environment, "flag", key, "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"errorDetails": "the flags could not be evaluated"})
			return
		}
	}
	version := rs.Version
	if k.Client() {
		// no ruleset version for a client key: it moves with every write of
		// the project, unexposed flags' included, so it would tell a client
		// when those change (and end its 304s); the ETag follows the answer
		version = 0
		dst = append(dst, `],"metadata":{}}`+"\n"...)
	} else {
		dst = append(dst, `],"metadata":{"version":`...)
		dst = strconv.AppendInt(dst, rs.Version, 10)
		dst = append(dst, "}}\n"...)
	}
	*bp = dst
	etag := answerETag(version, dst)
	w.Header().Set("ETag", etag)
	// 304 for a matching POST is OFREP's rule (RFC 9110 would say 412)
	if notModified(r, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(dst)
}

func putBuffer(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		*bp = (*bp)[:0]
		outBuffers.Put(bp)
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// answerETag is a strong ETag of an answer: the ruleset version and 64 bits
// of checksum (CRC-32C and CRC-32, both done in hardware here) of the bytes.
func answerETag(version int64, body []byte) string {
	var b [48]byte
	e := append(b[:0], '"')
	e = strconv.AppendInt(e, version, 10)
	e = append(e, '-')
	sum := uint64(crc32.Checksum(body, castagnoli))<<32 | uint64(crc32.ChecksumIEEE(body))
	e = strconv.AppendUint(e, sum, 16)
	return string(append(e, '"'))
}

// notModified says whether r's If-None-Match (all its header lines) matches
// etag.
func notModified(r *http.Request, etag string) bool {
	return etagMatches(strings.Join(r.Header.Values("If-None-Match"), ","), etag)
}

// etagMatches applies If-None-Match (RFC 9110, 13.1.2): "*" matches any
// answer, otherwise any entity tag of the list matches by weak comparison
// (a W/ prefix is ignored).
func etagMatches(header, etag string) bool {
	header = strings.TrimSpace(header)
	if header == "" {
		return false
	}
	if header == "*" {
		return true
	}
	etag = strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == etag {
			return true
		}
	}
	return false
}

func (h *Handler) ruleset(w http.ResponseWriter, r *http.Request) {
	k := h.auth(w, r)
	if k == nil {
		return
	}
	if k.Client() {
		writeProblem(w, r, domain.CodeForbidden, "a client key reads evaluated flags only (OFREP, /ofrep/v1/evaluate/flags); the ruleset (rules, segments, salts) needs a server key")
		return
	}
	if r.PathValue("project") != k.Project || r.PathValue("environment") != k.Environment {
		writeJSON(w, http.StatusForbidden, map[string]string{"errorDetails": "this SDK key reads " + k.Project + "/" + k.Environment + " only"})
		return
	}
	rs := h.compiledFor(w, r, k)
	if rs == nil {
		return
	}
	w.Header().Set("ETag", rs.ETag)
	if notModified(r, rs.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// the flags OFREP serves (not archived ones), each with the config it
	// serves in this environment (stored or default), and the segments
	// their rules can name, without management fields
	writeJSON(w, http.StatusOK, map[string]any{"project": k.Project, "environment": k.Environment, "version": rs.Version, "flags": rs.Served,
		"segments": rs.ServedSegments})
}
