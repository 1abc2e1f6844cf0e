package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/problem"
)

// A project's flags (search, tag filter, archived toggle), a flag's page
// (variants, targeting per environment, pending requests), creating and
// archiving flags, and copying one environment's targeting into another
// (promoting). The targeting editor is in targeting.go.

func (c *Console) flagRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/projects/{project}", handler: c.flagList},
		{Method: "POST", Pattern: "/projects/{project}/flags", handler: c.flagCreate},
		{Method: "GET", Pattern: "/projects/{project}/flags/{flag}", handler: c.flagPage},
		{Method: "POST", Pattern: "/projects/{project}/flags/{flag}/archive", handler: c.flagArchive},
		{Method: "POST", Pattern: "/projects/{project}/flags/{flag}/maintainer-team", handler: c.maintainerTeamSubmit},
		{Method: "POST", Pattern: "/projects/{project}/flags/{flag}/client-exposure", handler: c.clientExposureSubmit},
		{Method: "POST", Pattern: "/projects/{project}/flags/{flag}/environments/{environment}/promote", handler: c.promoteSubmit},
		{Method: "GET", Pattern: "/projects/{project}/flags/{flag}/targeting/{environment}", handler: c.targetingPage},
		{Method: "POST", Pattern: "/projects/{project}/flags/{flag}/targeting/{environment}", handler: c.targetingSubmit},
	}
}

var _ = flash(map[string]string{
	"flag-created":          "The flag is created. It serves the default value in the code everywhere until you turn its targeting on.",
	"flag-archived":         "The flag is archived: it is hidden from the list and its targeting cannot change until it is restored.",
	"flag-restored":         "The flag is restored.",
	"maintainer-team-saved": "The maintainer team is saved.",
	"client-exposed":        "The flag is exposed to client-side SDKs: client keys (browsers, mobile apps) can evaluate it now.",
	"client-hidden":         "The flag is no longer exposed to client-side SDKs: client keys get FLAG_NOT_FOUND for it now.",
	"saved":                 "Saved: the new targeting is live.",
	// the flag page names the two environments instead when it can
	// (promotedFlash)
	"promoted": "Copied: the environment now has the other environment's targeting.",
})

// flagsPerPage is how many flags the list shows at once (LaunchDarkly
// shows 20): each costs a config read per environment.
const flagsPerPage = 25

// ---- the list ----

// flagListView is a project's flags.
type flagListView struct {
	Project  *domain.Project
	Envs     []domain.Environment
	Rows     []flagRow
	Q, Tag   string
	Archived bool
	Tags     []string // tags to suggest: of every flag when searching, else of the page's
	// Matching is how many flags match a search, on every page (-1 when
	// not searching: the list is then read a page at a time).
	Matching int
	// Paging: without a search, the store's cursors (Cursor is this
	// page's, Next the next page's); with one, the flag key a page starts
	// after (After, Next).
	Cursor, After, Next string
	Pending             int // pending requests in the project
	New                 *newFlagForm
}

// flagRow is one flag and its state per environment.
type flagRow struct {
	Flag  *domain.Flag
	Cells []flagCell
	// FlagLevel are the pending flag-level requests (all environments).
	FlagLevel pendingBadge
}

// flagCell is one flag in one environment.
type flagCell struct {
	Env     string
	Enabled bool
	Summary string
	Pending pendingBadge
}

// pendingBadge is the pending requests of a flag (in an environment): a
// link to the request when there is one, to the project's pending
// requests when there are more.
type pendingBadge struct {
	Count int
	Href  string
}

