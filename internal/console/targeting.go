package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/problem"
)

// The targeting editor: a flag's targeting in one environment (or the
// proposal of an open change request, ?request=id) as a form of rules with
// conditions, rollout and weights, the default rule and the off variant.
// It needs no JavaScript: "Add a rule / condition" posts the form and gets
// it back with more blank slots; blank slots are ignored when saving.
//
// The names and ids of the form's fields are a contract (a browser test
// fills them): enabled, off_variant, rule.{i}.name, rule.{i}.cond.{j}.attribute
// / .operator / .values, rule.{i}.rollout, rule.{i}.weight.{variant},
// rule.{i}.remove, default.rollout, default.weight.{variant}, version,
// request, title; ids replace the dots with dashes.

// Bounds on what a posted form may name, above the service's own limits (so
// that the service, not the form, says what is too much).
const (
	maxFormRules      = domain.MaxRules + 20
	maxFormConditions = domain.MaxConditionsPerRule + 20
)

// field is one input of the form, as typed, with its problems.
type field struct {
	Name, ID, Value string
	Problems        []string
}

// Invalid reports whether the field has a problem.
func (f field) Invalid() bool { return len(f.Problems) > 0 }

// ErrorID is the id of the field's problem text (aria-describedby).
func (f field) ErrorID() string { return f.ID + "-error" }

func newField(name, value string) field {
	return field{Name: name, ID: strings.ReplaceAll(name, ".", "-"), Value: value}
}

// condRow is one condition of a rule.
type condRow struct {
	Number                      int // 1-based, for labels
	Attribute, Operator, Values field
}

func (c condRow) blank() bool {
	return strings.TrimSpace(c.Attribute.Value) == "" && strings.TrimSpace(c.Values.Value) == ""
}

// weightInput is one variant's weight in an allocation.
type weightInput struct {
	Variant string
	field
}

// allocRows is a rule's (or the default rule's) rollout and weights.
type allocRows struct {
	ID       string // the weights' fieldset id
	Prefix   string // "rule.0" or "default"
	Rollout  field
	Weights  []weightInput
	Order    field // hidden: the variants in the order of the weights
	Problems []string
}

// Invalid reports whether the weights as a whole have a problem.
func (a allocRows) Invalid() bool { return len(a.Problems) > 0 }

// ruleRow is one rule of the form.
type ruleRow struct {
	Index    int
	Number   int    // 1-based, for labels
	ID       string // the rule's fieldset id
	Name     field
	Conds    []condRow
	Alloc    allocRows
	Remove   field
	Removed  bool
	Problems []string
}

// Invalid reports whether the rule as a whole has a problem.
func (r ruleRow) Invalid() bool { return len(r.Problems) > 0 }

// IsBlank reports whether the rule is an empty slot (ignored when saving).
func (r ruleRow) IsBlank() bool { return r.blank() }

func (r ruleRow) blank() bool {
	if strings.TrimSpace(r.Name.Value) != "" {
		return false
	}
	for _, c := range r.Conds {
		if !c.blank() {
			return false
		}
	}
	for _, w := range r.Alloc.Weights {
		if strings.TrimSpace(w.Value) != "" {
			return false
		}
	}
	return true
}

// variantOption is one choice of the off variant.
type variantOption struct{ Value, Label string }

// gateInfo says what saving does.
type gateInfo struct {
	Known        bool // false: the settings could not be read
	Gated        bool
	MinApprovals int
}

// targetingView is the editor.
type targetingView struct {
	Project    *domain.Project
	Flag       *domain.Flag
	Env        *domain.Environment
	Request    *app.RequestView   // the request whose proposal is edited, or nil
	Proposed   *domain.FlagConfig // its change's proposal for this flag and environment
	ReadOnly   bool               // the viewer may not change targeting
	Enabled    bool
	OffVariant field
	Offs       []variantOption
	Rules      []ruleRow
	Default    allocRows
	Version    string
	Title      field
	Gate       gateInfo
	Pending    []domain.ChangeRequest // pending requests for the flag in the environment
	Conflict   bool                   // the save was refused because something changed meanwhile
	Operators  []variantOption
	Problems   formProblems
}

// Action is where the form posts.
func (tv *targetingView) Action() string {
	return flagPath(tv.Flag.Project, tv.Flag.Key) + "/targeting/" + url.PathEscape(tv.Env.Key)
}

