package infra

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// `make deploy` runs scripts/deploy.sh: three questions, then `sam build`
// and a non-guided `sam deploy`. The SAM CLI is not on this machine, so a
// stub `sam` on PATH records each invocation (its directory and arguments)
// and these tests assert the exact commands.

const stubSAM = `#!/bin/sh
n=$(ls "$SAM_STUB_LOG" | wc -l)
{ pwd; for a in "$@"; do printf '%s\n' "$a"; done; } > "$SAM_STUB_LOG/$(printf %03d "$n")"
if [ "$1" = "${SAM_STUB_FAIL:-none}" ]; then echo "sam $1 failed" >&2; exit 1; fi
exit 0
`

type deployRun struct {
	out   string     // stdout and stderr
	calls [][]string // each sam invocation: its arguments
	dirs  []string   // and the directory it ran in
	err   error
	state string // the remembered answers file, if written
}

type deployEnv struct {
	state   string // COUNTERSIGN_DEPLOY_STATE
	failOn  string // the sam subcommand the stub fails
	withSAM bool
}

func newDeployEnv(t *testing.T) *deployEnv {
	return &deployEnv{state: t.TempDir(), withSAM: true}
}

func (e *deployEnv) run(t *testing.T, stdin string, args ...string) deployRun {
	t.Helper()
	root := repoRoot(t)
	bin, log := t.TempDir(), t.TempDir()
	if e.withSAM {
		if err := os.WriteFile(filepath.Join(bin, "sam"), []byte(stubSAM), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Only the tools the script needs: no real sam, whatever PATH holds.
	for _, tool := range []string{"bash", "sh", "awk", "tr", "cut", "ls", "wc", "mkdir", "printf", "cat", "dirname", "python3"} {
		if p, err := exec.LookPath(tool); err == nil {
			_ = os.Symlink(p, filepath.Join(bin, tool))
		}
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "deploy.sh"), args...)
	cmd.Dir = t.TempDir() // the script finds the repository itself
	cmd.Env = []string{"PATH=" + bin, "HOME=" + t.TempDir(), "SAM_STUB_LOG=" + log,
		"SAM_STUB_FAIL=" + e.failOn, "COUNTERSIGN_DEPLOY_STATE=" + e.state}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	r := deployRun{out: string(out), err: err}
	entries, _ := os.ReadDir(log)
	for _, en := range entries {
		b, _ := os.ReadFile(filepath.Join(log, en.Name()))
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		r.dirs = append(r.dirs, lines[0])
		r.calls = append(r.calls, lines[1:])
	}
	if b, err := os.ReadFile(filepath.Join(e.state, "countersign-"+stageOf(args)+".env")); err == nil {
		r.state = string(b)
	}
	return r
}

func stageOf(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

// samDeploy is the deploy command the script must run.
func samDeploy(stage, confirm, overrides string) []string {
	return []string{"deploy", "--config-file", "infra/samconfig.toml", "--config-env", stage,
		"--capabilities", "CAPABILITY_IAM", "--resolve-s3", confirm, "--parameter-overrides", overrides}
}

// prompts counts the questions asked (a prompt ends in "]: " or "): ").
var promptRe = regexp.MustCompile(`(?m)(\]|\)): `)

func (r deployRun) mustCall(t *testing.T, want ...[]string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("deploy.sh failed: %v\n%s", r.err, r.out)
	}
	if !reflect.DeepEqual(r.calls, want) {
		t.Fatalf("sam was run as\n  %q\nwant\n  %q\noutput:\n%s", r.calls, want, r.out)
	}
}

func (r deployRun) noAdminTokenAndNotGuided(t *testing.T) {
	t.Helper()
	if regexp.MustCompile(`(?i)admin ?token`).MatchString(r.out) {
		t.Errorf("the deploy mentions or asks for AdminToken:\n%s", r.out)
	}
	for _, c := range r.calls {
		for _, a := range c {
			if strings.Contains(a, "--guided") || strings.Contains(a, "-g") && len(a) == 2 || strings.Contains(a, "AdminToken") {
				t.Errorf("sam %q: guided, or passes AdminToken", c)
			}
		}
	}
}

func TestDeployAsksThreeQuestionsThenBuildsAndDeploys(t *testing.T) {
	env := newDeployEnv(t)
	// sender, first admin, no custom domain, Enter at the confirmation
	r := env.run(t, "countersign@example.com\nada@example.com\n\n\n", "dev")
	r.mustCall(t, []string{"build"},
		samDeploy("dev", "--no-confirm-changeset", `Stage=dev MailFrom=countersign@example.com AdminEmail=ada@example.com DomainName="" CertificateArn=""`))
	root := repoRoot(t)
	for _, d := range r.dirs {
		if d != root {
			t.Errorf("sam ran in %s, want the repository root %s (template.yaml, infra/samconfig.toml)", d, root)
		}
	}
	// three questions and the confirmation
	if n := len(promptRe.FindAllString(r.out, -1)); n != 4 {
		t.Errorf("%d prompts, want 3 questions and 1 confirmation:\n%s", n, r.out)
	}
	r.noAdminTokenAndNotGuided(t)
	if r.state != "MailFrom=countersign@example.com\nAdminEmail=ada@example.com\nDomainName=\nCertificateArn=\n" {
		t.Errorf("remembered answers: %q", r.state)
	}

	// The next deploy offers the answers as defaults: Enter everywhere.
	r = env.run(t, "\n\n\n\n", "dev")
	r.mustCall(t, []string{"build"},
		samDeploy("dev", "--no-confirm-changeset", `Stage=dev MailFrom=countersign@example.com AdminEmail=ada@example.com DomainName="" CertificateArn=""`))
	if !strings.Contains(r.out, "[countersign@example.com]: ") || !strings.Contains(r.out, "[ada@example.com]: ") {
		t.Errorf("the remembered answers are not offered as defaults:\n%s", r.out)
	}
}

func TestDeployValidatesAnswers(t *testing.T) {
	env := newDeployEnv(t)
	in := strings.Join([]string{
		"countersign", "Countersign <countersign@example.com>", "countersign@example.com", // two refused senders
		"", "ada@localhost", "ada@example.com", // no answer, then a refused admin address
		"https://flags.example.com", "Flags.Example.COM", // a URL is not a domain; case does not matter
		"arn:aws:acm:eu-west-1:123456789012:certificate/0a1b-2c3d", // another region than the stack's
		"arn:aws:iam::123456789012:server-certificate/flags",
		"arn:aws:acm:us-east-1:123456789012:certificate/0a1b-2c3d",
		"y",
	}, "\n") + "\n"
	r := env.run(t, in, "staging")
	r.mustCall(t, []string{"build"},
		samDeploy("staging", "--no-confirm-changeset", "Stage=staging MailFrom=countersign@example.com AdminEmail=ada@example.com "+
			"DomainName=flags.example.com CertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/0a1b-2c3d"))
	for _, why := range []string{"not a plain e-mail address", "not a host name", "is in eu-west-1", "not an ACM certificate ARN"} {
		if !strings.Contains(r.out, why) {
			t.Errorf("no %q among the refusals:\n%s", why, r.out)
		}
	}
	r.noAdminTokenAndNotGuided(t)
}

func TestDeployProdConfirmsTheChangeSet(t *testing.T) {
	env := newDeployEnv(t)
	r := env.run(t, "countersign@example.com\nada@example.com\nnone\n\n", "prod")
	r.mustCall(t, []string{"build"},
		samDeploy("prod", "--confirm-changeset", `Stage=prod MailFrom=countersign@example.com AdminEmail=ada@example.com DomainName="" CertificateArn=""`))
	if !strings.Contains(r.out, `"Deploy this changeset? [y/N]": type y`) {
		t.Errorf("prod does not say how to answer SAM's change-set confirmation:\n%s", r.out)
	}
	// --yes: nothing asked at all, for CI.
	r = env.run(t, "", "prod", "--yes")
	r.mustCall(t, []string{"build"},
		samDeploy("prod", "--no-confirm-changeset", `Stage=prod MailFrom=countersign@example.com AdminEmail=ada@example.com DomainName="" CertificateArn=""`))
}

func TestDeployAnswersAndParametersAsArguments(t *testing.T) {
	env := newDeployEnv(t)
	r := env.run(t, "", "dev", "MailFrom=countersign@example.com", "AdminEmail=ada@example.com", "DomainName=",
		"AlarmEmail=ops@example.com", "OidcName=Okta SSO", "SenderIdentity=address", "--yes")
	r.mustCall(t, []string{"build"},
		samDeploy("dev", "--no-confirm-changeset", `Stage=dev MailFrom=countersign@example.com AdminEmail=ada@example.com DomainName="" CertificateArn="" `+
			`AlarmEmail=ops@example.com OidcName="Okta SSO" SenderIdentity=address`))
	if n := len(promptRe.FindAllString(r.out, -1)); n != 0 {
		t.Errorf("%d prompts, want none when every answer is an argument and --yes is given:\n%s", n, r.out)
	}
	// AdminEmail= as an argument: nobody is invited (asked, it needs an answer).
	r = newDeployEnv(t).run(t, "", "staging", "MailFrom=countersign@example.com", "AdminEmail=", "DomainName=", "-y")
	r.mustCall(t, []string{"build"},
		samDeploy("staging", "--no-confirm-changeset", `Stage=staging MailFrom=countersign@example.com AdminEmail="" DomainName="" CertificateArn=""`))

	for name, args := range map[string][]string{
		"unknown parameter": {"dev", "Bogus=1"},
		"Stage":             {"dev", "Stage=prod"},
		"bad sender":        {"dev", "MailFrom=countersign"},
		"bad domain":        {"dev", "MailFrom=countersign@example.com", "AdminEmail=ada@example.com", "DomainName=flags"},
		"certificate alone": {"dev", "MailFrom=countersign@example.com", "AdminEmail=ada@example.com", "DomainName=", "CertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/x"},
		"not Name=Value":    {"dev", "AlarmEmail"},
		"unknown stage":     {"qa"},
		"no stage":          {},
	} {
		r := newDeployEnv(t).run(t, "", args...)
		if r.err == nil || len(r.calls) > 0 {
			t.Errorf("%s: deploy.sh %q ran sam %q (err %v)\n%s", name, args, r.calls, r.err, r.out)
		}
	}
}

func TestDeployStopsWithoutRunningSAM(t *testing.T) {
	// input ends before the sender is known
	r := newDeployEnv(t).run(t, "", "dev")
	if r.err == nil || len(r.calls) > 0 || !strings.Contains(r.out, "MailFrom") {
		t.Errorf("no answers: err %v, sam %q; want a failure naming MailFrom and no sam\n%s", r.err, r.calls, r.out)
	}
	// "n" at the confirmation
	r = newDeployEnv(t).run(t, "countersign@example.com\nada@example.com\n\nn\n", "dev")
	if r.err == nil || len(r.calls) > 0 || !strings.Contains(r.out, "nothing was deployed") {
		t.Errorf("declined: err %v, sam %q\n%s", r.err, r.calls, r.out)
	}
	// a failed build: no deploy
	env := newDeployEnv(t)
	env.failOn = "build"
	r = env.run(t, "countersign@example.com\nada@example.com\n\n\n", "dev")
	if r.err == nil || !reflect.DeepEqual(r.calls, [][]string{{"build"}}) {
		t.Errorf("after a failed build: err %v, sam %q; want only the build\n%s", r.err, r.calls, r.out)
	}
	// no SAM CLI
	env = newDeployEnv(t)
	env.withSAM = false
	r = env.run(t, "countersign@example.com\nada@example.com\n\n\n", "dev")
	if r.err == nil || !strings.Contains(r.out, "SAM CLI is not installed") {
		t.Errorf("without sam: err %v\n%s", r.err, r.out)
	}
}

// The script's patterns are the template's: what it accepts, CloudFormation
// accepts.
func TestDeployScriptPatternsAreTheTemplates(t *testing.T) {
	tpl := loadTemplate(t)
	params := asMap(tpl.raw["Parameters"])
	script := string(readRepoFile(t, "scripts/deploy.sh"))
	get := func(v string) string {
		m := regexp.MustCompile(`(?m)^` + v + `='([^']*)'$`).FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("scripts/deploy.sh has no %s='...'", v)
		}
		return m[1]
	}
	pattern := func(p string) string { s, _ := asString(asMap(params[p])["AllowedPattern"]); return s }
	for _, c := range []struct{ script, param, want string }{
		{"email_re", "MailFrom", pattern("MailFrom")},
		{"email_re", "AdminEmail", strings.TrimPrefix(pattern("AdminEmail"), "^$|")},
		{"domain_re", "DomainName", strings.TrimPrefix(pattern("DomainName"), "^$|")},
		{"cert_re", "CertificateArn", strings.TrimPrefix(pattern("CertificateArn"), "^$|")},
	} {
		if got := get(c.script); got != c.want {
			t.Errorf("scripts/deploy.sh %s is %s, but %s's AllowedPattern is %s", c.script, got, c.param, c.want)
		}
	}
}

// `make deploy` is the script (never --guided); `make deploy-check` its check.
func TestMakeDeployTargets(t *testing.T) {
	mf := parseMakefile(string(readRepoFile(t, "Makefile")))
	deploy := strings.Join(mf.targets["deploy"], "\n")
	if !strings.Contains(deploy, "./scripts/deploy.sh $(STAGE)") || strings.Contains(deploy, "--guided") || strings.Contains(deploy, "sam ") {
		t.Errorf("make deploy runs %q, want ./scripts/deploy.sh $(STAGE) ... (no sam deploy --guided)", deploy)
	}
	if check := strings.Join(mf.targets["deploy-check"], "\n"); !strings.Contains(check, "./scripts/deploy.sh --check") {
		t.Errorf("make deploy-check runs %q, want ./scripts/deploy.sh --check", check)
	}
	if !regexp.MustCompile(`(?m)^\.PHONY:.* deploy-check\b`).MatchString(string(readRepoFile(t, "Makefile"))) {
		t.Error("deploy-check is not .PHONY")
	}
}