func (v flagListView) query(next string) string {
	q := url.Values{}
	if v.Q != "" {
		q.Set("q", v.Q)
	}
	if v.Tag != "" {
		q.Set("tag", v.Tag)
	}
	if v.Archived {
		q.Set("archived", "1")
	}
	if next != "" {
		if v.Searching() {
			q.Set("after", next)
		} else {
			q.Set("cursor", next)
		}
	}
	s := "/projects/" + url.PathEscape(v.Project.Key)
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// NextHref is the next page's link.
func (v flagListView) NextHref() string { return v.query(v.Next) }

// FirstHref is the first page's link (same filters).
func (v flagListView) FirstHref() string { return v.query("") }

// ArchivedHref toggles the archived view (same search and tag).
func (v flagListView) ArchivedHref() string {
	w := v
	w.Archived = !v.Archived
	return w.query("")
}

// PendingHref lists the project's pending requests.
func (v flagListView) PendingHref() string { return pendingListHref(v.Project.Key) }

// ClearHref is the list without search and tag (same archived toggle).
func (v flagListView) ClearHref() string {
	w := v
	w.Q, w.Tag = "", ""
	return w.query("")
}

// Searching reports whether a search narrows the list (then every flag
// is read, and the list pages by key).
func (v flagListView) Searching() bool { return v.Q != "" }

// Later reports whether the page is not the first.
func (v flagListView) Later() bool { return v.Cursor != "" || v.After != "" }

// PageSize is how many flags a page shows.
func (v flagListView) PageSize() int { return flagsPerPage }

// Filtered reports whether a search or tag narrows the list.
func (v flagListView) Filtered() bool { return v.Q != "" || v.Tag != "" }

func pendingListHref(project string) string {
	return "/requests?" + url.Values{"status": {string(domain.StatusPending)}, "project": {project}}.Encode()
}

func (c *Console) flagList(w http.ResponseWriter, r *http.Request, v *viewer) error {
	var nf *newFlagForm
	if v.Can("editor") {
		nf = &newFlagForm{Kind: "boolean"}
	}
	view, err := c.flagListData(r.Context(), v, r.PathValue("project"), r.URL.Query(), nf)
	if err != nil {
		return err
	}
	return c.ok(w, v, "flags", view.Project.Name, view)
}

// flagListData reads the list: the project, its environments, one page
// of flags (a search reads every flag the archived toggle shows and
// filters them here, so that it finds flags of every page), the configs of
// the page's flags only, and the project's pending requests in one read;
// the requests, the flags and the configs are read at the same time.
func (c *Console) flagListData(ctx context.Context, v *viewer, project string, q url.Values, nf *newFlagForm) (*flagListView, error) {
	p, err := c.svc.GetProject(ctx, v.P, project)
	if err != nil {
		return nil, err
	}
	var pending []domain.ChangeRequest
	pendingRead := later(func() (err error) {
		pending, err = v.pendingList(domain.CRFilter{Project: project})
		return err
	})
	defer pendingRead()
	view := &flagListView{Project: p, Q: strings.TrimSpace(q.Get("q")), Tag: strings.TrimSpace(q.Get("tag")),
		Archived: q.Get("archived") == "1", Matching: -1, New: nf}
	if view.Envs, err = c.environments(ctx, v.P, project); err != nil {
		return nil, err
	}
	configs := c.readConfigs(ctx, v.P, project, view.Envs)
	defer configs.wait()
	archived := view.Archived
	filter := domain.FlagFilter{Tag: view.Tag, Archived: &archived}
	var shown []*domain.Flag
	tags := map[string]bool{}
	if view.Searching() {
		view.After = q.Get("after")
		if shown, err = c.searchFlags(ctx, v.P, view, filter, tags, configs); err != nil {
			return nil, err
		}
	} else {
		view.Cursor = q.Get("cursor")
		items, next, err := c.svc.ListFlags(ctx, v.P, project, filter, domain.Page{Limit: flagsPerPage, Cursor: view.Cursor})
		if err != nil {
			return nil, err
		}
		view.Next = next
		for i := range items {
			shown = append(shown, &items[i])
			for _, t := range items[i].Tags {
				tags[t] = true
			}
		}
	}
	for t := range tags {
		view.Tags = append(view.Tags, t)
	}
	slices.Sort(view.Tags)
	for _, f := range shown {
		configs.ask(f.Key)
	}
	got, err := configs.wait()
	if err != nil {
		return nil, err
	}
	if err := pendingRead(); err != nil {
		return nil, err
	}
	view.Pending = len(pending)
	byFlagEnv := map[[2]string][]string{}
	for _, cr := range pending {
		k := [2]string{cr.Flag, cr.Environment}
		byFlagEnv[k] = append(byFlagEnv[k], cr.ID)
	}
	badge := func(flag, env string) pendingBadge {
		ids := byFlagEnv[[2]string{flag, env}]
		switch len(ids) {
		case 0:
			return pendingBadge{}
		case 1:
			return pendingBadge{Count: 1, Href: "/requests/" + url.PathEscape(ids[0])}
		}
		return pendingBadge{Count: len(ids), Href: pendingListHref(project)}
	}

	view.Rows = make([]flagRow, len(shown))
	for i, f := range shown {
		row := flagRow{Flag: f, Cells: make([]flagCell, len(view.Envs)), FlagLevel: badge(f.Key, "")}
		for j, e := range view.Envs {
			cell := flagCell{Env: e.Key, Pending: badge(f.Key, e.Key)}
			if cfg := got[f.Key][j]; cfg != nil {
				cell.Enabled = cfg.Enabled
				cell.Summary = targetingSummary(cfg)
			}
			row.Cells[j] = cell
		}
		view.Rows[i] = row
	}
	return view, nil
}

// searchFlags reads every flag that passes the filter, keeps those whose
// key or name contains the search (ASCII letters in any case: the store
// filters, domain.FlagFilter.Query), and returns the page after
// view.After (by key); it notes the tags of every flag read. Stores list
// flags by key: while they do, the first matches after view.After are the
// page, and their configs are asked for as soon as they are found.
func (c *Console) searchFlags(ctx context.Context, p *app.Principal, view *flagListView, filter domain.FlagFilter, tags map[string]bool, configs *configReader) ([]*domain.Flag, error) {
	filter.Query = view.Q // the store matches key or name, and skips the rest undecoded
	var matching []*domain.Flag
	sorted, prev, asked := true, "", 0
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		items, next, err := c.svc.ListFlags(ctx, p, view.Project.Key, filter, page)
		if err != nil {
			return nil, err
		}
		for i := range items {
			f := &items[i]
			for _, t := range f.Tags {
				tags[t] = true
			}
			if f.Key < prev {
				sorted = false
			}
			prev = f.Key
			matching = append(matching, f)
			if sorted && f.Key > view.After && asked < flagsPerPage {
				configs.ask(f.Key)
				asked++
			}
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	slices.SortFunc(matching, func(a, b *domain.Flag) int { return strings.Compare(a.Key, b.Key) })
	view.Matching = len(matching)
	start := 0
	if view.After != "" {
		start, _ = slices.BinarySearchFunc(matching, view.After, func(f *domain.Flag, key string) int {
			if f.Key <= key {
				return -1
			}
			return 1
		})
	}
	shown := matching[start:]
	if len(shown) > flagsPerPage {
		shown = shown[:flagsPerPage]
		view.Next = shown[len(shown)-1].Key
	}
	return shown, nil
}

// configReader reads flags' configs in every environment of a project, a
// few flags at a time, while the page goes on with other reads. The
// service has no bulk read of configs, so it reads them one by one, and
// only for the flags a page shows.
type configReader struct {
	ctx     context.Context
	svc     *app.Service
	p       *app.Principal
	project string
	envs    []domain.Environment
	jobs    chan string
	asked   map[string]bool // only the page's goroutine asks
	workers sync.WaitGroup
	done    sync.Once
	mu      sync.Mutex
	got     map[string][]*domain.FlagConfig // flag → config per environment (nil: gone meanwhile)
	err     error
}

// configWorkers is how many configs a page reads at once.
const configWorkers = 8

func (c *Console) readConfigs(ctx context.Context, p *app.Principal, project string, envs []domain.Environment) *configReader {
	r := &configReader{ctx: ctx, svc: c.svc, p: p, project: project, envs: envs, jobs: make(chan string, flagsPerPage),
		asked: map[string]bool{}, got: map[string][]*domain.FlagConfig{}}
	for range configWorkers {
		r.workers.Add(1)
		go r.work()
	}
	return r
}

func (r *configReader) work() {
	defer r.workers.Done()
	for key := range r.jobs {
		cfgs := make([]*domain.FlagConfig, len(r.envs))
		for j, e := range r.envs {
			cfg, err := r.svc.GetFlagConfig(r.ctx, r.p, r.project, key, e.Key)
			if err != nil && domain.ErrorCode(err) != domain.CodeNotFound {
				r.mu.Lock()
				if r.err == nil {
					r.err = err
				}
				r.mu.Unlock()
				break
			}
			cfgs[j] = cfg
		}
		r.mu.Lock()
		r.got[key] = cfgs
		r.mu.Unlock()
	}
}

// ask reads the flag's configs (once).
func (r *configReader) ask(flag string) {
	if !r.asked[flag] {
		r.asked[flag] = true
		r.jobs <- flag
	}
}

// wait returns what was read once every flag asked for is read; a flag
// not asked for has no configs. It may be called more than once.
func (r *configReader) wait() (map[string][]*domain.FlagConfig, error) {
	r.done.Do(func() {
		close(r.jobs)
		r.workers.Wait()
	})
	return r.got, r.err
}

// later runs fn in its own goroutine; the function it returns waits for
// fn and returns its error (it may be called more than once). Pages read
// what does not depend on each other at the same time.
func later(fn func() error) func() error {
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = fn()
	}()
	return func() error {
		<-done
		return err
	}
}

// environments lists every environment of the project, in the store's order.
func (c *Console) environments(ctx context.Context, p *app.Principal, project string) ([]domain.Environment, error) {
	var out []domain.Environment
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		items, next, err := c.svc.ListEnvironments(ctx, p, project, page)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		page.Cursor = next
	}
}