// FlagHref is the flag's page.
func (tv *targetingView) FlagHref() string { return flagPath(tv.Flag.Project, tv.Flag.Key) }

// ApprovalsHref is the environment's approval settings.
func (tv *targetingView) ApprovalsHref() string {
	return "/projects/" + url.PathEscape(tv.Flag.Project) + "/environments/" + url.PathEscape(tv.Env.Key) + "/approvals"
}

// AgainHref is the editor afresh: the current targeting, or the
// request's current proposal.
func (tv *targetingView) AgainHref() string {
	if tv.Request != nil {
		return tv.EditRequestHref(tv.Request.ID)
	}
	return tv.Action()
}

// EditRequestHref edits an open request's proposal here.
func (tv *targetingView) EditRequestHref(id string) string {
	return tv.Action() + "?request=" + url.QueryEscape(id)
}

// operatorHints say what the values of a comparison must be.
var operatorHints = map[domain.Operator]string{
	domain.OpGT: "greater than, numbers", domain.OpGTE: "at least, numbers", domain.OpLT: "less than, numbers", domain.OpLTE: "at most, numbers",
	domain.OpSemverEq: "versions like 1.2.3", domain.OpSemverGT: "versions like 1.2.3", domain.OpSemverLT: "versions like 1.2.3",
	domain.OpBefore: "dates like 2026-01-02T15:04:05Z", domain.OpAfter: "dates like 2026-01-02T15:04:05Z", domain.OpExists: "no values",
}

// operatorOptions are every operator, as conditionText says them.
func operatorOptions() []variantOption {
	ops := domain.Operators()
	out := make([]variantOption, len(ops))
	for i, o := range ops {
		label := strings.ReplaceAll(string(o), "_", " ")
		if h := operatorHints[o]; h != "" {
			label += " (" + h + ")"
		}
		out[i] = variantOption{Value: string(o), Label: label}
	}
	return out
}

// newTargetingView reads what the editor shows besides the form's values:
// the project, flag, environment, the request (when editing one), what
// saving does and the open requests.
func (c *Console) newTargetingView(ctx context.Context, v *viewer, project, flag, env, requestID string) (*targetingView, error) {
	var pending []domain.ChangeRequest
	pendingRead := later(func() (err error) {
		pending, err = v.pendingList(domain.CRFilter{Project: project, Flag: flag, Environment: env})
		return err
	})
	defer pendingRead()
	p, err := c.svc.GetProject(ctx, v.P, project)
	if err != nil {
		return nil, err
	}
	f, err := c.svc.GetFlag(ctx, v.P, project, flag)
	if err != nil {
		return nil, err
	}
	e, err := c.svc.GetEnvironment(ctx, v.P, project, env)
	if err != nil {
		return nil, err
	}
	tv := &targetingView{Project: p, Flag: f, Env: e, ReadOnly: !v.Can("editor"), Operators: operatorOptions(),
		OffVariant: newField("off_variant", ""), Title: newField("title", "")}
	tv.Offs = append(tv.Offs, variantOption{Value: domain.OffVariantKey, Label: "off: the default value in the code"})
	for _, vr := range f.Variants {
		label := vr.Key + " = " + string(vr.Value)
		if vr.Name != "" {
			label += " (" + vr.Name + ")"
		}
		tv.Offs = append(tv.Offs, variantOption{Value: vr.Key, Label: label})
	}
	if requestID != "" {
		rv, err := c.svc.GetRequest(ctx, v.P, requestID)
		if err != nil {
			return nil, err
		}
		ch, ok := rv.Change(domain.Target{Kind: domain.KindTargeting, Flag: flag, Environment: env})
		if !ok || rv.Project != project || ch.ProposedConfig == nil {
			return nil, domain.Errorf(domain.CodeNotFound, "change request %s does not propose targeting for %s in %s", requestID, flag, env)
		}
		if !rv.Open() {
			return nil, domain.Errorf(domain.CodeConflict, "change request %s is %s: its proposal can no longer change", requestID, rv.Status)
		}
		tv.Request, tv.Proposed = rv, ch.ProposedConfig
	}
	if org, err := c.svc.GetOrgSettings(ctx, v.P); err == nil {
		if as, err := c.svc.GetApprovalSettings(ctx, v.P, project, env); err == nil {
			tv.Gate = gateInfo{Known: true, Gated: as.Gates(org, f), MinApprovals: as.MinApprovals}
		}
	}
	if err := pendingRead(); err != nil {
		return nil, err
	}
	for _, cr := range pending {
		if tv.Request == nil || cr.ID != tv.Request.ID {
			tv.Pending = append(tv.Pending, cr)
		}
	}
	return tv, nil
}

