// Package recovery holds the operator commands that work on the store
// directly, not through the API: the way back when the API cannot help
// (docs/operations.md, "Recovering the last admin"). functions/local runs them
// (`go run ./functions/local recover-admin --email ...`).
package recovery

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/setup"
)

// RecoverAdminUsage is the command line of RecoverAdmin.
const RecoverAdminUsage = "recover-admin --email <address> [--name <name>] [--note <why>] [--token]"

// RecoverAdmin makes the member with the given e-mail address an admin (or
// creates an admin member with it) on the store cfg names: the bbolt data
// directory (stop the running instance first: bbolt allows one process), or
// the DynamoDB table (COUNTERSIGN_STORE=dynamodb, COUNTERSIGN_TABLE, and
// COUNTERSIGN_DYNAMODB_ENDPOINT or the usual AWS settings). The change is
// audited (member.admin_recovered, by system:recover-admin) in the same
// write. It prints what it did to out; logs go to logs.
func RecoverAdmin(ctx context.Context, cfg config.Config, args []string, out, logs io.Writer) error {
	fs := flag.NewFlagSet("recover-admin", flag.ContinueOnError)
	fs.SetOutput(out)
	var in app.RecoverAdminInput
	fs.StringVar(&in.Email, "email", "", "e-mail address of the member to make admin (created when no member has it)")
	fs.StringVar(&in.Name, "name", "", "name of a member created (default: the address's local part)")
	fs.StringVar(&in.Note, "note", "", "why, recorded in the audit entry")
	fs.BoolVar(&in.Token, "token", false, "also issue an API token for the member and print its secret once")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n\n", RecoverAdminUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("recover-admin: unexpected arguments %q", fs.Args())
	}
	if in.Email == "" {
		fs.Usage()
		return errors.New("recover-admin: --email is required")
	}

	fmt.Fprintf(out, "recover-admin on %s\n", describeStore(cfg))
	store, closeStore, err := setup.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	svc := app.New(store, clock.System{}, cfg.Logger(logs))
	r, err := svc.RecoverAdmin(ctx, in)
	if r == nil && err != nil {
		return fmt.Errorf("recover-admin: %w", err)
	}
	m := r.Member
	fmt.Fprintf(out, "admin members before: %d\n", r.AdminsBefore)
	switch {
	case r.Unchanged:
		fmt.Fprintf(out, "%s (%s) is an admin already: nothing written\n", m.Email, m.ID)
	case r.Created:
		fmt.Fprintf(out, "created %s (%s, %q) as an admin\n", m.Email, m.ID, m.Name)
	default:
		fmt.Fprintf(out, "%s (%s) was %s, is admin now (version %d)\n", m.Email, m.ID, r.PreviousRole, m.Version)
	}
	if r.AuditID != "" {
		fmt.Fprintf(out, "audit entry %s: %s by %s\n", r.AuditID, domain.ActionMemberAdminRecovered, app.ActorRecoverAdmin)
	}
	if err != nil {
		return fmt.Errorf("recover-admin: %w", err)
	}
	switch {
	case r.TokenSecret != "":
		fmt.Fprintf(out, "API token for %s, shown only this once:\n\n    %s\n\n", m.Email, r.TokenSecret)
	case r.LiveTokens == 0:
		fmt.Fprintf(out, "%s has no API token: run again with --token, or restart with COUNTERSIGN_ADMIN_TOKEN set (it is added to an admin)\n", m.Email)
	default:
		fmt.Fprintf(out, "%s has %d API token(s); they act as admin now unless created with a lower role\n", m.Email, r.LiveTokens)
	}
	return nil
}

func describeStore(cfg config.Config) string {
	switch cfg.Store {
	case config.StoreBolt:
		return fmt.Sprintf("the embedded store in %s", cfg.DataDir)
	case config.StoreDynamoDB:
		if cfg.DynamoEndpoint != "" {
			return fmt.Sprintf("DynamoDB table %s at %s", cfg.Table, cfg.DynamoEndpoint)
		}
		return fmt.Sprintf("DynamoDB table %s (AWS)", cfg.Table)
	}
	return cfg.Store
}