// targetingSummary says a config in one line: "2 rules · default 25 % → on".
func targetingSummary(c *domain.FlagConfig) string {
	if !c.Enabled {
		return "serves " + variantText(c.OffVariant)
	}
	var parts []string
	if n := len(c.Rules); n > 0 {
		parts = append(parts, plural(n, "rule", "rules"))
	}
	d := "default " + pct(c.DefaultRule.Rollout)
	if w := weightsText(c.DefaultRule.Weights); w != "" && c.DefaultRule.Rollout > 0 {
		d += " → " + w
	}
	parts = append(parts, d)
	return strings.Join(parts, " · ")
}

// variantText names a variant, or the fallback.
func variantText(key string) string {
	if key == domain.OffVariantKey || key == "" {
		return "the code's default"
	}
	return key
}

// weightsText: "on", or "on 20 %, control 80 %".
func weightsText(ws []domain.Weight) string {
	total := 0
	var served []domain.Weight
	for _, w := range ws {
		if w.Weight > 0 {
			total += w.Weight
			served = append(served, w)
		}
	}
	switch len(served) {
	case 0:
		return ""
	case 1:
		return served[0].Variant
	}
	parts := make([]string, len(served))
	for i, w := range served {
		parts[i] = w.Variant + " " + pct(float64(w.Weight)*100/float64(total))
	}
	return strings.Join(parts, ", ")
}