// ---- the form from a config, and from a post ----

// weightOrder is the variants in the order an allocation's weights list
// them, then the flag's other variants.
func (tv *targetingView) weightOrder(listed []string) []string {
	var out []string
	for _, k := range listed {
		if tv.Flag.HasVariant(k) && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	for _, vr := range tv.Flag.Variants {
		if !slices.Contains(out, vr.Key) {
			out = append(out, vr.Key)
		}
	}
	return out
}

func (tv *targetingView) allocRows(prefix string, order []string, value func(variant string) string, rollout string) allocRows {
	a := allocRows{ID: strings.ReplaceAll(prefix, ".", "-") + "-weights", Prefix: prefix,
		Rollout: newField(prefix+".rollout", rollout), Order: newField(prefix+".order", strings.Join(order, ","))}
	for _, k := range order {
		a.Weights = append(a.Weights, weightInput{Variant: k, field: newField(prefix+".weight."+k, value(k))})
	}
	return a
}

func rolloutText(r float64) string { return strings.TrimSuffix(pct(r), " %") }

func (tv *targetingView) allocFromConfig(prefix string, a domain.Allocation) allocRows {
	var listed []string
	weights := map[string]int{}
	for _, w := range a.Weights {
		listed = append(listed, w.Variant)
		weights[w.Variant] = w.Weight
	}
	return tv.allocRows(prefix, tv.weightOrder(listed), func(k string) string {
		if w, ok := weights[k]; ok {
			return strconv.Itoa(w)
		}
		return ""
	}, rolloutText(a.Rollout))
}

func condFromValues(i, j int, attr, op, values string) condRow {
	p := fmt.Sprintf("rule.%d.cond.%d.", i, j)
	return condRow{Number: j + 1, Attribute: newField(p+"attribute", attr), Operator: newField(p+"operator", op), Values: newField(p+"values", values)}
}

func newRuleRow(i int, name string) ruleRow {
	p := fmt.Sprintf("rule.%d.", i)
	return ruleRow{Index: i, Number: i + 1, ID: fmt.Sprintf("rule-%d", i), Name: newField(p+"name", name), Remove: newField(p+"remove", "1")}
}

// blankRule is an empty rule slot at index i.
func (tv *targetingView) blankRule(i int) ruleRow {
	r := newRuleRow(i, "")
	r.Conds = []condRow{condFromValues(i, 0, "", string(domain.OpIs), "")}
	r.Alloc = tv.allocRows(fmt.Sprintf("rule.%d", i), tv.weightOrder(nil), func(string) string { return "" }, "100")
	return r
}

// fromConfig fills the form from a config: its rules, each with a blank
// condition, and a blank rule.
func (tv *targetingView) fromConfig(cfg *domain.FlagConfig, version int64) {
	tv.Enabled = cfg.Enabled
	tv.OffVariant.Value = cfg.OffVariant
	tv.Version = strconv.FormatInt(version, 10)
	tv.Rules = nil
	for i, rule := range cfg.Rules {
		r := newRuleRow(i, rule.Name)
		for j, cd := range rule.Conditions {
			r.Conds = append(r.Conds, condFromValues(i, j, cd.Attribute, string(cd.Operator), joinValues(cd.Values)))
		}
		r.Alloc = tv.allocFromConfig(fmt.Sprintf("rule.%d", i), rule.Allocation)
		tv.Rules = append(tv.Rules, r)
	}
	tv.Default = tv.allocFromConfig("default", cfg.DefaultRule)
	tv.addSlots(false)
}

// addSlots gives every rule a blank condition and the form a blank rule:
// always (more), or only where there is none (ensure).
func (tv *targetingView) addSlots(more bool) {
	for i := range tv.Rules {
		r := &tv.Rules[i]
		if more || len(r.Conds) == 0 || !r.Conds[len(r.Conds)-1].blank() {
			r.Conds = append(r.Conds, condFromValues(i, len(r.Conds), "", string(domain.OpIs), ""))
		}
	}
	if more || len(tv.Rules) == 0 || !tv.Rules[len(tv.Rules)-1].blank() {
		tv.Rules = append(tv.Rules, tv.blankRule(len(tv.Rules)))
	}
}

// fromForm fills the form from a post, as typed.
func (tv *targetingView) fromForm(form url.Values) {
	tv.Enabled = form.Get("enabled") != ""
	tv.OffVariant.Value = form.Get("off_variant")
	tv.Version = form.Get("version")
	tv.Title.Value = form.Get("title")
	// which rules and conditions the form names
	rules := -1
	conds := map[int]int{}
	for k := range form {
		rest, ok := strings.CutPrefix(k, "rule.")
		if !ok {
			continue
		}
		n, rest, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(n)
		if err != nil || i < 0 || i >= maxFormRules {
			continue
		}
		rules = max(rules, i)
		if rest, ok := strings.CutPrefix(rest, "cond."); ok {
			n, _, _ := strings.Cut(rest, ".")
			if j, err := strconv.Atoi(n); err == nil && j >= 0 && j < maxFormConditions {
				if cur, seen := conds[i]; !seen || j > cur {
					conds[i] = j
				}
			}
		}
	}
	tv.Rules = nil
	for i := 0; i <= rules; i++ {
		p := fmt.Sprintf("rule.%d.", i)
		r := newRuleRow(i, form.Get(p+"name"))
		r.Removed = form.Get(p+"remove") != ""
		if last, ok := conds[i]; ok {
			for j := 0; j <= last; j++ {
				cp := fmt.Sprintf("%scond.%d.", p, j)
				r.Conds = append(r.Conds, condFromValues(i, j, form.Get(cp+"attribute"), form.Get(cp+"operator"), form.Get(cp+"values")))
			}
		}
		r.Alloc = tv.allocFromForm(form, fmt.Sprintf("rule.%d", i))
		tv.Rules = append(tv.Rules, r)
	}
	tv.Default = tv.allocFromForm(form, "default")
}

func (tv *targetingView) allocFromForm(form url.Values, prefix string) allocRows {
	order := tv.weightOrder(strings.Split(form.Get(prefix+".order"), ","))
	return tv.allocRows(prefix, order, func(k string) string { return form.Get(prefix + ".weight." + k) }, form.Get(prefix+".rollout"))
}

// ---- the config from the form ----

// configMap says which field of the form each part of the built config
// came from, so that the service's problems land next to their fields.
type configMap struct {
	rules   []int      // config rule k → form rule index
	conds   [][]int    // config rule k, condition m → form condition index
	weights [][]string // config rule k, weight w → variant
	def     []string   // default rule weight w → variant
}

// toConfig builds the targeting the form says: removed and blank rules and
// blank conditions left out. Fields that do not parse become problems.
func (tv *targetingView) toConfig() (enabled bool, off string, rules []domain.Rule, def domain.Allocation, m configMap) {
	rules = []domain.Rule{}
	for i := range tv.Rules {
		r := &tv.Rules[i]
		if r.Removed || r.blank() {
			continue
		}
		rule := domain.Rule{Name: strings.TrimSpace(r.Name.Value), Conditions: []domain.Condition{}}
		var condIdx []int
		for j := range r.Conds {
			cd := &r.Conds[j]
			if cd.blank() {
				continue
			}
			rule.Conditions = append(rule.Conditions, domain.Condition{Attribute: strings.TrimSpace(cd.Attribute.Value),
				Operator: domain.Operator(cd.Operator.Value), Values: splitValues(cd.Values.Value)})
			condIdx = append(condIdx, j)
		}
		var ws []string
		rule.Allocation, ws = tv.parseAlloc(&r.Alloc, fmt.Sprintf("Rule %d", r.Number))
		rules = append(rules, rule)
		m.rules = append(m.rules, i)
		m.conds = append(m.conds, condIdx)
		m.weights = append(m.weights, ws)
	}
	def, m.def = tv.parseAlloc(&tv.Default, "Default rule")
	return tv.Enabled, tv.OffVariant.Value, rules, def, m
}

// joinValues writes a condition's values as the form shows them: comma
// separated, a comma or backslash inside a value escaped with a backslash.
func joinValues(values []string) string {
	esc := strings.NewReplacer(`\`, `\\`, ",", `\,`)
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = esc.Replace(v)
	}
	return strings.Join(out, ", ")
}

// splitValues reads what joinValues wrote (blank values left out).
func splitValues(s string) []string {
	out := []string{}
	var cur strings.Builder
	flush := func() {
		if v := strings.TrimSpace(cur.String()); v != "" {
			out = append(out, v)
		}
		cur.Reset()
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == ',':
			flush()
		default:
			cur.WriteByte(s[i])
		}
	}
	flush()
	return out
}

// parseAlloc reads a rollout (blank is 0) and the weights typed (blank
// weights are left out).
func (tv *targetingView) parseAlloc(a *allocRows, label string) (domain.Allocation, []string) {
	out := domain.Allocation{Weights: []domain.Weight{}}
	if s := strings.TrimSpace(a.Rollout.Value); s != "" {
		r, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(strings.TrimSuffix(s, "%")), " "), 64)
		if err != nil {
			tv.problem(&a.Rollout, label+", rollout", "must be a percentage from 0 to 100, such as 25 or 12.5")
		}
		out.Rollout = r
	}
	var keys []string
	for i := range a.Weights {
		w := &a.Weights[i]
		s := strings.TrimSpace(w.Value)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			tv.problem(&w.field, label+", weight of "+w.Variant, "must be a whole number, such as 1")
			continue
		}
		out.Weights = append(out.Weights, domain.Weight{Variant: w.Variant, Weight: n})
		keys = append(keys, w.Variant)
	}
	return out, keys
}

// problem notes a field's problem, next to it and in the summary.
func (tv *targetingView) problem(f *field, label, text string) {
	f.Problems = append(f.Problems, text)
	tv.Problems.add(f.ID, label, text)
}

// place puts a problem the service found (a JSON pointer into the
// config) next to the field it is about.
func (tv *targetingView) place(pointer, text string, m configMap) {
	seg := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	at := func(i int) (int, bool) {
		if i >= len(seg) {
			return 0, false
		}
		n, err := strconv.Atoi(seg[i])
		return n, err == nil && n >= 0
	}
	switch seg[0] {
	case "off_variant":
		tv.problem(&tv.OffVariant, "Off variant", text)
		return
	case "default_rule":
		if tv.placeAlloc(&tv.Default, seg[1:], m.def, "Default rule", text) {
			return
		}
	case "rules":
		k, ok := at(1)
		if !ok || k >= len(m.rules) {
			break
		}
		r := &tv.Rules[m.rules[k]]
		label := fmt.Sprintf("Rule %d", r.Number)
		switch {
		case len(seg) == 3 && seg[2] == "name":
			tv.problem(&r.Name, label+", name", text)
			return
		case len(seg) == 3 && seg[2] == "conditions":
			r.Problems = append(r.Problems, text)
			tv.Problems.add(r.Name.ID, label+", conditions", text)
			return
		case len(seg) >= 5 && seg[2] == "conditions":
			mi, ok := at(3)
			if !ok || mi >= len(m.conds[k]) {
				break
			}
			cd := &r.Conds[m.conds[k][mi]]
			clabel := fmt.Sprintf("%s, condition %d, ", label, cd.Number)
			switch seg[4] {
			case "attribute":
				tv.problem(&cd.Attribute, clabel+"attribute", text)
				return
			case "operator":
				tv.problem(&cd.Operator, clabel+"operator", text)
				return
			case "values":
				tv.problem(&cd.Values, clabel+"values", text)
				return
			}
		default:
			if tv.placeAlloc(&r.Alloc, seg[2:], m.weights[k], label, text) {
				return
			}
		}
	}
	tv.Problems.add("", strings.TrimPrefix(pointer, "/"), text)
}

func (tv *targetingView) placeAlloc(a *allocRows, seg []string, weights []string, label, text string) bool {
	switch {
	case len(seg) == 1 && seg[0] == "rollout":
		tv.problem(&a.Rollout, label+", rollout", text)
		return true
	case len(seg) == 1 && seg[0] == "weights":
		a.Problems = append(a.Problems, text)
		field := a.Rollout.ID
		if len(a.Weights) > 0 {
			field = a.Weights[0].ID
		}
		tv.Problems.add(field, label+", weights", text)
		return true
	case len(seg) >= 2 && seg[0] == "weights":
		w, err := strconv.Atoi(seg[1])
		if err != nil || w < 0 || w >= len(weights) {
			return false
		}
		for i := range a.Weights {
			if a.Weights[i].Variant == weights[w] {
				tv.problem(&a.Weights[i].field, label+", weight of "+weights[w], text)
				return true
			}
		}
	}
	return false
}

// ---- handlers ----

func (c *Console) targetingPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ctx := r.Context()
	project, flag, env := r.PathValue("project"), r.PathValue("flag"), r.PathValue("environment")
	tv, err := c.newTargetingView(ctx, v, project, flag, env, r.URL.Query().Get("request"))
	if err != nil {
		return err
	}
	if tv.Request != nil {
		tv.fromConfig(tv.Proposed, tv.Request.Version)
		tv.Title.Value = tv.Request.Title
	} else {
		cfg, err := c.svc.GetFlagConfig(ctx, v.P, project, flag, env)
		if err != nil {
			return err
		}
		tv.fromConfig(cfg, cfg.Version)
	}
	return c.ok(w, v, "targeting", tv.pageTitle(), tv)
}

func (tv *targetingView) pageTitle() string {
	if tv.Request != nil {
		return "Proposed targeting: " + tv.Flag.Name + " in " + tv.Env.Name
	}
	return "Targeting: " + tv.Flag.Name + " in " + tv.Env.Name
}

func (c *Console) targetingSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ctx := r.Context()
	project, flag, env := r.PathValue("project"), r.PathValue("flag"), r.PathValue("environment")
	requestID := r.PostForm.Get("request")
	tv, err := c.newTargetingView(ctx, v, project, flag, env, requestID)
	if err != nil {
		return err // one who may not read the project meets one that does not exist
	}
	if !v.Can("editor") {
		return domain.Errorf(domain.CodeForbidden, "you are a %s in this project: changing targeting needs the editor role", v.role())
	}
	tv.fromForm(r.PostForm)
	if r.PostForm.Get("action") == "add" {
		tv.addSlots(true)
		return c.ok(w, v, "targeting", tv.pageTitle(), tv)
	}
	version, err := formVersion(r)
	if err != nil {
		return err
	}
	enabled, off, rules, def, m := tv.toConfig()
	if tv.Problems.Any() {
		tv.Problems.Message = "some fields could not be read"
		tv.addSlots(false)
		return c.render(w, v, http.StatusUnprocessableEntity, "targeting", tv.pageTitle(), tv)
	}
	title := strings.TrimSpace(tv.Title.Value)
	if tv.Request != nil {
		next := *tv.Proposed
		next.Enabled, next.OffVariant, next.Rules, next.DefaultRule = enabled, off, rules, def
		in := app.EditInput{ProposedConfig: &next}
		if title != "" && title != tv.Request.Title {
			in.Title = &title
		}
		if _, err = c.svc.EditRequest(ctx, v.P, tv.Request.ID, version, in); err == nil {
			return done(w, r, "/requests/"+url.PathEscape(tv.Request.ID), "edited")
		}
	} else {
		var out app.Outcome[domain.FlagConfig]
		out, err = c.svc.ChangeFlagConfig(ctx, v.P, project, flag, env, version, app.ChangeOptions{Title: title}, func(c *domain.FlagConfig) error {
			c.Enabled, c.OffVariant, c.Rules, c.DefaultRule = enabled, off, rules, def
			return nil
		})
		if err == nil {
			if out.Request != nil {
				return done(w, r, "/requests/"+url.PathEscape(out.Request.ID), "requested")
			}
			return done(w, r, flagPath(project, flag), "saved")
		}
	}
	var de *domain.Error
	if !errors.As(err, &de) || (de.Code != domain.CodeInvalid && de.Code != domain.CodeConflict) {
		return err
	}
	tv.Problems.Message = de.Message
	tv.Conflict = de.Code == domain.CodeConflict
	for _, fe := range de.Fields {
		ptr := fe.Pointer
		if tv.Request != nil {
			ptr = strings.TrimPrefix(ptr, "/proposed_config")
		}
		if ptr == "" && fe.Parameter != "" {
			tv.Problems.add("", fe.Parameter, fe.Detail)
			continue
		}
		tv.place(ptr, fe.Detail, m)
	}
	tv.addSlots(false)
	return c.render(w, v, problem.Status(de.Code), "targeting", tv.pageTitle(), tv)
}