// ---- creating a flag ----

// newFlagForm is the "New flag" form, as typed.
type newFlagForm struct {
	Key, Name, Description, Tags string
	Kind                         string // "boolean" or "custom"
	Variants                     string // custom: one key=JSON per line
	Problems                     formProblems
}

// Custom reports whether the custom variants are chosen.
func (f *newFlagForm) Custom() bool { return f.Kind == "custom" }

// newFlagFields maps the service's pointers to the form's fields.
func newFlagField(pointer string) (id, label string) {
	switch {
	case pointer == "/key":
		return "new-key", "Key"
	case pointer == "/name":
		return "new-name", "Name"
	case pointer == "/description":
		return "new-description", "Description"
	case pointer == "/tags" || strings.HasPrefix(pointer, "/tags/"):
		return "new-tags", "Tags"
	case pointer == "/variants" || strings.HasPrefix(pointer, "/variants/"):
		if rest, ok := strings.CutPrefix(pointer, "/variants/"); ok {
			n, field, _ := strings.Cut(rest, "/")
			if i, err := strconv.Atoi(n); err == nil {
				return "new-variants", fmt.Sprintf("Variant %d %s", i+1, field)
			}
		}
		return "new-variants", "Variants"
	}
	return "", strings.TrimPrefix(pointer, "/")
}

// booleanVariants are a boolean flag's ("off" is reserved: it names the
// fallback).
func booleanVariants() []domain.Variant {
	return []domain.Variant{{Key: "on", Value: json.RawMessage("true")}, {Key: "control", Value: json.RawMessage("false")}}
}

// parseVariants reads key=JSON lines.
func parseVariants(text string, probs *formProblems) []domain.Variant {
	var out []domain.Variant
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case !ok || key == "":
			probs.add("new-variants", "Variants", fmt.Sprintf("line %d: write key=value, for example blue=\"#0000ff\"", n+1))
			continue
		case !json.Valid([]byte(val)):
			probs.add("new-variants", "Variants", fmt.Sprintf("line %d: the value of %q is not JSON (write text in double quotes: %q)", n+1, key, val))
			continue
		}
		out = append(out, domain.Variant{Key: key, Value: json.RawMessage(val)})
	}
	if len(out) == 0 && len(probs.Items) == 0 {
		probs.add("new-variants", "Variants", "give at least one variant, one key=value per line")
	}
	return out
}

func splitList(s string) []string {
	out := []string{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func (c *Console) flagCreate(w http.ResponseWriter, r *http.Request, v *viewer) error {
	project := r.PathValue("project")
	form := r.PostForm
	nf := &newFlagForm{Key: strings.TrimSpace(form.Get("key")), Name: strings.TrimSpace(form.Get("name")),
		Description: form.Get("description"), Tags: form.Get("tags"), Kind: form.Get("kind"), Variants: form.Get("variants")}
	if nf.Kind != "custom" {
		nf.Kind = "boolean"
	}
	in := app.FlagInput{Key: nf.Key, Name: nf.Name, Description: nf.Description, Tags: splitList(nf.Tags), Variants: booleanVariants()}
	if nf.Custom() {
		in.Variants = parseVariants(nf.Variants, &nf.Problems)
	}
	var err error
	if len(nf.Problems.Items) == 0 {
		var f *domain.Flag
		if f, err = c.svc.CreateFlag(r.Context(), v.P, project, in); err == nil {
			return done(w, r, flagPath(project, f.Key), "flag-created")
		}
		var de *domain.Error
		if !errors.As(err, &de) || (de.Code != domain.CodeInvalid && de.Code != domain.CodeConflict) {
			return err
		}
		nf.Problems.Message = de.Message
		for _, fe := range de.Fields {
			id, label := newFlagField(fe.Pointer)
			nf.Problems.add(id, label, fe.Detail)
		}
		err = de
	}
	view, lerr := c.flagListData(r.Context(), v, project, url.Values{}, nf)
	if lerr != nil {
		return lerr
	}
	status := http.StatusUnprocessableEntity
	var de *domain.Error
	if errors.As(err, &de) {
		status = problem.Status(de.Code)
	}
	return c.render(w, v, status, "flags", view.Project.Name, view)
}

func flagPath(project, flag string) string {
	return "/projects/" + url.PathEscape(project) + "/flags/" + url.PathEscape(flag)
}

// ---- problems shown in a form ----

// formProblems are what a form's submission was refused for: a summary at
// the top (each linking to its field) and each field's own messages.
type formProblems struct {
	Message string // the refusal as the service said it
	Items   []problemItem
	byField map[string][]string
}

type problemItem struct {
	Label, Text string
	Field       string // the input's id, "" when no field is to blame
}

func (p *formProblems) add(field, label, text string) {
	p.Items = append(p.Items, problemItem{Label: label, Text: text, Field: field})
	if field != "" {
		if p.byField == nil {
			p.byField = map[string][]string{}
		}
		p.byField[field] = append(p.byField[field], text)
	}
}

// Headline says what went wrong, after "was not saved": how many problems
// the list below shows, or the refusal itself.
func (p *formProblems) Headline() string {
	if len(p.Items) > 0 {
		return plural(len(p.Items), "problem", "problems")
	}
	return p.Message
}

// Any reports whether there is a problem.
func (p *formProblems) Any() bool { return len(p.Items) > 0 || p.Message != "" }

// Of is a field's problems.
func (p *formProblems) Of(field string) []string { return p.byField[field] }

// ---- a flag ----

// flagView is a flag's page.
type flagView struct {
	Project  *domain.Project
	Flag     *domain.Flag
	Variants []variantRow
	Envs     []envTargeting
	Pending  []domain.ChangeRequest // pending requests for the flag
	// Refusal is why copying targeting into an environment was just
	// refused, shown in that environment's card (or above them all when
	// it has none).
	Refusal *promoteRefusal
	// Teams are the teams that may maintain the flag; MaintainerError is
	// why the maintainer team just sent was refused.
	Teams           []domain.Team
	MaintainerError string
	// ExposureError is why the client exposure just sent was refused.
	ExposureError string
}

// TeamName names the flag's maintainer team: its name and key, or the key
// alone when no team has it.
func (v *flagView) TeamName() string {
	for _, t := range v.Teams {
		if t.Key == v.Flag.MaintainerTeam {
			return t.Name + " (" + t.Key + ")"
		}
	}
	return v.Flag.MaintainerTeam
}

// promoteRefusal is a refused promotion into Env ("" when the page has
// no card for it).
type promoteRefusal struct {
	Env, Text string
}

type variantRow struct{ Key, Value, Name, Description string }

// envTargeting is the flag's targeting in one environment, in lines.
type envTargeting struct {
	Env     domain.Environment
	Config  *domain.FlagConfig
	Off     string
	Rules   []ruleText
	Default []string
	Pending pendingBadge
	// PromoteFrom is the environment the copy form has chosen: none (the
	// form asks to choose one, so that a stray click copies nothing), or
	// the one a refused copy named.
	PromoteFrom string
}

type ruleText struct {
	Title string
	Lines []string
}

// EditHref is the editor of the flag's targeting in env.
func (v *flagView) EditHref(env string) string {
	return flagPath(v.Flag.Project, v.Flag.Key) + "/targeting/" + url.PathEscape(env)
}

// PromoteHref is where the form copying targeting into env posts.
func (v *flagView) PromoteHref(env string) string {
	return flagPath(v.Flag.Project, v.Flag.Key) + "/environments/" + url.PathEscape(env) + "/promote"
}

// CanPromote reports whether the page offers to copy targeting between
// environments: to editors and up, while the flag is not archived and
// has more than one environment (the service decides the rest).
func (v *flagView) CanPromote(vw *viewer) bool {
	return vw.Can("editor") && !v.Flag.Archived && len(v.Envs) > 1
}

// RefusalIn is why copying targeting into env was just refused, "" if it
// was not.
func (v *flagView) RefusalIn(env string) string {
	if v.Refusal == nil || v.Refusal.Env != env {
		return ""
	}
	return v.Refusal.Text
}

func (c *Console) flagPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	view, err := c.flagData(r.Context(), v, r.PathValue("project"), r.PathValue("flag"))
	if err != nil {
		return err
	}
	if q := r.URL.Query(); q.Get("done") == "promoted" {
		if msg := view.promotedFlash(q.Get("to"), q.Get("from")); msg != "" {
			v.Flash = msg
		}
	}
	return c.ok(w, v, "flag", view.Flag.Name, view)
}

// promotedFlash says what a promotion did, naming the environments
// ("Staging now has Production's targeting."): only environments of the
// page's flag, by their names, so that a link still cannot make the page
// say anything else; "" when the link names no two of them.
func (v *flagView) promotedFlash(to, from string) string {
	var toName, fromName string
	for _, e := range v.Envs {
		switch e.Env.Key {
		case to:
			toName = e.Env.Name
		case from:
			fromName = e.Env.Name
		}
	}
	if toName == "" || fromName == "" {
		return ""
	}
	return toName + " now has " + fromName + "'s targeting."
}

// flagData reads a flag's page: the project, the flag, its targeting in
// every environment and its pending requests.
func (c *Console) flagData(ctx context.Context, v *viewer, project, key string) (*flagView, error) {
	var pending []domain.ChangeRequest
	pendingRead := later(func() (err error) {
		pending, err = v.pendingList(domain.CRFilter{Project: project, Flag: key})
		return err
	})
	defer pendingRead()
	p, err := c.svc.GetProject(ctx, v.P, project)
	if err != nil {
		return nil, err
	}
	f, err := c.svc.GetFlag(ctx, v.P, project, key)
	if err != nil {
		return nil, err
	}
	view := &flagView{Project: p, Flag: f}
	if v.Can("editor") || f.MaintainerTeam != "" {
		if view.Teams, err = c.everyTeam(ctx, v); err != nil {
			return nil, err
		}
	}
	for _, vr := range f.Variants {
		view.Variants = append(view.Variants, variantRow{Key: vr.Key, Value: string(vr.Value), Name: vr.Name, Description: vr.Description})
	}
	envs, err := c.environments(ctx, v.P, project)
	if err != nil {
		return nil, err
	}
	configs := c.readConfigs(ctx, v.P, project, envs)
	configs.ask(key)
	got, err := configs.wait()
	if err != nil {
		return nil, err
	}
	if err := pendingRead(); err != nil {
		return nil, err
	}
	view.Pending = pending
	for i, e := range envs {
		cfg := got[key][i]
		if cfg == nil {
			continue // the environment went away meanwhile
		}
		et := envTargeting{Env: e, Config: cfg, Off: "When off, serves " + variantText(cfg.OffVariant), Default: allocationLines(cfg.DefaultRule)}
		for i, rule := range cfg.Rules {
			et.Rules = append(et.Rules, ruleText{Title: ruleTitle(rule, i), Lines: ruleLines(rule)})
		}
		var ids []string
		for _, cr := range view.Pending {
			if cr.Environment == e.Key {
				ids = append(ids, cr.ID)
			}
		}
		if len(ids) == 1 {
			et.Pending = pendingBadge{Count: 1, Href: "/requests/" + url.PathEscape(ids[0])}
		} else if len(ids) > 1 {
			et.Pending = pendingBadge{Count: len(ids), Href: pendingListHref(project)}
		}
		view.Envs = append(view.Envs, et)
	}
	return view, nil
}

// flagArchive archives the flag, or restores it (archived=0); the service
// decides whether the viewer may.
func (c *Console) flagArchive(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ctx := r.Context()
	project, key := r.PathValue("project"), r.PathValue("flag")
	var out app.Outcome[domain.Flag]
	var err error
	flashKey := "flag-archived"
	if r.PostForm.Get("archived") == "0" {
		version, verr := formVersion(r)
		if verr != nil {
			return verr
		}
		flashKey = "flag-restored"
		out, err = c.svc.ChangeFlag(ctx, v.P, project, key, version, app.ChangeOptions{Title: "Restore " + key}, func(f *domain.Flag) error {
			f.Archived = false
			return nil
		})
	} else {
		out, err = c.svc.ArchiveFlag(ctx, v.P, project, key)
	}
	if err != nil {
		return err
	}
	if out.Request != nil {
		// an environment requiring approval serves it: the change is a request
		return done(w, r, "/requests/"+url.PathEscape(out.Request.ID), "requested")
	}
	return done(w, r, flagPath(project, key), flashKey)
}

// maintainerTeamSubmit sets the flag's maintainer team ("" for none),
// against the version the page showed. Where the change needs approval it
// opens a change request (a governance request, should the service count
// it as weakening the rules), and the browser goes to it. A refusal shows
// the flag page again, the refusal beside the form.
func (c *Console) maintainerTeamSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	team := strings.TrimSpace(r.PostForm.Get("maintainer_team"))
	return c.flagSettingSubmit(w, r, v, "Maintainer team of "+r.PathValue("flag"), "maintainer-team-saved",
		func(f *domain.Flag) { f.MaintainerTeam = team },
		func(view *flagView, refusal string) { view.MaintainerError = refusal })
}

// clientExposureSubmit exposes the flag to client-side SDKs (client keys:
// browsers, mobile apps) when the form's client_exposed is checked, or
// hides it from them, as maintainerTeamSubmit sets the maintainer team:
// where the service says the change needs approval (exposing a flag
// makes its answers public), it becomes a change request.
func (c *Console) clientExposureSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	exposed := r.PostForm.Get("client_exposed") != ""
	key := r.PathValue("flag")
	title, flashKey := "Hide "+key+" from client-side SDKs", "client-hidden"
	if exposed {
		title, flashKey = "Expose "+key+" to client-side SDKs", "client-exposed"
	}
	return c.flagSettingSubmit(w, r, v, title, flashKey,
		func(f *domain.Flag) { f.ClientExposed = exposed },
		func(view *flagView, refusal string) { view.ExposureError = refusal })
}

// flagSettingSubmit changes one of the flag's settings (set) against the
// version the page showed, through the service's flag change. Where the
// change needs approval it opens a change request (a governance request,
// should the service count it as weakening the rules), and the browser
// goes to it; else back to the flag's page, saying flashKey. A refusal
// shows the flag page again, the refusal beside the form (refused).
func (c *Console) flagSettingSubmit(w http.ResponseWriter, r *http.Request, v *viewer, title, flashKey string,
	set func(*domain.Flag), refused func(view *flagView, refusal string)) error {
	ctx := r.Context()
	project, key := r.PathValue("project"), r.PathValue("flag")
	version, err := mustFormVersion(r)
	if err == nil {
		var out app.Outcome[domain.Flag]
		out, err = c.svc.ChangeFlag(ctx, v.P, project, key, version, app.ChangeOptions{Title: title},
			func(f *domain.Flag) error {
				set(f)
				return nil
			})
		switch {
		case err == nil && out.Request != nil && out.Request.Kind == domain.KindGovernance:
			return governed(w, r, out.Request)
		case err == nil && out.Request != nil:
			return done(w, r, "/requests/"+url.PathEscape(out.Request.ID), "requested")
		case err == nil:
			return done(w, r, flagPath(project, key), flashKey)
		}
	}
	notes, status, ok := notesFrom(err)
	if !ok {
		return err
	}
	view, verr := c.flagData(ctx, v, project, key)
	if verr != nil {
		return verr
	}
	refused(view, notes.Message)
	return c.render(w, v, status, "flag", view.Flag.Name, view)
}

// promoteSubmit gives the environment the targeting the flag has in the
// form's environment (from), against the version of the environment's
// targeting the page showed. Where the environment needs approval it
// opens a change request instead, and the browser goes to it. A refusal
// shows the flag page again with the refusal in the environment's card,
// with the refusal's status.
func (c *Console) promoteSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ctx := r.Context()
	project, key, env := r.PathValue("project"), r.PathValue("flag"), r.PathValue("environment")
	from := r.PostForm.Get("from")
	version, err := formVersion(r)
	if err == nil {
		var out app.Outcome[domain.FlagConfig]
		if out, err = c.svc.Promote(ctx, v.P, project, key, env, from, version, app.ChangeOptions{}); err == nil {
			if out.Request != nil {
				return done(w, r, "/requests/"+url.PathEscape(out.Request.ID), "requested")
			}
			return done(w, r, flagPath(project, key)+"?"+url.Values{"to": {env}, "from": {from}}.Encode(), "promoted")
		}
	}
	var de *domain.Error
	if !errors.As(err, &de) || de.Code == domain.CodeNotFound {
		return err // no such flag or environment: the error page
	}
	view, verr := c.flagData(ctx, v, project, key)
	if verr != nil {
		return verr
	}
	view.Refusal = &promoteRefusal{Text: promoteRefusalText(de)}
	for i := range view.Envs {
		e := &view.Envs[i]
		if e.Env.Key != env {
			continue
		}
		view.Refusal.Env = env
		if from != env && slices.ContainsFunc(view.Envs, func(o envTargeting) bool { return o.Env.Key == from }) {
			e.PromoteFrom = from // offered again as it was chosen
		}
	}
	return c.render(w, v, problem.Status(de.Code), "flag", view.Flag.Name, view)
}

// promoteRefusalText says a refused promotion, naming the form's control
// for the problems of the environment chosen.
func promoteRefusalText(de *domain.Error) string {
	if len(de.Fields) == 0 {
		return de.Message
	}
	parts := make([]string, 0, len(de.Fields))
	for _, fe := range de.Fields {
		name := fe.Parameter
		switch {
		case fe.Pointer == "/from":
			name = "Copy targeting from"
		case fe.Pointer == "/version":
			name = "Version"
		case fe.Pointer != "":
			name = strings.TrimPrefix(fe.Pointer, "/")
		}
		if name == "" {
			parts = append(parts, fe.Detail)
			continue
		}
		parts = append(parts, name+": "+fe.Detail)
	}
	return strings.Join(parts, "; ")
}
